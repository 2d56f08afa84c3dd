/**
 * The rules compiler: from the collector's lists, macros and rules to checked rules. Lists are
 * inlined (one level, at the list's visibility) and substituted into condition text; macros are
 * parsed and expanded (each sees only macros defined before it); exceptions become
 * `and not (...)`; every rule's condition is parsed, expanded, checked and its event types
 * inferred. Unlike Falco, a broken item does not stop the compilation: every failing rule is
 * reported, and the others load.
 * @module
 */
import type { Expr, Origin, Pos } from "./ast.ts";
import { cloneExpr } from "./ast.ts";
import { type Checked, Checker, CheckError } from "./check.ts";
import { Collector, type ExceptionInfo, type RuleInfo } from "./collector.ts";
import { type CompiledSequence, compileSequence } from "./sequence_compiler.ts";
import { type EventSet, inferEventTypes, setSize } from "./evttypes.ts";
import {
  compileOutput,
  type NamedValues,
  OutputError,
  type OutputFormat,
} from "./output_format.ts";
import { parseCondition, ParseError } from "./parser.ts";
import { type Context, LoadError, type LoadResult } from "./result.ts";
import type { MappedText } from "./source_text.ts";
import { applyExceptions, substituteList } from "./text_rewrite.ts";
import type { Priority } from "./alert.ts";
import { type AggregationSpec, unknownKeyField } from "./aggregation.ts";
import { actionProblem, type RuleActions } from "./actions.ts";
import { type DenyPlan, denyPlan } from "./deny.ts";

/** A rule ready for code generation. */
export interface CompiledRule {
  name: string;
  desc: string;
  priority: Priority;
  source: string;
  tags: string[];
  enabled: boolean;
  capture: boolean;
  captureDuration: number;
  /** The condition after list substitution and exceptions (text), and expanded (tree). */
  conditionText: string;
  ast: Expr;
  checked: Checked;
  /** Event ids the condition can match. */
  eventTypes: EventSet;
  output: OutputFormat;
  outputText: string;
  exceptionFields: string[];
  /** Saker's `aggregate:` key, when the rule has one (see aggregation.ts). */
  aggregate?: AggregationSpec;
  /** Saker's `actions:` key, when the rule has one with at least one action (see actions.ts). */
  actions?: RuleActions;
  /** Where `actions:` was written (errors about the actions point there). */
  actionsCtx?: Context;
  /** What the probe does for the rule's `deny` action (see deny.ts). */
  deny?: DenyPlan;
  /** Position among rules (evaluation order). */
  index: number;
  ctx: Context;
}

/** The outcome of compiling a collection. */
export interface Compiled {
  rules: CompiledRule[];
  /** Sequence and threshold rules. */
  sequences: CompiledSequence[];
  /** Names of lists and macros (for listings). */
  lists: { name: string; items: string[] }[];
  macros: { name: string; condition: string }[];
}

const DEPRECATED_FIELDS: Record<string, string> = {
  "evt.dir": "live capture records exit events only, so 'evt.dir = <' is always true and " +
    "'evt.dir = >' always false there; only old capture files still carry enter events",
  "evt.latency": "latency fields need enter events, which are no longer captured",
  "evt.latency.s": "latency fields need enter events, which are no longer captured",
  "evt.latency.ns": "latency fields need enter events, which are no longer captured",
  "evt.latency.human": "latency fields need enter events, which are no longer captured",
  "evt.wait_latency": "latency fields need enter events, which are no longer captured",
};

function fileOrigin(text: MappedText, idx: number): Origin | undefined {
  const o = text.origin(idx);
  if (!o) return undefined;
  const { line, column } = o.file.lineCol(o.offset);
  return { file: o.file.name, line, column, offset: o.offset };
}

/** Sets `origin` on every position of a freshly parsed tree. */
function annotate(node: unknown, text: MappedText): void {
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const n of node) annotate(n, text);
    return;
  }
  const o = node as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    if (k === "pos" && v && typeof v === "object") {
      const p = v as Pos;
      if (!p.origin) p.origin = fileOrigin(text, p.idx);
    } else annotate(v, text);
  }
}

