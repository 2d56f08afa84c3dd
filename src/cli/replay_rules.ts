/**
 * The rules of `saker replay FILE` (without -c/-o): rules files loaded (the default rules when
 * none is named), their problems printed, `-t`/`-T`/`-D` applied, compiled for the file's source,
 * with the alert formatter. A module of its own, loaded by src/cli/replay.ts only when rules run:
 * a filter or `-p` over a capture file starts without the rules reader, the YAML parser and the
 * plugins' fields.
 *
 * @example
 * ```ts
 * import { loadReplayRules } from "./replay_rules.ts";
 * const r = await loadReplayRules({
 *   tags: [], disableTags: [], disable: [], minPriority: "Debug", ruleMatching: "first",
 *   source: "syscall",
 * });
 * r?.ruleset.rules.length;
 * ```
 * @module
 */
import { type LoadedRules, loadRulesFiles, loadWarnings } from "../rules/loader.ts";
import { compileRuleset, type RuleSelector, type Ruleset } from "../rules/ruleset.ts";
import type { Priority } from "../rules/alert.ts";
import { AlertFormatter } from "../outputs/format.ts";
import { DEFAULT_RULES } from "../assets.ts";

/** Problems of loaded rules, one line each (file:line:column: message). */
export function rulesProblems(loaded: LoadedRules): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const r of loaded.results) {
    for (const e of r.errors) errors.push(`${r.name}: ${e.code}: ${e.message}`);
  }
  for (const { file, warning: w } of loadWarnings(loaded)) {
    warnings.push(`${file}: ${w.code}: ${w.message}`);
  }
  return { errors, warnings };
}

/** Names of the rules that `-D` patterns (regexes matched anywhere in a name) disable. */
export function disabledRuleNames(names: readonly string[], patterns: readonly string[]): string[] {
  const res = patterns.map((p) => new RegExp(p));
  return [...new Set(names.filter((n) => res.some((re) => re.test(n))))];
}

/** What {@link loadReplayRules} takes: the command line's rules options. */
export interface ReplayRulesOptions {
  /** Rules files or directories (-r); default the default rules. */
  rules?: string[];
  /** -t: run only the rules with one of these tags. */
  tags: string[];
  /** -T: disable the rules with these tags. */
  disableTags: string[];
  /** -D: regexes over rule names. */
  disable: string[];
  minPriority: Priority;
  ruleMatching: "first" | "all";
  /** The replayed file's source (syscall, k8s_audit, a plugin's). */
  source: string;
}

/**
 * Loads and compiles the rules of a replay; prints warnings and errors (`saker replay:` lines on
 * stderr) and returns undefined when a rules file has errors.
 */
export async function loadReplayRules(
  o: ReplayRulesOptions,
): Promise<{ ruleset: Ruleset; formatter: AlertFormatter } | undefined> {
  const formatter = new AlertFormatter({ hostname: Deno.hostname() });
  const loaded = await loadRulesFiles(o.rules ?? [DEFAULT_RULES]);
  const { errors, warnings } = rulesProblems(loaded);
  for (const w of warnings) console.error(`saker replay: warning: ${w}`);
  if (errors.length > 0) {
    for (const e of errors) console.error(`saker replay: error: ${e}`);
    return undefined;
  }
  const select: RuleSelector[] = [];
  if (o.tags.length > 0) {
    select.push({ action: "disable" });
    for (const t of o.tags) select.push({ action: "enable", tag: t });
  }
  for (const t of o.disableTags) select.push({ action: "disable", tag: t });
  for (const name of disabledRuleNames(loaded.rules.map((r) => r.name), o.disable)) {
    select.push({ action: "disable", rule: name });
  }
  const ruleset = compileRuleset(loaded, {
    minPriority: o.minPriority,
    ruleMatching: o.ruleMatching,
    select,
    source: o.source,
  });
  return { ruleset, formatter };
}
