/**
 * Reading processes, threads and file descriptors from /proc: the snapshot the state starts
 * from, and the lookup of a thread that events mention before any event created it.
 *
 * Pure parsers (`parseStat`, `parseStatus`, `parseNetTcp` ...) are separate from the reads so
 * they can be tested on fixed text.
 *
 * @example
 * ```ts
 * parseStat("42 (my prog) S 1 42 42 0 -1 ...")?.comm; // "my prog"
 * linkKind("pipe:[12345]"); // FD_TYPE.FIFO (a socket is told apart through the socket tables)
 * ```
 * @module
 */
import { parseCapHex } from "./caps.ts";
import { FD_TYPE, L4, ROLE } from "./model.ts";
import { isAnyAddr, tupleName } from "../events/socket_text.ts";

/** Fields of /proc/PID/stat that the state uses. */
export interface ProcStat {
  comm: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
  /** Start time in clock ticks after boot. */
  startTicks: number;
}

/** Parses /proc/PID/stat (the command name may hold spaces and parentheses). */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); field n is rest[n - 3].
  return {
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    ttyNr: Number(rest[4]),
    startTicks: Number(rest[19]),
  };
}

/** Fields of /proc/PID/status that the state uses. */
export interface ProcStatus {
  tgid: number;
  ppid: number;
  /** Effective ids (what Falco's user.uid / group.gid show) and real ids. */
  euid: number;
  ruid: number;
  egid: number;
  rgid: number;
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  /** Ids in the innermost pid namespace (equal to the host ids on the host). */
  vtid: number;
  vpid: number;
  vpgid: number;
  pgid: number;
  vmSize: number;
  vmRss: number;
  vmSwap: number;
}

function lastNumber(v: string): number {
  const parts = v.trim().split(/\s+/);
  return Number(parts[parts.length - 1]);
}

/** Parses /proc/PID/status. */
export function parseStatus(text: string): ProcStatus {
  const s: ProcStatus = {
    tgid: 0,
    ppid: 0,
    euid: 0,
    ruid: 0,
    egid: 0,
    rgid: 0,
    capInh: 0n,
    capPrm: 0n,
    capEff: 0n,
    vtid: -1,
    vpid: -1,
    vpgid: 0,
    pgid: 0,
    vmSize: 0,
    vmRss: 0,
    vmSwap: 0,
  };
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    const v = line.slice(colon + 1);
    switch (key) {
      case "Tgid":
        s.tgid = Number(v);
        break;
      case "PPid":
        s.ppid = Number(v);
        break;
      case "Uid": {
        const f = v.trim().split(/\s+/);
        s.ruid = Number(f[0]);
        s.euid = Number(f[1]);
        break;
      }
      case "Gid": {
        const f = v.trim().split(/\s+/);
        s.rgid = Number(f[0]);
        s.egid = Number(f[1]);
        break;
      }
      case "CapInh":
        s.capInh = parseCapHex(v);
        break;
      case "CapPrm":
        s.capPrm = parseCapHex(v);
        break;
      case "CapEff":
        s.capEff = parseCapHex(v);
        break;
      case "NSpid":
        s.vtid = lastNumber(v);
        break;
      case "NStgid":
        s.vpid = lastNumber(v);
        break;
      case "NSpgid": {
        const f = v.trim().split(/\s+/);
        s.pgid = Number(f[0]);
        s.vpgid = Number(f[f.length - 1]);
        break;
      }
      case "VmSize":
        s.vmSize = parseInt(v);
        break;
      case "VmRSS":
        s.vmRss = parseInt(v);
        break;
      case "VmSwap":
        s.vmSwap = parseInt(v);
        break;
    }
  }
  return s;
}

/** Parses /proc/PID/cgroup into `controller=path` entries (`0::/path` becomes `=/path`);
 * comma-joined v1 controllers become one entry each. */
export function parseCgroup(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const ctrls = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (ctrls === "") out.push("=" + path);
    else for (const c of ctrls.split(",")) out.push(c + "=" + path);
  }
  return out;
}

/** Splits NUL-separated text (cmdline, environ). */
export function splitNul(text: string): string[] {
  if (text === "") return [];
  const parts = text.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** One socket of a network namespace, from /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix,netlink}. */
export interface ProcSocket {
  type: number;
  l4proto: number;
  lip: string;
  lport: number;
  rip: string;
  rport: number;
  listening: boolean;
  /** Unix socket path. */
  path: string;
}

function hexIpv4(hex: string): string {
  const n = parseInt(hex, 16);
  return `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`;
}

function hexIpv6(hex: string): string {
  // Four 32-bit words, each in host (little-endian) byte order.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.slice(12).join(".");
  }
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // Compress the longest run of zero words.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
}

/** Parses /proc/net/{tcp,udp,raw}[6] text into sockets by inode. */
export function parseNetInet(
  text: string,
  v6: boolean,
  l4proto: number,
  into: Map<number, ProcSocket>,
): void {
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10) continue;
    const [lip, lport] = f[1].split(":");
    const [rip, rport] = f[2].split(":");
    const ino = Number(f[9]);
    if (!ino) continue;
    const mapped = v6 && lip.startsWith("0000000000000000FFFF0000");
    const ip = (h: string) => (v6 ? hexIpv6(h) : hexIpv4(h));
    const l = ip(lip), r = ip(rip);
    const isV4 = !v6 || (mapped && (r.indexOf(".") > 0 || isAnyAddr(r)));
    into.set(ino, {
      type: isV4 ? FD_TYPE.IPV4_SOCK : FD_TYPE.IPV6_SOCK,
      l4proto,
      lip: isV4 && v6 && isAnyAddr(l) ? "0.0.0.0" : l,
      lport: parseInt(lport, 16),
      rip: isV4 && v6 && isAnyAddr(r) ? "0.0.0.0" : r,
      rport: parseInt(rport, 16),
      // TCP state 0A is LISTEN; an unconnected UDP socket has no remote port.
      listening: l4proto === L4.TCP ? f[3] === "0A" : parseInt(rport, 16) === 0,
      path: "",
    });
  }
}

