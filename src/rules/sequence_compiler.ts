/**
 * Compiles sequence and threshold rules: every step's condition goes through the rules' own
 * condition pipeline (exceptions, lists, macros, checks, event types), with `${name}` bound to
 * the values earlier steps capture; `by` keys, captures and `distinct` are checked as fields of
 * the rule's source; the output may name `%step[N].field` (a sequence) or `%threshold.count`.
 *
 * Each step also gets a projection without its `${name}` checks (`pre`): it depends on the event
 * alone and is implied by the full condition, so it can run inside the rules' generated code for
 * every event (and feed the kernel filter), while the full condition runs only against chains in
 * progress.
 *
 * @example
 * ```ts
 * import { loadRulesText } from "./loader.ts";
 * const loaded = loadRulesText([{ name: "s.yaml", text: `
 * - sequence: Shell then connect
 *   desc: d
 *   by: [proc.pid]
 *   within: 30s
 *   steps:
 *     - condition: evt.type = execve and proc.name = sh
 *     - condition: evt.type = connect
 *   output: "%proc.name connected after %step[0].proc.cmdline"
 *   priority: WARNING
 * ` }]);
 * loaded.sequences[0].steps.length; // 2
 * ```
 * @module
 */
import type { Expr } from "./ast.ts";
import { type CaptureOperand, type Checked, Checker, CheckError, type Operand } from "./check.ts";
import type { FieldInfo, SequenceInfo } from "./collector.ts";
import { type EventSet, setSize } from "./evttypes.ts";
import type { OutputFormat } from "./output_format.ts";
import { parseFieldOrTransformer } from "./parser.ts";
import { type Context, LoadError } from "./result.ts";
import {
  compileCondition,
  type CompiledRule,
  compileRuleOutput,
  type ConditionEnv,
} from "./compiler.ts";
import type { Priority } from "./alert.ts";

/** Output values a threshold rule keeps: the events (or distinct values) counted. */
export const THRESHOLD_VALUES = ["threshold.count"] as const;

/** One step, compiled. */
export interface CompiledStep {
  /** Position in the rule's steps as written, from 0 (`%step[N]`). */
  index: number;
  /** A `not:` step: a matching event between its neighbours ends the chain. */
  negated: boolean;
  conditionText: string;
  ast: Expr;
  /** The full condition: its `${name}` checks read the chain's captured values. */
  checked: Checked;
  /** The condition without its `${name}` checks: implied by `checked`, depends on the event. */
  pre: Checked;
  /** Whether `checked` reads captured values (else `pre` is the whole condition). */
  usesCaptures: boolean;
  eventTypes: EventSet;
  /** Values kept for later steps when this step matches. */
  captures: { name: string; slot: number; operand: Operand }[];
  /** `%step[N].field` values of this step, kept when it matches. */
  outputs: { key: string; operand: Operand }[];
  ctx: Context;
}

/** A sequence or threshold rule ready for the engine. */
export interface CompiledSequence {
  kind: "sequence" | "threshold";
  name: string;
  desc: string;
  priority: Priority;
  source: string;
  tags: string[];
  enabled: boolean;
  /** Key fields and their text. */
  by: Operand[];
  byText: string[];
  /** The window, in seconds and in nanoseconds. */
  within: number;
  withinNs: bigint;
  steps: CompiledStep[];
  /** Values captured over all steps (slots). */
  captureCount: number;
  /** Threshold: events (or distinct values) that fire. */
  count: number;
  distinct: Operand | undefined;
  distinctText: string | undefined;
  output: OutputFormat;
  outputText: string;
  /** Position among rules (listing order). */
  index: number;
  ctx: Context;
  /** The definition as text: partial matches survive a reload that keeps it. */
  signature: string;
}

/** True for an operand that yields one value per event (a key must). */
function singleValued(op: Operand): boolean {
  if (op.list) return false;
  return !op.multi || (op.kind === "field" && op.arg !== undefined);
}

