/**
 * Ring framing of live records: each record preceded by the BPF ring buffer's 8-byte header
 * (u32 length with BUSY/DISCARD bits, u32 page offset) and padded to 8 bytes. A ring drain is a
 * byte copy of this framing; synthetic batches use the same form.
 *
 * @example
 * ```ts
 * const ring = frameRecords([recordA, recordB]); // as a ring drain copies them
 * forEachFramedRecord(ring, (offset, length) => decode(ring, offset, length));
 * ```
 * @module
 */

/** Length-word bit of a record the kernel is still writing. */
export const BUSY = 0x8000_0000;
/** Length-word bit of a record to skip. */
export const DISCARD = 0x4000_0000;
/** Bytes of the ring buffer's header before each record. */
export const HDR = 8;

/**
 * Calls `fn(offset, length)` for every non-discarded record in a framed buffer (ring headers
 * included); `offset` is where the record's own bytes start.
 */
export function forEachFramedRecord(
  buf: Uint8Array,
  fn: (offset: number, length: number) => void,
): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + HDR <= buf.byteLength) {
    const word = dv.getUint32(off, true);
    const len = (word & ~(BUSY | DISCARD)) >>> 0;
    if (off + HDR + len > buf.byteLength) break;
    if ((word & DISCARD) === 0) fn(off + HDR, len);
    off += (len + HDR + 7) & ~7;
  }
}

/** Frames records as the ring does (for synthetic batches and tests). */
export function frameRecords(records: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const r of records) total += (r.length + HDR + 7) & ~7;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const r of records) {
    dv.setUint32(off, r.length, true);
    out.set(r, off + HDR);
    off += (r.length + HDR + 7) & ~7;
  }
  return out;
}
