/**
 * Code generation: one JavaScript function per event type evaluates every rule that can match
 * that type, in rule order. Checks on fields that depend only on the event type are folded away
 * first (so `evt.type in (open, openat)` costs nothing). Each field is extracted at most once per
 * event, into a local variable of the function. User text never enters the source: constants are
 * passed in an array and bound to names; only JSON literals of strings and numbers appear.
 *
 * Remembered tests: a rule's condition is a conjunction, and most conjuncts test one field alone
 * (`fd.name startswith /etc/`, `not proc.name in (...)`). Such a test is a function of the
 * field's value, and the same values come back all the time (the same paths, the same process
 * names), so for a field that several rules of an event type test this way, the results of all
 * those tests are computed once per distinct value, kept as a bit mask per value (bounded Map),
 * and each rule starts with a bit test; the rest of its condition runs only when its bits are
 * set. AND is commutative for conditions without side effects, so moving these conjuncts first
 * changes no result. On Saker's openat rules this replaces ~35 string tests per event by one Map
 * lookup for paths seen before.
 *  * @module
 */
import type { EventInfo } from "../events/table.ts";
import { type Checked, type CheckNode, type CheckValue, domainOf, type Operand } from "./check.ts";
import { testValue } from "./interp.ts";
import type { FieldResult } from "./fields/registry.ts";
import { NOT_CONSTANT } from "./fields/registry.ts";
import { evalOperand } from "./operand.ts";
import * as ops from "./ops.ts";
import { isSubsetList, testPair } from "./interp.ts";

/** A condition folded for one event type: a boolean, or a tree still to evaluate. */
type Folded = Checked | boolean;

/** Folds checks on event-type constant fields for `info`. */
export function foldForType(c: Checked, info: EventInfo): Folded {
  switch (c.k) {
    case "and": {
      const kids: Checked[] = [];
      for (const x of c.c) {
        const f = foldForType(x, info);
        if (f === false) return false;
        if (f !== true) kids.push(f);
      }
      return kids.length === 0 ? true : kids.length === 1 ? kids[0] : { k: "and", c: kids };
    }
    case "or": {
      const kids: Checked[] = [];
      for (const x of c.c) {
        const f = foldForType(x, info);
        if (f === true) return true;
        if (f !== false) kids.push(f);
      }
      return kids.length === 0 ? false : kids.length === 1 ? kids[0] : { k: "or", c: kids };
    }
    case "not": {
      const f = foldForType(c.c, info);
      return typeof f === "boolean" ? !f : { k: "not", c: f };
    }
    case "check": {
      const l = c.left;
      if (l.kind === "field" && l.def.constant && !c.right) {
        const v = l.def.constant(info, l.arg);
        if (v !== NOT_CONSTANT) return testValue(c, v);
      }
      return c;
    }
  }
}

/** Runtime support passed to generated functions. */
export const RUNTIME = {
  U: Symbol("unset"),
  isArray: Array.isArray,
  lower: ops.asciiLower,
  ipInNet: ops.ipInNet,
  toBytes: ops.toBytes,
  bytesIndexOf: ops.bytesIndexOf,
  bytesStartsWith: ops.bytesStartsWith,
  bytesEndsWith: ops.bytesEndsWith,
  bytesEqual: ops.bytesEqual,
  evalOperand,
  testPair,
  testRight: (n: CheckNode, v: FieldResult, w: FieldResult) => testValue(n, v, w),
  num: (x: unknown) => (typeof x === "bigint" ? Number(x) : x),
};

/** One rule as the generator sees it. */
export interface GenRule {
  /** Index passed to the hit callback. */
  id: number;
  cond: Checked;
}

/** Values remembered per field, at most (then the memory starts over). */
const REMEMBERED_VALUES = 4096;

/** Rules per remembered mask (bits of a small integer). */
const MASK_BITS = 30;

/** The conjuncts of a condition (its top-level `and` flattened). */
function conjuncts(c: Checked): Checked[] {
  return c.k === "and" ? c.c.flatMap(conjuncts) : [c];
}

