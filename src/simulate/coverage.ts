/**
 * Which of Falco's incubating and sandbox rules the simulator triggers, and why the others
 * cannot be triggered on a machine like this one. `saker simulate --list` prints both; a unit
 * test checks the two lists together name every rule of the rulesets, and the live tests prove
 * each targeted rule fires.
 *
 * @example
 * ```ts
 * import { ACTIONS } from "./catalog.ts";
 * import { targetsByRule } from "./coverage.ts";
 * targetsByRule(ACTIONS, "sandbox").get("Write below etc"); // ["write-below-etc"]
 * ```
 * @module
 */

import type { Action, FalcoRuleset } from "./action.ts";

/** A rule no action triggers, and why. */
export interface NotSimulated {
  ruleset: FalcoRuleset;
  rule: string;
  reason: string;
}

/** Rules of the incubating and sandbox rulesets that cannot be triggered here. */
export const NOT_SIMULATED: readonly NotSimulated[] = [
  {
    ruleset: "incubating",
    rule: "Network Connection outside Local Subnet",
    reason: "a template: it fires only for the Kubernetes namespaces listed in " +
      "namespace_scope_network_only_subnet, which the ruleset leaves empty (and there is no " +
      "Kubernetes here to put a container in a namespace)",
  },
  {
    ruleset: "sandbox",
    rule: "Launch Disallowed Container",
    reason: "a template: its allow-list macro (allowed_containers: container.id exists) " +
      "matches every container until it is tailored, so the rule cannot fire unchanged",
  },
  {
    ruleset: "sandbox",
    rule: "Detect outbound connections to common miner pool ports",
    reason: "matches on the server's domain name (fd.sip.name in the miner pool domains), " +
      "which needs DNS answers for the pools' names; nothing here may query DNS, and Saker " +
      "does not track DNS answers",
  },
];

/** Actions by the rule they target in `ruleset`. */
export function targetsByRule(
  actions: readonly Action[],
  ruleset: FalcoRuleset,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of actions) {
    for (const t of a.falcoTargets ?? []) {
      if (t.ruleset !== ruleset) continue;
      const list = out.get(t.rule) ?? [];
      list.push(a.name);
      out.set(t.rule, list);
    }
  }
  return out;
}
