/**
 * The agent's HTTP API under hostile or unlucky clients, driven from outside against a real
 * `saker run` (without the kernel probe, so no root is needed): requests arriving while the agent
 * starts, bodies that announce more than they send, slow and idle connections, and refusing an
 * exposed API without a token.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { IS_ROOT } from "../support/env.ts";
import { freePort, SakerProcess, sakerRun, waitFor } from "../support/saker.ts";

const NO_PROBE = ["--disable-source", "syscall"];
/** With the probe (as root), start-up lasts long enough for requests to meet every step of it. */
const STARTUP_ARGS = IS_ROOT ? [] : NO_PROBE;

Deno.test("saker run: requests from the first moment never break the start-up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-startup-" });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = freePort();
      const run = await sakerRun(
        dir,
        `rules_files: [rules]\nwebserver: {listen_port: ${port}}\nalert_store: {enabled: false}\n` +
          `watch_config_files: false\nstdout_output: {enabled: false}\n`,
        STARTUP_ARGS,
      );
      // Poll as fast as a client can from launch until the agent says it runs, and a bit after.
      let answered = 0;
      let runningAt = 0;
      while (!run.status && (runningAt === 0 || Date.now() - runningAt < 300)) {
        if (runningAt === 0 && run.stderr().includes("saker running")) runningAt = Date.now();
        try {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`);
          await res.body?.cancel();
          answered++;
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 2));
      }
      assert(!run.status, `saker exited during start-up:\n${run.stderr()}`);
      assert(answered > 0, "no answer while starting");
      const res = await fetch(`http://127.0.0.1:${port}/k8s-audit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"kind":"EventList","items":[]}',
      });
      await res.body?.cancel();
      assertEquals(res.status, 200, "the audit webhook is mounted");
      assertEquals((await run.stop()).code, 0, run.stderr());
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
    const run = await sakerRun(
      dir,
      `rules_files: [rules, ${rules}]\nwebserver: {listen_port: 0}\nalert_store: {enabled: false}\n` +
        `watch_config_files: false\nstdout_output: {enabled: true}\njson_output: true\n`,
      NO_PROBE,
    );
    const api = await run.running();
    try {
      await Deno.writeTextFile(rules, "- ".repeat(3000) + "\n x\n");
      run.child.kill("SIGHUP");
      const line = await waitFor(
        "the rejected reload",
        () => run.stderr().split("\n").find((l) => l.includes("rules error")),
      );
      assert(line.includes(`${rules}:1:`), line);
      assert(line.includes("LOAD_ERR_YAML_PARSE"), line);
      // The internal alert names the file too, and the agent keeps running its rules.
      const alert = await waitFor(
        "the internal alert",
        () => run.stdout().split("\n").find((l) => l.includes("reload rejected")),
      );
      assert(alert.includes(`${rules}:1:`), alert);
      const res = await fetch(`${api}/healthz`);
      assertEquals(res.status, 200, await res.text());
      assert(!run.status, "still running");
      assert(!run.stderr().includes("Maximum call stack"), run.stderr());
    } finally {
      assertEquals((await run.stop()).code, 0, run.stderr());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Samples a process's RSS every 50 ms until stopped; returns the highest seen. */
function rssPeak(run: SakerProcess): { stop: () => Promise<number> } {
  let peak = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      try {
        peak = Math.max(peak, run.rss());
      } catch { /* exited */ }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return peak;
    },
  };
}

/** Opens `n` connections, each sending `head` then, every `everyMs`, `chunk`, for `ms`. */
async function attack(
  port: number,
  n: number,
  head: string,
  ms: number,
  chunk = "",
  everyMs = 200,
): Promise<void> {
  const enc = new TextEncoder();
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(c);
      c.write(enc.encode(head)).catch(() => {});
    } catch { /* refused: the cap */ }
  }
  const end = Date.now() + ms;
  const bytes = enc.encode(chunk);
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, everyMs));
    if (bytes.length === 0) continue;
    await Promise.all(conns.map((c) => c.write(bytes).catch(() => 0)));
  }
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed by the agent */ }
  }
}