/**
 * The one operand a condition tests, when every check in it compares that operand (a text value:
 * not a number, list or multi-valued field; nothing on the right-hand side) with constants: the
 * condition is then a function of that operand's value alone. Undefined otherwise.
 */
function soleOperand(c: Checked): Operand | undefined {
  if (c.k === "not") return soleOperand(c.c);
  if (c.k === "and" || c.k === "or") {
    let op: Operand | undefined;
    for (const x of c.c) {
      const o = soleOperand(x);
      if (o === undefined || (op !== undefined && o.key !== op.key)) return undefined;
      op = o;
    }
    return op;
  }
  const n = c as CheckNode;
  const l = n.left;
  if (n.right !== undefined || l.kind === "const" || l.list || l.multi) return undefined;
  if (l.kind === "field" && l.def.distinct) return undefined; // remembering would only churn
  return domainOf(l.type) === "str" ? l : undefined;
}

/**
 * A rule as the builder plans it: its conjuncts in order, where the conjuncts testing one text
 * operand alone stand as that operand's key (at the first one's place; they are ANDed into one
 * remembered bit, or put back as they were if the operand is not remembered).
 */
interface RulePlan {
  id: number;
  /** A match stops evaluation in `first` mode (rules); steps of sequences never stop. */
  stop: boolean;
  always: boolean;
  parts: (Checked | string)[];
  byOperand: Map<string, Checked[]>;
  /** The remembered bit of each remembered operand of the rule. */
  tests: Map<string, { group: number; bit: number }>;
}

/** Rules sharing a remembered mask over one operand's values. */
interface MaskGroup {
  op: Operand;
  /** The rules' remembered conjuncts, by bit. */
  members: Checked[][];
}

/** Generates the function for one event type. */
export class FunctionBuilder {
  readonly consts: unknown[] = [];
  readonly #constIdx = new Map<unknown, number>();
  readonly #slots = new Map<string, { name: string; init: string }>();
  readonly #helpers: string[] = [];
  /** While generating a remembered test: operands given as a variable instead of a slot. */
  #given = new Map<string, string>();

  constant(v: unknown): string {
    let i = this.#constIdx.get(v);
    if (i === undefined) {
      i = this.consts.length;
      this.consts.push(v);
      this.#constIdx.set(v, i);
    }
    return `K${i}`;
  }

  literal(v: CheckValue): string {
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
    if (typeof v === "boolean") return String(v);
    if (typeof v === "bigint") return `${v}n`;
    return this.constant(v);
  }

  /** Expression yielding the operand's value, extracted once per event. */
  operand(op: Operand): string {
    if (op.kind === "const") return JSON.stringify(op.value);
    if (op.kind === "capture") return `C[${op.slot}]`;
    const given = this.#given.get(op.key);
    if (given !== undefined) return given;
    let slot = this.#slots.get(op.key);
    if (!slot) {
      const name = `f${this.#slots.size}`;
      const init = op.kind === "field"
        ? `${this.constant(op.def.extract)}(ev, ${
          op.arg === undefined ? "undefined" : JSON.stringify(op.arg)
        })`
        : `R.evalOperand(${this.constant(op)}, ev)`;
      slot = { name, init };
      this.#slots.set(op.key, slot);
    }
    return `(${slot.name} === U ? (${slot.name} = ${slot.init}) : ${slot.name})`;
  }

