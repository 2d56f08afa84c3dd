/**
 * The decoded event: header fields read eagerly (type, thread ids, cpu), parameters decoded on
 * first use and cached, enrichment (thread and fd state) attached by the enrich stage.
 *
 * An event is a view into its batch's bytes, which stay untouched as long as the event (or
 * anything else referring to the batch's bytes) is referenced; values decoded from it never
 * refer to those bytes (see src/kernel/ring.ts for how batch memory is used again).
 *
 * Two byte layouts share this class: Saker's live record (see {@link LIVE_HEADER_SIZE}) and the
 * scap event block of capture files (see {@link SCAP_HEADER_SIZE}). Both are followed by one
 * length per parameter and then the parameter data.
 * @module
 */
import { type EventInfo, EVENTS, PT } from "./table.ts";
import {
  decodeDyn,
  decodeParam,
  decodeStringList,
  decodeText,
  type ParamValue,
  readIntParam,
} from "./params.ts";
import type { FdInfo, ThreadInfo } from "../state/model.ts";

/**
 * Live record header written by the probe (bpf/record.h), little endian:
 * u64 ts (boot-time ns) · u32 tid · u32 pid · u32 ppid · u32 len (whole record) · u16 type ·
 * u16 nparams · u16 cpu · u16 flags · char comm[16] · u16 lens[nparams] · data.
 */
export const LIVE_HEADER_SIZE = 48;

/** Byte offset of each live record header field (bpf/record.h lays out the same). */
export const LIVE_HEADER = {
  ts: 0,
  tid: 8,
  pid: 12,
  ppid: 16,
  len: 20,
  type: 24,
  nparams: 26,
  cpu: 28,
  flags: 30,
  comm: 32,
} as const;

/** scap event header: u64 ts · u64 tid · u32 len · u16 type · u32 nparams. */
export const SCAP_HEADER_SIZE = 26;

/** Record flag: a string or buffer parameter was cut at its size bound. */
export const RECORD_TRUNCATED = 1;
/**
 * Record flag of the probe's audit mode: the kernel predicates would have dropped this record
 * (no rule can match it); set only when the probe was loaded with `predicateAudit`.
 */
export const RECORD_PRED_DROP = 2;
/**
 * Record flag of a response `deny`: the probe sent SIGKILL to the process making this call (its
 * path is in a deny set), so it dies before it runs user code again.
 */
export const RECORD_DENIED = 4;

/** Where an event came from; decides which header fields exist. */
export type EventOrigin = "live" | "scap" | "synthetic";

/**
 * Header fields of events whose bytes are not a live record (capture files, synthetic events),
 * or that were overridden. Live events leave this unset and read the record instead.
 */
export interface EventLayout {
  origin: EventOrigin;
  /** Process id; -1 when the source does not carry it (scap). */
  pid: number;
  ppid: number;
  cpu: number;
  flags: number;
  /** Offset of the u64 timestamp; -1: the event's own offset. */
  tsOff: number;
  commOff: number;
  /** Offset of the parameter lengths from the event's start (its header size). */
  hdr: number;
  lenSize: 2 | 4;
  /**
   * One layout object for many events (a capture reader's, per cpu and flags): a setter gives
   * the event a copy of its own first.
   */
  shared: boolean;
}

/** What few events need: a set or computed timestamp, the comm decoded, a field cache. */
interface EventExtras {
  ts: bigint | undefined;
  comm: string | undefined;
  cache: Map<string, unknown> | undefined;
}

/** A decoded event. */
export class Event {
  /** Sequence number within its source, from 1. */
  declare num: number;
  /** Static description of the event type. */
  declare info: EventInfo;
  /** Thread id (kernel pid of the thread). */
  declare tid: number;
  /** Bytes of the batch the event lives in, and a DataView over the same bytes. */
  declare buf: Uint8Array;
  declare dv: DataView;
  /** Offset of the record in `buf`. */
  declare off: number;
  /** Number of parameters the event carries. */
  declare nparams: number;
  /** Added to the record's u64 timestamp to get UTC ns (live: the boot epoch). */
  declare tsBase: bigint;
  /** Enrichment: the thread that made the event, set by the state stage. */
  declare thread: ThreadInfo | undefined;
  /** Enrichment: the fd the event uses or creates, set by the state stage. */
  declare fdInfo: FdInfo | undefined;
  /** Enrichment: the fd number the event refers to, or -1. */
  declare fdNum: number;