/** A context pointing at `pos` of a condition (`text` is the condition as parsed). */
export function posContext(parent: Context, pos: Pos, text: MappedText | string): Context {
  const origin = pos.origin ??
    (typeof text === "string" ? undefined : fileOrigin(text, pos.idx));
  const plain = typeof text === "string" ? text : text.text;
  if (origin) {
    return parent.child(
      "condition expression",
      "",
      origin.line,
      origin.column,
      origin.offset,
      origin.file,
    ).withText(plain, pos.idx);
  }
  const last = parent.last;
  return parent.child("condition expression", "", last.line, last.column, -1, last.file)
    .withText(plain, pos.idx);
}

/** A macro as compiled: its expanded tree, or failed. */
export interface MacroState {
  name: string;
  ast: Expr | undefined;
  failed: boolean;
  used: boolean;
  /**
   * Set once `ast` has every macro reference replaced: it is then shared, never copied, by the
   * conditions using it (nothing after expansion changes a tree), and `height` is its depth.
   */
  expanded?: { height: number };
}

/** Depth of an expression's boolean structure (a single check: 1). */
function exprHeight(e: Expr): number {
  if (e.kind === "and" || e.kind === "or") {
    let h = 0;
    for (const c of e.children) h = Math.max(h, exprHeight(c));
    return h + 1;
  }
  return e.kind === "not" ? exprHeight(e.child) + 1 : 1;
}

class MacroError extends Error {
  readonly pos: Pos;
  constructor(msg: string, pos: Pos, readonly tooDeep = false) {
    super(msg);
    this.pos = pos;
  }
}

/**
 * Deepest condition tree accepted after macro expansion. Each macro is within the parser's
 * depth limit, but a chain of macros each using the previous one nests without bound; the
 * passes after expansion walk the tree recursively.
 */
export const MAX_EXPANDED_DEPTH = 1000;

/**
 * Replaces macro identifiers; throws MacroError for the first unknown macro, loop, or a tree
 * nested deeper than {@link MAX_EXPANDED_DEPTH}.
 */
function expandMacros(
  e: Expr,
  visible: (name: string) => MacroState | undefined,
  path: string[],
  used: Set<string>,
  depth = 0,
): Expr {
  if (depth > MAX_EXPANDED_DEPTH) {
    throw new MacroError(
      `condition nested more than ${MAX_EXPANDED_DEPTH} levels deep once macros are expanded` +
        (path.length > 0 ? ` (through macro '${path[0]}')` : ""),
      e.pos,
      true,
    );
  }
  const d = depth + 1;
  switch (e.kind) {
    case "and":
    case "or":
      return { ...e, children: e.children.map((c) => expandMacros(c, visible, path, used, d)) };
    case "not":
      return { ...e, child: expandMacros(e.child, visible, path, used, d) };
    case "id": {
      const m = visible(e.name);
      if (!m || !m.ast) throw new MacroError(`Undefined macro '${e.name}' used in filter.`, e.pos);
      if (m.failed) {
        throw new MacroError(`Macro '${e.name}' used in filter has errors (see the macro).`, e.pos);
      }
      if (path.includes(e.name)) throw new MacroError(`reference loop in macro '${e.name}'`, e.pos);
      used.add(e.name);
      if (m.expanded) {
        if (d + m.expanded.height > MAX_EXPANDED_DEPTH + 1) {
          throw new MacroError(
            `condition nested more than ${MAX_EXPANDED_DEPTH} levels deep once macros are ` +
              `expanded (through macro '${path[0] ?? e.name}')`,
            e.pos,
            true,
          );
        }
        // The expanded body is shared by every reference; only its root is copied to name
        // the macro it came from.
        const shared = m.ast;
        return shared.kind === "id"
          ? shared
          : { ...shared, macros: [e.name, ...(shared.macros ?? [])] };
      }
      let body: Expr;
      try {
        body = expandMacros(cloneExpr(m.ast), visible, [...path, e.name], used, d);
      } catch (err) {
        // Too deep: point at the reference in the condition being compiled.
        if (path.length > 0 || !(err instanceof MacroError) || !err.tooDeep) throw err;
        throw new MacroError(err.message, e.pos, true);
      }
      if (body.kind !== "id") body.macros = [e.name, ...(body.macros ?? [])];
      return body;
    }
    default:
      return e;
  }
}

