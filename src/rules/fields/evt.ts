/**
 * Event fields: `evt.*` (type, time, arguments, result, I/O and open classification ...) and
 * `syscall.type`. They read the event itself; only argument rendering looks at the thread's fd
 * table and the user database, the way Falco renders `evt.arg.*`.
 *
 * @example
 * ```ts
 * const f = lookupField("evt.arg.flags")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // "O_RDONLY" for a read-only open, as Falco renders it
 * ```
 * @module
 */
import { bufferText } from "../buffer_format.ts";
import type { Event } from "../../events/event.ts";
import { PluginEvent } from "../../events/plugin_event.ts";
import { categoryName, EC, EF, type EventInfo, EVENTS, PT } from "../../events/table.ts";
import { errnoName, renderFlags, signalName } from "../../events/flags.ts";
import { AT_FDCWD, type SockAddr, type SockTuple } from "../../events/params.ts";
import { sockAddrText, sockTupleText } from "../../events/socket_text.ts";
import { O_CREAT, O_F_CREATED, O_RDONLY, O_TMPFILE, O_WRONLY } from "../../events/flags.ts";
import { joinPath } from "../../state/paths.ts";
import { kernelDirOf } from "../../state/resolve.ts";
import { type FieldClassSpec, type FieldDef, type FieldType, NOT_CONSTANT } from "./registry.ts";
import { SYSCALL_NAME_BY_SCAP_CODE } from "../../events/syscalls.ts";

/** Generic syscall events carry the syscall's code; their evt.type is the syscall's name. */
function typeName(ev: Event): string {
  if (ev.info.name !== "syscall") return ev.info.name;
  const code = ev.param(0);
  return (typeof code === "number" && SYSCALL_NAME_BY_SCAP_CODE.get(code)) || "syscall";
}

/** Resolves a uid (or gid) to a name for `evt.arg.uid`; the state issue may install its own. */
export type IdResolver = (id: number, ev: Event) => string | undefined;

function passwdResolver(path: string): IdResolver {
  let names: Map<number, string> | undefined;
  return (id) => {
    if (!names) {
      names = new Map();
      try {
        for (const line of Deno.readTextFileSync(path).split("\n")) {
          const parts = line.split(":");
          if (parts.length > 3 && /^\d+$/.test(parts[2])) names.set(Number(parts[2]), parts[0]);
        }
      } catch { /* no database: ids stay numeric */ }
    }
    return names.get(id);
  };
}

let userName: IdResolver = passwdResolver("/etc/passwd");
let groupName: IdResolver = passwdResolver("/etc/group");

/** Replaces how uids and gids in event arguments are turned into names. */
export function setIdResolvers(users: IdResolver, groups: IdResolver): void {
  userName = users;
  groupName = groups;
}

/**
 * A parameter as Falco's filters see `evt.arg.NAME`: flags and enums by name, errors by errno
 * name, fds as `<type>name`, relative paths resolved against the working directory, uids as
 * user names, addresses as text. Undefined when the event has no such parameter.
 */
