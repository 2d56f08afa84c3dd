/**
 * x86_64 system calls: numbers, names, which ones the probe records with a dedicated event
 * (the others get the generic `syscall` event), and the set the kernel filter lets through.
 *
 * @example
 * ```ts
 * import { syscallFilterFor } from "./syscalls.ts";
 * const filter = syscallFilterFor(["openat", "execve"]); // plus what state tracking needs
 * filter.has(257); // openat
 * ```
 * @module
 */
import { SYSCALL_ROWS } from "./syscall_data.ts";
import { EC, EF, eventIdsByName, EVENTS } from "./table.ts";

/** Syscall number by name. */
export const SYSCALL_NR: ReadonlyMap<string, number> = new Map(
  SYSCALL_ROWS.map(([nr, name]) => [name, nr]),
);

/** Syscall name by number. */
export const SYSCALL_NAME: ReadonlyMap<number, string> = new Map(
  SYSCALL_ROWS.map(([nr, name]) => [nr, name]),
);

/** scap's code for a syscall (used by generic events), by number. */
export const SCAP_SYSCALL_CODE: ReadonlyMap<number, number> = new Map(
  SYSCALL_ROWS.filter(([, , code]) => code >= 0).map(([nr, , code]) => [nr, code]),
);

/** Syscall name by scap code. */
export const SYSCALL_NAME_BY_SCAP_CODE: ReadonlyMap<number, string> = new Map(
  SYSCALL_ROWS.filter(([, , code]) => code >= 0).map(([, name, code]) => [code, name]),
);

/**
 * Calls that make an fd of an anonymous kernel object (events, signals, timers, inotify, epoll,
 * pidfds): no path, no socket. One list for state tracking and the rules' fd-history needs.
 */
export const ANON_FD_CREATORS: readonly string[] = [
  "eventfd",
  "eventfd2",
  "signalfd",
  "signalfd4",
  "timerfd_create",
  "inotify_init",
  "inotify_init1",
  "epoll_create",
  "epoll_create1",
  "pidfd_open",
];

/**
 * Syscalls with a dedicated handler in the probe (program `sx_<name>` in bpf/handlers_*.h). The
 * rest, when enabled, produce the generic event.
 */
export const HANDLED_SYSCALLS: readonly string[] = [
  "open",
  "openat",
  "openat2",
  "creat",
  "close",
  "dup",
  "dup2",
  "dup3",
  "pipe",
  "pipe2",
  "socket",
  "socketpair",
  "connect",
  "accept",
  "accept4",
  "bind",
  "listen",
  "sendto",
  "sendmsg",
  "recvfrom",
  "unlink",
  "unlinkat",
  "rename",
  "renameat",
  "renameat2",
  "mkdir",
  "mkdirat",
  "rmdir",
  "symlink",
  "symlinkat",
  "link",
  "linkat",
  "chmod",
  "fchmod",
  "fchmodat",
  "chown",
  "fchown",
  "fchownat",
  "lchown",
  "setuid",
  "setgid",
  "setresuid",
  "setresgid",
  "setreuid",
  "setregid",
  "setns",
  "unshare",
  "clone",
  "clone3",
  "fork",
  "vfork",
  "execve",
  "execveat",
  "ptrace",
  "mount",
  "umount2",
  "init_module",
  "finit_module",
  "memfd_create",
  "bpf",
  "prctl",
  "kill",
  "tgkill",
  "userfaultfd",
  "mprotect",
  "chdir",
  "fchdir",
  "capset",
  "chroot",
  "fcntl",
  "close_range",
  ...ANON_FD_CREATORS,
  "pidfd_getfd",
  "setsid",
  "setpgid",
  "getcwd",
];

/**
 * What state tracking needs whatever the rules say (Falco's "base syscalls"): process
 * lifecycle, credentials, working directory, and every call that creates, changes or closes a
 * file descriptor.
 */
