/**
 * Allocation-free reads of integer parameters straight from an event's bytes, for the state
 * stage's hot path (the Event class's decoded-value cache allocates on first use).
 * @module
 */
import type { Event } from "../events/event.ts";

/**
 * Parameter `i` of `ev` as a signed integer (8-, 4-, 2- or 1-byte parameters), or NaN when the
 * event has no such parameter or it is empty. 64-bit values beyond 2^53 lose precision.
 */
export function rawInt(ev: Event, i: number): number {
  if (i < 0 || i >= ev.nparams) return NaN;
  const dv = ev.dv;
  const off = ev.paramOffset(i);
  switch (ev.paramLength(i)) {
    case 8:
      return dv.getUint32(off, true) + dv.getInt32(off + 4, true) * 0x1_0000_0000;
    case 4:
      return dv.getInt32(off, true);
    case 2:
      return dv.getInt16(off, true);
    case 1:
      return dv.getInt8(off);
    default:
      return NaN;
  }
}