  /** Test of scalar `x` against a check's constants. */
  test(n: CheckNode, x: string): string {
    if (n.op === "exists") return "true";
    if (n.op === "pmatch") {
      return `(typeof ${x} === "string" && ${this.constant(n.paths)}.match(${x}))`;
    }
    const one = (k: CheckValue): string => this.compare(n, x, k);
    if (n.op === "in" || n.op === "intersects") {
      if (n.values.length > 4 && (n.domain === "str" || n.domain === "ip" || n.domain === "num")) {
        const set = this.constant(
          new Set(n.values.map((v) => typeof v === "bigint" ? Number(v) : v)),
        );
        return n.domain === "num" ? `${set}.has(R.num(${x}))` : `${set}.has(${x})`;
      }
      return n.values.length === 0 ? "false" : `(${n.values.map(one).join(" || ")})`;
    }
    if (n.mod === "anyof") return `(${n.values.map(one).join(" || ")})`;
    if (n.mod === "allof") return `(${n.values.map(one).join(" && ")})`;
    if (n.mod === "oneof") {
      return `((${n.values.map((k) => `(${one(k)} ? 1 : 0)`).join(" + ")}) === 1)`;
    }
    return one(n.values[0]);
  }

  compare(n: CheckNode, x: string, k: CheckValue): string {
    const d = n.domain;
    const op = n.op;
    const isStr = `typeof ${x} === "string"`;
    if (d === "net") {
      const t = `(${isStr} && R.ipInNet(${x}, ${this.constant(k)}))`;
      return op === "!=" ? `!${t}` : t;
    }
    if (d === "bytes") {
      const b = `R.toBytes(${x})`, kk = this.constant(k);
      switch (op) {
        case "=":
        case "in":
        case "intersects":
          return `R.bytesEqual(${b}, ${kk})`;
        case "!=":
          return `!R.bytesEqual(${b}, ${kk})`;
        case "contains":
        case "bcontains":
          return `(R.bytesIndexOf(${b}, ${kk}) >= 0)`;
        case "startswith":
        case "bstartswith":
          return `R.bytesStartsWith(${b}, ${kk})`;
        case "endswith":
          return `R.bytesEndsWith(${b}, ${kk})`;
      }
      return "false";
    }
    const lit = this.literal(k);
    const loose = d === "num" || d === "bool";
    switch (op) {
      case "=":
      case "in":
      case "intersects":
        return `(${x} ${loose ? "==" : "==="} ${lit})`;
      case "!=":
        return `(${x} ${loose ? "!=" : "!=="} ${lit})`;
      case "<":
      case "<=":
      case ">":
      case ">=":
        return `(${x} ${op} ${lit})`;
      case "contains":
        return `(${isStr} && ${x}.includes(${lit}))`;
      case "icontains":
        return `(${isStr} && R.lower(${x}).includes(${lit}))`;
      case "startswith":
        return `(${isStr} && ${x}.startsWith(${lit}))`;
      case "endswith":
        return `(${isStr} && ${x}.endsWith(${lit}))`;
      case "glob":
      case "iglob":
      case "regex":
        return `(${isStr} && ${this.constant(k)}.test(${x}))`;
    }
    return "false";
  }

  /** A helper function testing one scalar (used for list-valued fields). */
  helper(n: CheckNode): string {
    const name = `T${this.#helpers.length}`;
    this.#helpers.push(`const ${name} = (x) => ${this.test(n, "x")};`);
    return name;
  }

  check(n: CheckNode): string {
    // One temporary per side is enough: a check's value is used only inside the check.
    const v = "v";
    const val = this.operand(n.left);
    if (n.right) {
      // Either side may hold several values (proc.apid, a captured list): any pair that holds.
      const pair = n.left.list || n.left.multi || n.right.list || n.right.multi ||
          n.right.kind === "capture"
        ? "R.testRight"
        : "R.testPair";
      return `((v = ${val}) !== undefined && (w = ${this.operand(n.right)}) !== undefined && ` +
        `${pair}(${this.constant(n)}, v, w))`;
    }
    if (n.op === "exists") return `(${val} !== undefined)`;
    if (n.left.list || n.left.multi) {
      const h = this.helper(n);
      const each = n.op === "in" && isSubsetList(n.left) ? "every" : "some";
      return `((v = ${val}) !== undefined && (R.isArray(v) ? v.${each}(${h}) : ${h}(v)))`;
    }
    return `((${v} = ${val}) !== undefined && ${this.test(n, v)})`;
  }

