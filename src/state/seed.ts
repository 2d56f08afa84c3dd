/**
 * Seeding the state from /proc: every process and thread with the fields the rules need, and
 * every process's file descriptors (files, directories, pipes, sockets resolved through the
 * network namespace's socket tables, anonymous fds). The same reader answers the store's
 * on-demand lookups of threads that events mention before any event created them.
 *
 * @example
 * ```ts
 * const state = new StateStore({ proc: new ProcFs() });
 * seedFromProc(state); // every process, thread and fd /proc shows now
 * ```
 * @module
 */
import { FD_TYPE, L4, type ROLE } from "./model.ts";
import type { SeedFd, SeedThread, StateStore } from "./store.ts";
import {
  bootTimeNs,
  CLK_TCK,
  linkInode,
  linkKind,
  parseCgroup,
  parseNetInet,
  parseNetNetlink,
  parseNetUnix,
  parseStat,
  parseStatus,
  type ProcSocket,
  readLink,
  readText,
  socketFd,
  splitNul,
} from "./procfs.ts";

/** Reads threads and fds of the live system (see {@link ProcFs}). */
export interface ProcReader {
  /** Root of the proc file system, "/proc" normally. */
  readonly root: string;
  /**
   * A thread as /proc shows it now, or undefined if it is gone. With `withProcess` false only
   * the thread's own fields are read (its process is already known).
   */
  thread(pid: number, tid: number, withProcess?: boolean): SeedThread | undefined;
  /** The fds of a process. */
  fds(pid: number): SeedFd[];
  /** True while /proc/PID/task/TID exists. */
  threadExists(pid: number, tid: number): boolean;
  /** The environment of a process, or undefined if unreadable. */
  environ(pid: number): string[] | undefined;
}

/** Reads an environment through a reader (helper for the store's lazy `env`). */
export function readEnv(reader: ProcReader, pid: number): string[] | undefined {
  return reader.environ(pid);
}

function statFile(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}

function ns(d: Date | null | undefined): bigint {
  return d ? BigInt(d.getTime()) * 1_000_000n : 0n;
}

/** Socket tables of one network namespace. */
interface NetTables {
  sockets: Map<number, ProcSocket>;
  listenPorts: Set<number>;
  readAt: number;
}

/** The live /proc reader. */
export class ProcFs implements ProcReader {
  readonly root: string;
  readonly bootNs: bigint;
  #net = new Map<string, NetTables>();
  /** Start times of pid-namespace init processes, by pid namespace link. */
  #pidnsStart = new Map<string, bigint>();

  constructor(root = "/proc") {
    this.root = root;
    this.bootNs = bootTimeNs(root);
  }

  threadExists(pid: number, tid: number): boolean {
    return statFile(`${this.root}/${pid}/task/${tid}`) !== undefined;
  }

  environ(pid: number): string[] | undefined {
    const t = readText(`${this.root}/${pid}/environ`);
    return t === undefined ? undefined : splitNul(t);
  }

