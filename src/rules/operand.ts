/**
 * Evaluation of operands (fields and transformers) outside generated code: used to render alert
 * outputs, and by generated code for transformers.
 * @module
 */
import type { Event } from "../events/event.ts";
import type { FieldResult, FieldScalar } from "./fields/registry.ts";
import type { Operand } from "./check.ts";
import { b64decode, basename, len } from "./ops.ts";

function mapValue(
  v: FieldResult,
  fn: (s: FieldScalar) => FieldScalar | undefined,
): FieldResult {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) {
    const out: FieldScalar[] = [];
    for (const x of v) {
      const y = fn(x);
      if (y !== undefined) out.push(y);
    }
    return out;
  }
  return fn(v);
}

const utf8 = new TextDecoder();

/** Applies a single-argument transformer to a value (element-wise on lists). */
export function applyTransformer(name: string, v: FieldResult): FieldResult {
  switch (name) {
    case "tolower":
      return mapValue(v, (s) => String(s).toLowerCase());
    case "toupper":
      return mapValue(v, (s) => String(s).toUpperCase());
    case "basename":
      return mapValue(v, (s) => basename(String(s)));
    case "b64":
      return mapValue(v, (s) => b64decode(s instanceof Uint8Array ? utf8.decode(s) : String(s)));
    case "len":
      return v === undefined ? undefined : len(v);
    default:
      return undefined;
  }
}

/** Text of a scalar as outputs and string transformers see it. */
export function scalarText(v: FieldScalar): string {
  if (v instanceof Uint8Array) {
    let s = "";
    for (const b of v) s += b >= 32 && b < 127 ? String.fromCharCode(b) : ".";
    return s;
  }
  return String(v);
}

/**
 * The value of an operand for an event; undefined when it cannot be extracted. `caps` are the
 * values a sequence's earlier steps captured (for `${name}` operands).
 */
export function evalOperand(op: Operand, ev: Event, caps?: readonly FieldResult[]): FieldResult {
  switch (op.kind) {
    case "const":
      return op.value;
    case "capture":
      return caps?.[op.slot];
    case "field":
      return op.def.extract(ev, op.arg);
    case "xform": {
      if (op.name === "list") {
        const out: FieldScalar[] = [];
        for (const a of op.args) {
          const v = evalOperand(a, ev);
          if (v === undefined) continue;
          if (Array.isArray(v)) out.push(...v);
          else out.push(v);
        }
        return out;
      }
      if (op.name === "concat") {
        let s = "";
        for (const a of op.args) {
          const v = evalOperand(a, ev);
          if (v === undefined) return undefined;
          s += Array.isArray(v) ? v.map(scalarText).join("") : scalarText(v);
        }
        return s;
      }
      if (op.name === "join") {
        const sep = String(evalOperand(op.args[0], ev));
        const v = evalOperand(op.args[1], ev);
        if (v === undefined) return undefined;
        return Array.isArray(v) ? v.map(scalarText).join(sep) : scalarText(v);
      }
      return applyTransformer(op.name, evalOperand(op.args[0], ev));
    }
  }
}
