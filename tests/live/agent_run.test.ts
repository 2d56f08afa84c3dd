/**
 * `saker run` end to end: the real process with the real probe, rules engine and state, alerts
 * triggered by this test's own file opens. SIGTERM flushes a backlog of webhook alerts, SIGHUP
 * with a broken rules file keeps the old rules alerting, simulated drops raise the drop alert.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { type SakerProcess, startSaker, waitFor } from "../support/agent_process.ts";

const RULE = "saker e2e trigger";

function rulesText(dir: string, tag: string): string {
  return `
- rule: ${RULE}
  desc: opens of the end-to-end trigger file
  condition: evt.type in (open, openat, openat2) and fd.name = ${dir}/trigger
  output: "${tag} trigger opened by %proc.name (pid=%proc.pid file=%fd.name)"
  priority: WARNING
  tags: [e2e]
`;
}

/** `saker run` with the trigger rule, alerts on stdout, and `extraConfig`. */
function startRun(dir: string, extraConfig: string, args: string[] = []): Promise<SakerProcess> {
  return startSaker(
    dir,
    `rules_files: [${dir}/rules.yaml]\nstdout_output: {enabled: true}\n${extraConfig}`,
    args,
  );
}

async function metric(api: string, line: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? undefined : Number(m.split(" ").at(-1));
}

async function trigger(dir: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Deno.readTextFile(`${dir}/trigger`);
}

Deno.test({
  name: "saker run: SIGTERM flushes the webhook alerts still queued, exit 0",
  ignore: needsRoot(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-e2e-" });
    await Deno.writeTextFile(`${dir}/trigger`, "x");
    await Deno.writeTextFile(`${dir}/rules.yaml`, rulesText(dir, "t"));
    // A slow receiver: each alert takes 100 ms, so 20 alerts make a 2 s backlog.
    const got: string[] = [];
    const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const body = await req.text();
      await new Promise((r) => setTimeout(r, 100));
      got.push(body);
      return new Response("ok");
    });
    const url = `http://127.0.0.1:${receiver.addr.port}/`;
    const run = await startRun(
      dir,
      `json_output: true\nhttp_output: {enabled: true, url: "${url}"}\n`,
    );
    try {
      await waitFor("health", async () => (await fetch(`${run.api}/healthz`)).ok);
      await trigger(dir, 20);
      const alerts = new RegExp(`^saker_alerts_total\\{rule="${RULE}",priority="Warning"`);
      await waitFor("20 alerts evaluated", async () => (await metric(run.api, alerts)) === 20);
      const depth = await metric(run.api, /^saker_output_queue_depth\{output="http"\}/);
      assert(depth !== undefined && depth > 0, `webhook backlog at SIGTERM: ${depth}`);
      run.child.kill("SIGTERM");
      const status = await run.exited;
      assertEquals(status.code, 0, run.stderr());
      assertEquals(got.length, 20, run.stderr());
      const parsed = got.map((b) => JSON.parse(b));
      assert(
        parsed.every((p) => p.rule === RULE && p.output_fields["fd.name"] === `${dir}/trigger`),
      );
      assertEquals(new Set(got).size, 20);
      assertStringIncludes(run.stderr(), "SIGTERM: stopping");
      assertStringIncludes(run.stderr(), "outputs flushed");
      // stdout got the same 20 alerts as JSON lines, and nothing else.
      const lines = run.stdout().trim().split("\n");
      assertEquals(lines.length, 20);
      assert(lines.every((l) => JSON.parse(l).rule === RULE));
    } finally {
      try {
        run.child.kill("SIGKILL");
      } catch { /* exited */ }
      await run.exited;
      await receiver.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker run: SIGHUP with a broken rules file keeps the old rules alerting",
  ignore: needsRoot(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-e2e-" });
    await Deno.writeTextFile(`${dir}/trigger`, "x");
    await Deno.writeTextFile(`${dir}/rules.yaml`, rulesText(dir, "v1"));
    const run = await startRun(dir, "");
    const count = (s: string) => run.stdout().split("\n").filter((l) => l.includes(s)).length;
    try {
      await waitFor("health", async () => (await fetch(`${run.api}/healthz`)).ok);
      await trigger(dir, 1);
      await waitFor("v1 alert", () => count("v1 trigger opened") === 1);

      await Deno.writeTextFile(
        `${dir}/rules.yaml`,
        rulesText(dir, "v2").replace("fd.name =", "fd.name === "),
      );
      run.child.kill("SIGHUP");
      await waitFor("rejection", () => run.stderr().includes("rules reload rejected"));
      await waitFor("internal alert", () => count("Saker internal: rules reload rejected") === 1);
      await trigger(dir, 1);
      await waitFor("v1 alert after the failed reload", () => count("v1 trigger opened") === 2);

      await Deno.writeTextFile(`${dir}/rules.yaml`, rulesText(dir, "v2"));
      run.child.kill("SIGHUP");
      await waitFor("reload", () => run.stderr().includes("rules reloaded"));
      await trigger(dir, 1);
      await waitFor("v2 alert", () => count("v2 trigger opened") === 1);
      assertEquals(count("v1 trigger opened"), 2);
      assert((await fetch(`${run.api}/healthz`)).ok);
      // The store kept them all, queryable.
      const stored = await (await fetch(`${run.api}/alerts?rule=${encodeURIComponent(RULE)}`))
        .json();
      assertEquals(stored.alerts.length, 3);
      run.child.kill("SIGINT");
      assertEquals((await run.exited).code, 0);
    } finally {
      try {
        run.child.kill("SIGKILL");
      } catch { /* exited */ }
      await run.exited;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker run: simulated drops raise the internal drop alert",
  ignore: needsRoot(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-e2e-" });
    await Deno.writeTextFile(`${dir}/trigger`, "x");
    await Deno.writeTextFile(`${dir}/rules.yaml`, rulesText(dir, "t"));
    const run = await startRun(
      dir,
      "syscall_event_drops: {actions: [alert], rate: 10, max_burst: 10, simulate_drops: true}\n",
    );
    try {
      // Events over more than a second of event time.
      for (let i = 0; i < 15; i++) {
        await trigger(dir, 1);
        await new Promise((r) => setTimeout(r, 150));
      }
      await waitFor(
        "drop alert",
        () => run.stdout().includes("Falco internal: syscall event drop"),
      );
      const line = run.stdout().split("\n").find((l) => l.includes("syscall event drop"))!;
      assertStringIncludes(line, ": Debug Falco internal: syscall event drop. 1 system calls");
      assertStringIncludes(line, 'n_drops="1"');
      run.child.kill("SIGTERM");
      assertEquals((await run.exited).code, 0);
    } finally {
      try {
        run.child.kill("SIGKILL");
      } catch { /* exited */ }
      await run.exited;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
