/**
 * The kinds kernel drops are counted by: when the ring buffer is full, the probe counts the lost
 * record under the kind of its event type, so that /metrics tells which state was lost (a lost
 * clone or execve leaves a process unknown, a lost open or close an fd table wrong). These are
 * Falco's `n_drops_buffer` categories, and the events each one counts.
 *
 * @example
 * ```ts
 * import { dropKindTable, DROP_KINDS } from "./drop_kinds.ts";
 * const table = dropKindTable(); // event id -> 1 + index in DROP_KINDS, 0 for no kind
 * ```
 * @module
 */
import { EVENT_COUNT, eventIdsByName } from "./table.ts";

/** The kinds, in the probe's counter order (bpf/record.h DROP_KINDS). */
export const DROP_KINDS = [
  "clone_fork",
  "execve",
  "connect",
  "open",
  "dir_file",
  "other_interest",
  "close",
  "proc",
] as const;

/** A kind of dropped record. */
export type DropKind = typeof DROP_KINDS[number];

/** The events each kind counts. */
const KIND_EVENTS: Record<DropKind, readonly string[]> = {
  clone_fork: ["clone", "clone3", "fork", "vfork"],
  execve: ["execve", "execveat"],
  connect: ["connect"],
  open: ["open", "creat", "openat", "openat2", "open_by_handle_at"],
  dir_file: [
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchown",
    "fchownat",
    "link",
    "linkat",
    "mkdir",
    "mkdirat",
    "mount",
    "umount",
    "umount2",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
  ],
  other_interest: [
    "bpf",
    "setpgid",
    "ptrace",
    "seccomp",
    "setns",
    "setresgid",
    "setresuid",
    "setsid",
    "unshare",
    "capset",
    "keyctl",
  ],
  close: ["close"],
  proc: ["procexit"],
};

/** Per event id (512 entries, the probe's table): 1 + the index of its kind, 0 for none. */
export function dropKindTable(): Uint8Array {
  const table = new Uint8Array(512);
  DROP_KINDS.forEach((kind, i) => {
    for (const name of KIND_EVENTS[kind]) {
      for (const id of eventIdsByName(name)) if (id < EVENT_COUNT && id < 512) table[id] = i + 1;
    }
  });
  return table;
}