export function renderParam(ev: Event, i: number): string | undefined {
  const p = ev.info.params[i];
  if (!p || i >= ev.nparams) return undefined;
  const v = ev.param(i);
  if (v === undefined) return undefined;
  if (v === null) {
    return p.type === PT.BYTEBUF || p.type === PT.SOCKTUPLE || p.type === PT.FDLIST ||
        p.type === PT.DYN
      ? "NULL"
      : "<NA>";
  }
  switch (p.type) {
    case PT.FD:
    case PT.FD32: {
      const fd = Number(v);
      if (fd === AT_FDCWD) return "AT_FDCWD";
      if (fd < 0) return errnoName(fd) || String(fd);
      const info = ev.thread?.fds.get(fd) ?? (ev.fdNum === fd ? ev.fdInfo : undefined);
      if (!info) return String(fd);
      // Sockets get their transport after the type: <4t> tcp, <4u> udp, <4i> icmp, <4r> raw.
      const proto = info.isInet ? (["", "", "t", "u", "i", "r"][info.l4proto] ?? "") : "";
      return `<${info.typechar}${proto}>${info.name}`;
    }
    case PT.ERRNO: {
      const n = Number(v);
      return n < 0 ? errnoName(n) || String(n) : String(n);
    }
    case PT.FLAGS8:
    case PT.FLAGS16:
    case PT.FLAGS32:
    case PT.ENUMFLAGS8:
    case PT.ENUMFLAGS16:
    case PT.ENUMFLAGS32:
    case PT.MODE: {
      if (!p.table) return String(v);
      const exact = p.type === PT.ENUMFLAGS8 || p.type === PT.ENUMFLAGS16 ||
        p.type === PT.ENUMFLAGS32;
      return renderFlags(p.table, Number(v), exact) || String(v);
    }
    case PT.UID: {
      const n = Number(v);
      if (n === 0xffffffff) return "<NONE>";
      return userName(n, ev) ?? "<NA>";
    }
    case PT.GID: {
      const n = Number(v);
      if (n === 0xffffffff) return "<NONE>";
      return groupName(n, ev) ?? "<NA>";
    }
    case PT.SIGTYPE:
      return signalName(Number(v)) || String(v);
    case PT.FSPATH:
    case PT.FSRELPATH: {
      const path = String(v);
      if (path === "" || path.startsWith("/") || path === "<NA>") return path;
      const kernelDir = kernelDirOf(ev, i);
      let base = kernelDir ?? ev.thread?.cwd;
      if (kernelDir === undefined && p.dirfdParam !== undefined) {
        const dirfd = Number(ev.param(p.dirfdParam));
        if (dirfd !== AT_FDCWD) base = ev.thread?.fds.get(dirfd)?.name;
      }
      return base ? joinPath(base, path) : path;
    }
    case PT.SOCKADDR:
      return sockAddrText(v as SockAddr);
    case PT.SOCKTUPLE:
      return sockTupleText(v as SockTuple);
    case PT.BYTEBUF:
      return bufferText(v as Uint8Array);
    case PT.CHARBUFARRAY:
      return (v as string[]).join(".");
    case PT.CHARBUF_PAIR_ARRAY:
      return (v as string[]).join(",");
    case PT.DYN: {
      const d = v as { value: unknown };
      return d.value instanceof Uint8Array ? bufferText(d.value) : String(d.value);
    }
    default:
      if (v instanceof Uint8Array) return bufferText(v);
      return String(v);
  }
}

function paramIndex(ev: Event, arg: string): number {
  if (/^\d+$/.test(arg)) return Number(arg);
  return ev.info.paramIndex.get(arg) ?? -1;
}

const paramNames = new Set<string>();
for (const e of EVENTS) for (const p of e.params) paramNames.add(p.name);

function paramType(name: string): number | undefined {
  for (const e of EVENTS) {
    const i = e.paramIndex.get(name);
    if (i !== undefined) return e.params[i].type;
  }
  return undefined;
}

/** The field type `evt.rawarg.NAME` compares as (the first parameter of that name). */
function rawargType(name: string): FieldType | undefined {
  const t = paramType(name);
  if (t === undefined) return undefined;
  switch (t) {
    case PT.CHARBUF:
    case PT.FSPATH:
    case PT.FSRELPATH:
      return "charbuf";
    case PT.BYTEBUF:
    case PT.CHARBUFARRAY:
    case PT.CHARBUF_PAIR_ARRAY:
      return "bytebuf";
    case PT.SOCKADDR:
    case PT.SOCKTUPLE:
      return "charbuf";
    case PT.IPV4ADDR:
    case PT.IPV6ADDR:
    case PT.IPADDR:
      return "ipaddr";
    case PT.INT8:
    case PT.INT16:
    case PT.INT32:
    case PT.INT64:
    case PT.ERRNO:
    case PT.FD:
    case PT.PID:
    case PT.FD32:
    case PT.PID32:
      return "int64";
    case PT.RELTIME:
    case PT.ABSTIME:
      return "reltime";
    case PT.BOOL:
      return "bool";
    case PT.DOUBLE:
      return "double";
    default:
      return "uint64";
  }
}