  /** Start of the pid namespace a process lives in: its init's start time. */
  #pidnsInitStart(pid: number, vpid: number, startTs: bigint): bigint {
    const nsLink = readLink(`${this.root}/${pid}/ns/pid`);
    if (!nsLink) return 0n;
    if (vpid === 1) {
      this.#pidnsStart.set(nsLink, startTs);
      return startTs;
    }
    const known = this.#pidnsStart.get(nsLink);
    if (known !== undefined) return known;
    // The init of that namespace is an ancestor: walk up until vpid 1 (or the host's pid 1).
    let p = pid;
    for (let i = 0; i < 64; i++) {
      const st = readText(`${this.root}/${p}/status`);
      if (!st) break;
      const s = parseStatus(st);
      if (s.vpid === 1 || s.ppid === 0) {
        const stat = parseStat(readText(`${this.root}/${p}/stat`) ?? "");
        if (!stat) break;
        const t = this.bootNs + BigInt(stat.startTicks) * (1_000_000_000n / BigInt(CLK_TCK));
        this.#pidnsStart.set(nsLink, t);
        return t;
      }
      p = s.ppid;
    }
    return 0n;
  }

  thread(pid: number, tid: number, withProcess = true): SeedThread | undefined {
    const base = `${this.root}/${pid}`;
    const tbase = tid === pid ? base : `${base}/task/${tid}`;
    const statText = readText(`${tbase}/stat`);
    const statusText = readText(`${tbase}/status`);
    if (statText === undefined || statusText === undefined) return undefined;
    const stat = parseStat(statText);
    if (!stat) return undefined;
    const status = parseStatus(statusText);
    const realPid = status.tgid || pid;
    if (!withProcess) {
      return {
        tid,
        pid: realPid,
        ppid: status.ppid,
        comm: stat.comm,
        uid: status.euid,
        gid: status.egid,
        capInheritable: status.capInh,
        capPermitted: status.capPrm,
        capEffective: status.capEff,
        vtid: status.vtid >= 0 ? status.vtid : tid,
      };
    }
    const pbase = `${this.root}/${realPid}`;
    const args = splitNul(readText(`${pbase}/cmdline`) ?? "");
    let exepath = readLink(`${pbase}/exe`) ?? "";
    let exeFromMemfd = false;
    if (exepath.endsWith(" (deleted)")) exepath = exepath.slice(0, -10);
    if (exepath.startsWith("/memfd:")) exeFromMemfd = true;
    const exeStat = statFile(`${pbase}/exe`);
    const startTs = this.bootNs + BigInt(stat.startTicks) * (1_000_000_000n / BigInt(CLK_TCK));
    const pstat = tid === realPid ? stat : parseStat(readText(`${pbase}/stat`) ?? "") ?? stat;
    const pStartTs = this.bootNs + BigInt(pstat.startTicks) * (1_000_000_000n / BigInt(CLK_TCK));
    const loginuid = Number(readText(`${pbase}/loginuid`) ?? "-1");
    const vpid = status.vpid >= 0 ? status.vpid : realPid;
    return {
      tid,
      pid: realPid,
      ppid: status.ppid,
      comm: stat.comm,
      exe: args[0] ?? "",
      exepath,
      args: args.slice(1),
      cwd: readLink(`${pbase}/cwd`) ?? "/",
      root: readLink(`${pbase}/root`) ?? "/",
      uid: status.euid,
      gid: status.egid,
      capInheritable: status.capInh,
      capPermitted: status.capPrm,
      capEffective: status.capEff,
      vtid: status.vtid >= 0 ? status.vtid : tid,
      vpid,
      sid: stat.session,
      vpgid: status.vpgid || stat.pgrp,
      pgid: status.pgid || stat.pgrp,
      tty: stat.ttyNr,
      loginuid: Number.isFinite(loginuid) ? loginuid : -1,
      startTs: tid === realPid ? startTs : pStartTs,
      pidnsInitStartTs: this.#pidnsInitStart(realPid, vpid, pStartTs),
      fdlimit: readFdLimit(`${pbase}/limits`),
      cgroups: parseCgroup(readText(`${pbase}/cgroup`) ?? ""),
      exeIno: exeStat?.ino ?? 0,
      exeInoCtime: ns(exeStat?.ctime),
      exeInoMtime: ns(exeStat?.mtime),
      exeFromMemfd,
      vmSize: status.vmSize,
      vmRss: status.vmRss,
      vmSwap: status.vmSwap,
    };
  }

  /** The socket tables of the network namespace `pid` is in (cached for a second). */
  #netTables(pid: number): NetTables {
    const key = readLink(`${this.root}/${pid}/ns/net`) ?? "host";
    const now = Date.now();
    const cached = this.#net.get(key);
    if (cached && now - cached.readAt < 1000) return cached;
    const sockets = new Map<number, ProcSocket>();
    const dir = `${this.root}/${pid}/net`;
    const inet: Array<[string, boolean, number]> = [
      ["tcp", false, L4.TCP],
      ["tcp6", true, L4.TCP],
      ["udp", false, L4.UDP],
      ["udp6", true, L4.UDP],
      ["raw", false, L4.RAW],
      ["raw6", true, L4.RAW],
    ];
    for (const [file, v6, l4] of inet) {
      const t = readText(`${dir}/${file}`);
      if (t) parseNetInet(t, v6, l4, sockets);
    }
    const unix = readText(`${dir}/unix`);
    if (unix) parseNetUnix(unix, sockets);
    const netlink = readText(`${dir}/netlink`);
    if (netlink) parseNetNetlink(netlink, sockets);
    const listenPorts = new Set<number>();
    for (const s of sockets.values()) {
      if (s.listening && s.l4proto === L4.TCP) listenPorts.add(s.lport);
    }
    const tables = { sockets, listenPorts, readAt: now };
    if (this.#net.size > 256) this.#net.clear();
    this.#net.set(key, tables);
    return tables;
  }

  fds(pid: number): SeedFd[] {
    const dir = `${this.root}/${pid}/fd`;
    const out: SeedFd[] = [];
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return out;
    }
    let net: NetTables | undefined;
    for (const e of entries) {
      const num = Number(e.name);
      if (!Number.isInteger(num)) continue;
      const target = readLink(`${dir}/${e.name}`);
      if (target === undefined) continue;
      let type = linkKind(target);
      if (target.startsWith("socket:")) {
        net ??= this.#netTables(pid);
        const s = net.sockets.get(linkInode(target));
        if (!s) {
          out.push({ num, type: FD_TYPE.UNKNOWN, name: target, ino: linkInode(target) });
          continue;
        }
        const d = socketFd(s, net.listenPorts);
        out.push({
          num,
          type: d.type,
          name: d.name,
          l4proto: d.l4proto,
          cip: d.cip,
          cport: d.cport,
          sip: d.sip,
          sport: d.sport,
          role: d.role as typeof ROLE[keyof typeof ROLE],
          connected: d.connected,
          ino: linkInode(target),
        });
        continue;
      }
      if (type === FD_TYPE.FILE) {
        let name = target;
        if (name.endsWith(" (deleted)")) name = name.slice(0, -10);
        const st = statFile(`${dir}/${e.name}`);
        if (st?.isDirectory) type = FD_TYPE.DIRECTORY;
        out.push({ num, type, name, nameraw: name, dev: st?.dev ?? 0, ino: st?.ino ?? 0 });
        continue;
      }
      if (type === FD_TYPE.MEMFD) {
        out.push({ num, type, name: target.replace(/^\/memfd:/, "").replace(/ \(deleted\)$/, "") });
        continue;
      }
      out.push({ num, type, name: target, ino: linkInode(target) });
    }
    return out;
  }
}

