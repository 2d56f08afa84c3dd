/**
 * Reads Saker's two items beyond Falco's language: `sequence` (ordered steps by key within a
 * window) and `threshold` (N matching events, or N distinct values, by key within a window).
 * Falco's items are untouched, so every Falco file reads as before; these items take Falco's
 * habits (desc, output, priority, tags, enabled, source, exceptions, `override` with append and
 * replace, the deprecated `append: true` and standalone `enabled`).
 *
 * @example
 * ```yaml
 * - sequence: Dropped binary executed
 *   desc: A file written below /tmp is made executable and run within a minute
 *   by: [proc.sid, container.id]
 *   within: 60s
 *   steps:
 *     - condition: open_write and fd.name startswith /tmp/
 *       capture: {path: fd.name}
 *     - condition: evt.type = chmod and evt.arg.filename = ${path}
 *     - condition: spawned_process and proc.exepath = ${path}
 *   output: Binary %proc.exepath written by %step[0].proc.name and run
 *   priority: CRITICAL
 *
 * - threshold: Many files read
 *   desc: One process reads 100 different files within 10 seconds
 *   condition: open_read
 *   by: [proc.pid]
 *   distinct: fd.name
 *   count: 100
 *   within: 10s
 *   output: Mass read by %proc.name (%threshold.count files)
 *   priority: NOTICE
 * ```
 * @module
 */
import { isMap, isScalar, isSeq } from "yaml";
import type {
  CaptureInfo,
  FieldInfo,
  SequenceInfo,
  SequenceUpdate,
  StepAppend,
  StepInfo,
} from "./collector.ts";
import type { Context } from "./result.ts";
import { fail, type Reader, type YMap } from "./reader.ts";
import { parseDuration } from "./duration.ts";

type Kind = SequenceInfo["kind"];

/** Most events (or distinct values) a threshold may count: each key keeps that many. */
export const MAX_THRESHOLD_COUNT = 100_000;

const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const COMMON_KEYS = [
  "desc",
  "output",
  "priority",
  "tags",
  "enabled",
  "source",
  "by",
  "within",
  "warn_evttypes",
  "skip-if-unknown-filter",
  "override",
  "append",
];
const KEYS: Record<Kind, string[]> = {
  sequence: ["sequence", "steps", ...COMMON_KEYS],
  threshold: ["threshold", "condition", "exceptions", "count", "distinct", ...COMMON_KEYS],
};
const APPENDABLE: Record<Kind, string[]> = {
  sequence: ["desc", "output", "tags", "steps"],
  threshold: ["desc", "output", "tags", "condition", "exceptions"],
};
const REPLACEABLE_COMMON = [
  "desc",
  "output",
  "priority",
  "tags",
  "enabled",
  "by",
  "within",
  "warn_evttypes",
  "skip-if-unknown-filter",
];
const REPLACEABLE: Record<Kind, string[]> = {
  sequence: [...REPLACEABLE_COMMON, "steps"],
  threshold: [...REPLACEABLE_COMMON, "condition", "exceptions", "count", "distinct"],
};

