/**
 * Kernel predicates derived from the loaded rules: for each event type, a condition over facts
 * the probe reads cheaply (the call's result, open flags, the opened path, the socket's family,
 * protocol, connection state and addresses, the thread's command name) such that an event failing
 * it cannot match any rule. The probe can then drop such events before they cost a record.
 *
 * Why it is sound: a rule's condition, with negations pushed down to the checks (De Morgan), is
 * monotone in its literals. Each literal the probe can decide exactly stays; every other literal
 * becomes `true`. The result is implied by the condition, so an event that fails it fails the
 * condition too. A negated literal stays only on fields whose value comes from the event record
 * itself (never missing when the kernel has it), since a check on a missing value is false and
 * its negation true, which the kernel, knowing the value, would not reproduce.
 *
 * What it gives: per event type, `"all"` (some rule cannot be reduced: keep everything, with the
 * rule named) or clauses in disjunctive normal form (keep when one clause holds; no clause: no
 * rule can match). Past {@link MAX_CLAUSES} clauses or {@link MAX_LITERALS} literals in one clause
 * a type keeps everything.
 *
 * @example
 * ```ts
 * import { deriveKernelPredicates, formatPredicates } from "./kernel_filter.ts";
 * const preds = deriveKernelPredicates(compiled.rules.filter((r) => r.enabled));
 * console.log(formatPredicates(preds).join("\n"));
 * // sendto: keep when fd.l4proto != tcp and fd.connected = false
 * ```
 * @module
 */
import type { Checked, CheckNode, CheckValue } from "./check.ts";
import type { CompiledRule } from "./compiler.ts";
import { foldForType } from "./codegen.ts";
import { evalOperand } from "./operand.ts";
import { testScalar, testValue } from "./interp.ts";
import type { FieldScalar } from "./fields/registry.ts";
import { ipText } from "./ops.ts";
import { EF, type EventInfo, EVENTS, PT } from "../events/table.ts";
import type { Event } from "../events/event.ts";

/** Clauses per event type past which the type keeps everything. */
export const MAX_CLAUSES = 64;
/** Literals per clause past which the type keeps everything. */
export const MAX_LITERALS = 16;

/** How the probe may test one field. */
interface KernelField {
  /** Operators (base, without modifier) the probe evaluates on it. */
  ops: readonly string[];
  /** A negated check stays (the value comes from the record itself, never missing). */
  negatable: boolean;
}

const NUM_OPS = ["=", "!=", "<", "<=", ">", ">=", "in"] as const;
const STR_OPS = ["=", "!=", "in", "startswith", "endswith", "contains"] as const;
const SET_OPS = ["=", "!=", "in"] as const;
const IP_OPS = ["=", "!=", "in"] as const;

const RESULT_FIELDS: Record<string, KernelField> = {
  "evt.rawres": { ops: NUM_OPS, negatable: true },
  "evt.failed": { ops: ["=", "!="], negatable: true },
  "evt.res": { ops: ["=", "!=", "in"], negatable: true },
  "proc.name": { ops: ["=", "in", "startswith"], negatable: false },
};

const OPEN_EVENTS = ["open", "openat", "openat2", "creat"];
const OPEN_FIELDS: Record<string, KernelField> = {
  "evt.is_open_read": { ops: ["=", "!="], negatable: true },
  "evt.is_open_write": { ops: ["=", "!="], negatable: true },
  "fd.num": { ops: NUM_OPS, negatable: false },
  "fd.name": { ops: STR_OPS, negatable: false },
  "fd.nameraw": { ops: STR_OPS, negatable: false },
  "fd.directory": { ops: SET_OPS, negatable: false },
  "fd.filename": { ops: SET_OPS, negatable: false },
};

