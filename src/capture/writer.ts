/**
 * Writing capture files: a section header, machine info, interface and user lists, the process
 * list and fd lists as they were when the capture began, then events in batches.
 *
 * Two event formats: `sysdig029` (default) writes what sysdig 0.29 and every later reader
 * understand (see compat.ts: enter/exit pairs, older event versions); `current` writes each
 * event as it is (newest versions, exit events only for live sources), which newer Falco
 * libraries and Saker read without loss.
 *
 * @example
 * ```ts
 * import { ScapWriter } from "./writer.ts";
 * const w = await ScapWriter.create("/tmp/x.scap", { threads: [], fds: [] });
 * // await w.writeBatch(events);
 * await w.close();
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import {
  BlockBuffer,
  encodeEvent,
  encodeFdList,
  encodeInterfaceList,
  encodeMachineInfo,
  encodeProcessList,
  encodeSectionHeader,
  encodeUserList,
} from "./encode.ts";
import { CompatPlans, encodeCompat, type OutEvent } from "./compat.ts";
import { hostHeader, type ThreadTable } from "./snapshot.ts";
import { StateStore } from "../state/store.ts";
import { seedFromProc } from "../state/seed.ts";
import type {
  MachineInfo,
  ScapFd,
  ScapGroup,
  ScapInterface,
  ScapThread,
  ScapUser,
} from "./metadata.ts";
import { EVENT_STATE_ONLY } from "./reader.ts";
import { DUMP_STATE_ONLY } from "./format.ts";
import { openPrivate } from "../files.ts";

/** Event encodings a writer can produce. */
export type ScapEventFormat = "sysdig029" | "current";

/** What goes at the start of a capture. */
export interface ScapHeader {
  machine?: MachineInfo;
  threads?: Iterable<ScapThread>;
  /** Fds of the processes (grouped into one block per tid). */
  fds?: Iterable<ScapFd>;
  interfaces?: Iterable<ScapInterface>;
  users?: Iterable<ScapUser>;
  groups?: Iterable<ScapGroup>;
}

/** Options of {@link ScapWriter.create}. */
export interface ScapWriterOptions extends ScapHeader {
  /** Event encoding (default `sysdig029`). */
  format?: ScapEventFormat;
  /** gzip the file (readers detect it). Default false. */
  gzip?: boolean;
  /** Bytes buffered before a write to the file (default 1 MiB). */
  flushBytes?: number;
  /**
   * A group allowed to read the file (mode 0640); default: owner only (0600). A capture holds
   * command lines and environments (src/files.ts).
   */
  group?: number;
}

/** Counters of a writer. */
export interface ScapWriterStats {
  /** Input events given to the writer. */
  events: number;
  /** Event blocks written (an input event may become two: enter and exit). */
  blocks: number;
  /** Input events the `sysdig029` format has no form for (written in their current form). */
  unconverted: number;
  /** Uncompressed bytes written. */
  bytes: number;
}

