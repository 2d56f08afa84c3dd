/**
 * The numbers of the scap capture format's event table: parameter types (PT), print formats
 * (PF), event categories (EC) and flags (EF), as falcosecurity/libs numbers them. The generated
 * table (table_data.ts) is written in these numbers by scripts/gen_event_tables.ts, and
 * table.ts, which decodes it, re-exports them.
 *
 * @example
 * ```ts
 * import { EC, PT } from "./scap_codes.ts";
 * PT.FSPATH; // 17
 * (EC.FILE | EC.SYSCALL) & 0x3f; // EC.FILE
 * ```
 * @module
 */

/** Parameter types (numbering of the scap format). */
export const PT = {
  NONE: 0,
  INT8: 1,
  INT16: 2,
  INT32: 3,
  INT64: 4,
  UINT8: 5,
  UINT16: 6,
  UINT32: 7,
  UINT64: 8,
  CHARBUF: 9,
  BYTEBUF: 10,
  ERRNO: 11,
  SOCKADDR: 12,
  SOCKTUPLE: 13,
  FD: 14,
  PID: 15,
  FDLIST: 16,
  FSPATH: 17,
  SYSCALLID: 18,
  SIGTYPE: 19,
  RELTIME: 20,
  ABSTIME: 21,
  PORT: 22,
  L4PROTO: 23,
  SOCKFAMILY: 24,
  BOOL: 25,
  IPV4ADDR: 26,
  DYN: 27,
  FLAGS8: 28,
  FLAGS16: 29,
  FLAGS32: 30,
  UID: 31,
  GID: 32,
  DOUBLE: 33,
  SIGSET: 34,
  CHARBUFARRAY: 35,
  CHARBUF_PAIR_ARRAY: 36,
  IPV4NET: 37,
  IPV6ADDR: 38,
  IPV6NET: 39,
  IPADDR: 40,
  IPNET: 41,
  MODE: 42,
  FSRELPATH: 43,
  ENUMFLAGS8: 44,
  ENUMFLAGS16: 45,
  ENUMFLAGS32: 46,
  FD32: 47,
  PID32: 48,
} as const;

/** How a numeric parameter is printed. */
export const PF = { NA: 0, DEC: 1, HEX: 2, PADDED_DEC: 3, ID: 4, DIR: 5, OCT: 6 } as const;

/** Event categories (low bits) and sources (high bits). */
export const EC = {
  UNKNOWN: 0,
  OTHER: 1,
  FILE: 2,
  NET: 3,
  IPC: 4,
  MEMORY: 5,
  PROCESS: 6,
  SLEEP: 7,
  SYSTEM: 8,
  SIGNAL: 9,
  USER: 10,
  TIME: 11,
  PROCESSING: 12,
  IO_READ: 32,
  IO_WRITE: 33,
  IO_OTHER: 34,
  WAIT: 1 << 6,
  SCHEDULER: 1 << 7,
  INTERNAL: 1 << 8,
  SYSCALL: 1 << 9,
  TRACEPOINT: 1 << 10,
  PLUGIN: 1 << 11,
  METAEVENT: 1 << 12,
  ITER: 1 << 13,
} as const;

/** Event flags. */
export const EF = {
  NONE: 0,
  CREATES_FD: 1 << 0,
  DESTROYS_FD: 1 << 1,
  USES_FD: 1 << 2,
  READS_FROM_FD: 1 << 3,
  WRITES_TO_FD: 1 << 4,
  MODIFIES_STATE: 1 << 5,
  UNUSED: 1 << 6,
  WAITS: 1 << 7,
  SKIPPARSERESET: 1 << 8,
  OLD_VERSION: 1 << 9,
  LARGE_PAYLOAD: 1 << 11,
  CONVERTER_MANAGED: 1 << 12,
} as const;
