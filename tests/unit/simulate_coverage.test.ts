/**
 * Every rule of Falco's incubating and sandbox rulesets (../shared/reference/falco-rules) is
 * either targeted by a simulator action or listed, with its reason, as not triggerable here;
 * never both; and every targeted rule exists in its ruleset.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { ACTIONS } from "../../src/simulate/catalog.ts";
import { NOT_SIMULATED, targetsByRule } from "../../src/simulate/coverage.ts";
import type { FalcoRuleset } from "../../src/simulate/action.ts";

const FILES: Record<FalcoRuleset, string> = {
  incubating: "falco-incubating_rules.yaml",
  sandbox: "falco-sandbox_rules.yaml",
};

for (const ruleset of ["incubating", "sandbox"] as const) {
  Deno.test({
    name: `simulate coverage: every ${ruleset} rule is targeted or said impossible here`,
    ignore: needsReference(),
    async fn() {
      const loaded = await loadRulesFiles([`${REFERENCE_DIR}/falco-rules/${FILES[ruleset]}`]);
      const rules = new Set(loaded.rules.map((r) => r.name));
      assert(rules.size > 20, `${FILES[ruleset]}: only ${rules.size} rules loaded`);
      const targeted = targetsByRule(ACTIONS, ruleset);
      const impossible = new Set(
        NOT_SIMULATED.filter((n) => n.ruleset === ruleset).map((n) => n.rule),
      );
      assertEquals([...targeted.keys()].filter((r) => !rules.has(r)), [], "unknown targets");
      assertEquals([...impossible].filter((r) => !rules.has(r)), [], "unknown listed rules");
      assertEquals([...impossible].filter((r) => targeted.has(r)), [], "targeted and listed");
      assertEquals(
        [...rules].filter((r) => !targeted.has(r) && !impossible.has(r)),
        [],
        "rules neither targeted nor listed",
      );
    },
  });
}

Deno.test("simulate coverage: action names are unique and targets name their facts", () => {
  const names = ACTIONS.map((a) => a.name);
  assertEquals(names.filter((n, i) => names.indexOf(n) !== i), []);
  for (const a of ACTIONS) {
    assert(a.rule || a.falcoRule || a.falcoTargets?.length, `${a.name} targets no rule`);
    for (const t of a.falcoTargets ?? []) {
      assert(t.expect.length > 0, `${a.name}: no output fields checked for ${t.rule}`);
    }
  }
});
