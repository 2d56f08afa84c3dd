/**
 * What state tracking needs from the kernel for the loaded rules: whether any rule reads the fd
 * table kept from earlier events (fd history), and of which kind.
 *
 * Why: every open and close of every file goes through the fd table only so that a later event
 * on that fd can name it. When no rule reads an fd it did not create, the calls that only
 * maintain the table (close, dup, pipe, the open family beyond what rules ask of them...) can
 * stay in the kernel. The probe helps: it writes the directory a relative path was resolved
 * against (opens and the *at calls need no directory fd history), and the inode of the fd that
 * connect, send and dup use and of execve's standard fds (a table entry is checked against it).
 *
 * - `none`: no rule reads fd history.
 * - `sockets`: every read is of a socket, on an event whose record names its fd by inode, and
 *   the rule's condition implies the fd is a socket (`fd.type in (ipv4, ipv6)`, a check on
 *   `fd.sip`...): the calls that create and change sockets are enough; an entry the record shows
 *   to be another file now is dropped.
 * - `all`: as Falco, every fd lifecycle call.
 *
 * @example
 * ```ts
 * import { stateNeeds } from "./state_needs.ts";
 * const needs = stateNeeds(ruleset.rules);
 * needs.fdHistory; // "sockets"
 * needs.readers;   // ['rule "R" reads fd.sip on dup (sockets)']
 * ```
 * @module
 */
import type { Checked, CheckNode } from "./check.ts";
import type { CompiledRule } from "./compiler.ts";
import { foldForType } from "./codegen.ts";
import { literalOf, reduceCondition } from "./kernel_filter.ts";
import { EF, type EventInfo, EVENTS, paramIndexTable, PT } from "../events/table.ts";
import { ANON_FD_CREATORS, type FdHistory } from "../events/syscalls.ts";

export type { FdHistory };

/** What the rules need of state tracking. */
export interface StateNeeds {
  fdHistory: FdHistory;
  /**
   * One line per rule and event type reading fd history:
   * `rule "R" reads fd.sip on dup, dup2 (sockets)`.
   */
  readers: string[];
}

/** Calls that create the fd their fd.* fields describe (nothing earlier is read). */
const FD_FROM_EVENT = new Set([
  "open",
  "openat",
  "openat2",
  "creat",
  "socket",
  "accept",
  "accept4",
  "memfd_create",
  "pipe",
  "pipe2",
  "socketpair",
  "userfaultfd",
  ...ANON_FD_CREATORS,
]);

/** Events whose records carry the inode of the fd they use (`fd_ino`). */
const FD_INO = paramIndexTable("fd_ino");
/** Events whose records carry the inode of the standard fds. */
const STD_CHECKED = new Set(["execve", "execveat"]);

/**
 * The fd a field read from history refers to: the event's own fd, a standard fd (0, 1, 2), or
 * `any` (every fd, or an fd the rules cannot be shown to need only as a socket).
 */
type Slot = "fd" | 0 | 1 | 2 | "any";

/** A field reference: name and argument (`evt.arg` and `flags`). */
type FieldRef = [string, string | undefined];

const STD_SLOT: Record<string, Slot> = { stdin: 0, stdout: 1, stderr: 2 };
const FD_PARAM_TYPES = new Set<number>([PT.FD, PT.FD32]);
const FD_EVENT = EF.CREATES_FD | EF.USES_FD | EF.DESTROYS_FD;

/** The history slot `ref` reads on events of `info`, or undefined when it reads none. */
function slotOf(ref: FieldRef, info: EventInfo): Slot | undefined {
  const [name, arg] = ref;
  const std = /^proc\.(stdin|stdout|stderr)\./.exec(name);
  if (std) return STD_SLOT[std[1]];
  if (name === "proc.fdopencount" || name === "proc.fdusage" || name === "fd.types") return "any";
  if (name.startsWith("fd.")) {
    if ((info.flags & FD_EVENT) === 0) return undefined; // no fd: the field has no value
    return FD_FROM_EVENT.has(info.name) ? undefined : "fd";
  }
  const paramNeeds = (i: number): boolean => {
    const p = info.params[i];
    if (!p) return false;
    if (FD_PARAM_TYPES.has(p.type)) return !(i === 0 && FD_FROM_EVENT.has(info.name));
    return p.dirfdParam !== undefined && p.dirParam === undefined;
  };
  if (name === "evt.args" || name === "evt.info") {
    return info.params.some((_, i) => paramNeeds(i)) ? "any" : undefined;
  }
  if ((name === "evt.arg" || name === "evt.rawarg") && arg !== undefined) {
    const i = /^\d+$/.test(arg) ? Number(arg) : info.params.findIndex((p) => p.name === arg);
    return paramNeeds(i) ? "any" : undefined;
  }
  return undefined;
}