/** A field (or transformer) named in a key, a capture or `distinct`, checked for the source. */
function fieldOperand(f: FieldInfo, checker: Checker, what: string): Operand {
  let expr;
  try {
    const parsed = parseFieldOrTransformer(f.field);
    if (parsed.length !== f.field.length) throw new Error(`unexpected text after the field`);
    expr = parsed.expr;
  } catch (e) {
    throw new LoadError(
      "LOAD_ERR_VALIDATE",
      `${what} '${f.field}' is not a field: ${(e as Error).message}`,
      f.ctx,
    );
  }
  try {
    return checker.operand(expr);
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    throw new LoadError("LOAD_ERR_VALIDATE", `${what} '${f.field}': ${e.message}`, f.ctx);
  }
}

/**
 * `c` without its checks on captured values, as a condition implied by `c`: each such check
 * becomes true where it counts positively and false under a negation.
 */
export function withoutCaptures(c: Checked, positive = true): Checked | boolean {
  switch (c.k) {
    case "check":
      return c.right?.kind === "capture" ? positive : c;
    case "not": {
      const x = withoutCaptures(c.c, !positive);
      return typeof x === "boolean" ? !x : { k: "not", c: x };
    }
    case "and":
    case "or": {
      const stop = c.k === "or"; // the value that decides the whole
      const kids: Checked[] = [];
      for (const k of c.c) {
        const x = withoutCaptures(k, positive);
        if (x === stop) return stop;
        if (x !== !stop) kids.push(x as Checked);
      }
      if (kids.length === 0) return !stop;
      return kids.length === 1 ? kids[0] : { k: c.k, c: kids };
    }
  }
}

function usesCaptures(c: Checked): boolean {
  if (c.k === "check") return c.right?.kind === "capture";
  if (c.k === "not") return usesCaptures(c.c);
  return c.c.some(usesCaptures);
}

const TRUE: Checked = { k: "and", c: [] };
const FALSE: Checked = { k: "or", c: [] };

