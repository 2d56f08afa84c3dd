/**
 * Encoding of events into the live record layout: the inverse of decoding. Used to build
 * synthetic events (unit tests, benchmarks, internal events such as webhook-fed ones) and to
 * check the decoder against bytes whose meaning is known.
 *
 * @example
 * ```ts
 * import { buildEvent } from "./encode.ts";
 * const ev = buildEvent("openat", { tid: 42, pid: 42, comm: "cat" },
 *   { fd: 3, dirfd: -100, name: "/etc/passwd", flags: 1, mode: 0 });
 * ev.arg("name"); // "/etc/passwd"
 * ```
 * @module
 */
import { currentExitId, EVENTS, INT_KIND, intKindOf, PT } from "./table.ts";
import { decodeLiveBatch, type Event, LIVE_HEADER, LIVE_HEADER_SIZE } from "./event.ts";
import type { SockAddr, SockTuple } from "./params.ts";
import { frameRecords } from "./frame.ts";

const enc = new TextEncoder();

function ipBytes(ip: string): Uint8Array {
  if (ip.includes(":")) {
    const out = new Uint8Array(16);
    const [head, tail] = ip.split("::");
    const parse = (s: string | undefined) => (s ? s.split(":") : []);
    let h = parse(head), t = parse(tail);
    const last = (tail !== undefined ? t : h).at(-1);
    let v4: number[] | undefined;
    if (last?.includes(".")) {
      v4 = last.split(".").map(Number);
      if (tail !== undefined) t = t.slice(0, -1);
      else h = h.slice(0, -1);
    }
    const words = [...h, ...new Array(8 - h.length - t.length - (v4 ? 2 : 0)).fill("0"), ...t];
    words.forEach((w, i) => {
      const n = parseInt(w || "0", 16);
      out[2 * i] = n >> 8;
      out[2 * i + 1] = n & 0xff;
    });
    if (v4) out.set(v4, 12);
    return out;
  }
  return new Uint8Array(ip.split(".").map(Number));
}

/** Bytes of an integer of each {@link INT_KIND}, and whether it is signed. */
const INT_SIZE = [0, 8, 8, 4, 4, 2, 2, 1, 1];
const INT_SIGNED = [false, true, false, false, true, false, true, false, true];

/** Encodes one parameter value of scap type `type` (null/undefined gives an empty parameter). */
export function encodeParam(type: number, value: unknown): Uint8Array {
  if (value === null || value === undefined) return new Uint8Array(0);
  const num = (n: number, size: number, signed: boolean) => {
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    if (size === 1) signed ? dv.setInt8(0, n) : dv.setUint8(0, n);
    else if (size === 2) signed ? dv.setInt16(0, n, true) : dv.setUint16(0, n, true);
    else if (size === 4) signed ? dv.setInt32(0, n, true) : dv.setUint32(0, n >>> 0, true);
    else dv.setBigInt64(0, BigInt.asIntN(64, BigInt(n as number | bigint)), true);
    return b;
  };
  const kind = intKindOf(type);
  if (kind !== INT_KIND.NONE) return num(value as number, INT_SIZE[kind], INT_SIGNED[kind]);
  switch (type) {
    case PT.BOOL:
      return num(value ? 1 : 0, 4, false);
    case PT.RELTIME:
    case PT.ABSTIME:
      return num(value as number, 8, true);
    case PT.DOUBLE: {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, value as number, true);
      return b;
    }
    case PT.CHARBUF:
    case PT.FSPATH:
    case PT.FSRELPATH:
      return enc.encode(String(value) + "\0");
    case PT.BYTEBUF:
      if (value instanceof Uint8Array) return value;
      if (Array.isArray(value)) return enc.encode(value.map((s) => s + "\0").join(""));
      return enc.encode(String(value));
    case PT.CHARBUFARRAY:
    case PT.CHARBUF_PAIR_ARRAY:
      return enc.encode((value as string[]).map((s) => s + "\0").join(""));
    case PT.IPV4ADDR:
    case PT.IPV6ADDR:
    case PT.IPADDR:
      return ipBytes(value as string);
    case PT.SOCKADDR: {
      const a = value as SockAddr;
      if (a.family === 1) return new Uint8Array([1, ...enc.encode(a.addr + "\0")]);
      const ip = ipBytes(a.addr);
      return new Uint8Array([a.family, ...ip, a.port & 0xff, a.port >> 8]);
    }
    case PT.SOCKTUPLE: {
      const t = value as SockTuple;
      if (t.family === 1) {
        const b = new Uint8Array(17);
        const dv = new DataView(b.buffer);
        b[0] = 1;
        dv.setBigUint64(1, BigInt("0x" + (t.sip || "0")), true);
        dv.setBigUint64(9, BigInt("0x" + (t.dip || "0")), true);
        return new Uint8Array([...b, ...enc.encode((t.path ?? "") + "\0")]);
      }
      return new Uint8Array([
        t.family,
        ...ipBytes(t.sip),
        t.sport & 0xff,
        t.sport >> 8,
        ...ipBytes(t.dip),
        t.dport & 0xff,
        t.dport >> 8,
      ]);
    }
    default:
      return value instanceof Uint8Array ? value : enc.encode(String(value));
  }
}

