/**
 * The StateStore: the thread, process and fd tables that enrichment keeps, libsinsp-style.
 *
 * For each event, in order, the pipeline calls {@link StateStore.update}: it attaches the
 * thread (`ev.thread`), the fd number and fd (`ev.fdNum`, `ev.fdInfo`) and applies the event to
 * the tables, so that rules evaluating this event see the state as of the event. Removals are
 * deferred to the next update: the fd a close() closes and a process that exits stay visible
 * while their own event is evaluated.
 *
 * Seeding: {@link seedFromProc} (procfs.ts readers) fills the tables from /proc at start; a
 * capture replay fills them from the capture's process and fd lists through
 * {@link StateStore.addThread} and {@link StateStore.addFd}, then calls
 * {@link StateStore.linkChildren}.
 *
 * @example
 * ```ts
 * import { StateStore } from "./store.ts";
 * import { buildEvent } from "../events/encode.ts";
 * const state = new StateStore();
 * state.addThread({ tid: 10, pid: 10, ppid: 1, comm: "sh", exe: "sh", cwd: "/root" });
 * const ev = buildEvent("openat", { tid: 10, pid: 10 },
 *   { fd: 3, dirfd: -100, name: "notes.txt", flags: 1 });
 * state.update(ev);
 * ev.fdInfo?.name; // "/root/notes.txt"
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import {
  type ContainerInfo,
  FdInfo,
  ProcessInfo,
  type StateView,
  ThreadInfo,
  type UserEntry,
} from "./model.ts";
import { ACTION, applyEvent, FD_INO, FD_PARAM, KEEPS_ENTER } from "./handlers.ts";
import { rawInt } from "./raw.ts";
import { UserDb } from "./users.ts";
import { containerFromCgroups } from "./containers/cgroup.ts";
import { type ProcReader, readEnv } from "./seed.ts";

/** Where container metadata comes from (see containers/runtime.ts). */
export interface ContainerSource {
  /** Cached metadata of a container, if known. Must not block. */
  get(id: string): ContainerInfo | undefined;
  /**
   * Notes a container seen in the cgroup of process `pid` and asks for its metadata unless
   * known or on the way (asynchronous; called on every sighting, so it must be cheap).
   */
  request(id: string, type: string, pid: number): void;
  /** Records metadata learnt otherwise (capture files carry container events). */
  set(info: ContainerInfo): void;
}

/** Options of a {@link StateStore}. */
export interface StateOptions {
  /**
   * Read threads that events mention but the tables lack, environments and user files from the
   * live system (set for live sources; leave unset when replaying captures).
   */
  proc?: ProcReader;
  /** Container metadata; without one, only container.id (from cgroups) is known. */
  containers?: ContainerSource;
  /** Most threads kept; new threads beyond it are not tracked (and counted). Default 262144. */
  maxThreads?: number;
  /** Read passwd/group files (host and containers). Default: true when `proc` is set. */
  userFiles?: boolean;
  /**
   * Where the host's root file system is seen (its /etc/passwd and /etc/group): "/" normally,
   * "/host" for an agent in a container with the host's root mounted there (SAKER_HOST_ROOT).
   */
  hostRoot?: string;
  /** The clock the purge of lost threads is paced by, in ms (default Date.now; tests). */
  now?: () => number;
}

/** Counters a StateStore keeps (exported as metrics by the agent). */
export interface StateStats {
  /** Threads created from events, from /proc lookups, and dropped because the table was full. */
  threadsCreated: number;
  threadsFromProc: number;
  threadsDropped: number;
  threadsRemoved: number;
  /** Events whose thread was unknown (and could not be looked up). */
  threadMisses: number;
  /** fd lookups that found nothing. */
  fdMisses: number;
  /** fd table entries dropped because the record showed the number now names another file. */
  fdStale: number;
  /** Threads removed because /proc no longer had them (their exit event was lost). */
  threadsPurged: number;
}

