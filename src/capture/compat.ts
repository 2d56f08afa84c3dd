/**
 * Writing events in the form sysdig 0.29 (Debian's, libs of March 2022) reads.
 *
 * Saker's live events are exit events of the newest event versions, carrying the enter
 * parameters too. sysdig 0.29 predates that model; found by experiment and from its event
 * table (sysdig029_table.ts):
 * - it skips event ids it does not know (>= 336), so newer events are mapped to the pair its
 *   driver used for the same syscall (accept4 → the `accept` pair, dup2/dup3 → `dup`, pipe2 →
 *   `pipe`, ...) or, for syscalls its driver reported as generic, to the generic `syscall`
 *   pair carrying the syscall code;
 * - its parsers expect an enter event before each exit event (e.g. close's fd and read's fd
 *   come from the enter event), so every exit event from an exit-only source is written as an
 *   enter event (parameters taken by name from the exit event, timestamp of the exit) followed
 *   by the exit event;
 * - an event with more parameters than its table row is misread, so each event is cut to the
 *   parameter count of that row (parameters are only ever appended, so the prefix keeps its
 *   meaning); a parameter whose encoding width changed is re-encoded;
 * - events of captures that already hold enter events are written as they are (cut likewise).
 * Events with no such form are written in their current form, which sysdig 0.29 skips (as it
 * skips newer events in Falco's own captures) and newer readers use; the writer counts them.
 * @module
 */
import type { Event } from "../events/event.ts";
import { EVENTS, PT } from "../events/table.ts";
import { decodeParam } from "../events/params.ts";
import { encodeParam } from "../events/encode.ts";
import { SYSCALL_ROWS } from "../kernel/syscall_data.ts";
import { SYSDIG029_ROWS, SYSDIG029_SC_MAX, SYSDIG029_SYSCALLS } from "./sysdig029_table.ts";

/** One parameter of an output event: where its bytes come from. */
export interface ParamOp {
  /** Output parameter name. */
  name: string;
  /** Index of the source parameter in the input event, or -1 to write `fixed`. */
  src: number;
  /** Output parameter type (scap numbering). */
  type: number;
  /** True when the input bytes can be copied as they are (same encoding). */
  copy: boolean;
  /** Bytes written when there is no source parameter (or a constant, e.g. a syscall code). */
  fixed: Uint8Array;
  /** Computes the bytes from the whole event (parameters whose encoding changed shape). */
  convert?: (ev: Event) => Uint8Array;
}

/** One output event of a plan. */
export interface OutEvent {
  id: number;
  ops: ParamOp[];
  /**
   * Whether parameters the input lacks are written with default values (synthesized events)
   * or left out (an old capture's event with fewer parameters stays as it was).
   */
  pad: boolean;
}

/** How one input event type is written: zero, one or two output events. */
export interface CompatPlan {
  /** Enter event written before the exit event (exit-only sources only). */
  enter?: OutEvent;
  /** The event itself, or undefined when it cannot be written. */
  main?: OutEvent;
}

interface OldRow {
  name: string;
  params: { name: string; type: number }[];
}

const OLD: OldRow[] = SYSDIG029_ROWS.map(([name, , spec]) => ({
  name,
  params: spec === "" ? [] : spec.split(" ").map((p) => {
    const [n, t] = p.split(":");
    return { name: n, type: Number(t) };
  }),
}));

const OLD_SYSCALLS = new Map(SYSDIG029_SYSCALLS.map(([n, e, x, sc]) => [n, { e, x, sc }]));
const NATIVE_NR = new Map(SYSCALL_ROWS.map(([nr, name]) => [name, nr]));

