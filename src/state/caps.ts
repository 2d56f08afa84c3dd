/**
 * Capability sets rendered as Falco prints them: the names of the set bits, lowest first,
 * separated by spaces (`CAP_CHOWN CAP_SYS_ADMIN`).
 *
 * @example
 * ```ts
 * import { capsToString } from "./caps.ts";
 * capsToString((1n << 21n) | 1n); // "CAP_CHOWN CAP_SYS_ADMIN"
 * ```
 * @module
 */

/** Linux capability names by bit number (include/uapi/linux/capability.h). */
export const CAP_NAMES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

const cache = new Map<bigint, string>();

/** Renders a capability mask; unknown high bits are ignored. Results are memoised. */
export function capsToString(mask: bigint): string {
  let s = cache.get(mask);
  if (s !== undefined) return s;
  const names: string[] = [];
  for (let i = 0; i < CAP_NAMES.length; i++) {
    if ((mask >> BigInt(i)) & 1n) names.push(CAP_NAMES[i]);
  }
  s = names.join(" ");
  if (cache.size < 1024) cache.set(mask, s);
  return s;
}

/** Parses a hexadecimal mask as /proc/PID/status prints it (`CapEff: 000001ffffffffff`). */
export function parseCapHex(hex: string): bigint {
  return hex ? BigInt("0x" + hex.trim()) : 0n;
}