  // Lazily computed. Plain fields (not #private) and few of them: decoding allocates one event
  // per record, so the object's size and its construction are on the hot path (each field
  // costs ~2 ns per event under an open storm: the event type and the process id are read
  // through their description and the record instead).
  /** The last parameter offset worked out: parameter `_pi` starts at `_po` (-1: none yet). */
  declare _pi: number;
  declare _po: number;
  /** Decoded values that allocate (strings, buffers, objects), and values set by state. */
  declare _vals: (ParamValue | undefined)[] | undefined;
  declare _e: EventExtras | undefined;
  declare _x: EventLayout | undefined;

  /**
   * A live-record event at `off` of `buf`. Every field is written exactly once, in one order,
   * so all events share one shape. Other layouts set header fields through the setters below.
   */
  constructor(buf: Uint8Array, dv: DataView, off = 0, type = 0, tid = 0) {
    this.num = 0;
    this.info = EVENTS[type] ?? EVENTS[0];
    this.tid = tid;
    this.buf = buf;
    this.dv = dv;
    this.off = off;
    this.nparams = off + LIVE_HEADER_SIZE <= dv.byteLength ? dv.getUint16(off + 26, true) : 0;
    this.tsBase = 0n;
    this.thread = undefined;
    this.fdInfo = undefined;
    this.fdNum = -1;
    this._pi = 0;
    this._po = -1;
    this._vals = undefined;
    this._e = undefined;
    this._x = undefined;
  }

  /**
   * Makes this object the event at `off` of `buf`, every field written as the constructor
   * writes it: a capture reader whose consumer is done with a batch uses its event objects
   * again (see ScapReaderOptions.transientTypes in src/capture/reader.ts). The constructor does
   * not call this: V8 sizes an object by the fields its constructor writes itself, and fields
   * past that estimate would live outside the object, on the path that makes one per record.
   */
  reuse(buf: Uint8Array, dv: DataView, off: number, type: number, tid: number): this {
    this.num = 0;
    this.info = EVENTS[type] ?? EVENTS[0];
    this.tid = tid;
    this.buf = buf;
    this.dv = dv;
    this.off = off;
    this.nparams = off + LIVE_HEADER_SIZE <= dv.byteLength ? dv.getUint16(off + 26, true) : 0;
    this.tsBase = 0n;
    this.thread = undefined;
    this.fdInfo = undefined;
    this.fdNum = -1;
    this._pi = 0;
    this._po = -1;
    this._vals = undefined;
    this._e = undefined;
    this._x = undefined;
    return this;
  }

  /** Field values already extracted for this event (for evaluators that keep them). */
  get cache(): Map<string, unknown> | undefined {
    return this._e?.cache;
  }
  set cache(v: Map<string, unknown> | undefined) {
    extrasOf(this).cache = v;
  }

  /** Where the event came from; decides which header fields exist. */
  get origin(): EventOrigin {
    return this._x ? this._x.origin : "live";
  }
  /** Setting a non-live origin resets the header fields to "unknown" (no pid, comm, cpu). */
  set origin(v: EventOrigin) {
    if (v === "live") {
      layoutOf(this).origin = v;
      return;
    }
    this._x = {
      origin: v,
      pid: -1,
      ppid: -1,
      cpu: -1,
      flags: 0,
      tsOff: this.off,
      commOff: -1,
      hdr: SCAP_HEADER_SIZE,
      lenSize: 2,
      shared: false,
    };
    this.nparams = 0;
    this._pi = 0;
    this._po = -1;
  }
  /** Event id (index into {@link EVENTS}). */
  get type(): number {
    return this.info.id;
  }
  /** Process id (thread group id); -1 when the source does not carry it (scap). */
  get pid(): number {
    const x = this._x;
    return x === undefined ? this.dv.getUint32(this.off + 12, true) : x.pid;
  }
  set pid(v: number) {
    layoutOf(this).pid = v;
  }
  /** Parent process id; -1 when unknown. */
  get ppid(): number {
    return this._x ? this._x.ppid : this.dv.getUint32(this.off + 16, true);
  }
  set ppid(v: number) {
    layoutOf(this).ppid = v;
  }
  /** CPU the event happened on; -1 when unknown. */
  get cpu(): number {
    return this._x ? this._x.cpu : this.dv.getUint16(this.off + 28, true);
  }
  set cpu(v: number) {
    layoutOf(this).cpu = v;
  }
  /** Record flags, see {@link RECORD_TRUNCATED}. */
  get flags(): number {
    return this._x ? this._x.flags : this.dv.getUint16(this.off + 30, true);
  }
  set flags(v: number) {
    layoutOf(this).flags = v;
  }
  /** Offset of the u64 timestamp. */
  get tsOff(): number {
    const x = this._x;
    return x === undefined || x.tsOff < 0 ? this.off : x.tsOff;
  }
  set tsOff(v: number) {
    layoutOf(this).tsOff = v;
  }
  /** Offset of the 16-byte comm in the record, or -1. */
  get commOff(): number {
    return this._x ? this._x.commOff : this.off + 32;
  }
  set commOff(v: number) {
    layoutOf(this).commOff = v;
  }
  /** Offset of the parameter length array (after the header: live records' or the layout's). */
  get lensOff(): number {
    const x = this._x;
    return this.off + (x === undefined ? LIVE_HEADER_SIZE : x.hdr);
  }
  set lensOff(v: number) {
    layoutOf(this).hdr = v - this.off;
    this._pi = 0;
    this._po = -1;
  }
  /** Size of each parameter length (2, or 4 for large-payload events). */
  get lenSize(): 2 | 4 {
    return this._x ? this._x.lenSize : 2;
  }
  set lenSize(v: 2 | 4) {
    layoutOf(this).lenSize = v;
    this._pi = 0;
    this._po = -1;
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
    const e = extrasOf(this);
    return e.ts ??= this.tsBase + this.dv.getBigUint64(this.tsOff, true);
  }

