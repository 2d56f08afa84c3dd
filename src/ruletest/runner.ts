/**
 * Running rule tests: finding test files, loading each test's rules once (one compiled rule set
 * per rules files, priority and source), running the tests (offline ones concurrently, live ones
 * one after another under a temporary agent), judging each, and the coverage of the rules the
 * tests loaded: which rules have a positive test (expected to fire, and did) and a negative test
 * (their condition ran on the test's events and they were required not to fire).
 *
 * @example
 * ```ts
 * import { findTestFiles, loadTestFiles, runTests } from "./runner.ts";
 * const { files, problems } = await loadTestFiles(await findTestFiles(["rules/tests"]));
 * const results = await runTests(files, { defaultRules: ["rules"] });
 * results.filter((r) => r.status === "fail").length;
 * ```
 * @module
 */
import { type Priority, priorityRank } from "../rules/alert.ts";
import { type LoadedRules, loadRulesFiles } from "../rules/loader.ts";
import { compileRuleset, type Ruleset } from "../rules/ruleset.ts";
import type { CompiledRule } from "../rules/compiler.ts";
import type { CompiledSequence } from "../rules/sequence_compiler.ts";
import { K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { parseTestFile, type TestCase, type TestFile } from "./spec.ts";
import { TestFileError } from "./problem.ts";
import { judge, type SeenAlert } from "./judge.ts";
import { runAudit, runCapture, runEvents, type RunOutput } from "./run_offline.ts";

/** The outcome of one test. */
export interface TestResult {
  test: TestCase;
  status: "pass" | "fail" | "skip" | "error";
  ms: number;
  /** Why it failed: one block of lines per unmet expectation. */
  failures: string[];
  /** The problem with the test itself (status error). */
  error?: TestFileError;
  /** Why it was skipped. */
  reason?: string;
  alerts: SeenAlert[];
  /** Rules whose condition ran on the test's events. */
  evaluated: Set<string>;
  /** Key of the rule set the test ran with (coverage groups by it). */
  rulesKey?: string;
}

/** Runs the live tests (simulate, event-generator): given by the live module when available. */
export interface LiveRunner {
  /** Why live tests cannot run here (not root ...), or undefined. */
  unavailable(): Promise<string | undefined>;
  /** Runs the live tests of one rule set, one after another, reporting each as it ends. */
  run(
    tests: TestCase[],
    rules: { files: string[]; ruleset: Ruleset },
    report: (
      t: TestCase,
      out: RunOutput | { skip: string } | { error: string },
      ms: number,
    ) => void,
  ): Promise<void>;
}

/** Options of {@link runTests}. */
export interface RunOptions {
  /** Rules of tests that name none (as `saker run` would load). */
  defaultRules: string[];
  /** Offline tests running at once (default 4). */
  concurrency?: number;
  /** Runs simulate and event-generator tests; without one they are skipped. */
  live?: LiveRunner;
  /** Called as each test ends. */
  onResult?: (r: TestResult) => void;
  /** Only tests whose name contains this. */
  only?: (t: TestCase) => boolean;
}

const TEST_FILE = /\.ya?ml$/;

/**
 * Test files under `paths`: files as given; directories searched (recursively) for YAML files
 * whose top level has a `tests:` key (rules files next to them are left alone).
 */
export async function findTestFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = `${dir.replace(/\/$/, "")}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (
        e.isFile && TEST_FILE.test(e.name) && /^tests\s*:/m.test(await Deno.readTextFile(p))
      ) {
        out.push(p);
      }
    }
  };
  for (const p of paths) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(p);
    } catch {
      throw new TestFileError(`${p}: no such file or directory`);
    }
    if (st.isDirectory) await walk(p);
    else out.push(p);
  }
  return out;
}

/** Reads and parses test files; a file that cannot be parsed gives a problem instead. */
export async function loadTestFiles(
  paths: readonly string[],
): Promise<
  { files: TestFile[]; problems: { path: string; text?: string; error: TestFileError }[] }
> {
  const files: TestFile[] = [];
  const problems: { path: string; text?: string; error: TestFileError }[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      problems.push({ path, error: new TestFileError(`${path}: ${(err as Error).message}`) });
      continue;
    }
    try {
      files.push(parseTestFile(path, text));
    } catch (err) {
      if (!(err instanceof TestFileError)) throw err;
      problems.push({ path, text, error: err });
    }
  }
  return { files, problems };
}

/** Loaded rules and compiled rule sets, shared by the tests that use the same files. */
export class RulesCache {
  #loaded = new Map<string, Promise<LoadedRules>>();
  #sets = new Map<string, Ruleset>();

  /** Loads rules files once; throws TestFileError naming the first error. */
  async load(files: readonly string[], test: TestCase): Promise<LoadedRules> {
    const key = files.join("\n");
    let p = this.#loaded.get(key);
    if (!p) this.#loaded.set(key, p = loadRulesFiles(files));
    const loaded = await p;
    const errors = loaded.results.flatMap((r) => r.errors.map((e) => ({ file: r.name, e })));
    if (errors.length > 0) {
      const { file, e } = errors[0];
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : "";
      throw new TestFileError(
        `rules ${file}: ${e.code}: ${e.message}${more}`,
        test.rulesAt ?? test.at,
      );
    }
    return loaded;
  }

  /** The rule set of `source` with every matching rule reported, from `minPriority` up. */
  ruleset(
    files: readonly string[],
    loaded: LoadedRules,
    source: string,
    minPriority?: Priority,
  ): Ruleset {
    const key = `${files.join("\n")}|${source}|${minPriority ?? ""}`;
    let rs = this.#sets.get(key);
    if (!rs) {
      rs = compileRuleset(loaded, { source, ruleMatching: "all", minPriority });
      this.#sets.set(key, rs);
    }
    return rs;
  }
}

function sourceOf(t: TestCase): string {
  return t.input.kind === "audit" ? K8S_AUDIT_SOURCE : "syscall";
}

function isLive(t: TestCase): boolean {
  return t.input.kind === "simulate" || t.input.kind === "evtgen";
}

/** Checks the rule names a test expects against the loaded rules and the rule set. */
function checkRuleNames(t: TestCase, loaded: LoadedRules, ruleset: Ruleset): void {
  const all = new Map<string, CompiledRule | CompiledSequence>(
    [...loaded.rules, ...loaded.sequences].map((r) => [r.name, r]),
  );
  const running = new Set([...ruleset.rules, ...ruleset.sequences].map((r) => r.name));
  const names = [...t.expect.rules, ...t.expect.never];
  for (const n of names) {
    const r = all.get(n.rule);
    if (!r) {
      throw new TestFileError(`no rule named '${n.rule}' in the loaded rules`, n.at ?? t.at);
    }
    if (t.expect.rules.includes(n as never) && !running.has(n.rule)) {
      const why = r.source !== sourceOf(t)
        ? `its source is ${r.source}`
        : !r.enabled
        ? "it is disabled (enabled: false)"
        : `its priority ${r.priority} is below the test's ${t.priority}`;
      throw new TestFileError(`rule '${n.rule}' cannot fire here: ${why}`, n.at ?? t.at);
    }
  }
}

