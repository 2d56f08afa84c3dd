/**
 * Parsing of the metadata blocks of a capture: machine info, process list (all nine layout
 * versions), fd lists, interface list and user list. Pure functions over a block body; the
 * streaming reader (reader.ts) finds the blocks.
 *
 * The lists are kept as plain data shaped like the file (strings decoded, addresses as text);
 * seeding them into the state store is the capture source's job (src/sources/scap.ts).
 * @module
 */
import { BlockBodyError } from "./errors.ts";
import { BLOCK, FD, FD_TYPECHAR, IFACE, L4_PROTO_NAMES, PROCS_VERSION } from "./format.ts";
import { decodeStringList, ipv4Text, ipv6Text } from "../events/params.ts";

/** The machine info block. */
export interface MachineInfo {
  numCpus: number;
  memoryBytes: number;
  maxPid: number;
  hostname: string;
  /** Host boot time, UTC ns (0 in old captures). */
  bootTs: bigint;
  flags: bigint;
}

/** One entry of the process list: a thread as the capturing host saw it when the file began. */
export interface ScapThread {
  tid: number;
  pid: number;
  ptid: number;
  /** -1 when the capture predates the field. */
  sid: number;
  vpgid: number;
  pgid: number;
  comm: string;
  /** argv[0]. */
  exe: string;
  /** Full executable path ("" before process list v7). */
  exepath: string;
  /** argv[1..]. */
  args: string[];
  env: string[];
  cwd: string;
  fdlimit: number;
  /** PPM_CL_* thread flags. */
  flags: number;
  uid: number;
  gid: number;
  vmsizeKb: number;
  vmrssKb: number;
  vmswapKb: number;
  pfmajor: number;
  pfminor: number;
  /** Ids inside the thread's pid namespace; -1 when unknown. */
  vtid: number;
  vpid: number;
  /** `subsystem=path` entries. */
  cgroups: string[];
  root: string;
  pidnsInitStartTs: bigint;
  tty: number;
  /** 0xffffffff when unknown. */
  loginuid: number;
  exeWritable: boolean;
  capInheritable: bigint;
  capPermitted: bigint;
  capEffective: bigint;
  exeUpperLayer: boolean;
  exeLowerLayer: boolean;
  exeFromMemfd: boolean;
  exeIno: number;
  exeInoCtime: bigint;
  exeInoMtime: bigint;
}

/** One entry of an fd list block. */
export interface ScapFd {
  /** Thread (process) the fd belongs to. */
  tid: number;
  fd: number;
  ino: number;
  /** scap fd type, see {@link FD}. */
  type: number;
  /** Falco's `fd.typechar`. */
  typechar: string;
  /** File path, unix socket path, or the name the fd had in /proc ("" for inet sockets). */
  name: string;
  openFlags?: number;
  dev?: number;
  /** Inet sockets: addresses as text and ports; server sockets set only sip/sport. */
  sip?: string;
  dip?: string;
  sport?: number;
  dport?: number;
  l4proto?: string;
  /** Unix sockets: kernel endpoint addresses. */
  source?: bigint;
  dest?: bigint;
  isServer?: boolean;
}

/** One interface address. */
export interface ScapInterface {
  name: string;
  family: 4 | 6;
  addr: string;
  netmask: string;
  bcast: string;
  linkspeed: number;
}

/** A user of the user list. */
export interface ScapUser {
  uid: number;
  gid: number;
  name: string;
  homedir: string;
  shell: string;
}

/** A group of the user list. */
export interface ScapGroup {
  gid: number;
  name: string;
}

const utf8 = new TextDecoder();

