/**
 * The decoded event: header fields read eagerly (type, thread ids, cpu), parameters decoded on
 * first use and cached, enrichment (thread and fd state) attached by the enrich stage.
 *
 * An event is a view into its batch's bytes; batches are never reused, so an event stays valid
 * as long as it is referenced.
 *
 * Two byte layouts share this class: Saker's live record (see {@link LIVE_HEADER_SIZE}) and the
 * scap event block of capture files (see {@link SCAP_HEADER_SIZE}). Both are followed by one
 * length per parameter and then the parameter data.
 * @module
 */
import { type EventInfo, EVENTS, PT } from "./table.ts";
import { decodeDyn, decodeParam, type ParamValue } from "./params.ts";
import type { FdInfo, ThreadInfo } from "../state/types.ts";

/**
 * Live record header written by the probe (bpf/record.h), little endian:
 * u64 ts (boot-time ns) · u32 tid · u32 pid · u32 ppid · u32 len (whole record) · u16 type ·
 * u16 nparams · u16 cpu · u16 flags · char comm[16] · u16 lens[nparams] · data.
 */
export const LIVE_HEADER_SIZE = 48;

/** scap event header: u64 ts · u64 tid · u32 len · u16 type · u32 nparams. */
export const SCAP_HEADER_SIZE = 26;

/** Record flag: a string or buffer parameter was cut at its size bound. */
export const RECORD_TRUNCATED = 1;

/** Where an event came from; decides which header fields exist. */
export type EventOrigin = "live" | "scap" | "synthetic";

/** A decoded event. */
export class Event {
  /** Sequence number within its source, from 1. */
  num = 0;
  /** Event id (index into {@link EVENTS}). */
  type = 0;
  /** Static description of the event type. */
  info: EventInfo = EVENTS[0];
  /** Thread id (kernel pid of the thread). */
  tid = 0;
  /** Process id (thread group id); -1 when the source does not carry it (scap). */
  pid = -1;
  /** Parent process id; -1 when unknown. */
  ppid = -1;
  /** CPU the event happened on; -1 when unknown. */
  cpu = -1;
  /** Record flags, see {@link RECORD_TRUNCATED}. */
  flags = 0;
  origin: EventOrigin = "live";
  /** Bytes of the batch the event lives in, and a DataView over the same bytes. */
  buf: Uint8Array;
  dv: DataView;
  /** Offset of the record in `buf`. */
  off = 0;
  /** Offset of the u64 timestamp, and the base added to it to get UTC ns. */
  tsOff = 0;
  tsBase = 0n;
  /** Offset of the 16-byte comm in the record, or -1. */
  commOff = -1;
  nparams = 0;
  /** Offset of the parameter length array, and the size of each length (2 or 4). */
  lensOff = 0;
  lenSize: 2 | 4 = 2;
  /** Enrichment: the thread that made the event, set by the state stage. */
  thread: ThreadInfo | undefined = undefined;
  /** Enrichment: the fd the event uses or creates, set by the state stage. */
  fdInfo: FdInfo | undefined = undefined;
  /** Enrichment: the fd number the event refers to, or -1. */
  fdNum = -1;
  /** Field values already extracted for this event (rules extract lazily, at most once). */
  cache: Map<string, unknown> | undefined = undefined;

  #poff: Int32Array | undefined = undefined;
  #vals: (ParamValue | undefined)[] | undefined = undefined;
  #ts: bigint | undefined = undefined;
  #comm: string | undefined = undefined;

  constructor(buf: Uint8Array, dv: DataView) {
    this.buf = buf;
    this.dv = dv;
  }

  /** Event name as used in `evt.type`. */
  get name(): string {
    return this.info.name;
  }

  /** `>` for enter, `<` for exit. */
  get dir(): ">" | "<" {
    return this.info.dir;
  }

  /** Timestamp in nanoseconds since the Unix epoch (UTC). */
  get ts(): bigint {
    return this.#ts ??= this.tsBase + this.dv.getBigUint64(this.tsOff, true);
  }

  /** Overrides the timestamp (synthetic events, tests). */
  set ts(value: bigint) {
    this.#ts = value;
  }

  /** Command name of the thread as the kernel recorded it (live) or as state knows it. */
  get comm(): string {
    if (this.#comm !== undefined) return this.#comm;
    if (this.commOff >= 0) {
      let end = this.commOff;
      const max = this.commOff + 16;
      while (end < max && this.buf[end] !== 0) end++;
      let s = "";
      for (let i = this.commOff; i < end; i++) s += String.fromCharCode(this.buf[i]);
      // comm is at most 15 bytes; non-ASCII names are rare enough to decode again properly.
      if (/[\x80-\xff]/.test(s)) s = new TextDecoder().decode(this.buf.subarray(this.commOff, end));
      return this.#comm = s;
    }
    return this.thread?.comm ?? "";
  }

  /** True when a parameter was cut at its size bound. */
  get truncated(): boolean {
    return (this.flags & RECORD_TRUNCATED) !== 0;
  }

  #offsets(): Int32Array {
    const n = this.nparams;
    const offs = new Int32Array(n + 1);
    let pos = this.lensOff + n * this.lenSize;
    const dv = this.dv;
    for (let i = 0; i < n; i++) {
      offs[i] = pos;
      pos += this.lenSize === 2
        ? dv.getUint16(this.lensOff + 2 * i, true)
        : dv.getUint32(this.lensOff + 4 * i, true);
    }
    offs[n] = pos;
    return offs;
  }

