/**
 * The NATS JetStream output against a real nats-server (Debian's) that the test starts on
 * loopback, with JetStream storing under the test's directory:
 *
 * - the output alone, over TLS with a token: each alert stored once as Falco's JSON on the
 *   subject its template names, `Nats-Msg-Id` the alert's id; the same batch published again (a
 *   retry after a lost acknowledgement) stores nothing more and is counted as de-duplicated; a
 *   wrong token delivers nothing and says why;
 * - `saker run` (alerts from audit events posted to its webhook, no probe needed): alerts reach
 *   the stream; nats-server is killed and started again mid-test while alerts keep coming: every
 *   alert is stored exactly once; with the server down longer than the queue holds, what the queue could not keep is
 *   counted as dropped and everything else arrives (sent + dropped = fired, sent = stored);
 *   Debian's prometheus scrapes the agent twice and its query API gives the same counts.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { AUDIT_RULE, postAudit, secretGet } from "../support/fleet.ts";
import { startSaker, waitFor } from "../support/agent_process.ts";
import { metricValue } from "../support/saker.ts";
import { haveNats, startNats, streamMessages } from "../support/nats.ts";
import { havePrometheus, startPrometheus } from "../support/prometheus.ts";
import { makeCa } from "./outputs_tls_support.ts";
import { NatsOutput } from "../../src/outputs/nats.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert, OutputWriteError } from "../../src/outputs/output.ts";
import { Registry } from "../../src/metrics.ts";
import type { Alert } from "../../src/rules/alert.ts";

const ignoreNoNats = !haveNats();
const never = new AbortController().signal;
const STREAM = "SAKER_ALERTS";

function alerts(n: number, hostname: string): FormattedAlert[] {
  const f = new AlertFormatter({ hostname });
  return Array.from({ length: n }, (_, i) =>
    new FormattedAlert(
      {
        time: 1_700_000_000_000_000_000n + BigInt(i),
        rule: "Read sensitive file untrusted",
        priority: i % 2 ? "Warning" : "Critical",
        source: "syscall",
        tags: ["filesystem"],
        output: `alert ${i} (file=/etc/shadow)`,
        outputFields: { "fd.name": "/etc/shadow", "proc.pid": 1000 + i },
      } satisfies Alert,
      f,
    ));
}

Deno.test({
  name: "nats output: TLS and a token, subjects from the template, Nats-Msg-Id de-duplication",
  ignore: ignoreNoNats,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-nats-tls-" }));
    const ca = await makeCa(dir);
    const nats = await startNats(dir, {
      token: "s3cret",
      tls: { certFile: `${dir}/server.pem`, keyFile: `${dir}/server.key` },
    });
    const registry = new Registry();
    const out = NatsOutput.create({
      servers: [nats.url],
      token: "s3cret",
      tls: { caFile: ca.ca },
      subject: "saker.alerts.{hostname}.{priority}",
      stream: STREAM,
      ackTimeoutMs: 3000,
      registry,
    });
    const wrong = NatsOutput.create({
      servers: [nats.url],
      token: "wrong",
      tls: { caFile: ca.ca },
      subject: "saker.alerts.{hostname}.{priority}",
      stream: STREAM,
      ackTimeoutMs: 1000,
    });
    try {
      const batch = alerts(40, "node-a.example");
      await out.write(batch, never);
      const conn = { token: "s3cret", tls: { caFile: ca.ca } };
      let stored = await streamMessages(nats.url, STREAM, conn);
      assertEquals(stored.length, 40);
      for (let i = 0; i < 40; i++) {
        const a = batch[i];
        assertEquals(stored[i].msgId, a.id, "the alert's id is the message id");
        assertEquals(stored[i].data, a.json, "Falco's JSON, as the other outputs send it");
        assertEquals(
          stored[i].subject,
          `saker.alerts.node-a_example.${i % 2 ? "warning" : "critical"}`,
        );
        assertEquals(JSON.parse(stored[i].data).hostname, "node-a.example");
      }
      // A retry of the whole batch (its acknowledgements lost): JetStream keeps one copy each.
      await out.write(batch, never);
      stored = await streamMessages(nats.url, STREAM, conn);
      assertEquals(stored.length, 40, "nothing stored twice");
      assertEquals(
        metricValue(registry.render(), /^saker_nats_duplicates_total (\d+)/m),
        40,
        "every retried alert counted as de-duplicated",
      );
      assertEquals(new Set(stored.map((m) => m.msgId)).size, 40);

      // A wrong token: nothing delivered, an error the queue retries.
      const err = await wrong.write(alerts(1, "x"), never).then(() => undefined, (e) => e);
      assert(err instanceof OutputWriteError, `refused: ${err}`);
      assertEquals(err.delivered, 0);
      assertEquals((await streamMessages(nats.url, STREAM, conn)).length, 40);
      // The server's refusal, or (when the client's connect attempt outlives it on a loaded
      // machine) the client's own "no answer": either way nothing was delivered.
      assert(
        /Authorization Violation|no answer from the NATS servers/.test(err.message),
        err.message,
      );
      assertStringIncludes(await nats.log(), "authentication error");
    } finally {
      await out.close();
      await wrong.close();
      await nats.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "nats output: saker run publishes every alert once across nats-server restarts; " +
    "overflow counted",
  ignore: ignoreNoNats,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-nats-run-" }));
    const nats = await startNats(dir);
    await Deno.writeTextFile(`${dir}/rules.yaml`, AUDIT_RULE);
    const CAPACITY = 20;
    // Alerts from audit events posted to the agent's webhook: no probe needed.
    const run = await startSaker(
      dir,
      `rules_files: [${dir}/rules.yaml]
hostname: node-a
stdout_output: {enabled: false}
outputs_queue: {capacity: ${CAPACITY}}
nats_output:
  enabled: true
  servers: [${nats.url}]
  ack_timeout: 1000ms
`,
      ["--disable-source", "syscall"],
    );
    let posted = 0;
    const post = async (n: number) => {
      for (let i = 0; i < n; i++) await postAudit(run.api, [secretGet("fleet-a", `s-${++posted}`)]);
    };
    const stored = () => streamMessages(nats.url, STREAM).catch(() => []);
    const metrics = async () => await (await fetch(`${run.api}/metrics`)).text();
    const metric = async (re: RegExp) => metricValue(await metrics(), re) ?? 0;
    try {
      await post(10);
      await waitFor("10 alerts in the stream", async () => (await stored()).length === 10);

      // nats-server crashes; alerts keep coming while it is away (fewer than the queue holds).
      await nats.stop("SIGKILL");
      await post(10);
      await new Promise((r) => setTimeout(r, 1500));
      await nats.start();
      await post(10);
      const all = await waitFor("30 alerts in the stream", async () => {
        const s = await stored();
        return s.length >= 30 && s;
      }, 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      assertEquals((await stored()).length, 30, "nothing lost, nothing doubled");
      assertEquals(new Set(all.map((m) => m.msgId)).size, 30, "30 distinct ids");
      const names = all.map((m) => JSON.parse(m.data).output_fields["ka.target.name"] as string);
      assertEquals(names.sort(), Array.from({ length: 30 }, (_, i) => `s-${i + 1}`).sort());
      for (const m of all) {
        assertEquals(m.subject, "saker.alerts.node-a.warning");
        const a = JSON.parse(m.data);
        assertEquals(a.hostname, "node-a");
        assertEquals(a.rule, "fleet secret read");
        assertEquals(a.source, "k8s_audit");
        assertEquals(a.tags, ["fleet"]);
      }
      assertEquals(await metric(/^saker_output_dropped_total\{output="nats"\} (\d+)/m), 0);

      // Away longer than the queue holds: the overflow is counted, the rest arrives once.
      await nats.stop("SIGKILL");
      await post(40);
      assert(await metric(/^saker_output_dropped_total\{output="nats"\} (\d+)/m) > 0, "drops");
      await nats.start();
      const fired = await metric(/^saker_alerts_total\{rule="fleet secret read"[^}]*\} (\d+)/m);
      assertEquals(fired, 70);
      const settled = await waitFor("the queue drained", async () => {
        const m = await metrics();
        const depth = metricValue(m, /^saker_output_queue_depth\{output="nats"\} (\d+)/m);
        const sent = metricValue(m, /^saker_output_sent_total\{output="nats"\} (\d+)/m) ?? 0;
        const s = await stored();
        return depth === 0 && s.length === sent && { m, s, sent };
      }, 30_000);
      const dropped = metricValue(
        settled.m,
        /^saker_output_dropped_total\{output="nats"\} (\d+)/m,
      )!;
      const failed = metricValue(settled.m, /^saker_output_failed_total\{output="nats"\} (\d+)/m) ??
        0;
      assert(dropped > 0 && dropped <= 40 - CAPACITY, `dropped: ${dropped}`);
      assertEquals(settled.sent + dropped + failed, fired, "every alert accounted for");
      assertEquals(new Set(settled.s.map((m) => m.msgId)).size, settled.s.length, "no doubles");
      assert(
        (metricValue(settled.m, /^saker_output_retries_total\{output="nats"\} (\d+)/m) ?? 0) > 0,
        "retries counted",
      );

      // Debian's prometheus scrapes the agent: the same accounting through its query API.
      if (havePrometheus()) {
        const prom = await startPrometheus(dir, new URL(run.api).host);
        try {
          const q = async (expr: string) => Number((await prom.query(expr))[0]?.value[1]);
          assertEquals(await q('saker_output_sent_total{output="nats"}'), settled.sent);
          assertEquals(await q('saker_output_dropped_total{output="nats"}'), dropped);
          assertEquals(await q('sum(saker_alerts_total{rule="fleet secret read"})'), fired);
        } finally {
          await prom.stop();
        }
      }
    } finally {
      const status = await run.stop();
      await nats.stop();
      assertEquals(status.code, 0, run.stderr());
      await Deno.remove(dir, { recursive: true });
    }
  },
});
