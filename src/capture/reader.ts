/**
 * Streaming reader of scap capture files (Falco's and sysdig's `.scap`, plain or gzip).
 *
 * The reader walks the block stream with one growing-then-replaced buffer: each batch of events
 * is a run of consecutive event blocks decoded in place (events are views into the buffer, no
 * copy), so memory stays bounded by the batch size whatever the file size. Metadata blocks
 * (machine info, process, fd, interface and user lists) are parsed into plain data and yielded
 * between batches, in file order.
 *
 * A truncated or corrupt file yields everything before the bad block, then throws a
 * {@link ScapFormatError} naming the byte offset and the block type.
 *
 * @example
 * ```ts
 * import { openScapFile } from "./reader.ts";
 * const reader = await openScapFile("trace.scap");
 * for await (const item of reader.items()) {
 *   if (item.kind === "events") console.log(item.events.length, item.events[0].name);
 * }
 * ```
 * @module
 */
import { Event } from "../events/event.ts";
import { EVENT_COUNT, EVENTS } from "../events/table.ts";
import { BlockBodyError, ScapFormatError } from "./errors.ts";
import {
  BLOCK,
  DUMP_STATE_ONLY,
  EVENT_BLOCKS,
  EVENT_HEADER_V1,
  EVENT_HEADER_V2,
  type EventBlockKind,
  hexType,
  MAX_SMALL_EVENT_BLOCK,
  PROCS_VERSION,
  SHB_BLOCK,
  SHB_MAGIC,
} from "./format.ts";
import {
  type MachineInfo,
  parseFdList,
  parseInterfaceList,
  parseMachineInfo,
  parseProcessList,
  parseUserList,
  type ScapFd,
  type ScapGroup,
  type ScapInterface,
  type ScapThread,
  type ScapUser,
} from "./metadata.ts";

/**
 * Event flag set on events of capture blocks marked "state only": they update process and fd
 * state but are neither shown nor evaluated. A bit above the live record flags.
 */
export const EVENT_STATE_ONLY = 0x8000;

/** One thing read from a capture, in file order. */
export type ScapItem =
  | { kind: "section"; offset: number; major: number; minor: number }
  | { kind: "machine"; machine: MachineInfo }
  | { kind: "threads"; threads: ScapThread[] }
  | { kind: "fds"; fds: ScapFd[] }
  | { kind: "interfaces"; interfaces: ScapInterface[] }
  | { kind: "users"; users: ScapUser[]; groups: ScapGroup[] }
  | { kind: "events"; events: Event[] };

/** Something bytes can be read from (a file, a decompressing stream). */
export interface ByteSource {
  /** Reads into `p`; resolves to the byte count, or null at the end. */
  read(p: Uint8Array): Promise<number | null>;
  close(): void;
}

/** Counters a reader keeps while it reads. */
export interface ScapReadStats {
  /** Uncompressed bytes consumed. */
  bytes: number;
  blocks: number;
  events: number;
  /** Events with an id newer than this table (skipped, as libscap does). */
  unknownEvents: number;
  /** Blocks of unknown type (skipped). */
  unknownBlocks: number;
  /** Events not decoded because their type is not kept (ScapReaderOptions.keepTypes). */
  skipped: number;
}

/** Options of {@link ScapReader}. */
export interface ScapReaderOptions {
  /** Events per batch (a batch may be smaller at metadata blocks and at the end). */
  batchSize?: number;
  /** File name used in error messages. */
  name?: string;
  /** First event number (default 1). */
  firstNum?: number;
  /**
   * Longest span of event time in one batch, ns (default one second): consumers that act per
   * batch on event time (drop monitoring, capture windows) then see time pass as they would
   * live. 0: no limit.
   */
  maxBatchSpanNs?: number;
  /**
   * Event ids to decode (1) by id; the others are counted and numbered but skipped without
   * building an event (a replay whose filter, rules and state need only some types).
   */
  keepTypes?: Uint8Array;
}

const MIN_BUFFER = 1 << 20;
const MAX_BLOCK = 256 << 20;

