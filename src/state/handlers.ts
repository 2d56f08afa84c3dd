/**
 * How each state-changing event updates the tables: process creation and exec, exit, fd
 * creation and closing, socket naming, credentials, working directory, capabilities, names.
 *
 * Parameters are read by name, so every version of an event (old captures have fewer
 * parameters) goes through the same code; a parameter an old exit event lacks is taken from
 * the thread's preceding enter event of the same syscall.
 * @module
 */
import type { Event } from "../events/event.ts";
import { EF, EVENTS, paramIndexTable, PT } from "../events/table.ts";
import type { SockAddr, SockTuple } from "../events/params.ts";
import {
  FD_TYPE,
  FdInfo,
  L4,
  LAYER_LOWER,
  LAYER_UPPER,
  ProcessInfo,
  ROLE,
  ThreadInfo,
} from "./model.ts";
import { FdTable } from "./fdtable.ts";
import type { StateStore } from "./store.ts";
import { resolvePath } from "./resolve.ts";
import { AT_FDCWD } from "../events/params.ts";
import {
  CLONE_FILES,
  CLONE_NEWUSER,
  CLONE_PARENT,
  CLONE_THREAD,
  CLOSE_RANGE_CLOEXEC,
  EXE_FROM_MEMFD,
  EXE_LOWER_LAYER,
  EXE_UPPER_LAYER,
  EXE_WRITABLE,
  F_DUPFD,
  F_DUPFD_CLOEXEC,
  F_SETFD,
  FD_LOWER_LAYER,
  FD_UPPER_LAYER,
  O_CLOEXEC,
  O_DIRECTORY,
  PR_SET_CHILD_SUBREAPER,
} from "../events/flags.ts";
import { joinPath } from "./paths.ts";
import { AF, isMappedV4, sockAddrText, tupleName, unmapV4 } from "../events/socket_text.ts";
import { parseContainerEvent } from "./containers/container_json.ts";
import { intAt, PARAM_OFFSETS, rawInt, textAt } from "./raw.ts";

/** Action codes (one per family of state-changing events). */
const A = {
  NONE: 0,
  CLONE: 1,
  EXECVE: 2,
  PROCEXIT: 3,
  CLOSE: 4,
  OPEN: 5,
  SOCKET: 6,
  BIND: 7,
  LISTEN: 8,
  CONNECT: 9,
  ACCEPT: 10,
  DUP: 11,
  FCNTL: 12,
  PIPE: 13,
  SOCKETPAIR: 14,
  SIMPLE_FD: 15,
  MEMFD: 16,
  CHDIR: 17,
  FCHDIR: 18,
  CHROOT: 19,
  CREDS: 20,
  CAPSET: 21,
  NAMESPACE: 22,
  PRCTL: 23,
  SETSID: 24,
  CLOSE_RANGE: 26,
  SENDRECV: 27,
  CONTAINER: 28,
  USERS: 29,
  PIDFD_OPEN: 30,
  GETCWD: 31,
} as const;

const EXIT_ACTIONS: Record<string, number> = {
  clone: A.CLONE,
  clone3: A.CLONE,
  fork: A.CLONE,
  vfork: A.CLONE,
  execve: A.EXECVE,
  execveat: A.EXECVE,
  close: A.CLOSE,
  open: A.OPEN,
  openat: A.OPEN,
  openat2: A.OPEN,
  creat: A.OPEN,
  open_by_handle_at: A.OPEN,
  socket: A.SOCKET,
  bind: A.BIND,
  listen: A.LISTEN,
  connect: A.CONNECT,
  accept: A.ACCEPT,
  accept4: A.ACCEPT,
  dup: A.DUP,
  dup2: A.DUP,
  dup3: A.DUP,
  fcntl: A.FCNTL,
  pipe: A.PIPE,
  pipe2: A.PIPE,
  socketpair: A.SOCKETPAIR,
  eventfd: A.SIMPLE_FD,
  eventfd2: A.SIMPLE_FD,
  signalfd: A.SIMPLE_FD,
  signalfd4: A.SIMPLE_FD,
  timerfd_create: A.SIMPLE_FD,
  inotify_init: A.SIMPLE_FD,
  inotify_init1: A.SIMPLE_FD,
  epoll_create: A.SIMPLE_FD,
  epoll_create1: A.SIMPLE_FD,
  userfaultfd: A.SIMPLE_FD,
  io_uring_setup: A.SIMPLE_FD,
  bpf: A.SIMPLE_FD,
  pidfd_getfd: A.SIMPLE_FD,
  pidfd_open: A.PIDFD_OPEN,
  memfd_create: A.MEMFD,
  chdir: A.CHDIR,
  fchdir: A.FCHDIR,
  getcwd: A.GETCWD,
  chroot: A.CHROOT,
  setuid: A.CREDS,
  setgid: A.CREDS,
  setresuid: A.CREDS,
  setresgid: A.CREDS,
  setreuid: A.CREDS,
  setregid: A.CREDS,
  capset: A.CAPSET,
  setns: A.NAMESPACE,
  unshare: A.NAMESPACE,
  prctl: A.PRCTL,
  setsid: A.SETSID,
  close_range: A.CLOSE_RANGE,
  sendto: A.SENDRECV,
  sendmsg: A.SENDRECV,
  recvfrom: A.SENDRECV,
  recvmsg: A.SENDRECV,
};

const ENTER_ACTIONS: Record<string, number> = {
  procexit: A.PROCEXIT,
  container: A.CONTAINER,
  useradded: A.USERS,
  userdeleted: A.USERS,
  groupadded: A.USERS,
  groupdeleted: A.USERS,
};

/** fd kinds of the events that create one simple (non-file, non-socket) fd. */
const SIMPLE_FD_TYPE: Record<string, number> = {
  eventfd: FD_TYPE.EVENT,
  eventfd2: FD_TYPE.EVENT,
  signalfd: FD_TYPE.SIGNALFD,
  signalfd4: FD_TYPE.SIGNALFD,
  timerfd_create: FD_TYPE.TIMERFD,
  inotify_init: FD_TYPE.INOTIFY,
  inotify_init1: FD_TYPE.INOTIFY,
  epoll_create: FD_TYPE.EVENTPOLL,
  epoll_create1: FD_TYPE.EVENTPOLL,
  userfaultfd: FD_TYPE.USERFAULTFD,
  io_uring_setup: FD_TYPE.IOURING,
  bpf: FD_TYPE.BPF,
  pidfd_getfd: FD_TYPE.UNKNOWN,
};

