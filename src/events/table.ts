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
import { EVENT_LAYOUTS, EVENT_PARAMS, EVENT_ROWS } from "./table_data.ts";
import { EC, EF, PF, PT } from "./scap_codes.ts";

export { EC, EF, PF, PT };

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
  /**
   * For paths the probe resolves: index of the (extra) parameter holding the directory the
   * kernel resolved a relative path against (empty when the path is absolute).
   */
  readonly dirParam?: number;
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
  /**
   * The {@link PT} type of each parameter, as `params[i].type`: parameter descriptions come in
   * several shapes (a dirfd, a table, a directory parameter), so reading `.type` from them is a
   * lookup V8 cannot specialise; a typed array read is one load.
   */
  readonly paramTypes: Uint8Array;
  /** How many of `params` the scap format defines (the rest are Saker's own additions, which
   * live records carry and capture files leave out). */
  readonly scapParamCount: number;
}

/**
 * Parameters Saker's probe appends to some events beyond the scap layout, by event name (the
 * newest exit version, the one the probe writes): facts that would otherwise come from earlier
 * events, so that state can do without them.
 *
 * - execve: session id, real uid/gid, namespace ids, and the inode of standard input, output and
 *   error (0: not open), which tell whether the fd table's entries for them are current.
 * - `P_dir` after a path parameter `P` that may be relative: the directory the kernel resolved
 *   it against (the working directory or the directory fd's path); empty for absolute paths.
 * - chdir, fchdir: `cwd`, the working directory after the call.
 * - socket, accept, accept4, socketpair: the inode of the socket(s) created; connect, sendto,
 *   sendmsg and the dups: `fd_ino`, the inode of the fd they use (identity of the socket).
 */
const U64 = { type: 8, fmt: 1 }; // PT.UINT64, PF.DEC
const DIR = { type: 17, fmt: 0 }; // PT.FSPATH, PF.NA
const EXEC_EXTRA: ParamInfo[] = [
  { name: "sid", type: 15, fmt: 1 },
  { name: "ruid", type: 31, fmt: 1 },
  { name: "rgid", type: 32, fmt: 1 },
  { name: "vpid", type: 15, fmt: 1 },
  { name: "vtid", type: 15, fmt: 1 },
  { name: "stdin_ino", ...U64 },
  { name: "stdout_ino", ...U64 },
  { name: "stderr_ino", ...U64 },
];
const dirOf = (...paths: string[]): ParamInfo[] => paths.map((p) => ({ name: `${p}_dir`, ...DIR }));
const EXTRA_BY_NAME: Record<string, ParamInfo[]> = {
  execve: EXEC_EXTRA,
  execveat: EXEC_EXTRA,
  open: dirOf("name"),
  openat: dirOf("name"),
  openat2: dirOf("name"),
  creat: dirOf("name"),
  unlinkat: dirOf("name"),
  mkdirat: dirOf("path"),
  symlinkat: dirOf("linkpath"),
  fchmodat: dirOf("filename"),
  fchownat: dirOf("pathname"),
  linkat: dirOf("oldpath", "newpath"),
  renameat: dirOf("oldpath", "newpath"),
  renameat2: dirOf("oldpath", "newpath"),
  chdir: [{ name: "cwd", ...DIR }],
  fchdir: [{ name: "cwd", ...DIR }],
  socket: [{ name: "ino", ...U64 }],
  accept: [{ name: "ino", ...U64 }],
  accept4: [{ name: "ino", ...U64 }],
  socketpair: [{ name: "ino1", ...U64 }, { name: "ino2", ...U64 }],
  connect: [{ name: "fd_ino", ...U64 }],
  sendto: [{ name: "fd_ino", ...U64 }],
  sendmsg: [{ name: "fd_ino", ...U64 }],
  dup: [{ name: "fd_ino", ...U64 }],
  dup2: [{ name: "fd_ino", ...U64 }],
  dup3: [{ name: "fd_ino", ...U64 }],
};

