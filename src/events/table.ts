/**
 * The event table: every event type Saker knows, with its direction, category, flags and
 * parameters. One table drives the probe's record layout (the C side writes parameters in this
 * order), decoding, `saker capture` printing, `evt.arg.*` extraction and capture files.
 *
 * Ids, names and parameter layouts are those of the scap capture format, so that live events,
 * Falco/sysdig captures and the files Saker writes share one numbering.
 *
 * @example
 * ```ts
 * import { EVENTS, eventIdsByName } from "./table.ts";
 * const [openatExit] = eventIdsByName("openat").filter((id) => EVENTS[id].dir === "<" && !EVENTS[id].old);
 * console.log(EVENTS[openatExit].params.map((p) => p.name)); // ["fd", "dirfd", "name", ...]
 * ```
 * @module
 */
import { EVENT_ROWS } from "./table_data.ts";

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

/**
 * How an integer parameter is read (see readIntParam in params.ts): signed or unsigned, and its
 * width. 0 for every other type.
 */
export const INT_KIND = { NONE: 0, S64: 1, U64: 2, U32: 3, S32: 4, U16: 5, S16: 6, U8: 7, S8: 8 };

/** The {@link INT_KIND} of a parameter type. */
export function intKindOf(type: number): number {
  switch (type) {
    case PT.INT64:
    case PT.ERRNO:
    case PT.FD:
    case PT.PID:
      return INT_KIND.S64;
    case PT.UINT64:
      return INT_KIND.U64;
    case PT.UINT32:
    case PT.FLAGS32:
    case PT.ENUMFLAGS32:
    case PT.UID:
    case PT.GID:
    case PT.MODE:
    case PT.SIGSET:
      return INT_KIND.U32;
    case PT.INT32:
    case PT.FD32:
    case PT.PID32:
      return INT_KIND.S32;
    case PT.UINT16:
    case PT.FLAGS16:
    case PT.ENUMFLAGS16:
    case PT.PORT:
    case PT.SYSCALLID:
      return INT_KIND.U16;
    case PT.INT16:
      return INT_KIND.S16;
    case PT.UINT8:
    case PT.FLAGS8:
    case PT.ENUMFLAGS8:
    case PT.SIGTYPE:
    case PT.L4PROTO:
    case PT.SOCKFAMILY:
      return INT_KIND.U8;
    case PT.INT8:
      return INT_KIND.S8;
  }
  return INT_KIND.NONE;
}

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

/** One parameter of an event. */
export interface ParamInfo {
  /** Name as used by `evt.arg.NAME` (e.g. `fd`, `name`, `flags`). */
  readonly name: string;
  /** One of {@link PT}. */
  readonly type: number;
  /** One of {@link PF}. */
  readonly fmt: number;
  /** Name of the symbolic flag table (see flags.ts) or dynamic-parameter table, if any. */
  readonly table?: string;
  /** For relative paths: index of the parameter holding the directory fd. */
  readonly dirfdParam?: number;
}

/** One event type. */
export interface EventInfo {
  readonly id: number;
  /** Event name as rules use it in `evt.type` (e.g. `openat`). */
  readonly name: string;
  /** `>` for enter events, `<` for exit events. */
  readonly dir: ">" | "<";
  /** Raw category bits, see {@link EC}. */
  readonly category: number;
  /** Raw flags, see {@link EF}. */
  readonly flags: number;
  readonly params: readonly ParamInfo[];
  /** True when the format keeps this event only for old captures. */
  readonly old: boolean;
  /** True for placeholders that no driver emits. */
  readonly unused: boolean;
  /** True for events whose parameter lengths are 32-bit. */
  readonly largePayload: boolean;
  /** Index of each parameter by name. */
  readonly paramIndex: ReadonlyMap<string, number>;
  /** The {@link INT_KIND} of each parameter (integers are read without the general decoder). */
  readonly intKinds: Uint8Array;
  /** How many of `params` the scap format defines (the rest are Saker's own additions, which
   * live records carry and capture files leave out). */
  readonly scapParamCount: number;
}

/**
 * Parameters Saker's probe appends to some events beyond the scap layout, by event id: things
 * state needs that the format's execve record lacks (session id, real uid/gid, namespace ids).
 */
const EXTRA_PARAMS: Record<number, ParamInfo[]> = {};
for (const id of [293, 331]) { // execve, execveat (exit)
  EXTRA_PARAMS[id] = [
    { name: "sid", type: 15, fmt: 1 },
    { name: "ruid", type: 31, fmt: 1 },
    { name: "rgid", type: 32, fmt: 1 },
    { name: "vpid", type: 15, fmt: 1 },
    { name: "vtid", type: 15, fmt: 1 },
  ];
}

/** The value of `name` in `table`; a name the table lacks is a programming error. */
function valueOf(table: Readonly<Record<string, number>>, name: string, row: number): number {
  const v = table[name];
  if (v === undefined) throw new Error(`event table row ${row}: unknown name ${name}`);
  return v;
}

