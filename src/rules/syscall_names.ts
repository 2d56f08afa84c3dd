/**
 * Syscall names that rules may use as `evt.type` values although they have no event type of
 * their own: such calls arrive as generic `syscall` events carrying the syscall's code.
 *
 * @example
 * ```ts
 * isSyscallName("truncate"); // true: it arrives as a generic syscall event
 * ```
 * @module
 */
import { SYSCALL_NAME_BY_SCAP_CODE } from "../events/syscalls.ts";

const NAMES = new Set(SYSCALL_NAME_BY_SCAP_CODE.values());

/** True for a known syscall name. */
export function isSyscallName(name: string): boolean {
  return NAMES.has(name);
}
