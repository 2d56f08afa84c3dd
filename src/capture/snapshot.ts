/**
 * The header of a capture written from a live system: machine info, network interfaces and
 * users of the host, and the process and fd lists taken from the state store (as seeded from
 * /proc, or as the agent holds it when a capture starts).
 * @module
 */
import type { FdInfo, ProcessInfo, ThreadInfo } from "../state/model.ts";
import { FD_TYPE, ROLE } from "../state/model.ts";
import { CLONE_THREAD } from "../events/flags.ts";
import { bootTimeNs, readText } from "../state/procfs.ts";
import { parseGroup, parsePasswd } from "../state/users.ts";
import { FD, FD_TYPECHAR, L4_PROTO_NAMES } from "./format.ts";
import type {
  MachineInfo,
  ScapFd,
  ScapGroup,
  ScapInterface,
  ScapThread,
  ScapUser,
} from "./metadata.ts";
import type { ScapHeader } from "./writer.ts";

/** The thread table of a state store, as far as a snapshot reads it. */
export interface ThreadTable {
  readonly threads: ReadonlyMap<number, ThreadInfo>;
}

/** The process list entry of a thread. */
export function scapThread(th: ThreadInfo): ScapThread {
  const p: ProcessInfo = th.proc;
  return {
    tid: th.tid,
    pid: p.pid,
    ptid: p.ppid,
    sid: p.sid,
    vpgid: p.vpgid,
    pgid: p.pgid,
    comm: th.comm,
    exe: p.exe,
    exepath: p.exepath,
    args: p.args,
    env: p.env ?? [],
    cwd: p.cwd,
    fdlimit: p.fdlimit,
    flags: th.tid === p.pid ? 0 : CLONE_THREAD,
    uid: th.uid,
    gid: th.gid,
    vmsizeKb: p.vmSize,
    vmrssKb: p.vmRss,
    vmswapKb: p.vmSwap,
    pfmajor: 0,
    pfminor: 0,
    vtid: th.vtid,
    vpid: p.vpid,
    cgroups: p.cgroups,
    root: p.root,
    pidnsInitStartTs: p.pidnsInitStartTs,
    tty: p.tty,
    loginuid: p.loginuid < 0 ? 0xffffffff : p.loginuid,
    exeWritable: p.exeWritable,
    capInheritable: th.capInheritable,
    capPermitted: th.capPermitted,
    capEffective: th.capEffective,
    exeUpperLayer: p.exeUpperLayer,
    exeLowerLayer: p.exeLowerLayer,
    exeFromMemfd: p.exeFromMemfd,
    exeIno: p.exeIno,
    exeInoCtime: p.exeInoCtime,
    exeInoMtime: p.exeInoMtime,
  };
}

/** The fd list entry of an fd of process `pid`. */
export function scapFd(pid: number, f: FdInfo): ScapFd {
  const l4proto = L4_PROTO_NAMES[f.l4proto] ?? "unknown";
  const base = { tid: pid, fd: f.num, ino: f.ino, name: "" };
  switch (f.type) {
    case FD_TYPE.FILE:
    case FD_TYPE.FILE_V2:
      return {
        ...base,
        type: FD.FILE_V2,
        typechar: "f",
        name: f.name,
        openFlags: f.openFlags,
        dev: f.dev,
      };
    case FD_TYPE.IPV4_SOCK:
    case FD_TYPE.IPV6_SOCK: {
      // The list records the local end first.
      const server = f.role === ROLE.SERVER;
      return {
        ...base,
        type: f.type,
        typechar: FD_TYPECHAR[f.type],
        sip: server ? f.sip : f.cip,
        sport: server ? f.sport : f.cport,
        dip: server ? f.cip : f.sip,
        dport: server ? f.cport : f.sport,
        l4proto,
      };
    }
    case FD_TYPE.IPV4_SERVSOCK:
    case FD_TYPE.IPV6_SERVSOCK:
      return {
        ...base,
        type: f.type,
        typechar: FD_TYPECHAR[f.type],
        sip: f.sip,
        sport: f.sport,
        l4proto,
        isServer: true,
      };
    case FD_TYPE.UNIX_SOCK:
      return { ...base, type: f.type, typechar: "u", name: f.name, source: 0n, dest: 0n };
    default:
      return { ...base, type: f.type, typechar: FD_TYPECHAR[f.type] ?? "?", name: f.name };
  }
}

/** Threads and fds of a state store, fds once per process (under its pid). */
export function stateLists(state: ThreadTable): { threads: ScapThread[]; fds: ScapFd[] } {
  const threads: ScapThread[] = [];
  const fds: ScapFd[] = [];
  const done = new Set<ProcessInfo>();
  for (const th of state.threads.values()) {
    threads.push(scapThread(th));
    const p = th.proc;
    if (done.has(p)) continue;
    done.add(p);
    for (const f of p.fds.values()) fds.push(scapFd(p.pid, f));
  }
  return { threads, fds };
}

/** Machine info of this host. */
export function hostMachineInfo(): MachineInfo {
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(readText("/proc/meminfo") ?? "");
  const maxPid = Number((readText("/proc/sys/kernel/pid_max") ?? "0").trim());
  return {
    numCpus: navigator.hardwareConcurrency,
    memoryBytes: mem ? Number(mem[1]) * 1024 : 0,
    maxPid,
    hostname: Deno.hostname(),
    bootTs: bootTimeNs(),
    flags: 0n,
  };
}

function ipv4Broadcast(addr: string, mask: string): string {
  const a = addr.split(".").map(Number), m = mask.split(".").map(Number);
  return a.map((x, i) => (x | (~m[i] & 255)) & 255).join(".");
}

/** Network interface addresses of this host. */
export function hostInterfaces(): ScapInterface[] {
  return Deno.networkInterfaces().map((i) => ({
    name: i.name,
    family: i.family === "IPv4" ? 4 as const : 6 as const,
    addr: i.address,
    netmask: i.netmask,
    bcast: i.family === "IPv4" ? ipv4Broadcast(i.address, i.netmask) : "::",
    linkspeed: 0,
  }));
}

/** Users and groups of this host (/etc/passwd, /etc/group). */
export function hostUsers(): { users: ScapUser[]; groups: ScapGroup[] } {
  const text = readText("/etc/passwd") ?? "";
  // The primary group is the fourth passwd field (the state's user entries do not keep it).
  const gids = new Map<number, number>();
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 4) gids.set(Number(f[2]), Number(f[3]));
  }
  const users = [...parsePasswd(text).values()].map((u) => ({
    uid: u.id,
    gid: gids.get(u.id) ?? 0,
    name: u.name,
    homedir: u.home,
    shell: u.shell,
  }));
  const groups = [...parseGroup(readText("/etc/group") ?? "").values()].map((g) => ({
    gid: g.id,
    name: g.name,
  }));
  return { users, groups };
}

/** The full header of a capture of this host with `state`'s threads and fds. */
export function hostHeader(state: ThreadTable): ScapHeader {
  const { threads, fds } = stateLists(state);
  const { users, groups } = hostUsers();
  return {
    machine: hostMachineInfo(),
    interfaces: hostInterfaces(),
    users,
    groups,
    threads,
    fds,
  };
}