/** Process and thread data for seeding (from /proc, a capture's process list, or a test). */
export interface SeedThread {
  tid: number;
  pid: number;
  ppid: number;
  comm?: string;
  exe?: string;
  exepath?: string;
  args?: string[];
  env?: string[];
  cwd?: string;
  root?: string;
  /** Effective user/group ids (what user.uid / group.gid show). */
  uid?: number;
  gid?: number;
  capInheritable?: bigint;
  capPermitted?: bigint;
  capEffective?: bigint;
  vtid?: number;
  vpid?: number;
  sid?: number;
  vpgid?: number;
  pgid?: number;
  tty?: number;
  /** Audit login uid; -1 or 0xffffffff for none. */
  loginuid?: number;
  /** Start (clone) time, UTC ns. */
  startTs?: bigint;
  pidnsInitStartTs?: bigint;
  fdlimit?: number;
  cgroups?: string[];
  /** Full container id; derived from `cgroups` when absent. */
  containerId?: string;
  exeIno?: number;
  exeInoCtime?: bigint;
  exeInoMtime?: bigint;
  exeFromMemfd?: boolean;
  exeUpperLayer?: boolean;
  exeLowerLayer?: boolean;
  exeWritable?: boolean;
  vmSize?: number;
  vmRss?: number;
  vmSwap?: number;
}

/** An fd for seeding: number plus any {@link FdInfo} properties. */
export type SeedFd =
  & { num: number; type: number; name: string }
  & Partial<
    Omit<
      FdInfo,
      "num" | "type" | "name" | "clone" | "typechar" | "typeName" | "isServer" | "isInet"
    >
  >;

const DEFAULT_MAX_THREADS = 262144;
/** Shortest time between two slices of the purge of lost threads (see StateStore). */
export const PURGE_SLICE_MS = 100;
/** Most threads a slice of the purge checks against /proc. */
export const PURGE_SLICE_THREADS = 64;
/** Shortest time between the starts of two sweeps of the thread table by the purge. */
export const PURGE_SWEEP_MS = 5000;

/**
 * Seeding reads the same paths and names for thousands of processes (/dev/null, a shared
 * library, one executable): one copy of each string is kept.
 */
class Interner {
  #map = new Map<string, string>();
  get(s: string): string {
    const have = this.#map.get(s);
    if (have !== undefined) return have;
    if (this.#map.size >= 65536) this.#map.clear();
    this.#map.set(s, s);
    return s;
  }
}

/** The thread/process/fd tables and their update from events. */
export class StateStore implements StateView {
  /** Threads by tid. */
  readonly threads: Map<number, ThreadInfo> = new Map();
  /** Processes by pid. */
  readonly procs: Map<number, ProcessInfo> = new Map();
  readonly stats: StateStats = {
    threadsCreated: 0,
    threadsFromProc: 0,
    threadsDropped: 0,
    threadsRemoved: 0,
    threadMisses: 0,
    fdMisses: 0,
    fdStale: 0,
    threadsPurged: 0,
  };
  /** Where missing threads, environments and user files are read from (live only). */
  readonly proc: ProcReader | undefined;
  readonly users: UserDb;
  readonly containers: ContainerSource | undefined;
  readonly maxThreads: number;
  /**
   * Check fd table entries against the inode a record carries for the fd it uses (and execve
   * for the standard fds), and drop an entry that names another file. Set when the kernel
   * leaves out the calls that close and replace fds (see src/rules/state_needs.ts): the table
   * then keeps what rules need (sockets) and a reused number must not show a closed socket.
   */
  fdIdentity = false;

