/**
 * Real kernel drops: `saker run` with the smallest ring buffer (one page) and a drop threshold,
 * while a burst of short processes (each exec record carries its arguments and environment)
 * overflows it. The probe's per-CPU drop counters show in /metrics, Falco's internal drop alert
 * carries the counts, and the log says it; with the `exit` action the agent stops with status 1.
 * (Simulated drops, `simulate_drops`, are in agent_run.test.ts and agent_ops.test.ts.)
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { api, SakerProcess } from "../support/saker.ts";

const ignore = needsRoot();
const DROP_RULE = "Falco internal: syscall event drop";

const RULES = `- rule: never
  desc: a rule that keeps execve in the kernel's syscall set
  condition: evt.type = execve and proc.name = no-such-process-name
  output: never %proc.name
  priority: WARNING
`;

async function start(dir: string, actions: string): Promise<{ agent: SakerProcess; base: string }> {
  await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
alert_store: {enabled: false}
webserver: {listen_port: 0}
watch_config_files: false
kernel: {ring_buffer_size: 4096, poll_interval: 50ms}
syscall_event_drops: {threshold: 0.01, actions: [${actions}], rate: 10, max_burst: 10}
`,
  );
  const agent = SakerProcess.start(["run", "-c", `${dir}/config.yaml`]);
  return { agent, base: await agent.running() };
}

/** Runs bursts of short processes until `done` holds (or 30 s pass). */
async function burstUntil(done: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!done() && Date.now() < end) {
    await new Deno.Command("sh", {
      args: ["-c", "for i in $(seq 1 100); do /bin/true $i; done"],
    }).output();
  }
}

/** Per-CPU drop counters from /metrics. */
function perCpuDrops(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^saker_kernel_drops_total\{cpu="(\d+)"\} (\d+)$/gm)) {
    out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

Deno.test({
  name: "saker run: real kernel drops with a one-page ring: per-CPU counters, drop alert, log",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-drops-" });
    const { agent, base } = await start(dir, "log, alert");
    try {
      const alerts = () => agent.jsonLines().filter((a) => a.rule === DROP_RULE);
      await burstUntil(() => alerts().length > 0);
      const [a] = await agent.waitFor("a drop alert", () => alerts().length > 0 && alerts());
      assertEquals([a.priority, a.source], ["Debug", "internal"]);
      const f = a.output_fields as Record<string, string>;
      const drops = Number(f.n_drops);
      assert(drops > 0 && Number(f.n_evts) > 0, JSON.stringify(f));
      assert(drops / Number(f.n_evts) > 0.01, "over the threshold");
      // Falco's internal alerts carry no time prefix in their output.
      assertEquals(a.output, `${DROP_RULE}. ${drops} system calls dropped in last second.`);
      assertStringIncludes(agent.stderr(), `${DROP_RULE}.`);
      // The kernel's counters, per CPU: at least the drops the alert reported.
      const m = perCpuDrops((await api(base, "/metrics")).text);
      assert(m.size >= 1, "per-CPU drop counters");
      const total = [...m.values()].reduce((x, y) => x + y, 0);
      assert(total >= drops, `per-CPU drops ${[...m.entries()]} < alert's ${drops}`);
      assertEquals((await agent.stop()).code, 0);
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker run: the exit drop action stops the agent with status 1",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-drops-" });
    const { agent } = await start(dir, "exit");
    let exited = false;
    agent.exited.then(() => exited = true);
    try {
      await burstUntil(() => exited);
      const status = await agent.exited;
      assertEquals(status.code, 1, agent.stderr().slice(-2000));
      assertStringIncludes(agent.stderr(), "kernel event drops above the threshold");
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