function warnFields(ast: Expr, res: LoadResult, ctx: Context): void {
  const deprecated = new Set<string>();
  let unsafeNa = false;
  const visit = (e: Expr): void => {
    if (e.kind === "and" || e.kind === "or") e.children.forEach(visit);
    else if (e.kind === "not") visit(e.child);
    else if (e.kind === "binary" || e.kind === "unary") {
      const left = e.left;
      if (left.kind === "field" && DEPRECATED_FIELDS[left.name]) deprecated.add(left.name);
      if (
        e.kind === "binary" && left.kind === "field" && /^(ka|jevt)\./.test(left.name) &&
        ["=", "==", "!=", "in", "intersects", "pmatch"].includes(e.op)
      ) {
        const vals = e.right.kind === "list"
          ? e.right.values
          : e.right.kind === "value"
          ? [e.right.value]
          : [];
        if (vals.includes("<NA>")) unsafeNa = true;
      }
    }
  };
  visit(ast);
  if (unsafeNa) {
    res.warning(
      "LOAD_UNSAFE_NA_CHECK",
      "Comparing a field with <NA> is unreliable; use 'exists' to test whether a field is set",
      ctx,
    );
  }
  for (const f of deprecated) {
    res.warning(
      "LOAD_DEPRECATED_ITEM",
      `usage of deprecated field '${f}': ${DEPRECATED_FIELDS[f]}`,
      ctx,
    );
  }
}

/**
 * Compiles everything collected so far, recording errors and warnings in `res`. Errors are per
 * item: a broken macro fails the rules that use it, a broken rule is left out.
 */
export function compileCollection(col: Collector, res: LoadResult): Compiled {
  // Lists: each item naming a list visible to this one is replaced by that list's items.
  const lists: { name: string; items: string[]; used: boolean }[] = [];
  const listUsed = new Set<string>();
  for (const l of Collector.ordered(col.lists)) {
    const items: string[] = [];
    for (const item of l.items) {
      const ref = col.lists.get(item);
      if (ref && ref.index < l.visibility) {
        listUsed.add(ref.name);
        items.push(...ref.items);
      } else items.push(item);
    }
    lists.push({ name: l.name, items, used: false });
  }
  const resolveLists = (text: MappedText): MappedText => {
    const t = text.concat();
    for (const l of lists) {
      if (t.text.includes(l.name) && substituteList(t, l.name, l.items)) l.used = true;
    }
    return t;
  };

  // Macros: parse each, then expand with the macros visible to it, in order.
  const macroInfos = Collector.ordered(col.macros);
  const macros = new Map<string, MacroState>();
  const macroText = new Map<string, MappedText>();
  for (const m of macroInfos) {
    const state: MacroState = { name: m.name, ast: undefined, failed: false, used: false };
    macros.set(m.name, state);
    const text = resolveLists(m.cond);
    macroText.set(m.name, text);
    try {
      state.ast = parseCondition(text.text);
      annotate(state.ast, text);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      state.failed = true;
      res.error("LOAD_ERR_COMPILE_CONDITION", e.message, posContext(m.condCtx, e.pos, text));
    }
  }
  const usedMacros = new Set<string>();
  for (const m of macroInfos) {
    const state = macros.get(m.name)!;
    if (state.failed || !state.ast) continue;
    const visible = (name: string) => {
      const info = col.macros.get(name);
      return info && info.index < m.visibility ? macros.get(name) : undefined;
    };
    try {
      state.ast = expandMacros(state.ast, visible, [], usedMacros);
      state.expanded = { height: exprHeight(state.ast) };
    } catch (e) {
      if (!(e instanceof MacroError)) throw e;
      state.failed = true;
      res.error("LOAD_ERR_VALIDATE", e.message, posContext(m.ctx, e.pos, macroText.get(m.name)!));
    }
  }

  const env: ConditionEnv = { res, resolveLists, macro: (n) => macros.get(n), usedMacros };
  const rules: CompiledRule[] = [];
  for (const r of Collector.ordered(col.rules)) {
    if (r.unknownSource) continue;
    try {
      const rule = compileRule(r, env);
      if (rule) rules.push(rule);
    } catch (e) {
      if (!(e instanceof LoadError)) throw e;
      res.error(e.code, e.message, e.context);
    }
  }
  const sequences: CompiledSequence[] = [];
  for (const q of Collector.ordered(col.sequences)) {
    if (q.unknownSource) continue;
    try {
      const seq = compileSequence(q, env);
      if (seq) sequences.push(seq);
    } catch (e) {
      if (!(e instanceof LoadError)) throw e;
      res.error(e.code, e.message, e.context);
    }
  }

  for (const m of macroInfos) {
    if (!usedMacros.has(m.name)) {
      res.warning("LOAD_UNUSED_MACRO", "Macro not referred to by any other rule/macro", m.ctx);
    }
  }
  for (const l of lists) {
    if (!l.used && !listUsed.has(l.name)) {
      res.warning(
        "LOAD_UNUSED_LIST",
        "List not referred to by any other rule/macro",
        col.lists.get(l.name)!.ctx,
      );
    }
  }
  return {
    rules,
    sequences,
    lists: lists.map((l) => ({ name: l.name, items: l.items })),
    macros: macroInfos.map((m) => ({ name: m.name, condition: m.cond.text })),
  };
}

