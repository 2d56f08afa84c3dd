/**
 * The default rules against the simulator, live: the real agent (`saker run` with rules/) runs
 * while each `saker simulate` action runs in a session of its own. For every action, the rule it
 * targets must raise an alert with the action's facts in its output fields within 2 seconds of
 * the action's end, and no other rule at Warning or above may fire because of it.
 */
import { assert } from "../support/assert.ts";
import { needsRoot, REPO_ROOT } from "../support/env.ts";
import { ACTIONS } from "../../src/simulate/catalog.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import {
  AgentRun,
  causedBy,
  ensurePodmanService,
  sameValue,
  simulateInSession,
  warningOrAbove,
} from "./simulate_agent.ts";

/** How long after an action ends its alert may take. */
const ALERT_WITHIN_MS = 2000;

Deno.test({
  name: "simulate + default rules: each action raises its rule, and only it, within 2 s",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await buildHelper();
    const stopPodman = await ensurePodmanService();
    const agent = await AgentRun.start([`${REPO_ROOT}rules`]);
    const summary: string[] = [];
    let failures = 0;
    try {
      for (const action of ACTIONS) {
        const ok = await t.step(action.name, async () => {
          const run = await simulateInSession([action.name]);
          const r = run.reports[0];
          if (r?.status === "skipped") {
            console.warn(`SKIP: ${action.name}: ${r.reason}`);
            summary.push(`${action.name.padEnd(30)} skipped (${r.reason})`);
            return;
          }
          assert(r && r.status === "ok", `${action.name}: ${r?.status} ${r?.reason ?? ""}`);
          const containers = r.containerId ? [r.containerId] : [];
          const mine = (a: Parameters<typeof causedBy>[0]) => causedBy(a, run, containers);
          const deadline = r.endMs + ALERT_WITHIN_MS;
          const hit = await agent.waitFor(
            (a) =>
              a.rule === action.rule && mine(a) &&
              action.expect.every((k) => sameValue(a.fields[k], r.facts[k])),
            deadline,
          );
          // Let any other alert of the same events arrive before judging the rest.
          await new Promise((res) => setTimeout(res, 500));
          const others = agent.alerts.filter((a) =>
            mine(a) && a.rule !== action.rule && warningOrAbove(a.priority) &&
            a.receivedMs >= r.startMs
          );
          const latency = hit ? hit.receivedMs - r.endMs : NaN;
          summary.push(
            `${action.name.padEnd(30)} ${hit ? "fired" : "MISSING"} ${
              hit ? `${Math.max(0, latency)} ms` : ""
            }${
              others.length ? ` others: ${[...new Set(others.map((o) => o.rule))].join(", ")}` : ""
            }`,
          );
          if (!hit) {
            const near = agent.alerts.filter((a) => a.rule === action.rule && mine(a));
            const detail = near.length
              ? `alert present but fields differ: ${JSON.stringify(near[0].fields)} vs facts ${
                JSON.stringify(r.facts)
              }`
              : `no '${action.rule}' alert from this run (alerts of the run: ${
                JSON.stringify(agent.alerts.filter(mine).map((a) => a.rule))
              })`;
            throw new Error(`${action.name}: ${detail}`);
          }
          assert(
            others.length === 0,
            `${action.name}: other Warning+ rules fired: ${others.map((o) => o.output).join("\n")}`,
          );
        });
        if (!ok) failures++;
      }
    } finally {
      await agent.stop();
      await stopPodman();
      console.log(`\nsimulate + default rules (${ACTIONS.length} actions):\n${summary.join("\n")}`);
    }
    assert(failures === 0, `${failures} actions failed`);
  },
});
