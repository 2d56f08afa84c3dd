/**
 * Text forms of events, as sysdig prints them: each parameter as `name=value`, with symbolic
 * renderings in parentheses (`flags=4097(O_RDONLY|O_CLOEXEC)`, `res=-2(ENOENT)`,
 * `dirfd=-100(AT_FDCWD)`), plus a one-line form of a whole event for `saker capture`.
 *
 * @example
 * ```ts
 * import { buildEvent } from "./encode.ts";
 * import { formatArgs } from "./print.ts";
 * const ev = buildEvent("close", { tid: 1 }, { res: 0, fd: 3 });
 * formatArgs(ev); // "res=0 fd=3"
 * ```
 * @module
 */
import type { Event } from "./event.ts";
import { type ParamInfo, PF, PT } from "./table.ts";
import { errnoName, renderFlags, signalName } from "./flags.ts";
import {
  AT_FDCWD,
  type DynValue,
  type ParamValue,
  type SockAddr,
  type SockTuple,
} from "./params.ts";
import { sockAddrText, sockTupleText } from "./socket_text.ts";

/** Resolves an fd number to its type character and name (`f`, `/etc/passwd`), if known. */
export type FdResolver = (ev: Event, fd: number) => { typechar: string; name: string } | undefined;

function printable(bytes: Uint8Array, nulAsSpace: boolean): string {
  let s = "";
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === 0) s += nulAsSpace ? (i === bytes.length - 1 ? "" : " ") : ".";
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += ".";
  }
  return s;
}

/** Renders one parameter value the way sysdig does. */
export function formatParam(
  ev: Event,
  p: ParamInfo,
  v: ParamValue | undefined,
  resolveFd?: FdResolver,
): string {
  if (v === undefined || v === null) return "<NA>";
  switch (p.type) {
    case PT.ERRNO: {
      const n = v as number;
      return n < 0 ? `${n}(${errnoName(n) || "E?"})` : String(n);
    }
    case PT.FD:
    case PT.FD32: {
      const n = v as number;
      if (n === AT_FDCWD) return `${AT_FDCWD}(AT_FDCWD)`;
      if (n < 0) return `${n}(${errnoName(n) || "E?"})`;
      const info = resolveFd?.(ev, n);
      return info ? `${n}(<${info.typechar}>${info.name})` : String(n);
    }
    case PT.PID:
    case PT.PID32: {
      const n = v as number;
      return n < 0 && p.name === "res" ? `${n}(${errnoName(n) || "E?"})` : String(n);
    }
    case PT.FLAGS8:
    case PT.FLAGS16:
    case PT.FLAGS32:
    case PT.ENUMFLAGS8:
    case PT.ENUMFLAGS16:
    case PT.ENUMFLAGS32:
    case PT.MODE: {
      const n = v as number;
      const names = p.table ? renderFlags(p.table, n) : "";
      const num = p.type === PT.MODE ? `0${n.toString(8)}` : String(n);
      return names ? `${num}(${names})` : num;
    }
    case PT.SIGTYPE: {
      const name = signalName(v as number);
      return name ? `${v}(${name})` : String(v);
    }
    case PT.SOCKADDR:
      return sockAddrText(v as SockAddr);
    case PT.SOCKTUPLE:
      return sockTupleText(v as SockTuple);
    case PT.BYTEBUF:
    case PT.CHARBUFARRAY:
      if (Array.isArray(v)) return v.join(" ");
      return printable(
        v as Uint8Array,
        p.name === "args" || p.name === "env" || p.name === "cgroups",
      );
    case PT.DYN: {
      const d = v as DynValue;
      return d.value instanceof Uint8Array ? printable(d.value, false) : String(d.value);
    }
    case PT.ABSTIME:
    case PT.RELTIME:
      return String(v);
    default:
      if (typeof v === "number") {
        if (p.fmt === PF.HEX) return v.toString(16).toUpperCase();
        if (p.fmt === PF.OCT) return v === 0 ? "0" : `0${v.toString(8)}`;
        return String(v);
      }
      if (v instanceof Uint8Array) return printable(v, false);
      return String(v);
  }
}

/**
 * All parameters as `name=value` separated by spaces (Falco's evt.args / evt.info): those of the
 * scap layout, as sysdig prints them; the facts Saker's probe appends are left out.
 */
export function formatArgs(ev: Event, resolveFd?: FdResolver): string {
  const params = ev.info.params;
  const out: string[] = [];
  const n = Math.min(ev.info.scapParamCount, ev.nparams);
  for (let i = 0; i < n; i++) {
    out.push(`${params[i].name}=${formatParam(ev, params[i], ev.param(i), resolveFd)}`);
  }
  return out.join(" ");
}

/** `HH:MM:SS.nnnnnnnnn` of a UTC nanosecond timestamp, in local time like sysdig. */
export function clockTime(ts: bigint): string {
  const ms = Number(ts / 1_000_000n);
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const ns = ts % 1_000_000_000n;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${
    String(ns).padStart(9, "0")
  }`;
}

/**
 * One line per event: number, time, cpu, process name and ids, direction, type, arguments.
 * `12 08:00:00.123456789 1 cat (tid=18727 pid=18727 ppid=18700) < openat fd=3 ...`
 */
export function formatEventLine(ev: Event, resolveFd?: FdResolver): string {
  const ids = ev.pid >= 0 ? `tid=${ev.tid} pid=${ev.pid} ppid=${ev.ppid}` : `tid=${ev.tid}`;
  const trunc = ev.truncated ? " [truncated]" : "";
  return `${ev.num} ${clockTime(ev.ts)} ${ev.cpu} ${
    ev.comm || "<NA>"
  } (${ids}) ${ev.dir} ${ev.name} ${formatArgs(ev, resolveFd)}${trunc}`;
}

function jsonValue(p: ParamInfo, v: ParamValue | undefined): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) {
    return p.name === "args" || p.name === "env" || p.name === "cgroups"
      ? new TextDecoder().decode(v).split("\0").filter((s, i, a) => s !== "" || i < a.length - 1)
      : printable(v, false);
  }
  if (
    (p.type === PT.FLAGS32 || p.type === PT.FLAGS16 || p.type === PT.FLAGS8 ||
      p.type === PT.ENUMFLAGS32 || p.type === PT.ENUMFLAGS16 || p.type === PT.ENUMFLAGS8 ||
      p.type === PT.MODE) && p.table
  ) {
    return { value: v, names: renderFlags(p.table, v as number) };
  }
  if (p.type === PT.ERRNO && typeof v === "number" && v < 0) {
    return { value: v, name: errnoName(v) };
  }
  if (p.type === PT.SOCKTUPLE) return { ...(v as SockTuple), text: sockTupleText(v as SockTuple) };
  return v;
}

/** One JSON object per event (for `saker capture --json`). */
export function eventToJson(ev: Event): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  const params = ev.info.params;
  const n = Math.min(params.length, ev.nparams);
  for (let i = 0; i < n; i++) args[params[i].name] = jsonValue(params[i], ev.param(i));
  const ts = ev.ts;
  return {
    num: ev.num,
    time: new Date(Number(ts / 1_000_000n)).toISOString().replace(
      /\.\d+Z$/,
      `.${String(ts % 1_000_000_000n).padStart(9, "0")}Z`,
    ),
    cpu: ev.cpu,
    comm: ev.comm,
    tid: ev.tid,
    pid: ev.pid,
    ppid: ev.ppid,
    dir: ev.dir,
    type: ev.name,
    truncated: ev.truncated,
    args,
  };
}