Deno.test("saker run: /k8s-audit bodies announced large and sent slowly cost at most 50 MB", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-memory-" });
  const run = await sakerRun(
    dir,
    `rules_files: [rules]\nwebserver: {listen_port: 0}\nalert_store: {enabled: false}\n` +
      `watch_config_files: false\nstdout_output: {enabled: false}\n`,
    NO_PROBE,
  );
  const api = await run.running();
  try {
    const port = Number(new URL(api).port);
    // Warm up the server and the webhook, then take the baseline.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${api}/k8s-audit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"kind":"EventList","items":[]}',
      });
      await res.body?.cancel();
    }
    await new Promise((r) => setTimeout(r, 500));
    const base = run.rss();
    const peak = rssPeak(run);
    const post = (length: number) =>
      `POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${length}\r\n\r\n{`;
    // 100 clients announce 10 MB and send one byte.
    await attack(port, 100, post(10_000_000), 2000);
    // 1000 clients announce 1 MB and send 16 KB every 200 ms (up to 320 MB if all were kept).
    await attack(port, 1000, post(1_000_000), 4000, "x".repeat(16 << 10));
    const top = await peak.stop();
    await new Promise((r) => setTimeout(r, 1000));
    const after = run.rss();
    const mb = (b: number) => Math.round(b / 1e5) / 10;
    console.log(`RSS: before ${mb(base)} MB, peak ${mb(top)} MB, after ${mb(after)} MB`);
    assert(top - base <= 50e6, `RSS grew by ${mb(top - base)} MB under the attack`);
    assert(after - base <= 50e6, `RSS still ${mb(after - base)} MB above after the attack`);
    const res = await fetch(`${api}/healthz`);
    assertEquals(res.status, 200, await res.text());
  } finally {
    assertEquals((await run.stop()).code, 0, run.stderr());
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saker run: each rules warning is logged once at start, and not again on reload", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-warnings-" });
  try {
    await Deno.mkdir(`${dir}/rules`);
    const rule = (name: string, cond: string) =>
      `- rule: ${name}\n  desc: d\n  condition: ${cond}\n  output: o\n  priority: INFO\n`;
    await Deno.writeTextFile(
      `${dir}/rules/a.yaml`,
      "- macro: spare\n  condition: evt.type = close\n- list: spare_list\n  items: [a]\n" +
        rule("any event", "proc.name = x"),
    );
    for (const n of ["b", "c", "d", "e", "f"]) {
      await Deno.writeTextFile(`${dir}/rules/${n}.yaml`, rule(n, "evt.type = openat"));
    }
    const run = await sakerRun(
      dir,
      `rules_files: [${dir}/rules]\nwebserver: {listen_port: 0}\nalert_store: {enabled: false}\n` +
        `watch_config_files: false\nstdout_output: {enabled: false}\n`,
      NO_PROBE,
    );
    await run.running();
    try {
      const count = (code: string) =>
        run.stderr().split("\n").filter((l) => l.includes("rules warning") && l.includes(code))
          .length;
      for (const code of ["LOAD_NO_EVTTYPE", "LOAD_UNUSED_MACRO", "LOAD_UNUSED_LIST"]) {
        assertEquals(count(code), 1, `${code} at start:\n${run.stderr()}`);
      }
      run.child.kill("SIGHUP");
      await waitFor("the reload", () => run.stderr().includes("rules reloaded"));
      for (const code of ["LOAD_NO_EVTTYPE", "LOAD_UNUSED_MACRO", "LOAD_UNUSED_LIST"]) {
        assertEquals(count(code), 1, `${code} after the reload:\n${run.stderr()}`);
      }
      assert(/rules warnings unchanged since the last load unchanged=3/.test(run.stderr()));
    } finally {
      assertEquals((await run.stop()).code, 0, run.stderr());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saker run: an API open to other hosts without a token is refused, or warned about", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-exposed-" });
  const config =
    `rules_files: [rules]\nalert_store: {enabled: false}\nwatch_config_files: false\n` +
    `stdout_output: {enabled: false}\n`;
  try {
    const port = freePort();
    const refused = await sakerRun(
      dir,
      config + `webserver: {listen_address: 0.0.0.0, listen_port: ${port}}\n`,
      NO_PROBE,
    );
    const status = await refused.exited;
    assertEquals(status.code, 1, refused.stderr());
    assert(refused.stderr().includes("webserver.listen_address"), refused.stderr());
    assert(refused.stderr().includes("saker token"), refused.stderr());
    // Nothing ever listened.
    await assertRefused(port);

    const open = await sakerRun(
      dir,
      config +
        `webserver: {listen_address: 0.0.0.0, listen_port: 0, allow_unauthenticated: true}\n`,
      NO_PROBE,
    );
    const openApi = await open.running();
    try {
      assert(/warning api warning=".*without a token/.test(open.stderr()), open.stderr());
      const health = await (await fetch(`${openApi.replace("0.0.0.0", "127.0.0.1")}/healthz`))
        .json();
      assertEquals(health.status, "ok");
      assert(String(health.warnings).includes("without a token"), JSON.stringify(health));
    } finally {
      assertEquals((await open.stop()).code, 0, open.stderr());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertRefused(port: number): Promise<void> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
  } catch {
    return;
  }
  throw new Error(`something listens on ${port}`);
}