/** Adapts a byte stream (e.g. from DecompressionStream) to {@link ByteSource}. */
export class StreamByteSource implements ByteSource {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array | undefined;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }
  async read(p: Uint8Array): Promise<number | null> {
    let chunk = this.#pending;
    this.#pending = undefined;
    while (!chunk || chunk.length === 0) {
      const r = await this.#reader.read();
      if (r.done) return null;
      chunk = r.value;
    }
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#pending = chunk.subarray(n);
    return n;
  }
  close(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/**
 * A file as a {@link ByteSource} that reads ahead: the next chunk is read (on Deno's I/O
 * threads) while the previous one is decoded, so decoding rarely waits for the disk.
 */
export class PrefetchFileSource implements ByteSource {
  #file: Deno.FsFile;
  #chunkSize: number;
  #next: Promise<Uint8Array | null> | undefined;
  #cur: Uint8Array | undefined;
  #done = false;
  #closed = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(file: Deno.FsFile, chunkSize = 4 << 20) {
    this.#file = file;
    this.#chunkSize = chunkSize;
  }

  /** The buffer of the chunk consumed before the current one: reused for the next read. */
  #free: Uint8Array | undefined;

  #fetch(): Promise<Uint8Array | null> {
    // Two buffers take turns (read() copies out, nothing else views them), so a long file does
    // not leave a trail of chunks for the garbage collector.
    const buf = this.#free ?? new Uint8Array(this.#chunkSize);
    this.#free = undefined;
    return (async () => {
      let n = 0;
      while (n < buf.length) {
        const got = await this.#file.read(buf.subarray(n));
        if (got === null) break;
        n += got;
      }
      return n === 0 ? null : buf.subarray(0, n);
    })();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (!this.#cur || this.#cur.length === 0) {
      if (this.#done || this.#closed) return null;
      if (this.#cur) this.#free = new Uint8Array(this.#cur.buffer);
      const chunk = await (this.#next ?? this.#fetch());
      this.#next = undefined;
      if (chunk === null) {
        this.#done = true;
        return null;
      }
      this.#cur = chunk;
      if (chunk.length === this.#chunkSize) this.#next = this.#fetch();
      else this.#done = true;
    }
    const n = Math.min(p.length, this.#cur.length);
    p.set(this.#cur.subarray(0, n));
    this.#cur = this.#cur.subarray(n);
    this.consumed += n;
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const close = () => {
      try {
        this.#file.close();
      } catch { /* already closed */ }
    };
    // A read in flight must finish before the file is closed under it.
    if (this.#next) this.#next.then(close, close);
    else close();
  }
}

/** A reader of one capture stream. */
export class ScapReader {
  /** Counters, updated as items are produced. */
  readonly stats: ScapReadStats = {
    bytes: 0,
    blocks: 0,
    events: 0,
    unknownEvents: 0,
    unknownBlocks: 0,
    skipped: 0,
  };
  #src: ByteSource;
  #batchSize: number;
  #name: string | undefined;
  #num: number;
  #buf = new Uint8Array(0);
  #dv = new DataView(this.#buf.buffer);
  /** Stream offset of #buf[0]. */
  #base = 0;
  #pos = 0;
  #end = 0;
  #eof = false;
  #closed = false;
  #spanNs: number;
  /** Event time (ns, as a double) of the current batch's first event. */
  #batchT0 = 0;
  /** The current batch reached its time span. */
  #full = false;
  #keep: Uint8Array | undefined;

  constructor(src: ByteSource, options: ScapReaderOptions = {}) {
    this.#src = src;
    this.#batchSize = options.batchSize ?? 1024;
    this.#name = options.name;
    this.#num = options.firstNum ?? 1;
    this.#spanNs = options.maxBatchSpanNs ?? 1e9;
    this.#keep = options.keepTypes;
  }

  /** Stops reading and releases the source. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#src.close();
  }

  /** Ensures `n` bytes are buffered at #pos; false at end of stream. */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#pos < n) {
      if (this.#eof || this.#closed) return false;
      if (this.#pos + n > this.#buf.length) {
        // Replace (never overwrite) the buffer: events of earlier batches still view the old one.
        const keep = this.#end - this.#pos;
        const size = Math.max(MIN_BUFFER, n * 2);
        const next = new Uint8Array(size);
        next.set(this.#buf.subarray(this.#pos, this.#end));
        this.#base += this.#pos;
        this.#buf = next;
        this.#dv = new DataView(next.buffer);
        this.#pos = 0;
        this.#end = keep;
      }
      const got = await this.#src.read(this.#buf.subarray(this.#end));
      if (got === null) this.#eof = true;
      else this.#end += got;
    }
    return true;
  }

  #error(message: string, offset: number, type = -1): ScapFormatError {
    return new ScapFormatError(message, offset, type, this.#name);
  }

  /** Reads the whole stream, yielding metadata and event batches in file order. */
  async *items(): AsyncGenerator<ScapItem> {
    let first = true;
    let batch: Event[] = [];
    try {
      while (true) {
        if (!(await this.#fill(8))) {
          if (batch.length > 0) yield { kind: "events", events: batch };
          batch = [];
          if (this.#end > this.#pos) this.#truncated();
          if (first) throw this.#error("empty capture: no section header", 0);
          return;
        }
        const type = this.#dv.getUint32(this.#pos, true);
        if (!first && EVENT_BLOCKS.has(type)) {
          const before = this.#pos;
          const err = this.#decodeEvents(batch);
          if (err) {
            if (batch.length > 0) yield { kind: "events", events: batch };
            batch = [];
            throw err;
          }
          if (batch.length >= this.#batchSize || this.#full) {
            this.#full = false;
            yield { kind: "events", events: batch };
            batch = [];
          } else if (this.#pos === before) {
            // The next event block is not fully buffered yet.
            const total = this.#dv.getUint32(this.#pos + 4, true);
            if (!(await this.#fill(total))) {
              if (batch.length > 0) yield { kind: "events", events: batch };
              batch = [];
              this.#truncated();
            }
          }
          continue;
        }
        if (batch.length > 0) {
          yield { kind: "events", events: batch };
          batch = [];
        }
        const item = await this.#metadataBlock(first);
        first = false;
        if (item) yield item;
      }
    } finally {
      this.close();
    }
  }

  /** Throws the error for bytes left at the end of the stream that do not make a block. */
  #truncated(): never {
    const off = this.#base + this.#pos;
    const left = this.#end - this.#pos;
    if (left < 8) {
      throw this.#error(`truncated file: ${left} bytes where a block header was expected`, off);
    }
    const type = this.#dv.getUint32(this.#pos, true);
    const total = this.#dv.getUint32(this.#pos + 4, true);
    throw this.#error(`truncated file: block of ${total} bytes has only ${left}`, off, type);
  }

  /** Checks a block's length fields; returns its total length. */
  #blockTotal(type: number): number {
    const off = this.#base + this.#pos;
    const total = this.#dv.getUint32(this.#pos + 4, true);
    if (total < 12) throw this.#error(`corrupt block length ${total}`, off, type);
    if (total > MAX_BLOCK) {
      throw this.#error(`block length ${total} is implausibly large`, off, type);
    }
    return total;
  }

  /** Reads one non-event block (or the section header) at #pos. */
  async #metadataBlock(first: boolean): Promise<ScapItem | undefined> {
    const off = this.#base + this.#pos;
    const type = this.#dv.getUint32(this.#pos, true);
    if (first && type !== SHB_BLOCK) {
      throw this.#error(
        `not a scap capture: first block type ${hexType(type)} is not a section header`,
        off,
      );
    }
    const total = this.#blockTotal(type);
    if (!(await this.#fill(total))) this.#truncated();
    const p = this.#pos;
    const trailer = this.#dv.getUint32(p + total - 4, true);
    if (trailer !== total) {
      throw this.#error(`block length ${total} does not match its trailer ${trailer}`, off, type);
    }
    const bodyOff = p + 8;
    const bodyLen = total - 12;
    let item: ScapItem | undefined;
    try {
      item = this.#parseMetadata(type, bodyOff, bodyLen, off);
    } catch (err) {
      if (err instanceof BlockBodyError) {
        throw this.#error(`corrupt block: ${err.message}`, off, type);
      }
      throw err;
    }
    this.#pos += total;
    this.stats.bytes = this.#base + this.#pos;
    this.stats.blocks++;
    return item;
  }

  #parseMetadata(type: number, off: number, len: number, at: number): ScapItem | undefined {
    const buf = this.#buf, dv = this.#dv;
    if (type === SHB_BLOCK) {
      if (len < 16) throw new BlockBodyError(`section header of ${len} bytes`);
      const magic = dv.getUint32(off, true);
      if (magic === 0x4d3c2b1a) {
        throw new BlockBodyError("big-endian captures are not supported");
      }
      if (magic !== SHB_MAGIC) {
        throw new BlockBodyError(`bad byte-order magic ${hexType(magic)}`);
      }
      const major = dv.getUint16(off + 4, true);
      const minor = dv.getUint16(off + 6, true);
      if (major > 1) throw new BlockBodyError(`unsupported format version ${major}.${minor}`);
      return { kind: "section", offset: at, major, minor };
    }
    if (type === BLOCK.MACHINE || type === BLOCK.MACHINE_INT) {
      return { kind: "machine", machine: parseMachineInfo(buf, dv, off, len) };
    }
    if (PROCS_VERSION.has(type)) {
      return { kind: "threads", threads: parseProcessList(buf, dv, off, len, type) };
    }
    if (type === BLOCK.FDS || type === BLOCK.FDS_INT || type === BLOCK.FDS_V2) {
      return { kind: "fds", fds: parseFdList(buf, dv, off, len, type) };
    }
    if (type === BLOCK.IFACES || type === BLOCK.IFACES_INT || type === BLOCK.IFACES_V2) {
      return { kind: "interfaces", interfaces: parseInterfaceList(buf, dv, off, len, type) };
    }
    if (type === BLOCK.USERS || type === BLOCK.USERS_INT || type === BLOCK.USERS_V2) {
      const { users, groups } = parseUserList(buf, dv, off, len, type);
      return { kind: "users", users, groups };
    }
    if (EVENT_BLOCKS.has(type)) {
      throw new BlockBodyError("event block before the section header's metadata");
    }
    this.stats.unknownBlocks++;
    return undefined;
  }

  /**
   * Decodes the complete event blocks buffered at #pos into `batch`, up to the batch size.
   * Returns an error for a corrupt block (the events before it are in `batch`).
   */
  #decodeEvents(batch: Event[]): ScapFormatError | undefined {
    const buf = this.#buf, dv = this.#dv;
    const limit = this.#batchSize;
    const end = this.#end;
    let p = this.#pos;
    let err: ScapFormatError | undefined;
    while (batch.length < limit && p + 8 <= end) {
      const type = dv.getUint32(p, true);
      const kind = EVENT_BLOCKS.get(type);
      if (kind === undefined) break;
      if (this.#spanNs > 0 && p + 30 <= end) {
        // Event time as a double (exact to well under a microsecond): cheap, no BigInt.
        const t = kind.flags ? p + 14 : p + 10;
        const ns = dv.getUint32(t + 4, true) * 4294967296 + dv.getUint32(t, true);
        if (batch.length === 0) this.#batchT0 = ns;
        else if (ns - this.#batchT0 >= this.#spanNs) {
          this.#full = true;
          break;
        }
      }
      const total = dv.getUint32(p + 4, true);
      if (total < 12 || (total > MAX_SMALL_EVENT_BLOCK && !isLarge(type)) || total > MAX_BLOCK) {
        err = this.#error(`corrupt event block length ${total}`, this.#base + p, type);
        break;
      }
      if (p + total > end) break;
      if (dv.getUint32(p + total - 4, true) !== total) {
        err = this.#error(
          `event block length ${total} does not match its trailer ${
            dv.getUint32(p + total - 4, true)
          }`,
          this.#base + p,
          type,
        );
        break;
      }
      const problem = this.#decodeEvent(buf, dv, p, total, kind, batch);
      if (problem) {
        err = this.#error(`corrupt event: ${problem}`, this.#base + p, type);
        break;
      }
      p += total;
      this.stats.blocks++;
    }
    this.#pos = p;
    this.stats.bytes = this.#base + p;
    return err;
  }

  /** Decodes one event block; returns a problem description when it is corrupt. */
  #decodeEvent(
    buf: Uint8Array,
    dv: DataView,
    p: number,
    total: number,
    kind: EventBlockKind,
    batch: Event[],
  ): string | undefined {
    const bodyEnd = p + total - 4;
    const cpu = dv.getUint16(p + 8, true);
    const evOff = kind.flags ? p + 14 : p + 10;
    const hdr = kind.v2 ? EVENT_HEADER_V2 : EVENT_HEADER_V1;
    if (evOff + hdr > bodyEnd) return `block of ${total} bytes cannot hold an event header`;
    let evLen = dv.getUint32(evOff + 16, true);
    const type = dv.getUint16(evOff + 20, true);
    if (evLen < hdr) return `event length ${evLen} is smaller than its header`;
    if (evOff + evLen > bodyEnd) {
      return `event length ${evLen} exceeds its block (${bodyEnd - evOff} bytes)`;
    }
    if (type >= EVENT_COUNT) {
      this.stats.unknownEvents++;
      return undefined;
    }
    if (this.#keep !== undefined && this.#keep[type] !== 1) {
      this.#num++;
      this.stats.events++;
      this.stats.skipped++;
      return undefined;
    }
    const info = EVENTS[type];
    const lenSize = info.largePayload ? 4 : 2;
    let nparams: number;
    const lens = evOff + hdr;
    const end = evOff + evLen;
    if (kind.v2) {
      nparams = dv.getUint32(evOff + 22, true);
      if (lens + nparams * lenSize > end) {
        return `${nparams} parameters do not fit in event length ${evLen}`;
      }
    } else {
      // v1 headers lack nparams: find the count whose lengths add up to the event length,
      // starting from the table's count (old captures may have fewer parameters).
      if (type === NOTIFICATION_E || type === INFRASTRUCTURE_E) evLen -= 3;
      nparams = -1;
      for (let n = info.params.length; n >= 0; n--) {
        let q = lens + 2 * n;
        if (q > evOff + evLen) continue;
        for (let i = 0; i < n; i++) q += dv.getUint16(lens + 2 * i, true);
        if (q === evOff + evLen) {
          nparams = n;
          break;
        }
        if (q < evOff + evLen) break;
      }
      if (nparams < 0) return `cannot work out the parameter count of a v1 ${info.name} event`;
    }
    // The parameters must end within the event.
    let q = lens + nparams * lenSize;
    if (lenSize === 2) { for (let i = 0; i < nparams; i++) q += dv.getUint16(lens + 2 * i, true); }
    else for (let i = 0; i < nparams; i++) q += dv.getUint32(lens + 4 * i, true);
    if (q > end) return `parameters overrun event length ${evLen}`;
    // tid is a 64-bit signed value: low word plus high word (0, or -1 for negative ids).
    const tid = dv.getInt32(evOff + 12, true) * 4294967296 + dv.getUint32(evOff + 8, true);
    const ev = new Event(buf, dv, evOff, type, tid, -1);
    ev.num = this.#num++;
    // One layout object literal per event, in the shape Event's setters would build.
    ev._x = {
      origin: "scap",
      ppid: -1,
      cpu,
      flags: kind.flags && (dv.getUint32(p + 10, true) & DUMP_STATE_ONLY) !== 0
        ? EVENT_STATE_ONLY
        : 0,
      tsOff: evOff,
      commOff: -1,
      lenSize,
    };
    ev.nparams = nparams;
    ev.lensOff = lens;
    batch.push(ev);
    this.stats.events++;
    return undefined;
  }
}

const NOTIFICATION_E = EVENTS.findIndex((e) => e.name === "notification" && e.dir === ">");
const INFRASTRUCTURE_E = EVENTS.findIndex((e) => e.name === "infra" && e.dir === ">");

function isLarge(type: number): boolean {
  return type === BLOCK.EVENT_V2_LARGE || type === BLOCK.EVENT_FLAGS_V2_LARGE;
}

/** Options of {@link openScapFile}. */
export interface OpenScapOptions extends ScapReaderOptions {
  /** Called with (compressed) file bytes read so far, for progress display. */
  onFileBytes?: (bytes: number) => void;
}

/** An open capture file: its reader and its size on disk. */
export interface ScapFile {
  reader: ScapReader;
  /** Size of the file on disk (compressed size for gzip). */
  size: number;
  gzip: boolean;
  /** File bytes consumed so far (for progress on compressed files). */
  fileBytes(): number;
}

/** Opens a capture file, plain or gzip-compressed (detected from its first bytes). */
export async function openScapFile(path: string, options: OpenScapOptions = {}): Promise<ScapFile> {
  const file = await Deno.open(path, { read: true });
  let size = 0;
  let gzip = false;
  try {
    size = (await file.stat()).size;
    const magic = new Uint8Array(2);
    let got = 0;
    while (got < 2) {
      const n = await file.read(magic.subarray(got));
      if (n === null) break;
      got += n;
    }
    gzip = got === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    await file.seek(0, Deno.SeekMode.Start);
  } catch (err) {
    file.close();
    throw err;
  }
  let consumed = 0;
  let src: ByteSource;
  if (gzip) {
    const counted = file.readable.pipeThrough(
      new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
        transform(chunk, ctl) {
          consumed += chunk.length;
          options.onFileBytes?.(consumed);
          ctl.enqueue(chunk);
        },
      }),
    );
    src = new StreamByteSource(
      counted.pipeThrough(new DecompressionStream("gzip")) as ReadableStream<Uint8Array>,
    );
  } else {
    const prefetch = new PrefetchFileSource(file);
    src = {
      async read(p) {
        const n = await prefetch.read(p);
        consumed = prefetch.consumed;
        if (n !== null) options.onFileBytes?.(consumed);
        return n;
      },
      close: () => prefetch.close(),
    };
  }
  const reader = new ScapReader(src, { name: path, ...options });
  return { reader, size, gzip, fileBytes: () => consumed };
}
