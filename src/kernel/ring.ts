/**
 * Reads a BPF ring buffer directly from its memory mapping, without a callback per record:
 * the same protocol as libbpf's ring_buffer__consume, done in JavaScript over long-lived views.
 *
 * Layout (kernel ABI): page 0 holds the consumer position (read-write); page 1 the producer
 * position; the data area follows. The kernel lets a mapping cover the data area twice in a row
 * (so that no record wraps), but every page mapped twice counts twice in the process's resident
 * size: this reader maps it once and copies a record that wraps in two pieces. Each record starts
 * with an 8-byte header (never split: records are 8-byte aligned in a power-of-two area) whose
 * first 32-bit word is its length plus two flags: BUSY (still being written) and DISCARD (to
 * skip).
 *
 * A drain copies every committed record since the consumer position into a buffer in "framed"
 * form (ring headers included, see {@link forEachFramedRecord}), then publishes the new consumer
 * position so the kernel can reuse the space. One bulk copy per drain, no per-record allocation.
 *
 * Drain buffers are regions of a few large chunks that are used again once nothing refers to
 * their drains any more. Events are views into their drain (and may be kept as long as anyone
 * likes), so a region is free only when the garbage collector has collected the drain's two views
 * (the bytes and the DataView every event of the batch holds): a FinalizationRegistry reports
 * that, and a chunk whose regions are all free is reused. Nothing has to be released by hand, so
 * keeping an event can never see its bytes overwritten; it only keeps its chunk out of reuse.
 * Fresh chunks cost page faults and zeroing (~60 ns per event at 300k events/s here); reused
 * ones cost nothing.
 *
 * The chunks are few ({@link MAX_CHUNKS}): the registry's reports come in a task of their own,
 * which does not run while the reader drains back to back (a full ring: one promise after the
 * other, never a turn of the event loop), and chunks allocated meanwhile piled up in the old
 * generation (hundreds of MB under an open storm). When every chunk is still in use, a drain gets
 * a buffer of its own instead, which the collector frees with its events, no report needed.
 * @module
 */
import { FdWaiter, mmap, munmap, pageSize, PROT_READ, PROT_WRITE } from "./libc.ts";
import { BUSY, DISCARD, HDR } from "../events/frame.ts";
const CHUNK_BYTES = 2 << 20;

/** One drain of the ring: framed records, a DataView over the same bytes, and how many. */
export interface RingDrain {
  bytes: Uint8Array;
  view: DataView;
  records: number;
}

/** A chunk drains are copied into; `live` counts the drain views not yet collected. */
interface Chunk {
  bytes: Uint8Array;
  used: number;
  live: number;
}

/**
 * Chunks a reader allocates at most (6 MiB: each is resident once filled); a drain that finds none
 * free gets its own buffer.
 */
export const MAX_CHUNKS = 3;

/** Counts of a ring reader's drain buffers. */
export interface RingBufferStats {
  drains: number;
  /** Chunks allocated, and chunks taken again after all their drains were collected. */
  chunksAllocated: number;
  chunksReused: number;
  /** Drains copied into a buffer of their own because every chunk was still in use. */
  ownBuffers: number;
}

/** A reader over one ring buffer map. */
export class RingReader {
  readonly size: number;
  #page: number;
  #consPtr: Deno.PointerObject;
  #dataPtr: Deno.PointerObject;
  #cons: BigUint64Array;
  #prod: BigUint64Array;
  #data: Uint8Array;
  #words: Uint32Array;
  #mask: number;
  #closed = false;
  #fd: number;
  #waiter: FdWaiter | undefined;