function rawArg(ev: Event, arg: string | undefined) {
  if (arg === undefined) return undefined;
  const i = paramIndex(ev, arg);
  if (i < 0) return undefined;
  const v = ev.param(i);
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "bigint" || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return (v as unknown[]).join("\0");
  return renderParam(ev, i);
}

/** True when the event's first parameter is its return value. */
function hasResult(info: EventInfo): boolean {
  if (info.dir !== "<" || info.params.length === 0) return false;
  const p = info.params[0];
  return (p.name === "res" || p.name === "fd") &&
    [PT.ERRNO, PT.FD, PT.PID, PT.INT64, PT.UINT64].includes(p.type as never);
}

const OPEN_EVENTS = new Set(["open", "openat", "openat2", "open_by_handle_at"]);
const EXEC_BITS = 0o111;

/**
 * Per event type: the index of an open-family exit's flags parameter (-2: it has none, the flags
 * read as 0), or -1 for every other event. Rules read the open flags of every open through
 * `evt.is_open_read` and friends: a table read instead of a name lookup per field per event.
 */
const OPEN_FLAGS_AT: Int8Array = (() => {
  const t = new Int8Array(EVENTS.length).fill(-1);
  for (const e of EVENTS) {
    if (e.dir === "<" && OPEN_EVENTS.has(e.name)) t[e.id] = e.paramIndex.get("flags") ?? -2;
  }
  return t;
})();

function openFlags(ev: Event): number | undefined {
  const at = OPEN_FLAGS_AT[ev.type];
  if (at === undefined || at === -1) return undefined;
  if (at === -2) return 0;
  const f = ev.param(at);
  return typeof f === "number" ? f : 0;
}

function isSyscallEvent(info: EventInfo): boolean {
  return (info.category & EC.SYSCALL) !== 0;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, "0");
}

function timeParts(ts: bigint): { d: Date; ns: string } {
  const ms = Number(ts / 1_000_000n);
  return { d: new Date(ms), ns: pad(Number(ts % 1_000_000_000n), 9) };
}

const hostname = (() => {
  try {
    return Deno.env.get("FALCO_HOSTNAME") ?? Deno.hostname();
  } catch {
    return "";
  }
})();

const SCHEDULER_EVENTS = new Set(["procexit", "sched_process_exit", "switch", "signaldeliver"]);