/** Action code by event id. */
export const ACTION: Uint8Array = new Uint8Array(EVENTS.length);
/**
 * Events whose only state is the user and group tables (a capture's useradded, groupadded...):
 * 1 by event id. Only the fields of USER_TABLE_FIELDS (rules/fields/user.ts) read those tables.
 */
export const USER_TABLE_EVENT: Uint8Array = new Uint8Array(EVENTS.length);
/** Index of the parameter naming the fd an event uses or closes, by event id; -1 for none. */
export const FD_PARAM: Int8Array = new Int8Array(EVENTS.length).fill(-1);

/**
 * Enter events the state keeps as their thread's `lastEnter` until the exit: those of system
 * calls whose events change state, as their handlers read a parameter the exit lacks from the
 * enter event of the same call (see `arg`); 1 by event id. No other enter event is ever read
 * back, so the store keeps none of them (a capture replay may then reuse their memory).
 */
export const KEEPS_ENTER: Uint8Array = new Uint8Array(EVENTS.length);

for (const e of EVENTS) {
  const act = e.dir === "<" ? EXIT_ACTIONS[e.name] : ENTER_ACTIONS[e.name];
  if (act !== undefined) ACTION[e.id] = act;
  if (act === A.USERS) USER_TABLE_EVENT[e.id] = 1;
  if (e.flags & (EF.USES_FD | EF.DESTROYS_FD)) {
    const i = e.paramIndex.get("fd") ?? e.paramIndex.get("oldfd");
    // An exit event lacking the parameter (old captures) gets an index past its last parameter:
    // the store then uses the fd of the thread's enter event.
    FD_PARAM[e.id] = i !== undefined ? i : e.dir === "<" ? 100 : -1;
  }
}
{
  const acting = new Set(EVENTS.filter((e) => ACTION[e.id] !== 0).map((e) => e.name));
  for (const e of EVENTS) if (e.dir === ">" && acting.has(e.name)) KEEPS_ENTER[e.id] = 1;
}

/** Index of the `fd_ino` parameter (inode of the fd used, live records), by event id; -1. */
export const FD_INO: Int8Array = paramIndexTable("fd_ino");

/** True when applying `ev` can change the state (it creates, changes or ends something). */
export function changesState(ev: Event): boolean {
  return ACTION[ev.type] !== 0;
}

const EINPROGRESS = -115;
const ALL_CAPS = (1n << 41n) - 1n;

/**
 * Where each parameter the handlers read sits, by event type (see paramIndexTable): every event
 * version is read by parameter name, without a name lookup per event.
 */
const P = {
  addr: paramIndexTable("addr"),
  arg: paramIndexTable("arg"),
  arg2_int: paramIndexTable("arg2_int"),
  arg2_str: paramIndexTable("arg2_str"),
  args: paramIndexTable("args"),
  cap_effective: paramIndexTable("cap_effective"),
  cap_inheritable: paramIndexTable("cap_inheritable"),
  cap_permitted: paramIndexTable("cap_permitted"),
  cgroups: paramIndexTable("cgroups"),
  cmd: paramIndexTable("cmd"),
  comm: paramIndexTable("comm"),
  container_id: paramIndexTable("container_id"),
  creat_flags: paramIndexTable("creat_flags"),
  cwd: paramIndexTable("cwd"),
  ino: paramIndexTable("ino"),
  ino1: paramIndexTable("ino1"),
  ino2: paramIndexTable("ino2"),
  dev: paramIndexTable("dev"),
  dirfd: paramIndexTable("dirfd"),
  domain: paramIndexTable("domain"),
  egid: paramIndexTable("egid"),
  env: paramIndexTable("env"),
  euid: paramIndexTable("euid"),
  exe: paramIndexTable("exe"),
  exe_ino: paramIndexTable("exe_ino"),
  exe_ino_ctime: paramIndexTable("exe_ino_ctime"),
  exe_ino_mtime: paramIndexTable("exe_ino_mtime"),
  fd1: paramIndexTable("fd1"),
  fd2: paramIndexTable("fd2"),
  fdlimit: paramIndexTable("fdlimit"),
  filename: paramIndexTable("filename"),
  first: paramIndexTable("first"),
  flags: paramIndexTable("flags"),
  gid: paramIndexTable("gid"),
  home: paramIndexTable("home"),
  id: paramIndexTable("id"),
  image: paramIndexTable("image"),
  json: paramIndexTable("json"),
  last: paramIndexTable("last"),
  loginuid: paramIndexTable("loginuid"),
  name: paramIndexTable("name"),
  name_dir: paramIndexTable("name_dir"),
  nstype: paramIndexTable("nstype"),
  option: paramIndexTable("option"),
  path: paramIndexTable("path"),
  pathname: paramIndexTable("pathname"),
  peer: paramIndexTable("peer"),
  pgid: paramIndexTable("pgid"),
  pid: paramIndexTable("pid"),
  pidns_init_start_ts: paramIndexTable("pidns_init_start_ts"),
  proto: paramIndexTable("proto"),
  ptid: paramIndexTable("ptid"),
  reaper_tid: paramIndexTable("reaper_tid"),
  shell: paramIndexTable("shell"),
  sid: paramIndexTable("sid"),
  source: paramIndexTable("source"),
  trusted_exepath: paramIndexTable("trusted_exepath"),
  tty: paramIndexTable("tty"),
  tuple: paramIndexTable("tuple"),
  type: paramIndexTable("type"),
  uid: paramIndexTable("uid"),
  vm_rss: paramIndexTable("vm_rss"),
  vm_size: paramIndexTable("vm_size"),
  vm_swap: paramIndexTable("vm_swap"),
  vpgid: paramIndexTable("vpgid"),
  vpid: paramIndexTable("vpid"),
  vtid: paramIndexTable("vtid"),
};

/** The parameter at `at[ev.type]` (undefined when this event version lacks it). */
function get(ev: Event, at: Int8Array) {
  return ev.param(at[ev.type]);
}

const STD_INO: [number, Int8Array][] = [
  [0, paramIndexTable("stdin_ino")],
  [1, paramIndexTable("stdout_ino")],
  [2, paramIndexTable("stderr_ino")],
];

