/**
 * Shapes of the state that enrichment attaches to events: threads, the processes they belong to,
 * and their file descriptors. Field extractors read these through the event (`ev.thread`,
 * `ev.fdInfo`) and, for ancestry, containers and users, through {@link ProcessInfo.state}.
 *
 * Objects are classes with every field initialised in the constructor, so that all instances
 * share one hidden class and property reads on the hot path stay monomorphic.
 * @module
 */
import type { Event } from "../events/event.ts";
import { FdTable } from "./fdtable.ts";

/** File descriptor kinds, numbered as the scap format numbers them (`scap_fd_type`). */
export const FD_TYPE = {
  UNKNOWN: 0,
  FILE: 1,
  DIRECTORY: 2,
  IPV4_SOCK: 3,
  IPV6_SOCK: 4,
  IPV4_SERVSOCK: 5,
  IPV6_SERVSOCK: 6,
  FIFO: 7,
  UNIX_SOCK: 8,
  EVENT: 9,
  UNSUPPORTED: 10,
  SIGNALFD: 11,
  EVENTPOLL: 12,
  INOTIFY: 13,
  TIMERFD: 14,
  NETLINK: 15,
  FILE_V2: 16,
  BPF: 17,
  USERFAULTFD: 18,
  IOURING: 19,
  MEMFD: 20,
  PIDFD: 21,
} as const;

/** Transport protocols of sockets, numbered as the scap format numbers them (`scap_l4_proto`). */
export const L4 = { UNKNOWN: 0, NA: 1, TCP: 2, UDP: 3, ICMP: 4, RAW: 5 } as const;

/** Which end of a connection a socket fd is: not known yet, the client, or the server. */
export const ROLE = { NONE: 0, CLIENT: 1, SERVER: 2 } as const;

const TYPE_CHARS = "ofd4646pueXslitnfburmP";
const TYPE_NAMES = [
  "<NA>",
  "file",
  "directory",
  "ipv4",
  "ipv6",
  "ipv4",
  "ipv6",
  "pipe",
  "unix",
  "event",
  "<NA>",
  "signalfd",
  "eventpoll",
  "inotify",
  "timerfd",
  "netlink",
  "file",
  "bpf",
  "userfaultfd",
  "io_uring",
  "memfd",
  "pidfd",
];

/** The one-character kind of an fd type (`fd.typechar`): f, d, 4, 6, u, p, e, s, l, i ... */
export function fdTypeChar(type: number): string {
  return TYPE_CHARS[type] ?? "?";
}

/** The name of an fd type (`fd.type`): file, directory, ipv4, ipv6, unix, pipe, ... */
export function fdTypeName(type: number): string {
  return TYPE_NAMES[type] ?? "<NA>";
}

/** The network side of a socket fd: family, protocol, both ends and this end's role. */
class SocketEnds {
  family = 0;
  l4proto: number = L4.NA;
  cip = "";
  cport = 0;
  sip = "";
  sport = 0;
  role: number = ROLE.NONE;
}

const CONNECTED = 1, NAME_CHANGED = 2;
/** The overlay layer bits of {@link FdInfo.sameOpen}'s `layers`. */
export const LAYER_UPPER = 4, LAYER_LOWER = 8;

/**
 * A file descriptor of a process.
 *
 * Objects are 8-byte fields each here (Deno's V8 keeps full pointers), and most fds are files:
 * the socket fields live in a second object made for sockets only, and the yes/no facts share
 * one number, so a file fd takes ~96 bytes instead of ~176. Every field reads and writes as a
 * plain property.
 */
export class FdInfo {
  /** Descriptor number. */
  num: number;
  /** One of {@link FD_TYPE}. */
  type: number;
  /** Resolved name: absolute normalised path, or `cip:cport->sip:sport` for sockets. */
  name: string;
  /** The path as the process passed it (files only), before resolution against cwd/dirfd. */
  nameraw = "";
  /** Open flags (scap PPM_O_* encoding) for files. */
  openFlags = 0;
  /** Device and inode, when known (0 otherwise). */
  dev = 0;
  ino = 0;
  #bits = 0;
  #net: SocketEnds | undefined = undefined;

