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
  "pidfd_getfd",
  "setsid",
  "setpgid",
];

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
