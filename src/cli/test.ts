/**
 * `saker test [PATH...]`: unit tests for detection rules. Runs every test file found (YAML files
 * with a `tests:` list; by default the `tests/` directory next to the rules `saker run` loads),
 * prints one line per test and a summary, and exits 1 when a test fails or a test file is bad.
 * A failure shows the expected and the raised alerts and, for a rule that did not fire, which
 * part of its condition was false and the value its field had.
 *
 * @example
 * ```sh
 * saker test rules/tests                       # the default rules' own tests
 * saker test --coverage --junit junit.xml      # CI: coverage table and a JUnit report
 * saker test ../shared/reference/falco-evtgen-suite -r falco_rules.yaml   # live, as root
 * ```
 * @module
 */
import { ConfigError, loadConfig } from "../config/load.ts";
import { assetText, BUILTIN_PREFIX, DEFAULT_RULES } from "../assets.ts";
import type { Alert } from "../rules/alert.ts";
import type { StartAgent } from "../ruletest/run_live.ts";
import { defaultConfigFile } from "./run.ts";
import {
  coverage,
  findTestFiles,
  type LiveRunner,
  loadTestFiles,
  runTests,
  type TestResult,
} from "../ruletest/runner.ts";
import {
  coverageLines,
  coveredShare,
  junitXml,
  problemLines,
  resultLines,
  resultsJson,
  summaryLine,
} from "../ruletest/report.ts";
import { TestFileError } from "../ruletest/problem.ts";
import { updateTests } from "../ruletest/update.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker test [options] [PATH...]

Runs rule tests: YAML files with a \`tests:\` list (directories are searched for them; by
default the tests/ directory beside the rules saker run would load). Each test feeds synthetic
events, a capture file, Kubernetes audit events or a live simulator action to the rules and
checks which rules fire. Falco's declarative event-generator tests run too (live).

options:
  -r PATH           rules for tests that name none (repeatable; default: the config's)
  -c FILE           config whose rules_files are the default rules (as saker run)
      --json        print the results as one JSON document
      --junit FILE  write a JUnit XML report
      --coverage    per rule: its positive and negative tests, and the share covered
      --min-coverage PCT  also fail when less than PCT % of the rules are covered
      --update      fill in the expected output fields of tests marked update: true
      --filter TEXT run only tests whose name contains TEXT
      --no-live     skip live tests (simulate, event-generator)
  -h, --help        this text

Exit status: 0 when every test passed (or was skipped), 1 when one failed or a test file is
bad, 2 for usage errors.`;

async function defaultRules(config?: string): Promise<string[]> {
  const file = config ?? defaultConfigFile();
  if (!file) return [DEFAULT_RULES];
  const loaded = await loadConfig({ file });
  return loaded.config.rules_files.length > 0 ? loaded.config.rules_files : [DEFAULT_RULES];
}

async function defaultTestPaths(rules: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of rules) {
    if (r.startsWith("builtin:")) continue;
    let dir = r;
    try {
      if (!(await Deno.stat(r)).isDirectory) {
        dir = r.includes("/") ? r.slice(0, r.lastIndexOf("/")) : ".";
      }
    } catch {
      continue;
    }
    const tests = `${dir.replace(/\/$/, "")}/tests`;
    try {
      if ((await Deno.stat(tests)).isDirectory && !out.includes(tests)) out.push(tests);
    } catch { /* none */ }
  }
  return out;
}

/**
 * Starts the agent `saker run` would run (the live source and state, Saker's rules engine), with
 * the given rules only and no outputs, store or API, reporting each evaluated event.
 */
const startAgent: StartAgent = async (files, hooks) => {
  const { openLive, liveState } = await import("./run.ts");
  const { Agent } = await import("../agent/agent.ts");
  const { buildEngineRules } = await import("../agent/build_rules.ts");
  const { Registry } = await import("../metrics.ts");
  const { config } = await loadConfig({
    file: `${BUILTIN_PREFIX}config.yaml`,
    text: assetText("config.yaml") ?? "",
    overrides: [
      "rule_matching=all",
      "priority=debug",
      "watch_config_files=false",
      "stdout_output.enabled=false",
      "alert_store.enabled=false",
      "webserver.enabled=false",
      "log_level=warning",
    ],
  });
  config.rules_files = files;
  const agent = await Agent.start(config, {
    openSource: openLive,
    buildRules: async (f, o) => {
      const built = await buildEngineRules(f, o);
      const inner = built.evaluator;
      return {
        ...built,
        evaluator: {
          evaluate(ev, emit) {
            const alerts: Alert[] = [];
            inner.evaluate(ev, (a) => {
              alerts.push(a);
              emit(a);
            });
            hooks.onEvaluated(ev, alerts);
          },
        },
      };
    },
    makeState: (c) => liveState(c),
    rulesFiles: files,
    signals: false,
    registry: new Registry(),
  });
  return {
    stop: async () => {
      await agent.stop(0, "saker test done");
    },
  };
};