/** Header fields of a synthetic event. */
export interface EventHeader {
  tid: number;
  pid?: number;
  ppid?: number;
  cpu?: number;
  comm?: string;
  /** Boot-time ns written into the record (UTC = tsBase + ts). */
  ts?: bigint;
  flags?: number;
}

/**
 * Encodes one live record: `type` is an event id; `params` gives values by parameter name
 * (missing ones are empty).
 */
export function encodeLiveRecord(
  type: number,
  header: EventHeader,
  params: Record<string, unknown>,
): Uint8Array {
  const info = EVENTS[type];
  if (!info) throw new Error(`unknown event id ${type}`);
  const parts = info.params.map((p) => encodeParam(p.type, params[p.name]));
  const n = parts.length;
  const dataLen = parts.reduce((s, p) => s + p.length, 0);
  const len = LIVE_HEADER_SIZE + 2 * n + dataLen;
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  const H = LIVE_HEADER;
  dv.setBigUint64(H.ts, header.ts ?? 0n, true);
  dv.setUint32(H.tid, header.tid, true);
  dv.setUint32(H.pid, header.pid ?? header.tid, true);
  dv.setUint32(H.ppid, header.ppid ?? 0, true);
  dv.setUint32(H.len, len, true);
  dv.setUint16(H.type, type, true);
  dv.setUint16(H.nparams, n, true);
  dv.setUint16(H.cpu, header.cpu ?? 0, true);
  dv.setUint16(H.flags, header.flags ?? 0, true);
  out.set(enc.encode((header.comm ?? "").slice(0, 15)), H.comm);
  let pos = LIVE_HEADER_SIZE + 2 * n;
  parts.forEach((p, i) => {
    dv.setUint16(LIVE_HEADER_SIZE + 2 * i, p.length, true);
    out.set(p, pos);
    pos += p.length;
  });
  return out;
}

/**
 * Builds one synthetic event. `name` is an event name (the current exit event is used) or an
 * event id.
 */
export function buildEvent(
  name: string | number,
  header: EventHeader,
  params: Record<string, unknown>,
  tsBase = 0n,
): Event {
  const type = typeof name === "number" ? name : currentExitId(name);
  if (type === undefined) throw new Error(`no exit event called ${name}`);
  const rec = encodeLiveRecord(type, header, params);
  return decodeLiveBatch(frameRecords([rec]), tsBase, 1)[0];
}

/**
 * Frames records into one batch buffer as a ring drain produces it (8-byte ring header before
 * each record, 8-byte alignment), ready for `decodeLiveBatch`.
 */
export function concatRecords(records: Uint8Array[]): Uint8Array {
  return frameRecords(records);
}
