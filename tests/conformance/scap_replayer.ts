/**
 * A {@link Replayer} for the legacy suite built from the real parts: the capture-file source
 * seeds a StateStore from the file's lists, every event goes through `state.update` then the
 * compiled ruleset, and the alerts are collected. Falco's -D (rule name regex), -T and -t become
 * rule selectors.
 * @module
 */
import { replayCapture } from "../../src/pipeline/replay.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset, type RuleSelector } from "../../src/rules/ruleset.ts";
import type { Alert } from "../../src/rules/alert.ts";
import type { ReplayOutcome, ReplayRequest } from "./falco_legacy.ts";

/** Replays a capture through rules as `falco -e FILE -r RULES...` would. */
export async function replayScap(req: ReplayRequest): Promise<ReplayOutcome> {
  const loaded = await loadRulesFiles(req.rulesFiles);
  if (loaded.results.some((r) => !r.successful)) return { alerts: [], exitStatus: 1 };
  if (req.runTags.length > 0 && (req.disableTags.length > 0 || req.disabledRules.length > 0)) {
    return { alerts: [], exitStatus: 1 };
  }
  const select: RuleSelector[] = [];
  for (const d of req.disabledRules) {
    // -D takes a regex matched anywhere in the name.
    const re = new RegExp(d);
    for (const r of loaded.rules) {
      if (re.test(r.name)) select.push({ action: "disable", rule: r.name });
    }
  }
  for (const t of req.disableTags) select.push({ action: "disable", tag: t });
  if (req.runTags.length > 0) {
    select.push({ action: "disable", rule: "*" });
    for (const t of req.runTags) select.push({ action: "enable", tag: t });
  }
  const ruleset = compileRuleset(loaded, {
    minPriority: req.priority,
    ruleMatching: "first",
    select,
  });
  // Through the same pipeline as `saker replay` (state seeded from the file, then rules).
  const alerts: Alert[] = [];
  const res = await replayCapture(req.traceFile, {
    evaluator: ruleset,
    onAlerts: (a) => alerts.push(...a),
  });
  if (res.error) return { alerts, exitStatus: 1 };
  return { alerts, exitStatus: 0 };
}

if (import.meta.main) {
  const { loadLegacyCases, runLegacySuite } = await import("./falco_legacy.ts");
  const { requireReferenceDir } = await import("../../scripts/reference.ts");
  const dir = Deno.args[0] ?? `${requireReferenceDir("the legacy suite")}/falco-legacy-tests`;
  const res = await runLegacySuite(await loadLegacyCases(dir), replayScap);
  for (const [name, o] of res.outcomes) {
    if (o.status === "unsupported") continue;
    console.log(`${o.status.padEnd(5)} ${name}`);
    if (o.status === "fail") { for (const r of o.reasons) console.log(`    ${r}`); }
  }
  console.log(`${res.pass} passed, ${res.fail} failed, ${res.unsupported} unsupported`);
}
