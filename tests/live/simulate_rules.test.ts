/**
 * The default rules against the simulator, live: the real agent (`saker run` with rules/) runs
 * while each `saker simulate` action runs in a session of its own. For every action, the rule it
 * targets must raise an alert with the action's facts in its output fields within
 * ALERT_WITHIN_MS of the action's end, and no other rule at Warning or above may fire because of
 * anything the action did (but the rules a chain's steps raise on their own, listed as the
 * action's `alongside`): the check runs once the agent has evaluated every event up to the end
 * of the action (its marker alert came, see simulate_agent.ts), so it covers the whole action.
 * An action this machine cannot run (no podman, not root ...) is a skipped step with its reason.
 */
import { assert } from "../support/assert.ts";
import { needsRoot, REPO_ROOT, skipNote } from "../support/env.ts";
import { ACTIONS } from "../../src/simulate/catalog.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import { unmetNeed } from "../../src/simulate/runner.ts";
import {
  AgentRun,
  causedBy,
  ensurePodmanService,
  sameValue,
  simulateInSession,
  warningOrAbove,
} from "./simulate_agent.ts";

/** Actions aimed at one of Saker's own rules. */
const AIMED = ACTIONS.filter((a) => a.rule !== undefined);

/**
 * How long after an action ends its alert may take. The agent's own latency is a few ms to
 * ~100 ms (the agent benchmark measures it); the margin is for a loaded 2-core machine.
 */
const ALERT_WITHIN_MS = 5000;

Deno.test({
  name: "simulate + default rules: each action raises its rule, and only it",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await buildHelper();
    const stopPodman = await ensurePodmanService();
    const agent = await AgentRun.start([`${REPO_ROOT}rules`]);
    const summary: string[] = [];
    const latencies: number[] = [];
    let failures = 0;
    try {
      for (const action of AIMED) {
        const why = await unmetNeed(action);
        if (why) summary.push(`${action.name.padEnd(30)} skipped (${why})`);
        const ok = await t.step({
          name: action.name,
          ignore: why !== undefined && skipNote(`${action.name}: ${why}`),
          fn: async () => {
            const run = await simulateInSession([action.name]);
            const r = run.reports[0];
            assert(r && r.status === "ok", `${action.name}: ${r?.status} ${r?.reason ?? ""}`);
            const containers = r.containerId ? [r.containerId] : [];
            const mine = (a: Parameters<typeof causedBy>[0]) => causedBy(a, run, containers);
            const wanted = (a: Parameters<typeof causedBy>[0]) =>
              a.rule === action.rule && mine(a) &&
              action.expect.every((k) => sameValue(a.fields[k], r.facts[k]));
            // Every event of the action has been evaluated once the marker alert is back.
            await agent.sync();
            const hit = agent.alerts.find(wanted) ??
              await agent.waitFor(wanted, r.endMs + ALERT_WITHIN_MS);
            const expected = new Set([action.rule, ...(action.alongside ?? [])]);
            const others = agent.alerts.filter((a) =>
              mine(a) && !expected.has(a.rule) && warningOrAbove(a.priority)
            );
            const latency = hit ? Math.max(0, hit.receivedMs - r.endMs) : NaN;
            if (hit) latencies.push(latency);
            summary.push(
              `${action.name.padEnd(30)} ${hit ? `fired ${latency} ms` : "MISSING"}${
                others.length
                  ? ` others: ${[...new Set(others.map((o) => o.rule))].join(", ")}`
                  : ""
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
              `${action.name}: other Warning+ rules fired: ${
                others.map((o) => o.output).join("\n")
              }`,
            );
          },
        });
        if (!ok) failures++;
      }
    } finally {
      await agent.stop();
      await stopPodman();
      latencies.sort((a, b) => a - b);
      console.log(
        `\nsimulate + default rules (${AIMED.length} actions; alert after the action's end: ` +
          `median ${latencies[latencies.length >> 1] ?? "-"} ms, max ${
            latencies.at(-1) ?? "-"
          } ms):\n` +
          summary.join("\n"),
      );
    }
    assert(failures === 0, `${failures} actions failed`);
  },
});
