/**
 * `saker tune`: the tuning assistant. Reads the alert store (read-only, beside a running agent),
 * proposes exceptions in Falco's `exceptions:` syntax for the noisiest rules (src/rules/tuning.ts),
 * shows how many stored alerts each would have removed, and writes them as a local rules file in
 * the append form. The file is checked with the configured rules before it is written (what
 * `saker validate` would say), so the agent, which watches its rules files, reloads it.
 *
 * Where it writes: `-w FILE`; else `saker_tuning.yaml` in the config's `rules.d` directory when
 * `rules_files` names one (the release's layout: /etc/saker/rules.d), else in the current
 * directory. An earlier file there is merged, not replaced.
 * @module
 */
import { ConfigError, loadConfig, type LoadedConfig } from "../config/load.ts";
import { AlertStore } from "../outputs/alert_store.ts";
import { parseTime } from "../outputs/alert_filter.ts";
import { loadRulesFiles } from "../rules/loader.ts";
import { formatMessage } from "../rules/result.ts";
import { conditionFields } from "../rules/aggregation.ts";
import {
  parseTuningFile,
  proposeExceptions,
  type TuneReport,
  type TuneRule,
  tuningFileText,
} from "../rules/tuning.ts";
import { assetText, BUILTIN_PREFIX, isBuiltin } from "../assets.ts";
import { defaultConfigFile } from "./run.ts";
import { rfc3339Nano } from "../outputs/format.ts";
import { tuneReportJson } from "../server/tune.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker tune [--since 24h] [--rule NAME]... [-c FILE] [-o key=value]...
                  [-r RULES]... [--store PATH] [-w FILE] [--min-count N] [--max-values N]
                  [--rules N] [--dry-run] [--json]

