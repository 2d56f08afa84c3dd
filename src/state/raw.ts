/**
 * Allocation-free reads of parameters straight from an event's bytes, for the state stage's hot
 * path (the Event class's decoded-value cache allocates on first use, and each of its reads is a
 * call that works out the parameter's place again).
 *
 * @example
 * ```ts
 * import { intAt, PARAM_OFFSETS, rawInt } from "./raw.ts";
 * import { buildEvent } from "../events/encode.ts";
 * const ev = buildEvent("openat", { tid: 1, pid: 1 }, { fd: 3, dirfd: -100, name: "/a", flags: 1 });
 * rawInt(ev, 0); // 3
 * if (ev.paramOffsets(PARAM_OFFSETS)) intAt(ev, PARAM_OFFSETS, 3); // 1
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import { decodeString, i64, readIntParam } from "../events/params.ts";
import { PT } from "../events/table.ts";

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
      return i64(dv, off);
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

/**
 * Where {@link Event.paramOffsets} writes one event's parameter offsets for {@link intAt} and
 * {@link textAt}: one array, used again by every reader (state handles one event at a time).
 */
export const PARAM_OFFSETS: Int32Array = new Int32Array(256);

/**
 * Parameter `i` of `ev` as a number, as `ev.param(i)` gives an integer parameter (undefined for
 * a missing or empty one), read at `offs` (see {@link Event.paramOffsets}). Other types go through
 * `ev.param`.
 */
export function intAt(ev: Event, offs: Int32Array, i: number): number | undefined {
  if (i < 0 || i >= ev.nparams) return undefined;
  const kind = ev.info.intKinds[i];
  if (kind === 0 || (ev._vals !== undefined && ev._vals[i] !== undefined)) {
    const v = ev.param(i);
    return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
  }
  const v = readIntParam(kind, ev.dv, offs[i], offs[i + 1] - offs[i]);
  return v === null ? undefined : v;
}

/**
 * Parameter `i` of `ev` as a string, as `ev.param(i)` gives a text or path parameter (undefined
 * for a missing or empty one), read at `offs` without keeping the value in the event: decoding
 * the same bytes again gives the same string (params.ts keeps recent ones).
 */
export function textAt(ev: Event, offs: Int32Array, i: number): string | undefined {
  if (i < 0 || i >= ev.nparams) return undefined;
  const type = ev.info.paramTypes[i];
  if (
    (type !== PT.CHARBUF && type !== PT.FSPATH && type !== PT.FSRELPATH) ||
    (ev._vals !== undefined && ev._vals[i] !== undefined)
  ) {
    const v = ev.param(i);
    return typeof v === "string" ? v : undefined;
  }
  const len = offs[i + 1] - offs[i];
  return len > 0 ? decodeString(ev.buf, offs[i], len, ev.dv) : undefined;
}
