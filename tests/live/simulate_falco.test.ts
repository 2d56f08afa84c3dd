/**
 * The simulator against Falco's stable rules (../shared/reference/falco-rules/falco_rules.yaml)
 * loaded into the live agent: each action aimed at a stable rule must raise that rule, by name,
 * with the output fields Falco's own end-to-end expectations (falco-evtgen-suite) list for it.
 * This shows Saker runs existing Falco rules unchanged and that the simulator exercises them.
 */
import { assert } from "../support/assert.ts";
import { needsReference, needsRoot, REFERENCE_DIR, skipNote } from "../support/env.ts";
import { ACTIONS } from "../../src/simulate/catalog.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import { unmetNeed } from "../../src/simulate/runner.ts";
import {
  AgentRun,
  causedBy,
  ensurePodmanService,
  sameValue,
  simulateInSession,
} from "./simulate_agent.ts";

/** How long after an action ends its alert may take (a margin for a loaded 2-core machine). */
const ALERT_WITHIN_MS = 5000;
const AIMED = ACTIONS.filter((a) => a.falcoRule);

Deno.test({
  name: "simulate + Falco stable rules: each aimed action raises the Falco rule with its fields",
  ignore: needsRoot() || needsReference(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await buildHelper();
    const stopPodman = await ensurePodmanService();
    const agent = await AgentRun.start([`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`]);
    const summary: string[] = [];
    let failures = 0;
    try {
      for (const action of AIMED) {
        const why = await unmetNeed(action);
        if (why) summary.push(`${action.name.padEnd(30)} skipped (${why})`);
        const ok = await t.step({
          name: `${action.name} -> ${action.falcoRule}`,
          ignore: why !== undefined && skipNote(`${action.name}: ${why}`),
          fn: async () => {
            const run = await simulateInSession([action.name]);
            const r = run.reports[0];
            assert(r && r.status === "ok", `${action.name}: ${r?.status} ${r?.reason ?? ""}`);
            const containers = r.containerId ? [r.containerId] : [];
            const expect = action.falcoExpect ?? [];
            await agent.sync(); // every event of the action has been evaluated
            const hit = await agent.waitFor(
              (a) =>
                a.rule === action.falcoRule && causedBy(a, run, containers) &&
                expect.every((k) => sameValue(a.fields[k], r.facts[k])),
              r.endMs + ALERT_WITHIN_MS,
            );
            summary.push(
              `${action.falcoRule!.padEnd(58)} ${hit ? "fired" : "MISSING"} (${action.name})`,
            );
            if (!hit) {
              const near = agent.alerts.filter((a) =>
                a.rule === action.falcoRule && causedBy(a, run, containers)
              );
              throw new Error(
                near.length
                  ? `fields differ: ${JSON.stringify(near[0].fields)} vs ${JSON.stringify(r.facts)}`
                  : `no '${action.falcoRule}' alert (run raised: ${
                    JSON.stringify(
                      agent.alerts.filter((a) => causedBy(a, run, containers)).map((a) => a.rule),
                    )
                  })`,
              );
            }
          },
        });
        if (!ok) failures++;
      }
    } finally {
      await agent.stop();
      await stopPodman();
      console.log(
        `\nsimulate + Falco stable rules (${AIMED.length} actions):\n${summary.join("\n")}`,
      );
    }
    assert(failures === 0, `${failures} actions failed`);
  },
});