  /** Overrides the timestamp (synthetic events, tests). */
  set ts(value: bigint) {
    extrasOf(this).ts = value;
  }

  /** The timestamp when it was set or already computed, else undefined (for writers). */
  get tsKnown(): bigint | undefined {
    return this._e?.ts;
  }

  /** Command name of the thread as the kernel recorded it (live) or as state knows it. */
  get comm(): string {
    const known = this._e?.comm;
    if (known !== undefined) return known;
    if (this.commOff >= 0) {
      let end = this.commOff;
      const max = this.commOff + 16;
      while (end < max && this.buf[end] !== 0) end++;
      let s = "";
      for (let i = this.commOff; i < end; i++) s += String.fromCharCode(this.buf[i]);
      // comm is at most 15 bytes; non-ASCII names are rare enough to decode again properly.
      if (/[\x80-\xff]/.test(s)) s = new TextDecoder().decode(this.buf.subarray(this.commOff, end));
      return extrasOf(this).comm = s;
    }
    return this.thread?.comm ?? "";
  }

  /** True when a parameter was cut at its size bound. */
  get truncated(): boolean {
    return (this.flags & RECORD_TRUNCATED) !== 0;
  }

  /** True when the probe denied this call (response `deny`, {@link RECORD_DENIED}). */
  get denied(): boolean {
    return (this.flags & RECORD_DENIED) !== 0;
  }

  /** Start offset of every parameter (and the end of the last). */
  offsets(): number[] {
    const n = this.nparams;
    const offs: number[] = new Array(n + 1);
    for (let i = 0; i <= n; i++) offs[i] = this.paramOffset(i);
    return offs;
  }

  /**
   * Byte offset of parameter `i` in `buf` (`i = nparams`: the end of the last one). Nothing is
   * allocated: the lengths before `i` are summed, starting from the last offset worked out, so
   * reading parameters in order costs one length per parameter.
   */
  paramOffset(i: number): number {
    const lensOff = this.lensOff;
    const dv = this.dv;
    const wide = this._x !== undefined && this._x.lenSize === 4;
    let k = this._pi, pos = this._po;
    if (pos < 0 || k > i) {
      k = 0;
      pos = lensOff + this.nparams * (wide ? 4 : 2);
    }
    if (!wide) { for (; k < i; k++) pos += dv.getUint16(lensOff + 2 * k, true); }
    else for (; k < i; k++) pos += dv.getUint32(lensOff + 4 * k, true);
    this._pi = i;
    this._po = pos;
    return pos;
  }

  /**
   * Writes the start offset of every parameter into `offs` (and the end of the last one at
   * `offs[nparams]`) in one pass over the lengths, for a reader that takes several parameters
   * of one event: one pass instead of a call per parameter. Returns false (and writes nothing)
   * when `offs` is too short.
   */
  paramOffsets(offs: Int32Array): boolean {
    const n = this.nparams;
    if (offs.length <= n) return false;
    const lensOff = this.lensOff;
    const dv = this.dv;
    if (this._x === undefined || this._x.lenSize === 2) {
      let pos = lensOff + 2 * n;
      for (let k = 0; k < n; k++) {
        offs[k] = pos;
        pos += dv.getUint16(lensOff + 2 * k, true);
      }
      offs[n] = pos;
    } else {
      let pos = lensOff + 4 * n;
      for (let k = 0; k < n; k++) {
        offs[k] = pos;
        pos += dv.getUint32(lensOff + 4 * k, true);
      }
      offs[n] = pos;
    }
    return true;
  }

