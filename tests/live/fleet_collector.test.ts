/**
 * One view of many nodes, against a real nats-server (Debian's, JetStream) the test starts on
 * loopback:
 *
 * - the collector alone: alerts of two hosts published to the stream are stored once each with
 *   their host names (`/alerts?hostname=` filters), reach live subscribers, and when the durable
 *   consumer delivers the whole stream again (it was deleted and made anew) nothing is stored
 *   twice (each redelivery counted);
 * - three agents as three nodes (hostnames from their configs): two take Kubernetes audit events
 *   on their webhooks, the third runs the kernel probe and sees the test open files; one
 *   `saker collect`. Every attack appears once in the collector's /alerts within 2 s; an SSE
 *   client filtered on one host gets that host's alerts only; nats-server is killed and started
 *   again mid-test, and the collector is killed (SIGKILL) and started again on the same store
 *   while the nodes keep alerting: in the end each attack is stored exactly once.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { type SakerProcess, startSaker, waitFor } from "../support/agent_process.ts";
import { metricValue } from "../support/saker.ts";
import { haveNats, startNats } from "../support/nats.ts";
import { AUDIT_RULE, postAudit, secretGet } from "../support/fleet.ts";
import { connect } from "nats";
import { NatsOutput } from "../../src/outputs/nats.ts";
import { AlertStore } from "../../src/outputs/alert_store.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { Collector } from "../../src/agent/collector.ts";
import { Registry } from "../../src/metrics.ts";
import type { Alert } from "../../src/rules/alert.ts";

const ignoreNoNats = !haveNats();
const STREAM = "SAKER_ALERTS";
const never = new AbortController().signal;

function alert(i: number): Alert {
  return {
    time: 1_700_000_000_000_000_000n + BigInt(i),
    rule: "fleet rule",
    priority: "Warning",
    source: "syscall",
    tags: ["fleet"],
    output: `alert ${i}`,
    outputFields: { "proc.pid": i, "evt.num": 9_007_199_254_740_993n },
  };
}

Deno.test({
  name: "collector: two hosts' alerts stored once each with their host names; a redelivered " +
    "stream stored nothing twice",
  ignore: ignoreNoNats,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-collector-" }));
    const nats = await startNats(dir);
    const registry = new Registry();
    const store = AlertStore.open({ path: `${dir}/alerts.db`, registry });
    const live: FormattedAlert[] = [];
    const collector = new Collector({
      connection: { servers: [nats.url] },
      stream: STREAM,
      subjects: "saker.alerts.>",
      durable: "collector-test",
      batch: 64,
      store,
      sinks: [{ push: (fa) => live.push(fa) > 0 }],
      formatter: new AlertFormatter({ hostname: "collector" }),
      registry,
    });
    const out = NatsOutput.create({
      servers: [nats.url],
      subject: "saker.alerts.{hostname}.{priority}",
      stream: STREAM,
    });
    const metric = (name: string) =>
      metricValue(registry.render(), new RegExp(`^${name} (\\d+)`, "m")) ?? 0;
    try {
      collector.start();
      const a = Array.from(
        { length: 30 },
        (_, i) => new FormattedAlert(alert(i), new AlertFormatter({ hostname: "node-a" })),
      );
      const b = Array.from(
        { length: 20 },
        (_, i) => new FormattedAlert(alert(100 + i), new AlertFormatter({ hostname: "node-b" })),
      );
      await out.write(a, never);
      await out.write(b, never);
      await waitFor("50 alerts stored", () => store.size === 50);
      assertEquals(store.count({ hostnames: ["node-a"] }), 30);
      assertEquals(store.count({ hostnames: ["node-b"] }), 20);
      assertEquals(store.count({ hostnames: ["node-a", "node-b"] }), 50);
      const one = store.query({ hostnames: ["node-b"] }, { limit: 1 }).alerts[0];
      const sent = b.find((x) => JSON.parse(x.json).output_fields["proc.pid"] === 119)!;
      assertEquals(one.output, JSON.parse(sent.json).output, "the output as the node wrote it");
      assertEquals(
        JSON.parse(one.outputFieldsJson.replace(/(\d{16,})/g, '"$1"'))["evt.num"],
        "9007199254740993",
        "64-bit integers exact",
      );
      assertEquals(live.length, 50);
      assertEquals(live.filter((x) => x.hostname === "node-b").length, 20);
      assertEquals(live[0].json, a[0].json, "live subscribers get the JSON as sent");

      // The consumer delivers everything again (deleted and created anew by the collector).
      const nc = await connect({ servers: nats.url });
      const jsm = await nc.jetstreamManager();
      await jsm.consumers.delete(STREAM, "collector-test");
      await nc.close();
      await waitFor(
        "50 redeliveries recognised",
        () => metric("saker_collector_duplicates_total") >= 50,
        30_000,
      );
      assertEquals(store.size, 50, "nothing stored twice");
      assertEquals(metric("saker_collector_stored_total"), 50);
      assertEquals(live.length, 50, "live subscribers told once");
    } finally {
      await out.close();
      await collector.close();
      store.close();
      await nats.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** An alert as GET /alerts lists it (the fields the test reads). */