/** Reads one `sequence` or `threshold` item into the collector. */
export function readSequence(r: Reader, map: YMap, node: unknown, kind: Kind): void {
  const tmp = r.ctxAt(r.root, kind, "", node);
  const name = r.str(map, kind, tmp)!;
  const ctx = r.ctxAt(r.root, kind, name, node);
  r.res.note(
    "LOAD_SAKER_EXTENSION",
    `'${kind}' is Saker's extension (${kind} rules); Falco warns of an unknown top level item ` +
      `and ignores it, so the file still loads in Falco, without this ${kind}`,
    ctx,
  );
  const source = r.scalar(map, "source", ctx, true, true)?.text ?? "";
  const appendFlag = r.bool(map, "append", ctx) ?? false;
  if (appendFlag) r.deprecatedAppend(ctx);
  const ov = r.overrides(map, APPENDABLE[kind], REPLACEABLE[kind], ctx);
  const hasOverrides = ov.append.size > 0 || ov.replace.size > 0;
  if (appendFlag && hasOverrides) r.overrideAppendConflict(ctx);
  const base = { kind, name, source, ctx };

  if (hasOverrides) {
    const expected = new Set(
      [...new Set([...APPENDABLE[kind], ...REPLACEABLE[kind]])].filter((k) => r.has(map, k)),
    );
    const take = (set: Set<string>, op: string, key: string): boolean => {
      if (!set.has(key)) return false;
      if (!expected.has(key)) {
        fail(`An ${op} override for '${key}' was specified but '${key}' is not defined`, ctx);
      }
      expected.delete(key);
      return true;
    };
    if (ov.append.size > 0) {
      const u: SequenceUpdate = { ...base };
      if (take(ov.append, "append", "desc")) u.desc = r.str(map, "desc", ctx);
      if (take(ov.append, "append", "output")) u.output = r.str(map, "output", ctx);
      if (take(ov.append, "append", "tags")) u.tags = r.tags(map, ctx) ?? [];
      if (take(ov.append, "append", "steps")) u.stepAppends = stepAppends(r, map, ctx);
      const cond = take(ov.append, "append", "condition");
      const exc = take(ov.append, "append", "exceptions");
      if (cond || exc) u.stepAppends = [thresholdAppend(r, map, ctx, cond, exc)];
      r.col.appendSequence(u);
    }
    if (ov.replace.size > 0) {
      const u: SequenceUpdate = { ...base };
      if (take(ov.replace, "replace", "desc")) u.desc = r.str(map, "desc", ctx);
      if (take(ov.replace, "replace", "output")) u.output = r.str(map, "output", ctx);
      if (take(ov.replace, "replace", "tags")) u.tags = r.tags(map, ctx) ?? [];
      if (take(ov.replace, "replace", "priority")) u.priority = r.priority(map, ctx);
      if (take(ov.replace, "replace", "enabled")) u.enabled = r.bool(map, "enabled", ctx, false);
      if (take(ov.replace, "replace", "by")) u.by = keys(r, map, "by", ctx);
      if (take(ov.replace, "replace", "within")) u.within = within(r, map, ctx);
      if (take(ov.replace, "replace", "steps")) u.steps = steps(r, map, ctx);
      if (take(ov.replace, "replace", "count")) u.count = count(r, map, ctx);
      if (take(ov.replace, "replace", "distinct")) u.distinct = keys(r, map, "distinct", ctx)[0];
      if (take(ov.replace, "replace", "condition")) {
        u.cond = r.mapped(map, "condition", ctx);
        u.condCtx = r.ctxAt(ctx, "step condition", "", r.get(map, "condition").value);
      }
      if (take(ov.replace, "replace", "exceptions")) {
        u.exceptions = r.exceptions(map, ctx, false) ?? [];
      }
      if (take(ov.replace, "replace", "warn_evttypes")) {
        u.warnEvttypes = r.bool(map, "warn_evttypes", ctx, false);
      }
      if (take(ov.replace, "replace", "skip-if-unknown-filter")) {
        u.skipIfUnknownFilter = r.bool(map, "skip-if-unknown-filter", ctx, false);
      }
      r.col.replaceSequence(u);
    }
    for (const key of expected) {
      fail(
        `Unexpected key '${key}': no corresponding entry under 'override' is defined.`,
        r.ctxAt(ctx, "overrides", key, r.get(map, key).keyNode),
      );
    }
  } else if (appendFlag) {
    const u: SequenceUpdate = { ...base };
    if (kind === "sequence" && r.has(map, "steps")) u.stepAppends = stepAppends(r, map, ctx);
    const cond = kind === "threshold" && r.has(map, "condition");
    const exc = kind === "threshold" && r.has(map, "exceptions");
    if (cond || exc) u.stepAppends = [thresholdAppend(r, map, ctx, cond, exc)];
    if (u.stepAppends === undefined) {
      fail(
        kind === "sequence"
          ? "Appended sequence must have steps"
          : "Appended threshold must have exceptions or condition property",
        ctx,
      );
    }
    r.col.appendSequence(u);
  } else if (
    !r.has(map, "desc") && !r.has(map, "output") && !r.has(map, "priority") &&
    !r.has(map, "steps") && !r.has(map, "condition")
  ) {
    const enabled = r.bool(map, "enabled", ctx, false)!;
    r.res.warning(
      "LOAD_DEPRECATED_ITEM",
      "The standalone 'enabled' key usage is deprecated. The correct approach requires also " +
        "a 'replace' entry under the 'override' key (i.e. 'enabled: replace').",
      ctx,
    );
    r.col.enableSequence(kind, name, enabled, ctx);
  } else {
    define(r, map, ctx, kind, name);
  }
  r.warnUnknownKeys(map, KEYS[kind], ctx);
}