  constructor(num: number, type: number, name: string) {
    this.num = num;
    this.type = type;
    this.name = name;
  }

  /** Socket address family (scap AF numbering); 0 for non-sockets. */
  get family(): number {
    return this.#net === undefined ? 0 : this.#net.family;
  }
  set family(v: number) {
    (this.#net ??= new SocketEnds()).family = v;
  }
  /** One of {@link L4}. */
  get l4proto(): number {
    return this.#net === undefined ? L4.NA : this.#net.l4proto;
  }
  set l4proto(v: number) {
    (this.#net ??= new SocketEnds()).l4proto = v;
  }
  /** Client end of a connection: IP text ("" when unknown) and port (0). */
  get cip(): string {
    return this.#net === undefined ? "" : this.#net.cip;
  }
  set cip(v: string) {
    (this.#net ??= new SocketEnds()).cip = v;
  }
  get cport(): number {
    return this.#net === undefined ? 0 : this.#net.cport;
  }
  set cport(v: number) {
    (this.#net ??= new SocketEnds()).cport = v;
  }
  /** Server end of a connection: IP text ("" when unknown) and port (0). */
  get sip(): string {
    return this.#net === undefined ? "" : this.#net.sip;
  }
  set sip(v: string) {
    (this.#net ??= new SocketEnds()).sip = v;
  }
  get sport(): number {
    return this.#net === undefined ? 0 : this.#net.sport;
  }
  set sport(v: number) {
    (this.#net ??= new SocketEnds()).sport = v;
  }
  /** One of {@link ROLE}: client after connect, server after accept/bind/listen. */
  get role(): number {
    return this.#net === undefined ? ROLE.NONE : this.#net.role;
  }
  set role(v: number) {
    (this.#net ??= new SocketEnds()).role = v;
  }
  /** For sockets: connected (connect succeeded or in progress, or accepted). */
  get connected(): boolean {
    return (this.#bits & CONNECTED) !== 0;
  }
  set connected(v: boolean) {
    this.#bits = v ? this.#bits | CONNECTED : this.#bits & ~CONNECTED;
  }
  /** True only while the event that changed this fd's name is being evaluated. */
  get nameChanged(): boolean {
    return (this.#bits & NAME_CHANGED) !== 0;
  }
  set nameChanged(v: boolean) {
    this.#bits = v ? this.#bits | NAME_CHANGED : this.#bits & ~NAME_CHANGED;
  }
  /** The file sits in the upper / lower layer of an overlay file system. */
  get upperLayer(): boolean {
    return (this.#bits & LAYER_UPPER) !== 0;
  }
  set upperLayer(v: boolean) {
    this.#bits = v ? this.#bits | LAYER_UPPER : this.#bits & ~LAYER_UPPER;
  }
  get lowerLayer(): boolean {
    return (this.#bits & LAYER_LOWER) !== 0;
  }
  set lowerLayer(v: boolean) {
    this.#bits = v ? this.#bits | LAYER_LOWER : this.#bits & ~LAYER_LOWER;
  }

  /** Falco's type character (`fd.typechar`). */
  get typechar(): string {
    return fdTypeChar(this.type);
  }

  /** Falco's type name (`fd.type`). */
  get typeName(): string {
    return fdTypeName(this.type);
  }

  /** True when this process is the server end of the connection. */
  get isServer(): boolean {
    return this.role === ROLE.SERVER;
  }

  /** True for IPv4/IPv6 sockets. */
  get isInet(): boolean {
    const t = this.type;
    return t === 3 || t === 4 || t === 5 || t === 6;
  }

  /**
   * True when this fd is a file or directory fd exactly as an open would make it from these
   * facts (number, type, names, flags, device, inode, overlay layers; no socket side, no
   * other mark): such an fd, closed, can stand for the new one (see StateStore.takeClosedFd).
   */
  sameOpen(
    num: number,
    type: number,
    name: string,
    nameraw: string,
    openFlags: number,
    dev: number,
    ino: number,
    layers: number,
  ): boolean {
    return this.num === num && this.type === type && this.#bits === layers &&
      this.#net === undefined && this.openFlags === openFlags && this.ino === ino &&
      this.dev === dev && this.name === name && this.nameraw === nameraw;
  }

  /** A copy (dup, fork); the number may differ. */
  clone(num: number): FdInfo {
    const f = new FdInfo(num, this.type, this.name);
    f.nameraw = this.nameraw;
    f.openFlags = this.openFlags;
    f.dev = this.dev;
    f.ino = this.ino;
    f.#bits = this.#bits & ~NAME_CHANGED;
    if (this.#net !== undefined) f.#net = Object.assign(new SocketEnds(), this.#net);
    return f;
  }
}

/** Metadata of a container, as the runtime reports it. */
export interface ContainerInfo {
  /** Full id (64 hex characters for the common runtimes). */
  id: string;
  /** Runtime kind: docker, podman, containerd, cri-o, cri. */
  type: string;
  /** Set once the runtime answered (or definitively failed). */
  name?: string;
  image?: string;
  imageId?: string;
  imageRepository?: string;
  imageTag?: string;
  imageDigest?: string;
  privileged?: boolean;
  mounts?: ContainerMount[];
  labels?: Record<string, string>;
  /** Creation/start time, UTC ns. */
  startTs?: bigint;
  ip?: string;
  hostPid?: boolean;
  hostNetwork?: boolean;
  hostIpc?: boolean;
  /**
   * Host directories holding the container's file system, best first: the merged mount while it
   * runs, its own layer, then the image's layers (these outlive the container). User names are
   * read there when the container's processes are gone.
   */
  fsRoots?: string[];
}

/** One mount of a container. */
export interface ContainerMount {
  source: string;
  dest: string;
  mode: string;
  rw: boolean;
  propagation: string;
}

/** A user or group entry (from passwd / group files). */
export interface UserEntry {
  id: number;
  name: string;
  /** Home directory and shell (users only). */
  home: string;
  shell: string;
}

/**
 * What field extractors may ask of the state beyond the event's own thread: other processes
 * (ancestry), container metadata and user/group names. Implemented by the StateStore.
 */
export interface StateView {
  /** The live process with this pid, if known. */
  process(pid: number): ProcessInfo | undefined;
  /** Metadata of a container by full id; undefined while unknown (lookups start on demand). */
  container(id: string): ContainerInfo | undefined;
  /** The passwd entry of `uid` as seen by `proc` (its container's files for container processes). */
  user(uid: number, proc: ProcessInfo): UserEntry | undefined;
  /** The group entry of `gid` as seen by `proc`. */
  group(gid: number, proc: ProcessInfo): UserEntry | undefined;
  /** Environment of `proc`, read on demand (from /proc when live). */
  env(proc: ProcessInfo): string[];
}

/** A process (thread group): what its threads share. */
export class ProcessInfo {
  /** Thread group id (host pid namespace). */
  pid: number;
  /** Parent process id (host namespace); 0 when none. */
  ppid = 0;
  /** Pid, session, process group as seen inside the process's pid namespace (vpid = pid on the
   * host); pgid in the host namespace. -1 while unknown. */
  vpid = -1;
  sid = -1;
  vpgid = -1;
  pgid = -1;
  /** Command name of the main thread. */
  comm = "";
  /** argv[0] (Falco's `proc.exe`). */
  exe = "";
  /** Full path of the executable (`proc.exepath`). */
  exepath = "";
  /** argv[1..]. */
  args: string[] = [];
  /** Environment, when known; undefined means "not loaded yet" (see {@link StateView.env}). */
  env: string[] | undefined = undefined;
  /** Working directory, absolute without a trailing slash; "" while unknown. */
  cwd = "";
  /** Root directory of the process (for container processes: where /proc/PID/root leads). */
  root = "/";
  /** Controlling terminal (device number), 0 for none. */
  tty = 0;
  /** Audit login uid; -1 when unset (0xffffffff). */
  loginuid = -1;
  /** Process start (clone) time, UTC ns; 0n when unknown. */
  startTs = 0n;
  /** Start of the process's pid namespace, UTC ns; 0n when unknown. */
  pidnsInitStartTs = 0n;
  /** Executable inode and its times (UTC ns); 0 when unknown. */
  exeIno = 0;
  exeInoCtime = 0n;
  exeInoMtime = 0n;
  exeFromMemfd = false;
  exeUpperLayer = false;
  exeLowerLayer = false;
  exeWritable = false;
  /** File descriptor limit (RLIMIT_NOFILE), 0 when unknown. */
  fdlimit = 0;
  /** Memory in KiB, as last reported. */
  vmSize = 0;
  vmRss = 0;
  vmSwap = 0;
  /** cgroup memberships as `controller=path` (`/path` alone on cgroup v2). */
  cgroups: string[] = [];
  /** Full container id, "" for host processes. */
  containerId = "";
  /** The process's file descriptors. */
  fds: FdTable = new FdTable();
  /** Threads of this process currently alive in the table. */
  threads = 0;
  /** Child processes currently in the table (kept so exits can re-parent them). */
  children: Set<ProcessInfo> | undefined = undefined;
  /** The process adopts orphaned descendants (prctl PR_SET_CHILD_SUBREAPER). */
  subreaper = false;
  /** The store this process lives in (ancestry, containers, users). */
  state: StateView;

  constructor(pid: number, state: StateView) {
    this.pid = pid;
    this.state = state;
  }

  /** The parent process, if it is in the table. */
  get parent(): ProcessInfo | undefined {
    return this.ppid > 0 && this.ppid !== this.pid ? this.state.process(this.ppid) : undefined;
  }
}

/** A thread. Process-wide data lives in {@link ThreadInfo.proc}; flat getters mirror it. */
export class ThreadInfo {
  tid: number;
  /** Thread id inside its pid namespace; -1 when unknown. */
  vtid = -1;
  /** Kernel command name of this thread (15 characters at most). */
  comm = "";
  uid = 0;
  gid = 0;
  euid = 0;
  egid = 0;
  /** Capability sets as 64-bit masks. */
  capInheritable = 0n;
  capPermitted = 0n;
  capEffective = 0n;
  /** The fd of this thread's last enter event (old captures: exit events may lack it). */
  lastFd = -1;
  /** This thread's last enter event (old captures): parameters its exit event lacks. */
  lastEnter: Event | undefined = undefined;
  /** Sequence number of the last event of this thread (for purging idle threads). */
  lastSeen = 0;
  /** The process this thread belongs to. */
  proc: ProcessInfo;

  constructor(tid: number, proc: ProcessInfo) {
    this.tid = tid;
    this.proc = proc;
  }

  /** True for the thread whose tid is the process id. */
  get isMain(): boolean {
    return this.tid === this.proc.pid;
  }
  get pid(): number {
    return this.proc.pid;
  }
  /** Parent process id. */
  get ptid(): number {
    return this.proc.ppid;
  }
  get exe(): string {
    return this.proc.exe;
  }
  get exepath(): string {
    return this.proc.exepath;
  }
  get args(): string[] {
    return this.proc.args;
  }
  get cwd(): string {
    return this.proc.cwd;
  }
  get fds(): FdTable {
    return this.proc.fds;
  }
  get containerId(): string {
    return this.proc.containerId;
  }
}
