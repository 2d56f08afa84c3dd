/**
 * Encoding of capture blocks: the section header, metadata blocks and event blocks, into a
 * growable byte buffer. Pure (no I/O): the writer (writer.ts) flushes the buffer to a file.
 *
 * Layouts are those the metadata parsers (metadata.ts) read. The process list is written as
 * version 9 with the field set of libs before 0.10 (entry ends after the capabilities): readers
 * of every age agree on that layout, newer ones detect it from the entry length.
 * @module
 */
import {
  BLOCK,
  EVENT_HEADER_V2,
  FD,
  IFACE,
  L4_PROTO_NAMES,
  SHB_BLOCK,
  SHB_MAGIC,
} from "./format.ts";
import type {
  MachineInfo,
  ScapFd,
  ScapGroup,
  ScapInterface,
  ScapThread,
  ScapUser,
} from "./metadata.ts";
import type { Event } from "../events/event.ts";

const utf8 = new TextEncoder();

/** A growable little-endian output buffer of whole blocks. */
export class BlockBuffer {
  buf: Uint8Array;
  dv: DataView;
  len = 0;

  constructor(capacity = 1 << 20) {
    this.buf = new Uint8Array(capacity);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  /** Bytes written so far (a view; valid until the next write). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Forgets the content, keeping the memory. */
  clear(): void {
    this.len = 0;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  i64(v: number | bigint): void {
    this.reserve(8);
    this.dv.setBigInt64(this.len, BigInt.asIntN(64, BigInt(v)), true);
    this.len += 8;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.dv.setBigUint64(this.len, BigInt.asUintN(64, BigInt(v)), true);
    this.len += 8;
  }
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  /** u16 length + bytes, no NUL (metadata string encoding). */
  str16(s: string, max = 1024): void {
    let b = utf8.encode(s);
    if (b.length > max) b = b.subarray(0, max);
    this.u16(b.length);
    this.raw(b);
  }
  /** u16 length + NUL-separated items, each NUL-terminated. */
  list16(items: readonly string[], max = 4096): void {
    let b = utf8.encode(items.map((s) => s + "\0").join(""));
    if (b.length > max) b = b.subarray(0, max);
    this.u16(b.length);
    this.raw(b);
  }

  /** Starts a block; returns the offset to pass to {@link endBlock}. */
  beginBlock(type: number): number {
    const start = this.len;
    this.u32(type);
    this.u32(0);
    return start;
  }

  /** Pads the block to 4 bytes and writes its length in the header and the trailer. */
  endBlock(start: number): void {
    const pad = (4 - ((this.len - start) & 3)) & 3;
    this.zeros(pad);
    const total = this.len - start + 4;
    this.dv.setUint32(start + 4, total, true);
    this.u32(total);
  }
}

/** Writes the section header block (format version 1.2, unknown section length). */
export function encodeSectionHeader(out: BlockBuffer): void {
  const s = out.beginBlock(SHB_BLOCK);
  out.u32(SHB_MAGIC);
  out.u16(1);
  out.u16(2);
  out.i64(-1);
  out.endBlock(s);
}

/** Writes the machine info block. */
export function encodeMachineInfo(out: BlockBuffer, m: MachineInfo): void {
  const s = out.beginBlock(BLOCK.MACHINE);
  out.u32(m.numCpus);
  out.u64(m.memoryBytes);
  out.u64(m.maxPid);
  const host = new Uint8Array(128);
  host.set(utf8.encode(m.hostname).subarray(0, 127));
  out.raw(host);
  out.u64(m.bootTs);
  out.u64(m.flags);
  out.u64(0);
  out.u64(0);
  out.endBlock(s);
}

/** Writes one process list block (version 9) with every thread. */
export function encodeProcessList(out: BlockBuffer, threads: Iterable<ScapThread>): void {
  const s = out.beginBlock(BLOCK.PROCS_V9);
  for (const t of threads) {
    const e = out.len;
    out.u32(0); // entry length, patched below
    out.i64(t.tid);
    out.i64(t.pid);
    out.i64(t.ptid);
    out.i64(t.sid);
    out.i64(t.vpgid);
    out.str16(t.comm);
    out.str16(t.exe);
    out.str16(t.exepath);
    out.list16(t.args);
    out.str16(t.cwd);
    out.i64(t.fdlimit);
    out.u32(t.flags);
    out.u32(t.uid);
    out.u32(t.gid);
    out.u32(t.vmsizeKb);
    out.u32(t.vmrssKb);
    out.u32(t.vmswapKb);
    out.i64(t.pfmajor);
    out.i64(t.pfminor);
    out.list16(t.env);
    out.i64(t.vtid);
    out.i64(t.vpid);
    out.list16(t.cgroups);
    out.str16(t.root);
    // The pre-0.10 tail (29 bytes): what sysdig 0.29 reads, and what newer readers recognise.
    out.u32(t.loginuid);
    out.u8(t.exeWritable ? 1 : 0);
    out.u64(t.capInheritable);
    out.u64(t.capPermitted);
    out.u64(t.capEffective);
    out.dv.setUint32(e, out.len - e, true);
  }
  out.endBlock(s);
}

/** Fd types sysdig 0.29 cannot read (it stops at an unknown fd type): written as unsupported. */
const OLD_READER_FD_MAX = FD.FILE_V2;

const L4_PROTO_NUMBERS: Record<string, number> = Object.fromEntries(
  Object.entries(L4_PROTO_NAMES).map(([k, v]) => [v, Number(k)]),
);

function ipv4Bytes(ip: string | undefined): Uint8Array {
  const parts = (ip ?? "0.0.0.0").split(".").map(Number);
  return new Uint8Array(parts.length === 4 ? parts : [0, 0, 0, 0]);
}

function ipv6Bytes(ip: string | undefined): Uint8Array {
  const out = new Uint8Array(16);
  if (!ip) return out;
  const [head, tail] = ip.split("::");
  const words = (s: string | undefined) => (s ? s.split(":") : []);
  let h = words(head), t = words(tail);
  let v4: Uint8Array | undefined;
  const last = (tail !== undefined ? t : h).at(-1);
  if (last?.includes(".")) {
    v4 = ipv4Bytes(last);
    if (tail !== undefined) t = t.slice(0, -1);
    else h = h.slice(0, -1);
  }
  const fill = 8 - h.length - t.length - (v4 ? 2 : 0);
  const all = [...h, ...new Array(Math.max(0, fill)).fill("0"), ...t];
  all.forEach((w, i) => {
    const n = parseInt(w || "0", 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

/** Writes one fd list block (v2 entries) for the process `tid`. */
export function encodeFdList(out: BlockBuffer, tid: number, fds: Iterable<ScapFd>): void {
  const s = out.beginBlock(BLOCK.FDS_V2);
  out.i64(tid);
  for (const f of fds) {
    let type = f.type;
    if (type === FD.UNKNOWN) continue;
    if (type > OLD_READER_FD_MAX) type = FD.UNSUPPORTED;
    const e = out.len;
    out.u32(0);
    out.i64(f.fd);
    out.i64(f.ino);
    out.u8(type);
    const proto = L4_PROTO_NUMBERS[f.l4proto ?? "unknown"] ?? 0;
    switch (type) {
      case FD.IPV4_SOCK:
        out.raw(ipv4Bytes(f.sip));
        out.raw(ipv4Bytes(f.dip));
        out.u16(f.sport ?? 0);
        out.u16(f.dport ?? 0);
        out.u8(proto);
        break;
      case FD.IPV4_SERVSOCK:
        out.raw(ipv4Bytes(f.sip));
        out.u16(f.sport ?? 0);
        out.u8(proto);
        break;
      case FD.IPV6_SOCK:
        out.raw(ipv6Bytes(f.sip));
        out.raw(ipv6Bytes(f.dip));
        out.u16(f.sport ?? 0);
        out.u16(f.dport ?? 0);
        out.u8(proto);
        break;
      case FD.IPV6_SERVSOCK:
        out.raw(ipv6Bytes(f.sip));
        out.u16(f.sport ?? 0);
        out.u8(proto);
        break;
      case FD.UNIX_SOCK:
        out.u64(f.source ?? 0n);
        out.u64(f.dest ?? 0n);
        out.str16(f.name);
        break;
      case FD.FILE_V2:
        out.u32(f.openFlags ?? 0);
        out.str16(f.name);
        out.u32(f.dev ?? 0);
        break;
      default:
        out.str16(f.name);
    }
    out.dv.setUint32(e, out.len - e, true);
  }
  out.endBlock(s);
}

/** Writes the interface list block (v2). */
export function encodeInterfaceList(out: BlockBuffer, ifaces: Iterable<ScapInterface>): void {
  const s = out.beginBlock(BLOCK.IFACES_V2);
  for (const i of ifaces) {
    const name = utf8.encode(i.name).subarray(0, 1023);
    const e = out.len;
    out.u32(0);
    out.u16(i.family === 4 ? IFACE.IPV4 : IFACE.IPV6);
    out.u16(name.length);
    const ip = i.family === 4 ? ipv4Bytes : ipv6Bytes;
    out.raw(ip(i.addr));
    out.raw(ip(i.netmask));
    out.raw(ip(i.bcast));
    out.u64(i.linkspeed);
    out.raw(name);
    out.dv.setUint32(e, out.len - e - 4, true); // interface entries do not count their length
  }
  out.endBlock(s);
}

/** Writes the user list block (v2). */
export function encodeUserList(
  out: BlockBuffer,
  users: Iterable<ScapUser>,
  groups: Iterable<ScapGroup>,
): void {
  const s = out.beginBlock(BLOCK.USERS_V2);
  for (const u of users) {
    const e = out.len;
    out.u32(0);
    out.u8(0);
    out.u32(u.uid);
    out.u32(u.gid);
    out.str16(u.name, 255);
    out.str16(u.homedir, 255);
    out.str16(u.shell, 255);
    out.dv.setUint32(e, out.len - e, true);
  }
  for (const g of groups) {
    const e = out.len;
    out.u32(0);
    out.u8(1);
    out.u32(g.gid);
    out.str16(g.name, 255);
    out.dv.setUint32(e, out.len - e, true);
  }
  out.endBlock(s);
}

let lastBase = 0n, baseLo = 0, baseHi = 0;
const TWO32 = 4294967296;

/**
 * Writes the 8-byte UTC timestamp and the 8-byte tid of an event header at `p`, without
 * BigInt arithmetic on the usual paths (record time + the source's epoch base, as two words).
 */
export function writeTsTid(dv: DataView, p: number, ev: Event): void {
  const known = ev.tsKnown;
  if (known !== undefined) {
    dv.setBigUint64(p, known, true);
  } else {
    const src = ev.dv, o = ev.tsOff;
    const lo = src.getUint32(o, true), hi = src.getUint32(o + 4, true);
    const base = ev.tsBase;
    if (base === 0n) {
      dv.setUint32(p, lo, true);
      dv.setUint32(p + 4, hi, true);
    } else {
      if (base !== lastBase) {
        lastBase = base;
        baseLo = Number(base & 0xffffffffn);
        baseHi = Number(base >> 32n);
      }
      const sum = lo + baseLo;
      const carry = sum >= TWO32 ? 1 : 0;
      dv.setUint32(p, sum - carry * TWO32, true);
      dv.setUint32(p + 4, hi + baseHi + carry, true);
    }
  }
  const tid = ev.tid;
  dv.setUint32(p + 8, tid >>> 0, true);
  dv.setInt32(p + 12, tid < 0 ? -1 : Math.floor(tid / TWO32), true);
}

/** End (exclusive) of an event's parameter data in its buffer. */
function paramsEnd(ev: Event, n: number): number {
  // A live record: its length field covers header, lengths and data.
  if (ev.origin === "live") return ev.off + ev.dv.getUint32(ev.off + 20, true);
  return ev.paramOffset(n);
}

/**
 * Writes one event in the current format (v2 event block, or v2 large for events whose
 * parameter lengths are 32-bit), copying the parameter bytes of a decoded event as they are.
 * `dumpFlags` non-zero selects the block type with flags.
 */
export function encodeEvent(out: BlockBuffer, ev: Event, dumpFlags = 0): void {
  const n = ev.nparams;
  const large = ev.info.largePayload;
  const lenSize = large ? 4 : 2;
  const lensOff = ev.lensOff;
  const srcLenSize = ev.lenSize;
  const dataStart = lensOff + n * srcLenSize;
  const dataEnd = n > 0 ? paramsEnd(ev, n) : dataStart;
  const dataLen = dataEnd - dataStart;
  out.reserve(blockSize(n, large, dataLen, dumpFlags));
  const dv = out.dv, buf = out.buf;
  let p = beginEventBlock(out, ev, ev.type, n, large, dataLen, dumpFlags);
  if (lenSize === srcLenSize) {
    // Lengths and data are contiguous in live records and scap events alike: one copy.
    buf.set(ev.buf.subarray(lensOff, dataEnd), p);
    p += n * lenSize + dataLen;
  } else {
    for (let i = 0; i < n; i++) {
      const l = ev.paramLength(i);
      if (lenSize === 2) dv.setUint16(p, l, true);
      else dv.setUint32(p, l, true);
      p += lenSize;
    }
    buf.set(ev.buf.subarray(dataStart, dataEnd), p);
    p += dataLen;
  }
  endEventBlock(out, p);
}

/** Bytes of a v2 event block (framing included) with `n` parameters of `dataLen` bytes. */
export function blockSize(n: number, large: boolean, dataLen: number, dumpFlags: number): number {
  const evLen = EVENT_HEADER_V2 + n * (large ? 4 : 2) + dataLen;
  const body = (dumpFlags !== 0 ? 6 : 2) + evLen;
  return 8 + ((body + 3) & ~3) + 4;
}

/**
 * Writes the start of a v2 event block at the end of `out` (room reserved by the caller, see
 * {@link blockSize}): block type and length, CPU, the flags when `dumpFlags` is non-zero, and the
 * event header of event type `id` with `n` parameters. Returns where the parameter lengths go;
 * {@link endEventBlock} closes the block once lengths and data are written. One copy of the
 * framing for events copied as they are and events converted for older readers.
 */
export function beginEventBlock(
  out: BlockBuffer,
  ev: Event,
  id: number,
  n: number,
  large: boolean,
  dataLen: number,
  dumpFlags: number,
): number {
  const evLen = EVENT_HEADER_V2 + n * (large ? 4 : 2) + dataLen;
  const type = dumpFlags !== 0
    ? (large ? BLOCK.EVENT_FLAGS_V2_LARGE : BLOCK.EVENT_FLAGS_V2)
    : (large ? BLOCK.EVENT_V2_LARGE : BLOCK.EVENT_V2);
  const dv = out.dv;
  const start = out.len;
  dv.setUint32(start, type, true);
  dv.setUint32(start + 4, blockSize(n, large, dataLen, dumpFlags), true);
  let p = start + 8;
  dv.setUint16(p, ev.cpu < 0 ? 0 : ev.cpu, true);
  p += 2;
  if (dumpFlags !== 0) {
    dv.setUint32(p, dumpFlags, true);
    p += 4;
  }
  writeTsTid(dv, p, ev);
  dv.setUint32(p + 16, evLen, true);
  dv.setUint16(p + 20, id, true);
  dv.setUint32(p + 22, n, true);
  return p + EVENT_HEADER_V2;
}

/** Ends the block {@link beginEventBlock} started, its data written up to `p`: padding, length. */
export function endEventBlock(out: BlockBuffer, p: number): void {
  const dv = out.dv, buf = out.buf;
  const start = out.len;
  const total = dv.getUint32(start + 4, true);
  const end = start + total - 4;
  while (p < end) buf[p++] = 0;
  dv.setUint32(end, total, true);
  out.len = start + total;
}
