/**
 * Why a rule matched an event or not: the rule's condition walked with the reference evaluator
 * (interp.ts), down to the checks that decided it. For a rule that did not match, that is the
 * first false operand of its condition (inside `and`s, the first false one; inside an `or`, every
 * alternative; inside a `not`, the checks that held), each with the field's actual value, where
 * it was written and the macros it came from. This is what rule authors need when a test fails:
 * not "the rule did not fire" but "`proc.name in (...)` was false: proc.name is `cat`".
 *
 * @example
 * ```ts
 * import { loadRulesText } from "./loader.ts";
 * import { explainRule, formatExplanation } from "./explain.ts";
 * import { buildEvent } from "../events/encode.ts";
 * const { rules } = loadRulesText([{ name: "r.yaml", text: `
 * - macro: etc_file
 *   condition: evt.arg.name startswith /etc/
 * - rule: open etc
 *   desc: d
 *   condition: evt.type = openat and etc_file
 *   output: "%evt.arg.name"
 *   priority: WARNING
 * ` }]);
 * const ev = buildEvent("openat", { tid: 1 }, { fd: 3, dirfd: -100, name: "/tmp/x" });
 * console.log(formatExplanation(explainRule(rules[0], ev)).join("\n"));
 * // open etc: no match
 * //   false: evt.arg.name startswith /etc/  (macro etc_file, r.yaml:3:14)
 * //     evt.arg.name = /tmp/x
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type {
  BinaryCheck,
  Expr,
  FieldLike,
  ListExpr,
  TransformerListExpr,
  ValueExpr,
} from "./ast.ts";
import type { Checked, CheckNode, Operand } from "./check.ts";
import type { CompiledRule } from "./compiler.ts";
import type { FieldResult } from "./fields/registry.ts";
import { evaluate } from "./interp.ts";
import { evalOperand, scalarText } from "./operand.ts";
import { EVENTS } from "../events/table.ts";
import { setNames } from "./evttypes.ts";

/** One check that decided the outcome. */
export interface DecidingCheck {
  /** The check as written (lists shortened): `fd.name startswith /etc/`. */
  text: string;
  /** Whether the check itself held. */
  held: boolean;
  /**
   * True when the check sits under an odd number of `not`s: it held, and so made the condition
   * false (or it failed, and so made it true).
   */
  negated: boolean;
  /** Left operand (a field, or a transformer over fields) and its value for the event. */
  operand: string;
  actual: string;
  /** For field-to-field comparisons: the right operand and its value. */
  right?: { operand: string; actual: string };
  /** Macros the check came from, outermost first. */
  macros: string[];
  /** `file:line:column` where the check was written, when known. */
  where?: string;
}

/** Why a rule matched an event or not. */
export interface Explanation {
  rule: string;
  priority: string;
  /** The event's type (`openat`). */
  eventType: string;
  /** False when the event's type is not one the rule handles (the condition was not run). */
  evaluated: boolean;
  matched: boolean;
  /** The checks that decided it (empty when not evaluated). */
  deciding: DecidingCheck[];
  /** More deciding checks existed than are listed. */
  more: number;
  /** Event types the rule handles (when not evaluated). */
  eventTypes?: string[];
  /**
   * How far the condition got before failing: the number of top-level `and` operands that held
   * before the first false one (a near miss scores high). Used to pick the most telling event.
   */
  progress: number;
}

/** Most deciding checks listed per explanation. */
const MAX_DECIDING = 6;
/** Most list items shown in a check's text. */
const MAX_ITEMS = 6;

/** Text of a value as explanations print it (quoted when it has spaces or is empty). */
export function valueText(v: FieldResult): string {
  if (v === undefined) return "<NA> (not available for this event)";
  if (Array.isArray(v)) return `[${v.map((x) => quote(scalarText(x))).join(", ")}]`;
  return quote(scalarText(v));
}