/** Parses /proc/net/unix into sockets by inode. */
export function parseNetUnix(text: string, into: Map<number, ProcSocket>): void {
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 7) continue;
    const ino = Number(f[6]);
    if (!ino) continue;
    into.set(ino, {
      type: FD_TYPE.UNIX_SOCK,
      l4proto: L4.NA,
      lip: "",
      lport: 0,
      rip: "",
      rport: 0,
      listening: f[5] === "01" && (parseInt(f[3], 16) & 0x10000) !== 0,
      path: f[7] ?? "",
    });
  }
}

/** Parses /proc/net/netlink into sockets by inode. */
export function parseNetNetlink(text: string, into: Map<number, ProcSocket>): void {
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10) continue;
    const ino = Number(f[f.length - 1]);
    if (!ino) continue;
    into.set(ino, {
      type: FD_TYPE.NETLINK,
      l4proto: L4.NA,
      lip: "",
      lport: 0,
      rip: "",
      rport: 0,
      listening: false,
      path: "",
    });
  }
}

/** How a socket from /proc becomes an fd: type, name, addresses and role. */
export interface SocketFd {
  type: number;
  name: string;
  l4proto: number;
  cip: string;
  cport: number;
  sip: string;
  sport: number;
  role: number;
  connected: boolean;
}

/**
 * Describes a /proc socket as an fd. A connected socket whose local port is one this network
 * namespace listens on is the server end; otherwise the client end.
 */
export function socketFd(s: ProcSocket, listenPorts: ReadonlySet<number>): SocketFd {
  if (s.type === FD_TYPE.UNIX_SOCK || s.type === FD_TYPE.NETLINK) {
    return {
      type: s.type,
      name: s.path,
      l4proto: L4.NA,
      cip: "",
      cport: 0,
      sip: "",
      sport: 0,
      role: ROLE.NONE,
      connected: false,
    };
  }
  const v4 = s.type === FD_TYPE.IPV4_SOCK;
  if (s.listening) {
    return {
      type: v4 ? FD_TYPE.IPV4_SERVSOCK : FD_TYPE.IPV6_SERVSOCK,
      name: `${s.lip}:${s.lport}`,
      l4proto: s.l4proto,
      cip: "",
      cport: 0,
      sip: s.lip,
      sport: s.lport,
      role: ROLE.SERVER,
      connected: false,
    };
  }
  const server = listenPorts.has(s.lport);
  const [cip, cport, sip, sport] = server
    ? [s.rip, s.rport, s.lip, s.lport]
    : [s.lip, s.lport, s.rip, s.rport];
  return {
    type: s.type,
    name: tupleName(cip, cport, sip, sport),
    l4proto: s.l4proto,
    cip,
    cport,
    sip,
    sport,
    role: server ? ROLE.SERVER : ROLE.CLIENT,
    connected: true,
  };
}

/** Kind of an fd from its /proc/PID/fd link target (files and directories need a stat). */
export function linkKind(target: string): number {
  if (target.startsWith("/memfd:")) return FD_TYPE.MEMFD;
  if (target.startsWith("/")) return FD_TYPE.FILE;
  if (target.startsWith("socket:")) return FD_TYPE.UNKNOWN; // resolved through the socket tables
  if (target.startsWith("pipe:")) return FD_TYPE.FIFO;
  if (target.startsWith("anon_inode:")) {
    const kind = target.slice(11).replace(/[[\]]/g, "");
    switch (kind) {
      case "eventfd":
        return FD_TYPE.EVENT;
      case "eventpoll":
        return FD_TYPE.EVENTPOLL;
      case "inotify":
        return FD_TYPE.INOTIFY;
      case "signalfd":
        return FD_TYPE.SIGNALFD;
      case "timerfd":
        return FD_TYPE.TIMERFD;
      case "userfaultfd":
        return FD_TYPE.USERFAULTFD;
      case "io_uring":
        return FD_TYPE.IOURING;
      case "pidfd":
        return FD_TYPE.PIDFD;
      default:
        return kind.startsWith("bpf") ? FD_TYPE.BPF : FD_TYPE.UNKNOWN;
    }
  }
  return FD_TYPE.UNKNOWN;
}

/** The inode in `socket:[123]` / `pipe:[123]`, or 0. */
export function linkInode(target: string): number {
  const open = target.indexOf("[");
  return open < 0 ? 0 : Number(target.slice(open + 1, -1)) || 0;
}

/** Reads a file as text, or undefined when it cannot be read (process gone, permission). */
export function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** Reads a symbolic link, or undefined. */
export function readLink(path: string): string | undefined {
  try {
    return Deno.readLinkSync(path);
  } catch {
    return undefined;
  }
}

/** Boot time as UTC ns, from /proc/stat's btime refined by /proc/uptime. */
export function bootTimeNs(procRoot = "/proc"): bigint {
  const up = readText(`${procRoot}/uptime`);
  if (up) {
    const seconds = parseFloat(up);
    return BigInt(Math.round((Date.now() - seconds * 1000) * 1e6));
  }
  const st = readText(`${procRoot}/stat`) ?? "";
  const m = /^btime (\d+)/m.exec(st);
  return m ? BigInt(m[1]) * 1_000_000_000n : 0n;
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;
