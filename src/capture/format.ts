/**
 * Constants of the scap capture file format (a pcapng-style sequence of blocks). These are
 * format facts: block type numbers, fd type numbers and header sizes that any reader or writer
 * of the format must agree on.
 *
 * Every block is `u32 type · u32 total length · body · padding to 4 bytes · u32 total length`,
 * little endian. A file starts with a section header block; metadata blocks (machine, process,
 * fd, interface and user lists) come next, then one block per event.
 * @module
 */
import { FD_TYPE } from "../state/model.ts";

/** Section header block type (`\r\n\n\r`). */
export const SHB_BLOCK = 0x0a0d0d0a;
/** Byte-order magic inside the section header. */
export const SHB_MAGIC = 0x1a2b3c4d;

/** Block types, by what they hold. Several have older numbers kept for old captures. */
export const BLOCK = {
  MACHINE: 0x201,
  MACHINE_INT: 0x8002abcd,
  PROCS_V1: 0x202,
  PROCS_V1_INT: 0x8000abcd,
  PROCS_V2: 0x207,
  PROCS_V2_INT: 0x8013abcd,
  PROCS_V3: 0x209,
  PROCS_V3_INT: 0x8014abcd,
  PROCS_V4: 0x210,
  PROCS_V5: 0x211,
  PROCS_V6: 0x212,
  PROCS_V7: 0x213,
  PROCS_V8: 0x214,
  PROCS_V9: 0x215,
  FDS: 0x203,
  FDS_INT: 0x8001abcd,
  FDS_V2: 0x218,
  EVENT: 0x204,
  EVENT_INT: 0x8010abcd,
  EVENT_V2: 0x216,
  EVENT_V2_LARGE: 0x221,
  EVENT_FLAGS: 0x208,
  EVENT_FLAGS_V2: 0x217,
  EVENT_FLAGS_V2_LARGE: 0x222,
  IFACES: 0x205,
  IFACES_INT: 0x8011abcd,
  IFACES_V2: 0x219,
  USERS: 0x206,
  USERS_INT: 0x8012abcd,
  USERS_V2: 0x220,
} as const;

/** Process list block types and their layout version (1..9). */
export const PROCS_VERSION: ReadonlyMap<number, number> = new Map([
  [BLOCK.PROCS_V1, 1],
  [BLOCK.PROCS_V1_INT, 1],
  [BLOCK.PROCS_V2, 2],
  [BLOCK.PROCS_V2_INT, 2],
  [BLOCK.PROCS_V3, 3],
  [BLOCK.PROCS_V3_INT, 3],
  [BLOCK.PROCS_V4, 4],
  [BLOCK.PROCS_V5, 5],
  [BLOCK.PROCS_V6, 6],
  [BLOCK.PROCS_V7, 7],
  [BLOCK.PROCS_V8, 8],
  [BLOCK.PROCS_V9, 9],
]);

/** Event block types and what their body looks like. */
export interface EventBlockKind {
  /** The body starts with u16 cpu then u32 dump flags. */
  readonly flags: boolean;
  /** The event header has the u32 nparams field (v2); v1 headers lack it. */
  readonly v2: boolean;
}

/** Event block types. */
export const EVENT_BLOCKS: ReadonlyMap<number, EventBlockKind> = new Map([
  [BLOCK.EVENT, { flags: false, v2: false }],
  [BLOCK.EVENT_INT, { flags: false, v2: false }],
  [BLOCK.EVENT_V2, { flags: false, v2: true }],
  [BLOCK.EVENT_V2_LARGE, { flags: false, v2: true }],
  [BLOCK.EVENT_FLAGS, { flags: true, v2: false }],
  [BLOCK.EVENT_FLAGS_V2, { flags: true, v2: true }],
  [BLOCK.EVENT_FLAGS_V2_LARGE, { flags: true, v2: true }],
]);

/** Event header size in v1 blocks: u64 ts · u64 tid · u32 len · u16 type. */
export const EVENT_HEADER_V1 = 22;
/** Event header size in v2 blocks: the v1 header and u32 nparams. */
export const EVENT_HEADER_V2 = 26;

/** Largest block a non-large event block may have (libscap's read buffer). */
export const MAX_SMALL_EVENT_BLOCK = 65536 + 12;

/** Dump flag of an event block: the event only updates state, it is not shown or evaluated. */
export const DUMP_STATE_ONLY = 1;

/** Fd types of the fd list (scap_fd_type): the state's own numbering, which is the scap one. */
export const FD = FD_TYPE;

/** Falco's fd type character for each scap fd type (`fd.typechar`). */
export const FD_TYPECHAR: Readonly<Record<number, string>> = {
  [FD.FILE]: "f",
  [FD.FILE_V2]: "f",
  [FD.DIRECTORY]: "d",
  [FD.IPV4_SOCK]: "4",
  [FD.IPV4_SERVSOCK]: "4",
  [FD.IPV6_SOCK]: "6",
  [FD.IPV6_SERVSOCK]: "6",
  [FD.FIFO]: "p",
  [FD.UNIX_SOCK]: "u",
  [FD.EVENT]: "e",
  [FD.SIGNALFD]: "s",
  [FD.EVENTPOLL]: "l",
  [FD.INOTIFY]: "i",
  [FD.TIMERFD]: "t",
  [FD.NETLINK]: "n",
  [FD.BPF]: "b",
  [FD.USERFAULTFD]: "u",
  [FD.IOURING]: "r",
  [FD.MEMFD]: "m",
  [FD.PIDFD]: "P",
  [FD.UNSUPPORTED]: "X",
  [FD.UNKNOWN]: "o",
};

/** Layer-4 protocol numbers of socket fds (scap_l4_proto), and their names. */
export const L4_PROTO_NAMES: Readonly<Record<number, string>> = {
  0: "unknown",
  1: "na",
  2: "tcp",
  3: "udp",
  4: "icmp",
  5: "raw",
};

/** Interface list entry types. */
export const IFACE = { IPV4: 1, IPV6: 2, IPV4_NOLINKSPEED: 3, IPV6_NOLINKSPEED: 4 } as const;

/** Human name of a block type, for error messages. */
export function blockTypeName(type: number): string {
  if (type === SHB_BLOCK) return "section header";
  if (type === BLOCK.MACHINE || type === BLOCK.MACHINE_INT) return "machine info";
  if (PROCS_VERSION.has(type)) return `process list v${PROCS_VERSION.get(type)}`;
  if (type === BLOCK.FDS || type === BLOCK.FDS_INT || type === BLOCK.FDS_V2) return "fd list";
  if (EVENT_BLOCKS.has(type)) return "event";
  if (type === BLOCK.IFACES || type === BLOCK.IFACES_INT || type === BLOCK.IFACES_V2) {
    return "interface list";
  }
  if (type === BLOCK.USERS || type === BLOCK.USERS_INT || type === BLOCK.USERS_V2) {
    return "user list";
  }
  return "unknown";
}

/** `0x…` rendering of a block type. */
export function hexType(type: number): string {
  return "0x" + (type >>> 0).toString(16);
}
