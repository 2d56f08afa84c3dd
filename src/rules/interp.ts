/**
 * The reference evaluator of checked conditions: plain code, no generation. The compiler uses it
 * to fold checks on fields that depend only on the event type (`evt.type = open` is decided once
 * per type), and the tests run it against the same case table as the generated code.
 * @module
 */
import type { Event } from "../events/event.ts";
import type { Checked, CheckNode, CheckValue, Operand } from "./check.ts";
import type { FieldResult, FieldScalar } from "./fields/registry.ts";
import { evalOperand } from "./operand.ts";
import {
  asciiLower,
  bytesEndsWith,
  bytesEqual,
  bytesIndexOf,
  bytesStartsWith,
  compileGlob,
  ipInNet,
  type IpNet,
  toBytes,
} from "./ops.ts";

function eq(x: FieldScalar, k: CheckValue, domain: CheckNode["domain"]): boolean {
  switch (domain) {
    case "net":
      return typeof x === "string" && ipInNet(x, k as IpNet);
    case "bytes":
      return bytesEqual(toBytes(x), k as Uint8Array);
    case "num":
    case "bool":
      // deno-lint-ignore eqeqeq
      return x == (k as number);
    default:
      return x === k;
  }
}

/** One comparison of an extracted scalar `x` with a constant `k` (operator without modifier). */
export function compareOne(
  op: string,
  domain: CheckNode["domain"],
  x: FieldScalar,
  k: CheckValue,
): boolean {
  switch (op) {
    case "=":
    case "in":
    case "intersects":
      return eq(x, k, domain);
    case "!=":
      return !eq(x, k, domain);
    case "<":
      return (x as number) < (k as number);
    case "<=":
      return (x as number) <= (k as number);
    case ">":
      return (x as number) > (k as number);
    case ">=":
      return (x as number) >= (k as number);
    case "contains":
    case "bcontains":
      if (domain === "bytes") return bytesIndexOf(toBytes(x), k as Uint8Array) >= 0;
      return typeof x === "string" && x.includes(k as string);
    case "icontains":
      return typeof x === "string" && asciiLower(x).includes(k as string);
    case "startswith":
    case "bstartswith":
      if (domain === "bytes") return bytesStartsWith(toBytes(x), k as Uint8Array);
      return typeof x === "string" && x.startsWith(k as string);
    case "endswith":
      if (domain === "bytes") return bytesEndsWith(toBytes(x), k as Uint8Array);
      return typeof x === "string" && x.endsWith(k as string);
    case "glob":
    case "iglob":
    case "regex":
      return typeof x === "string" && (k as RegExp).test(x);
    default:
      return false;
  }
}

/** The check applied to one extracted scalar. */
export function testScalar(n: CheckNode, x: FieldScalar): boolean {
  if (n.op === "exists") return true;
  if (n.op === "pmatch") return typeof x === "string" && n.paths!.match(x);
  if (n.op === "in" || n.op === "intersects") {
    return n.values.some((k) => compareOne(n.op, n.domain, x, k));
  }
  if (n.mod) {
    let hits = 0;
    for (const k of n.values) if (compareOne(n.op, n.domain, x, k)) hits++;
    if (n.mod === "anyof") return hits > 0;
    if (n.mod === "allof") return hits === n.values.length && hits > 0;
    return hits === 1;
  }
  return compareOne(n.op, n.domain, x, n.values[0]);
}

/** Compares two extracted scalars (right-hand side field). */
export function testPair(n: CheckNode, x: FieldScalar, y: FieldScalar): boolean {
  let k: CheckValue = y;
  if (n.op === "icontains" && typeof y === "string") k = asciiLower(y);
  else if ((n.op === "glob" || n.op === "iglob") && typeof y === "string") {
    k = compileGlob(y, n.op === "iglob");
  } else if (n.domain === "bytes") k = toBytes(y);
  return compareOne(n.op, n.domain, x, k);
}

function any(v: FieldResult, fn: (x: FieldScalar) => boolean): boolean {
  if (v === undefined) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (fn(x)) return true;
    return false;
  }
  return fn(v);
}

/** Whether `in` on this operand needs every element in the set (Falco's list fields). */
export function isSubsetList(op: Operand): boolean {
  return op.kind === "field" && op.def.subsetIn === true;
}

/** The check for an extracted value (undefined: not extractable, so false). */
export function testValue(n: CheckNode, v: FieldResult, right?: FieldResult): boolean {
  if (v === undefined) return false;
  if (n.right) {
    if (right === undefined) return false;
    return any(v, (x) => any(right, (y) => testPair(n, x, y)));
  }
  if (n.op === "in" && Array.isArray(v) && isSubsetList(n.left)) {
    return v.every((x) => testScalar(n, x));
  }
  return any(v, (x) => testScalar(n, x));
}

/**
 * Evaluates a checked condition on an event; `caps` are a sequence chain's captured values (for
 * the `${name}` checks of a step).
 */
export function evaluate(c: Checked, ev: Event, caps?: readonly FieldResult[]): boolean {
  switch (c.k) {
    case "and":
      return c.c.every((x) => evaluate(x, ev, caps));
    case "or":
      return c.c.some((x) => evaluate(x, ev, caps));
    case "not":
      return !evaluate(c.c, ev, caps);
    case "check": {
      const v = evalOperand(c.left, ev, caps);
      return testValue(c, v, c.right ? evalOperand(c.right, ev, caps) : undefined);
    }
  }
}
