/**
 * Symbolic rendering of flag, enum, errno and signal values, as Falco rules and sysdig output
 * show them (`O_RDONLY|O_CLOEXEC`, `PTRACE_ATTACH`, `AF_PACKET`, `ENOENT`, `SIGKILL`).
 *
 * @example
 * ```ts
 * import { renderFlags } from "./flags.ts";
 * renderFlags("file_flags", 0x1 | 0x2000, false); // "O_RDONLY|O_CLOEXEC" (scap bit values)
 * ```
 * @module
 */
import { FLAG_TABLES } from "./flag_data.ts";
import { ERRNO_NAMES, SIGNAL_NAMES } from "./errno_data.ts";

export { FLAG_TABLES };

/** Tables whose values are enumerations (compared for equality, not as bits). */
const ENUM_TABLES = new Set([
  "socket_families",
  "futex_operations",
  "lseek_whence",
  "shutdown_how",
  "rlimit_resources",
  "fcntl_commands",
  "sockopt_levels",
  "sockopt_options",
  "ptrace_requests",
  "quotactl_cmds",
  "quotactl_types",
  "quotactl_quota_fmts",
  "semctl_commands",
  "io_uring_register_opcodes",
  "fsconfig_cmds",
  "prctl_options",
  "keyctl_operations",
  "bpf_commands",
  "anon_inode_fd_types",
]);

/** True when `table` holds enumeration values rather than bit flags. */
export function isEnumTable(table: string): boolean {
  return ENUM_TABLES.has(table);
}

/**
 * Renders `value` with the names of `table`. Bit tables: every name whose bits are all set, in
 * table order, each consuming its bits; a zero-valued name only when the value is zero.
 * Enumerations (`asEnum`): the first name with exactly that value. Unknown values give "".
 */
export function renderFlags(table: string, value: number, asEnum = isEnumTable(table)): string {
  const entries = FLAG_TABLES[table];
  if (!entries) return "";
  if (asEnum) {
    for (const [name, v] of entries) if (v === value) return name;
    return "";
  }
  let rest = value >>> 0;
  const names: string[] = [];
  for (const [name, v] of entries) {
    if (v === 0) {
      if (value === 0) names.push(name);
    } else if ((rest & v) === v >>> 0) {
      names.push(name);
      rest = (rest & ~v) >>> 0;
    }
  }
  return names.join("|");
}

/** The value of a symbolic name in `table` (e.g. `PTRACE_ATTACH`), if it exists. */
export function flagValue(table: string, name: string): number | undefined {
  for (const [n, v] of FLAG_TABLES[table] ?? []) if (n === name) return v;
  return undefined;
}

/** The value of `name` in `table`; a name missing from the tables is a programming error. */
function scapValue(table: string, name: string): number {
  const v = flagValue(table, name);
  if (v === undefined) throw new Error(`${name} is not in the ${table} table`);
  return v;
}

// Values the state tracker and the fields test, named once and read from the tables above
// (scap's numbering, which differs from the kernel's for open flags).
/** clone flag: share the fd table. */
export const CLONE_FILES: number = scapValue("clone_flags", "CLONE_FILES");
/** clone flag: the child's parent is the caller's parent. */
export const CLONE_PARENT: number = scapValue("clone_flags", "CLONE_PARENT");
/** clone flag: a thread of the caller's process (also marks threads in capture process lists). */
export const CLONE_THREAD: number = scapValue("clone_flags", "CLONE_THREAD");
/** clone flag: a new user namespace. */
export const CLONE_NEWUSER: number = scapValue("clone_flags", "CLONE_NEWUSER");
/** open flag: read only. */
export const O_RDONLY: number = scapValue("file_flags", "O_RDONLY");
/** open flag: write only. */
export const O_WRONLY: number = scapValue("file_flags", "O_WRONLY");
/** open flag: create the file. */
export const O_CREAT: number = scapValue("file_flags", "O_CREAT");
/** open flag: the path must be a directory. */
export const O_DIRECTORY: number = scapValue("file_flags", "O_DIRECTORY");
/** open flag: close on exec. */
export const O_CLOEXEC: number = scapValue("file_flags", "O_CLOEXEC");
/** open flag: an unnamed temporary file. */
export const O_TMPFILE: number = scapValue("file_flags", "O_TMPFILE");
/** open result flag: the call created the file. */
export const O_F_CREATED: number = scapValue("file_flags", "O_F_CREATED");
/** open result flag: the file is on an overlay file system's upper layer. */
export const FD_UPPER_LAYER: number = scapValue("file_flags", "FD_UPPER_LAYER");
/** open result flag: the file is on an overlay file system's lower layer. */
export const FD_LOWER_LAYER: number = scapValue("file_flags", "FD_LOWER_LAYER");
/** execve flag: the caller can write the executable. */
export const EXE_WRITABLE: number = scapValue("execve_flags", "EXE_WRITABLE");
/** execve flag: the executable is on an overlay upper layer. */
export const EXE_UPPER_LAYER: number = scapValue("execve_flags", "EXE_UPPER_LAYER");
/** execve flag: the executable is a memfd. */
export const EXE_FROM_MEMFD: number = scapValue("execve_flags", "EXE_FROM_MEMFD");
/** execve flag: the executable is on an overlay lower layer. */
export const EXE_LOWER_LAYER: number = scapValue("execve_flags", "EXE_LOWER_LAYER");
/** fcntl command: duplicate an fd. */
export const F_DUPFD: number = scapValue("fcntl_commands", "F_DUPFD");
/** fcntl command: set the fd flags (close on exec). */
export const F_SETFD: number = scapValue("fcntl_commands", "F_SETFD");
/** fcntl command: duplicate an fd, close on exec. */
export const F_DUPFD_CLOEXEC: number = scapValue("fcntl_commands", "F_DUPFD_CLOEXEC");
/** prctl option: set the thread's name. */
export const PR_SET_NAME: number = scapValue("prctl_options", "PR_SET_NAME");
/** prctl option: become a child subreaper. */
export const PR_SET_CHILD_SUBREAPER: number = scapValue("prctl_options", "PR_SET_CHILD_SUBREAPER");
/** close_range flag: mark close on exec instead of closing. */
export const CLOSE_RANGE_CLOEXEC: number = scapValue("close_range_flags", "CLOSE_RANGE_CLOEXEC");

/** errno name for a positive or negative errno value (`ENOENT`), or "" when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[Math.abs(errno)] ?? "";
}

/** Signal name (`SIGKILL`), or "" when unknown. */
export function signalName(sig: number): string {
  return SIGNAL_NAMES[sig] ?? "";
}

/** Address family name in scap numbering (`AF_INET`), or "" when unknown. */
export function familyName(family: number): string {
  return renderFlags("socket_families", family, true);
}
