/**
 * From a capture's metadata to state seeds: the process list becomes threads, the fd lists
 * become fds, the user list becomes user and group names, in the shapes the state store's
 * seeding API takes (`addThread`, `addFd`, `linkChildren`, `users.addUser/addGroup`).
 *
 * The store is described structurally here ({@link StateSeedTarget}) so that the capture code
 * depends on the seeding contract only.
 * @module
 */
import { FD } from "./format.ts";
import { L4, ROLE } from "../state/model.ts";
import { AF } from "../events/socket_text.ts";
import type { ScapFd, ScapGroup, ScapThread, ScapUser } from "./metadata.ts";

/** A thread seed (the fields the state store's `addThread` takes). */
export interface ThreadSeed {
  tid: number;
  pid: number;
  ppid: number;
  comm: string;
  exe: string;
  exepath: string;
  args: string[];
  env: string[];
  cwd: string;
  root: string;
  uid: number;
  gid: number;
  capInheritable: bigint;
  capPermitted: bigint;
  capEffective: bigint;
  vtid?: number;
  vpid?: number;
  sid?: number;
  vpgid?: number;
  pgid?: number;
  tty: number;
  loginuid: number;
  pidnsInitStartTs: bigint;
  fdlimit: number;
  cgroups: string[];
  exeIno: number;
  exeInoCtime: bigint;
  exeInoMtime: bigint;
  exeFromMemfd: boolean;
  exeUpperLayer: boolean;
  exeLowerLayer: boolean;
  exeWritable: boolean;
  vmSize: number;
  vmRss: number;
  vmSwap: number;
}

/** An fd seed (the fields the state store's `addFd` takes). */
export interface FdSeed {
  num: number;
  type: number;
  name: string;
  nameraw?: string;
  openFlags?: number;
  dev?: number;
  ino?: number;
  family?: number;
  l4proto?: number;
  cip?: string;
  cport?: number;
  sip?: string;
  sport?: number;
  role?: 0 | 1 | 2;
  connected?: boolean;
}

/** A user or group entry as the state's user table takes it. */
export interface UserSeed {
  id: number;
  name: string;
  home: string;
  shell: string;
}

/** What capture metadata is seeded into (the state store). */
export interface StateSeedTarget {
  addThread(seed: ThreadSeed): unknown;
  addFd(pid: number, seed: FdSeed): boolean;
  linkChildren(): void;
  users?: { addUser(e: UserSeed): void; addGroup(e: UserSeed): void };
}

/** Layer-4 protocols by the names capture fd lists use. */
const L4_BY_NAME: Record<string, number> = {
  unknown: L4.UNKNOWN,
  na: L4.NA,
  tcp: L4.TCP,
  udp: L4.UDP,
  icmp: L4.ICMP,
  raw: L4.RAW,
};

/** The thread seed of a process list entry. */
export function threadSeed(t: ScapThread): ThreadSeed {
  const opt = (v: number) => (v >= 0 ? v : undefined);
  return {
    tid: t.tid,
    pid: t.pid,
    ppid: t.ptid,
    comm: t.comm,
    exe: t.exe,
    exepath: t.exepath,
    args: t.args,
    env: t.env,
    cwd: t.cwd,
    root: t.root || "/",
    uid: t.uid,
    gid: t.gid,
    capInheritable: t.capInheritable,
    capPermitted: t.capPermitted,
    capEffective: t.capEffective,
    vtid: opt(t.vtid),
    vpid: opt(t.vpid),
    sid: opt(t.sid),
    vpgid: opt(t.vpgid),
    pgid: opt(t.pgid),
    tty: t.tty,
    loginuid: t.loginuid,
    pidnsInitStartTs: t.pidnsInitStartTs,
    fdlimit: t.fdlimit,
    cgroups: t.cgroups,
    exeIno: t.exeIno,
    exeInoCtime: t.exeInoCtime,
    exeInoMtime: t.exeInoMtime,
    exeFromMemfd: t.exeFromMemfd,
    exeUpperLayer: t.exeUpperLayer,
    exeLowerLayer: t.exeLowerLayer,
    exeWritable: t.exeWritable,
    vmSize: t.vmsizeKb,
    vmRss: t.vmrssKb,
    vmSwap: t.vmswapKb,
  };
}

function isMappedV4(ip: string): boolean {
  return ip.startsWith("::ffff:") && ip.includes(".");
}

/** `ip:port` as libsinsp writes it (IPv6 addresses too, without brackets). */
function hostPort(ip: string, port: number): string {
  return `${ip}:${port}`;
}

/**
 * The fd seed of an fd list entry. `listenPorts` are the ports of the capture's listening
 * sockets: a connection on one of them is the server end. The entry's source and destination
 * are the two ends as the capturing host recorded them: the name is `source->destination`.
 */