/** Encoding width class of a parameter type: types of one class share their bytes. */
function widthClass(type: number): string {
  switch (type) {
    case PT.INT8:
    case PT.UINT8:
    case PT.FLAGS8:
    case PT.ENUMFLAGS8:
    case PT.SIGTYPE:
    case PT.L4PROTO:
    case PT.SOCKFAMILY:
      return "1";
    case PT.INT16:
    case PT.UINT16:
    case PT.FLAGS16:
    case PT.ENUMFLAGS16:
    case PT.PORT:
    case PT.SYSCALLID:
      return "2";
    case PT.INT32:
    case PT.UINT32:
    case PT.FLAGS32:
    case PT.ENUMFLAGS32:
    case PT.UID:
    case PT.GID:
    case PT.MODE:
    case PT.SIGSET:
    case PT.BOOL:
      return "4u";
    case PT.FD32:
    case PT.PID32:
      return "4s";
    case PT.INT64:
    case PT.UINT64:
    case PT.ERRNO:
    case PT.FD:
    case PT.PID:
    case PT.RELTIME:
    case PT.ABSTIME:
      return "8";
    case PT.CHARBUF:
    case PT.FSPATH:
    case PT.FSRELPATH:
      return "str";
    default:
      return `t${type}`;
  }
}

const FIXED_WIDTH = new Set(["1", "2", "4u", "4s", "8"]);

/** The value a missing parameter gets: -1 for descriptors and pids, zero or empty otherwise. */
function defaultBytes(type: number, name: string): Uint8Array {
  if (type === PT.FD || type === PT.PID || type === PT.FD32 || type === PT.PID32) {
    return encodeParam(type, -1);
  }
  if (type === PT.CHARBUF || type === PT.FSPATH || type === PT.FSRELPATH) {
    return encodeParam(type, "");
  }
  if (type === PT.BYTEBUF || type === PT.CHARBUFARRAY || type === PT.CHARBUF_PAIR_ARRAY) {
    return new Uint8Array(0);
  }
  if (type === PT.SOCKADDR || type === PT.SOCKTUPLE || type === PT.DYN) {
    return new Uint8Array(0);
  }
  if (name === "loginuid") return encodeParam(type, -1);
  return encodeParam(type, 0);
}

function op(src: number, srcType: number | undefined, type: number, name: string): ParamOp {
  const copy = src >= 0 && srcType !== undefined && widthClass(srcType) === widthClass(type);
  const fixed = src >= 0 ? new Uint8Array(0) : defaultBytes(type, name);
  return { name, src, type, copy, fixed };
}

/** Output event `id` of the old table, parameters taken by position from input type `from`. */
function byPosition(id: number, from: number, pad: boolean): OutEvent {
  const srcParams = EVENTS[from].params;
  return {
    id,
    pad,
    ops: OLD[id].params.map((p, i) =>
      op(i < srcParams.length ? i : -1, srcParams[i]?.type, p.type, p.name)
    ),
  };
}

/** Parameters renamed since sysdig 0.29, by event name: old name → current name. */
const RENAMED: Record<string, Record<string, string>> = {
  dup: { fd: "oldfd" },
  dup2: { fd: "oldfd" },
  dup3: { fd: "oldfd" },
};

/**
 * Parameters whose encoding changed shape, by old event name and parameter name: bpf's exit
 * returned a dynamic "fd or errno" where the current event has the fd.
 */
const CONVERTED: Record<string, Record<string, (ev: Event) => Uint8Array>> = {
  bpf: {
    res_or_fd: (ev) => {
      const v = ev.arg("fd");
      const n = typeof v === "number" ? v : -1;
      const value = encodeParam(n >= 0 ? PT.FD : PT.ERRNO, n);
      const out = new Uint8Array(1 + value.length);
      out[0] = n >= 0 ? 0 : 1;
      out.set(value, 1);
      return out;
    },
  },
};

/** Output event `id` of the old table, parameters taken by name from input type `from`. */
function byName(id: number, from: number): OutEvent {
  const src = EVENTS[from];
  const renamed = RENAMED[src.name] ?? {};
  const converted = CONVERTED[OLD[id].name] ?? {};
  return {
    id,
    pad: true,
    ops: OLD[id].params.map((p) => {
      const conv = converted[p.name];
      if (conv) {
        const fixed = new Uint8Array(0);
        return { name: p.name, src: -1, type: p.type, copy: false, fixed, convert: conv };
      }
      const i = src.paramIndex.get(renamed[p.name] ?? p.name) ?? -1;
      return op(i, i >= 0 ? src.params[i].type : undefined, p.type, p.name);
    }),
  };
}