const SOCKET_EVENTS = ["connect", "sendto", "sendmsg"];
const SOCKET_FIELDS: Record<string, KernelField> = {
  "fd.typechar": { ops: ["=", "!=", "in"], negatable: false },
  "fd.sockfamily": { ops: ["=", "!=", "in"], negatable: false },
  "fd.l4proto": { ops: ["=", "!=", "in"], negatable: false },
  "fd.connected": { ops: ["=", "!="], negatable: false },
  "fd.lip": { ops: IP_OPS, negatable: false },
  "fd.rip": { ops: IP_OPS, negatable: false },
  "fd.lnet": { ops: IP_OPS, negatable: false },
  "fd.rnet": { ops: IP_OPS, negatable: false },
  "fd.ip": { ops: ["=", "in"], negatable: false },
  "fd.net": { ops: ["=", "in"], negatable: false },
};
/** On connect the caller is the client: server = remote, client = local. */
const CONNECT_FIELDS: Record<string, KernelField> = {
  "fd.sip": { ops: IP_OPS, negatable: false },
  "fd.cip": { ops: IP_OPS, negatable: false },
  "fd.snet": { ops: IP_OPS, negatable: false },
  "fd.cnet": { ops: IP_OPS, negatable: false },
};

/** Whether an event type is a syscall exit event with a result the probe has. */
function hasResult(info: EventInfo): boolean {
  if (info.dir !== "<" || info.params.length === 0) return false;
  const p = info.params[0];
  return (p.name === "res" || p.name === "fd") &&
    [PT.ERRNO, PT.FD, PT.PID, PT.INT64, PT.UINT64].includes(p.type as never);
}

/**
 * The fields the probe can test for events of `info`'s type, and how. Empty for event types the
 * probe does not filter (enter events, old versions, scheduler events).
 */
export function kernelFields(info: EventInfo): ReadonlyMap<string, KernelField> {
  const out = new Map<string, KernelField>();
  if (info.old || info.unused || !hasResult(info)) return out;
  const add = (t: Record<string, KernelField>) => {
    for (const [k, v] of Object.entries(t)) out.set(k, v);
  };
  add(RESULT_FIELDS);
  if (OPEN_EVENTS.includes(info.name)) add(OPEN_FIELDS);
  if (SOCKET_EVENTS.includes(info.name)) add(SOCKET_FIELDS);
  if (info.name === "connect") add(CONNECT_FIELDS);
  return out;
}

/** A check the probe evaluates, possibly negated. */
export interface Literal {
  check: CheckNode;
  neg: boolean;
  /** Identifies equal literals (field, operator, values, polarity). */
  key: string;
}

/** The predicate of one event type. */
export interface KernelPredicate {
  event: EventInfo;
  /** `"all"`: keep every event; otherwise keep an event when one clause (all its literals) holds. */
  keep: "all" | Literal[][];
  /** Why a type keeps everything: the rule (or the limit) that could not be reduced. */
  reason?: string;
}

function valueText(v: CheckValue): string {
  if (v instanceof RegExp) return v.source;
  if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (typeof v === "object") return `${ipText(v.bytes)}/${v.bits}`;
  return String(v);
}

/** The check as condition text (`fd.name startswith /etc/`). */
export function checkText(n: CheckNode): string {
  const op = n.mod ? `${n.op} ${n.mod}` : n.op;
  if (n.op === "exists") return `${n.left.key} exists`;
  const vals = n.values.map(valueText);
  const list = n.op === "in" || n.op === "intersects" || n.mod;
  return `${n.left.key} ${op} ${list ? `(${vals.join(", ")})` : vals[0]}`;
}

function literalOf(n: CheckNode, neg: boolean): Literal {
  return { check: n, neg, key: (neg ? "not " : "") + checkText(n) };
}

/** Literal the probe decides exactly, or undefined (the literal is then `true`). */
function decidable(n: CheckNode, neg: boolean, fields: ReadonlyMap<string, KernelField>) {
  if (n.left.kind !== "field" || n.left.arg !== undefined || n.right) return undefined;
  const f = fields.get(n.left.def.name);
  if (!f || !f.ops.includes(n.op)) return undefined;
  if (n.mod && n.mod !== "anyof") return undefined;
  if (neg && !f.negatable) return undefined;
  return literalOf(n, neg);
}