export function fdSeed(f: ScapFd, listenPorts: ReadonlySet<number>): FdSeed {
  switch (f.type) {
    case FD.IPV4_SOCK:
    case FD.IPV6_SOCK: {
      let type = f.type;
      let sip = f.sip ?? "", dip = f.dip ?? "";
      // IPv4-mapped IPv6 connections are IPv4 connections (as libsinsp shows them).
      if (type === FD.IPV6_SOCK && isMappedV4(sip) && isMappedV4(dip)) {
        type = FD.IPV4_SOCK;
        sip = sip.slice(7);
        dip = dip.slice(7);
      }
      const sport = f.sport ?? 0, dport = f.dport ?? 0;
      // The list records the local end first; on a listening port this process is the server,
      // and the connection is named client -> server as libsinsp names it once it sees traffic.
      const server = listenPorts.has(sport) && !listenPorts.has(dport);
      const [cip, cport, srvIp, srvPort] = server
        ? [dip, dport, sip, sport]
        : [sip, sport, dip, dport];
      return {
        num: f.fd,
        type,
        name: `${hostPort(cip, cport)}->${hostPort(srvIp, srvPort)}`,
        ino: f.ino,
        family: type === FD.IPV4_SOCK ? AF.INET : AF.INET6,
        l4proto: L4_BY_NAME[f.l4proto ?? "unknown"] ?? 0,
        cip,
        cport,
        sip: srvIp,
        sport: srvPort,
        role: server ? ROLE.SERVER : ROLE.CLIENT,
        connected: f.l4proto === "tcp",
      };
    }
    case FD.IPV4_SERVSOCK:
    case FD.IPV6_SERVSOCK:
      return {
        num: f.fd,
        type: f.type,
        name: hostPort(f.sip ?? "", f.sport ?? 0),
        ino: f.ino,
        family: f.type === FD.IPV4_SERVSOCK ? AF.INET : AF.INET6,
        l4proto: L4_BY_NAME[f.l4proto ?? "unknown"] ?? 0,
        sip: f.sip ?? "",
        sport: f.sport ?? 0,
        role: ROLE.SERVER,
      };
    case FD.UNIX_SOCK: {
      // Old writers copied the line end of /proc/net/unix into the path.
      const name = f.name.endsWith("\n") ? f.name.slice(0, -1) : f.name;
      // A unix socket with a path is the bound (server) end, as libsinsp assumes.
      return {
        num: f.fd,
        type: f.type,
        name,
        ino: f.ino,
        family: AF.UNIX,
        role: name === "" ? ROLE.CLIENT : ROLE.SERVER,
      };
    }
    case FD.FILE_V2:
    case FD.FILE:
      return {
        num: f.fd,
        type: f.type === FD.FILE_V2 ? FD.FILE : f.type,
        name: f.name,
        nameraw: f.name,
        openFlags: f.openFlags ?? 0,
        dev: f.dev ?? 0,
        ino: f.ino,
      };
    default:
      return { num: f.fd, type: f.type, name: f.name, ino: f.ino };
  }
}

/** Ports of the listening sockets in an fd list. */
export function listenPorts(fds: Iterable<ScapFd>): Set<number> {
  const out = new Set<number>();
  for (const f of fds) {
    if (f.type === FD.IPV4_SERVSOCK || f.type === FD.IPV6_SERVSOCK) out.add(f.sport ?? 0);
  }
  return out;
}

/** Counts of what seeding added. */
export interface SeedCounts {
  threads: number;
  fds: number;
  /** fds whose process is not in the process list. */
  orphanFds: number;
  users: number;
  groups: number;
}

/**
 * Seeds `target` with a capture's lists. Fds are added to the process of their tid; the links
 * between parents and children are rebuilt at the end.
 */
export function seedState(
  target: StateSeedTarget,
  threads: readonly ScapThread[],
  fds: readonly ScapFd[],
  users: readonly ScapUser[] = [],
  groups: readonly ScapGroup[] = [],
): SeedCounts {
  const counts: SeedCounts = { threads: 0, fds: 0, orphanFds: 0, users: 0, groups: 0 };
  const pidOf = new Map<number, number>();
  for (const t of threads) {
    target.addThread(threadSeed(t));
    pidOf.set(t.tid, t.pid);
    counts.threads++;
  }
  const ports = listenPorts(fds);
  for (const f of fds) {
    const pid = pidOf.get(f.tid) ?? f.tid;
    if (target.addFd(pid, fdSeed(f, ports))) counts.fds++;
    else counts.orphanFds++;
  }
  if (target.users) {
    for (const u of users) {
      target.users.addUser({ id: u.uid, name: u.name, home: u.homedir, shell: u.shell });
      counts.users++;
    }
    for (const g of groups) {
      target.users.addGroup({ id: g.gid, name: g.name, home: "", shell: "" });
      counts.groups++;
    }
  }
  target.linkChildren();
  return counts;
}