  /** Byte offset of parameter `i` in `buf`. */
  paramOffset(i: number): number {
    return (this.#poff ??= this.#offsets())[i];
  }

  /** Byte length of parameter `i`. */
  paramLength(i: number): number {
    const o = this.#poff ??= this.#offsets();
    return o[i + 1] - o[i];
  }

  /** Raw bytes of parameter `i` (a view, not a copy). */
  paramBytes(i: number): Uint8Array {
    const o = this.#poff ??= this.#offsets();
    return this.buf.subarray(o[i], o[i + 1]);
  }

  /**
   * Value of parameter `i` (decoded once and cached). Out-of-range indexes (an old capture with
   * fewer parameters) give undefined; an empty parameter gives null.
   */
  param(i: number): ParamValue | undefined {
    if (i < 0 || i >= this.nparams) return undefined;
    const vals = this.#vals ??= new Array(this.nparams);
    let v = vals[i];
    if (v === undefined) {
      const p = this.info.params[i];
      const o = this.#poff ??= this.#offsets();
      const type = p?.type ?? PT.BYTEBUF;
      v = type === PT.DYN
        ? decodeDyn(p.table ?? "", this.buf, this.dv, o[i], o[i + 1] - o[i])
        : decodeParam(type, this.buf, this.dv, o[i], o[i + 1] - o[i]);
      vals[i] = v;
    }
    return v;
  }

  /** Value of the parameter called `name`, or undefined if the event has none. */
  arg(name: string): ParamValue | undefined {
    const i = this.info.paramIndex.get(name);
    return i === undefined ? undefined : this.param(i);
  }

  /** Replaces a parameter value (used by state to hand resolved values to fields). */
  setParam(i: number, value: ParamValue): void {
    (this.#vals ??= new Array(this.nparams))[i] = value;
  }

  /**
   * The return value of an exit event: the first parameter when it is a result (`res`, or the
   * `fd` an open-like call returns). Undefined for enter events and events without one.
   */
  get res(): number | undefined {
    if (this.info.dir !== "<" || this.nparams === 0) return undefined;
    const p = this.info.params[0];
    if (p.name !== "res" && p.name !== "fd") return undefined;
    const t = p.type;
    if (t !== PT.ERRNO && t !== PT.FD && t !== PT.PID && t !== PT.INT64 && t !== PT.UINT64) {
      return undefined;
    }
    const v = this.param(0);
    return typeof v === "number" ? v : undefined;
  }
}

/**
 * Decodes one ring drain into events. `buf` is "framed": every record is preceded by the ring
 * buffer's 8-byte header (u32 length with BUSY/DISCARD bits, u32 page offset) and padded to 8
 * bytes, exactly as the records sit in the ring. `tsBase` turns the probe's boot-time clock into
 * UTC; `firstNum` numbers the events.
 */
export function decodeLiveBatch(buf: Uint8Array, tsBase: bigint, firstNum: number): Event[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Event[] = [];
  let frame = 0;
  let num = firstNum;
  const end = buf.byteLength;
  while (frame + 8 <= end) {
    const word = dv.getUint32(frame, true);
    const frameLen = (word & 0x3fff_ffff) >>> 0;
    const off = frame + 8;
    frame += (frameLen + 15) & ~7;
    if (word & 0x4000_0000) continue; // discarded
    if (frameLen < LIVE_HEADER_SIZE || off + frameLen > end) break;
    const ev = new Event(buf, dv);
    ev.num = num++;
    ev.off = off;
    ev.tsOff = off;
    ev.tsBase = tsBase;
    ev.tid = dv.getUint32(off + 8, true);
    ev.pid = dv.getUint32(off + 12, true);
    ev.ppid = dv.getUint32(off + 16, true);
    const type = dv.getUint16(off + 24, true);
    ev.type = type;
    ev.info = EVENTS[type] ?? EVENTS[0];
    ev.nparams = dv.getUint16(off + 26, true);
    ev.cpu = dv.getUint16(off + 28, true);
    ev.flags = dv.getUint16(off + 30, true);
    ev.commOff = off + 32;
    ev.lensOff = off + LIVE_HEADER_SIZE;
    ev.lenSize = 2;
    out.push(ev);
  }
  return out;
}

/**
 * Decodes one scap event block body (header at `off`) into an event. `cpu` comes from the
 * enclosing block; scap events carry no pid or comm (state supplies them).
 */
export function decodeScapEvent(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  cpu: number,
  num: number,
): Event {
  const ev = new Event(buf, dv);
  ev.origin = "scap";
  ev.num = num;
  ev.off = off;
  ev.tsOff = off;
  ev.tid = Number(dv.getBigInt64(off + 8, true));
  const type = dv.getUint16(off + 20, true);
  ev.type = type;
  ev.info = EVENTS[type] ?? EVENTS[0];
  ev.nparams = dv.getUint32(off + 22, true);
  ev.cpu = cpu;
  ev.lensOff = off + SCAP_HEADER_SIZE;
  ev.lenSize = ev.info.largePayload ? 4 : 2;
  return ev;
}
