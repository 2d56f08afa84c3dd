/**
 * Fleet benchmark: the network outputs' throughput on loopback and the collector's ingest rate,
 * with the agent's CPU per alert (this process's user + system time, so the receivers, which run
 * in processes of their own, do not count).
 *
 * - `nats`: alerts through the nats output's queue to a real nats-server with JetStream (each
 *   publish acknowledged once stored), alerts/s and CPU µs per alert;
 * - `http`: the same alerts through the http output (one POST per alert, kept-alive connection)
 *   to a receiver in another process;
 * - `syslog_tcp`: the same alerts as RFC 5424 messages over TCP (octet counting) to a receiver in
 *   another process;
 * - `collector`: a stream already holding the alerts, read by the collector into a fresh alert
 *   store (one transaction per batch), alerts/s and CPU µs per alert.
 *
 * Each figure is the median of several runs, the outputs alternating. Needs nats-server
 * (scripts/setup.sh test installs it); skipped with a note otherwise.
 * @module
 */
import process from "node:process";
import { NatsOutput } from "../../src/outputs/nats.ts";
import { HttpOutput } from "../../src/outputs/http.ts";
import { RemoteSyslogOutput } from "../../src/outputs/syslog_remote.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { type AlertOutput, FormattedAlert } from "../../src/outputs/output.ts";
import { AlertStore } from "../../src/outputs/alert_store.ts";
import { Collector } from "../../src/agent/collector.ts";
import { Registry } from "../../src/metrics.ts";
import type { Alert } from "../../src/rules/alert.ts";

const NATS_SERVER = "/usr/sbin/nats-server";
const ALERTS = 5000;
const RUNS = 3;

function alerts(n: number, run: number): FormattedAlert[] {
  const f = new AlertFormatter({ hostname: "bench-node" });
  return Array.from({ length: n }, (_, i) =>
    new FormattedAlert(
      {
        time: 1_700_000_000_000_000_000n + BigInt(run * n + i),
        rule: "Read sensitive file untrusted",
        priority: "Warning",
        source: "syscall",
        tags: ["filesystem", "mitre_credential_access"],
        output: `Sensitive file opened for reading by non-trusted program (file=/etc/shadow ` +
          `gparent=bash ggparent=sshd user=root command=cat /etc/shadow pid=${1000 + i})`,
        outputFields: {
          "fd.name": "/etc/shadow",
          "proc.cmdline": "cat /etc/shadow",
          "proc.pid": 1000 + i,
          "user.name": "root",
          "container.id": "host",
        },
      } satisfies Alert,
      f,
    ));
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Alerts through one output's queue: wall time until every one is sent, and CPU. */
async function through(output: AlertOutput, batch: FormattedAlert[]) {
  const q = new OutputQueue(output, { capacity: batch.length + 1, registry: new Registry() });
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  for (const a of batch) q.push(a);
  await q.flush();
  const ms = performance.now() - t0;
  const cpu = cpuMicros() - cpu0;
  const s = q.stats();
  await q.close();
  if (s.sent !== batch.length) throw new Error(`${output.name}: ${s.sent} of ${batch.length} sent`);
  return { alerts_per_s: batch.length / (ms / 1000), cpu_us_per_alert: cpu / batch.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * 10) / 10;
}

function summary(runs: { alerts_per_s: number; cpu_us_per_alert: number }[]) {
  return {
    alerts_per_s: median(runs.map((r) => r.alerts_per_s)),
    cpu_us_per_alert: median(runs.map((r) => r.cpu_us_per_alert)),
    runs: runs.length,
  };
}

/** Runs the benchmark. */
export async function bench(): Promise<Record<string, unknown>> {
  try {
    Deno.statSync(NATS_SERVER);
  } catch {
    return { skipped: "nats-server is not installed (scripts/setup.sh test installs it)" };
  }
  const dir = await Deno.makeTempDir({ prefix: "saker-bench-fleet-" });
  const natsPort = freePort();
  const nats = new Deno.Command(NATS_SERVER, {
    args: ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", `${dir}/nats`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const httpPort = freePort();
  // The receiver runs in a process of its own: its CPU is not the agent's.
  const receiver = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.serve({hostname: "127.0.0.1", port: ${httpPort}, onListen() {}}, ` +
      `async (r) => { await r.arrayBuffer(); return new Response("ok"); });`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `nats://127.0.0.1:${natsPort}`;
  // A TCP syslog receiver that reads and discards, in a process of its own.
  const syslogPort = freePort();
  const syslogReceiver = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const l = Deno.listen({hostname: "127.0.0.1", port: ${syslogPort}});` +
      `for await (const c of l) (async () => { for await (const _ of c.readable) {} })().catch(() => {});`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitPort(natsPort);
    await waitPort(httpPort);
    await waitPort(syslogPort);
    const natsRuns = [];
    const httpRuns = [];
    const syslogRuns = [];
    for (let run = 0; run < RUNS; run++) {
      const nats = NatsOutput.create({
        servers: [url],
        subject: "saker.alerts.{hostname}.{priority}",
        stream: "SAKER_ALERTS",
        registry: new Registry(),
      });
      natsRuns.push(await through(nats, alerts(ALERTS, run)));
      const http = await HttpOutput.create({
        url: `http://127.0.0.1:${httpPort}/`,
        json: true,
        userAgent: "saker-bench",
      });
      httpRuns.push(await through(http, alerts(ALERTS, run)));
      const syslog = new RemoteSyslogOutput({
        host: "127.0.0.1",
        port: syslogPort,
        tls: false,
        facility: 16,
        appName: "saker",
        sdId: "saker@32473",
        json: true,
      });
      syslogRuns.push(await through(syslog, alerts(ALERTS, run)));
    }
    // The stream now holds RUNS * ALERTS alerts: each collector run reads all of them anew.
    const collectorRuns = [];
    for (let run = 0; run < RUNS; run++) {
      const registry = new Registry();
      const store = AlertStore.open({ path: `${dir}/collector-${run}.db`, registry });
      const c = new Collector({
        connection: { servers: [url] },
        stream: "SAKER_ALERTS",
        subjects: "saker.alerts.>",
        durable: `bench-${run}`,
        batch: 256,
        store,
        sinks: [],
        formatter: new AlertFormatter({ hostname: "collector" }),
        registry,
      });
      const want = RUNS * ALERTS;
      const cpu0 = cpuMicros();
      const t0 = performance.now();
      c.start();
      while (store.size < want) await new Promise((r) => setTimeout(r, 5));
      const ms = performance.now() - t0;
      const cpu = cpuMicros() - cpu0;
      await c.close();
      store.close();
      collectorRuns.push({ alerts_per_s: want / (ms / 1000), cpu_us_per_alert: cpu / want });
    }
    return {
      alerts: ALERTS,
      nats: summary(natsRuns),
      http: summary(httpRuns),
      syslog_tcp: summary(syslogRuns),
      collector: { ...summary(collectorRuns), alerts: RUNS * ALERTS },
    };
  } finally {
    nats.kill("SIGTERM");
    receiver.kill("SIGTERM");
    syslogReceiver.kill("SIGTERM");
    await nats.status;
    await receiver.status;
    await syslogReceiver.status;
    await Deno.remove(dir, { recursive: true });
  }
}