  #seq = 0;
  #strings = new Interner();
  #lastTid = -1;
  #lastThread: ThreadInfo | undefined = undefined;
  /** Deferred work from the previous event. */
  #pendingExit: ThreadInfo | undefined = undefined;
  #pendingReaper = 0;
  #pendingCloseProc: ProcessInfo | undefined = undefined;
  #pendingCloseFd: FdInfo | undefined = undefined;
  #changedFd: FdInfo | undefined = undefined;
  /** The fd the last close removed, and its process (see takeClosedFd). */
  #closedFd: FdInfo | undefined = undefined;
  #closedProc: ProcessInfo | undefined = undefined;
  /** A process per container (the first seen, usually its init): where its files are read. */
  #containerPids = new Map<string, number>();
  /** The most recent exits (tids), so a late parent-side clone event does not revive them. */
  #exited = new Int32Array(1024);
  #exitedPos = 0;
  #exitedSet = new Set<number>();

  constructor(opts: StateOptions = {}) {
    this.proc = opts.proc;
    this.containers = opts.containers;
    this.maxThreads = opts.maxThreads ?? DEFAULT_MAX_THREADS;
    this.users = new UserDb(opts.userFiles ?? opts.proc !== undefined);
    this.#hostRoot = opts.hostRoot ?? "/";
    this.#now = opts.now ?? Date.now;
  }

  readonly #now: () => number;

  readonly #hostRoot: string;

  /** Number of events seen. */
  get seq(): number {
    return this.#seq;
  }

  /**
   * Enriches `ev` and applies it to the tables. Call once per event, in order, before rules
   * evaluate it.
   */
  update(ev: Event): void {
    if (this.#pendingExit !== undefined || this.#pendingCloseFd !== undefined) this.flush();
    if (this.#changedFd !== undefined) {
      this.#changedFd.nameChanged = false;
      this.#changedFd = undefined;
    }
    const seq = ++this.#seq;
    const type = ev.type;
    const act = ACTION[type];
    const tid = ev.tid;
    let th = tid === this.#lastTid ? this.#lastThread : this.threads.get(tid);
    if (th === undefined && act !== 1 /* clone family: the handler creates threads */) {
      th = this.#missingThread(ev);
    }
    if (th !== undefined) {
      th.lastSeen = seq;
      this.#lastTid = tid;
      this.#lastThread = th;
      ev.thread = th;
      const fi = FD_PARAM[type];
      if (fi >= 0) {
        let fd = rawInt(ev, fi);
        if (fd !== fd) fd = th.lastFd; // NaN: this version lacks the parameter
        ev.fdNum = fd;
        let info = th.proc.fds.get(fd);
        if (info !== undefined && this.fdIdentity) info = this.#current(th, fd, info, ev);
        ev.fdInfo = info;
        if (info === undefined && fd >= 0) this.stats.fdMisses++;
        if (ev.info.dir === ">") th.lastFd = fd;
      }
      // Only an enter event some handler reads back is kept; another one ends what was kept,
      // as the thread's next call has begun.
      if (ev.info.dir === ">" && ev.nparams > 0) {
        th.lastEnter = KEEPS_ENTER[type] === 1 ? ev : undefined;
      }
    }
    if (act !== 0) applyEvent(this, act, ev, th);
    // A container's first exec: its user files are read now, while its root is there.
    if (
      act !== 0 && th !== undefined && th.proc.containerId !== "" &&
      (ev.info.name === "execve" || ev.info.name === "execveat")
    ) {
      this.#loadContainerUsers(th.proc);
    }
    // The enter event was needed only until its exit; holding it would pin its whole batch.
    if (th !== undefined && th.lastEnter !== undefined && ev.info.dir === "<") {
      th.lastEnter = undefined;
    }
    // `proc` first: read at every event, it has type feedback when V8 optimizes this method,
    // which the 65536th event would otherwise take back to the interpreter (a deoptimization).
    if (this.proc !== undefined && (seq & 0xffff) === 0) this.#purgeSome();
  }

  /** `info` if the record's inode for fd `n` says it is still that file; else drops it. */
  #current(th: ThreadInfo, n: number, info: FdInfo, ev: Event): FdInfo | undefined {
    const at = FD_INO[ev.type];
    if (at < 0 || at >= ev.nparams) return info;
    const ino = rawInt(ev, at);
    if (ino !== ino || ino === info.ino) return info;
    th.proc.fds.delete(n);
    this.stats.fdStale++;
    return undefined;
  }

