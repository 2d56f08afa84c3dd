/**
 * The rules builder backed by Saker's rules engine: load the files (src/rules/loader.ts),
 * compile a Ruleset for the syscall source (src/rules/ruleset.ts), and one for each other
 * source (k8s_audit), with the config's priority, rule matching, rule selection,
 * `append_output` additions (src/rules/output_additions.ts) and aggregation
 * (src/rules/aggregation.ts).
 * @module
 */
import { compileRuleset, type RuleSelector } from "../rules/ruleset.ts";
import { knownSources, loadRulesFiles, loadWarnings } from "../rules/loader.ts";
import { additionsForSource, type OutputAddition } from "../rules/output_additions.ts";
import { setStaticFields } from "../rules/fields/static.ts";
import { setBufferFormatBase64 } from "../rules/buffer_format.ts";
import { formatMessage } from "../rules/result.ts";
import {
  deriveKernelPredicates,
  formatPredicates,
  unmatchableEvents,
} from "../rules/kernel_filter.ts";
import type { AggregationConfig, AppendOutputEntry, RuleSelection } from "../config/spec.ts";
import {
  type AggregationPolicy,
  type AggregationSpec,
  conditionFields,
} from "../rules/aggregation.ts";
import { lookupField } from "../rules/fields/mod.ts";
import { stateNeeds } from "../rules/state_needs.ts";
import { SequenceStore } from "../rules/sequence_engine.ts";
import { stepsAsRules } from "../rules/sequence_compiler.ts";
import { type BuiltRules, RulesError, type RulesOptions } from "./rules_builder.ts";
import { pluginRequirementProblems } from "./plugins.ts";
import { agentNeeds, type DenyRule, imageDenials, selfDenials } from "./response_deny.ts";

/** Turns the config's `rules:` entries into ruleset selectors. */
export function selectors(sel: RuleSelection[]): RuleSelector[] {
  const out: RuleSelector[] = [];
  for (const s of sel) {
    if (s.enable) out.push({ action: "enable", ...s.enable });
    if (s.disable) out.push({ action: "disable", ...s.disable });
  }
  return out;
}

/** The config's `append_output` entries as the rules engine takes them. */
export function outputAdditions(entries: readonly AppendOutputEntry[]): OutputAddition[] {
  return entries.map((e) => ({
    match: e.match,
    format: e.extra_output || undefined,
    suggested: e.suggested_output === true,
    fields: (e.extra_fields ?? []).flatMap((f): { name: string; format: string; raw: boolean }[] =>
      typeof f === "string"
        ? [{ name: f, format: `%${f}`, raw: true }]
        : Object.entries(f).map(([name, format]) => ({ name, format, raw: false }))
    ),
  }));
}

/**
 * The config's `aggregation` section as the rules engine takes it; throws RulesError naming a key
 * field that is a field of no source.
 */
export function aggregationPolicy(c: AggregationConfig | undefined): AggregationPolicy | undefined {
  if (!c) return undefined;
  const problems: string[] = [];
  const checkKey = (where: string, key: readonly string[] | undefined) => {
    for (const f of key ?? []) {
      if (!lookupField(f)) problems.push(`${where}: '${f}' is not a field`);
    }
  };
  checkKey("aggregation.key", c.key);
  const spec = (e: AggregationConfig["rules"][number]): AggregationSpec => {
    const s: AggregationSpec = {};
    if (e.enabled !== undefined) s.enabled = e.enabled;
    if (e.key !== undefined) s.key = e.key;
    if (e.main_object !== undefined) s.mainObject = e.main_object;
    if (e.window !== undefined) s.windowMs = Math.round(e.window * 1000);
    if (e.max_window !== undefined) s.maxWindowMs = Math.round(e.max_window * 1000);
    return s;
  };
  c.rules.forEach((e, i) => checkKey(`aggregation.rules[${i}].key`, e.key));
  if (problems.length > 0) throw new RulesError(problems);
  return {
    defaults: {
      enabled: c.enabled,
      key: c.key,
      mainObject: c.main_object,
      windowMs: Math.round(c.window * 1000),
      maxWindowMs: Math.round(c.max_window * 1000),
    },
    groups: c.rules.map((e) => ({ match: e.match, spec: spec(e) })),
  };
}

/** The additions for `source`; throws RulesError naming each bad `append_output` entry. */
function additionsOf(entries: readonly AppendOutputEntry[], source: string): OutputAddition[] {
  const { usable, problems } = additionsForSource(outputAdditions(entries), source);
  if (problems.length > 0) {
    throw new RulesError(problems.map((p) => `append_output[${p.index}]: ${p.message}`));
  }
  return usable;
}