async function liveRunner(): Promise<LiveRunner> {
  const { TemporaryAgentRunner } = await import("../ruletest/run_live.ts");
  return new TemporaryAgentRunner(startAgent);
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      allowPositionals: true,
      options: {
        r: { type: "string", multiple: true },
        c: { type: "string" },
        json: { type: "boolean" },
        junit: { type: "string" },
        coverage: { type: "boolean" },
        "min-coverage": { type: "string" },
        update: { type: "boolean" },
        filter: { type: "string" },
        "no-live": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`saker test: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const minCoverage = v["min-coverage"] === undefined ? undefined : Number(v["min-coverage"]);
  if (minCoverage !== undefined && !(minCoverage >= 0 && minCoverage <= 100)) {
    console.error(`saker test: --min-coverage takes a percentage, got '${v["min-coverage"]}'`);
    return 2;
  }
  let rules: string[];
  try {
    rules = v.r ?? await defaultRules(v.c);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`saker test: config: ${p}`);
      return 2;
    }
    throw err;
  }
  let paths = parsed.positionals;
  if (paths.length === 0) {
    paths = await defaultTestPaths(rules);
    if (paths.length === 0) {
      console.error(
        `saker test: no tests directory beside the rules (${
          rules.join(", ")
        }); give test files or directories`,
      );
      return 2;
    }
  }
  let found: string[];
  try {
    found = await findTestFiles(paths);
  } catch (err) {
    if (!(err instanceof TestFileError)) throw err;
    console.error(`saker test: ${err.message}`);
    return 2;
  }
  const { files, problems } = await loadTestFiles(found);
  const texts = new Map(files.map((f) => [f.path, f.text]));
  const out = (line: string) => {
    if (!v.json) console.log(line);
  };
  for (const p of problems) problemLines(p).forEach(out);
  const t0 = performance.now();
  const filter = v.filter;
  let results: TestResult[] = await runTests(files, {
    defaultRules: rules,
    live: v["no-live"] ? undefined : await liveRunner(),
    only: filter ? (t) => t.name.includes(filter) : undefined,
    onResult: (r) => resultLines(r, (f) => texts.get(f)).forEach(out),
  });
  if (v.update) {
    const updated = await updateTests(files, results);
    for (const u of updated.messages) out(u);
    if (updated.rerun.length > 0) {
      // Judge the updated tests again against their new expectations.
      const again = await runTests(updated.files, {
        defaultRules: rules,
        live: v["no-live"] ? undefined : await liveRunner(),
        only: (t) => updated.rerun.some((r) => r.file === t.file && r.name === t.name),
      });
      results = results.map((r) =>
        again.find((a) => a.test.file === r.test.file && a.test.name === r.test.name) ?? r
      );
    }
  }
  const cov = v.coverage || minCoverage !== undefined ? await coverage(results, rules) : undefined;
  if (cov) {
    out("");
    coverageLines(cov).forEach(out);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const nFiles = `${files.length} file${files.length === 1 ? "" : "s"}`;
  out(`${summaryLine(results, problems.length)} (${nFiles}, ${secs} s)`);
  if (v.json) console.log(JSON.stringify(resultsJson(results, problems, cov), null, 2));
  if (v.junit) await Deno.writeTextFile(v.junit, junitXml(results, problems));
  let bad = problems.length > 0 || results.some((r) => r.status === "fail" || r.status === "error");
  if (cov) {
    const { covered, total } = coveredShare(cov);
    const pct = total === 0 ? 100 : (covered / total) * 100;
    if (minCoverage !== undefined && pct < minCoverage) {
      out(`coverage ${pct.toFixed(1)} % is below --min-coverage ${minCoverage} %`);
      bad = true;
    }
  }
  return bad ? 1 : 0;
}
