/**
 * `saker replay -c CONFIG` and `-o KEY=VALUE`: the agent itself, with the capture or audit file
 * as its event source (the config's outputs, formats, drop monitoring and capture settings
 * apply; no API server, no file watching). A module of its own, loaded by src/cli/replay.ts
 * only for these options: the agent's modules (outputs, HTTP, NATS, SQLite) are no part of a
 * plain replay's start.
 *
 * @example
 * ```ts
 * import { replayThroughAgent } from "./replay_agent.ts";
 * const code = await replayThroughAgent("sample.scap", {
 *   overrides: ["json_output=true"], disable: [], disableTags: [], tags: [], audit: false,
 * });
 * ```
 * @module
 */
import { ConfigError, loadConfig } from "../config/load.ts";
import { Agent } from "../agent/agent.ts";
import { buildEngineRules } from "../agent/build_rules.ts";
import { RulesError } from "../agent/rules_builder.ts";
import { StateStore } from "../state/store.ts";
import { openScapSource } from "../sources/scap.ts";
import { openAuditFileSource } from "../sources/k8saudit_file.ts";
import { Registry } from "../metrics.ts";
import { loadRulesFiles } from "../rules/loader.ts";
import { disabledRuleNames } from "./replay_rules.ts";

/**
 * Replays `file` through the agent (saker run with the file as its event source); returns the
 * agent's exit status (1 for config and rules problems, printed first).
 */
export async function replayThroughAgent(
  file: string,
  o: {
    config?: string;
    overrides: string[];
    rules?: string[];
    disable: string[];
    disableTags: string[];
    tags: string[];
    /** The file holds Kubernetes audit events. */
    audit: boolean;
  },
): Promise<number> {
  if (o.tags.length > 0 && (o.disable.length > 0 || o.disableTags.length > 0)) {
    console.error(
      "saker replay: -t runs only the tagged rules; it cannot be combined with -D or -T",
    );
    return 1;
  }
  // The alert store stays off unless asked for (-o alert_store.enabled=true).
  const overrides = [
    "alert_store.enabled=false",
    ...o.overrides,
    "webserver.enabled=false",
    "watch_config_files=false",
    ...o.disableTags.map((t) => `rules[]={disable: {tag: ${JSON.stringify(t)}}}`),
    ...(o.tags.length > 0 ? [`rules[]={disable: {rule: "*"}}`] : []),
    ...o.tags.map((t) => `rules[]={enable: {tag: ${JSON.stringify(t)}}}`),
  ];
  let loaded;
  try {
    loaded = await loadConfig({ file: o.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`saker replay: config: ${p}`);
      return 1;
    }
    throw err;
  }
  for (const w of loaded.warnings) console.error(`saker replay: config: ${w}`);
  if (o.disable.length > 0) {
    // -D is a regex over rule names: expand it to the names of the rules it disables.
    const rules = await loadRulesFiles(o.rules ?? loaded.config.rules_files);
    const names = disabledRuleNames(rules.rules.map((r) => r.name), o.disable);
    loaded.config.rules.push(...names.map((rule) => ({ disable: { rule } })));
  }
  const state = new StateStore();
  let scap: Awaited<ReturnType<typeof openScapSource>> | undefined;
  let agent;
  try {
    agent = await Agent.start(loaded.config, {
      openSource: async () => {
        if (o.audit) {
          const src = await openAuditFileSource(file, {
            onError: (e) => console.error(`saker replay: ${e.where}: ${e.message}`),
          });
          return {
            source: src.source,
            readable: src.readable,
            close: () => src.close(),
            stats: () => ({ received: src.stats().received }),
          };
        }
        const src = scap = await openScapSource(file, { state });
        return {
          source: src.source,
          readable: src.readable,
          close: () => src.close(),
          stats: () => ({ received: src.stats().events }),
        };
      },
      buildRules: buildEngineRules,
      makeState: () => (o.audit ? undefined : { state }),
      // Capture files written while replaying carry the replayed file's users.
      captureUsers: () => ({
        users: scap?.metadata.users ?? [],
        groups: scap?.metadata.groups ?? [],
      }),
      rulesFiles: o.rules,
      registry: new Registry(),
    });
  } catch (err) {
    if (err instanceof RulesError) {
      for (const p of err.problems) console.error(`saker replay: rules: ${p}`);
      return 1;
    }
    console.error(`saker replay: ${(err as Error).message}`);
    return 1;
  }
  const code = await agent.done;
  const failure = agent.pipeline.health().reason;
  if (failure?.startsWith("pipeline failed")) {
    console.error(`saker replay: ${failure.replace(/^pipeline failed: /, "")}`);
    return 1;
  }
  return code;
}
