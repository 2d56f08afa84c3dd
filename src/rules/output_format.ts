/**
 * Rule output strings: `%field`, `%field[arg]`, `%transformer(field)` and `%Nfield` (padded to N
 * characters) are resolved at alert time; missing values print `<NA>`. Compiled once per rule.
 *
 * @example
 * ```ts
import { compileOutput } from "./output_format.ts";
 * const out = compileOutput("open by %proc.name (file=%fd.name)", "syscall");
 * out.fields; // ["proc.name", "fd.name"]
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type { OutputFieldValue } from "./alert.ts";
import { Checker, type Operand } from "./check.ts";
import { parseFieldOrTransformer } from "./parser.ts";
import { evalOperand, scalarText } from "./operand.ts";
import { bufferText } from "./buffer_format.ts";
import type { FieldResult, FieldScalar } from "./fields/registry.ts";

/**
 * A piece of an output string: literal text, or a value. A value comes from the event by its
 * operand, or, for sequence and threshold rules, from the values the rule kept: `%step[N].field`
 * (`step` set: the field's value on the event of step N) and `%threshold.count` (no operand).
 */
export type OutputToken =
  | { text: string }
  | { key: string; operand: Operand | undefined; width: number; step?: number };

/**
 * Values an output of a sequence or threshold rule may name besides the event's fields: the
 * fields of each of `steps` steps (`%step[N].field`, N from 0) and the `computed` names.
 */
export interface NamedValues {
  steps?: number;
  computed?: readonly string[];
}

/** A compiled output string. */
export interface OutputFormat {
  tokens: OutputToken[];
  /** Keys of the fields the output names, in order, without duplicates. */
  fields: string[];
}

/** Thrown for an output string that names an unknown field. */
export class OutputError extends Error {}

const STEP_PREFIX = /^step\[(\d+)\]\./;
/** Longest `%` token tried (a field with its argument, or a transformer call). */
const MAX_TOKEN = 512;
/** Most parse attempts for one output string (each `%` tries ever shorter prefixes). */
const MAX_ATTEMPTS = 20_000;

/**
 * Compiles an output string for rules of `source`; `named` admits the values a sequence or
 * threshold rule keeps.
 */
export function compileOutput(fmt: string, source: string, named?: NamedValues): OutputFormat {
  let s = fmt;
  let attempts = 0;
  if (s.startsWith("*")) s = s.slice(1);
  const tokens: OutputToken[] = [];
  const checker = new Checker(source);
  let lit = "";
  for (let j = 0; j < s.length; j++) {
    if (s[j] !== "%") {
      lit += s[j];
      continue;
    }
    if (j === s.length - 1) {
      throw new OutputError("invalid formatting syntax: formatting cannot end with a %");
    }
    let width = 0;
    let k = j + 1;
    while (k < s.length && /\d/.test(s[k])) k++;
    if (k > j + 1) {
      width = Number(s.slice(j + 1, k));
      if (k === s.length) {
        throw new OutputError("invalid formatting syntax: formatting cannot end with a number");
      }
    }
    const computed = named?.computed?.find((c) => s.startsWith(c, k));
    if (computed !== undefined) {
      if (lit) tokens.push({ text: lit });
      lit = "";
      tokens.push({ key: computed, operand: undefined, width });
      j = k + computed.length - 1;
      continue;
    }
    let step: number | undefined;
    const sm = STEP_PREFIX.exec(s.slice(k));
    if (sm && named?.steps !== undefined) {
      step = Number(sm[1]);
      if (step >= named.steps) {
        throw new OutputError(
          `%step[${step}] names no step: the steps are numbered from 0 to ${named.steps - 1}`,
        );
      }
    }
    const skip = step === undefined ? 0 : sm![0].length;
    // The longest prefix that parses as a known field (Falco: `%proc.namex` is proc.name + "x").
    // Fields and transformers start with a letter; a token is at most MAX_TOKEN long.
    const from = k + skip;
    let rest = /^[A-Za-z]/.test(s.slice(from, from + 1)) ? s.slice(from, from + MAX_TOKEN) : "";
    let found: { operand: Operand; length: number } | undefined;
    let lastErr = "";
    while (rest.length > 0 && !found) {
      if (++attempts > MAX_ATTEMPTS) {
        throw new OutputError("output string too complex: too many % tokens that are no field");
      }
      try {
        const { expr, length } = parseFieldOrTransformer(rest);
        found = { operand: checker.operand(expr), length };
      } catch (e) {
        lastErr = (e as Error).message;
        rest = rest.slice(0, -1);
      }
    }
    if (!found) {
      const tok = /^[^\s]*/.exec(s.slice(k))![0];
      if (tok.startsWith("step[") && named?.steps === undefined) {
        throw new OutputError(`invalid formatting token ${tok}: %step[N] is for sequence outputs`);
      }
      throw new OutputError(
        /nonexistent field|unexpected token/.test(lastErr) || lastErr === ""
          ? `invalid formatting token ${tok}`
          : lastErr,
      );
    }
    if (lit) tokens.push({ text: lit });
    lit = "";
    const key = s.slice(k, k + skip + found.length);
    tokens.push(
      step === undefined
        ? { key, operand: found.operand, width }
        : { key, operand: found.operand, width, step },
    );
    j = k + skip + found.length - 1;
  }
  if (lit) tokens.push({ text: lit });
  const fields: string[] = [];
  for (const t of tokens) if ("key" in t && !fields.includes(t.key)) fields.push(t.key);
  return { tokens, fields };
}