type Dnf = Literal[][] | "all";

/** Clauses of `c` (negated when `neg`), with undecidable literals as `true`. */
function dnf(c: Checked, neg: boolean, fields: ReadonlyMap<string, KernelField>): Dnf {
  switch (c.k) {
    case "not":
      return dnf(c.c, !neg, fields);
    case "check": {
      const lit = decidable(c, neg, fields);
      return lit ? [[lit]] : "all";
    }
    case "and":
    case "or": {
      const conj = (c.k === "and") !== neg;
      if (!conj) {
        const out: Literal[][] = [];
        for (const x of c.c) {
          const d = dnf(x, neg, fields);
          if (d === "all") return "all";
          out.push(...d);
          if (out.length > MAX_CLAUSES) return "all";
        }
        return out;
      }
      let acc: Literal[][] = [[]];
      for (const x of c.c) {
        const d = dnf(x, neg, fields);
        if (d === "all") continue; // `true` in a conjunction
        const next: Literal[][] = [];
        for (const a of acc) {
          for (const b of d) {
            const merged = mergeClause(a, b);
            if (merged) next.push(merged);
          }
        }
        if (next.length > MAX_CLAUSES) return "all";
        acc = next;
      }
      return acc.length === 1 && acc[0].length === 0 ? "all" : acc;
    }
  }
}

/** Conjunction of two clauses; undefined when it holds a literal and its negation. */
function mergeClause(a: Literal[], b: Literal[]): Literal[] | undefined {
  const keys = new Set(a.map((l) => l.key));
  const out = [...a];
  for (const l of b) {
    if (keys.has(l.key)) continue;
    const opposite = l.neg ? l.key.slice(4) : `not ${l.key}`;
    if (keys.has(opposite)) return undefined;
    keys.add(l.key);
    out.push(l);
  }
  return out;
}

/**
 * False when the clause cannot hold: some field has a positive `=`/`in` literal and none of its
 * values passes every literal on that field (`fd.l4proto = tcp and fd.l4proto != tcp`).
 */
function satisfiable(clause: Literal[]): boolean {
  const byField = new Map<string, Literal[]>();
  for (const l of clause) {
    const k = l.check.left.key;
    byField.set(k, [...(byField.get(k) ?? []), l]);
  }
  for (const lits of byField.values()) {
    if (lits.length < 2) continue;
    const eq = lits.find((l) =>
      !l.neg && (l.check.op === "=" || l.check.op === "in") && !l.check.mod &&
      !l.check.left.multi && l.check.domain !== "net"
    );
    if (!eq) continue;
    const ok = eq.check.values.some((v) =>
      lits.every((l) => testScalar(l.check, v as FieldScalar) !== l.neg)
    );
    if (!ok) return false;
  }
  return true;
}

/** Drops duplicate clauses and clauses implied by a shorter one (absorption). */
function simplify(clauses: Literal[][]): Literal[][] {
  const sets = clauses
    .filter(satisfiable)
    .map((c) => ({ c, keys: new Set(c.map((l) => l.key)) }))
    .sort((x, y) => x.keys.size - y.keys.size);
  const kept: typeof sets = [];
  for (const s of sets) {
    if (kept.some((k) => [...k.keys].every((key) => s.keys.has(key)))) continue;
    kept.push(s);
  }
  return kept.map((k) => k.c);
}

/**
 * The kernel predicate of every event type some enabled rule can match, by event id. Event types
 * no rule can match are absent (the syscall filter already leaves them out).
 */