/** What compiling a condition needs from its collection: lists, macros, where to report. */
export interface ConditionEnv {
  res: LoadResult;
  resolveLists: (t: MappedText) => MappedText;
  macro: (name: string) => MacroState | undefined;
  usedMacros: Set<string>;
}

/** A condition compiled: the text as parsed, the expanded tree and the checked tree. */
export interface CompiledCondition {
  text: string;
  ast: Expr;
  checked: Checked;
  eventTypes: EventSet;
  exceptionFields: string[];
}

/**
 * Compiles one condition as rules do: exceptions appended, lists substituted, parsed, macros
 * expanded, checked (by `checker`) and its event types inferred. Returns undefined when the item
 * is skipped (an unknown field with `skipIfUnknownFilter`, reported as a warning); throws
 * LoadError otherwise. Sequence steps compile through here too.
 */
export function compileCondition(
  cond0: MappedText,
  condCtx: Context,
  itemCtx: Context,
  exceptions: readonly ExceptionInfo[],
  checker: Checker,
  skipIfUnknownFilter: boolean,
  env: ConditionEnv,
): CompiledCondition | undefined {
  let cond = cond0;
  let exceptionFields: string[] = [];
  if (exceptions.length > 0) {
    const ex = applyExceptions(cond, exceptions);
    cond = ex.cond;
    exceptionFields = [...ex.fields];
  }
  const text = env.resolveLists(cond);
  let ast: Expr;
  try {
    ast = parseCondition(text.text);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    throw new LoadError("LOAD_ERR_COMPILE_CONDITION", e.message, posContext(condCtx, e.pos, text));
  }
  annotate(ast, text);
  const used = new Set<string>();
  try {
    ast = expandMacros(ast, env.macro, [], used);
  } catch (e) {
    if (!(e instanceof MacroError)) throw e;
    throw new LoadError("LOAD_ERR_VALIDATE", e.message, posContext(itemCtx, e.pos, text));
  }
  for (const u of used) env.usedMacros.add(u);
  warnFields(ast, env.res, condCtx);

  let checked: Checked;
  try {
    checked = checker.check(ast);
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    const ctx = posContext(condCtx, e.pos, text);
    if (e.unknown && skipIfUnknownFilter) {
      env.res.warning("LOAD_UNKNOWN_FILTER", e.message, ctx);
      return undefined;
    }
    throw new LoadError("LOAD_ERR_COMPILE_CONDITION", e.message, ctx);
  }
  let eventTypes: EventSet;
  try {
    eventTypes = inferEventTypes(ast);
  } catch (e) {
    throw new LoadError("LOAD_ERR_COMPILE_CONDITION", (e as Error).message, condCtx);
  }
  return { text: text.text, ast, checked, eventTypes, exceptionFields };
}