function define(r: Reader, map: YMap, ctx: Context, kind: Kind, name: string): void {
  const output = r.str(map, "output", ctx)!.trim();
  const outputCtx = r.ctxAt(ctx, "rule output", "", r.get(map, "output").value);
  const info: SequenceInfo = {
    kind,
    name,
    desc: r.str(map, "desc", ctx)!,
    output,
    outputCtx,
    priority: r.priority(map, ctx),
    source: r.str(map, "source", ctx, true) ?? "syscall",
    enabled: r.bool(map, "enabled", ctx) ?? true,
    tags: r.tags(map, ctx) ?? [],
    by: r.has(map, "by") ? keys(r, map, "by", ctx) : [],
    within: within(r, map, ctx),
    steps: kind === "sequence" ? steps(r, map, ctx) : [thresholdStep(r, map, ctx)],
    count: kind === "threshold" ? count(r, map, ctx) : 0,
    distinct: kind === "threshold" && r.has(map, "distinct")
      ? keys(r, map, "distinct", ctx)[0]
      : undefined,
    warnEvttypes: r.bool(map, "warn_evttypes", ctx) ?? true,
    skipIfUnknownFilter: r.bool(map, "skip-if-unknown-filter", ctx) ?? false,
    index: 0,
    visibility: 0,
    ctx,
    unknownSource: false,
  };
  r.col.defineSequence(info);
  if (r.col.sequences.get(name)?.unknownSource) {
    r.res.warning("LOAD_UNKNOWN_SOURCE", `Unknown source ${info.source}, skipping`, ctx);
  }
}

/** `by: [a, b]` or `by: a` (also `distinct: field`): field names with their positions. */
function keys(r: Reader, map: YMap, key: string, ctx: Context): FieldInfo[] {
  const { value } = r.get(map, key);
  const vctx = r.ctxAt(ctx, "value for", key, value);
  const one = (n: unknown, c: Context): FieldInfo => {
    if (!isScalar(n) || r.isNull(n) || String(n.value).trim() === "") {
      fail("Value must be a non-empty field name", c);
    }
    return { field: String(n.value).trim(), ctx: c };
  };
  if (key !== "distinct" && isSeq(value)) {
    return value.items.map((n) => one(n, r.ctxAt(vctx, "list item", "", n)));
  }
  if (!isScalar(value)) {
    fail(key === "distinct" ? "Value is not a scalar value" : "Value is not a sequence", vctx);
  }
  return [one(value, vctx)];
}

function within(r: Reader, map: YMap, ctx: Context): number {
  const v = r.scalar(map, "within", ctx, false)!;
  const s = parseDuration(v.text);
  if (s === undefined || s <= 0) {
    fail(`Invalid duration '${v.text}': write a window such as 500ms, 30s, 5m or 1h`, v.ctx);
  }
  return s;
}

function count(r: Reader, map: YMap, ctx: Context): number {
  const v = r.scalar(map, "count", ctx, false)!;
  const n = /^[0-9]+$/.test(v.text) ? Number(v.text) : NaN;
  if (!(n >= 2 && n <= MAX_THRESHOLD_COUNT)) {
    fail(`Invalid count '${v.text}': a whole number from 2 to ${MAX_THRESHOLD_COUNT}`, v.ctx);
  }
  return n;
}

function stepNodes(r: Reader, map: YMap, ctx: Context): { node: YMap; ctx: Context }[] {
  const { value } = r.get(map, "steps");
  const vctx = r.ctxAt(ctx, "value for", "steps", value);
  if (!isSeq(value)) fail("Value of 'steps' must be a sequence of steps", vctx);
  return value.items.map((n, i) => {
    const sctx = r.ctxAt(ctx, "sequence step", String(i), n);
    if (!isMap(n)) fail("A step must be a mapping with a condition (or not) key", sctx);
    return { node: n as unknown as YMap, ctx: sctx };
  });
}

