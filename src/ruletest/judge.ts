/**
 * Judging a test: the alerts a run raised against what the test expects (rules that fire, how
 * often, with which priority and output fields; rules that must not fire; no alert at all), and
 * the failure text: what was expected, what came, and for a rule that did not fire, why its
 * condition was false (the explanation of the event that came closest).
 *
 * @example
 * ```ts
 * import { judge } from "./judge.ts";
 * const failures = judge(
 *   { mode: "fire", rules: [{ rule: "R", outputFields: [] }], never: [] },
 *   [{ rule: "S", priority: "Warning", output: "x", outputFields: {} }],
 *   new Map(),
 * );
 * failures[0]; // "'R' did not fire"
 * ```
 * @module
 */
import type { Priority } from "../rules/alert.ts";
import { type Explanation, formatExplanation } from "../rules/explain.ts";
import { type Expectation, matchText, valueMatches } from "./spec.ts";

/** An alert as a test sees it. */
export interface SeenAlert {
  rule: string;
  priority: Priority;
  output: string;
  outputFields: Record<string, unknown>;
}

/** A count of alerts by rule, as text (`A x2, B`). */
export function alertSummary(alerts: readonly SeenAlert[]): string {
  if (alerts.length === 0) return "no alert";
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(a.rule, (counts.get(a.rule) ?? 0) + 1);
  return [...counts].map(([r, n]) => (n > 1 ? `${r} x${n}` : r)).join(", ");
}

/**
 * The failures of a test (empty: it passed), each a block of lines. `why` holds, per expected
 * rule that did not fire, the explanation of the event it came closest to matching.
 */
export function judge(
  expect: Expectation,
  alerts: readonly SeenAlert[],
  why: ReadonlyMap<string, Explanation>,
  note?: (rule: string) => string | undefined,
): string[] {
  const out: string[] = [];
  const byRule = (r: string) => alerts.filter((a) => a.rule === r);
  if (expect.mode === "none") {
    if (alerts.length > 0) {
      const shown = alerts.slice(0, 3).map((a) => `  ${a.priority} ${a.rule}: ${a.output}`);
      const more = alerts.length > 3 ? [`  ... ${alerts.length - 3} more`] : [];
      out.push([`expected no alert; got ${alertSummary(alerts)}`, ...shown, ...more].join("\n"));
    }
  }
  for (const e of expect.rules) {
    const mine = byRule(e.rule);
    if (mine.length === 0) {
      const lines = [`'${e.rule}' did not fire`];
      const extra = note?.(e.rule);
      if (extra) lines.push(`  ${extra}`);
      const x = why.get(e.rule);
      if (x) lines.push(...formatExplanation(x, "  "));
      out.push(lines.join("\n"));
      continue;
    }
    if (e.count !== undefined && mine.length !== e.count) {
      out.push(`'${e.rule}' fired ${mine.length} times, expected ${e.count}`);
    }
    if (e.priority !== undefined) {
      const wrong = mine.find((a) => a.priority !== e.priority);
      if (wrong) out.push(`'${e.rule}' fired at ${wrong.priority}, expected ${e.priority}`);
    }
    if (e.outputFields.length > 0) {
      const ok = mine.some((a) =>
        e.outputFields.every((f) => valueMatches(f.match, a.outputFields[f.field]))
      );
      if (!ok) {
        const a = mine[0];
        const lines = [`'${e.rule}' fired without the expected output fields:`];
        let same = 0;
        for (const f of e.outputFields) {
          const actual = a.outputFields[f.field];
          if (valueMatches(f.match, actual)) {
            same++;
            continue;
          }
          lines.push(
            `  ${f.field}: expected ${matchText(f.match)}, got ${
              actual === null || actual === undefined ? "<NA>" : String(actual)
            }`,
          );
        }
        if (same > 0) lines.push(`  (${same} other fields as expected)`);
        lines.push(`  output: ${a.output}`);
        out.push(lines.join("\n"));
      }
    }
  }
  if (expect.mode === "exactly") {
    const wanted = new Set(expect.rules.map((r) => r.rule));
    const others = alerts.filter((a) => !wanted.has(a.rule));
    if (others.length > 0) out.push(`other rules fired: ${alertSummary(others)}`);
  }
  for (const n of expect.never) {
    const mine = byRule(n.rule);
    if (mine.length > 0) {
      out.push(
        `'${n.rule}' fired ${mine.length} time(s), expected never:\n  output: ${mine[0].output}`,
      );
    }
  }
  if (out.length > 0 && expect.mode !== "none") {
    out.push(`alerts raised: ${alertSummary(alerts)}`);
  }
  return out;
}