interface ListedAlert {
  hostname: string;
  rule: string;
  output: string;
  output_fields: Record<string, unknown>;
}

/** The collector's stored alerts of `hostname` (or every host). */
async function collected(api: string, hostname?: string): Promise<ListedAlert[]> {
  const q = hostname ? `&hostname=${hostname}` : "";
  const r = await fetch(`${api}/alerts?limit=1000${q}`);
  if (!r.ok) throw new Error(`/alerts: ${r.status} ${await r.text()}`);
  return (await r.json()).alerts;
}

/** A marker that names one attack in an alert's output. */
function markerOf(a: ListedAlert): string {
  return (a.output_fields["ka.target.name"] ?? a.output_fields["fd.name"]) as string;
}

Deno.test({
  name: "fleet: three nodes and a collector; each attack once within 2 s; nats-server and the " +
    "collector restarted mid-test lose and double nothing",
  ignore: ignoreNoNats || needsRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-fleet-" }));
    const nats = await startNats(dir);
    const sub = async (name: string) => {
      await Deno.mkdir(`${dir}/${name}`);
      return `${dir}/${name}`;
    };
    await Deno.writeTextFile(`${dir}/audit.yaml`, AUDIT_RULE);
    await Deno.writeTextFile(
      `${dir}/files.yaml`,
      `- rule: fleet file opened
  desc: opens of this test's attack files
  condition: evt.type in (open, openat, openat2) and fd.name startswith ${dir}/attack- and evt.is_open_read = true
  output: "attack file read (file=%fd.name)"
  priority: WARNING
  tags: [fleet]
`,
    );
    const nodeConfig = (host: string, rules: string) =>
      `rules_files: [${dir}/${rules}]
hostname: ${host}
stdout_output: {enabled: false}
nats_output: {enabled: true, servers: [${nats.url}], ack_timeout: 1000ms}
`;
    const collectorDir = await sub("collector");
    const collectorConfig = `rules_files: [${dir}/audit.yaml]
hostname: collector
stdout_output: {enabled: false}
`;
    const startCollector = () =>
      startSaker(collectorDir, collectorConfig, ["--server", nats.url, "--durable", "fleet"], {
        command: "collect",
      });
    const nodes: SakerProcess[] = [];
    let collector: SakerProcess | undefined;
    try {
      collector = await startCollector();
      const a = await startSaker(await sub("a"), nodeConfig("node-a", "audit.yaml"), [
        "--disable-source",
        "syscall",
      ]);
      nodes.push(a);
      const b = await startSaker(await sub("b"), nodeConfig("node-b", "audit.yaml"), [
        "--disable-source",
        "syscall",
      ]);
      nodes.push(b);
      const c = await startSaker(await sub("c"), nodeConfig("node-c", "files.yaml"));
      nodes.push(c);

      // One attack per node; returns its marker and when it happened.
      let n = 0;
      const attack = async (node: "a" | "b" | "c") => {
        const id = `${node}-${++n}`;
        const t0 = performance.now();
        if (node === "c") {
          await Deno.writeTextFile(`${dir}/attack-${id}`, "x");
          await Deno.readTextFile(`${dir}/attack-${id}`);
          return { node, marker: `${dir}/attack-${id}`, t0 };
        }
        await postAudit(node === "a" ? a.api : b.api, [secretGet(`fleet-${node}`, `secret-${id}`)]);
        return { node, marker: `secret-${id}`, t0 };
      };
      const expected: string[] = [];
      const hostOf: Record<string, string> = {};

      // Round 1: every attack in the collector's /alerts within 2 s, with its node's name.
      const sseStop = new AbortController();
      const sse = await fetch(`${collector.api}/alerts/stream?hostname=node-b`, {
        signal: sseStop.signal,
      });
      const sseText = sse.body!.pipeThrough(new TextDecoderStream());
      let sseSeen = "";
      const sseDone = sseText.pipeTo(new WritableStream({ write: (s) => void (sseSeen += s) }))
        .catch(() => {});
      const latencies: number[] = [];
      for (const node of ["a", "b", "c", "a", "b", "c"] as const) {
        const x = await attack(node);
        expected.push(x.marker);
        hostOf[x.marker] = `node-${node}`;
        const got = await waitFor(`${x.marker} at the collector`, async () => {
          const all = await collected(collector!.api, `node-${node}`);
          return all.find((al) => markerOf(al) === x.marker);
        }, 10_000);
        latencies.push(performance.now() - x.t0);
        assertEquals(got.hostname, `node-${node}`);
      }
      console.log(
        `attack -> collector /alerts: ${latencies.map((l) => l.toFixed(0)).join(", ")} ms`,
      );
      for (const l of latencies) assert(l < 2000, `within 2 s: ${latencies}`);
      await waitFor(
        "node-b's alerts on the SSE stream",
        () => expected.filter((m) => hostOf[m] === "node-b").every((m) => sseSeen.includes(m)),
      );
      for (const m of expected.filter((m) => hostOf[m] !== "node-b")) {
        assert(!sseSeen.includes(m), `SSE filtered on node-b got ${m}`);
      }
      sseStop.abort();
      await sseDone;

      // nats-server crashes and comes back while the nodes keep alerting.
      await nats.stop("SIGKILL");
      for (const node of ["a", "b", "c"] as const) {
        const x = await attack(node);
        expected.push(x.marker);
        hostOf[x.marker] = `node-${node}`;
      }
      await new Promise((r) => setTimeout(r, 1000));
      await nats.start();
      for (const node of ["a", "b", "c"] as const) {
        const x = await attack(node);
        expected.push(x.marker);
        hostOf[x.marker] = `node-${node}`;
      }
      await waitFor("every attack after the server's restart", async () => {
        const have = new Set((await collected(collector!.api)).map(markerOf));
        return expected.every((m) => have.has(m));
      }, 30_000);

      // The collector crashes while alerts flow, and starts again on the same store.
      const burst = Array.from({ length: 30 }, () => attack("a"));
      const killed = collector;
      collector = undefined;
      killed.child.kill("SIGKILL");
      await killed.exited;
      for (const x of await Promise.all(burst)) {
        expected.push(x.marker);
        hostOf[x.marker] = `node-${x.node}`;
      }
      for (const node of ["b", "c"] as const) {
        const x = await attack(node);
        expected.push(x.marker);
        hostOf[x.marker] = `node-${node}`;
      }
      collector = await startCollector();
      const final = await waitFor("every attack at the restarted collector", async () => {
        const all = await collected(collector!.api);
        const have = new Set(all.map(markerOf));
        return expected.every((m) => have.has(m)) && all;
        // Messages the killed collector had received but not acknowledged come again only when
        // the consumer's ack wait (30 s, src/agent/collector.ts) has passed: wait longer than it.
      }, 45_000).catch(async (err) => {
        // Which attacks are missing, by node and by their place in the test, says whether the
        // alerts of the collector's downtime or some other stretch were lost.
        const have = new Set((await collected(collector!.api)).map(markerOf));
        const missing = expected.flatMap((m, i) => have.has(m) ? [] : [`#${i} ${hostOf[m]}`]);
        throw new Error(
          `${err.message}: ${missing.length} of ${expected.length} missing: ${missing}`,
        );
      });
      await new Promise((r) => setTimeout(r, 1500));
      const settled = await collected(collector.api);
      const mine = settled.filter((al) => expected.includes(markerOf(al)));
      assertEquals(mine.length, expected.length, "each attack stored exactly once");
      assertEquals(final.length, settled.length, "nothing more arrived");
      for (const al of mine) assertEquals(al.hostname, hostOf[markerOf(al)]);
      for (const host of ["node-a", "node-b", "node-c"]) {
        const only = await collected(collector.api, host);
        assertEquals(only.length, expected.filter((m) => hostOf[m] === host).length, host);
        assert(only.every((al) => al.hostname === host));
      }
      const m = await (await fetch(`${collector.api}/metrics`)).text();
      assertEquals(metricValue(m, /^saker_collector_connected (\d+)/m), 1);
    } finally {
      for (const node of nodes) {
        const s = await node.stop();
        assertEquals(s.code, 0, node.stderr());
      }
      if (collector) {
        const s = await collector.stop();
        assertEquals(s.code, 0, collector.stderr());
      }
      await nats.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