function genericPair(syscall: string, sc: number): CompatPlan {
  const nr = NATIVE_NR.get(syscall) ?? 0;
  const id = encodeParam(PT.SYSCALLID, sc);
  return {
    enter: {
      id: 0,
      ops: [
        { name: "ID", src: -1, type: PT.SYSCALLID, copy: false, fixed: id },
        {
          name: "nativeID",
          src: -1,
          type: PT.UINT16,
          copy: false,
          fixed: encodeParam(PT.UINT16, nr),
        },
      ],
      pad: true,
    },
    main: {
      id: 1,
      ops: [{ name: "ID", src: -1, type: PT.SYSCALLID, copy: false, fixed: id }],
      pad: true,
    },
  };
}

/** Builds the plan for input event type `type` (`exitOnly`: the source has no enter events). */
export function planFor(type: number, exitOnly: boolean): CompatPlan {
  const info = EVENTS[type];
  if (!info) return {};
  const known = type < OLD.length && OLD[type].name === info.name;
  if (info.dir === ">" || !exitOnly) {
    // Enter events, and exit events of sources that have their own enter events.
    return known ? { main: byPosition(type, type, exitOnly) } : {};
  }
  const sys = OLD_SYSCALLS.get(info.name);
  if (known) {
    const plan: CompatPlan = { main: byPosition(type, type, true) };
    const enterId = sys && sys.x === type ? sys.e : type - 1;
    if (OLD[enterId]?.name === info.name) plan.enter = byName(enterId, type);
    return plan;
  }
  if (sys) {
    if (sys.x === 1) return sys.sc < SYSDIG029_SC_MAX ? genericPair(info.name, sys.sc) : {};
    return { enter: byName(sys.e, type), main: byName(sys.x, type) };
  }
  return {};
}

/** Plans cached by input type, for exit-only sources and for sources with enter events. */
export class CompatPlans {
  #exitOnly: (CompatPlan | undefined)[] = [];
  #paired: (CompatPlan | undefined)[] = [];

  /** The plan for an event (exit-only when it does not come from a capture file). */
  get(ev: Event): CompatPlan {
    const exitOnly = ev.origin !== "scap";
    const cache = exitOnly ? this.#exitOnly : this.#paired;
    return cache[ev.type] ??= planFor(ev.type, exitOnly);
  }
}

/**
 * Encodes the parameters of `out` from event `ev`: returns the parameter byte arrays (views
 * into the event where possible).
 */
export function compatParams(ev: Event, out: OutEvent): Uint8Array[] {
  const n = out.pad ? out.ops.length : Math.min(out.ops.length, ev.nparams);
  const res: Uint8Array[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = out.ops[i];
    if (o.convert) {
      res[i] = o.convert(ev);
    } else if (o.src < 0 || o.src >= ev.nparams) {
      res[i] = o.src < 0 ? o.fixed : defaultBytes(o.type, o.name);
    } else if (out.pad && ev.paramLength(o.src) === 0 && FIXED_WIDTH.has(widthClass(o.type))) {
      // An unreadable number in a synthesized event: old readers assume the full width.
      res[i] = defaultBytes(o.type, o.name);
    } else if (o.copy) {
      res[i] = ev.paramBytes(o.src);
    } else {
      const srcType = ev.info.params[o.src]?.type ?? PT.BYTEBUF;
      const v = decodeParam(
        srcType,
        ev.buf,
        ev.dv,
        ev.paramOffset(o.src),
        ev.paramLength(o.src),
      );
      res[i] = encodeParam(o.type, v);
    }
  }
  return res;
}