/** Compiles one sequence or threshold; undefined when skipped (skip-if-unknown-filter). */
export function compileSequence(q: SequenceInfo, env: ConditionEnv): CompiledSequence | undefined {
  const { res } = env;
  const what = q.kind === "sequence" ? "Sequence" : "Threshold";
  const plain = new Checker(q.source);
  const by = q.by.map((k) => {
    const op = fieldOperand(k, plain, "Key");
    if (!singleValued(op)) {
      throw new LoadError(
        "LOAD_ERR_VALIDATE",
        `Key '${k.field}' has several values per event; a key needs one (add a level: ` +
          `proc.aname[1])`,
        k.ctx,
      );
    }
    return op;
  });
  const distinct = q.distinct ? fieldOperand(q.distinct, plain, "Distinct field") : undefined;

  if (q.kind === "sequence") {
    const positive = q.steps.filter((s) => !s.negated).length;
    if (positive < 2) {
      throw new LoadError(
        "LOAD_ERR_VALIDATE",
        "A sequence needs at least two steps with a condition (one step is a rule)",
        q.ctx,
      );
    }
    const first = q.steps[0], last = q.steps[q.steps.length - 1];
    for (const s of [first, last]) {
      if (s.negated) {
        throw new LoadError(
          "LOAD_ERR_VALIDATE",
          "A 'not' step stands between two steps: it cannot be the first or the last",
          s.ctx,
        );
      }
    }
  }

  const compiled = compileRuleOutput(
    q,
    res,
    q.kind === "sequence" ? { steps: q.steps.length } : { computed: THRESHOLD_VALUES },
  );
  if (compiled === undefined) return undefined;
  const { output, outputText } = compiled;

  const captured = new Map<string, CaptureOperand>();
  const steps: CompiledStep[] = [];
  for (const [i, s] of q.steps.entries()) {
    const checker = new Checker(q.source, q.kind === "sequence" ? new Map(captured) : undefined);
    const c = compileCondition(
      s.cond,
      s.condCtx,
      s.ctx,
      s.exceptions,
      checker,
      q.skipIfUnknownFilter,
      env,
    );
    if (!c) return undefined;
    if (q.source === "syscall" && q.warnEvttypes && setSize(c.eventTypes) > 100) {
      res.warning(
        "LOAD_NO_EVTTYPE",
        `${q.kind === "sequence" ? `Step ${i}` : "The condition"} matches too many evt.type ` +
          "values: it runs on every event. This has a significant performance penalty.",
        s.ctx,
      );
    }
    const caps: CompiledStep["captures"] = [];
    for (const cap of s.captures) {
      if (captured.has(cap.name)) {
        throw new LoadError(
          "LOAD_ERR_VALIDATE",
          `'${cap.name}' is captured twice: each captured value has one name`,
          cap.ctx,
        );
      }
      const op = fieldOperand(cap, plain, "Capture");
      const slot = captured.size;
      captured.set(cap.name, {
        kind: "capture",
        name: cap.name,
        slot,
        key: `\${${cap.name}}`,
        type: op.type,
        list: op.list,
        multi: op.multi,
      });
      caps.push({ name: cap.name, slot, operand: op });
    }
    const pre = withoutCaptures(c.checked);
    steps.push({
      index: i,
      negated: s.negated,
      conditionText: c.text,
      ast: c.ast,
      checked: c.checked,
      pre: pre === true ? TRUE : pre === false ? FALSE : pre,
      usesCaptures: usesCaptures(c.checked),
      eventTypes: c.eventTypes,
      captures: caps,
      outputs: [],
      ctx: s.ctx,
    });
  }
  for (const t of output.tokens) {
    if (!("key" in t) || t.step === undefined) continue;
    const step = steps[t.step];
    if (step.negated) {
      throw new LoadError(
        "LOAD_ERR_COMPILE_OUTPUT",
        `%${t.key}: step ${t.step} is a 'not' step, no event of the chain matches it`,
        q.outputCtx,
      );
    }
    if (!step.outputs.some((o) => o.key === t.key)) {
      step.outputs.push({ key: t.key, operand: t.operand! });
    }
  }
  if (by.length === 0 && q.kind === "sequence") {
    // Allowed (one chain for the whole source), but worth knowing.
    res.warning(
      "LOAD_COMPILE_CONDITION",
      `${what} has no 'by' keys: every event of the source belongs to one chain`,
      q.ctx,
    );
  }
  const withinNs = BigInt(Math.round(q.within * 1e9));
  return {
    kind: q.kind,
    name: q.name,
    desc: q.desc,
    priority: q.priority,
    source: q.source,
    tags: q.tags,
    enabled: q.enabled,
    by,
    byText: q.by.map((k) => k.field),
    within: q.within,
    withinNs,
    steps,
    captureCount: captured.size,
    count: q.count,
    distinct,
    distinctText: q.distinct?.field,
    output,
    outputText,
    index: q.index,
    ctx: q.ctx,
    signature: JSON.stringify([
      q.kind,
      q.source,
      q.by.map((k) => k.field),
      String(withinNs),
      steps.map((s) => [s.negated, s.conditionText, s.captures.map((c) => c.name)]),
      q.count,
      q.distinct?.field,
      outputText,
    ]),
  };
}

/**
 * The steps of sequences as rules, for what reads rules' conditions to decide what the kernel
 * may drop (kernel predicates, fd state readers, event names): each step with its `pre`
 * condition, which every event the step can match satisfies.
 */
export function stepsAsRules(sequences: readonly CompiledSequence[]): CompiledRule[] {
  return sequences.flatMap((q) =>
    q.steps.map((s): CompiledRule => ({
      name: q.kind === "sequence" ? `${q.name} (step ${s.index})` : q.name,
      desc: q.desc,
      priority: q.priority,
      source: q.source,
      tags: q.tags,
      enabled: q.enabled,
      capture: false,
      captureDuration: 0,
      conditionText: s.conditionText,
      ast: s.ast,
      checked: s.pre,
      eventTypes: s.eventTypes,
      output: {
        tokens: [],
        fields: [
          ...s.outputs.map((o) => o.operand.key),
          ...s.captures.map((c) => c.operand.key),
          ...q.by.map((o) => o.key),
          ...(q.distinct ? [q.distinct.key] : []),
          ...(s.index === q.steps.length - 1
            ? q.output.tokens.flatMap((t) =>
              "key" in t && t.step === undefined && t.operand ? [t.key] : []
            )
            : []),
        ],
      },
      outputText: "",
      exceptionFields: [],
      index: q.index,
      ctx: s.ctx,
    }))
  );
}