/** Applies Falco's deprecation of %container.info to an output text. */
export function outputWithoutContainerInfo(output: string, res: LoadResult, ctx: Context): string {
  if (!output.includes("%container.info")) return output;
  res.warning(
    "LOAD_DEPRECATED_ITEM",
    "%container.info is deprecated: container.id and container.name are added to outputs " +
      "where needed",
    ctx,
  );
  return output.replaceAll("%container.info", "").trim();
}

/** What {@link compileRuleOutput} reads of a rule or a sequence. */
export interface RuleOutputInfo {
  output: string;
  source: string;
  ctx: Context;
  outputCtx: Context;
  skipIfUnknownFilter: boolean;
}

/**
 * Compiles the output of a rule or a sequence (`%container.info` taken out), with the text it was
 * compiled from: undefined, with a warning, when it names an unknown field and the rule has
 * `skip-if-unknown-filter`, as Falco skips such a rule; a load error naming the output
 * otherwise. `named` are the values only a sequence has (its steps, a threshold's counts).
 */
export function compileRuleOutput(
  r: RuleOutputInfo,
  res: LoadResult,
  named?: NamedValues,
): { output: OutputFormat; outputText: string } | undefined {
  const outputText = outputWithoutContainerInfo(r.output, res, r.ctx);
  try {
    return { output: compileOutput(outputText, r.source, named), outputText };
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    if (r.skipIfUnknownFilter && /invalid formatting token|nonexistent field/.test(e.message)) {
      res.warning("LOAD_UNKNOWN_FILTER", e.message, r.outputCtx);
      return undefined;
    }
    throw new LoadError("LOAD_ERR_COMPILE_OUTPUT", e.message, r.outputCtx);
  }
}

function compileRule(r: RuleInfo, env: ConditionEnv): CompiledRule | undefined {
  const res = env.res;
  const compiled = compileRuleOutput(r, res);
  if (compiled === undefined) return undefined;
  const { output, outputText } = compiled;

  if (r.aggregate?.spec.key) {
    const bad = unknownKeyField(r.aggregate.spec.key, r.source);
    if (bad !== undefined) {
      throw new LoadError(
        "LOAD_ERR_VALIDATE",
        `'aggregate' key names '${bad}', which is not a field of source ${r.source}`,
        r.aggregate.ctx,
      );
    }
  }

  if (r.actions) {
    for (const a of r.actions.spec.actions) {
      const why = actionProblem(a, r.source);
      if (why) throw new LoadError("LOAD_ERR_VALIDATE", why, r.actions.ctx);
    }
  }

  const c = compileCondition(
    r.cond,
    r.condCtx,
    r.ctx,
    r.exceptions,
    new Checker(r.source),
    r.skipIfUnknownFilter,
    env,
  );
  if (!c) return undefined;

  let deny: DenyPlan | undefined;
  if (r.actions?.spec.actions.some((a) => a.kind === "deny")) {
    const plan = denyPlan(c.ast);
    if (typeof plan === "string") throw new LoadError("LOAD_ERR_VALIDATE", plan, r.actions.ctx);
    deny = plan;
  }

  if (r.source === "syscall" && r.warnEvttypes && setSize(c.eventTypes) > 100) {
    res.warning(
      "LOAD_NO_EVTTYPE",
      "Rule matches too many evt.type values. This has a significant performance penalty.",
      r.ctx,
    );
  }
  return {
    name: r.name,
    desc: r.desc,
    priority: r.priority,
    source: r.source,
    tags: r.tags,
    enabled: r.enabled,
    capture: r.capture,
    captureDuration: r.captureDuration,
    conditionText: c.text,
    ast: c.ast,
    checked: c.checked,
    eventTypes: c.eventTypes,
    output,
    outputText,
    exceptionFields: c.exceptionFields,
    ...(r.aggregate ? { aggregate: r.aggregate.spec } : {}),
    ...(r.actions && r.actions.spec.actions.length > 0
      ? { actions: r.actions.spec, actionsCtx: r.actions.ctx }
      : {}),
    ...(deny ? { deny } : {}),
    index: r.index,
    ctx: r.ctx,
  };
}