/** A bounds-checked little-endian cursor over a block body. */
export class Cursor {
  pos: number;
  readonly end: number;
  constructor(readonly buf: Uint8Array, readonly dv: DataView, off: number, len: number) {
    this.pos = off;
    this.end = off + len;
  }
  get left(): number {
    return this.end - this.pos;
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      throw new BlockBodyError(`${what}: needs ${n} bytes, ${this.end - this.pos} left`);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** 64-bit signed as a number (ids, counters: well below 2^53). */
  i64(what: string): number {
    this.need(8, what);
    const v = Number(this.dv.getBigInt64(this.pos, true));
    this.pos += 8;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A string stored as u16 length + bytes (no NUL on file; a trailing NUL is dropped). */
  str16(what: string, max = 65535): string {
    const n = this.u16(what + " length");
    if (n > max) throw new BlockBodyError(`${what}: length ${n} exceeds ${max}`);
    const b = this.bytes(n, what);
    const z = b.indexOf(0);
    return utf8.decode(z >= 0 ? b.subarray(0, z) : b);
  }
  /** A NUL-separated list stored as u16 length + bytes. */
  list16(what: string, max = 65535): string[] {
    const n = this.u16(what + " length");
    if (n > max) throw new BlockBodyError(`${what}: length ${n} exceeds ${max}`);
    this.need(n, what);
    const out = decodeStringList(this.buf, this.pos, n);
    this.pos += n;
    return out;
  }
}

const MAX_PATH = 1024;
const MAX_ARGS = 4096;
const MAX_CRED = 256;

/** Parses a machine info block body (shorter bodies from old captures leave fields zero). */
export function parseMachineInfo(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
): MachineInfo {
  const c = new Cursor(buf, dv, off, len);
  const info: MachineInfo = {
    numCpus: 0,
    memoryBytes: 0,
    maxPid: 0,
    hostname: "",
    bootTs: 0n,
    flags: 0n,
  };
  info.numCpus = c.u32("num_cpus");
  info.memoryBytes = c.i64("memory_size");
  info.maxPid = c.i64("max_pid");
  const host = c.bytes(Math.min(128, c.left), "hostname");
  const z = host.indexOf(0);
  info.hostname = utf8.decode(z >= 0 ? host.subarray(0, z) : host);
  if (c.left >= 8) info.bootTs = c.u64("boot_ts");
  if (c.left >= 8) info.flags = c.u64("flags");
  return info;
}

function newThread(): ScapThread {
  return {
    tid: 0,
    pid: 0,
    ptid: 0,
    sid: -1,
    vpgid: -1,
    pgid: -1,
    comm: "",
    exe: "",
    exepath: "",
    args: [],
    env: [],
    cwd: "",
    fdlimit: 0,
    flags: 0,
    uid: 0,
    gid: 0,
    vmsizeKb: 0,
    vmrssKb: 0,
    vmswapKb: 0,
    pfmajor: 0,
    pfminor: 0,
    vtid: -1,
    vpid: -1,
    cgroups: [],
    root: "",
    pidnsInitStartTs: 0n,
    tty: 0,
    loginuid: 0xffffffff,
    exeWritable: false,
    capInheritable: 0n,
    capPermitted: 0n,
    capEffective: 0n,
    exeUpperLayer: false,
    exeLowerLayer: false,
    exeFromMemfd: false,
    exeIno: 0,
    exeInoCtime: 0n,
    exeInoMtime: 0n,
  };
}

/**
 * Parses a process list block body of any version. Version 9 entries carry their own length,
 * so fields added by newer writers are skipped and fields missing from older ones stay default.
 */
export function parseProcessList(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
  blockType: number,
): ScapThread[] {
  const version = PROCS_VERSION.get(blockType);
  if (version === undefined) throw new BlockBodyError("not a process list block");
  const c = new Cursor(buf, dv, off, len);
  const out: ScapThread[] = [];
  while (c.left >= 4) {
    const t = newThread();
    const start = c.pos;
    const subLen = version === 9 ? c.u32("entry length") : 0;
    t.tid = c.i64("tid");
    t.pid = c.i64("pid");
    t.ptid = c.i64("ptid");
    if (version >= 6) t.sid = c.i64("sid");
    if (version >= 8) t.vpgid = c.i64("vpgid");
    t.comm = c.str16("comm", MAX_PATH);
    t.exe = c.str16("exe", MAX_PATH);
    if (version >= 7) t.exepath = c.str16("exepath", MAX_PATH);
    t.args = c.list16("args", MAX_ARGS);
    t.cwd = c.str16("cwd", MAX_PATH);
    t.fdlimit = c.i64("fdlimit");
    t.flags = c.u32("flags");
    t.uid = c.u32("uid");
    t.gid = c.u32("gid");
    if (version >= 2) {
      t.vmsizeKb = c.u32("vmsize_kb");
      t.vmrssKb = c.u32("vmrss_kb");
      t.vmswapKb = c.u32("vmswap_kb");
      t.pfmajor = c.i64("pfmajor");
      t.pfminor = c.i64("pfminor");
      if (version >= 3) t.env = c.list16("env", MAX_ARGS);
      if (version >= 4) {
        t.vtid = c.i64("vtid");
        t.vpid = c.i64("vpid");
        t.cgroups = c.list16("cgroups", MAX_ARGS);
        if (version >= 5) t.root = c.str16("root", MAX_PATH);
      }
    }
    if (subLen > 0) readVersion9Tail(c, t, start, subLen);
    out.push(t);
  }
  return out;
}

/** The fields appended to version 9 entries over time, each present if the entry is long enough. */
function readVersion9Tail(c: Cursor, t: ScapThread, start: number, subLen: number): void {
  const end = start + subLen;
  if (end > c.end) throw new BlockBodyError(`process entry length ${subLen} exceeds the block`);
  const fits = (n: number) => c.pos + n <= end;
  // Writers before libs 0.10 went straight from root to loginuid/exe_writable/caps (29 bytes);
  // later writers inserted pidns_init_start_ts and tty before them.
  if (end - c.pos > 29) {
    if (fits(8)) t.pidnsInitStartTs = c.u64("pidns_init_start_ts");
    if (fits(4)) t.tty = c.u32("tty");
  }
  if (fits(4)) t.loginuid = c.u32("loginuid");
  if (fits(1)) t.exeWritable = c.u8("exe_writable") !== 0;
  if (fits(8)) t.capInheritable = c.u64("cap_inheritable");
  if (fits(8)) t.capPermitted = c.u64("cap_permitted");
  if (fits(8)) t.capEffective = c.u64("cap_effective");
  if (fits(1)) t.exeUpperLayer = c.u8("exe_upper_layer") !== 0;
  if (fits(8)) t.exeIno = c.i64("exe_ino");
  if (fits(8)) t.exeInoCtime = c.u64("exe_ino_ctime");
  if (fits(8)) t.exeInoMtime = c.u64("exe_ino_mtime");
  if (fits(1)) t.exeFromMemfd = c.u8("exe_from_memfd") !== 0;
  if (fits(1)) t.exeLowerLayer = c.u8("exe_lower_layer") !== 0;
  if (fits(8)) t.pgid = c.i64("pgid");
  if (c.pos > end) throw new BlockBodyError(`process entry overran its length ${subLen}`);
  c.pos = end;
}

/** Parses an fd list block body: the owning tid, then its fds. */
export function parseFdList(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
  blockType: number,
): ScapFd[] {
  const c = new Cursor(buf, dv, off, len);
  const tid = c.i64("tid");
  const v2 = blockType === BLOCK.FDS_V2;
  const out: ScapFd[] = [];
  while (c.left >= 4) {
    const start = c.pos;
    const subLen = v2 ? c.u32("fd entry length") : 0;
    const fd = c.i64("fd");
    const ino = c.i64("ino");
    const type = c.u8("fd type");
    const f: ScapFd = { tid, fd, ino, type, typechar: FD_TYPECHAR[type] ?? "?", name: "" };
    switch (type) {
      case FD.IPV4_SOCK:
        f.sip = ipv4Text(c.bytes(4, "sip"), 0);
        f.dip = ipv4Text(c.bytes(4, "dip"), 0);
        f.sport = c.u16("sport");
        f.dport = c.u16("dport");
        f.l4proto = L4_PROTO_NAMES[c.u8("l4proto")] ?? "unknown";
        break;
      case FD.IPV4_SERVSOCK:
        f.sip = ipv4Text(c.bytes(4, "ip"), 0);
        f.sport = c.u16("port");
        f.l4proto = L4_PROTO_NAMES[c.u8("l4proto")] ?? "unknown";
        f.isServer = true;
        break;
      case FD.IPV6_SOCK:
        f.sip = ipv6Text(c.bytes(16, "sip"), 0);
        f.dip = ipv6Text(c.bytes(16, "dip"), 0);
        f.sport = c.u16("sport");
        f.dport = c.u16("dport");
        f.l4proto = L4_PROTO_NAMES[c.u8("l4proto")] ?? "unknown";
        break;
      case FD.IPV6_SERVSOCK:
        f.sip = ipv6Text(c.bytes(16, "ip"), 0);
        f.sport = c.u16("port");
        f.l4proto = L4_PROTO_NAMES[c.u8("l4proto")] ?? "unknown";
        f.isServer = true;
        break;
      case FD.UNIX_SOCK:
        f.source = c.u64("unix source");
        f.dest = c.u64("unix destination");
        f.name = c.str16("unix path", MAX_PATH);
        break;
      case FD.FILE_V2:
        f.openFlags = c.u32("open flags");
        f.name = c.str16("file name", MAX_PATH);
        f.dev = subLen > 0 && c.pos + 4 <= start + subLen ? c.u32("dev") : 0;
        break;
      case FD.UNKNOWN:
        break;
      default:
        if (type > FD.PIDFD) {
          // A type from a newer writer: libscap keeps it as unsupported; its body is skipped below.
          f.type = FD.UNSUPPORTED;
          f.typechar = FD_TYPECHAR[FD.UNSUPPORTED];
          f.name = `unknown-type:[${type}]`;
          if (subLen === 0) throw new BlockBodyError(`unknown fd type ${type} in a v1 fd list`);
        } else {
          f.name = c.str16("fd name", MAX_PATH);
        }
    }
    if (subLen > 0) {
      const end = start + subLen; // the length counts its own 4 bytes
      if (c.pos > end) throw new BlockBodyError(`fd entry overran its length ${subLen}`);
      if (end > c.end) throw new BlockBodyError(`fd entry length ${subLen} exceeds the block`);
      c.pos = end;
    }
    out.push(f);
  }
  return out;
}

/** Parses an interface list block body. */
export function parseInterfaceList(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
  blockType: number,
): ScapInterface[] {
  const c = new Cursor(buf, dv, off, len);
  const v2 = blockType === BLOCK.IFACES_V2;
  const out: ScapInterface[] = [];
  while (c.left >= 4) {
    const entryLen = v2 ? c.u32("interface entry length") : 0;
    const start = c.pos;
    const type = c.u16("interface type");
    const nameLen = c.u16("interface name length");
    if (nameLen >= MAX_PATH) throw new BlockBodyError(`interface name length ${nameLen}`);
    let iface: ScapInterface;
    if (type === IFACE.IPV4 || type === IFACE.IPV4_NOLINKSPEED) {
      const addr = ipv4Text(c.bytes(4, "addr"), 0);
      const netmask = ipv4Text(c.bytes(4, "netmask"), 0);
      const bcast = ipv4Text(c.bytes(4, "bcast"), 0);
      const linkspeed = type === IFACE.IPV4 ? c.i64("linkspeed") : 0;
      iface = { name: "", family: 4, addr, netmask, bcast, linkspeed };
    } else if (type === IFACE.IPV6 || type === IFACE.IPV6_NOLINKSPEED) {
      const addr = ipv6Text(c.bytes(16, "addr"), 0);
      const netmask = ipv6Text(c.bytes(16, "netmask"), 0);
      const bcast = ipv6Text(c.bytes(16, "bcast"), 0);
      const linkspeed = type === IFACE.IPV6 ? c.i64("linkspeed") : 0;
      iface = { name: "", family: 6, addr, netmask, bcast, linkspeed };
    } else {
      throw new BlockBodyError(`unknown interface type ${type}`);
    }
    iface.name = utf8.decode(c.bytes(nameLen, "interface name"));
    if (v2) {
      if (start + entryLen > c.end) throw new BlockBodyError(`interface entry length ${entryLen}`);
      c.pos = Math.max(c.pos, start + entryLen);
    }
    out.push(iface);
  }
  return out;
}

/** Parses a user list block body. */
export function parseUserList(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  len: number,
  blockType: number,
): { users: ScapUser[]; groups: ScapGroup[] } {
  const c = new Cursor(buf, dv, off, len);
  const v2 = blockType === BLOCK.USERS_V2;
  const users: ScapUser[] = [];
  const groups: ScapGroup[] = [];
  while (c.left >= 4) {
    const start = c.pos;
    const subLen = v2 ? c.u32("user entry length") : 0;
    const kind = c.u8("user entry type");
    if (kind === 0) {
      const uid = c.u32("uid");
      const gid = c.u32("gid");
      const name = c.str16("user name", MAX_CRED - 1);
      const homedir = c.str16("homedir", MAX_CRED - 1);
      const shell = c.str16("shell", MAX_CRED - 1);
      users.push({ uid, gid, name, homedir, shell });
    } else {
      const gid = c.u32("gid");
      const name = c.str16("group name", MAX_CRED - 1);
      groups.push({ gid, name });
    }
    if (subLen > 0) {
      if (start + subLen > c.end) throw new BlockBodyError(`user entry length ${subLen}`);
      if (c.pos > start + subLen) throw new BlockBodyError(`user entry overran ${subLen}`);
      c.pos = start + subLen;
    }
  }
  return { users, groups };
}

/** Everything the metadata blocks of a capture hold, gathered in file order. */
export interface ScapMetadata {
  machine?: MachineInfo;
  threads: ScapThread[];
  fds: ScapFd[];
  interfaces: ScapInterface[];
  users: ScapUser[];
  groups: ScapGroup[];
}

/** An empty {@link ScapMetadata}. */
export function emptyMetadata(): ScapMetadata {
  return { threads: [], fds: [], interfaces: [], users: [], groups: [] };
}
