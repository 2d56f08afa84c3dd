/**
 * `saker run` taking Kubernetes audit webhooks over real HTTP on loopback, beside the live
 * probe: the endpoint on the agent's own server (bearer token, its own body limit, the reference
 * k8s_audit_rules.yaml, alerts the same as a replay of the same events, in stdout and in the
 * alert store), and the k8saudit plugin's own HTTPS listener (Falco's config form) with a rules
 * reload by SIGHUP; and without the probe (`--disable-source syscall`, no root needed).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, needsRoot, REFERENCE_DIR } from "../support/env.ts";
import { makeCa } from "./outputs_tls_support.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { parseAuditPayload } from "../../src/k8saudit/audit_event.ts";
import { type SakerProcess, startSaker, waitFor } from "../support/agent_process.ts";
import { secretGet } from "../support/fleet.ts";

/** Stops the agent; it must exit 0. */
async function stop(run: SakerProcess): Promise<void> {
  const status = await run.stop();
  assertEquals(status.code, 0, run.stderr());
}

/** The JSON alerts saker printed so far. */
function alerts(run: SakerProcess): Record<string, unknown>[] {
  return run.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function metric(api: string, token: string, line: RegExp): Promise<number | undefined> {
  const res = await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const m = (await res.text()).split("\n").find((l) => line.test(l));
  return m === undefined ? undefined : Number(m.split(" ").at(-1));
}

/** Every audit event of the legacy suite's traces (one per line), except the broken one. */
async function traceEvents(): Promise<unknown[]> {
  const dir = `${REFERENCE_DIR}/falco-legacy-tests/trace_files/k8s_audit`;
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n !== "fal_01_003.json"
  );
  const out: unknown[] = [];
  for (const n of names.sort()) {
    for (const line of (await Deno.readTextFile(`${dir}/${n}`)).split("\n")) {
      if (line.trim()) out.push(JSON.parse(line));
    }
  }
  return out;
}