interface Sink {
  write(b: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

function fileSink(path: string, gzip: boolean, group?: number): Sink {
  const file = openPrivate(path, { truncate: true, group });
  if (!gzip) {
    return {
      async write(b) {
        let off = 0;
        while (off < b.length) off += await file.write(b.subarray(off));
      },
      close() {
        file.close();
        return Promise.resolve();
      },
    };
  }
  const cs = new CompressionStream("gzip");
  const piped = cs.readable.pipeTo(file.writable);
  const w = cs.writable.getWriter();
  return {
    async write(b) {
      await w.write(b.slice());
    },
    async close() {
      await w.close();
      await piped;
    },
  };
}

/** Encodes headers and events into a byte buffer; no I/O (used by the writer and tests). */
export class ScapEncoder {
  readonly out: BlockBuffer;
  readonly stats: ScapWriterStats = { events: 0, blocks: 0, unconverted: 0, bytes: 0 };
  readonly format: ScapEventFormat;
  #plans = new CompatPlans();

  constructor(format: ScapEventFormat = "sysdig029", capacity = 1 << 20) {
    this.format = format;
    this.out = new BlockBuffer(capacity);
  }

  /** Writes the section header and the metadata blocks. */
  header(h: ScapHeader): void {
    const out = this.out;
    encodeSectionHeader(out);
    encodeMachineInfo(out, h.machine ?? emptyMachine());
    if (h.interfaces) encodeInterfaceList(out, h.interfaces);
    if (h.users || h.groups) encodeUserList(out, h.users ?? [], h.groups ?? []);
    const threads = [...(h.threads ?? [])];
    if (threads.length > 0) encodeProcessList(out, threads);
    const byTid = new Map<number, ScapFd[]>();
    for (const f of h.fds ?? []) {
      let list = byTid.get(f.tid);
      if (!list) byTid.set(f.tid, list = []);
      list.push(f);
    }
    for (const [tid, fds] of byTid) encodeFdList(out, tid, fds);
  }

  /** Encodes one event. */
  event(ev: Event, stateOnly = false): void {
    this.stats.events++;
    const flags = stateOnly || (ev.flags & EVENT_STATE_ONLY) !== 0 ? DUMP_STATE_ONLY : 0;
    if (this.format === "current") {
      encodeEvent(this.out, ev, flags);
      this.stats.blocks++;
      return;
    }
    const plan = this.#plans.get(ev);
    if (!plan.main) {
      // No form sysdig 0.29 knows: written as it is (that reader skips event ids it does not
      // know, as it skips them in Falco's newer captures; newer readers get the event).
      encodeEvent(this.out, ev, flags);
      this.stats.blocks++;
      this.stats.unconverted++;
      return;
    }
    // A child's first event (clone/fork exit with res 0) has no enter event of its own.
    if (plan.enter && !(plan.forks && ev.res === 0)) {
      this.#compat(ev, plan.enter, flags);
    }
    this.#compat(ev, plan.main, flags);
  }

  #compat(ev: Event, o: OutEvent, flags: number): void {
    encodeCompat(this.out, ev, o, flags);
    this.stats.blocks++;
  }
}

function emptyMachine(): MachineInfo {
  return { numCpus: 0, memoryBytes: 0, maxPid: 0, hostname: "", bootTs: 0n, flags: 0n };
}

/** A capture file being written. */
export class ScapWriter {
  #sink: Sink;
  #enc: ScapEncoder;
  #flushBytes: number;
  #closed = false;

  private constructor(sink: Sink, enc: ScapEncoder, flushBytes: number) {
    this.#sink = sink;
    this.#enc = enc;
    this.#flushBytes = flushBytes;
  }

  /** Creates (truncates) `path` and writes the capture header and metadata. */
  static async create(path: string, options: ScapWriterOptions = {}): Promise<ScapWriter> {
    const sink = fileSink(path, options.gzip ?? false, options.group);
    const enc = new ScapEncoder(options.format ?? "sysdig029");
    const w = new ScapWriter(sink, enc, options.flushBytes ?? 1 << 20);
    enc.header(options);
    await w.#flush();
    return w;
  }

  /** Counters so far. */
  get stats(): ScapWriterStats {
    return this.#enc.stats;
  }

  /** Bytes written so far, buffered ones included (uncompressed). */
  get size(): number {
    return this.#enc.stats.bytes + this.#enc.out.len;
  }

  /**
   * Writes a batch of events (flushing to the file when enough is buffered). Events for which
   * `stateOnly` holds are marked "state only": readers apply them to their state but neither
   * show nor evaluate them (how a filtered capture keeps its processes and fds known).
   */
  async writeBatch(events: readonly Event[], stateOnly?: (ev: Event) => boolean): Promise<void> {
    if (this.#closed) throw new Error("capture writer is closed");
    const enc = this.#enc;
    for (let i = 0; i < events.length; i++) enc.event(events[i], stateOnly?.(events[i]) ?? false);
    if (enc.out.len >= this.#flushBytes) await this.#flush();
  }

  async #flush(): Promise<void> {
    const out = this.#enc.out;
    if (out.len === 0) return;
    this.#enc.stats.bytes += out.len;
    await this.#sink.write(out.bytes());
    out.clear();
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#flush();
    } finally {
      await this.#sink.close();
    }
  }
}

/** Options of {@link openCaptureWriter}. */
export interface CaptureWriterOptions {
  /** The state whose threads and fds start the file (default: a fresh scan of /proc). */
  state?: ThreadTable;
  format?: ScapEventFormat;
  gzip?: boolean;
  /** A group allowed to read the file (mode 0640); default: owner only (0600). */
  group?: number;
}

/**
 * Opens a capture of this host for live events (`saker capture -w`): the header holds this
 * machine's info, interfaces and users, and the threads and fds of `state` (or of /proc now).
 */
export async function openCaptureWriter(
  path: string,
  options: CaptureWriterOptions = {},
): Promise<ScapWriter> {
  let state = options.state;
  if (!state) {
    const store = new StateStore();
    seedFromProc(store);
    state = store;
  }
  return await ScapWriter.create(path, {
    ...hostHeader(state),
    format: options.format,
    gzip: options.gzip,
    group: options.group,
  });
}