  expr(c: Checked): string {
    switch (c.k) {
      case "and":
        return `(${c.c.map((x) => this.expr(x)).join(" && ")})`;
      case "or":
        return `(${c.c.map((x) => this.expr(x)).join(" || ")})`;
      case "not":
        return `!${this.expr(c.c)}`;
      case "check":
        return this.check(c);
    }
  }

  /**
   * Source of a factory `(K, R, H) => (ev, emit) => number` evaluating `rules` (already folded)
   * in order; `first` stops at the first match of an entry that may stop (`stop` not false:
   * sequence steps never stop the rules). Returns the number of matches.
   */
  build(rules: { id: number; cond: Folded; stop?: boolean }[], first: boolean): string {
    const plans = this.#plan(rules);
    const groups = this.#groups(plans);
    const masks = groups.map((g, i) => this.#maskSource(g, i));
    const body: string[] = [];
    for (const p of plans) {
      const parts: string[] = [];
      for (const part of p.parts) {
        if (typeof part !== "string") parts.push(this.expr(part));
        else {
          const t = p.tests.get(part);
          if (t) parts.push(`(${masks[t.group].value} & ${t.bit}) !== 0`);
          else for (const c of p.byOperand.get(part)!) parts.push(this.expr(c));
        }
      }
      const cond = p.always || parts.length === 0 ? "true" : parts.join(" && ");
      if (!p.stop) body.push(`  if (${cond}) H(${p.id}, ev, emit);`);
      else body.push(`  if (${cond}) { H(${p.id}, ev, emit); ${first ? "return 1;" : "n++;"} }`);
    }
    const slots = [...this.#slots.values()].map((s) => `${s.name} = U`);
    return [
      `"use strict";`,
      `const U = R.U;`,
      // Constants as bindings: loading one needs no type feedback (a K[i] load reached for the
      // first time in optimised code deoptimises it).
      this.consts.length ? `const ${this.consts.map((_, i) => `K${i} = K[${i}]`).join(", ")};` : "",
      ...this.#helpers,
      ...masks.map((m) => m.shared),
      `return function evaluate(ev, emit) {`,
      slots.length ? `  let ${slots.join(", ")};` : "",
      groups.length ? `  let ${groups.map((_, i) => `m${i} = U`).join(", ")};` : "",
      "  let v, w;",
      first ? "" : "  let n = 0;",
      ...body,
      `  return ${first ? "0" : "n"};`,
      `};`,
    ].filter((l) => l !== "").join("\n");
  }

  /**
   * Source of a factory `(K, R, H) => (ev, C) => boolean` testing one condition, where `C` holds
   * the values a sequence chain captured (`${name}` operands read `C[slot]`).
   */
  buildPredicate(cond: Folded): string {
    const body = typeof cond === "boolean" ? String(cond) : this.expr(cond);
    const slots = [...this.#slots.values()].map((s) => `${s.name} = U`);
    return [
      `"use strict";`,
      `const U = R.U;`,
      this.consts.length ? `const ${this.consts.map((_, i) => `K${i} = K[${i}]`).join(", ")};` : "",
      ...this.#helpers,
      `return function test(ev, C) {`,
      slots.length ? `  let ${slots.join(", ")};` : "",
      "  let v, w;",
      `  return ${body};`,
      `};`,
    ].filter((l) => l !== "").join("\n");
  }

  /** Sorts each rule's conjuncts: single text operand (by operand) or other. */
  #plan(rules: { id: number; cond: Folded; stop?: boolean }[]): RulePlan[] {
    const plans: RulePlan[] = [];
    for (const r of rules) {
      if (r.cond === false) continue;
      const plan: RulePlan = {
        stop: r.stop !== false,
        id: r.id,
        always: r.cond === true,
        parts: [],
        byOperand: new Map(),
        tests: new Map(),
      };
      if (r.cond !== true) {
        for (const c of conjuncts(r.cond)) {
          const op = soleOperand(c);
          if (op === undefined) plan.parts.push(c);
          else {
            const list = plan.byOperand.get(op.key);
            if (list) list.push(c);
            else {
              plan.byOperand.set(op.key, [c]);
              plan.parts.push(op.key);
            }
          }
        }
      }
      plans.push(plan);
    }
    return plans;
  }

  /**
   * Assigns remembered masks: an operand tested alone by at least two rules gets groups of up to
   * MASK_BITS rules; the other single-operand conjuncts stay plain tests.
   */
  #groups(plans: RulePlan[]): MaskGroup[] {
    const users = new Map<string, { op: Operand; plans: RulePlan[] }>();
    for (const p of plans) {
      for (const [key, cs] of p.byOperand) {
        const u = users.get(key);
        if (u) u.plans.push(p);
        else users.set(key, { op: soleOperand(cs[0])!, plans: [p] });
      }
    }
    const groups: MaskGroup[] = [];
    for (const u of users.values()) {
      if (u.plans.length < 2) continue;
      let g: MaskGroup | undefined;
      for (const p of u.plans) {
        if (g === undefined || g.members.length === MASK_BITS) {
          g = { op: u.op, members: [] };
          groups.push(g);
        }
        p.tests.set(u.op.key, { group: groups.length - 1, bit: 1 << g.members.length });
        g.members.push(p.byOperand.get(u.op.key)!);
      }
    }
    return groups;
  }

  /**
   * Source of remembered mask `i`: `shared` (factory scope) computes the bits for a value and
   * keeps them per text value; `value` (in the evaluator) gives them for this event's value,
   * computed at most once per event.
   */
  #maskSource(g: MaskGroup, i: number): { shared: string; value: string } {
    this.#given.set(g.op.key, "x");
    const bits = g.members.map((cs, b) => {
      const c: Checked = cs.length === 1 ? cs[0] : { k: "and", c: cs };
      return `(${this.expr(c)} ? ${1 << b} : 0)`;
    });
    this.#given.delete(g.op.key);
    // The last text value and its bits are kept beside the map: consecutive events mostly
    // carry the same value (the same string object), which is then one comparison instead of
    // a map lookup.
    const shared = [
      `const B${i} = (x) => {\n  let v, w;\n  return ${bits.join(" | ")};\n};`,
      `const S${i} = new Map();`,
      `let L${i} = U, N${i} = 0;`,
      `const G${i} = (x) => {`,
      `  if (x === L${i}) return N${i};`,
      `  if (typeof x !== "string") return B${i}(x);`,
      `  let m = S${i}.get(x);`,
      `  if (m === undefined) {`,
      `    m = B${i}(x);`,
      `    if (S${i}.size >= ${REMEMBERED_VALUES}) S${i}.clear();`,
      `    S${i}.set(x, m);`,
      `  }`,
      `  L${i} = x;`,
      `  N${i} = m;`,
      `  return m;`,
      `};`,
    ].join("\n");
    const value = `(m${i} === U ? (m${i} = G${i}(${this.operand(g.op)})) : m${i})`;
    return { shared, value };
  }
}

/** The signature of a generated evaluator. */
export type Evaluator = (ev: unknown, emit: unknown) => number;

/** The signature of a generated predicate: an event and a chain's captured values. */
export type Predicate = (ev: unknown, caps: readonly FieldResult[]) => boolean;

/** Compiles generated predicate source (see {@link FunctionBuilder.buildPredicate}). */
export function instantiatePredicate(source: string, consts: unknown[]): Predicate {
  const factory = new Function("K", "R", "H", source) as (
    k: unknown[],
    r: typeof RUNTIME,
    h: undefined,
  ) => Predicate;
  return factory(consts, RUNTIME, undefined);
}

/** Compiles generated source into an evaluator. */
export function instantiate(
  source: string,
  consts: unknown[],
  hit: (id: number, ev: never, emit: never) => void,
): Evaluator {
  const factory = new Function("K", "R", "H", source) as (
    k: unknown[],
    r: typeof RUNTIME,
    h: typeof hit,
  ) => Evaluator;
  return factory(consts, RUNTIME, hit);
}
