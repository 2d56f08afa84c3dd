/**
 * A {@link Replayer} for the Kubernetes audit cases of Falco's legacy suite
 * (falco_k8s_audit_tests.yaml): the audit file the case names (Falco's
 * `-o plugins[0].open_params=FILE`) goes through the real file source and pipeline with the
 * rules of source k8s_audit, as `falco --enable-source=k8s_audit` runs it. Falco's -D, -T and -t
 * become rule selectors, as for captures. The suite predates a renaming of the audit rules' image
 * lists; {@link LIST_RENAMES} says how its files are read.
 * @module
 */
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset, type RuleSelector } from "../../src/rules/ruleset.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { replayAuditFile } from "../../src/pipeline/replay_sources.ts";
import { K8S_AUDIT_SOURCE } from "../../src/k8saudit/audit_event.ts";
import type { ReplayOutcome, ReplayRequest } from "./falco_legacy.ts";

/**
 * Lists the Kubernetes audit rules renamed after the suite was written: its own rules files
 * still trust images through the old names (in Falco's rules of the time the audit rules used
 * these lists), so they are read with the current names.
 */
export const LIST_RENAMES: Record<string, string> = {
  falco_sensitive_mount_images: "k8s_audit_sensitive_mount_images",
  falco_privileged_images: "k8s_audit_privileged_images",
  falco_hostnetwork_images: "k8s_audit_hostnetwork_images",
};

/** Reads the rules files, the suite's own ones with the renamed lists. */
async function loadRules(files: string[]) {
  const texts: { name: string; text: string }[] = [];
  for (const name of files) {
    let text = await Deno.readTextFile(name);
    if (name.includes("/falco-legacy-tests/")) {
      for (const [from, to] of Object.entries(LIST_RENAMES)) {
        text = text.replaceAll(new RegExp(`\\b${from}\\b`, "g"), to);
      }
    }
    texts.push({ name, text });
  }
  return loadRulesText(texts);
}

/** Replays an audit file through the k8s_audit rules of `req`. */
export async function replayK8sAudit(req: ReplayRequest): Promise<ReplayOutcome> {
  const loaded = await loadRules(req.rulesFiles);
  if (loaded.results.some((r) => !r.successful)) return { alerts: [], exitStatus: 1 };
  const select: RuleSelector[] = [];
  for (const d of req.disabledRules) {
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
    source: K8S_AUDIT_SOURCE,
  });
  const alerts: Alert[] = [];
  await replayAuditFile(req.traceFile, {
    evaluator: ruleset,
    onAlerts: (a) => alerts.push(...a),
    onError: () => {}, // counted in the result; the CLI run checks what is printed
  });
  return { alerts, exitStatus: 0 };
}
