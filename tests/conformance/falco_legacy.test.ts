/**
 * Falco's legacy regression suite through the shared runner: every case that only validates
 * rules files must pass; capture cases are counted as unsupported until a replayer is plugged in.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadLegacyCases, runLegacySuite } from "./falco_legacy.ts";
import { replayScap } from "./scap_replayer.ts";
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
    const all = await runLegacySuite(cases, replayScap, { keys: CLI_KEYS, run: runCliCase });
    const failed = [...all.outcomes].filter(([, o]) => o.status === "fail").map(([n]) => n);
    console.log(
      `falco legacy suite: ${all.pass} passed, ${all.fail} failed, ${all.unsupported} unsupported` +
        (failed.length ? `\n  failing: ${failed.join(", ")}` : ""),
    );
    // Every case the suite can express passes; the unsupported ones are other sources (k8s
    // audit, plugins), PSP conversions whose inputs are not in the reference, packages, gRPC,
    // and one trace file the reference lacks.
    assertEquals(failed, []);
    assert(all.pass >= 134, `only ${all.pass} cases pass`);
  },
});