function quote(s: string): string {
  return s === "" || /\s|^[("']/.test(s) ? JSON.stringify(s) : s;
}

function fieldText(f: FieldLike | ValueExpr | TransformerListExpr): string {
  switch (f.kind) {
    case "field":
      return f.arg === undefined ? f.name : `${f.name}[${f.arg}]`;
    case "value":
      return quote(f.value);
    case "tlist":
      return `(${f.items.map(fieldText).join(", ")})`;
    case "transformer":
      return `${f.name}(${f.args.map(fieldText).join(", ")})`;
  }
}

function listText(l: ListExpr): string {
  const shown = l.values.slice(0, MAX_ITEMS).map(quote);
  const rest = l.values.length - shown.length;
  return `(${shown.join(", ")}${rest > 0 ? `, ... ${rest} more` : ""})`;
}

/** The text of a check node as written. */
export function checkText(e: Expr): string {
  if (e.kind === "unary") return `${fieldText(e.left)} exists`;
  if (e.kind !== "binary") return "";
  const b = e as BinaryCheck;
  const r = b.right;
  const right = r.kind === "list" ? listText(r) : fieldText(r);
  return `${fieldText(b.left)} ${b.op} ${r.kind === "field" ? `val(${right})` : right}`;
}

function operandText(op: Operand): string {
  if (op.kind === "field") return op.key;
  if (op.kind === "const") return quote(op.value);
  return op.key;
}

function leaf(e: Expr, c: CheckNode, ev: Event, negated: boolean, macros: string[]): DecidingCheck {
  const o = c.pos.origin;
  const out: DecidingCheck = {
    text: checkText(e),
    held: evaluate(c, ev),
    negated,
    operand: operandText(c.left),
    actual: valueText(evalOperand(c.left, ev)),
    macros,
    where: o ? `${o.file}:${o.line}:${o.column}` : undefined,
  };
  if (c.right) {
    out.right = { operand: operandText(c.right), actual: valueText(evalOperand(c.right, ev)) };
  }
  return out;
}

/**
 * The checks that made `c` evaluate to `want` (false: why it failed; true: why it held).
 * `negated` tracks the `not`s above; `macros` the macros entered.
 */
function deciding(
  e: Expr,
  c: Checked,
  ev: Event,
  want: boolean,
  negated: boolean,
  macros: string[],
  out: DecidingCheck[],
): void {
  const from = e.kind === "id" ? undefined : e.macros;
  const inner = from ? [...macros, ...from] : macros;
  switch (c.k) {
    case "check":
      out.push(leaf(e, c, ev, negated, inner));
      return;
    case "not":
      deciding((e as { child: Expr }).child, c.c, ev, !want, !negated, inner, out);
      return;
    case "and":
    case "or": {
      const kids = (e as { children: Expr[] }).children;
      // The connective decided by one operand: false for and, true for or.
      const single = (c.k === "and") !== want;
      if (single) {
        const i = c.c.findIndex((x) => evaluate(x, ev) === want);
        if (i >= 0) deciding(kids[i], c.c[i], ev, want, negated, inner, out);
        return;
      }
      c.c.forEach((x, i) => deciding(kids[i], x, ev, want, negated, inner, out));
    }
  }
}

/** Number of leading operands of a top-level `and` that held (near misses score high). */
function progressOf(c: Checked, ev: Event): number {
  if (c.k !== "and") return evaluate(c, ev) ? 1 : 0;
  let n = 0;
  for (const x of c.c) {
    if (!evaluate(x, ev)) break;
    n++;
  }
  return n;
}

/** Explains one rule on one event (its state already applied). */
export function explainRule(rule: CompiledRule, ev: Event): Explanation {
  const base = { rule: rule.name, priority: rule.priority, eventType: eventTypeName(ev), more: 0 };
  if (!rule.eventTypes[ev.type]) {
    return {
      ...base,
      evaluated: false,
      matched: false,
      deciding: [],
      eventTypes: setNames(rule.eventTypes),
      progress: -1,
    };
  }
  const matched = evaluate(rule.checked, ev);
  const all: DecidingCheck[] = [];
  deciding(rule.ast, rule.checked, ev, matched, false, [], all);
  return {
    ...base,
    evaluated: true,
    matched,
    deciding: all.slice(0, MAX_DECIDING),
    more: Math.max(0, all.length - MAX_DECIDING),
    progress: matched ? Infinity : progressOf(rule.checked, ev),
  };
}

/** The rules of `rules` that handle `ev`'s event type, each explained. */
export function explainEvent(rules: readonly CompiledRule[], ev: Event): Explanation[] {
  return rules.filter((r) => r.eventTypes[ev.type]).map((r) => explainRule(r, ev));
}

/** The event's name as the rules see it (`openat`), for messages. */
export function eventTypeName(ev: Event): string {
  return EVENTS[ev.type]?.name ?? String(ev.type);
}

function typesText(names: readonly string[]): string {
  if (names.length > 8) return `${names.slice(0, 8).join(", ")}, ... ${names.length - 8} more`;
  return names.join(", ");
}

/**
 * Lines describing an explanation, indented by `indent`: a head line, then each deciding check
 * with the actual value of its field(s).
 */
export function formatExplanation(x: Explanation, indent = ""): string[] {
  if (!x.evaluated) {
    return [
      `${indent}${x.rule}: not evaluated: the rule handles ${
        typesText(x.eventTypes ?? [])
      }, not ${x.eventType}`,
    ];
  }
  const lines = [`${indent}${x.rule}: ${x.matched ? "match" : "no match"}`];
  for (const d of x.deciding) {
    const at = [
      d.macros.length ? `macro ${d.macros.join(" > ")}` : "",
      d.where ?? "",
    ].filter(Boolean).join(", ");
    const text = `${d.negated ? "not " : ""}${d.text}`;
    lines.push(`${indent}  ${x.matched ? "true" : "false"}: ${text}${at ? `  (${at})` : ""}`);
    lines.push(`${indent}    ${d.operand} = ${d.actual}`);
    if (d.right) lines.push(`${indent}    ${d.right.operand} = ${d.right.actual}`);
  }
  if (x.more > 0) lines.push(`${indent}  ... ${x.more} more`);
  return lines;
}
