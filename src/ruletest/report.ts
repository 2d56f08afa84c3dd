/**
 * Reports of a test run: a line per test (with the failure's explanation under it), a summary
 * line, JSON, JUnit XML for CI systems, and the coverage table.
 *
 * @example
 * ```ts
 * import { summaryLine } from "./report.ts";
 * summaryLine([]); // "0 passed, 0 failed, 0 skipped, 0 errors"
 * ```
 * @module
 */
import type { RuleCoverage, TestResult } from "./runner.ts";
import { formatProblem, type TestFileError, whereText } from "./problem.ts";

const LABEL: Record<TestResult["status"], string> = {
  pass: "PASS ",
  fail: "FAIL ",
  skip: "SKIP ",
  error: "ERROR",
};

/** The line (and detail lines) of one result; `text` gives file contents for error snippets. */
export function resultLines(r: TestResult, text?: (file: string) => string | undefined): string[] {
  const ms = r.status === "skip" ? "" : ` (${r.ms < 10 ? r.ms.toFixed(1) : Math.round(r.ms)} ms)`;
  const head = `${LABEL[r.status]} ${r.test.file}: ${r.test.name}${ms}`;
  switch (r.status) {
    case "pass":
      return [head];
    case "skip":
      return [`${head}: ${r.reason}`];
    case "error":
      return [head, ...indent(formatProblem(r.error!, text?.(r.error!.at?.file ?? r.test.file)))];
    case "fail":
      return [head, ...r.failures.flatMap((f) => indent(f))];
  }
}

function indent(block: string): string[] {
  return block.split("\n").map((l) => `      ${l}`);
}

/** `N passed, N failed, N skipped, N errors`. */
export function summaryLine(results: readonly TestResult[], extraErrors = 0): string {
  const n = (s: TestResult["status"]) => results.filter((r) => r.status === s).length;
  return `${n("pass")} passed, ${n("fail")} failed, ${n("skip")} skipped, ${
    n("error") + extraErrors
  } errors`;
}

/** A file problem (a test file that could not be read) as lines. */
export function problemLines(p: { path: string; text?: string; error: TestFileError }): string[] {
  return [`ERROR ${p.path}`, ...indent(formatProblem(p.error, p.text))];
}

/** The run as one JSON document. */
export function resultsJson(
  results: readonly TestResult[],
  problems: readonly { path: string; error: TestFileError }[],
  cov?: readonly RuleCoverage[],
): unknown {
  const err = (e: TestFileError) => ({
    message: e.message,
    file: e.at?.file,
    line: e.at?.line,
    column: e.at?.col,
  });
  return {
    tests: results.map((r) => ({
      file: r.test.file,
      name: r.test.name,
      status: r.status,
      ms: Math.round(r.ms * 10) / 10,
      ...(r.failures.length ? { failures: r.failures } : {}),
      ...(r.error ? { error: err(r.error) } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
      alerts: r.alerts.map((a) => ({ rule: a.rule, priority: a.priority, output: a.output })),
    })),
    file_errors: problems.map((p) => ({ path: p.path, error: err(p.error) })),
    summary: {
      passed: results.filter((r) => r.status === "pass").length,
      failed: results.filter((r) => r.status === "fail").length,
      skipped: results.filter((r) => r.status === "skip").length,
      errors: results.filter((r) => r.status === "error").length + problems.length,
    },
    ...(cov ? { coverage: coverageJson(cov) } : {}),
  };
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  )
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "");
}

/** JUnit XML: one test suite per test file, one test case per test. */
export function junitXml(
  results: readonly TestResult[],
  problems: readonly { path: string; text?: string; error: TestFileError }[],
): string {
  const byFile = new Map<string, TestResult[]>();
  for (const r of results) byFile.set(r.test.file, [...(byFile.get(r.test.file) ?? []), r]);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"];
  for (const [file, rs] of byFile) {
    const count = (s: TestResult["status"]) => rs.filter((r) => r.status === s).length;
    const time = rs.reduce((s, r) => s + r.ms, 0) / 1000;
    lines.push(
      `  <testsuite name="${xml(file)}" tests="${rs.length}" failures="${count("fail")}" errors="${
        count("error")
      }" skipped="${count("skip")}" time="${time.toFixed(3)}">`,
    );
    for (const r of rs) {
      const open = `    <testcase classname="${xml(file)}" name="${xml(r.test.name)}" time="${
        (r.ms / 1000).toFixed(3)
      }"`;
      if (r.status === "pass") {
        lines.push(`${open}/>`);
        continue;
      }
      lines.push(`${open}>`);
      if (r.status === "skip") lines.push(`      <skipped message="${xml(r.reason ?? "")}"/>`);
      if (r.status === "fail") {
        lines.push(
          `      <failure message="${xml(r.failures[0]?.split("\n")[0] ?? "")}">${
            xml(r.failures.join("\n"))
          }</failure>`,
        );
      }
      if (r.status === "error") {
        lines.push(
          `      <error message="${xml(`${whereText(r.error?.at)}: ${r.error?.message}`)}">${
            xml(formatProblem(r.error!))
          }</error>`,
        );
      }
      lines.push("    </testcase>");
    }
    lines.push("  </testsuite>");
  }
  for (const p of problems) {
    lines.push(`  <testsuite name="${xml(p.path)}" tests="1" failures="0" errors="1" skipped="0">`);
    lines.push(`    <testcase classname="${xml(p.path)}" name="load">`);
    lines.push(
      `      <error message="${xml(p.error.message)}">${
        xml(formatProblem(p.error, p.text))
      }</error>`,
    );
    lines.push("    </testcase>", "  </testsuite>");
  }
  lines.push("</testsuites>");
  return lines.join("\n") + "\n";
}

/** Share of rules with both a positive and a negative test. */
export function coveredShare(cov: readonly RuleCoverage[]): { covered: number; total: number } {
  return { covered: cov.filter((c) => c.positive > 0 && c.negative > 0).length, total: cov.length };
}

function coverageJson(cov: readonly RuleCoverage[]) {
  const { covered, total } = coveredShare(cov);
  return {
    rules: cov.map((c) => ({
      rule: c.rule,
      file: c.file,
      priority: c.priority,
      positive: c.positive,
      negative: c.negative,
    })),
    covered,
    total,
    percent: total === 0 ? 100 : Math.round((covered / total) * 1000) / 10,
  };
}

/** The coverage table: per rule its positive and negative tests, then the share covered. */
export function coverageLines(cov: readonly RuleCoverage[]): string[] {
  const lines = ["coverage: tests per rule (+ fires as expected, - held back as expected)"];
  let file = "";
  const w = Math.min(64, Math.max(...cov.map((c) => c.rule.length), 10));
  for (const c of cov) {
    if (c.file !== file) {
      file = c.file;
      lines.push(`  ${file}`);
    }
    const missing = [c.positive === 0 ? "positive" : "", c.negative === 0 ? "negative" : ""]
      .filter(Boolean);
    const mark = missing.length === 0 ? "ok  " : "MISS";
    lines.push(
      `    ${mark} ${c.rule.padEnd(w)} +${c.positive} -${c.negative}${
        missing.length ? `  (no ${missing.join(" or ")} test)` : ""
      }`,
    );
  }
  const { covered, total } = coveredShare(cov);
  const pct = total === 0 ? 100 : (covered / total) * 100;
  lines.push(`rules covered: ${covered}/${total} (${pct.toFixed(pct === 100 ? 0 : 1)} %)`);
  return lines;
}