function steps(r: Reader, map: YMap, ctx: Context): StepInfo[] {
  return stepNodes(r, map, ctx).map(({ node, ctx: sctx }) => {
    const hasCond = r.has(node, "condition"), hasNot = r.has(node, "not");
    if (hasCond === hasNot) {
      fail(
        hasCond
          ? "A step has either 'condition' (it must happen) or 'not' (it must not), not both"
          : "A step needs a 'condition' (or a 'not' condition that must not happen)",
        sctx,
      );
    }
    const key = hasCond ? "condition" : "not";
    const captures = stepCaptures(r, node, sctx);
    if (hasNot && captures.length > 0) {
      fail("A 'not' step matches no event of the chain: it cannot capture values", sctx);
    }
    r.warnUnknownKeys(node, ["condition", "not", "capture", "exceptions"], sctx);
    return {
      negated: hasNot,
      cond: r.mapped(node, key, sctx),
      condCtx: r.ctxAt(sctx, "step condition", "", r.get(node, key).value),
      captures,
      exceptions: r.exceptions(node, sctx, false) ?? [],
      ctx: sctx,
    };
  });
}

function stepCaptures(r: Reader, node: YMap, sctx: Context): CaptureInfo[] {
  const { present, value } = r.get(node, "capture");
  if (!present || r.isNull(value)) return [];
  const cctx = r.ctxAt(sctx, "step capture", "", value);
  if (!isMap(value)) fail("Value of 'capture' must be a mapping of names to fields", cctx);
  const out: CaptureInfo[] = [];
  for (const p of (value as unknown as YMap).items) {
    const name = isScalar(p.key) ? String(p.key.value) : "";
    const kctx = r.ctxAt(cctx, "step capture", name, p.key);
    if (!CAPTURE_NAME.test(name)) {
      fail(`Invalid capture name '${name}': letters, digits and _ (used as \${${name}})`, kctx);
    }
    if (!isScalar(p.value) || r.isNull(p.value) || String(p.value.value).trim() === "") {
      fail(`Capture '${name}' must name a field`, r.ctxAt(cctx, "value for", name, p.value));
    }
    out.push({
      name,
      field: String(p.value.value).trim(),
      ctx: r.ctxAt(cctx, "value for", name, p.value),
    });
  }
  return out;
}

function stepAppends(r: Reader, map: YMap, ctx: Context): StepAppend[] {
  return stepNodes(r, map, ctx).map(({ node, ctx: sctx }) => {
    if (r.has(node, "capture")) {
      fail("Captures cannot be appended: replace the steps instead", sctx);
    }
    r.warnUnknownKeys(node, ["condition", "not", "exceptions"], sctx);
    const key = r.has(node, "condition") ? "condition" : r.has(node, "not") ? "not" : undefined;
    const a: StepAppend = { ctx: sctx, negated: key === undefined ? undefined : key === "not" };
    if (key) {
      a.cond = r.mapped(node, key, sctx);
      a.condCtx = r.ctxAt(sctx, "step condition", "", r.get(node, key).value);
    }
    if (r.has(node, "exceptions")) a.exceptions = r.exceptions(node, sctx, true);
    return a;
  });
}

function thresholdStep(r: Reader, map: YMap, ctx: Context): StepInfo {
  return {
    negated: false,
    cond: r.mapped(map, "condition", ctx),
    condCtx: r.ctxAt(ctx, "step condition", "", r.get(map, "condition").value),
    captures: [],
    exceptions: r.exceptions(map, ctx, false) ?? [],
    ctx,
  };
}

function thresholdAppend(
  r: Reader,
  map: YMap,
  ctx: Context,
  cond: boolean,
  exc: boolean,
): StepAppend {
  const a: StepAppend = { ctx };
  if (cond) {
    a.cond = r.mapped(map, "condition", ctx);
    a.condCtx = r.ctxAt(ctx, "step condition", "", r.get(map, "condition").value);
  }
  if (exc) a.exceptions = r.exceptions(map, ctx, true) ?? [];
  return a;
}
