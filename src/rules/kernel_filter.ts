/**
 * Kernel predicates derived from the loaded rules: for each event type, a condition over facts
 * the probe reads cheaply (the call's result, open flags, the opened path, the socket's kind,
 * protocol and peer address) such that an event failing it cannot match any rule. The probe
 * drops such events before they cost a record (src/rules/kernel_program.ts encodes them for
 * bpf/predicates.h).
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
 * // sendto: keep when fd.l4proto != tcp
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
import { type EventInfo, EVENTS, PT } from "../events/table.ts";
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
const SET_OPS = ["=", "in"] as const;
const IP_OPS = ["=", "!=", "in"] as const;

// What the probe reads (bpf/predicates.h) and src/rules/kernel_program.ts encodes. The command
// name is not among them: the kernel's may differ from the name state tracks for a thread (a
// thread renamed through /proc/self/task/N/comm), so `proc.name = x` is not decided there.
const RESULT_FIELDS: Record<string, KernelField> = {
  "evt.rawres": { ops: NUM_OPS, negatable: true },
  "evt.failed": { ops: ["=", "!="], negatable: true },
  "evt.res": { ops: ["=", "!=", "in"], negatable: true },
};

const OPEN_EVENTS = ["open", "openat", "openat2", "creat"];
const OPEN_FIELDS: Record<string, KernelField> = {
  "evt.is_open_read": { ops: ["=", "!="], negatable: true },
  "evt.is_open_write": { ops: ["=", "!="], negatable: true },
  "fd.num": { ops: NUM_OPS, negatable: false },
  "fd.name": { ops: ["=", "in", "startswith", "endswith", "contains"], negatable: false },
  "fd.nameraw": { ops: ["contains"], negatable: false },
  "fd.directory": { ops: SET_OPS, negatable: false },
  "fd.filename": { ops: SET_OPS, negatable: false },
};

// The socket's own facts. Not fd.connected: state says connected from the first connect that
// got going (EINPROGRESS), the kernel's socket may have failed since.
const SOCKET_EVENTS = ["connect", "sendto", "sendmsg"];
const SOCKET_FIELDS: Record<string, KernelField> = {
  "fd.typechar": { ops: SET_OPS, negatable: false },
  "fd.sockfamily": { ops: ["=", "!=", "in"], negatable: false },
  "fd.l4proto": { ops: ["=", "!=", "in"], negatable: false },
};
/** On connect the caller is the client: the server and the remote end are the peer. */
const CONNECT_FIELDS: Record<string, KernelField> = {
  "fd.sip": { ops: IP_OPS, negatable: false },
  "fd.rip": { ops: IP_OPS, negatable: false },
  "fd.snet": { ops: IP_OPS, negatable: false },
  "fd.rnet": { ops: IP_OPS, negatable: false },
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

/** Literal the probe decides exactly, or undefined (the literal is then `true`). */
function decidable(n: CheckNode, neg: boolean, fields: ReadonlyMap<string, KernelField>) {
  if (n.left.kind !== "field" || n.left.arg !== undefined || n.right) return undefined;
  const f = fields.get(n.left.def.name);
  if (!f || !f.ops.includes(n.op)) return undefined;
  if (n.mod && n.mod !== "anyof") return undefined;
  if (neg && !f.negatable) return undefined;
  return literalOf(n, neg);
}

/**
 * Which checks a reduction keeps: the literal for check `n` (negated when `neg`), or undefined
 * when the check becomes `true`.
 */
export type Decider = (n: CheckNode, neg: boolean) => Literal | undefined;

/** A check kept as a literal (for deciders). */
export function literalOf(n: CheckNode, neg: boolean): Literal {
  return { check: n, neg, key: (neg ? "not " : "") + checkText(n) };
}

type Dnf = Literal[][] | "all";

/**
 * The condition with every check the decider does not keep replaced by `true`, in disjunctive
 * normal form: clauses of literals (an event satisfying the condition satisfies one clause), or
 * `"all"` when some way of satisfying it keeps no literal (or past the size limits).
 */
export function reduceCondition(c: Checked, decide: Decider): Dnf {
  return dnf(c, false, decide);
}

/** Clauses of `c` (negated when `neg`), with undecidable literals as `true`. */
function dnf(c: Checked, neg: boolean, decide: Decider): Dnf {
  switch (c.k) {
    case "not":
      return dnf(c.c, !neg, decide);
    case "check": {
      const lit = decide(c, neg);
      return lit ? [[lit]] : "all";
    }
    case "and":
    case "or": {
      const conj = (c.k === "and") !== neg;
      if (!conj) {
        const out: Literal[][] = [];
        for (const x of c.c) {
          const d = dnf(x, neg, decide);
          if (d === "all") return "all";
          out.push(...d);
          if (out.length > MAX_CLAUSES) return "all";
        }
        return out;
      }
      let acc: Literal[][] = [[]];
      for (const x of c.c) {
        const d = dnf(x, neg, decide);
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
      const d: Dnf = folded === true
        ? "all"
        : dnf(folded, false, (n, neg) => decidable(n, neg, fields));
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
