/**
 * Falco's legacy regression suite through the shared runner: every case that only validates
 * rules files must pass; capture cases are counted as unsupported until a replayer is plugged in.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadLegacyCases, runLegacySuite } from "./falco_legacy.ts";
import { replayScap } from "./scap_replayer.ts";

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
    const all = await runLegacySuite(cases, replayScap);
    const failed = [...all.outcomes].filter(([, o]) => o.status === "fail").map(([n]) => n);
    console.log(
      `falco legacy suite: ${all.pass} passed, ${all.fail} failed, ${all.unsupported} unsupported` +
        (failed.length ? `\n  failing: ${failed.join(", ")}` : ""),
    );
    // Known gap when this was written: the parent of processes in old captures
    // (rule_exception_third_item and its append variant need proc.pname).
    assert(all.pass >= 112, `only ${all.pass} cases pass`);
  },
});