const fields: FieldDef[] = [
  {
    name: "evt.num",
    type: "uint64",
    desc: "Sequence number of the event within its source, from 1.",
    extract: (ev) => ev.num,
  },
  {
    name: "evt.time",
    type: "charbuf",
    desc: "Event time as HH:MM:SS.nanoseconds (UTC).",
    extract: (ev) => {
      const { d, ns } = timeParts(ev.ts);
      return `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${
        pad(d.getUTCSeconds(), 2)
      }.${ns}`;
    },
  },
  {
    name: "evt.time.s",
    type: "charbuf",
    desc: "Event time as HH:MM:SS (UTC).",
    extract: (ev) => {
      const { d } = timeParts(ev.ts);
      return `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
    },
  },
  {
    name: "evt.time.iso8601",
    type: "charbuf",
    desc: "Event time in ISO 8601 with nanoseconds, e.g. 2024-05-01T10:00:00.123456789Z.",
    extract: (ev) => {
      const { d, ns } = timeParts(ev.ts);
      return `${d.toISOString().slice(0, 19)}.${ns}Z`;
    },
  },
  {
    name: "evt.datetime",
    type: "charbuf",
    desc: "Event date and time, YYYY-MM-DD HH:MM:SS.nanoseconds (UTC).",
    extract: (ev) => {
      const { d, ns } = timeParts(ev.ts);
      return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}.${ns}`;
    },
  },
  {
    name: "evt.datetime.s",
    type: "charbuf",
    desc: "Event date and time, YYYY-MM-DD HH:MM:SS (UTC).",
    extract: (ev) => {
      const { d } = timeParts(ev.ts);
      return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}`;
    },
  },
  {
    name: "evt.rawtime",
    type: "abstime",
    desc: "Event time in nanoseconds since the Unix epoch.",
    extract: (ev) => ev.ts,
  },
  {
    name: "evt.rawtime.s",
    type: "abstime",
    desc: "Whole seconds of the event time since the Unix epoch.",
    extract: (ev) => ev.ts / 1_000_000_000n,
  },
  {
    name: "evt.rawtime.ns",
    type: "abstime",
    desc: "Nanosecond part of the event time.",
    extract: (ev) => ev.ts % 1_000_000_000n,
  },
  {
    name: "evt.type",
    type: "charbuf",
    desc: "Event name, e.g. open or execve; the syscall name for syscall events.",
    constant: (info) => (info.name === "syscall" ? NOT_CONSTANT : info.name),
    extract: typeName,
  },
  {
    name: "evt.type.is",
    type: "uint32",
    desc: "1 when the event is of the type named by the argument (evt.type.is.open), else 0.",
    arg: "required",
    dottedArg: true,
    constant: (info, arg) => (info.name === arg || String(info.id) === arg ? 1 : 0),
    extract: (ev, arg) => (ev.info.name === arg || String(ev.type) === arg ? 1 : 0),
  },
  {
    name: "syscall.type",
    type: "charbuf",
    desc: "Syscall name for syscall events; not set for other events (scheduler, internal).",
    constant: (
      info,
    ) => (isSyscallEvent(info) && !SCHEDULER_EVENTS.has(info.name) ? info.name : undefined),
    extract: (ev) =>
      isSyscallEvent(ev.info) && !SCHEDULER_EVENTS.has(ev.info.name) ? ev.info.name : undefined,
  },
  {
    name: "evt.category",
    type: "charbuf",
    desc: "Event category: file, net, process, memory, IPC, signal, ...",
    constant: (info) => categoryName(info.category),
    extract: (ev) => categoryName(ev.info.category),
  },
  {
    name: "evt.dir",
    type: "charbuf",
    desc: "Direction: > for syscall entry, < for exit. Deprecated: only exits are captured live.",
    deprecated: true,
    constant: (info) => info.dir,
    extract: (ev) => ev.info.dir,
  },
  {
    name: "evt.cpu",
    type: "int16",
    desc: "CPU the event happened on.",
    extract: (ev) => (ev.cpu >= 0 ? ev.cpu : undefined),
  },
  {
    name: "evt.args",
    type: "charbuf",
    desc: "Every argument as name=value, space separated, with resolved forms in parentheses.",
    extract: (ev) => {
      const parts: string[] = [];
      // The arguments of Falco's event layout; facts Saker's probe adds stay out.
      for (let i = 0; i < ev.nparams && i < ev.info.scapParamCount; i++) {
        const p = ev.info.params[i];
        const raw = ev.param(i);
        const r = renderParam(ev, i) ?? "";
        const rawText = raw === null || raw === undefined
          ? r
          : typeof raw === "object"
          ? r
          : String(raw);
        parts.push(rawText !== r ? `${p.name}=${rawText}(${r})` : `${p.name}=${r}`);
      }
      return parts.join(" ");
    },
  },
  {
    name: "evt.info",
    type: "charbuf",
    desc: "Same as evt.args.",
    extract: (ev) => fields[fields.findIndex((f) => f.name === "evt.args")].extract(ev, undefined),
  },
  {
    name: "evt.arg",
    type: "charbuf",
    desc: "One argument by name (evt.arg.fd) or position (evt.arg[0]), rendered as text: " +
      "flags by name, errors as errno names, fds as <type>name, uids as user names.",
    arg: "required",
    dottedArg: true,
    checkArg: (a) =>
      /^\d+$/.test(a) || paramNames.has(a) ? undefined : `unknown event argument ${a}`,
    extract: (ev, arg) => {
      if (arg === undefined) return undefined;
      const i = paramIndex(ev, arg);
      return i < 0 ? undefined : renderParam(ev, i);
    },
  },
  {
    name: "evt.rawarg",
    type: "dyn",
    desc: "One argument by name as its raw value (numbers stay numbers): evt.rawarg.res < 0.",
    arg: "required",
    dottedArg: true,
    typeFor: rawargType,
    noRhs: true,
    extract: rawArg,
  },
  {
    name: "evt.buffer",
    type: "bytebuf",
    desc: "The data buffer of I/O events (read, write, sendto ...).",
    extract: (ev) => {
      const v = ev.arg("data");
      return v instanceof Uint8Array ? v : undefined;
    },
  },
  {
    name: "evt.buflen",
    type: "uint64",
    desc: "Length of the data the I/O event moved.",
    extract: (ev) => {
      if (!(ev.info.category & 32) || ev.info.category & 0xc0) return undefined;
      const r = ev.res;
      return r !== undefined && r >= 0 ? r : undefined;
    },
  },
  {
    name: "evt.res",
    type: "charbuf",
    desc: "Result as text: SUCCESS, or the errno name (ENOENT ...) when the call failed.",
    extract: (ev) => {
      if (!hasResult(ev.info)) return undefined;
      const r = ev.res;
      if (r === undefined) return undefined;
      return r >= 0 ? "SUCCESS" : errnoName(r) || String(r);
    },
  },
  {
    name: "evt.rawres",
    type: "int64",
    desc: "Result as a number (negative errno on failure).",
    extract: (ev) => (hasResult(ev.info) ? ev.res : undefined),
  },
  {
    name: "evt.failed",
    type: "bool",
    desc: "True when the call returned an error.",
    extract: (ev) => {
      if (!hasResult(ev.info)) return undefined;
      const r = ev.res;
      return r === undefined ? undefined : r < 0;
    },
  },
  {
    name: "evt.is_io",
    type: "bool",
    desc: "True for events that read or write through an fd.",
    constant: (info) => (info.flags & (EF.READS_FROM_FD | EF.WRITES_TO_FD)) !== 0,
    extract: (ev) => (ev.info.flags & (EF.READS_FROM_FD | EF.WRITES_TO_FD)) !== 0,
  },
  {
    name: "evt.is_io_read",
    type: "bool",
    desc: "True for events that read through an fd.",
    constant: (info) => (info.flags & EF.READS_FROM_FD) !== 0,
    extract: (ev) => (ev.info.flags & EF.READS_FROM_FD) !== 0,
  },
  {
    name: "evt.is_io_write",
    type: "bool",
    desc: "True for events that write through an fd.",
    constant: (info) => (info.flags & EF.WRITES_TO_FD) !== 0,
    extract: (ev) => (ev.info.flags & EF.WRITES_TO_FD) !== 0,
  },
  {
    name: "evt.io_dir",
    type: "charbuf",
    desc: "write for events that write through an fd, read for events that read.",
    constant: (info) =>
      info.flags & EF.WRITES_TO_FD ? "write" : info.flags & EF.READS_FROM_FD ? "read" : undefined,
    extract: (ev) =>
      ev.info.flags & EF.WRITES_TO_FD
        ? "write"
        : ev.info.flags & EF.READS_FROM_FD
        ? "read"
        : undefined,
  },
  {
    name: "evt.is_wait",
    type: "bool",
    desc: "True for events that make the thread wait (sleep, poll, select ...).",
    constant: (info) => (info.flags & EF.WAITS) !== 0,
    extract: (ev) => (ev.info.flags & EF.WAITS) !== 0,
  },
  {
    name: "evt.is_syslog",
    type: "bool",
    desc: "True for writes to /dev/log.",
    extract: (ev) => (ev.info.flags & EF.WRITES_TO_FD) !== 0 && ev.fdInfo?.name === "/dev/log",
  },
  {
    name: "evt.count",
    type: "uint32",
    desc: "Always 1 (for counting events in aggregations).",
    extract: () => 1,
  },
  {
    name: "evt.count.error",
    type: "uint32",
    desc: "1 when the call failed, 0 when it succeeded.",
    extract: (ev) => {
      if (!hasResult(ev.info)) return undefined;
      const r = ev.res;
      return r === undefined ? undefined : r < 0 ? 1 : 0;
    },
  },
  {
    name: "evt.count.exit",
    type: "uint32",
    desc: "1 for exit events, 0 for entry events.",
    constant: (info) => (info.dir === "<" ? 1 : 0),
    extract: (ev) => (ev.info.dir === "<" ? 1 : 0),
  },
  {
    name: "evt.is_open_read",
    type: "bool",
    desc: "True for open-family calls that open for reading.",
    extract: (ev) => {
      const f = openFlags(ev);
      return f === undefined ? false : (f & O_RDONLY) !== 0;
    },
  },
  {
    name: "evt.is_open_write",
    type: "bool",
    desc: "True for open-family calls that open for writing.",
    extract: (ev) => {
      const f = openFlags(ev);
      return f === undefined ? false : (f & O_WRONLY) !== 0;
    },
  },
  {
    name: "evt.is_open_create",
    type: "bool",
    desc: "True for open-family calls that created the file.",
    extract: (ev) => {
      const f = openFlags(ev);
      if (f === undefined) return false;
      if (f & O_F_CREATED) return true;
      return (f & O_TMPFILE) !== 0 && (ev.res ?? -1) >= 0;
    },
  },
  {
    name: "evt.is_open_exec",
    type: "bool",
    desc: "True for open-family or creat calls that create a file with an execute bit.",
    extract: (ev) => {
      if (ev.info.name === "creat" && ev.info.dir === "<") {
        return ((Number(ev.arg("mode")) || 0) & EXEC_BITS) !== 0;
      }
      const f = openFlags(ev);
      if (f === undefined || ev.info.name === "open_by_handle_at") return false;
      if (!(f & (O_TMPFILE | O_CREAT))) return false;
      const mode = ev.arg("mode");
      return typeof mode === "number" && (mode & EXEC_BITS) !== 0;
    },
  },
  {
    name: "evt.abspath",
    type: "charbuf",
    desc: "Absolute path of the file the event names (src or dst for rename/link: " +
      "evt.abspath.src, evt.abspath.dst), resolved against the working directory or dirfd.",
    extract: (ev) => absPath(ev, "path") ?? absPath(ev, "name") ?? absPath(ev, "pathname"),
  },
  {
    name: "evt.abspath.src",
    type: "charbuf",
    desc: "Absolute source path of rename/link events.",
    extract: (ev) => absPath(ev, "oldpath") ?? absPath(ev, "target"),
  },
  {
    name: "evt.abspath.dst",
    type: "charbuf",
    desc: "Absolute destination path of rename/link events.",
    extract: (ev) => absPath(ev, "newpath") ?? absPath(ev, "linkpath"),
  },
  {
    name: "evt.source",
    type: "charbuf",
    desc: "Event source: syscall.",
    constant: () => "syscall",
    extract: () => "syscall",
  },
  {
    name: "evt.hostname",
    type: "charbuf",
    desc: "Host name of the machine (FALCO_HOSTNAME overrides it).",
    extract: () => hostname,
  },
  {
    name: "evt.is_async",
    type: "bool",
    desc: "True for events not made by a syscall of the thread (internal, meta events).",
    constant: (info) => (info.category & EC.INTERNAL) !== 0,
    extract: (ev) => (ev.info.category & EC.INTERNAL) !== 0,
  },
  {
    name: "evt.pluginname",
    type: "charbuf",
    desc: "Name of the plugin that made the event (events of plugin sources).",
    extract: (ev) => ev instanceof PluginEvent ? ev.plugin : undefined,
  },
  {
    name: "evt.plugininfo",
    type: "charbuf",
    desc: "The plugin's one-line summary of the event (events of plugin sources).",
    extract: (ev) => ev instanceof PluginEvent ? ev.summary : undefined,
  },
  {
    name: "util.cnt",
    type: "uint64",
    desc: "Always 1 (a counter for aggregations).",
    extract: () => 1,
  },
];

function absPath(ev: Event, name: string): string | undefined {
  const i = ev.info.paramIndex.get(name);
  if (i === undefined) return undefined;
  const r = renderParam(ev, i);
  return r && r.startsWith("/") ? r : undefined;
}

/** The evt.* fields and util.cnt. */
export const EVT_FIELDS: readonly FieldClassSpec[] = [
  {
    name: "evt",
    desc: "Event fields: what happened, when, with which arguments and result.",
    fields: fields.filter((f) => f.name !== "util.cnt"),
  },
  { name: "util", desc: "Utility fields.", fields: fields.filter((f) => f.name === "util.cnt") },
];
