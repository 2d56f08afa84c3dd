/**
 * Decoding of event parameter values from their binary encoding (the scap parameter encoding,
 * which the probe writes and capture files hold).
 *
 * Integers become numbers (64-bit values above 2^53 lose precision, which no rule relies on),
 * absolute and relative times become bigint nanoseconds, strings are decoded as UTF-8 without the
 * terminating NUL, byte buffers are copies (a value may outlive its event, and live batches'
 * memory is used again once their events are gone; see src/kernel/ring.ts).
 * @module
 */
import { INT_KIND, PT } from "./table.ts";
import { familyName } from "./flags.ts";

/** A socket address parameter. */
export interface SockAddr {
  /** Address family (scap numbering: 1 unix, 2 inet, 10 inet6, ...). */
  family: number;
  /** IP address as text (IPv4 dotted or IPv6), or the unix socket path. */
  addr: string;
  /** Port for inet families, 0 otherwise. */
  port: number;
}

/** A connection tuple parameter: source and destination as the kernel saw them. */
export interface SockTuple {
  family: number;
  sip: string;
  sport: number;
  dip: string;
  dport: number;
  /** Unix sockets: the path (sip/dip hold the kernel socket pointers in hex). */
  path?: string;
}

/** A dynamic parameter: which of several types the value takes, and the value. */
export interface DynValue {
  index: number;
  value: ParamValue;
}

/** Any decoded parameter value. */
export type ParamValue =
  | number
  | bigint
  | string
  | boolean
  | Uint8Array
  | string[]
  | SockAddr
  | SockTuple
  | DynValue
  | Array<[number, number]>
  | null;

/** The fd value meaning "the working directory" in *at() calls (dirfd), as scap carries it. */
export const AT_FDCWD = -100;

const utf8 = new TextDecoder();

/**
 * Recently decoded short strings, by a hash of their bytes. The same paths and names come back
 * all the time (/dev/null, shared libraries, config files): finding the string decoded last time
 * costs a hash of a few words and a compare of the bytes, where decoding allocates a string (and
 * V8 then hashes the new string again at its first Set/Map lookup). Decoding is a function of
 * the bytes alone, so equal bytes give the cached string. A table of 8192 slots indexed by the
 * hash's top bits (a string decoded later takes its slot): an array read where a Map lookup cost
 * more than the rest of the search.
 */
interface Recent {
  str: string;
  bytes: DataView;
}
const RECENT_BITS = 13;
const recent: (Recent | undefined)[] = new Array(1 << RECENT_BITS).fill(undefined);
const RECENT_LONGEST = 256;

/**
 * Decodes `len` bytes at `off` as a NUL-terminated or plain UTF-8 string. `dv` is a DataView over
 * the same bytes as `buf` (callers decoding many values have one).
 */
export function decodeString(
  buf: Uint8Array,
  off: number,
  len: number,
  dv: DataView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
): string {
  if (len > RECENT_LONGEST || len < 8) return decodeNew(buf, off, len);
  // Hash of the length and the first and last 8 bytes (paths differ at their ends).
  let h = Math.imul(len, 0x9e3779b1);
  h = Math.imul(h ^ dv.getUint32(off, true), 0x85ebca6b);
  h = Math.imul(h ^ dv.getUint32(off + len - 8, true), 0xc2b2ae35);
  h = Math.imul(h ^ dv.getUint32(off + len - 4, true), 0x85ebca6b);
  const slot = h >>> (32 - RECENT_BITS);
  const have = recent[slot];
  if (have !== undefined && sameBytes(have.bytes, dv, off, len)) return have.str;
  const str = decodeNew(buf, off, len);
  const copy = buf.slice(off, off + len);
  recent[slot] = { str, bytes: new DataView(copy.buffer) };
  return str;
}

function sameBytes(a: DataView, b: DataView, off: number, len: number): boolean {
  if (a.byteLength !== len) return false;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    if (a.getUint32(i, true) !== b.getUint32(off + i, true)) return false;
  }
  for (; i < len; i++) if (a.getUint8(i) !== b.getUint8(off + i)) return false;
  return true;
}

function decodeNew(buf: Uint8Array, off: number, len: number): string {
  let end = off + len;
  if (len > 0 && buf[end - 1] === 0) end--;
  // Short ASCII strings are faster through String.fromCharCode than through TextDecoder.
  if (end - off <= 32) {
    let ascii = true;
    for (let i = off; i < end; i++) {
      if (buf[i] >= 0x80 || buf[i] === 0) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let s = "";
      for (let i = off; i < end; i++) s += String.fromCharCode(buf[i]);
      return s;
    }
  }
  const first0 = buf.indexOf(0, off);
  if (first0 >= 0 && first0 < end) end = first0;
  return utf8.decode(buf.subarray(off, end));
}