/** Builds the syscall ruleset from rules files. Throws RulesError listing every error. */
export async function buildEngineRules(files: string[], opts: RulesOptions): Promise<BuiltRules> {
  setStaticFields(opts.staticFields ?? {});
  setBufferFormatBase64(opts.bufferFormatBase64 === true);
  const loaded = await loadRulesFiles(files);
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const r of loaded.results) {
    for (const m of r.errors) problems.push(formatMessage(m, loaded.contents));
  }
  for (const w of loadWarnings(loaded)) warnings.push(formatMessage(w.warning, loaded.contents));
  if (opts.plugins) {
    problems.push(...pluginRequirementProblems(loaded.requiredPlugins, opts.plugins));
  }
  if (problems.length > 0) throw new RulesError(problems);
  const aggregation = aggregationPolicy(opts.aggregation);
  const stores = new Map<string, SequenceStore>();
  const storeFor = (source: string) => {
    const s = opts.sequenceStores?.get(source) ??
      new SequenceStore({ maxEntries: opts.maxPartialMatches });
    if (opts.maxPartialMatches !== undefined) s.maxEntries = opts.maxPartialMatches;
    stores.set(source, s);
    return s;
  };
  const ruleset = compileRuleset(loaded, {
    minPriority: opts.priority,
    ruleMatching: opts.ruleMatching,
    select: selectors(opts.selection),
    source: "syscall",
    additions: additionsOf(opts.appendOutput, "syscall"),
    aggregation,
    sequenceStore: storeFor("syscall"),
  });
  // The other sources' rules (Kubernetes audit) get their own rulesets.
  const sources: BuiltRules["sources"] = {};
  const running = new Set<unknown>([...ruleset.rules, ...ruleset.sequences]);
  const aggregated = (rs: typeof ruleset) =>
    [...rs.aggregation, ...rs.sequenceAggregation].filter((x) => x !== undefined).length;
  let aggregating = aggregated(ruleset);
  for (const source of knownSources()) {
    if (source === "syscall") continue;
    const rs = compileRuleset(loaded, {
      minPriority: opts.priority,
      ruleMatching: opts.ruleMatching,
      select: selectors(opts.selection),
      source,
      additions: additionsOf(opts.appendOutput, source),
      aggregation,
      sequenceStore: storeFor(source),
    });
    for (const r of [...rs.rules, ...rs.sequences]) running.add(r);
    sources[source] = { evaluator: rs, ruleCount: rs.rules.length + rs.sequences.length };
    aggregating += aggregated(rs);
  }
  const deny: DenyRule[] = ruleset.rules.filter((r) => r.deny).map((r) => ({
    name: r.name,
    source: r.source,
    tags: r.tags,
    ...(r.actions?.mode ? { mode: r.actions.mode } : {}),
    plan: r.deny!,
  }));
  const self = [
    ...selfDenials(deny, agentNeeds([...loaded.contents.keys(), ...(opts.configFiles ?? [])])),
    ...(opts.response ? imageDenials(deny, opts.response) : []),
  ];
  if (self.length > 0) throw new RulesError(self);
  // Event types no rule can match whatever the event (a contradiction in every rule reading
  // them, e.g. Falco's `outbound` on sendto with `fd.l4proto=tcp`) are not captured for the rules.
  // Sequence steps count as rules here: the kernel must keep every event a step can match.
  const conditions = [...ruleset.rules, ...stepsAsRules(ruleset.sequences)];
  const predicates = deriveKernelPredicates(conditions);
  const syscalls = ruleset.syscalls();
  const unmatchable = unmatchableEvents(predicates);
  for (const name of unmatchable) syscalls.delete(name);
  // What state tracking needs: fd lifecycle calls only as far as the rules read fd history.
  const needs = stateNeeds(conditions, unmatchable);
  return {
    evaluator: ruleset,
    syscalls,
    kernelPredicates: formatPredicates(predicates),
    fdStateReaders: needs.readers,
    fdHistory: needs.fdHistory,
    predicates,
    ruleCount: ruleset.rules.length + ruleset.sequences.length,
    aggregating,
    deny,
    warnings,
    files: [...loaded.contents.keys()],
    catalog: loaded.rules.map((r) => ({
      name: r.name,
      source: r.source,
      priority: r.priority,
      tags: r.tags,
      description: r.desc,
      enabled: running.has(r),
      fields: conditionFields(r.ast),
    })).concat(loaded.sequences.map((q) => ({
      name: q.name,
      source: q.source,
      priority: q.priority,
      tags: q.tags,
      description: q.desc,
      enabled: running.has(q),
      fields: [...new Set(q.steps.flatMap((s) => conditionFields(s.ast)))],
    }))),
    sources,
    sequenceStores: stores,
  };
}
