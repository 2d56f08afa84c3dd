/**
 * Falco's sandbox ruleset (../shared/reference/falco-rules) proven live with the simulator, loaded
 * unchanged with the stable rules (see simulate_falco_ruleset.ts): each targeted rule fires
 * within 2 s with the output fields the action controls, no other rule at Warning or above,
 * and the benign workload's alerts are counted.
 */
import { assert } from "../support/assert.ts";
import { needsReference, needsRoot } from "../support/env.ts";
import { proveRuleset } from "./simulate_falco_ruleset.ts";

Deno.test({
  name: "simulate + Falco stable and sandbox rules: each targeted rule fires, and only it",
  ignore: needsRoot() || needsReference(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const proof = await proveRuleset("sandbox");
    console.log(`\n${proof.lines.join("\n")}`);
    assert(proof.failures.length === 0, proof.failures.join("\n"));
  },
});
