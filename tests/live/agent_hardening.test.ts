/**
 * The agent's HTTP API under hostile or unlucky clients, driven from outside against a real
 * `saker run` (without the kernel probe, so no root is needed): requests arriving while the agent
 * starts, bodies that announce more than they send, slow and idle connections, and refusing an
 * exposed API without a token.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { IS_ROOT } from "../support/env.ts";
import { freePort, SakerProcess, waitFor } from "../support/saker_process.ts";

const NO_PROBE = ["--disable-source", "syscall"];
/** With the probe (as root), start-up lasts long enough for requests to meet every step of it. */
const STARTUP_ARGS = IS_ROOT ? [] : NO_PROBE;

Deno.test("saker run: requests from the first moment never break the start-up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-startup-" });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = freePort();
      const run = await SakerProcess.spawn(
        dir,
        `rules_files: [rules]\nwebserver: {listen_port: ${port}}\nalert_store: {enabled: false}\n` +
          `watch_config_files: false\nstdout_output: {enabled: false}\n`,
        STARTUP_ARGS,
      );
      // Poll as fast as a client can from launch until the agent says it runs, and a bit after.
      let answered = 0;
      let runningAt = 0;
      while (!run.status && (runningAt === 0 || Date.now() - runningAt < 300)) {
        if (runningAt === 0 && run.stderr.includes("saker running")) runningAt = Date.now();
        try {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`);
          await res.body?.cancel();
          answered++;
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 2));
      }
      assert(!run.status, `saker exited during start-up:\n${run.stderr}`);
      assert(answered > 0, "no answer while starting");
      const res = await fetch(`http://127.0.0.1:${port}/k8s-audit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"kind":"EventList","items":[]}',
      });
      await res.body?.cancel();
      assertEquals(res.status, 200, "the audit webhook is mounted");
      assertEquals(await run.stop(), 0, run.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saker run: SIGHUP with a pathologically nested rules file names the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-reload-" });
  try {
    const rules = `${dir}/local.yaml`;
    await Deno.writeTextFile(
      rules,
      "- rule: local\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n",
    );
    const run = await SakerProcess.start(
      dir,
      `rules_files: [rules, ${rules}]\nwebserver: {listen_port: 0}\nalert_store: {enabled: false}\n` +
        `watch_config_files: false\nstdout_output: {enabled: true}\njson_output: true\n`,
      NO_PROBE,
    );
    try {
      await Deno.writeTextFile(rules, "- ".repeat(3000) + "\n x\n");
      run.child.kill("SIGHUP");
      const line = await waitFor(
        "the rejected reload",
        () => run.stderr.split("\n").find((l) => l.includes("rules error")),
      );
      assert(line.includes(`${rules}:1:`), line);
      assert(line.includes("LOAD_ERR_YAML_PARSE"), line);
      // The internal alert names the file too, and the agent keeps running its rules.
      const alert = await waitFor(
        "the internal alert",
        () => run.stdout.split("\n").find((l) => l.includes("reload rejected")),
      );
      assert(alert.includes(`${rules}:1:`), alert);
      const res = await fetch(`${run.api}/healthz`);
      assertEquals(res.status, 200, await res.text());
      assert(!run.status, "still running");
      assert(!run.stderr.includes("Maximum call stack"), run.stderr);
    } finally {
      assertEquals(await run.stop(), 0, run.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