/** Fields with a value only for sockets (undefined otherwise, so every check on them fails). */
const SOCKET_ONLY = new Set([
  "fd.ip",
  "fd.cip",
  "fd.sip",
  "fd.lip",
  "fd.rip",
  "fd.port",
  "fd.cport",
  "fd.sport",
  "fd.lport",
  "fd.rport",
  "fd.proto",
  "fd.cproto",
  "fd.sproto",
  "fd.lproto",
  "fd.rproto",
  "fd.net",
  "fd.cnet",
  "fd.snet",
  "fd.lnet",
  "fd.rnet",
  "fd.sockfamily",
]);
const SOCKET_TYPES = new Set(["ipv4", "ipv6", "unix"]);
const SOCKET_TYPECHARS = new Set(["4", "6", "u"]);
const SOCKET_L4 = new Set(["tcp", "udp", "icmp", "raw"]);

/** True when check `n` (positive) can hold only if the fd of `slot` is a socket. */
function requiresSocket(n: CheckNode, slot: Slot): boolean {
  if (n.left.kind !== "field" || n.right || n.mod) return false;
  const name = n.left.def.name;
  const values = n.values.map(String);
  const within = (set: Set<string>) =>
    (n.op === "=" || n.op === "in") && values.length > 0 && values.every((v) => set.has(v));
  if (slot === "fd") {
    if (SOCKET_ONLY.has(name)) return true;
    if (name === "fd.type") return within(SOCKET_TYPES);
    if (name === "fd.typechar") return within(SOCKET_TYPECHARS);
    if (name === "fd.l4proto") return within(SOCKET_L4);
    if (name === "fd.connected" || name === "fd.is_server") {
      return n.op === "=" && values.length === 1 && values[0] === "true";
    }
    return false;
  }
  if (typeof slot === "number") {
    const std = ["stdin", "stdout", "stderr"][slot];
    return name === `proc.${std}.type` && within(SOCKET_TYPES);
  }
  return false;
}

/** True when `c` (for one event type) can hold only if the fd of `slot` is a socket. */
function impliesSocket(c: Checked | boolean, slot: Slot): boolean {
  if (c === false) return true;
  if (c === true) return false;
  const d = reduceCondition(
    c,
    (n, neg) => (!neg && requiresSocket(n, slot) ? literalOf(n, neg) : undefined),
  );
  return d !== "all";
}

function fieldsOfChecked(c: Checked, out: FieldRef[]): void {
  if (c.k === "check") {
    const add = (o: CheckNode["left"]): void => {
      if (o.kind === "field") out.push([o.def.name, o.arg]);
      else if (o.kind === "xform") o.args.forEach(add);
    };
    add(c.left);
    if (c.right) add(c.right);
  } else if (c.k === "not") fieldsOfChecked(c.c, out);
  else for (const x of c.c) fieldsOfChecked(x, out);
}

/** Fields a rule reads: its condition's and its output's. */
function ruleFields(r: CompiledRule): FieldRef[] {
  const refs: FieldRef[] = [];
  fieldsOfChecked(r.checked, refs);
  for (const k of r.output.fields) {
    const m = /^(evt\.arg|evt\.rawarg)(?:\.(\w+)|\[(\w+)\])$/.exec(k);
    refs.push(m ? [m[1], m[2] ?? m[3]] : [k.replace(/\[.*$/, ""), undefined]);
  }
  return refs;
}

const RANK: Record<FdHistory, number> = { none: 0, sockets: 1, all: 2 };

/**
 * The fd history the enabled rules need. Event types in `unmatchable` (no rule can match them,
 * see {@link import("./kernel_filter.ts").unmatchableEvents}) do not count.
 */
export function stateNeeds(
  rules: readonly CompiledRule[],
  unmatchable: ReadonlySet<string> = new Set(),
): StateNeeds {
  let mode: FdHistory = "none";
  const readers: string[] = [];
  for (const r of rules) {
    if (!r.enabled) continue;
    const refs = ruleFields(r);
    // Per need: the event types and the fields read.
    const byNeed = new Map<FdHistory, { types: Set<string>; fields: Set<string> }>();
    for (const info of EVENTS) {
      if (r.eventTypes[info.id] !== 1 || info.old || info.unused || info.dir !== "<") continue;
      if (unmatchable.has(info.name)) continue;
      let folded: Checked | boolean | undefined;
      for (const ref of refs) {
        const slot = slotOf(ref, info);
        if (slot === undefined) continue;
        folded ??= foldForType(r.checked, info);
        if (folded === false) break; // the rule cannot match this type
        const checked = slot === "fd" ? FD_INO[info.id] >= 0 : slot !== "any" &&
          STD_CHECKED.has(info.name);
        const need: FdHistory = checked && impliesSocket(folded, slot) ? "sockets" : "all";
        const entry = byNeed.get(need) ?? { types: new Set(), fields: new Set() };
        byNeed.set(need, entry);
        entry.types.add(info.name);
        entry.fields.add(ref[1] === undefined ? ref[0] : `${ref[0]}.${ref[1]}`);
        if (RANK[need] > RANK[mode]) mode = need;
      }
    }
    for (const [need, e] of byNeed) {
      readers.push(
        `rule "${r.name}" reads ${[...e.fields].sort().join(", ")} on ${
          [...e.types].sort().join(", ")
        } (${need})`,
      );
    }
  }
  return { fdHistory: mode, readers };
}
