/**
 * Streaming reader of scap capture files (Falco's and sysdig's `.scap`, plain or gzip).
 *
 * The reader walks the block stream through read buffers used again and again (a file's
 * read-ahead chunks are taken without a copy): each batch of events is a run of consecutive
 * event blocks; the events of the types wanted (ScapReaderOptions.keepTypes) are copied into
 * small arenas, one copy per run of such blocks, and the others are only checked and counted.
 * Memory stays bounded whatever the file size, and an event kept past its batch holds only its
 * arena. A consumer that keeps no event past its batch (a replay that only filters and prints)
 * may name transient types instead (ScapReaderOptions.transientTypes): their events are views
 * of the read buffer, with no copy, and their objects are used again once the consumer asks for
 * the next batch; the batch ends before the read buffer changes. Metadata blocks (machine info,
 * process, fd, interface and user lists) are parsed into plain data and yielded between batches,
 * in file order.
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
import { Event, type EventLayout } from "../events/event.ts";
import { EVENT_COUNT, EVENTS } from "../events/table.ts";
import { BlockBodyError, ScapFormatError } from "./errors.ts";
import {
  BLOCK,
  DUMP_STATE_ONLY,
  EVENT_BLOCKS,
  EVENT_HEADER_V1,
  EVENT_HEADER_V2,
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
  /**
   * The next bytes without a copy, or null at the end (a source offers either this or read()
   * to one reader, not both). A chunk stays untouched until chunk() has been called twice
   * more; the `byteOffset` bytes before it in its buffer are the caller's to write (headroom
   * for the end of the previous chunk).
   */
  chunk?(): Promise<Uint8Array | null>;
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
  /**
   * Event ids (1) whose events live only until the consumer asks for the next item: they are
   * views of the read buffer, not copies, and their objects are used again for later events.
   * For a consumer that pulls one item at a time, finishes with a batch before asking for the
   * next, and keeps none of these events (a filter that prints what it matches). The events
   * of the other types are copied and new, as without this option.
   */
  transientTypes?: Uint8Array;
}

const MIN_BUFFER = 4 << 20;
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

/** An empty buffer. */
const NO_BYTES = new Uint8Array(0);

/** Size of a file's first read-ahead chunk (the others are the source's chunk size). */
const FIRST_CHUNK = 256 << 10;

/** Headroom before each read-ahead chunk: the end of the previous chunk is copied there. */
const CHUNK_HEAD = 64 << 10;

/**
 * A file as a {@link ByteSource} that reads ahead: the next chunk is read (on Deno's I/O
 * threads) while the previous one is decoded, so decoding rarely waits for the disk. Three
 * buffers take turns (a chunk handed out, the one before it whose end is being carried over,
 * the one being read), so a long file reuses the same memory.
 */