  /** @internal Drops fd `n` of `th` unless it is the file of inode `ino` (see fdIdentity). */
  checkFd(th: ThreadInfo, n: number, ino: number): void {
    const info = th.proc.fds.get(n);
    if (info !== undefined && info.ino !== ino) {
      th.proc.fds.delete(n);
      this.stats.fdStale++;
    }
  }

  /** Applies deferred removals now (at the end of a stream, or before inspecting tables). */
  flush(): void {
    const fd = this.#pendingCloseFd;
    if (fd !== undefined) {
      const proc = this.#pendingCloseProc!;
      if (proc.fds.get(fd.num) === fd) {
        proc.fds.delete(fd.num);
        this.#closedFd = fd;
        this.#closedProc = proc;
      }
      this.#pendingCloseFd = undefined;
      this.#pendingCloseProc = undefined;
    }
    const th = this.#pendingExit;
    if (th !== undefined) {
      this.#pendingExit = undefined;
      this.#noteExit(th.tid);
      this.removeThread(th.tid, this.#pendingReaper);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Used by the event handlers (handlers.ts).

  /** @internal Removes `fd` from `proc` after the current event. */
  deferClose(proc: ProcessInfo, fd: FdInfo): void {
    if (this.#pendingCloseFd !== undefined) this.flush();
    this.#pendingCloseProc = proc;
    this.#pendingCloseFd = fd;
  }

  /**
   * @internal The fd the last close removed from `proc`'s table, once (undefined when the last
   * close was in another process; it is let go either way, so no exited process is kept). A
   * program that opens and closes the same file again and again gets an fd equal to the one it
   * closed: the open handler takes this one again when
   * {@link FdInfo.sameOpen} says so, instead of a new object per open. Everything that still
   * refers to it (the events of that open and close) sees the same facts, as a new equal fd
   * would show them.
   */
  takeClosedFd(proc: ProcessInfo): FdInfo | undefined {
    const fd = this.#closedFd;
    if (fd === undefined) return undefined;
    const same = this.#closedProc === proc;
    this.#closedFd = undefined;
    this.#closedProc = undefined;
    return same ? fd : undefined;
  }

  /** @internal Removes thread `th` after the current event; children go to `reaperTid`. */
  deferExit(th: ThreadInfo, reaperTid: number): void {
    if (this.#pendingExit !== undefined) this.flush();
    this.#pendingExit = th;
    this.#pendingReaper = reaperTid;
  }

  /** @internal True when thread `tid` exited among the last 1024 exits. */
  exitedRecently(tid: number): boolean {
    return this.#exitedSet.has(tid);
  }

  #noteExit(tid: number): void {
    const pos = this.#exitedPos;
    const old = this.#exited[pos];
    if (old !== 0) this.#exitedSet.delete(old);
    this.#exited[pos] = tid;
    this.#exitedSet.add(tid);
    this.#exitedPos = (pos + 1) & 1023;
  }

  /** @internal Marks `fd` as renamed by the current event. */
  markNameChanged(fd: FdInfo): void {
    fd.nameChanged = true;
    this.#changedFd = fd;
  }

  /** @internal Inserts a thread (replacing a stale one with the same tid). */
  insertThread(th: ThreadInfo): boolean {
    const old = this.threads.get(th.tid);
    if (old !== undefined) this.removeThread(old.tid, 0);
    else if (this.threads.size >= this.maxThreads) {
      this.stats.threadsDropped++;
      return false;
    }
    this.threads.set(th.tid, th);
    th.proc.threads++;
    if (th.tid === this.#lastTid) this.#lastThread = th;
    return true;
  }

  /** @internal Inserts a process and links it under its parent. */
  insertProcess(proc: ProcessInfo): void {
    const old = this.procs.get(proc.pid);
    if (old !== undefined && old !== proc) this.#dropProcess(old, 0);
    this.procs.set(proc.pid, proc);
    this.#link(proc);
  }

  /** @internal Sets a process's parent, keeping children sets in step. */
  setParent(proc: ProcessInfo, ppid: number): void {
    if (proc.ppid === ppid) return;
    this.procs.get(proc.ppid)?.children?.delete(proc);
    proc.ppid = ppid;
    this.#link(proc);
  }

  /** @internal Sets the cgroups of a process and the container id they imply. */
  setCgroups(proc: ProcessInfo, cgroups: string[]): void {
    proc.cgroups = cgroups;
    const c = containerFromCgroups(cgroups);
    const id = c?.id ?? "";
    if (id !== proc.containerId) {
      proc.containerId = id;
      if (id !== "" && !this.#containerPids.has(id)) this.#containerPids.set(id, proc.pid);
    }
    // Every sighting: the first tells the source when the container's first event came, and
    // a cached lookup costs one map read.
    if (c && this.containers) this.containers.request(c.id, c.type, proc.pid);
  }

  #link(proc: ProcessInfo): void {
    const parent = proc.ppid > 0 && proc.ppid !== proc.pid ? this.procs.get(proc.ppid) : undefined;
    if (parent) (parent.children ??= new Set()).add(proc);
  }

  // ------------------------------------------------------------------------------------------
  // Seeding API.

  /**
   * Adds (or replaces) a thread and, for the first thread of a pid, its process. Fields of the
   * process are taken from the seed whose tid equals its pid (the main thread) or, failing
   * that, from the first thread seen. Returns the thread, or undefined if the table is full.
   */
  addThread(seed: SeedThread): ThreadInfo | undefined {
    let proc = this.procs.get(seed.pid);
    const main = seed.tid === seed.pid;
    if (proc === undefined) {
      proc = new ProcessInfo(seed.pid, this);
      this.#fillProcess(proc, seed);
      this.procs.set(proc.pid, proc);
      this.#link(proc);
    } else if (main) {
      this.#fillProcess(proc, seed);
    }
    const th = new ThreadInfo(seed.tid, proc);
    th.comm = seed.comm ?? proc.comm;
    th.vtid = seed.vtid ?? (proc.vpid >= 0 && main ? proc.vpid : -1);
    th.uid = seed.uid ?? 0;
    th.gid = seed.gid ?? 0;
    th.capInheritable = seed.capInheritable ?? 0n;
    th.capPermitted = seed.capPermitted ?? 0n;
    th.capEffective = seed.capEffective ?? 0n;
    return this.insertThread(th) ? th : undefined;
  }

  #fillProcess(proc: ProcessInfo, s: SeedThread): void {
    const intern = this.#strings;
    if (proc.ppid !== s.ppid) this.setParent(proc, s.ppid);
    if (s.comm !== undefined) proc.comm = intern.get(s.comm);
    if (s.exe !== undefined) proc.exe = intern.get(s.exe);
    if (s.exepath !== undefined) proc.exepath = intern.get(s.exepath);
    proc.args = s.args ?? proc.args;
    proc.env = s.env ?? proc.env;
    if (s.cwd !== undefined) proc.cwd = intern.get(s.cwd);
    if (s.root !== undefined) proc.root = intern.get(s.root);
    proc.vpid = s.vpid ?? proc.vpid;
    proc.sid = s.sid ?? proc.sid;
    proc.vpgid = s.vpgid ?? proc.vpgid;
    proc.pgid = s.pgid ?? proc.pgid;
    proc.tty = s.tty ?? proc.tty;
    if (s.loginuid !== undefined) proc.loginuid = s.loginuid >= 0xffffffff ? -1 : s.loginuid;
    proc.startTs = s.startTs ?? proc.startTs;
    proc.pidnsInitStartTs = s.pidnsInitStartTs ?? proc.pidnsInitStartTs;
    proc.fdlimit = s.fdlimit ?? proc.fdlimit;
    proc.exeIno = s.exeIno ?? proc.exeIno;
    proc.exeInoCtime = s.exeInoCtime ?? proc.exeInoCtime;
    proc.exeInoMtime = s.exeInoMtime ?? proc.exeInoMtime;
    proc.exeFromMemfd = s.exeFromMemfd ?? proc.exeFromMemfd;
    proc.exeUpperLayer = s.exeUpperLayer ?? proc.exeUpperLayer;
    proc.exeLowerLayer = s.exeLowerLayer ?? proc.exeLowerLayer;
    proc.exeWritable = s.exeWritable ?? proc.exeWritable;
    proc.vmSize = s.vmSize ?? proc.vmSize;
    proc.vmRss = s.vmRss ?? proc.vmRss;
    proc.vmSwap = s.vmSwap ?? proc.vmSwap;
    if (s.cgroups) this.setCgroups(proc, s.cgroups.map((c) => intern.get(c)));
    if (s.containerId !== undefined) proc.containerId = s.containerId;
  }

  /** Adds (or replaces) fd `seed.num` of process `pid`. Returns false if the pid is unknown. */
  addFd(pid: number, seed: SeedFd): boolean {
    const proc = this.procs.get(pid);
    if (!proc) return false;
    const fd = new FdInfo(seed.num, seed.type, this.#strings.get(seed.name));
    // Property by property (not a generic copy) so every FdInfo keeps one hidden class.
    if (seed.nameraw !== undefined) {
      fd.nameraw = seed.nameraw === seed.name ? fd.name : this.#strings.get(seed.nameraw);
    }
    if (seed.openFlags !== undefined) fd.openFlags = seed.openFlags;
    if (seed.dev !== undefined) fd.dev = seed.dev;
    if (seed.ino !== undefined) fd.ino = seed.ino;
    if (seed.family !== undefined) fd.family = seed.family;
    if (seed.l4proto !== undefined) fd.l4proto = seed.l4proto;
    if (seed.cip !== undefined) fd.cip = seed.cip;
    if (seed.cport !== undefined) fd.cport = seed.cport;
    if (seed.sip !== undefined) fd.sip = seed.sip;
    if (seed.sport !== undefined) fd.sport = seed.sport;
    if (seed.role !== undefined) fd.role = seed.role;
    if (seed.connected !== undefined) fd.connected = seed.connected;
    if (seed.upperLayer !== undefined) fd.upperLayer = seed.upperLayer;
    if (seed.lowerLayer !== undefined) fd.lowerLayer = seed.lowerLayer;
    proc.fds.set(seed.num, fd);
    return true;
  }

  /**
   * Rebuilds parent/child links after seeding (the order of a process list does not put
   * parents first) and shares fd tables as threads do.
   */
  linkChildren(): void {
    for (const p of this.procs.values()) p.children = undefined;
    for (const p of this.procs.values()) this.#link(p);
  }

  /**
   * Removes a thread now; when it was its process's last thread, the process leaves the table
   * and its children are re-parented to the thread `reaperTid` names (if known), else to the
   * nearest subreaper ancestor, else to the init process of its pid namespace, else to pid 1.
   */
  removeThread(tid: number, reaperTid = 0): void {
    const th = this.threads.get(tid);
    if (th === undefined) return;
    this.threads.delete(tid);
    this.stats.threadsRemoved++;
    if (this.#lastTid === tid) {
      this.#lastTid = -1;
      this.#lastThread = undefined;
    }
    const proc = th.proc;
    proc.threads--;
    if (proc.threads <= 0 && this.procs.get(proc.pid) === proc) this.#dropProcess(proc, reaperTid);
  }

  #dropProcess(proc: ProcessInfo, reaperTid: number): void {
    this.procs.delete(proc.pid);
    if (proc.containerId !== "" && this.#containerPids.get(proc.containerId) === proc.pid) {
      // Hand the container's file view to another of its processes, if any is known.
      this.#containerPids.delete(proc.containerId);
      for (const p of this.procs.values()) {
        if (p.containerId === proc.containerId) {
          this.#containerPids.set(p.containerId, p.pid);
          break;
        }
      }
    }
    this.procs.get(proc.ppid)?.children?.delete(proc);
    const kids = proc.children;
    if (kids !== undefined && kids.size > 0) {
      const reaper = this.#findReaper(proc, reaperTid);
      for (const kid of kids) {
        kid.ppid = reaper?.pid ?? 0;
        if (reaper) (reaper.children ??= new Set()).add(kid);
      }
    }
    proc.children = undefined;
    // Threads of a process that vanished without their own exit events.
    if (proc.threads > 0) {
      for (const [tid, t] of this.threads) {
        if (t.proc === proc) {
          this.threads.delete(tid);
          this.stats.threadsRemoved++;
        }
      }
      proc.threads = 0;
      this.#lastTid = -1;
      this.#lastThread = undefined;
    }
  }

  #findReaper(proc: ProcessInfo, reaperTid: number): ProcessInfo | undefined {
    if (reaperTid > 0) {
      const t = this.threads.get(reaperTid);
      const p = t?.proc ?? this.procs.get(reaperTid);
      if (p && p !== proc) return p;
    }
    let p = this.procs.get(proc.ppid);
    for (let i = 0; p !== undefined && i < 256; i++) {
      if (p.subreaper || p.vpid === 1) return p;
      p = this.procs.get(p.ppid);
    }
    return this.procs.get(1);
  }

  /**
   * Removes threads whose /proc entry is gone (their exit event was lost), among threads idle
   * for the last `idleEvents` events. Live only; returns how many were removed.
   */
  purgeDead(idleEvents = 100_000): number {
    const reader = this.proc;
    if (!reader) return 0;
    const limit = this.#seq - idleEvents;
    let removed = 0;
    for (const th of [...this.threads.values()]) {
      if (th.lastSeen <= limit && !reader.threadExists(th.proc.pid, th.tid)) {
        this.removeThread(th.tid);
        removed++;
      }
    }
    this.stats.threadsPurged += removed;
    return removed;
  }

  /** The sweep in progress (undefined between sweeps), and when its last slice ran. */
  #purgeIter: Iterator<ThreadInfo> | undefined = undefined;
  #purgedAt = -Infinity;
  #sweepAt = -Infinity;

  /**
   * A slice of {@link purgeDead}, run every 65536 events and at most every
   * {@link PURGE_SLICE_MS}: up to {@link PURGE_SLICE_THREADS} threads idle for a while are
   * checked against /proc, so lost exits cannot grow the table without bound and no single event
   * pays for a full scan. The slices make up sweeps of the table, and a sweep starts at most every
   * {@link PURGE_SWEEP_MS}: each thread is checked at most once in that time. (Each check is a
   * stat of /proc/PID/task/TID, some microseconds. Slices alone, round-robin over a table of a few
   * hundred threads, re-checked the same idle threads several times a second while events flowed:
   * ~3 % of the main thread's busy time under an open storm.)
   */
  #purgeSome(): void {
    const now = this.#now();
    if (now - this.#purgedAt < PURGE_SLICE_MS) return;
    if (this.#purgeIter === undefined) {
      if (now - this.#sweepAt < PURGE_SWEEP_MS) return;
      this.#sweepAt = now;
      this.#purgeIter = this.threads.values();
    }
    this.#purgedAt = now;
    const reader = this.proc!;
    const limit = this.#seq - 65536;
    const it = this.#purgeIter;
    for (let checked = 0; checked < PURGE_SLICE_THREADS;) {
      const next = it.next();
      if (next.done) {
        this.#purgeIter = undefined;
        return;
      }
      const th = next.value;
      if (th.lastSeen > limit) continue;
      checked++;
      if (!reader.threadExists(th.proc.pid, th.tid)) {
        this.removeThread(th.tid);
        this.stats.threadsPurged++;
      }
    }
  }

  #missingThread(ev: Event): ThreadInfo | undefined {
    const tid = ev.tid;
    // Metadata events (no thread: tid -1) and the idle task (0) have no thread to track.
    if (tid <= 0) return undefined;
    if (this.proc && ev.origin === "live") {
      const pid = ev.pid > 0 ? ev.pid : tid;
      const known = this.procs.has(pid);
      const seed = this.proc.thread(pid, tid, !known);
      if (seed) {
        const th = this.addThread(seed);
        if (th) {
          this.stats.threadsFromProc++;
          if (!known) { for (const fd of this.proc.fds(seed.pid)) this.addFd(seed.pid, fd); }
          return th;
        }
      }
    }
    // Not in /proc (gone already) or replaying: what the event header says.
    if (this.threads.size >= this.maxThreads) {
      this.stats.threadsDropped++;
      this.stats.threadMisses++;
      return undefined;
    }
    const pid = ev.pid > 0 ? ev.pid : tid;
    this.stats.threadsCreated++;
    const comm = ev.commOff >= 0 ? ev.comm : "";
    // Credentials are unknown here (0xffffffff, as Falco shows an unknown user).
    return this.addThread({
      tid,
      pid,
      ppid: ev.ppid > 0 ? ev.ppid : 0,
      comm: comm === "" ? undefined : comm,
      uid: 0xffffffff,
      gid: 0xffffffff,
    });
  }

  // ------------------------------------------------------------------------------------------
  // StateView (what field extractors ask).

  /** The process with this pid. */
  process(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }

  /** Container metadata, if known (a lookup is started when it is not). */
  container(id: string): ContainerInfo | undefined {
    return this.containers?.get(id);
  }

  #userKey(proc: ProcessInfo): [string, string] {
    if (proc.containerId === "") return ["", this.#hostRoot];
    // Through a process of the container that outlives most (the event's own process may be
    // gone by the time a field is read).
    const pid = this.#containerPids.get(proc.containerId) ?? proc.pid;
    return [proc.containerId, this.proc ? `${this.proc.root}/${pid}/root` : proc.root];
  }

  /** Through the process that just exec'd: it is in the container's root and alive now. */
  #loadContainerUsers(proc: ProcessInfo): void {
    if (this.proc) this.users.load(proc.containerId, `${this.proc.root}/${proc.pid}/root`);
  }

  /** Passwd entry of `uid` in the files `proc` sees. */
  user(uid: number, proc: ProcessInfo): UserEntry | undefined {
    const [key, root] = this.#userKey(proc);
    const u = this.users.user(uid, key, root);
    if (u !== undefined || key === "" || uid === 0 || !this.#loadFromLayers(key)) return u;
    return this.users.user(uid, key, root);
  }

  /** Group entry of `gid` in the files `proc` sees. */
  group(gid: number, proc: ProcessInfo): UserEntry | undefined {
    const [key, root] = this.#userKey(proc);
    const g = this.users.group(gid, key, root);
    if (g !== undefined || key === "" || !this.#loadFromLayers(key)) return g;
    return this.users.group(gid, key, root);
  }

  /**
   * A container whose files could not be read through its processes (all gone): its files from
   * the layers the runtime keeps on the host. True when they could be read.
   */
  #loadFromLayers(id: string): boolean {
    if (this.users.loaded(id)) return false;
    for (const dir of this.containers?.get(id)?.fsRoots ?? []) {
      this.users.load(id, this.#hostRoot === "/" ? dir : `${this.#hostRoot}${dir}`);
      if (this.users.loaded(id)) return true;
    }
    return false;
  }

  /** Environment of `proc`, read from /proc on first use when live. */
  env(proc: ProcessInfo): string[] {
    if (proc.env !== undefined) return proc.env;
    const env = this.proc ? readEnv(this.proc, proc.pid) : undefined;
    return proc.env = env ?? [];
  }
}
