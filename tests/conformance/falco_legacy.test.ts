/**
 * Falco's legacy regression suite through the shared runner: every case that only validates
 * rules files must pass; capture, Kubernetes audit and command-line cases run through
 * `saker replay`. The README's counts (pass, fail, unsupported) must be this run's.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { loadLegacyCases, runLegacySuite } from "./falco_legacy.ts";
import { replayScap } from "./scap_replayer.ts";
import { replayK8sAudit } from "./k8saudit_replayer.ts";
import type { ReplayRequest } from "./falco_legacy.ts";
import { CLI_KEYS, runCliCase } from "./falco_legacy_cli.ts";

Deno.test({
  name: "falco legacy suite: validation cases pass",
  ignore: needsReference(),
  fn: async () => {
    const cases = await loadLegacyCases(`${REFERENCE_DIR}/falco-legacy-tests`);
    const validation = cases.filter((c) => c.spec.validate_rules_file);
    assert(validation.length >= 43, `found ${validation.length} validation cases`);
    const res = await runLegacySuite(validation);
    const failed = [...res.outcomes].filter(([, o]) => o.status === "fail")
      .map(([n, o]) => `${n}: ${o.reasons.join("; ")}`);
    assertEquals(failed, []);
    assertEquals(res.pass, validation.length);
  },
});

Deno.test({
  name: "falco legacy suite: capture cases replayed through state and rules",
  ignore: needsReference(),
  fn: async () => {
    const cases = await loadLegacyCases(`${REFERENCE_DIR}/falco-legacy-tests`);
    // Cases that check printed output, config files or exit status also run `saker replay`.
    const replay = (req: ReplayRequest) =>
      req.source === "k8s_audit" ? replayK8sAudit(req) : replayScap(req);
    const all = await runLegacySuite(cases, replay, { keys: CLI_KEYS, run: runCliCase });
    const failed = [...all.outcomes].filter(([, o]) => o.status === "fail").map(([n]) => n);
    console.log(
      `falco legacy suite: ${all.pass} passed, ${all.fail} failed, ${all.unsupported} unsupported` +
        (failed.length ? `\n  failing: ${failed.join(", ")}` : ""),
    );
    // Every case the suite can express passes; the unsupported ones are other plugins, PSP
    // conversions whose inputs are not in the reference, packages, gRPC, and one trace file the
    // reference lacks. Every Kubernetes audit case runs and passes.
    assertEquals(failed, []);
    assert(all.pass >= 200, `only ${all.pass} cases pass`);
    const k8s = [...all.outcomes].filter(([n]) => n.startsWith("falco_k8s_audit_tests/"));
    assert(k8s.length >= 66, `found ${k8s.length} Kubernetes audit cases`);
    assertEquals(k8s.filter(([, o]) => o.status !== "pass").map(([n]) => n), []);
    // Every place the README gives the suite's result gives this one.
    const readme = await Deno.readTextFile(`${REPO_ROOT}README.md`);
    const claims = [...readme.matchAll(/(\d+)\s+pass,\s+(\d+)\s+fail,\s+(\d+)\s+unsupported/g)]
      .map((m) => m.slice(1).map(Number));
    assert(claims.length >= 2, "the README states the legacy suite's result");
    for (const c of claims) assertEquals(c, [all.pass, all.fail, all.unsupported]);
  },
});