  /** Maps the ring of map fd `fd` whose data area is `size` bytes (a power of two). */
  constructor(fd: number, size: number) {
    this.size = size;
    this.#fd = fd;
    this.#page = pageSize();
    this.#mask = size - 1;
    this.#consPtr = mmap(this.#page, PROT_READ | PROT_WRITE, fd, 0);
    this.#dataPtr = mmap(this.#page + size, PROT_READ, fd, this.#page);
    this.#cons = new BigUint64Array(
      Deno.UnsafePointerView.getArrayBuffer(this.#consPtr, 8),
    );
    const prodBuf = Deno.UnsafePointerView.getArrayBuffer(this.#dataPtr, this.#page + size);
    this.#prod = new BigUint64Array(prodBuf, 0, 1);
    this.#data = new Uint8Array(prodBuf, this.#page, size);
    this.#words = new Uint32Array(prodBuf, this.#page, size / 4);
  }

  /**
   * Resolves true once the ring is readable (it holds records: level-triggered, so records that
   * came in before the call count) and the probe has woken it; false after `timeoutMs` (-1: no
   * timeout) or once the reader is closed (close ends a wait in progress at once).
   */
  async wait(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return false;
    this.#waiter ??= new FdWaiter(this.#fd);
    return await this.#waiter.wait(timeoutMs);
  }

  /** Bytes written by the kernel and not yet consumed. */
  pending(): number {
    return Number(Atomics.load(this.#prod, 0) - Atomics.load(this.#cons, 0));
  }

  /**
   * Copies out every committed record (up to `maxBytes`) and releases their space. Returns null
   * when the ring is empty.
   */
  drain(maxBytes = 4 << 20): RingDrain | null {
    if (this.#closed) return null;
    const cons = Atomics.load(this.#cons, 0);
    const prod = Atomics.load(this.#prod, 0);
    if (prod === cons) return null;
    const start = Number(cons & BigInt(this.#mask));
    const avail = Math.min(Number(prod - cons), maxBytes, this.size);
    this.#touch(start, avail);
    // Walk the headers to the first record still being written. Each header is read with a
    // plain load: V8 does not inline Atomics.load on a buffer that is not shared, so it was a
    // call per record (3 % of the agent's CPU under an open storm). This reader runs on x86-64
    // only, where loads are not reordered with other loads: the header is read before the
    // record's bytes (copied after the walk), as the acquire load libbpf uses guarantees. A
    // header still marked BUSY ends the walk, whatever else is read.
    let off = 0;
    let records = 0;
    const words = this.#words;
    const mask = this.#mask;
    while (off + HDR <= avail) {
      const word = words[((start + off) & mask) >>> 2];
      if (word & BUSY) break;
      const len = (word & ~(BUSY | DISCARD)) >>> 0;
      const next = off + ((len + HDR + 7) & ~7);
      if (next > avail) break;
      off = next;
      records++;
    }
    if (off === 0) return null;
    const drain = this.#copyOut(start, off, records);
    Atomics.store(this.#cons, 0, cons + BigInt(off));
    return drain;
  }

  /** What the touch read (kept, so that its loads are not left out as unused). */
  #sink = 0;

  /**
   * Reads one word of every cache line of the `len` bytes from `start`, before the header walk.
   * The kernel wrote them from another CPU, so each line is a cache miss here. In the walk each
   * header's place comes from the header before, so its misses come one after the other; these
   * loads do not depend on each other, so the CPU has many lines on the way at once, and the walk
   * and the copy then find them in the cache. Measured in the agent under an open+close storm
   * (Falco's stable rules, 2M events/s): walk 31-42 -> 21-22 ns per record, the touch included;
   * the copy unchanged (17 ns).
   */
  #touch(start: number, len: number): void {
    const words = this.#words;
    const last = words.length - 1; // the data area is a power of two: wrap by masking
    let i = (start & ~63) >>> 2;
    let s = 0;
    for (let n = (len + (start & 63) + 63) >>> 6; n > 0; n--) {
      s ^= words[i];
      i = (i + 16) & last;
    }
    this.#sink = s;
  }

  // Drains are copied into large chunks and handed out as views: a fresh small ArrayBuffer per
  // drain (slice) costs ~90 ns per event here, a set() into a chunk ~4 (see the module doc for
  // when a chunk is used again).
  #stats: RingBufferStats = { drains: 0, chunksAllocated: 0, chunksReused: 0, ownBuffers: 0 };
  #chunk: Chunk | undefined = undefined;
  #spare: Chunk[] = [];
  #collected = new FinalizationRegistry<Chunk>((c) => {
    if (--c.live === 0 && c !== this.#chunk) this.#keep(c);
  });

  #copyOut(start: number, len: number, records: number): RingDrain {
    let c = this.#chunk;
    if (c === undefined || c.used + len > c.bytes.length) {
      if (c !== undefined && c.live === 0) this.#keep(c);
      c = this.#spare.pop();
      if (c === undefined && this.#stats.chunksAllocated < MAX_CHUNKS && len <= CHUNK_BYTES) {
        c = { bytes: new Uint8Array(CHUNK_BYTES), used: 0, live: 0 };
        this.#stats.chunksAllocated++;
      } else if (c !== undefined) this.#stats.chunksReused++;
      this.#chunk = c;
      if (c === undefined) return this.#ownBuffer(start, len, records);
      c.used = 0;
    }
    const at = c.used;
    this.#copy(c.bytes, at, start, len);
    c.used = (at + len + 7) & ~7;
    const bytes = c.bytes.subarray(at, at + len);
    const view = new DataView(c.bytes.buffer, c.bytes.byteOffset + at, len);
    c.live += 2;
    this.#stats.drains++;
    this.#collected.register(bytes, c);
    this.#collected.register(view, c);
    return { bytes, view, records };
  }

  /** A drain in a buffer of its own (every chunk in use): freed with its events. */
  #ownBuffer(start: number, len: number, records: number): RingDrain {
    const bytes = new Uint8Array(len);
    this.#copy(bytes, 0, start, len);
    this.#stats.drains++;
    this.#stats.ownBuffers++;
    return { bytes, view: new DataView(bytes.buffer), records };
  }

  /** Copies `len` bytes of the data area from `start` into `to` at `at`. */
  #copy(to: Uint8Array, at: number, start: number, len: number): void {
    const first = Math.min(len, this.size - start);
    to.set(this.#data.subarray(start, start + first), at);
    // The run wraps past the end of the data area: the rest is at its start.
    if (first < len) to.set(this.#data.subarray(0, len - first), at + first);
  }

  /** A chunk no drain refers to any more: kept for the next drains. */
  #keep(c: Chunk): void {
    if (!this.#spare.includes(c)) this.#spare.push(c);
  }

  /** Counts of the drain buffers (how often memory was allocated and reused). */
  bufferStats(): RingBufferStats {
    return { ...this.#stats };
  }

  /** Unmaps the ring. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter?.close();
    munmap(this.#consPtr, this.#page);
    munmap(this.#dataPtr, this.#page + this.size);
  }
}
