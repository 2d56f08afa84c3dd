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
import { beginEventBlock, type BlockBuffer, blockSize, endEventBlock } from "./encode.ts";
import { EVENTS, PT } from "../events/table.ts";
import { decodeParam } from "../events/params.ts";
import { encodeParam } from "../events/encode.ts";
import { SYSCALL_ROWS } from "../events/syscall_data.ts";
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
  /** The output type has a fixed width (an empty input is replaced by `dflt` when padding). */
  fixedWidth: boolean;
  /** The value written when the input lacks the parameter. */
  dflt: Uint8Array;
}

/** One output event of a plan. */
export interface OutEvent {
  id: number;
  /** The output event's parameter lengths are 32-bit. */
  large: boolean;
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
  /**
   * A process-creating call: its exit event with result 0 is the child's first event, which
   * has no enter event of its own.
   */
  forks?: boolean;
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

const FORKS = new Set(["clone", "clone3", "fork", "vfork"]);

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
  const dflt = defaultBytes(type, name);
  const fixedWidth = FIXED_WIDTH.has(widthClass(type));
  return { name, src, type, copy, fixed: src >= 0 ? new Uint8Array(0) : dflt, fixedWidth, dflt };
}

/** Output event `id` of the old table, parameters taken by position from input type `from`. */
function byPosition(id: number, from: number, pad: boolean): OutEvent {
  const srcParams = EVENTS[from].params;
  return {
    id,
    large: EVENTS[id]?.largePayload ?? false,
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
    large: EVENTS[id]?.largePayload ?? false,
    pad: true,
    ops: OLD[id].params.map((p) => {
      const conv = converted[p.name];
      if (conv) {
        const fixed = new Uint8Array(0);
        return {
          name: p.name,
          src: -1,
          type: p.type,
          copy: false,
          fixed,
          convert: conv,
          fixedWidth: false,
          dflt: fixed,
        };
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
      large: false,
      ops: [
        {
          name: "ID",
          src: -1,
          type: PT.SYSCALLID,
          copy: false,
          fixed: id,
          fixedWidth: true,
          dflt: id,
        },
        {
          name: "nativeID",
          src: -1,
          type: PT.UINT16,
          copy: false,
          fixed: encodeParam(PT.UINT16, nr),
          fixedWidth: true,
          dflt: encodeParam(PT.UINT16, nr),
        },
      ],
      pad: true,
    },
    main: {
      id: 1,
      large: false,
      ops: [{
        name: "ID",
        src: -1,
        type: PT.SYSCALLID,
        copy: false,
        fixed: id,
        fixedWidth: true,
        dflt: id,
      }],
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
  const forks = FORKS.has(info.name);
  if (known) {
    const plan: CompatPlan = { main: byPosition(type, type, true), forks };
    const enterId = sys && sys.x === type ? sys.e : type - 1;
    if (OLD[enterId]?.name === info.name) plan.enter = byName(enterId, type);
    return plan;
  }
  if (sys) {
    if (sys.x === 1) return sys.sc < SYSDIG029_SC_MAX ? genericPair(info.name, sys.sc) : {};
    return { enter: byName(sys.e, type), main: byName(sys.x, type), forks };
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

// Scratch space of encodeCompat (events have at most a few dozen parameters).
const SRC_OFF = new Int32Array(256);
const SRC_LEN = new Int32Array(256);
const PARTS: (Uint8Array | undefined)[] = new Array(256);

/**
 * Writes output event `o` of event `ev` as one event block, straight into `out`: parameters
 * copied from the event where the encoding allows, computed otherwise.
 */
export function encodeCompat(out: BlockBuffer, ev: Event, o: OutEvent, dumpFlags: number): void {
  const n = o.pad ? o.ops.length : Math.min(o.ops.length, ev.nparams);
  let dataLen = 0;
  for (let i = 0; i < n; i++) {
    const op = o.ops[i];
    let part: Uint8Array | undefined;
    if (op.convert || op.src < 0 || op.src >= ev.nparams) {
      part = compatParam(ev, op, o.pad);
    } else {
      const len = ev.paramLength(op.src);
      if (op.copy && !(o.pad && len === 0 && op.fixedWidth)) {
        SRC_OFF[i] = ev.paramOffset(op.src);
        SRC_LEN[i] = len;
        PARTS[i] = undefined;
        dataLen += len;
        continue;
      }
      part = compatParam(ev, op, o.pad);
    }
    PARTS[i] = part;
    SRC_LEN[i] = part.length;
    dataLen += part.length;
  }
  const large = o.large;
  const lenSize = large ? 4 : 2;
  out.reserve(blockSize(n, large, dataLen, dumpFlags));
  const dv = out.dv, buf = out.buf, src = ev.buf;
  let p = beginEventBlock(out, ev, o.id, n, large, dataLen, dumpFlags);
  let d = p + n * lenSize;
  for (let i = 0; i < n; i++) {
    const len = SRC_LEN[i];
    if (lenSize === 2) dv.setUint16(p, len, true);
    else dv.setUint32(p, len, true);
    p += lenSize;
    const part = PARTS[i];
    if (part !== undefined) {
      buf.set(part, d);
      PARTS[i] = undefined;
    } else {
      // Parameters are short: a byte loop beats making a view to copy from.
      const from = SRC_OFF[i];
      for (let k = 0; k < len; k++) buf[d + k] = src[from + k];
    }
    d += len;
  }
  endEventBlock(out, d);
}

/** The bytes of one output parameter that is not a plain copy. */
function compatParam(ev: Event, o: ParamOp, pad: boolean): Uint8Array {
  if (o.convert) return o.convert(ev);
  if (o.src < 0) return o.fixed;
  if (o.src >= ev.nparams) return o.dflt;
  const len = ev.paramLength(o.src);
  // An unreadable number in a synthesized event: old readers assume the full width.
  if (pad && len === 0 && o.fixedWidth) return o.dflt;
  if (o.copy) {
    const off = ev.paramOffset(o.src); // a view: written out before the event is let go
    return ev.buf.subarray(off, off + len);
  }
  const srcType = ev.info.params[o.src]?.type ?? PT.BYTEBUF;
  const v = decodeParam(srcType, ev.buf, ev.dv, ev.paramOffset(o.src), len);
  return encodeParam(o.type, v);
}