/** `FILE|SYSCALL` → EC.FILE | EC.SYSCALL (names as table_data.ts writes them). */
function namedBits(table: Readonly<Record<string, number>>, names: string, row: number): number {
  let v = 0;
  for (const n of names.split("|")) if (n !== "") v |= valueOf(table, n, row);
  return v;
}

function decodeRow(id: number, row: readonly [string, string, string, string]): EventInfo {
  const [name, categoryNames, flagNames, spec] = row;
  const category = namedBits(EC, categoryNames, id);
  const flags = namedBits(EF, flagNames, id);
  const params: ParamInfo[] = spec === "" ? [] : spec.split(" ").map((p) => {
    const [pname, type, fmt, extra] = p.split(":");
    const info: { -readonly [K in keyof ParamInfo]: ParamInfo[K] } = {
      name: pname,
      type: valueOf(PT, type, id),
      fmt: valueOf(PF, fmt, id),
    };
    if (extra?.startsWith("@")) info.dirfdParam = Number(extra.slice(1));
    else if (extra) info.table = extra;
    return info;
  });
  const scapParamCount = params.length;
  params.push(...(EXTRA_PARAMS[id] ?? []));
  return {
    id,
    name,
    scapParamCount,
    dir: id % 2 === 0 ? ">" : "<",
    category,
    flags,
    params,
    old: (flags & EF.OLD_VERSION) !== 0,
    unused: (flags & EF.UNUSED) !== 0,
    largePayload: (flags & EF.LARGE_PAYLOAD) !== 0,
    paramIndex: new Map(params.map((p, i) => [p.name, i])),
    intKinds: Uint8Array.from(params, (p) => intKindOf(p.type)),
  };
}

/** Every event type, indexed by event id. */
export const EVENTS: readonly EventInfo[] = EVENT_ROWS.map((row, id) => decodeRow(id, row));

/** Number of event ids. */
export const EVENT_COUNT: number = EVENTS.length;

const idsByName = new Map<string, number[]>();
for (const e of EVENTS) {
  if (e.unused || e.name === "NA") continue;
  let list = idsByName.get(e.name);
  if (!list) idsByName.set(e.name, list = []);
  list.push(e.id);
}

/** All event ids (enter and exit, every version) carrying this event name. */
export function eventIdsByName(name: string): readonly number[] {
  return idsByName.get(name) ?? [];
}

/** Every distinct event name, sorted. */
export function eventNames(): string[] {
  return [...idsByName.keys()].sort();
}

const paramTables = new Map<string, Int8Array>();

/**
 * Where the parameter called `name` sits in each event type: an array indexed by event id, -1
 * for types without it. Hot paths read `ev.param(table[ev.type])` (an array read) instead of
 * looking the name up in `paramIndex` (a Map lookup) for every event.
 */
export function paramIndexTable(name: string): Int8Array {
  let t = paramTables.get(name);
  if (t === undefined) {
    t = new Int8Array(EVENTS.length).fill(-1);
    for (const e of EVENTS) t[e.id] = e.paramIndex.get(name) ?? -1;
    paramTables.set(name, t);
  }
  return t;
}

/** The newest (non-old) exit event id for a name, as the live probe emits it. */
export function currentExitId(name: string): number | undefined {
  const ids = eventIdsByName(name).filter((id) => EVENTS[id].dir === "<" && !EVENTS[id].old);
  return ids.length > 0 ? ids[ids.length - 1] : undefined;
}

const CATEGORY_NAMES: Record<number, string> = {
  [EC.UNKNOWN]: "unknown",
  [EC.OTHER]: "other",
  [EC.FILE]: "file",
  [EC.NET]: "net",
  [EC.IPC]: "IPC",
  [EC.MEMORY]: "memory",
  [EC.PROCESS]: "process",
  [EC.SLEEP]: "sleep",
  [EC.SYSTEM]: "system",
  [EC.SIGNAL]: "signal",
  [EC.USER]: "user",
  [EC.TIME]: "time",
  [EC.PROCESSING]: "processing",
  [EC.IO_READ]: "IO_READ",
  [EC.IO_WRITE]: "IO_WRITE",
  [EC.IO_OTHER]: "IO_OTHER",
  [EC.WAIT]: "wait",
  [EC.SCHEDULER]: "scheduler",
  [EC.INTERNAL]: "internal",
};

/** The category name printed by `evt.category` (file, net, process, ...). */
export function categoryName(category: number): string {
  const low = category & 0x3f;
  if (low !== 0) return CATEGORY_NAMES[low] ?? "unknown";
  for (const bit of [EC.WAIT, EC.SCHEDULER, EC.INTERNAL]) {
    if (category & bit) return CATEGORY_NAMES[bit];
  }
  return "unknown";
}
