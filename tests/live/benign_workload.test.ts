/**
 * A normal host stays quiet: the benign workload (benign_support.ts) runs under the live agent
 * with the default rules. Every alert it causes is reported; the target, asserted here, is none
 * at Warning or above, and none at all from the container lifecycle (start, exec, stop,
 * restart, remove, networks set up by the CNI plugins): the runtimes and their plugins doing
 * their job are not findings. The container part counts every alert of the machine while it
 * runs (the runtime's helpers leave the workload's process group). The workload's canaries and
 * the marker after it make the checks cover the whole run (benign_support.ts).
 */
import { assertEquals } from "../support/assert.ts";
import { needsRoot, REPO_ROOT } from "../support/env.ts";
import { AgentRun, ensurePodmanService, warningOrAbove } from "./simulate_agent.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import { buildImage } from "../../src/simulate/podman.ts";
import { alertLines, runBenign } from "./benign_support.ts";

Deno.test({
  name: "benign workload under the agent: alerts reported, none at Warning or above",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const image = await buildImage(await buildHelper());
    const stopPodman = await ensurePodmanService();
    const agent = await AgentRun.start([`${REPO_ROOT}rules`]);
    try {
      const run = await runBenign(agent, image);
      console.log(
        `\nbenign workload (python suite: ${run.suite}; ${run.seconds.toFixed(1)} s): ` +
          `${run.alerts.length} alerts\n${alertLines(run.alerts)}`,
      );
      const loud = run.alerts.filter((a) => warningOrAbove(a.priority));
      assertEquals(loud.map((a) => `${a.rule}: ${a.output}`), [], "alerts at Warning or above");
      assertEquals(
        run.lifecycle.map((a) => `${a.priority} ${a.rule}: ${a.output.slice(0, 300)}`),
        [],
        "alerts during the container lifecycle",
      );
    } finally {
      await agent.stop();
      await stopPodman();
    }
  },
});