/** Splits a buffer of NUL-separated strings (argv, env, cgroups) into an array. */
export function decodeStringList(buf: Uint8Array, off: number, len: number): string[] {
  if (len <= 0) return [];
  // One decode and a split: a NUL byte is never part of a multi-byte UTF-8 sequence.
  const out = utf8.decode(buf.subarray(off, off + len)).split("\0");
  if (out[out.length - 1] === "") out.pop();
  return out;
}

/** Decodes `len` bytes at `off` as UTF-8 text, NULs included. */
export function decodeText(buf: Uint8Array, off: number, len: number): string {
  return len <= 0 ? "" : utf8.decode(buf.subarray(off, off + len));
}

/** Renders 4 bytes in network order as dotted IPv4 text. */
export function ipv4Text(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Renders 16 bytes as IPv6 text (compressed, or dotted for IPv4-mapped addresses). */
export function ipv6Text(buf: Uint8Array, off: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${ipv4Text(buf, off + 12)}`;
  }
  // Longest run of zero words becomes "::".
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

// Most 64-bit values fit in 32 bits (fds, results, small numbers): those are read as 32-bit
// integers, which V8 keeps as small integers instead of going through floating point.
function u64(dv: DataView, off: number): number {
  const hi = dv.getUint32(off + 4, true);
  const lo = dv.getUint32(off, true);
  return hi === 0 ? lo : lo + hi * 0x1_0000_0000;
}

/**
 * A signed 64-bit little-endian integer at `off` as a number (a small integer, without floating
 * point, when it fits in 32 bits).
 */
export function i64(dv: DataView, off: number): number {
  const hi = dv.getInt32(off + 4, true);
  const lo = dv.getInt32(off, true);
  return hi === lo >> 31 ? lo : (lo >>> 0) + hi * 0x1_0000_0000;
}

function decodeSockAddr(buf: Uint8Array, dv: DataView, off: number, len: number): SockAddr | null {
  if (len < 1) return null;
  const family = buf[off];
  if (family === 2 && len >= 7) {
    return { family, addr: ipv4Text(buf, off + 1), port: dv.getUint16(off + 5, true) };
  }
  if (family === 10 && len >= 19) {
    return { family, addr: ipv6Text(buf, off + 1), port: dv.getUint16(off + 17, true) };
  }
  if (family === 1) return { family, addr: decodeString(buf, off + 1, len - 1, dv), port: 0 };
  return { family, addr: familyName(family), port: 0 };
}

function decodeSockTuple(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
): SockTuple | null {
  if (len < 1) return null;
  const family = buf[off];
  if (family === 2 && len >= 13) {
    return {
      family,
      sip: ipv4Text(buf, off + 1),
      sport: dv.getUint16(off + 5, true),
      dip: ipv4Text(buf, off + 7),
      dport: dv.getUint16(off + 11, true),
    };
  }
  if (family === 10 && len >= 37) {
    return {
      family,
      sip: ipv6Text(buf, off + 1),
      sport: dv.getUint16(off + 17, true),
      dip: ipv6Text(buf, off + 19),
      dport: dv.getUint16(off + 35, true),
    };
  }
  if (family === 1 && len >= 17) {
    const hex = (o: number) => dv.getBigUint64(o, true).toString(16);
    return {
      family,
      sip: hex(off + 1),
      sport: 0,
      dip: hex(off + 9),
      dport: 0,
      path: decodeString(buf, off + 17, len - 17, dv),
    };
  }
  return { family, sip: "", sport: 0, dip: "", dport: 0 };
}

/**
 * An integer parameter of kind `kind` ({@link INT_KIND}, not NONE) at `off` with length `len`:
 * what {@link decodeParam} gives for its types, without its general dispatch.
 */
export function readIntParam(kind: number, dv: DataView, off: number, len: number): number | null {
  switch (kind) {
    case INT_KIND.S64:
      if (len >= 8) return i64(dv, off);
      return len >= 4 ? dv.getInt32(off, true) : null;
    case INT_KIND.U64:
      return len >= 8 ? u64(dv, off) : null;
    case INT_KIND.U32:
      return len >= 4 ? dv.getUint32(off, true) : null;
    case INT_KIND.S32:
      return len >= 4 ? dv.getInt32(off, true) : null;
    case INT_KIND.U16:
      return len >= 2 ? dv.getUint16(off, true) : null;
    case INT_KIND.S16:
      return len >= 2 ? dv.getInt16(off, true) : null;
    case INT_KIND.U8:
      return len >= 1 ? dv.getUint8(off) : null;
    case INT_KIND.S8:
      return len >= 1 ? dv.getInt8(off) : null;
  }
  return null;
}

/** Value types of the dynamic-parameter tables, by table name and index. */
export const DYN_TYPES: Readonly<Record<string, readonly number[]>> = {
  ptrace_dynamic_param: [PT.UINT64, PT.SIGTYPE],
  bpf_dynamic_param: [PT.FD, PT.ERRNO],
  sockopt_dynamic_param: [PT.BYTEBUF, PT.ERRNO, PT.UINT32, PT.UINT64, PT.RELTIME],
  keyctl_dynamic_param: [PT.INT64, PT.CHARBUF],
};

/** Decodes a dynamic parameter: a one-byte index into `table`, then a value of that type. */
export function decodeDyn(
  table: string,
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
): DynValue | null {
  if (len < 1) return null;
  const index = buf[off];
  const type = DYN_TYPES[table]?.[index] ?? PT.BYTEBUF;
  return { index, value: decodeParam(type, buf, dv, off + 1, len - 1) };
}

/**
 * Decodes one parameter of type `type` stored at `off` with length `len`.
 * Returns null for an empty parameter (the probe could not read it).
 */
export function decodeParam(
  type: number,
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
): ParamValue {
  switch (type) {
    case PT.INT8:
      return len >= 1 ? dv.getInt8(off) : null;
    case PT.INT16:
      return len >= 2 ? dv.getInt16(off, true) : null;
    case PT.INT32:
      return len >= 4 ? dv.getInt32(off, true) : null;
    case PT.UINT8:
    case PT.FLAGS8:
    case PT.ENUMFLAGS8:
    case PT.SIGTYPE:
    case PT.L4PROTO:
    case PT.SOCKFAMILY:
      return len >= 1 ? dv.getUint8(off) : null;
    case PT.UINT16:
    case PT.FLAGS16:
    case PT.ENUMFLAGS16:
    case PT.PORT:
    case PT.SYSCALLID:
      return len >= 2 ? dv.getUint16(off, true) : null;
    case PT.UINT32:
    case PT.FLAGS32:
    case PT.ENUMFLAGS32:
    case PT.UID:
    case PT.GID:
    case PT.MODE:
    case PT.BOOL:
      if (len >= 4) {
        return type === PT.BOOL ? dv.getUint32(off, true) !== 0 : dv.getUint32(off, true);
      }
      return null;
    case PT.FD32:
    case PT.PID32:
      return len >= 4 ? dv.getInt32(off, true) : null;
    case PT.INT64:
    case PT.ERRNO:
    case PT.FD:
    case PT.PID:
      if (len >= 8) return i64(dv, off);
      return len >= 4 ? dv.getInt32(off, true) : null;
    case PT.UINT64:
      return len >= 8 ? u64(dv, off) : null;
    case PT.RELTIME:
    case PT.ABSTIME:
      return len >= 8 ? dv.getBigUint64(off, true) : null;
    case PT.DOUBLE:
      return len >= 8 ? dv.getFloat64(off, true) : null;
    case PT.SIGSET:
      return len >= 4 ? dv.getUint32(off, true) : null;
    case PT.CHARBUF:
    case PT.FSPATH:
    case PT.FSRELPATH:
      return len > 0 ? decodeString(buf, off, len, dv) : null;
    case PT.BYTEBUF:
      return buf.slice(off, off + len);
    case PT.CHARBUFARRAY:
    case PT.CHARBUF_PAIR_ARRAY:
      return decodeStringList(buf, off, len);
    case PT.SOCKADDR:
      return decodeSockAddr(buf, dv, off, len);
    case PT.SOCKTUPLE:
      return decodeSockTuple(buf, dv, off, len);
    case PT.IPV4ADDR:
      return len >= 4 ? ipv4Text(buf, off) : null;
    case PT.IPV6ADDR:
      return len >= 16 ? ipv6Text(buf, off) : null;
    case PT.IPADDR:
      return len === 4 ? ipv4Text(buf, off) : len === 16 ? ipv6Text(buf, off) : null;
    case PT.FDLIST: {
      if (len < 2) return null;
      const n = dv.getUint16(off, true);
      const out: Array<[number, number]> = [];
      for (let i = 0; i < n && 2 + i * 10 + 10 <= len; i++) {
        const o = off + 2 + i * 10;
        out.push([i64(dv, o), dv.getUint16(o + 8, true)]);
      }
      return out;
    }
    case PT.DYN:
      return len >= 1 ? { index: buf[off], value: buf.slice(off + 1, off + len) } : null;
    default:
      return len > 0 ? buf.slice(off, off + len) : null;
  }
}