export class PrefetchFileSource implements ByteSource {
  #file: Deno.FsFile;
  #chunkSize: number;
  #bufs: Uint8Array[] = [];
  #slot = 0;
  #next: Promise<Uint8Array | null> | undefined;
  #cur: Uint8Array | undefined;
  #done = false;
  #closed = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(file: Deno.FsFile, chunkSize = 2 << 20) {
    this.#file = file;
    this.#chunkSize = chunkSize;
  }

  #fetch(slot: number, size: number): Promise<Uint8Array | null> {
    const buf = this.#bufs[slot] ??= new Uint8Array(CHUNK_HEAD + this.#chunkSize);
    const end = CHUNK_HEAD + size;
    return (async () => {
      let n = CHUNK_HEAD;
      while (n < end) {
        const got = await this.#file.read(buf.subarray(n, end));
        if (got === null) break;
        n += got;
      }
      return n === CHUNK_HEAD ? null : buf.subarray(CHUNK_HEAD, n);
    })();
  }

  async chunk(): Promise<Uint8Array | null> {
    if (this.#done || this.#closed) return null;
    // The first chunk is small, so that the file's first blocks are read sooner; the next one
    // is read meanwhile.
    const want = this.#next === undefined && this.consumed === 0
      ? Math.min(FIRST_CHUNK, this.#chunkSize)
      : this.#chunkSize;
    const c = await (this.#next ?? this.#fetch(this.#slot, want));
    this.#next = undefined;
    if (c === null || this.#closed) {
      this.#done = true;
      return null;
    }
    this.consumed += c.length;
    // The next read goes to the buffer of the chunk before the previous one, which the caller
    // no longer uses (the contract of chunk()).
    this.#slot = (this.#slot + 1) % 3;
    if (c.length === want) this.#next = this.#fetch(this.#slot, this.#chunkSize);
    else this.#done = true;
    return c;
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (!this.#cur || this.#cur.length === 0) {
      this.#cur = await this.chunk() ?? undefined;
      if (!this.#cur) return null;
    }
    const n = Math.min(p.length, this.#cur.length);
    p.set(this.#cur.subarray(0, n));
    this.#cur = this.#cur.subarray(n);
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
  /** Where kept events are copied (see #place). */
  #arena = new Uint8Array(0);
  #arenaDv = new DataView(this.#arena.buffer);
  #arenaPos = 0;
  /** The run of kept blocks not copied yet: [#runStart, #runEnd) of #buf, to #runAt. */
  #runStart = -1;
  #runEnd = -1;
  #runAt = 0;
  /**
   * Shared layouts of the events decoded, by cpu, flags and length size (see #decodeEvent): an
   * array, as a cpu number is small (a Map lookup cost as much as the rest of the decoding).
   */
  #layouts: (EventLayout | undefined)[] = [];
  /** stats.skipped when the current scan started. */
  #skipBase = 0;
  /** The error that ended the last #scanBlocks. */
  #scanError: ScapFormatError | undefined;
  /** The buffer of blocks larger than a chunk's headroom (see #nextChunk). */
  #big = NO_BYTES;
  #transient: Uint8Array | undefined;
  /**
   * Every transient event object made so far; those from #poolPos on are free (see
   * #transientEvent). All of them are free again once the consumer is done with its batch.
   */
  #pool: Event[] = [];
  #poolPos = 0;
  /** The array of the batch before the current one, emptied to hold the next batch. */
  #spareBatch: Event[] = [];

  constructor(src: ByteSource, options: ScapReaderOptions = {}) {
    this.#src = src;
    this.#batchSize = options.batchSize ?? 1024;
    this.#name = options.name;
    this.#num = options.firstNum ?? 1;
    this.#spanNs = options.maxBatchSpanNs ?? 1e9;
    this.#keep = options.keepTypes;
    this.#transient = options.transientTypes;
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
      if (this.#src.chunk !== undefined) {
        await this.#nextChunk(n);
        continue;
      }
      if (this.#pos + n > this.#buf.length) {
        // Nothing outside the reader views the buffer (events are copied out of it), so what is
        // left moves to its start; a larger buffer only for a block larger than it.
        const keep = this.#end - this.#pos;
        this.#base += this.#pos;
        if (n > this.#buf.length) {
          const next = new Uint8Array(Math.max(MIN_BUFFER, n * 2));
          next.set(this.#buf.subarray(this.#pos, this.#end));
          this.#buf = next;
          this.#dv = new DataView(next.buffer);
        } else this.#buf.copyWithin(0, this.#pos, this.#end);
        this.#pos = 0;
        this.#end = keep;
      }
      const got = await this.#src.read(this.#buf.subarray(this.#end));
      if (got === null) this.#eof = true;
      else this.#end += got;
    }
    return true;
  }

  /**
   * Takes the source's next chunk as the buffer, without copying it: the bytes not yet used
   * (the start of a block) go into the headroom before it. A block larger than the headroom
   * allows is put together in a buffer of its own.
   */
  async #nextChunk(n: number): Promise<void> {
    const chunk = await this.#src.chunk!() as Uint8Array<ArrayBuffer> | null;
    if (chunk === null) {
      this.#eof = true;
      return;
    }
    const left = this.#end - this.#pos;
    const big = this.#big;
    if (this.#buf === big && this.#end + chunk.length <= big.length) {
      // Putting a large block together: append.
      big.set(chunk, this.#end);
      this.#end += chunk.length;
      return;
    }
    const head = chunk.byteOffset;
    let next: Uint8Array<ArrayBuffer>, at: number;
    if (left <= head && left + chunk.length >= n) {
      next = new Uint8Array(chunk.buffer as ArrayBuffer, 0, head + chunk.length);
      at = head - left;
      // A large block's buffer is let go once it is used up (it may be megabytes).
      this.#big = NO_BYTES;
    } else {
      const size = Math.max(n, left + chunk.length) + chunk.length;
      next = this.#big = new Uint8Array(size);
      next.set(chunk, left);
      at = 0;
    }
    if (left > 0) next.set(this.#buf.subarray(this.#pos, this.#end), at);
    this.#base += this.#pos - at;
    this.#buf = next;
    this.#dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
    this.#pos = at;
    this.#end = at + left + chunk.length;
  }

  #error(message: string, offset: number, type = -1): ScapFormatError {
    return new ScapFormatError(message, offset, type, this.#name);
  }

  /** Reads the whole stream, yielding metadata and event batches in file order. */
  async *items(): AsyncGenerator<ScapItem> {
    let first = true;
    let batch: Event[] = [];
    const transient = this.#transient !== undefined;
    try {
      while (true) {
        if (transient && batch.length > 0 && this.#end - this.#pos < 8) {
          // Transient events view the read buffer, which filling may change: their batch ends.
          yield { kind: "events", events: batch };
          batch = this.#nextBatch(batch);
        }
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
            batch = this.#nextBatch(batch);
          } else if (this.#pos === before) {
            // The next event block is not fully buffered yet.
            const total = this.#dv.getUint32(this.#pos + 4, true);
            if (transient && batch.length > 0) {
              yield { kind: "events", events: batch };
              batch = this.#nextBatch(batch);
            }
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
          batch = this.#nextBatch(batch);
        }
        const item = await this.#metadataBlock(first);
        first = false;
        if (item) yield item;
      }
    } finally {
      this.close();
    }
  }

  /**
   * The array for the next batch, called when the consumer asks for the item after `done`:
   * with transient types, every transient event object is free again, and the array of the
   * batch before `done` holds the next batch.
   */
  #nextBatch(done: Event[]): Event[] {
    if (this.#transient === undefined) return [];
    const next = this.#spareBatch;
    // Emptied element by element: `length = 0` would drop the array's backing store, and the
    // next batch's pushes would allocate it again (~7 KB per batch of 256).
    while (next.length > 0) next.pop();
    this.#spareBatch = done;
    this.#poolPos = 0;
    return next;
  }

  /**
   * A transient event at `off` of the read buffer: a free one of the pool, or a new one. The
   * pool holds as many objects as the largest batch had transient events, whatever the size of
   * the batch before this one (a short batch at the end of a read-ahead chunk).
   */
  #transientEvent(off: number, type: number, tid: number): Event {
    const pool = this.#pool;
    const i = this.#poolPos++;
    if (i < pool.length) return pool[i].reuse(this.#buf, this.#dv, off, type, tid);
    const ev = new Event(this.#buf, this.#dv, off, type, tid);
    pool.push(ev);
    return ev;
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
    const skipped = this.#skipBase = this.stats.skipped;
    const status = this.#scanBlocks(batch);
    this.#flushRun();
    const d = this.stats.skipped - skipped;
    this.stats.blocks += d;
    this.stats.events += d;
    this.#num += d;
    this.stats.bytes = this.#base + this.#pos;
    if (status === SCAN_FULL) this.#full = true;
    const err = this.#scanError;
    this.#scanError = undefined;
    return err;
  }

  /**
   * The hot loop of a replay, alone in its function: events whose type is not kept are checked
   * and counted without leaving it; kept events are decoded and copied out of the read buffer
   * (see #place). V8 compiles this loop while it runs (OSR) and keeps that code for the next
   * calls: every exit is a plain `return` of a number, since code after the loop that had not
   * run at that moment would send each later call back to the interpreter at its end.
   */
  #scanBlocks(batch: Event[]): number {
    const dv = this.#dv;
    const limit = this.#batchSize;
    const end = this.#end;
    const spanNs = this.#spanNs;
    const keep = this.#keep;
    const stats = this.stats;
    let p = this.#pos;
    let n = batch.length;
    while (n < limit && p + 8 <= end) {
      const type = dv.getUint32(p, true);
      const kind = blockKind(type);
      if (kind === 0) return SCAN_DONE;
      const total = dv.getUint32(p + 4, true);
      if (
        total < 12 || (total > MAX_SMALL_EVENT_BLOCK && (kind & LARGE) === 0) || total > MAX_BLOCK
      ) {
        this.#scanError = this.#error(`corrupt event block length ${total}`, this.#base + p, type);
        return SCAN_ERROR;
      }
      if (p + total > end) return SCAN_DONE;
      const evOff = (kind & FLAGS) !== 0 ? p + 14 : p + 10;
      if (dv.getUint32(p + total - 4, true) !== total) {
        this.#scanError = this.#error(
          `event block length ${total} does not match its trailer ${
            dv.getUint32(p + total - 4, true)
          }`,
          this.#base + p,
          type,
        );
        return SCAN_ERROR;
      }
      // Skipped types: the checks decoding would make of the header, then on to the next block.
      const bodyEnd = p + total - 4;
      const hdr = (kind & V2) !== 0 ? EVENT_HEADER_V2 : EVENT_HEADER_V1;
      if (keep !== undefined && evOff + hdr <= bodyEnd) {
        const evType = dv.getUint16(evOff + 20, true);
        const evLen = dv.getUint32(evOff + 16, true);
        if (
          evType < EVENT_COUNT && keep[evType] !== 1 && evLen >= hdr && evOff + evLen <= bodyEnd
        ) {
          stats.skipped++;
          this.#pos = p += total;
          continue;
        }
      }
      // The batch's time span, on the events it holds.
      if (spanNs > 0 && evOff + 8 <= end) {
        // Event time as a double (exact to well under a microsecond): cheap, no BigInt.
        const ns = dv.getUint32(evOff + 4, true) * 4294967296 + dv.getUint32(evOff, true);
        if (n === 0) this.#batchT0 = ns;
        else if (ns - this.#batchT0 >= spanNs) return SCAN_FULL;
      }
      const problem = this.#decodeEvent(dv, p, total, kind, batch);
      if (problem !== undefined) {
        this.#scanError = this.#error(`corrupt event: ${problem}`, this.#base + p, type);
        return SCAN_ERROR;
      }
      n = batch.length;
      this.#pos = p += total;
      stats.blocks++;
    }
    return SCAN_DONE;
  }

  /** Decodes one event block; returns a problem description when it is corrupt. */
  #decodeEvent(
    dv: DataView,
    p: number,
    total: number,
    kind: number,
    batch: Event[],
  ): string | undefined {
    const bodyEnd = p + total - 4;
    const cpu = dv.getUint16(p + 8, true);
    const evOff = (kind & FLAGS) !== 0 ? p + 14 : p + 10;
    const v2 = (kind & V2) !== 0;
    const hdr = v2 ? EVENT_HEADER_V2 : EVENT_HEADER_V1;
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
    // (Types not kept never get here: #scanBlocks skips them after the same checks.)
    const info = EVENTS[type];
    const lenSize = info.largePayload ? 4 : 2;
    let nparams: number;
    const lens = evOff + hdr;
    const end = evOff + evLen;
    if (v2) {
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
    const transient = this.#transient;
    let ev: Event;
    if (transient !== undefined && transient[type] === 1) {
      // A view of the read buffer: its batch ends before the buffer changes (see items).
      ev = this.#transientEvent(evOff, type, tid);
    } else {
      const at = this.#place(p, total) + (evOff - p);
      ev = new Event(this.#arena, this.#arenaDv, at, type, tid);
    }
    // Events skipped in this scan are counted into #num after it (see #decodeEvents).
    ev.num = this.#num++ + (this.stats.skipped - this.#skipBase);
    // Events of one cpu, header version, flags and length size share a layout object (one allocation less per
    // event); the timestamp is at each event's own offset.
    const flags = (kind & FLAGS) !== 0 && (dv.getUint32(p + 10, true) & DUMP_STATE_ONLY) !== 0
      ? EVENT_STATE_ONLY
      : 0;
    const key = cpu * 8 + (v2 ? 4 : 0) + (flags !== 0 ? 2 : 0) + (lenSize === 4 ? 1 : 0);
    let layout = this.#layouts[key];
    if (layout === undefined) {
      layout = {
        origin: "scap",
        pid: -1,
        ppid: -1,
        cpu,
        flags,
        tsOff: -1,
        commOff: -1,
        hdr,
        lenSize,
        shared: true,
      };
      this.#layouts[key] = layout;
    }
    ev._x = layout;
    ev.nparams = nparams;
    batch.push(ev);
    this.stats.events++;
    return undefined;
  }

  /**
   * Where the block of `total` bytes at `p` of the read buffer goes in the current arena.
   * Events live in arenas, not in the read buffer: the read buffer is used again for the rest
   * of the file, and what outlives its batch (an enter event kept until its exit, events around
   * an alert) holds only its own arena, not megabytes of file. Consecutive kept blocks are
   * copied as one run (see #flushRun): one copy costs about as much as 50 bytes copied.
   */
  #place(p: number, total: number): number {
    if (this.#runEnd !== p || this.#arenaPos + total > this.#arena.length) {
      this.#flushRun();
      if (this.#arenaPos + total > this.#arena.length) {
        this.#arena = new Uint8Array(Math.max(ARENA_BYTES, total));
        this.#arenaDv = new DataView(this.#arena.buffer);
        this.#arenaPos = 0;
      }
      this.#runStart = p;
      this.#runAt = this.#arenaPos;
    }
    const at = this.#arenaPos;
    this.#arenaPos = at + total;
    this.#runEnd = p + total;
    return at;
  }

  /** Copies the pending run of kept blocks into its arena (before the read buffer changes). */
  #flushRun(): void {
    const len = this.#runEnd - this.#runStart;
    if (len > 0) {
      const buf = this.#buf;
      this.#arena.set(
        new Uint8Array(buf.buffer, buf.byteOffset + this.#runStart, len),
        this.#runAt,
      );
    }
    this.#runStart = this.#runEnd = -1;
  }
}

/** How #scanBlocks ended: buffer or batch size reached, batch time span reached, error. */
const SCAN_DONE = 0, SCAN_FULL = 1, SCAN_ERROR = 2;

/** Block kind bits: an event block, its body has cpu and flags, v2 header, large payload. */
const EVENT_BLOCK = 1, FLAGS = 2, V2 = 4, LARGE = 8;

/** The kind bits of a block type (0: not an event block); see EVENT_BLOCKS. */
function blockKind(type: number): number {
  switch (type) {
    case BLOCK.EVENT_V2:
      return EVENT_BLOCK | V2;
    case BLOCK.EVENT_FLAGS_V2:
      return EVENT_BLOCK | FLAGS | V2;
    case BLOCK.EVENT:
    case BLOCK.EVENT_INT:
      return EVENT_BLOCK;
    case BLOCK.EVENT_FLAGS:
      return EVENT_BLOCK | FLAGS;
    case BLOCK.EVENT_V2_LARGE:
      return EVENT_BLOCK | V2 | LARGE;
    case BLOCK.EVENT_FLAGS_V2_LARGE:
      return EVENT_BLOCK | FLAGS | V2 | LARGE;
    default:
      return 0;
  }
}

/** Bytes of one event arena (events are copied out of the read buffer into arenas). */
const ARENA_BYTES = 64 << 10;

const NOTIFICATION_E = EVENTS.findIndex((e) => e.name === "notification" && e.dir === ">");
const INFRASTRUCTURE_E = EVENTS.findIndex((e) => e.name === "infra" && e.dir === ">");

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

/**
 * The first `n` bytes of an open file, read synchronously from its current offset (fewer when the
 * file is shorter): a sniff of the format at start-up without round trips through Deno's I/O
 * threads.
 */
export function readHeadSync(file: Deno.FsFile, n: number): Uint8Array {
  const head = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = file.readSync(head.subarray(got));
    if (r === null) break;
    got += r;
  }
  return head.subarray(0, got);
}

/** Opens a capture file, plain or gzip-compressed (detected from its first bytes). */
// deno-lint-ignore require-await -- async so that a file that cannot be opened rejects
export async function openScapFile(path: string, options: OpenScapOptions = {}): Promise<ScapFile> {
  // Opening, the size and the first two bytes are quick system calls: done synchronously, they
  // spare four round trips through Deno's I/O threads before the first block is read.
  const file = Deno.openSync(path, { read: true });
  let size = 0;
  let gzip = false;
  try {
    size = file.statSync().size;
    const magic = readHeadSync(file, 2);
    gzip = magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    file.seekSync(0, Deno.SeekMode.Start);
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
      async chunk() {
        const c = await prefetch.chunk();
        consumed = prefetch.consumed;
        if (c !== null) options.onFileBytes?.(consumed);
        return c;
      },
      close: () => prefetch.close(),
    };
  }
  const reader = new ScapReader(src, { name: path, ...options });
  return { reader, size, gzip, fileBytes: () => consumed };
}