/** Extra parameters by event id: the newest exit version of each name above. */
const EXTRA_PARAMS: Record<number, ParamInfo[]> = {};
{
  // One pass over the rows (start-up time): the last current exit id of each name.
  const newestExit = new Map<string, number>();
  for (let i = 1; i < EVENT_ROWS.length; i += 2) {
    const row = EVENT_ROWS[i];
    if (Object.hasOwn(EXTRA_BY_NAME, row[0]) && (row[2] & EF.OLD_VERSION) === 0) {
      newestExit.set(row[0], i);
    }
  }
  for (const [name, extra] of Object.entries(EXTRA_BY_NAME)) {
    const id = newestExit.get(name);
    if (id === undefined) throw new Error(`event table: no exit event ${name}`);
    EXTRA_PARAMS[id] = extra;
  }
}

/** What a row's parameter list decodes to: the parameters and the arrays derived from them. */
interface ParamLayout {
  params: ParamInfo[];
  paramIndex: Map<string, number>;
  intKinds: Uint8Array;
  paramTypes: Uint8Array;
}

// Decoding runs at every start. The generated table holds numbers and each parameter and
// parameter list once (names are read by scripts/gen_event_tables.ts), and half of the rows share
// their list with another (enter events without parameters, versions of one call): the layouts
// of rows without extra parameters are made once per list and shared, read-only.
const decodedLayouts: (ParamLayout | undefined)[] = [];

function layoutOf(params: ParamInfo[]): ParamLayout {
  const intKinds = new Uint8Array(params.length);
  const paramTypes = new Uint8Array(params.length);
  const paramIndex = new Map<string, number>();
  for (let i = 0; i < params.length; i++) {
    intKinds[i] = intKindOf(params[i].type);
    paramTypes[i] = params[i].type;
    paramIndex.set(params[i].name, i);
  }
  return { params, paramIndex, intKinds, paramTypes };
}

/** The parameters of parameter list `layout` (a new array; the parameters are shared). */
function paramsOf(layout: number): ParamInfo[] {
  const ids = EVENT_LAYOUTS[layout];
  const params: ParamInfo[] = [];
  for (let i = 0; i < ids.length; i++) params.push(EVENT_PARAMS[ids[i]]);
  return params;
}

function decodeLayout(id: number, layout: number): ParamLayout {
  const extra = EXTRA_PARAMS[id];
  if (extra === undefined) return decodedLayouts[layout] ??= layoutOf(paramsOf(layout));
  const params = paramsOf(layout);
  const scapParamCount = params.length;
  params.push(...extra);
  // A path parameter names the extra parameter holding its resolution directory.
  for (let i = 0; i < scapParamCount; i++) {
    const d = params.findIndex((p) => p.name === `${params[i].name}_dir`);
    if (d >= 0) params[i] = { ...params[i], dirParam: d };
  }
  return layoutOf(params);
}

function decodeRow(id: number, row: readonly [string, number, number, number]): EventInfo {
  const [name, category, flags, layout] = row;
  const { params, paramIndex, intKinds, paramTypes } = decodeLayout(id, layout);
  return {
    id,
    name,
    scapParamCount: params.length - (EXTRA_PARAMS[id]?.length ?? 0),
    dir: id % 2 === 0 ? ">" : "<",
    category,
    flags,
    params,
    old: (flags & EF.OLD_VERSION) !== 0,
    unused: (flags & EF.UNUSED) !== 0,
    largePayload: (flags & EF.LARGE_PAYLOAD) !== 0,
    paramIndex,
    intKinds,
    paramTypes,
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
/** Event ids and parameter indexes by parameter name (built on the first table asked for). */
let paramPlaces: Map<string, number[]> | undefined;

/**
 * Where the parameter called `name` sits in each event type: an array indexed by event id, -1
 * for types without it. Hot paths read `ev.param(table[ev.type])` (an array read) instead of
 * looking the name up in `paramIndex` (a Map lookup) for every event.
 */
export function paramIndexTable(name: string): Int8Array {
  let t = paramTables.get(name);
  if (t === undefined) {
    // Modules ask for dozens of tables as they load: one pass over every event's parameters
    // serves them all (a pass over the events per name cost milliseconds of start-up).
    if (paramPlaces === undefined) {
      paramPlaces = new Map();
      for (const e of EVENTS) {
        for (const [pname, i] of e.paramIndex) {
          let list = paramPlaces.get(pname);
          if (list === undefined) paramPlaces.set(pname, list = []);
          list.push(e.id, i);
        }
      }
    }
    t = new Int8Array(EVENTS.length).fill(-1);
    const places = paramPlaces.get(name) ?? [];
    for (let k = 0; k < places.length; k += 2) t[places[k]] = places[k + 1];
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