/** Runs tests and judges each; results come in the order of the tests. */
export async function runTests(
  files: readonly TestFile[],
  opts: RunOptions,
): Promise<TestResult[]> {
  const cache = new RulesCache();
  const tests = files.flatMap((f) => f.tests).filter((t) => opts.only?.(t) ?? true);
  const results: (TestResult | undefined)[] = new Array(tests.length);
  const done = (i: number, r: TestResult) => {
    results[i] = r;
    opts.onResult?.(r);
  };
  const offline = tests.map((t, i) => ({ t, i })).filter(({ t }) => !isLive(t));
  const live = tests.map((t, i) => ({ t, i })).filter(({ t }) => isLive(t));

  let next = 0;
  const worker = async () => {
    while (next < offline.length) {
      const { t, i } = offline[next++];
      done(i, await runOne(t, cache, opts.defaultRules));
      // Let other tests' I/O proceed between synthetic runs.
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));

  if (live.length > 0) await runLive(live, cache, opts, done);
  return results as TestResult[];
}

function base(t: TestCase): TestResult {
  return { test: t, status: "pass", ms: 0, failures: [], alerts: [], evaluated: new Set() };
}

function finish(
  t: TestCase,
  out: RunOutput,
  t0: number,
  rulesKey: string,
  note?: (r: string) => string | undefined,
): TestResult {
  const failures = judge(t.expect, out.alerts, out.why, note);
  return {
    ...base(t),
    status: failures.length > 0 ? "fail" : "pass",
    failures,
    alerts: out.alerts,
    evaluated: out.evaluated,
    ms: performance.now() - t0,
    rulesKey,
  };
}

function errorResult(t: TestCase, err: unknown, t0: number): TestResult {
  const e = err instanceof TestFileError
    ? err
    : new TestFileError(String((err as Error)?.message ?? err), t.at);
  return { ...base(t), status: "error", error: e, ms: performance.now() - t0 };
}