  /** Byte length of parameter `i`. */
  paramLength(i: number): number {
    return this._x === undefined || this._x.lenSize === 2
      ? this.dv.getUint16(this.lensOff + 2 * i, true)
      : this.dv.getUint32(this.lensOff + 4 * i, true);
  }

  /** Raw bytes of parameter `i` (a copy: it may be kept after the event is gone). */
  paramBytes(i: number): Uint8Array {
    const o = this.paramOffset(i);
    return this.buf.slice(o, o + this.paramLength(i));
  }

  /**
   * Value of parameter `i`. Out-of-range indexes (an old capture with fewer parameters) give
   * undefined; an empty parameter gives null. Values that allocate (strings, buffers, objects,
   * bigints) are decoded once and kept; numbers are read from the bytes each time, which is
   * cheaper than keeping them.
   */
  param(i: number): ParamValue | undefined {
    if (i < 0 || i >= this.nparams) return undefined;
    const vals = this._vals;
    if (vals !== undefined) {
      const v = vals[i];
      if (v !== undefined) return v;
    }
    const off = this.paramOffset(i);
    const len = this.paramLength(i);
    const info = this.info;
    const kind = i < info.intKinds.length ? info.intKinds[i] : 0;
    if (kind !== 0) return readIntParam(kind, this.dv, off, len);
    const p = info.params[i];
    const type = p?.type ?? PT.BYTEBUF;
    const v = type === PT.DYN
      ? decodeDyn(p.table ?? "", this.buf, this.dv, off, len)
      : decodeParam(type, this.buf, this.dv, off, len);
    if (v !== null && typeof v !== "number" && typeof v !== "boolean") {
      (this._vals ??= new Array(this.nparams))[i] = v;
    }
    return v;
  }

  /**
   * Parameter `i` read as a list of NUL-separated strings (argv, env, cgroups: byte buffers in
   * live records, string arrays in some capture versions), decoded from the event's bytes
   * without an intermediate copy. Undefined when the event has no parameter `i`.
   */
  paramStrings(i: number): string[] | undefined {
    if (i < 0 || i >= this.nparams) return undefined;
    const v = this._vals?.[i];
    if (Array.isArray(v)) return v as string[];
    if (v instanceof Uint8Array) return decodeStringList(v, 0, v.length);
    return decodeStringList(this.buf, this.paramOffset(i), this.paramLength(i));
  }

  /** Parameter `i`'s bytes decoded as UTF-8 text (NULs kept), without an intermediate copy. */
  paramText(i: number): string | undefined {
    if (i < 0 || i >= this.nparams) return undefined;
    const v = this._vals?.[i];
    if (typeof v === "string") return v;
    if (v instanceof Uint8Array) return decodeText(v, 0, v.length);
    return decodeText(this.buf, this.paramOffset(i), this.paramLength(i));
  }

  /**
   * True when parameter `i` is the text `s` (a trailing NUL aside), compared on its bytes
   * without decoding them when they are ASCII: state that sees the same value again (a
   * capture's user list events, repeated) need not build a string to know it.
   */
  paramIs(i: number, s: string): boolean {
    if (i < 0 || i >= this.nparams) return false;
    const v = this._vals?.[i];
    if (v !== undefined) return v === s;
    const off = this.paramOffset(i);
    let len = this.paramLength(i);
    const buf = this.buf;
    if (len > 0 && buf[off + len - 1] === 0) len--;
    if (len !== s.length) return len > s.length && this.param(i) === s;
    for (let k = 0; k < len; k++) {
      const b = buf[off + k];
      if (b >= 0x80 || b === 0) return this.param(i) === s;
      if (b !== s.charCodeAt(k)) return false;
    }
    return true;
  }

  /** Value of the parameter called `name`, or undefined if the event has none. */
  arg(name: string): ParamValue | undefined {
    const i = this.info.paramIndex.get(name);
    return i === undefined ? undefined : this.param(i);
  }

