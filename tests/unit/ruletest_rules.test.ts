/**
 * Saker's default rules against their own tests (rules/tests, the files `saker test` runs):
 * every test passes, and every rule (sequences and thresholds too) has a positive and a negative
 * test. The tests feed synthetic events through the real loader, compiler, state store and field
 * extractors.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { coverage, findTestFiles, loadTestFiles, runTests } from "../../src/ruletest/runner.ts";
import { resultLines } from "../../src/ruletest/report.ts";

const RULES = `${REPO_ROOT}rules`;

Deno.test("default rules: they load without errors", async () => {
  const loaded = await loadRulesFiles([RULES]);
  for (const r of loaded.results) assertEquals(r.errors.map((e) => e.message), [], r.name);
  assert(loaded.rules.length >= 40, `only ${loaded.rules.length} rules`);
});

Deno.test("default rules: every test in rules/tests passes, and every rule is covered", async () => {
  const { files, problems } = await loadTestFiles(await findTestFiles([`${RULES}/tests`]));
  assertEquals(problems.map((p) => `${p.path}: ${p.error.message}`), []);
  assert(files.length >= 6, `${files.length} test files`);
  const results = await runTests(files, { defaultRules: [RULES] });
  const bad = results.filter((r) => r.status !== "pass");
  assertEquals(bad.flatMap((r) => resultLines(r)), []);
  assert(results.length >= 100, `only ${results.length} tests`);
  const cov = await coverage(results, [RULES]);
  const loaded = await loadRulesFiles([RULES]);
  assertEquals(
    cov.length,
    loaded.rules.length + loaded.sequences.length,
    "every rule, sequence and threshold is in the coverage table",
  );
  const uncovered = cov.filter((c) => c.positive === 0 || c.negative === 0);
  assertEquals(uncovered.map((c) => `${c.rule} +${c.positive} -${c.negative}`), []);

  // The README's figures are these.
  const readme = await Deno.readTextFile(`${REPO_ROOT}README.md`);
  const stated = /: (\d+) rules, (\d+) tests, 100 %/.exec(readme);
  assertEquals(stated?.slice(1).map(Number), [cov.length, results.length], "README's counts");
  const sample = /^(\d+) passed, 0 failed, 0 skipped, 0 errors \((\d+) files, /m.exec(readme);
  assertEquals(sample?.slice(1).map(Number), [results.length, files.length], "README's example");
});
