/**
 * Code generation: one JavaScript function per event type evaluates every rule that can match
 * that type, in rule order. Checks on fields that depend only on the event type are folded away
 * first (so `evt.type in (open, openat)` costs nothing). Each field is extracted at most once per
 * event, into a local variable of the function. User text never enters the source: constants are
 * passed in an array and referenced by index; only JSON literals of strings and numbers appear.
 * @module
 */
import type { EventInfo } from "../events/table.ts";
import type { Checked, CheckNode, CheckValue, Operand } from "./check.ts";
import { testValue } from "./interp.ts";
import { NOT_CONSTANT } from "./fields/registry.ts";
import { evalOperand } from "./operand.ts";
import * as ops from "./ops.ts";
import { testPair } from "./interp.ts";

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
  num: (x: unknown) => (typeof x === "bigint" ? Number(x) : x),
};

/** One rule as the generator sees it. */
export interface GenRule {
  /** Index passed to the hit callback. */
  id: number;
  cond: Checked;
}

/** Generates the function for one event type. */
export class FunctionBuilder {
  readonly consts: unknown[] = [];
  readonly #constIdx = new Map<unknown, number>();
  readonly #slots = new Map<string, { name: string; init: string }>();
  readonly #helpers: string[] = [];

  constant(v: unknown): string {
    let i = this.#constIdx.get(v);
    if (i === undefined) {
      i = this.consts.length;
      this.consts.push(v);
      this.#constIdx.set(v, i);
    }
    return `K[${i}]`;
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
      return `((v = ${val}) !== undefined && (w = ${this.operand(n.right)}) !== undefined && ` +
        `R.testPair(${this.constant(n)}, v, w))`;
    }
    if (n.op === "exists") return `(${val} !== undefined)`;
    if (n.left.list || n.left.multi) {
      const h = this.helper(n);
      return `((v = ${val}) !== undefined && (R.isArray(v) ? v.some(${h}) : ${h}(v)))`;
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
   * in order; `first` stops at the first match. Returns the number of matches.
   */
  build(rules: { id: number; cond: Folded }[], first: boolean): string {
    const body: string[] = [];
    for (const r of rules) {
      if (r.cond === false) continue;
      const cond = r.cond === true ? "true" : this.expr(r.cond);
      body.push(`  if (${cond}) { H(${r.id}, ev, emit); ${first ? "return 1;" : "n++;"} }`);
    }
    const slots = [...this.#slots.values()].map((s) => `${s.name} = U`);
    return [
      `"use strict";`,
      `const U = R.U;`,
      ...this.#helpers,
      `return function evaluate(ev, emit) {`,
      slots.length ? `  let ${slots.join(", ")};` : "",
      "  let v, w;",
      first ? "" : "  let n = 0;",
      ...body,
      `  return ${first ? "0" : "n"};`,
      `};`,
    ].filter((l) => l !== "").join("\n");
  }
}

/** The signature of a generated evaluator. */
export type Evaluator = (ev: unknown, emit: unknown) => number;

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