/** Text of a field value in an output string. */
export function valueText(v: FieldResult): string {
  if (v === undefined) return "<NA>";
  if (v instanceof Uint8Array) return bufferText(v);
  if (Array.isArray(v)) return v.map(scalarText).join(",");
  return scalarText(v);
}

/** Typed value of a field in `output_fields`. */
export function valueTyped(v: FieldResult): OutputFieldValue {
  if (v === undefined) return null;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "bigint") {
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  }
  return valueText(v);
}

type ValueToken = Extract<OutputToken, { key: string }>;

/** The value of a value token for an event (`kept`: the values not read from the event). */
function tokenValue(
  t: ValueToken,
  ev: Event,
  kept: ReadonlyMap<string, FieldResult> | undefined,
): FieldResult {
  if (t.step !== undefined || t.operand === undefined) return kept?.get(t.key);
  try {
    return evalOperand(t.operand, ev);
  } catch {
    return undefined;
  }
}

/**
 * Several values as one: a list field (fd.types) prints "(a,b)" as Falco does; a multi-valued
 * field without a level (proc.aname, fd.ip) prints its first value, as Falco's output does.
 */
function oneValue(t: ValueToken, v: FieldScalar[]): FieldResult {
  const list = t.operand?.kind === "field" && t.operand.list;
  return list ? `(${v.map(scalarText).join(",")})` : v[0];
}

/** Falco's list fields (plugin lists such as ka.req.pod.containers.image) are JSON arrays. */
function isTypedList(t: ValueToken): boolean {
  return t.operand?.kind === "field" && t.operand.def.subsetIn === true;
}

/** The text of a value in an output, padded or cut to the token's width. */
function tokenText(t: ValueToken, v: FieldResult): string {
  const text = valueText(v);
  if (t.width > 0) return text.length > t.width ? text.slice(0, t.width) : text.padEnd(t.width);
  return text;
}

/**
 * Resolves an output for an event: the text and the typed field values. `kept` gives the values
 * of the tokens that do not come from the event (`%step[N].field`, `%threshold.count`), by key.
 */
export function renderOutput(
  fmt: OutputFormat,
  ev: Event,
  kept?: ReadonlyMap<string, FieldResult>,
): { output: string; fields: Record<string, OutputFieldValue> } {
  let out = "";
  const fields: Record<string, OutputFieldValue> = {};
  for (const t of fmt.tokens) {
    if ("text" in t) {
      out += t.text;
      continue;
    }
    let v = tokenValue(t, ev, kept);
    let typedList: string[] | undefined;
    if (Array.isArray(v)) {
      if (isTypedList(t)) typedList = v.map(scalarText);
      v = oneValue(t, v);
    }
    out += tokenText(t, v);
    fields[t.key] = typedList ?? valueTyped(v);
  }
  return { output: out, fields };
}

/**
 * The text of an output for an event, as {@link renderOutput} gives it, without the typed
 * values (a printer of many events: no object per event); with `complete`, undefined as soon as
 * a value is missing (one renderOutput would give as null).
 */
export function renderText(fmt: OutputFormat, ev: Event, complete: boolean): string | undefined {
  let out = "";
  for (const t of fmt.tokens) {
    if ("text" in t) {
      out += t.text;
      continue;
    }
    let v = tokenValue(t, ev, undefined);
    let typedList = false;
    if (Array.isArray(v)) {
      typedList = isTypedList(t);
      v = oneValue(t, v);
    }
    if (complete && v === undefined && !typedList) return undefined;
    out += tokenText(t, v);
  }
  return out;
}