async function runOne(t: TestCase, cache: RulesCache, defaults: string[]): Promise<TestResult> {
  let t0 = performance.now();
  if (t.invalid) return errorResult(t, t.invalid, t0);
  if (t.skip) return { ...base(t), status: "skip", reason: t.skip };
  try {
    const files = t.rules ?? defaults;
    const loaded = await cache.load(files, t);
    const ruleset = cache.ruleset(files, loaded, sourceOf(t), t.priority);
    checkRuleNames(t, loaded, ruleset);
    const watch = t.expect.rules.map((r) => r.rule);
    // Tests share a ruleset but not its sequences' chains: each starts with none in progress.
    ruleset.sequenceStore.clear();
    // The time of a test is its run; loading rules is shared by the tests that use them.
    t0 = performance.now();
    let out: RunOutput;
    switch (t.input.kind) {
      case "events":
        out = runEvents(t.input.events, ruleset, watch);
        break;
      case "capture":
        out = await runCapture(t.input, ruleset, watch);
        break;
      case "audit":
        out = await runAudit(t.input, ruleset, watch);
        break;
      default:
        throw new Error(`not an offline test: ${t.input.kind}`);
    }
    return finish(t, out, t0, files.join("\n"));
  } catch (err) {
    if (!(err instanceof TestFileError)) throw err;
    return errorResult(t, err, t0);
  }
}

async function runLive(
  live: { t: TestCase; i: number }[],
  cache: RulesCache,
  opts: RunOptions,
  done: (i: number, r: TestResult) => void,
): Promise<void> {
  const why = opts.live ? await opts.live.unavailable() : "live test, not run (--no-live)";
  const runnable: { t: TestCase; i: number }[] = [];
  for (const x of live) {
    if (x.t.invalid) done(x.i, errorResult(x.t, x.t.invalid, performance.now()));
    else if (x.t.skip) done(x.i, { ...base(x.t), status: "skip", reason: x.t.skip });
    else if (why) done(x.i, { ...base(x.t), status: "skip", reason: why });
    else runnable.push(x);
  }
  if (runnable.length === 0) return;
  // One temporary agent per rule set: group the tests by their rules files.
  const groups = new Map<string, { t: TestCase; i: number }[]>();
  for (const x of runnable) {
    const key = (x.t.rules ?? opts.defaultRules).join("\n");
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  for (const [key, group] of groups) {
    const files = key.split("\n");
    let loaded: LoadedRules;
    let ruleset: Ruleset;
    try {
      loaded = await cache.load(files, group[0].t);
      ruleset = cache.ruleset(files, loaded, "syscall");
      for (const x of group) checkRuleNames(x.t, loaded, ruleset);
    } catch (err) {
      for (const x of group) done(x.i, errorResult(x.t, err, performance.now()));
      continue;
    }
    const index = new Map(group.map((x) => [x.t, x.i]));
    await opts.live!.run(group.map((x) => x.t), { files, ruleset }, (t, out, ms) => {
      const i = index.get(t)!;
      if ("skip" in out) done(i, { ...base(t), status: "skip", reason: out.skip, ms });
      else if ("error" in out) {
        done(i, { ...errorResult(t, new TestFileError(out.error, t.at), 0), ms });
      } else done(i, { ...finish(t, out, 0, key), ms });
    });
  }
}

/** Coverage of one rule. */
export interface RuleCoverage {
  rule: string;
  file: string;
  priority: Priority;
  positive: number;
  negative: number;
}

/**
 * Coverage of the rules loaded by the tests (by rules file set; sequences and thresholds too):
 * per rule, the passing tests that expected it to fire (positive) and the passing tests whose
 * events its condition (a step's, for a sequence) ran on while it was required not to fire
 * (negative: named in `never`, left out of `exactly`, or `expect: none`).
 */
export async function coverage(
  results: readonly TestResult[],
  defaults: string[],
): Promise<RuleCoverage[]> {
  const byRule = new Map<string, RuleCoverage>();
  const sets = new Set(
    results.filter((r) => r.test.input.kind !== "evtgen").map((r) =>
      (r.test.rules ?? defaults).join("\n")
    ),
  );
  for (const key of sets) {
    const loaded = await loadRulesFiles(key.split("\n"));
    for (const r of [...loaded.rules, ...loaded.sequences]) {
      if (!byRule.has(r.name)) {
        byRule.set(r.name, {
          rule: r.name,
          file: r.ctx.last.file,
          priority: r.priority,
          positive: 0,
          negative: 0,
        });
      }
    }
  }
  for (const res of results) {
    if (res.status !== "pass") continue;
    const e = res.test.expect;
    for (const x of e.rules) {
      const c = byRule.get(x.rule);
      if (c) c.positive++;
    }
    const expected = new Set(e.rules.map((x) => x.rule));
    const forbidden = new Set(e.never.map((x) => x.rule));
    for (const name of res.evaluated) {
      const c = byRule.get(name);
      if (!c) continue;
      const negative = forbidden.has(name) || e.mode === "none" ||
        (e.mode === "exactly" && !expected.has(name));
      if (negative) c.negative++;
    }
  }
  return [...byRule.values()].sort((a, b) =>
    a.file.localeCompare(b.file) || priorityRank(a.priority) - priorityRank(b.priority) ||
    a.rule.localeCompare(b.rule)
  );
}