export function deriveKernelPredicates(
  rules: readonly CompiledRule[],
): Map<number, KernelPredicate> {
  const out = new Map<number, KernelPredicate>();
  for (const info of EVENTS) {
    if (info.old || info.unused || info.dir !== "<") continue;
    const relevant = rules.filter((r) => r.enabled && r.eventTypes[info.id] === 1);
    if (relevant.length === 0) continue;
    const fields = kernelFields(info);
    let clauses: Literal[][] = [];
    let reason: string | undefined;
    for (const r of relevant) {
      const folded = foldForType(r.checked, info);
      if (folded === false) continue;
      const d: Dnf = folded === true ? "all" : dnf(folded, false, fields);
      if (d === "all") {
        reason = `rule "${r.name}"`;
        break;
      }
      clauses.push(...d);
      if (clauses.length > MAX_CLAUSES * 4) {
        reason = `more than ${MAX_CLAUSES} clauses`;
        break;
      }
    }
    if (reason === undefined) {
      clauses = simplify(clauses);
      if (clauses.length > MAX_CLAUSES) reason = `more than ${MAX_CLAUSES} clauses`;
      else if (clauses.some((c) => c.length > MAX_LITERALS)) {
        reason = `a clause of more than ${MAX_LITERALS} checks`;
      }
    }
    out.set(
      info.id,
      reason === undefined ? { event: info, keep: clauses } : { event: info, keep: "all", reason },
    );
  }
  return out;
}

/** Whether one literal holds for an event (the same facts the probe reads, from the event). */
export function literalHolds(l: Literal, ev: Event): boolean {
  return testValue(l.check, evalOperand(l.check.left, ev)) !== l.neg;
}

/** Whether the predicate keeps the event. */
export function predicateKeeps(p: KernelPredicate, ev: Event): boolean {
  if (p.keep === "all") return true;
  return p.keep.some((clause) => clause.every((l) => literalHolds(l, ev)));
}

/**
 * One line per event type: `openat: keep when (a and b) or c`, `execve: keep all (rule "x")`,
 * `sendto: drop all (no rule can match)`. Types that keep everything for want of a reduction
 * come last.
 */
export function formatPredicates(preds: ReadonlyMap<number, KernelPredicate>): string[] {
  const reduced: string[] = [];
  const all: string[] = [];
  const seen = new Set<string>();
  for (const p of preds.values()) {
    const name = p.event.name;
    if (seen.has(name)) continue;
    seen.add(name);
    if (p.keep === "all") {
      all.push(`${name}: keep all (${p.reason})`);
    } else if (p.keep.length === 0) {
      reduced.push(`${name}: drop all (no rule can match)`);
    } else {
      const clause = (c: Literal[]) => c.map((l) => l.key).join(" and ");
      const text = p.keep.length === 1
        ? clause(p.keep[0])
        : p.keep.map((c) => (c.length > 1 ? `(${clause(c)})` : clause(c))).join(" or ");
      reduced.push(`${name}: keep when ${text}`);
    }
  }
  return [...reduced.sort(), ...all.sort()];
}

/**
 * Calls whose fd facts come from the call itself (the fd they create, its path or socket), so
 * that rules reading fd.* on them need no earlier state. Paths relative to a directory fd are
 * the exception, unless the probe resolves them ({@link FdStateOptions.probeResolvesPaths}).
 */
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
  "eventfd",
  "eventfd2",
  "signalfd",
  "signalfd4",
  "timerfd_create",
  "inotify_init",
  "inotify_init1",
  "epoll_create",
  "epoll_create1",
  "userfaultfd",
  "pidfd_open",
]);

/** A field reference: name and argument (`evt.arg` and `flags`). */
type FieldRef = [string, string | undefined];

const FD_PARAM = new Set<number>([PT.FD, PT.FD32]);

/**
 * Whether reading `ref` on events of `info` needs the fd table from earlier events: fd.* of an fd
 * the event did not create, an fd argument rendered with its name, a path relative to a
 * directory fd, the process's standard fds or fd counts.
 */