/** Parses the "Max open files" soft limit from /proc/PID/limits. */
function readFdLimit(path: string): number {
  const t = readText(path);
  const m = t ? /^Max open files\s+(\d+)/m.exec(t) : null;
  return m ? Number(m[1]) : 0;
}

/** What a seeding pass found. */
export interface SeedStats {
  processes: number;
  threads: number;
  fds: number;
}

/**
 * Fills `store` with every process, thread and fd of the live system. Processes that vanish
 * during the scan are skipped.
 */
export function seedFromProc(store: StateStore, reader: ProcFs = new ProcFs()): SeedStats {
  const stats: SeedStats = { processes: 0, threads: 0, fds: 0 };
  let pids: number[];
  try {
    pids = [...Deno.readDirSync(reader.root)].map((e) => Number(e.name)).filter((n) =>
      Number.isInteger(n) && n > 0
    );
  } catch {
    return stats;
  }
  pids.sort((a, b) => a - b);
  for (const pid of pids) {
    const main = reader.thread(pid, pid);
    if (!main || main.pid !== pid) continue;
    if (!store.addThread(main)) continue;
    stats.processes++;
    stats.threads++;
    let tids: number[] = [];
    try {
      tids = [...Deno.readDirSync(`${reader.root}/${pid}/task`)].map((e) => Number(e.name));
    } catch {
      // exited meanwhile
    }
    for (const tid of tids) {
      if (tid === pid || !Number.isInteger(tid)) continue;
      const t = reader.thread(pid, tid, false);
      if (t && store.addThread(t)) stats.threads++;
    }
    for (const fd of reader.fds(pid)) {
      if (store.addFd(pid, fd)) stats.fds++;
    }
  }
  store.linkChildren();
  return stats;
}
