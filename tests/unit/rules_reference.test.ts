/**
 * Falco's own rulesets load: the stable rules without any error or warning; incubating and sandbox
 * with every rule that cannot load reported by name and reason; k8s_audit with none skipped.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";

const dir = () => `${REFERENCE_DIR}/falco-rules`;

Deno.test({
  name: "falco_rules.yaml loads with zero errors and warnings",
  ignore: needsReference(),
  fn: async () => {
    const loaded = await loadRulesFiles([`${dir()}/falco_rules.yaml`]);
    assertEquals(loaded.results[0].errors.map((e) => e.message), []);
    assertEquals(loaded.results[0].warnings.map((e) => e.message), []);
    assertEquals(loaded.rules.length, 25);
    const rs = compileRuleset(loaded);
    assert(rs.syscalls().has("execve") && rs.syscalls().has("openat"));
  },
});

for (const name of ["falco-incubating_rules", "falco-sandbox_rules", "k8s_audit_rules"]) {
  Deno.test({
    name: `${name}.yaml loads after the stable rules; every skipped rule is named`,
    ignore: needsReference(),
    fn: async () => {
      const loaded = await loadRulesFiles([`${dir()}/falco_rules.yaml`, `${dir()}/${name}.yaml`]);
      const res = loaded.results[1];
      for (const e of res.errors) assert(e.context.find("rule") || e.context.find("macro"));
      const skipped = res.warnings.filter((w) => w.code === "LOAD_UNKNOWN_SOURCE");
      for (const w of skipped) assert(w.context.find("rule")?.itemName, w.message);
      assertEquals(res.errors.map((e) => `${e.context.find("rule")?.itemName}: ${e.message}`), []);
      if (name === "k8s_audit_rules") {
        // The Kubernetes audit source is native: every rule loads, none is skipped.
        assertEquals(res.warnings.map((w) => `${w.code}: ${w.message}`), []);
        const rs = compileRuleset(loaded, { source: "k8s_audit" });
        assert(rs.rules.length >= 40, `only ${rs.rules.length} k8s_audit rules`);
      } else assert(loaded.rules.length > 25);
    },
  });
}