export const STATE_SYSCALLS: readonly string[] = [
  "clone",
  "clone3",
  "fork",
  "vfork",
  "execve",
  "execveat",
  "open",
  "openat",
  "openat2",
  "creat",
  "close",
  "dup",
  "dup2",
  "dup3",
  "pipe",
  "pipe2",
  "socket",
  "socketpair",
  "connect",
  "accept",
  "accept4",
  "bind",
  "memfd_create",
  "userfaultfd",
  "chdir",
  "fchdir",
  "setuid",
  "setgid",
  "setresuid",
  "setresgid",
  "setreuid",
  "setregid",
  "capset",
  "setns",
  "unshare",
  "prctl",
  "chroot",
  "fcntl",
  "close_range",
  "listen",
  ...ANON_FD_CREATORS,
  "pidfd_getfd",
  "setsid",
  "setpgid",
];

/**
 * How much of the fd table state tracking keeps, as the rules need it
 * (src/rules/state_needs.ts): `all` as Falco, `sockets` (only what creates and changes sockets,
 * the probe naming the fd's inode where rules read them), `none`.
 */
export type FdHistory = "none" | "sockets" | "all";

/** State calls kept only for the fd table's files, pipes and other non-socket fds. */
const FILE_FD_CALLS = new Set([
  "open",
  "openat",
  "openat2",
  "creat",
  "close",
  "pipe",
  "pipe2",
  "memfd_create",
  "userfaultfd",
  ...ANON_FD_CREATORS,
  "pidfd_getfd",
]);

/** State calls kept only for the fd table's sockets (and the calls that copy or replace fds). */
const SOCKET_FD_CALLS = new Set([
  "socket",
  "socketpair",
  "accept",
  "accept4",
  "connect",
  "bind",
  "listen",
  "dup",
  "dup2",
  "dup3",
  "fcntl",
  "close_range",
]);

/**
 * The state calls for an fd history need: {@link STATE_SYSCALLS}, less the fd calls the need
 * does without (process, credential, working directory and namespace calls always stay).
 */
export function stateSyscalls(fdHistory: FdHistory = "all"): string[] {
  return STATE_SYSCALLS.filter((n) =>
    fdHistory === "all" ||
    !(FILE_FD_CALLS.has(n) || (fdHistory === "none" && SOCKET_FD_CALLS.has(n)))
  );
}

/** Event names that are not syscalls but come from scheduler tracepoints (always on). */
const SCHED_EVENTS = new Set(["procexit"]);

/**
 * The set of syscall numbers to capture: the syscalls behind `eventNames` (rule event types;
 * unknown names and non-syscall events are ignored) plus {@link STATE_SYSCALLS} unless
 * `withState` is false. `"all"` captures every syscall.
 */
export function syscallFilterFor(
  eventNames: Iterable<string> | "all",
  withState = true,
): Set<number> {
  if (eventNames === "all") return new Set(SYSCALL_NAME.keys());
  const out = new Set<number>();
  const add = (name: string) => {
    if (SCHED_EVENTS.has(name)) return;
    const nr = SYSCALL_NR.get(name);
    if (nr !== undefined) out.add(nr);
  };
  for (const name of eventNames) add(name);
  if (withState) { for (const name of STATE_SYSCALLS) add(name); }
  return out;
}

/** Events of each kind that Falco's syscall selection looks at, from the event table. */
function eventsWhere(pred: (category: number, flags: number) => boolean): Set<string> {
  const out = new Set<string>();
  for (const e of EVENTS) if (pred(e.category & 0x3f, e.flags)) out.add(e.name);
  out.delete("syscall"); // generic events stand for every other syscall
  return out;
}

const CHANGES_STATE = eventsWhere((_, flags) => (flags & EF.MODIFIES_STATE) !== 0);
const IO_EVENTS = eventsWhere((c) => c === EC.IO_READ || c === EC.IO_WRITE);

/**
 * Events left out of the kernel filter unless every event is asked for (`base_syscalls.all`,
 * `saker run -A`), as Falco does: reads and writes of data, which can come at very high rates,
 * and change no state. `saker run -i` lists them.
 */
export const IGNORED_EVENTS: readonly string[] = [...IO_EVENTS]
  .filter((n) => !CHANGES_STATE.has(n))
  .sort();

const NET_EVENTS = eventsWhere((c) => c === EC.NET);
const FD_EVENTS = eventsWhere((c) =>
  c === EC.FILE || c === EC.IO_READ || c === EC.IO_WRITE || c === EC.IO_OTHER
);