  /** Replaces a parameter value (used by state to hand resolved values to fields). */
  setParam(i: number, value: ParamValue): void {
    (this._vals ??= new Array(this.nparams))[i] = value;
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
 * The event's extras, made on first use. A function, not a private method: a class with private
 * methods gives each instance one more (hidden) field.
 */
function extrasOf(ev: Event): EventExtras {
  return ev._e ??= { ts: undefined, comm: undefined, cache: undefined };
}

/** The event's own header fields, made on first override (live events read their record). */
function layoutOf(ev: Event): EventLayout {
  const x = ev._x;
  if (x) {
    if (!x.shared) return x;
    return ev._x = {
      origin: x.origin,
      pid: x.pid,
      ppid: x.ppid,
      cpu: x.cpu,
      flags: x.flags,
      tsOff: x.tsOff < 0 ? ev.off : x.tsOff,
      commOff: x.commOff,
      hdr: x.hdr,
      lenSize: x.lenSize,
      shared: false,
    };
  }
  // First override of a live event: freeze its record values, then let the setter change one.
  const dv = ev.dv, off = ev.off;
  const live = off + LIVE_HEADER_SIZE <= dv.byteLength;
  return ev._x = {
    origin: "live",
    pid: live ? dv.getUint32(off + 12, true) : -1,
    ppid: live ? dv.getUint32(off + 16, true) : -1,
    cpu: live ? dv.getUint16(off + 28, true) : -1,
    flags: live ? dv.getUint16(off + 30, true) : 0,
    tsOff: off,
    commOff: live ? off + 32 : -1,
    hdr: LIVE_HEADER_SIZE,
    lenSize: 2,
    shared: false,
  };
}

/** Live records skipped because their layout did not fit their frame (see decodeLiveBatch). */
export const liveDecodeStats = { malformed: 0 };

/**
 * Decodes one ring drain into events. `buf` is "framed": every record is preceded by the ring
 * buffer's 8-byte header (u32 length with BUSY/DISCARD bits, u32 page offset) and padded to 8
 * bytes, exactly as the records sit in the ring. `tsBase` turns the probe's boot-time clock into
 * UTC; `firstNum` numbers the events. `dv`, when given, is a DataView over exactly `buf`'s bytes
 * (the ring reader makes one per drain); the events share it. A record whose event type is
 * unknown or whose parameter lengths run past its frame is skipped and counted in
 * {@link liveDecodeStats}, so that no parameter read can leave the record.
 */
export function decodeLiveBatch(
  buf: Uint8Array,
  tsBase: bigint,
  firstNum: number,
  dv: DataView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
): Event[] {
  const out: Event[] = [];
  decodeLiveRecords(buf, dv, 0, Infinity, tsBase, firstNum, out);
  return out;
}

/**
 * Decodes the records of a framed drain (see {@link decodeLiveBatch}) from byte `from` on, at
 * most `max` events, appending them to `out` (numbered from `firstNum`). Returns the offset of
 * the first frame not decoded (`buf.byteLength` once the drain is done).
 *
 * A drain decoded in slices keeps few events alive at once: every event of a batch lives until
 * the batch has been evaluated, and the young-generation collections that run meanwhile copy
 * each one of them (that copying, not the decoding, was most of a large drain's cost).
 */
export function decodeLiveRecords(
  buf: Uint8Array,
  dv: DataView,
  from: number,
  max: number,
  tsBase: bigint,
  firstNum: number,
  out: Event[],
): number {
  let frame = from;
  let num = firstNum;
  let n = 0;
  const end = buf.byteLength;
  while (frame + 8 <= end && n < max) {
    const word = dv.getUint32(frame, true);
    const frameLen = (word & 0x3fff_ffff) >>> 0;
    const off = frame + 8;
    frame += (frameLen + 15) & ~7;
    if (word & 0x4000_0000) continue; // discarded
    if (frameLen < LIVE_HEADER_SIZE || off + frameLen > end) return end;
    const type = dv.getUint16(off + 24, true);
    const nparams = dv.getUint16(off + 26, true);
    let size = LIVE_HEADER_SIZE + 2 * nparams;
    if (size <= frameLen) {
      for (let k = 0; k < nparams; k++) size += dv.getUint16(off + LIVE_HEADER_SIZE + 2 * k, true);
    }
    if (size > frameLen || type >= EVENTS.length) {
      liveDecodeStats.malformed++;
      continue;
    }
    const ev = new Event(buf, dv, off, type, dv.getUint32(off + 8, true));
    ev.num = num++;
    ev.tsBase = tsBase;
    // An indexed store, not push: V8 left push a call of its builtin here (3 % of the agent's
    // CPU under an open storm), and compiles the store in place.
    out[out.length] = ev;
    n++;
  }
  return Math.min(frame, end);
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
  const type = dv.getUint16(off + 20, true);
  const ev = new Event(buf, dv, off, type, Number(dv.getBigInt64(off + 8, true)));
  ev.origin = "scap";
  ev.num = num;
  ev.nparams = dv.getUint32(off + 22, true);
  ev.cpu = cpu;
  ev.lenSize = ev.info.largePayload ? 4 : 2;
  return ev;
}
