/**
 * Replays of the inputs other than capture files, through the runner of src/pipeline/replay.ts:
 * a file of Kubernetes audit events (JSON lines, JSON, gzip, or a directory of them) through a
 * ruleset of `source: k8s_audit` rules, and what a plugin reads from a log file or directory
 * (CloudTrail, Okta, GCP audit logs) through a ruleset of the plugin's source; neither has state.
 *
 * A module apart from replay.ts so that a capture replay never has Deno read the audit and
 * plugin sources: Deno reads every module the loaded ones name, even by a literal `import()`
 * that never runs. `saker replay` loads this one with its other inputs (src/cli/replay_inputs.ts).
 *
 * @example
 * ```ts
 * import { replayAuditFile } from "./replay_sources.ts";
 * import { compileRuleset } from "../rules/ruleset.ts";
 * import { loadRulesFiles } from "../rules/loader.ts";
 * const rules = compileRuleset(await loadRulesFiles(["rules/k8s_audit_rules.yaml"]));
 * const res = await replayAuditFile("audit.jsonl", { evaluator: rules, onAlerts: console.log });
 * console.log(res.events, res.alerts, res.rejected);
 * ```
 * @module
 */
import type { IngestError } from "../k8saudit/ingest.ts";
import type { Plugin } from "../plugins/api.ts";
import { Registry } from "../metrics.ts";
import { openAuditFileSource } from "../sources/k8saudit_file.ts";
import { openPluginSource } from "../sources/plugin_source.ts";
import { type ReplayOptions, runReplay } from "./replay.ts";

/** Options of {@link replayAuditFile}. */
export interface AuditReplayOptions extends ReplayOptions {
  /** Receives each line or item not taken (default: a rate-limited log warning). */
  onError?: (e: IngestError) => void;
  /** Largest audit record, characters of compact JSON (the plugin's maxEventSize). */
  maxEventBytes?: number;
}

/** What an audit replay did. */
export interface AuditReplayResult {
  events: number;
  alerts: number;
  /** Lines or items that were not audit events. */
  rejected: number;
  seconds: number;
}

/** Replays a file of Kubernetes audit events (or a directory of them). */
export async function replayAuditFile(
  path: string,
  opts: AuditReplayOptions = {},
): Promise<AuditReplayResult> {
  const source = await openAuditFileSource(path, {
    batchSize: opts.batchSize,
    maxEventBytes: opts.maxEventBytes,
    onError: opts.onError,
    registry: new Registry(),
  });
  const res = await runReplay({ source }, opts);
  return {
    events: res.events,
    alerts: res.alerts,
    rejected: source.stats().rejected,
    seconds: res.seconds,
  };
}

/** What a plugin replay did. */
export interface PluginReplayResult {
  events: number;
  alerts: number;
  /** Events the plugin gave without a payload or readable time. */
  bad: number;
  seconds: number;
}

/**
 * Replays what a plugin's source yields for `params` (a log file or directory for the file
 * plugins: cloudtrail, okta, gcpaudit) through a ruleset of the plugin's source; throws what
 * made the plugin's source fail (after replaying what it gave before).
 */
export async function replayPlugin(
  plugin: Plugin,
  params: string,
  opts: ReplayOptions = {},
): Promise<PluginReplayResult> {
  let failure: unknown;
  const source = openPluginSource(plugin, params, {
    onError: (stage, err) => failure ??= stage === "open" ? err : undefined,
  });
  const res = await runReplay({ source }, opts);
  if (failure !== undefined) throw failure;
  return { events: res.events, alerts: res.alerts, bad: source.stats().bad, seconds: res.seconds };
}