/** What `base_syscalls.repair` always adds: the calls that build and change a process. */
const REPAIR_BASE = [
  "clone",
  "clone3",
  "fork",
  "vfork",
  "execve",
  "execveat",
  "fchdir",
  "chdir",
  "chroot",
  "capset",
  "setgid",
  "setpgid",
  "setresgid",
  "setresuid",
  "setsid",
  "setuid",
  "prctl",
];

/**
 * The least set of state calls that keeps the state right for `names` (Falco's "repair"): the
 * process calls always; `socket` (and `getsockopt`) with network calls; `bind` with accept or
 * listen; `close` with network, file or I/O calls.
 */
export function repairSyscalls(names: ReadonlySet<string>): Set<string> {
  const out = new Set([...names, ...REPAIR_BASE]);
  const any = (set: ReadonlySet<string>) => [...names].some((n) => set.has(n));
  if (any(NET_EVENTS)) out.add("socket").add("getsockopt").add("close");
  if (names.has("accept") || names.has("accept4") || names.has("listen")) out.add("bind");
  if (any(FD_EVENTS)) out.add("close");
  return out;
}

/** Falco's `base_syscalls` section. */
export interface BaseSyscalls {
  /** Syscall names to add, or `!name` to remove; names given replace the state set. */
  custom_set: readonly string[];
  /** Add only the state calls the selected ones need instead of the whole state set. */
  repair: boolean;
  /** Keep the {@link IGNORED_EVENTS} the rules name. */
  all: boolean;
}

/** The syscalls to capture, and what the choice left out or added (for the logs). */
export interface SyscallSelection {
  /** Every event name to capture (state tracking's included), or "all". */
  names: ReadonlySet<string> | "all";
  /** Ignored events the rules name that were left out (base_syscalls.all is false). */
  ignored: string[];
  /** Names of custom_set that are neither a syscall nor an event. */
  unknown: string[];
  /**
   * The names state tracking needs every event of (no kernel predicate may drop them): the
   * state set; with custom_set or repair, every name chosen.
   */
  state: ReadonlySet<string>;
}

/**
 * Chooses the system calls to capture as Falco does: the rules' events plus the state set
 * ({@link stateSyscalls} for the fd history the rules need; all of {@link STATE_SYSCALLS} by
 * default), or plus the names `custom_set` gives instead of it; `repair` adds
 * only what the state needs for the selection; `!name` entries remove; the
 * {@link IGNORED_EVENTS} stay out unless `all`.
 *
 * @example
 * ```ts
 * import { selectSyscalls } from "./syscalls.ts";
 * const s = selectSyscalls(new Set(["openat", "write"]), { custom_set: [], repair: true, all: false });
 * s.ignored; // ["write"]
 * ```
 */
export function selectSyscalls(
  rules: ReadonlySet<string> | "all",
  base: BaseSyscalls,
  fdHistory: FdHistory = "all",
): SyscallSelection {
  const known = (n: string) => SYSCALL_NR.has(n) || eventIdsByName(n).length > 0;
  const positive = base.custom_set.filter((n) => !n.startsWith("!"));
  const negative = base.custom_set.filter((n) => n.startsWith("!")).map((n) => n.slice(1));
  const unknown = [...positive, ...negative].filter((n) => !known(n));
  if (rules === "all") return { names: "all", ignored: [], unknown, state: new Set() };
  let names = new Set<string>(rules);
  if (base.repair && positive.length === 0) names = repairSyscalls(names);
  else for (const n of positive.length > 0 ? positive : stateSyscalls(fdHistory)) names.add(n);
  for (const n of negative) names.delete(n);
  const ignored: string[] = [];
  if (!base.all) {
    for (const n of IGNORED_EVENTS) if (names.delete(n) && rules.has(n)) ignored.push(n);
  }
  if (base.repair && positive.length > 0) names = repairSyscalls(names);
  const custom = base.repair || positive.length > 0;
  return { names, ignored, unknown, state: custom ? names : new Set(stateSyscalls(fdHistory)) };
}