function readsFdHistory(ref: FieldRef, info: EventInfo, opts: FdStateOptions): boolean {
  const [name, arg] = ref;
  if (name.startsWith("proc.std") || name === "proc.fdopencount" || name === "proc.fdusage") {
    return true;
  }
  const n = info.name;
  const fromEvent = FD_FROM_EVENT.has(n) && (!OPEN_EVENTS.includes(n) || !!opts.probeResolvesPaths);
  const fdEvent = (info.flags & (EF.CREATES_FD | EF.USES_FD | EF.DESTROYS_FD)) !== 0;
  if (name.startsWith("fd.")) {
    if (!fdEvent || opts.probeFdFacts?.has(n)) return false;
    return name === "fd.types" || !fromEvent;
  }
  const paramNeeds = (i: number) => {
    const p = info.params[i];
    if (!p) return false;
    if (FD_PARAM.has(p.type)) {
      return !(i === 0 && FD_FROM_EVENT.has(n)) && !opts.probeFdFacts?.has(n);
    }
    return p.dirfdParam !== undefined && !opts.probeResolvesPaths;
  };
  if (name === "evt.args" || name === "evt.info") return info.params.some((_, i) => paramNeeds(i));
  if (name === "evt.arg" && arg !== undefined) {
    const i = /^\d+$/.test(arg) ? Number(arg) : info.params.findIndex((p) => p.name === arg);
    return paramNeeds(i);
  }
  return false;
}

/** Options of {@link fdStateReaders}. */
export interface FdStateOptions {
  /**
   * The probe resolves the paths of the open family itself (relative to the working directory
   * or a directory fd), so fd.name on an open needs no earlier directory fd.
   */
  probeResolvesPaths?: boolean;
  /**
   * Calls whose records carry their fd's facts (socket family, protocol, state, addresses), so
   * fd.* on them needs no earlier socket or connect.
   */
  probeFdFacts?: ReadonlySet<string>;
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

/**
 * Which rules need the fd table kept from earlier events: `rule "R" reads fd.name on write`,
 * one line per rule and event type. Empty: no rule needs fd history, so calls that only maintain
 * the fd table (close, dup, fcntl, and the fd-creating calls beyond what rules ask of them) can
 * stay in the kernel. The conditions and outputs both count.
 */
export function fdStateReaders(
  rules: readonly CompiledRule[],
  opts: FdStateOptions = {},
): string[] {
  const out: string[] = [];
  for (const r of rules) {
    if (!r.enabled) continue;
    const refs: FieldRef[] = [];
    fieldsOfChecked(r.checked, refs);
    for (const k of r.output.fields) {
      const m = /^(evt\.arg|evt\.rawarg)(?:\.(\w+)|\[(\w+)\])$/.exec(k);
      refs.push(m ? [m[1], m[2] ?? m[3]] : [k.replace(/\[.*$/, ""), undefined]);
    }
    const types = new Set<string>();
    const readers = new Set<string>();
    for (const info of EVENTS) {
      if (r.eventTypes[info.id] !== 1 || info.old || info.unused || info.dir !== "<") continue;
      for (const ref of refs) {
        if (!readsFdHistory(ref, info, opts)) continue;
        types.add(info.name);
        readers.add(ref[1] === undefined ? ref[0] : `${ref[0]}.${ref[1]}`);
      }
    }
    if (types.size > 0) {
      out.push(
        `rule "${r.name}" reads ${[...readers].sort().join(", ")} on ${
          [...types].sort().join(", ")
        }`,
      );
    }
  }
  return out;
}

/**
 * Event names no rule can match whatever the event (every live event type of the name has no
 * clause left): the syscall filter can leave them out unless state tracking needs them.
 */
export function unmatchableEvents(preds: ReadonlyMap<number, KernelPredicate>): Set<string> {
  const none = new Set<string>();
  const some = new Set<string>();
  for (const p of preds.values()) {
    (p.keep !== "all" && p.keep.length === 0 ? none : some).add(p.event.name);
  }
  for (const n of some) none.delete(n);
  return none;
}
