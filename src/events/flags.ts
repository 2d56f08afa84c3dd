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