/** A parameter, falling back to the thread's enter event of the same syscall. */
function arg(ev: Event, th: ThreadInfo | undefined, at: Int8Array) {
  const v = ev.param(at[ev.type]);
  if (v !== undefined) return v;
  const enter = th?.lastEnter;
  return enter !== undefined && enter.info.name === ev.info.name
    ? enter.param(at[enter.type])
    : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** A NUL-separated list parameter (argv, env, cgroups), decoded straight from the event. */
function list(ev: Event, at: Int8Array): string[] | undefined {
  return ev.paramStrings(at[ev.type]);
}

/**
 * Environments, shared: the processes of one session mostly carry the same environment, so an
 * identical one is kept once (bounded; the cache is dropped when full).
 */
const envs = new Map<string, string[]>();

function sharedEnv(text: string): string[] {
  if (text.length === 0) return [];
  let env = envs.get(text);
  if (env === undefined) {
    env = text.split("\0");
    if (env[env.length - 1] === "") env.pop();
    if (envs.size >= 4096) envs.clear();
    envs.set(text, env);
  }
  return env;
}

/** A 64-bit unsigned parameter as an exact bigint (times in ns exceed 2^53). */
function u64(ev: Event, at: Int8Array): bigint | undefined {
  const i = at[ev.type];
  if (i < 0 || i >= ev.nparams || ev.paramLength(i) !== 8) return undefined;
  return ev.dv.getBigUint64(ev.paramOffset(i), true);
}

function bigOf(v: unknown): bigint | undefined {
  return typeof v === "bigint" ? v : typeof v === "number" ? BigInt(Math.trunc(v)) : undefined;
}

/** The result of an exit event (its first parameter), read straight from the bytes. */
function result(ev: Event): number {
  const r = rawInt(ev, 0);
  return r === r ? r : -1;
}

function setFd(ev: Event, th: ThreadInfo, num: number, fd: FdInfo): void {
  th.proc.fds.set(num, fd);
  ev.fdNum = num;
  ev.fdInfo = fd;
}

/** Applies event `ev` (action `act`) to the store. `th` is the event's thread, if known. */
export function applyEvent(
  store: StateStore,
  act: number,
  ev: Event,
  th: ThreadInfo | undefined,
): void {
  if (act === A.CLONE) return onClone(store, ev, th);
  if (act === A.CONTAINER) return onContainer(store, ev);
  if (act === A.USERS) return onUsers(store, ev);
  if (th === undefined) return;
  switch (act) {
    case A.EXECVE:
      return onExecve(store, ev, th);
    case A.PROCEXIT:
      return store.deferExit(th, num(get(ev, P.reaper_tid)) ?? 0);
    case A.CLOSE: {
      if (result(ev) < 0 && ev.info.params[0]?.name === "res") return;
      const fd = ev.fdInfo;
      if (fd !== undefined) store.deferClose(th.proc, fd);
      return;
    }
    case A.OPEN:
      return onOpen(store, ev, th);
    case A.SOCKET:
      return onSocket(ev, th);
    case A.BIND:
      return onBind(ev, th);
    case A.LISTEN: {
      const fd = ev.fdInfo;
      if (fd !== undefined && result(ev) >= 0) fd.role = ROLE.SERVER;
      return;
    }
    case A.CONNECT:
      return onConnect(store, ev, th);
    case A.ACCEPT:
      return onAccept(ev, th);
    case A.DUP:
      return onDup(ev, th);
    case A.FCNTL:
      return onFcntl(ev, th);
    case A.PIPE:
    case A.SOCKETPAIR:
      return onPair(ev, th, act === A.PIPE);
    case A.SIMPLE_FD: {
      const res = result(ev);
      ev.fdNum = res < 0 ? -1 : res;
      if (res < 0) return;
      const fd = new FdInfo(res, SIMPLE_FD_TYPE[ev.info.name] ?? FD_TYPE.UNKNOWN, "");
      return setFd(ev, th, res, fd);
    }
    case A.PIDFD_OPEN: {
      const res = result(ev);
      ev.fdNum = res < 0 ? -1 : res;
      if (res < 0) return;
      const pid = num(get(ev, P.pid)) ?? 0;
      return setFd(ev, th, res, new FdInfo(res, FD_TYPE.PIDFD, `/proc/${pid}`));
    }
    case A.MEMFD: {
      const res = result(ev);
      ev.fdNum = res < 0 ? -1 : res;
      if (res < 0) return;
      const fd = new FdInfo(res, FD_TYPE.MEMFD, str(get(ev, P.name)) ?? "");
      fd.openFlags = num(get(ev, P.flags)) ?? 0;
      return setFd(ev, th, res, fd);
    }
    case A.CHDIR: {
      if (result(ev) !== 0) return;
      // The path as written, as libsinsp keeps it (a symbolic link stays in proc.cwd); the
      // kernel's directory (live records) only when the thread's working directory is unknown.
      const path = str(arg(ev, th, P.path));
      const cwd = str(get(ev, P.cwd));
      if (path !== undefined && (path.startsWith("/") || th.proc.cwd.startsWith("/"))) {
        th.proc.cwd = joinPath(th.proc.cwd, path);
      } else if (cwd !== undefined && cwd.startsWith("/")) th.proc.cwd = cwd;
      return;
    }
    case A.GETCWD: {
      const path = str(get(ev, P.path));
      if (result(ev) >= 0 && path !== undefined && path.startsWith("/")) {
        th.proc.cwd = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
      }
      return;
    }
    case A.FCHDIR: {
      if (result(ev) !== 0) return;
      const cwd = str(get(ev, P.cwd));
      const fd = ev.fdInfo;
      if (cwd !== undefined && cwd.startsWith("/")) th.proc.cwd = cwd;
      else if (fd !== undefined && fd.name.startsWith("/")) th.proc.cwd = fd.name;
      return;
    }
    case A.CHROOT: {
      const path = str(arg(ev, th, P.path));
      if (result(ev) === 0 && path !== undefined) th.proc.root = joinPath(th.proc.cwd, path);
      return;
    }
    case A.CREDS:
      return onCreds(ev, th);
    case A.CAPSET:
      if (result(ev) !== 0) return;
      th.capInheritable = bigOf(get(ev, P.cap_inheritable)) ?? th.capInheritable;
      th.capPermitted = bigOf(get(ev, P.cap_permitted)) ?? th.capPermitted;
      th.capEffective = bigOf(get(ev, P.cap_effective)) ?? th.capEffective;
      return;
    case A.NAMESPACE:
      return onNamespace(ev, th);
    case A.PRCTL:
      return onPrctl(ev, th);
    case A.SETSID: {
      // The new session's id; the process group ids are taken at the next exec (libsinsp
      // follows neither setsid's nor setpgid's group change).
      const res = result(ev);
      if (res >= 0) th.proc.sid = res;
      return;
    }
    case A.CLOSE_RANGE:
      return onCloseRange(ev, th);
    case A.SENDRECV:
      return onSendRecv(store, ev, th);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Children created from their parent's clone exit, whose own first event is still to come. */
const awaitingOwnEvent = new WeakSet<ThreadInfo>();

function onClone(store: StateStore, ev: Event, caller: ThreadInfo | undefined): void {
  const res = result(ev);
  if (res < 0) return;
  const flags = num(get(ev, P.flags)) ?? 0;
  let childTid: number;
  let childPid: number;
  let creator: ThreadInfo | undefined;
  let ppid: number;
  if (res === 0) {
    // The child's own event: header (live) or parameters (captures) name it.
    childTid = ev.tid;
    childPid = ev.pid > 0 ? ev.pid : num(get(ev, P.pid)) ?? childTid;
    const known = store.threads.get(childTid);
    if (known !== undefined && awaitingOwnEvent.has(known)) {
      // Created from the parent's exit event a moment ago.
      awaitingOwnEvent.delete(known);
      known.lastSeen = store.seq;
      ev.thread = known;
      refineChild(ev, known);
      return;
    }
    const ptid = num(get(ev, P.ptid)) ?? 0;
    creator = store.threads.get(ptid);
    if (flags & CLONE_THREAD) {
      creator = store.procs.get(childPid) !== undefined
        ? firstThreadOf(store, childPid) ?? creator
        : creator;
    }
    ppid = ev.ppid > 0
      ? ev.ppid
      : (flags & CLONE_THREAD
        ? store.procs.get(childPid)?.ppid ?? creator?.proc.ppid ?? 0
        : creator?.proc.pid ?? ptid);
  } else {
    // The parent's event: the child is `res`. Nothing to do if its own event came first.
    childTid = res;
    creator = caller;
    if (creator === undefined) return;
    const known = store.threads.get(childTid);
    // A vfork parent returns after its child exec'd or even exited; a live child always
    // announces itself first (the fork tracepoint), so a child unknown by now is gone.
    if (known === undefined && (ev.origin === "live" || store.exitedRecently(childTid))) return;
    if (
      known !== undefined &&
      (known.proc === creator.proc || known.proc.ppid === creator.proc.pid ||
        known.proc.ppid === creator.proc.ppid)
    ) {
      return; // the child's own event came first
    }
    childPid = flags & CLONE_THREAD ? creator.proc.pid : res;
    ppid = flags & (CLONE_THREAD | CLONE_PARENT) ? creator.proc.ppid : creator.proc.pid;
  }
  const th = createChild(store, ev, creator, childTid, childPid, ppid, flags);
  if (th === undefined) return;
  if (res === 0) {
    th.lastSeen = store.seq;
    ev.thread = th;
  } else {
    awaitingOwnEvent.add(th);
  }
}

function firstThreadOf(store: StateStore, pid: number): ThreadInfo | undefined {
  return store.threads.get(pid);
}

/** Fills in what only the child's own event knows (namespace ids). */
function refineChild(ev: Event, th: ThreadInfo): void {
  const vtid = num(get(ev, P.vtid));
  if (vtid !== undefined && vtid > 0) th.vtid = vtid;
  const vpid = num(get(ev, P.vpid));
  if (vpid !== undefined && vpid > 0 && th.isMain) th.proc.vpid = vpid;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** argv[0] and the arguments a clone event carries (read from the process's memory). */
function takeCommandLine(ev: Event, proc: ProcessInfo): void {
  const exe = str(get(ev, P.exe));
  if (exe !== undefined) proc.exe = exe;
  const args = list(ev, P.args);
  if (args !== undefined) proc.args = args;
}

function createChild(
  store: StateStore,
  ev: Event,
  creator: ThreadInfo | undefined,
  tid: number,
  pid: number,
  ppid: number,
  flags: number,
): ThreadInfo | undefined {
  const src = creator?.proc;
  let proc: ProcessInfo | undefined = flags & CLONE_THREAD ? store.procs.get(pid) : undefined;
  if (proc === undefined) {
    proc = new ProcessInfo(pid, store);
    proc.ppid = ppid;
    if (src !== undefined) {
      proc.comm = src.comm;
      proc.exe = src.exe;
      proc.exepath = src.exepath;
      proc.args = src.args;
      proc.env = src.env;
      proc.cwd = src.cwd;
      proc.root = src.root;
      proc.tty = src.tty;
      proc.sid = src.sid;
      proc.pgid = src.pgid;
      proc.vpgid = src.vpgid;
      proc.loginuid = src.loginuid;
      proc.exeIno = src.exeIno;
      proc.exeInoCtime = src.exeInoCtime;
      proc.exeInoMtime = src.exeInoMtime;
      proc.exeFromMemfd = src.exeFromMemfd;
      proc.exeUpperLayer = src.exeUpperLayer;
      proc.exeLowerLayer = src.exeLowerLayer;
      proc.exeWritable = src.exeWritable;
      proc.fdlimit = src.fdlimit;
      proc.cgroups = src.cgroups;
      proc.containerId = src.containerId;
      proc.pidnsInitStartTs = src.pidnsInitStartTs;
      proc.fds = flags & CLONE_FILES ? src.fds : new FdTable(src.fds);
    }
    // The command line as the kernel read it from the parent's memory at the fork: a parent
    // that rewrote its argv (setproctitle) shows the new text in its children, as in libsinsp.
    takeCommandLine(ev, proc);
    // The working directory is the parent's as tracked from its chdir calls (a path through
    // a symbolic link stays as written); the kernel's value only for an unknown parent.
    if (src === undefined || src.cwd === "") {
      const cwd = str(get(ev, P.cwd));
      if (cwd !== undefined && cwd.startsWith("/")) proc.cwd = cwd;
    }
    const comm = str(get(ev, P.comm));
    if (comm !== undefined) proc.comm = comm;
    else if (src === undefined) proc.comm = ev.commOff >= 0 ? ev.comm : "";
    const fdlimit = num(get(ev, P.fdlimit));
    if (fdlimit !== undefined && fdlimit > 0) proc.fdlimit = fdlimit;
    proc.vmSize = num(get(ev, P.vm_size)) ?? 0;
    proc.vmRss = num(get(ev, P.vm_rss)) ?? 0;
    proc.vmSwap = num(get(ev, P.vm_swap)) ?? 0;
    const pidnsStart = u64(ev, P.pidns_init_start_ts);
    // The probe reads the kernel's boot-time clock; like the event time, it becomes UTC ns
    // with the source's epoch base (0 for capture files, which carry UTC already).
    if (pidnsStart !== undefined && pidnsStart > 0n) {
      proc.pidnsInitStartTs = pidnsStart + ev.tsBase;
    }
    const isChildEvent = ev.tid === tid;
    if (isChildEvent) {
      const vpid = num(get(ev, P.vpid));
      proc.vpid = vpid !== undefined && vpid > 0 ? vpid : pid;
    } else {
      // Known to be in a pid namespace: unknown inside it; else the host pid.
      proc.vpid = src !== undefined && src.vpid > 0 && src.vpid !== src.pid ? -1 : pid;
    }
    proc.startTs = ev.ts;
    store.insertProcess(proc);
    // The kernel's cgroups at the fork: a parent moved to another cgroup since its own exec
    // shows the new one in its children (the parent's entry keeps its old one).
    const cgroups = list(ev, P.cgroups);
    if (cgroups !== undefined && cgroups.length > 0 && !sameStrings(cgroups, proc.cgroups)) {
      store.setCgroups(proc, cgroups);
    }
  }
  const th = new ThreadInfo(tid, proc);
  // The kernel's name of the new thread (its creator's, including a name set with prctl).
  th.comm = str(get(ev, P.comm)) ?? creator?.comm ?? proc.comm;
  th.uid = num(get(ev, P.uid)) ?? creator?.uid ?? 0;
  th.gid = num(get(ev, P.gid)) ?? creator?.gid ?? 0;
  if (creator !== undefined) {
    th.capInheritable = creator.capInheritable;
    th.capPermitted = creator.capPermitted;
    th.capEffective = creator.capEffective;
  }
  if (ev.tid === tid) {
    const vtid = num(get(ev, P.vtid));
    th.vtid = vtid !== undefined && vtid > 0 ? vtid : tid;
  }
  if (!store.insertThread(th)) return undefined;
  store.stats.threadsCreated++;
  return th;
}

function onExecve(store: StateStore, ev: Event, th: ThreadInfo): void {
  if (store.fdIdentity) {
    // Standard fds the table may not have followed: keep an entry only if it is still the file.
    for (const [n, at] of STD_INO) {
      const i = num(get(ev, at));
      if (i !== undefined) store.checkFd(th, n, i);
    }
  }
  if (result(ev) !== 0) return;
  const proc = th.proc;
  // A thread first seen in a capture without its clone: the exec names its parent.
  if (proc.ppid <= 0) {
    const ptid = num(get(ev, P.ptid));
    if (ptid !== undefined && ptid > 0) store.setParent(proc, store.threads.get(ptid)?.pid ?? ptid);
  }
  const exe = str(get(ev, P.exe));
  if (exe !== undefined) proc.exe = exe;
  const args = list(ev, P.args);
  if (args !== undefined) proc.args = args;
  // An exec keeps the working directory; the kernel's path (symbolic links resolved) is used
  // only when the process's own is unknown, as libsinsp never takes it from an exec.
  if (proc.cwd === "") {
    const cwd = str(get(ev, P.cwd));
    if (cwd !== undefined && cwd.startsWith("/")) proc.cwd = cwd;
  }
  let comm = str(get(ev, P.comm));
  if (comm === undefined && exe !== undefined) {
    comm = exe.slice(exe.lastIndexOf("/") + 1, undefined);
  }
  if (comm !== undefined) {
    comm = comm.slice(0, 15);
    proc.comm = comm;
    th.comm = comm;
  }
  const trusted = str(get(ev, P.trusted_exepath));
  if (trusted !== undefined && trusted !== "") proc.exepath = trusted;
  else {
    const filename = str(arg(ev, th, P.filename)) ?? str(arg(ev, th, P.pathname));
    if (filename !== undefined && filename !== "") {
      proc.exepath = resolvePath(th, num(arg(ev, th, P.dirfd)) ?? AT_FDCWD, filename);
    } else if (exe !== undefined) {
      proc.exepath = exe.startsWith("/") ? exe : proc.exepath;
    }
  }
  // An environment the event carries (else it is read on demand).
  const envAt = P.env[ev.type];
  const env = envAt >= 0 && envAt < ev.nparams ? ev.paramText(envAt) : undefined;
  proc.env = env !== undefined && ev.info.params[envAt].type === PT.BYTEBUF
    ? sharedEnv(env)
    : undefined;
  const tty = num(get(ev, P.tty));
  if (tty !== undefined) proc.tty = tty;
  // Saker's live execve records add the session and the ids inside the pid namespace. The
  // session is kept from the fork or setsid (libsinsp does not take it from an exec); the
  // record's value fills only an unknown one.
  const sid = num(get(ev, P.sid));
  if (sid !== undefined && proc.sid < 0) proc.sid = sid;
  const vpid = num(get(ev, P.vpid));
  if (vpid !== undefined && vpid > 0) proc.vpid = vpid;
  const vtid = num(get(ev, P.vtid));
  if (vtid !== undefined && vtid > 0) th.vtid = vtid;
  const vpgid = num(get(ev, P.vpgid));
  if (vpgid !== undefined) proc.vpgid = vpgid;
  const pgid = num(get(ev, P.pgid));
  if (pgid !== undefined) proc.pgid = pgid;
  const loginuid = num(get(ev, P.loginuid));
  if (loginuid !== undefined) proc.loginuid = loginuid >= 0xffffffff ? -1 : loginuid;
  const flags = num(get(ev, P.flags));
  if (flags !== undefined) {
    proc.exeWritable = (flags & EXE_WRITABLE) !== 0;
    proc.exeUpperLayer = (flags & EXE_UPPER_LAYER) !== 0;
    proc.exeFromMemfd = (flags & EXE_FROM_MEMFD) !== 0;
    proc.exeLowerLayer = (flags & EXE_LOWER_LAYER) !== 0;
  }
  const capI = bigOf(get(ev, P.cap_inheritable));
  if (capI !== undefined) th.capInheritable = capI;
  const capP = bigOf(get(ev, P.cap_permitted));
  if (capP !== undefined) th.capPermitted = capP;
  const capE = bigOf(get(ev, P.cap_effective));
  if (capE !== undefined) th.capEffective = capE;
  const ino = num(get(ev, P.exe_ino));
  if (ino !== undefined) proc.exeIno = ino;
  const ctime = bigOf(get(ev, P.exe_ino_ctime));
  if (ctime !== undefined) proc.exeInoCtime = ctime;
  const mtime = bigOf(get(ev, P.exe_ino_mtime));
  if (mtime !== undefined) proc.exeInoMtime = mtime;
  const uid = num(get(ev, P.uid));
  if (uid !== undefined) th.uid = uid;
  const gid = num(get(ev, P.gid));
  if (gid !== undefined) th.gid = gid;
  const fdlimit = num(get(ev, P.fdlimit));
  if (fdlimit !== undefined && fdlimit > 0) proc.fdlimit = fdlimit;
  const vmSize = num(get(ev, P.vm_size));
  if (vmSize !== undefined) proc.vmSize = vmSize;
  const vmRss = num(get(ev, P.vm_rss));
  if (vmRss !== undefined) proc.vmRss = vmRss;
  const vmSwap = num(get(ev, P.vm_swap));
  if (vmSwap !== undefined) proc.vmSwap = vmSwap;
  const cgroups = list(ev, P.cgroups);
  if (cgroups !== undefined && cgroups.length > 0) store.setCgroups(proc, cgroups);
  // The new image does not inherit close-on-exec descriptors.
  for (const [n, fd] of proc.fds) if (fd.openFlags & O_CLOEXEC) proc.fds.delete(n);
}

// ---------------------------------------------------------------------------------------------
// Files

function onOpen(store: StateStore, ev: Event, th: ThreadInfo): void {
  const res = result(ev);
  ev.fdNum = res < 0 ? -1 : res;
  if (res < 0) return;
  const isHandle = ev.info.name === "open_by_handle_at";
  const type = ev.type;
  const nameAt = isHandle ? P.path[type] : P.name[type];
  // Every parameter an open needs is in the record (always, for live ones): their offsets in one
  // pass, then each read in place. Otherwise parameter by parameter, from the enter event.
  const offs = PARAM_OFFSETS;
  const inPlace = P.dirfd[type] >= 0 && P.dirfd[type] < ev.nparams && nameAt >= 0 &&
    nameAt < ev.nparams && P.flags[type] >= 0 && P.flags[type] < ev.nparams &&
    ev.paramOffsets(offs);
  const dirfd = (inPlace ? intAt(ev, offs, P.dirfd[type]) : num(arg(ev, th, P.dirfd))) ??
    AT_FDCWD;
  const raw = inPlace ? textAt(ev, offs, nameAt) : str(arg(ev, th, isHandle ? P.path : P.name));
  if (raw === undefined) return;
  const flags = (inPlace ? intAt(ev, offs, P.flags[type]) : num(arg(ev, th, P.flags))) ?? 0;
  const dev = (inPlace ? intAt(ev, offs, P.dev[type]) : num(get(ev, P.dev))) ?? 0;
  const ino = (inPlace ? intAt(ev, offs, P.ino[type]) : num(get(ev, P.ino))) ?? 0;
  // As libsinsp: O_DIRECTORY makes a directory fd, O_TMPFILE (which includes O_DIRECTORY's
  // bit) too, named after the directory its unnamed file was made in.
  const isDir = (flags & O_DIRECTORY) !== 0;
  // An absolute path needs no directory: the record's is read for relative ones only.
  const name = isHandle
    ? raw
    : resolvePath(th, dirfd, raw, raw.charCodeAt(0) === 47 ? undefined : str(get(ev, P.name_dir)));
  const fdType = isDir ? FD_TYPE.DIRECTORY : FD_TYPE.FILE;
  const creat = ev.info.name === "creat" ? num(get(ev, P.creat_flags)) ?? 0 : 0;
  const layers = ((flags & FD_UPPER_LAYER) !== 0 || (creat & 1) !== 0 ? LAYER_UPPER : 0) |
    ((flags & FD_LOWER_LAYER) !== 0 || (creat & 2) !== 0 ? LAYER_LOWER : 0);
  // The same file opened again as the fd just closed: that fd, equal in every fact, serves.
  const closed = store.takeClosedFd(th.proc);
  if (closed !== undefined && closed.sameOpen(res, fdType, name, raw, flags, dev, ino, layers)) {
    return setFd(ev, th, res, closed);
  }
  const fd = new FdInfo(res, fdType, name);
  fd.nameraw = raw;
  fd.openFlags = flags;
  fd.dev = dev;
  fd.ino = ino;
  // A new FdInfo has neither bit: set only what is true.
  if ((layers & LAYER_UPPER) !== 0) fd.upperLayer = true;
  if ((layers & LAYER_LOWER) !== 0) fd.lowerLayer = true;
  setFd(ev, th, res, fd);
}

function onCloseRange(ev: Event, th: ThreadInfo): void {
  if (result(ev) < 0) return;
  const first = num(get(ev, P.first)) ?? 0;
  const last = num(get(ev, P.last)) ?? 0;
  const flags = num(get(ev, P.flags)) ?? 0;
  const fds = th.proc.fds;
  for (const [n, fd] of fds) {
    if (n < first || n > last) continue;
    if (flags & CLOSE_RANGE_CLOEXEC) fd.openFlags |= O_CLOEXEC;
    else fds.delete(n);
  }
}

function onDup(ev: Event, th: ThreadInfo): void {
  const res = result(ev);
  const old = ev.fdInfo;
  if (res < 0 || old === undefined) return;
  const copy = old.clone(res);
  copy.openFlags &= ~O_CLOEXEC;
  if (ev.info.name === "dup3" && ((num(get(ev, P.flags)) ?? 0) & O_CLOEXEC)) {
    copy.openFlags |= O_CLOEXEC;
  }
  th.proc.fds.set(res, copy);
}

function onFcntl(ev: Event, th: ThreadInfo): void {
  const cmd = num(get(ev, P.cmd)) ?? 0;
  const res = result(ev);
  const fd = ev.fdInfo;
  if (res < 0 || fd === undefined) return;
  if (cmd === F_SETFD) {
    const a = num(get(ev, P.arg)) ?? 0;
    fd.openFlags = (a & 1) ? fd.openFlags | O_CLOEXEC : fd.openFlags & ~O_CLOEXEC;
    return;
  }
  if (cmd !== F_DUPFD && cmd !== F_DUPFD_CLOEXEC) return;
  const copy = fd.clone(res);
  copy.openFlags = cmd === F_DUPFD_CLOEXEC
    ? copy.openFlags | O_CLOEXEC
    : copy.openFlags & ~O_CLOEXEC;
  th.proc.fds.set(res, copy);
}

function onPair(ev: Event, th: ThreadInfo, pipe: boolean): void {
  if (result(ev) < 0) return;
  const fd1 = num(get(ev, P.fd1));
  const fd2 = num(get(ev, P.fd2));
  if (fd1 === undefined || fd2 === undefined || fd1 === fd2) return;
  const a = new FdInfo(fd1, pipe ? FD_TYPE.FIFO : FD_TYPE.UNIX_SOCK, "");
  if (pipe) {
    a.ino = num(get(ev, P.ino)) ?? 0;
    a.openFlags = num(get(ev, P.flags)) ?? 0;
  } else {
    a.family = num(get(ev, P.domain)) ?? AF.UNIX;
    const src = get(ev, P.source), peer = get(ev, P.peer);
    if (typeof src === "number" && typeof peer === "number") {
      a.name = `${src.toString(16)}->${peer.toString(16)} `;
    }
  }
  const b = a.clone(fd2);
  if (!pipe) {
    a.ino = num(get(ev, P.ino1)) ?? 0;
    b.ino = num(get(ev, P.ino2)) ?? 0;
  }
  // As Falco: a pipe event refers to its second (write) end, a socketpair to its first.
  if (pipe) {
    th.proc.fds.set(fd1, a);
    setFd(ev, th, fd2, b);
  } else {
    setFd(ev, th, fd1, a);
    th.proc.fds.set(fd2, b);
  }
}

// ---------------------------------------------------------------------------------------------
// Sockets

const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;
const IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;

function onSocket(ev: Event, th: ThreadInfo): void {
  const res = result(ev);
  ev.fdNum = res < 0 ? -1 : res;
  if (res < 0) return;
  const domain = num(arg(ev, th, P.domain)) ?? 0;
  const stype = (num(arg(ev, th, P.type)) ?? 0) & 0xf;
  const proto = num(arg(ev, th, P.proto)) ?? 0;
  let type: number = FD_TYPE.UNKNOWN;
  if (domain === AF.INET) type = FD_TYPE.IPV4_SOCK;
  else if (domain === AF.INET6) type = FD_TYPE.IPV6_SOCK;
  else if (domain === AF.UNIX) type = FD_TYPE.UNIX_SOCK;
  else if (domain === AF.NETLINK) type = FD_TYPE.NETLINK;
  const fd = new FdInfo(res, type, "");
  fd.family = domain;
  if (domain === AF.INET || domain === AF.INET6) {
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) fd.l4proto = L4.ICMP;
    else if (stype === SOCK_STREAM) fd.l4proto = L4.TCP;
    else if (stype === SOCK_DGRAM) fd.l4proto = L4.UDP;
    else if (stype === SOCK_RAW) fd.l4proto = L4.RAW;
    else fd.l4proto = L4.UNKNOWN;
  }
  fd.openFlags = num(get(ev, P.flags)) ?? 0;
  fd.ino = num(get(ev, P.ino)) ?? 0;
  setFd(ev, th, res, fd);
}

function onBind(ev: Event, th: ThreadInfo): void {
  const fd = ev.fdInfo;
  if (fd === undefined || result(ev) < 0) return;
  const a = arg(ev, th, P.addr) as SockAddr | null | undefined;
  if (!a) return;
  if ((a.family === AF.INET || a.family === AF.INET6) && a.port > 0) {
    const v4 = a.family === AF.INET || isMappedV4(a.addr);
    fd.type = v4 ? FD_TYPE.IPV4_SERVSOCK : FD_TYPE.IPV6_SERVSOCK;
    fd.sip = unmapV4(a.addr);
    fd.sport = a.port;
    fd.role = ROLE.SERVER;
  }
  fd.name = sockAddrText(a);
}

/** Sets a socket's addresses from a tuple (client first); returns true if its name changed. */
function applyTuple(fd: FdInfo, t: SockTuple, clientIsSource: boolean): boolean {
  if (t.family === AF.INET || t.family === AF.INET6) {
    const v4 = t.family === AF.INET || (isMappedV4(t.sip) && isMappedV4(t.dip));
    fd.type = v4 ? FD_TYPE.IPV4_SOCK : FD_TYPE.IPV6_SOCK;
    const sip = v4 ? unmapV4(t.sip) : t.sip;
    const dip = v4 ? unmapV4(t.dip) : t.dip;
    if (clientIsSource) {
      fd.cip = sip, fd.cport = t.sport, fd.sip = dip, fd.sport = t.dport;
    } else {
      fd.cip = dip, fd.cport = t.dport, fd.sip = sip, fd.sport = t.sport;
    }
    const name = tupleName(fd.cip, fd.cport, fd.sip, fd.sport);
    const changed = name !== fd.name;
    fd.name = name;
    return changed;
  }
  if (t.family === AF.UNIX) {
    fd.type = FD_TYPE.UNIX_SOCK;
    const name = `${t.sip}->${t.dip} ${t.path ?? ""}`;
    const changed = name !== fd.name;
    fd.name = name;
    return changed;
  }
  return false;
}

function onConnect(store: StateStore, ev: Event, th: ThreadInfo): void {
  const fd = ev.fdInfo;
  const res = result(ev);
  if (fd === undefined || (res < 0 && res !== EINPROGRESS)) return;
  fd.connected = true;
  const t = get(ev, P.tuple) as SockTuple | null | undefined;
  let changed = false;
  if (t && (t.family === AF.INET || t.family === AF.INET6 || t.family === AF.UNIX)) {
    changed = applyTuple(fd, t, true);
  } else {
    // No tuple (e.g. TCP fast open): the destination the process asked for.
    const a = arg(ev, th, P.addr) as SockAddr | null | undefined;
    if (a && (a.family === AF.INET || a.family === AF.INET6)) {
      const v4 = a.family === AF.INET || isMappedV4(a.addr);
      fd.type = v4 ? FD_TYPE.IPV4_SOCK : FD_TYPE.IPV6_SOCK;
      fd.sip = unmapV4(a.addr);
      fd.sport = a.port;
      const name = tupleName(fd.cip || (v4 ? "0.0.0.0" : "::"), fd.cport, fd.sip, fd.sport);
      changed = name !== fd.name;
      fd.name = name;
    } else if (a && a.family === AF.UNIX) {
      changed = fd.name !== a.addr;
      fd.name = a.addr;
    }
  }
  if (fd.role === ROLE.NONE) fd.role = ROLE.CLIENT;
  if (changed) store.markNameChanged(fd);
}

function onAccept(ev: Event, th: ThreadInfo): void {
  const res = result(ev);
  ev.fdNum = res < 0 ? -1 : res;
  if (res < 0) return;
  const t = get(ev, P.tuple) as SockTuple | null | undefined;
  const fd = new FdInfo(res, FD_TYPE.UNKNOWN, "");
  if (t) {
    // The probe writes accept tuples as peer (client) -> local (server).
    applyTuple(fd, t, true);
    fd.family = t.family;
    if (t.family === AF.INET || t.family === AF.INET6) fd.l4proto = L4.TCP;
  }
  fd.role = ROLE.SERVER;
  fd.connected = true;
  fd.ino = num(get(ev, P.ino)) ?? 0;
  const flags = num(get(ev, P.flags)) ?? 0;
  if (flags & O_CLOEXEC) fd.openFlags = O_CLOEXEC;
  setFd(ev, th, res, fd);
}

function onSendRecv(store: StateStore, ev: Event, th: ThreadInfo): void {
  const fd = ev.fdInfo;
  if (fd === undefined || fd.l4proto !== L4.UDP || result(ev) < 0) return;
  const t = arg(ev, th, P.tuple) as SockTuple | null | undefined;
  if (!t || (t.family !== AF.INET && t.family !== AF.INET6)) return;
  const send = ev.info.name === "sendto" || ev.info.name === "sendmsg";
  if (fd.role === ROLE.NONE) fd.role = send ? ROLE.CLIENT : ROLE.SERVER;
  // Tuples are written local -> remote for sends and remote -> local for receives.
  const clientIsSource = fd.role === ROLE.CLIENT ? send : !send;
  if (applyTuple(fd, t, clientIsSource)) store.markNameChanged(fd);
}

// ---------------------------------------------------------------------------------------------
// Credentials, names, namespaces

function onCreds(ev: Event, th: ThreadInfo): void {
  if (result(ev) !== 0) return;
  const unset = (v: number | undefined) => v === undefined || v === -1 || v === 0xffffffff;
  switch (ev.info.name) {
    case "setuid": {
      const v = num(arg(ev, th, P.uid));
      if (!unset(v)) th.uid = v!;
      return;
    }
    case "setgid": {
      const v = num(arg(ev, th, P.gid));
      if (!unset(v)) th.gid = v!;
      return;
    }
    case "setresuid":
    case "setreuid": {
      const v = num(arg(ev, th, P.euid));
      if (!unset(v)) th.uid = v!;
      return;
    }
    case "setresgid":
    case "setregid": {
      const v = num(arg(ev, th, P.egid));
      if (!unset(v)) th.gid = v!;
      return;
    }
  }
}

/**
 * prctl: only the child-subreaper flag changes state. A name set with PR_SET_NAME shows in
 * children and threads created afterwards (their clone carries the kernel's name), not in
 * the caller's own events, as in libsinsp: a process cannot hide its name from rules by
 * renaming itself.
 */
function onPrctl(ev: Event, th: ThreadInfo): void {
  if (result(ev) < 0) return;
  if (num(get(ev, P.option)) === PR_SET_CHILD_SUBREAPER) {
    th.proc.subreaper = (num(get(ev, P.arg2_int)) ?? 0) !== 0;
  }
}

function onNamespace(ev: Event, th: ThreadInfo): void {
  if (result(ev) < 0) return;
  const flags = num(get(ev, ev.info.name === "setns" ? P.nstype : P.flags)) ?? 0;
  if (flags & CLONE_NEWUSER) {
    // A new (or joined) user namespace grants every capability inside it: from this event on,
    // as libsinsp sets them when it parses the exit (so a rule on the unshare event itself sees
    // the full set after a successful CLONE_NEWUSER).
    th.capInheritable = ALL_CAPS;
    th.capPermitted = ALL_CAPS;
    th.capEffective = ALL_CAPS;
  }
  // Cgroups (and so the container) are not re-read: they change with the next clone or exec.
}

// ---------------------------------------------------------------------------------------------
// Metadata events (captures)

function onContainer(store: StateStore, ev: Event): void {
  const json = str(get(ev, P.json));
  const info = json !== undefined ? parseContainerEvent(json) : parseContainerEvent(JSON.stringify({
    container: {
      id: str(get(ev, P.id)),
      type: num(get(ev, P.type)),
      name: str(get(ev, P.name)),
      image: str(get(ev, P.image)),
    },
  }));
  if (info) store.containers?.set(info);
}

function onUsers(store: StateStore, ev: Event): void {
  const t = ev.type;
  // The host's users (no container id) are the usual case: known without decoding a string.
  const key = ev.paramIs(P.container_id[t], "") ? "" : str(get(ev, P.container_id)) ?? "";
  switch (ev.info.name) {
    case "useradded": {
      const id = num(get(ev, P.uid)) ?? 0;
      // A capture lists its users again and again: the same entry again changes nothing.
      const had = store.users.added("user", id, key);
      if (
        had !== undefined && ev.paramIs(P.name[t], had.name) && ev.paramIs(P.home[t], had.home) &&
        ev.paramIs(P.shell[t], had.shell)
      ) return;
      store.users.addUser({
        id,
        name: str(get(ev, P.name)) ?? "",
        home: str(get(ev, P.home)) ?? "",
        shell: str(get(ev, P.shell)) ?? "",
      }, key);
      return;
    }
    case "userdeleted":
      store.users.removeUser(num(get(ev, P.uid)) ?? 0, key);
      return;
    case "groupadded": {
      const id = num(get(ev, P.gid)) ?? 0;
      const had = store.users.added("group", id, key);
      if (had !== undefined && ev.paramIs(P.name[t], had.name)) return;
      store.users.addGroup({ id, name: str(get(ev, P.name)) ?? "", home: "", shell: "" }, key);
      return;
    }
    case "groupdeleted":
      store.users.removeGroup(num(get(ev, P.gid)) ?? 0, key);
      return;
  }
}