Deno.test({
  name: "saker run: audit webhook on the API server raises the k8s_audit rules' alerts",
  ignore: needsRoot() || needsReference(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-k8saudit-" });
    const rules = `${REFERENCE_DIR}/falco-rules/k8s_audit_rules.yaml`;
    const token = "k8s-audit-test-token";
    // The API's own body limit (64 KiB) is below the batch: the webhook keeps its 12 MiB one.
    const run = await startSaker(
      dir,
      `rules_files: [${rules}]
json_output: true
stdout_output: {enabled: true}
webserver: {listen_port: 0, auth_token: ${token}, max_request_body_bytes: 65536}
`,
    );
    try {
      const url = `${run.api}/k8s-audit`;
      const items = await traceEvents();
      const body = JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items });
      assert(body.length > 65536, `batch of ${body.length} bytes`);
      const json = { "content-type": "application/json" };
      const auth = { ...json, authorization: `Bearer ${token}` };

      // The same token as the rest of the API.
      const anon = await fetch(url, { method: "POST", headers: json, body });
      assertEquals(anon.status, 401);
      await anon.body?.cancel();
      const wrongType = await fetch(url, {
        method: "POST",
        headers: { ...auth, "content-type": "text/plain" },
        body,
      });
      assertEquals(wrongType.status, 415);
      await wrongType.body?.cancel();
      const notAudit = await fetch(url, { method: "POST", headers: auth, body: '{"kind":0}' });
      assertEquals(notAudit.status, 400);
      await notAudit.body?.cancel();

      const res = await fetch(url, { method: "POST", headers: auth, body });
      assertEquals(res.status, 200);
      assertEquals(await res.json(), { accepted: items.length, rejected: 0 });

      // What a replay of the same events raises, evaluated here.
      const loaded = await loadRulesFiles([rules]);
      const rs = compileRuleset(loaded, { source: "k8s_audit" });
      const want: string[] = [];
      for (const ev of parseAuditPayload(items).events) rs.evaluate(ev, (a) => want.push(a.rule));
      assert(want.length >= 40, `only ${want.length} expected alerts`);

      await waitFor("the alerts", () => alerts(run).length >= want.length);
      const got = alerts(run);
      assertEquals(got.map((a) => a.rule).sort(), want.sort());
      assert(got.every((a) => a.source === "k8s_audit"));
      const exec = got.find((a) =>
        a.rule === "Attach/Exec Pod" &&
        (a.output_fields as Record<string, unknown>)["ka.uri.param[command]"] === "bash"
      );
      assert(exec, "the exec alert names its command");
      assertEquals(exec.time, "2018-10-26T13:38:34.902914000Z");

      // Counted, and stored with their source.
      const taken = /^saker_k8saudit_events_total\{input="webhook"\}/;
      assertEquals(await metric(run.api, token, taken), items.length);
      const rejected = /^saker_k8saudit_rejected_total\{input="webhook",reason="not_audit"\}/;
      assertEquals(await metric(run.api, token, rejected), 1);
      const stored = await waitFor("stored alerts", async () => {
        const r = await fetch(`${run.api}/alerts?source=k8s_audit&limit=1000`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const page = await r.json();
        return page.alerts.length === want.length ? page : undefined;
      });
      assertEquals(stored.alerts.length, want.length);
    } finally {
      await stop(run);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const RULE = `
- rule: secret read by a test user
  desc: a get on a secret by the test's user
  condition: ka.verb = get and ka.target.resource = secrets and ka.user.name = TAG
  output: "secret %ka.target.namespace/%ka.target.name read by %ka.user.name (TAG)"
  priority: WARNING
  source: k8s_audit
`;

Deno.test({
  name: "saker run: the k8saudit plugin config gets its own HTTPS listener; SIGHUP reloads",
  ignore: needsRoot(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-k8saudit-" });
    const tls = await makeCa(dir);
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(tls.ca)] });
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULE.replaceAll("TAG", "alice"));
    // Falco's form: the plugin entry, its open_params URL and its init_config.
    const run = await startSaker(
      dir,
      `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
alert_store: {enabled: false}
load_plugins: [k8saudit, json]
plugins:
  - name: k8saudit
    library_path: libk8saudit.so
    init_config:
      sslCertificate: ${tls.combined}
      webhookMaxBatchSize: 4096
    open_params: "https://127.0.0.1:0/k8s-audit"
  - name: json
    library_path: libjson.so
`,
    );
    try {
      const url = await waitFor(
        "the listener",
        () =>
          /k8s audit webhook url=(https:\/\/127\.0\.0\.1:\d+\/k8s-audit)/.exec(run.stderr())?.[1],
      );
      const post = (body: unknown) =>
        fetch(url, {
          method: "POST",
          client,
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      let r = await post({
        kind: "EventList",
        items: [secretGet("alice", "db"), secretGet("bob", "db")],
      });
      assertEquals(r.status, 200);
      await r.body?.cancel();
      await waitFor("alice's alert", () => alerts(run).length >= 1);

      // The plugin's batch limit (webhookMaxBatchSize) holds on its listener.
      r = await post({ kind: "EventList", items: Array(40).fill(secretGet("alice", "x")) });
      assertEquals(r.status, 413);
      await r.body?.cancel();

      // The new rules take over between two batches.
      await Deno.writeTextFile(`${dir}/rules.yaml`, RULE.replaceAll("TAG", "bob"));
      run.child.kill("SIGHUP");
      await waitFor("the reload", () => /rules reloaded/.test(run.stderr()));
      r = await post([secretGet("alice", "api"), secretGet("bob", "api")]);
      assertEquals(r.status, 200);
      await r.body?.cancel();
      await waitFor("bob's alert", () => alerts(run).length >= 2);
      await new Promise((res) => setTimeout(res, 300));
      const got = alerts(run).map((a) => String(a.output).replace(/^\S+ Warning /, ""));
      assertEquals(got, [
        "secret prod/db read by alice (alice)",
        "secret prod/api read by bob (bob)",
      ]);
    } finally {
      await stop(run);
      client.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("saker run --disable-source syscall: an audit receiver without the probe", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-k8saudit-" });
  await Deno.writeTextFile(`${dir}/rules.yaml`, RULE.replaceAll("TAG", "carol"));
  const run = await startSaker(
    dir,
    `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
alert_store: {enabled: false}
`,
    ["--disable-source", "syscall"],
  );
  try {
    assert(!/probe/i.test(run.stderr()), run.stderr());
    const r = await fetch(`${run.api}/k8s-audit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "EventList", items: [secretGet("carol", "tls")] }),
    });
    assertEquals(await r.json(), { accepted: 1, rejected: 0 });
    await waitFor("carol's alert", () => alerts(run).length >= 1);
    assertEquals(alerts(run)[0].rule, "secret read by a test user");
    assertEquals((await fetch(`${run.api}/healthz`)).status, 200);
  } finally {
    await stop(run);
    await Deno.remove(dir, { recursive: true });
  }
});
