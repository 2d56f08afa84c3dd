/**
 * Event-type inference: the set of event ids a condition can match. `and` intersects, `or`
 * unites, negation is pushed down to the leaves (De Morgan), `evt.type` checks give their event
 * ids, and every other check is neutral (all types, and stays all types under negation). The same
 * algorithm as libsinsp's, so warnings and the kernel filter agree with Falco.
 *
 * @example
 * ```ts
 * setNames(inferEventTypes(parseCondition("evt.type in (open, openat) and fd.name = /x")));
 * // ["open", "openat"]: the only events the rule is evaluated for
 * ```
 * @module
 */
import type { BinaryCheck, Expr, FieldLike } from "./ast.ts";
import { EVENT_COUNT, eventIdsByName, EVENTS } from "../events/table.ts";
import { isSyscallName } from "./syscall_names.ts";

/** A set of event ids as a byte per id. */
export type EventSet = Uint8Array;

/** Every real event id (not placeholders). */
export function allEvents(): EventSet {
  const s = new Uint8Array(EVENT_COUNT);
  for (const e of EVENTS) if (!e.unused && e.name !== "NA") s[e.id] = 1;
  return s;
}

const ALL = allEvents();

/** Number of ids in a set. */
export function setSize(s: EventSet): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) n += s[i];
  return n;
}

/** The ids in a set. */
export function setIds(s: EventSet): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) if (s[i]) out.push(i);
  return out;
}

function namesToSet(names: readonly string[]): EventSet {
  const s = new Uint8Array(EVENT_COUNT);
  for (const n of names) {
    const ids = eventIdsByName(n);
    // A syscall without its own event type arrives as a generic `syscall` event.
    for (const id of ids.length > 0 ? ids : isSyscallName(n) ? eventIdsByName("syscall") : []) {
      s[id] = 1;
    }
  }
  return s;
}

function invert(s: EventSet): EventSet {
  const out = new Uint8Array(EVENT_COUNT);
  for (let i = 0; i < s.length; i++) out[i] = ALL[i] & (s[i] ^ 1);
  return out;
}

function isEvtTypeField(f: FieldLike): boolean {
  return f.kind === "field" && (f.name === "evt.type" || f.name === "syscall.type") &&
    f.arg === undefined;
}

function evtNumInvariant(e: BinaryCheck): "empty" | "all" | undefined {
  if (e.left.kind !== "field" || e.left.name !== "evt.num" || e.left.arg !== undefined) {
    return undefined;
  }
  const parse = (v: string) => /^\d+$/.test(v) ? BigInt(v) : undefined;
  if (e.op === "in") {
    if (e.right.kind !== "list") return undefined;
    if (e.right.values.length === 0) return "empty";
    return e.right.values.every((v) => parse(v) === 0n) ? "empty" : undefined;
  }
  if (e.right.kind !== "value") return undefined;
  const n = parse(e.right.value);
  if (n === undefined) return undefined;
  switch (e.op) {
    case "=":
    case "==":
      return n === 0n ? "empty" : undefined;
    case "!=":
      return n === 0n ? "all" : undefined;
    case "<":
      return n <= 1n ? "empty" : undefined;
    case "<=":
      return n === 0n ? "empty" : undefined;
    case ">":
      return n === 0n ? "all" : undefined;
    case ">=":
      return n <= 1n ? "all" : undefined;
  }
  return undefined;
}

/**
 * The event ids `e` can match. Throws when evt.type is compared with a field or goes through a
 * transformer (the search cannot decide those).
 */
export function inferEventTypes(e: Expr): EventSet {
  return visit(e, false);
}

function visit(e: Expr, neg: boolean): EventSet {
  switch (e.kind) {
    case "and":
    case "or": {
      const conj = (e.kind === "and") !== neg;
      const acc: EventSet = conj ? ALL.slice() : new Uint8Array(EVENT_COUNT);
      for (const c of e.children) {
        const s = visit(c, neg);
        for (let i = 0; i < acc.length; i++) acc[i] = conj ? acc[i] & s[i] : acc[i] | s[i];
      }
      return acc;
    }
    case "not":
      return visit(e.child, !neg);
    case "id":
    case "unary":
      // Neutral: every type, negated or not. (`evt.type exists` is also every type.)
      return ALL.slice();
    case "binary": {
      const inv = evtNumInvariant(e);
      if (inv) {
        const s = inv === "all" ? ALL.slice() : new Uint8Array(EVENT_COUNT);
        return neg ? invert(s) : s;
      }
      if (e.left.kind === "transformer") {
        const touches = (f: FieldLike): boolean =>
          isEvtTypeField(f) ||
          (f.kind === "transformer" &&
            f.args.some((a) => a.kind !== "value" && a.kind !== "tlist" && touches(a)));
        if (touches(e.left)) {
          throw new Error("event code search does not support `evt.type` checks with transformers");
        }
      }
      const op = e.op;
      if ((op === "=" || op === "==" || op === "!=" || op === "in") && isEvtTypeField(e.left)) {
        if (e.right.kind === "field" || e.right.kind === "transformer") {
          throw new Error(
            "right-hand field comparisons on `evt.type`/`syscall.type` checks are not supported " +
              "by event code search",
          );
        }
        const names = e.right.kind === "list" ? e.right.values : [e.right.value];
        let s = namesToSet(names);
        if (neg) s = invert(s);
        if (op === "!=") s = invert(s);
        return s;
      }
      return ALL.slice();
    }
  }
}

/** Event names of a set (for the kernel filter and for listings). */
export function setNames(s: EventSet): string[] {
  const names = new Set<string>();
  for (let i = 0; i < s.length; i++) if (s[i]) names.add(EVENTS[i].name);
  return [...names].sort();
}