Proposes exceptions for the noisiest rules from the alert store, shows how many stored alerts
each would have removed, and writes them to a local rules file (merged with an earlier one).

  --since T       alerts since T ago (24h) or a time (RFC 3339, epoch seconds); default 24h
  --rule NAME     only this rule (repeatable)
  -c FILE         config file (its alert_store.path and rules_files); default as saker run
  -r RULES        rules files or directories instead of the config's rules_files
  --store PATH    the alert store instead of alert_store.path
  -w FILE         where to write (default: saker_tuning.yaml in the config's rules.d, or here)
  --min-count N   least alerts for a program and object to be excepted (default 3)
  --max-values N  most values per exception (default 50)
  --rules N       most rules with a proposal (default 20)
  --dry-run       show the proposals and the file, write nothing
  --json          print the proposals as JSON (what GET /tune answers)`;

/** Where the tuning file goes when -w is not given. */
export function defaultTuningFile(rulesFiles: readonly string[]): string {
  const dir = rulesFiles.find((p) => !isBuiltin(p) && /(^|\/)rules\.d\/?$/.test(p));
  return dir ? `${dir.replace(/\/$/, "")}/saker_tuning.yaml` : "saker_tuning.yaml";
}

/** The report as a table for people. */
function reportText(r: TuneReport, what: string): string {
  const alerts = (n: number) => `${n} alert${n === 1 ? "" : "s"}`;
  const pct = (n: number, of: number) => of === 0 ? "0%" : `${(100 * n / of).toFixed(1)}%`;
  const lines: string[] = [`Alerts in the store (${what}): ${r.alerts}`];
  for (const p of r.proposals) {
    lines.push(
      "",
      `${p.rule} (${p.priority}): ${p.alerts} alerts, ${p.removed} removed (${
        pct(p.removed, p.alerts)
      })`,
      `  exception ${p.exception.name}: fields [${p.exception.fields.join(", ")}]`,
    );
    for (const v of p.exception.values) {
      lines.push(`    ${String(v.alerts).padStart(8)}  ${v.values.join("  ")}`);
    }
    if (p.unsafe > 0) {
      lines.push(
        `  left out: ${alerts(p.unsafe)} of programs in /tmp, /dev/shm or other writable places`,
      );
    }
    if (p.rare > 0) lines.push(`  left out: ${alerts(p.rare)} of programs and objects seen rarely`);
  }
  for (const s of r.skipped) {
    lines.push("", `${s.rule}: ${alerts(s.alerts)}; no proposal (${s.reason})`);
  }
  lines.push(
    "",
    `In all: the proposals remove ${r.removed} of ${r.alerts} stored alerts (${
      pct(r.removed, r.alerts)
    }).`,
  );
  return lines.join("\n");
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let v;
  try {
    v = nodeParseArgs({
      args,
      options: {
        since: { type: "string", default: "24h" },
        rule: { type: "string", multiple: true },
        c: { type: "string", short: "c" },
        o: { type: "string", short: "o", multiple: true },
        r: { type: "string", short: "r", multiple: true },
        store: { type: "string" },
        w: { type: "string", short: "w" },
        "min-count": { type: "string", default: "3" },
        "max-values": { type: "string", default: "50" },
        rules: { type: "string", default: "20" },
        "dry-run": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`saker tune: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const since = parseTime(v.since!);
  if (since === undefined) {
    console.error(`saker tune: --since '${v.since}' is not a duration (24h) or a time`);
    return 2;
  }
  const ints: Record<string, number> = {};
  for (const k of ["min-count", "max-values", "rules"] as const) {
    const n = Number(v[k]);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`saker tune: --${k} expects a positive integer, got '${v[k]}'`);
      return 2;
    }
    ints[k] = n;
  }

  const file = v.c ?? defaultConfigFile();
  let loaded: LoadedConfig;
  try {
    loaded = file ? await loadConfig({ file, overrides: v.o ?? [] }) : await loadConfig({
      file: `${BUILTIN_PREFIX}config.yaml`,
      text: assetText("config.yaml") ?? "",
      overrides: v.o ?? [],
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`saker tune: config: ${p}`);
      return 1;
    }
    throw err;
  }
  const config = loaded.config;
  const rulesFiles = v.r?.length ? v.r : config.rules_files;
  const storePath = v.store ?? config.alert_store.path;

  const rules = await loadRulesFiles(rulesFiles);
  const known = new Map<string, TuneRule>(
    rules.rules.map((
      r,
    ) => [r.name, { name: r.name, source: r.source, fields: conditionFields(r.ast) }]),
  );
  let store: AlertStore;
  try {
    store = AlertStore.openReadOnly(storePath);
  } catch (err) {
    console.error(`saker tune: ${(err as Error).message}`);
    return 1;
  }
  let report: TuneReport;
  try {
    report = proposeExceptions(store, { since, rules: v.rule }, known, {
      minCount: ints["min-count"],
      maxValues: ints["max-values"],
      maxRules: ints.rules,
    });
  } finally {
    store.close();
  }
  const what = `since ${rfc3339Nano(since)}${v.rule?.length ? `, rules ${v.rule.join(", ")}` : ""}`;

  const target = v.w ?? defaultTuningFile(rulesFiles);
  let earlier;
  try {
    earlier = parseTuningFile(await Deno.readTextFile(target), target);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      console.error(`saker tune: ${(err as Error).message}`);
      return 1;
    }
  }
  const text = tuningFileText(report, earlier, `${what}; ${report.alerts} alerts`);
  if (v.json) {
    console.log(JSON.stringify(tuneReportJson(report, { since, file: target, text })));
  } else console.log(reportText(report, what));

  // Checked with the rules it tunes, as the agent will load it.
  const check = await loadRulesFiles(rulesFiles, { path: target, text });
  const own = check.results.find((r) => r.name === target);
  if (!own?.successful) {
    for (const m of own?.errors ?? []) console.error(formatMessage(m, check.contents));
    console.error(`saker tune: the proposals do not load with the rules; ${target} not written`);
    return 1;
  }
  if (v["dry-run"]) {
    if (!v.json) console.log(`\n--- ${target} (not written: --dry-run)\n${text}`);
    return 0;
  }
  if (report.proposals.length === 0 && earlier === undefined) {
    if (!v.json) console.log("\nNothing to write.");
    return 0;
  }
  await Deno.writeTextFile(target, text);
  const loadedByAgent = rulesFiles.some((p) =>
    target === p || target.startsWith(p.replace(/\/?$/, "/"))
  );
  if (!v.json) {
    console.log(
      `\nWrote ${target}. ` +
        (loadedByAgent
          ? "The agent loads it with its rules and reloads it now (it watches its rules files)."
          : `Add it to rules_files (after the rules it tunes) or pass -r ${target} to load it.`),
    );
  }
  return 0;
}
