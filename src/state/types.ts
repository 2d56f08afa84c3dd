/**
 * Shapes of the state that enrichment attaches to events: threads/processes and their file
 * descriptors. Field extractors read these through the event (`ev.thread`, `ev.fdInfo`) and the
 * thread table (`ThreadInfo.table`) for ancestry.
 * @module
 */

/** A file descriptor of a process. */
export interface FdInfo {
  /** Descriptor number. */
  num: number;
  /** Falco's type character: f file, d directory, 4 ipv4, 6 ipv6, u unix, p pipe, e eventfd,
   * s signalfd, l eventpoll, i inotify, t timerfd, n netlink, b bpf, o other/unknown, ... */
  typechar: string;
  /** Resolved name: absolute normalised path, or `sip:sport->dip:dport` for sockets. */
  name: string;
  /** Name as the process passed it (before resolution), when it differs. */
  nameraw?: string;
  /** Open flags (scap encoding) for files. */
  openFlags?: number;
  /** Device and inode for files, when known. */
  dev?: number;
  ino?: number;
  /** Socket details. */
  sockFamily?: number;
  l4proto?: string;
  sip?: string;
  sport?: number;
  dip?: string;
  dport?: number;
  /** True when this side is the server (accepted or listening socket). */
  isServer?: boolean;
  connected?: boolean;
  /** True when the name changed after opening (e.g. a socket that connected). */
  nameChanged?: boolean;
}

/** A thread (and, through its leader, its process). */
export interface ThreadInfo {
  tid: number;
  /** Process id (thread group id). */
  pid: number;
  /** Parent process id. */
  ptid: number;
  /** Session id, process group id, virtual ids inside a pid namespace. */
  sid: number;
  vpgid: number;
  pgid: number;
  vtid: number;
  vpid: number;
  /** Kernel command name (15 chars max). */
  comm: string;
  /** argv[0] as Falco's `proc.exe`. */
  exe: string;
  /** Full path of the executable as the kernel resolved it. */
  exepath: string;
  /** argv[1..]. */
  args: string[];
  /** Environment, when known (loaded on demand). */
  env?: string[];
  cwd: string;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  loginuid: number;
  tty: number;
  /** Capability sets as 64-bit masks. */
  capInheritable: bigint;
  capPermitted: bigint;
  capEffective: bigint;
  /** Process start (clone) time, UTC ns. */
  startTs: bigint;
  /** Executable inode and its times, and where it lives. */
  exeIno: number;
  exeInoCtime: bigint;
  exeInoMtime: bigint;
  exeFromMemfd: boolean;
  exeUpperLayer: boolean;
  exeWritable: boolean;
  /** cgroup paths, `subsystem=path` or `path` (v2). */
  cgroups: string[];
  /** Full container id, or "" for host processes. */
  containerId: string;
  /** The process's file descriptors (shared by all threads of the process). */
  fds: Map<number, FdInfo>;
}
