/**
 * The HTTP API served for real (Deno.serve on a loopback port) and exercised with real requests:
 * authentication, body limits, health (from a real pipeline that stalls), metrics, stored alert
 * queries, live SSE, TLS, and a mounted webhook source. (`saker run` serves the same API: see
 * agent_endpoints.test.ts for it on a running agent.)
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { Hono } from "hono";
import type { Alert, Priority } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFanout } from "../../src/outputs/fanout.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { AlertStore, StoreOutput } from "../../src/outputs/alert_store.ts";
import { createApp, mountSource } from "../../src/server/app.ts";
import { LiveAlerts } from "../../src/server/live_alerts.ts";
import { type RunningServer, serveApi } from "../../src/server/server.ts";
import { NO_RULES, Pipeline } from "../../src/pipeline/pipeline.ts";
import type { EventSource } from "../../src/sources/source.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { makeCa } from "./outputs_tls_support.ts";
import { type SseEvent, sseEvents } from "../support/sse.ts";

const TOKEN = "t0ken-for-tests";

interface Api {
  url: string;
  fanout: AlertFanout;
  store: AlertStore;
  live: LiveAlerts;
  registry: Registry;
  app: Hono;
  server: RunningServer;
  close(): Promise<void>;
}

/** What /versions serves in these tests: the app relays what it is given, unchanged. */
const VERSIONS = { saker_version: "9.8.7", engine_version: "0.50.0", deno: "x" };

async function startApi(
  opts: {
    token?: string;
    tls?: string;
    maxBody?: number;
    health?: () => { ok: boolean; reason?: string };
  } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "saker-api-" });
  const registry = new Registry();
  registry.counter("saker_events_received_total", "Events read.").inc(42);
  const store = AlertStore.open({ path: `${dir}/alerts.db`, registry });
  const live = new LiveAlerts(registry, 100);
  const fmt = new AlertFormatter({ hostname: "api-test", localOffsetMinutes: () => 0 });
  const fanout = new AlertFanout(
    fmt,
    [new OutputQueue(new StoreOutput(store), { capacity: 1000, registry })],
    [live],
    registry,
  );
  const app = createApp({
    health: opts.health ?? (() => ({ ok: true })),
    versions: () => VERSIONS,
    registry,
    store,
    live,
    authToken: opts.token ?? TOKEN,
    maxBodyBytes: opts.maxBody ?? 1024,
    keepAliveSeconds: 1,
  });
  const server = await serveApi(app, { hostname: "127.0.0.1", port: 0, tlsPemFile: opts.tls });
  const api: Api = {
    url: `${server.scheme}://127.0.0.1:${server.addr.port}`,
    fanout,
    store,
    live,
    registry,
    app,
    server,
    async close() {
      live.closeAll();
      await server.shutdown();
      await fanout.close(1000);
      await Deno.remove(dir, { recursive: true });
    },
  };
  return api;
}

const auth = { authorization: `Bearer ${TOKEN}` };

function alert(i: number, priority: Priority, rule = `Rule ${i}`): Alert {
  return {
    time: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000_000n,
    rule,
    priority,
    source: "syscall",
    tags: ["t"],
    output: `alert ${i}`,
    outputFields: { "proc.pid": i },
  };
}

/**
 * A source that reads events it does not deliver: the first batch goes through, then it counts
 * `pending` more events as read (as the live source counts what it took from the ring) and holds
 * them until `release()`.
 */
class StallingSource implements EventSource {
  readonly source = "syscall";
  readonly readable: ReadableStream<Event[]>;
  received = 0;
  #release!: () => void;
  #released = new Promise<void>((r) => this.#release = r);
  #ctl!: ReadableStreamDefaultController<Event[]>;
  constructor(pending: number) {
    const batch = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const ev = buildEvent("openat", { tid: 7, pid: 7, comm: "cat" }, {
          fd: 3,
          dirfd: -100,
          name: `/tmp/f${i}`,
          flags: 1,
          mode: 0,
        });
        ev.ts = BigInt(Date.now()) * 1_000_000n;
        return ev;
      });
    this.readable = new ReadableStream<Event[]>({
      start: (c) => {
        this.#ctl = c;
        this.received += 3;
        c.enqueue(batch(3));
        this.received += pending; // read, not delivered
        this.#released.then(() => c.enqueue(batch(pending)));
      },
    });
  }
  release(): void {
    this.#release();
  }
  close(): Promise<void> {
    this.#release();
    this.#released.then(() => this.#ctl.close());
    return Promise.resolve();
  }
}

Deno.test("api: health needs no token; 503 with the reason while the pipeline stalls", async () => {
  const src = new StallingSource(5);
  const pipeline = new Pipeline({
    source: src,
    ruleset: NO_RULES,
    onAlerts: () => {},
    received: () => src.received,
    stallSeconds: 1,
    registry: new Registry(),
  });
  const running = pipeline.run();
  const api = await startApi({ health: () => pipeline.health() });
  const get = async () => {
    const r = await fetch(`${api.url}/healthz`);
    return { status: r.status, body: await r.json() };
  };
  const until = async (want: number, ms: number) => {
    const end = Date.now() + ms;
    let last = await get();
    while (last.status !== want && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      last = await get();
    }
    return last;
  };
  try {
    assertEquals(await get(), { status: 200, body: { status: "ok" } });
    assertEquals(pipeline.stats().processed, 3);
    // Five events read and never delivered: unhealthy once they waited over a second.
    const t0 = Date.now();
    const stalled = await until(503, 10_000);
    assertEquals(stalled.status, 503, "the stall was not detected within 10 s");
    assert(Date.now() - t0 >= 1000, "reported before the stall timeout");
    assertEquals(stalled.body.status, "unhealthy");
    assertMatch(stalled.body.error, /^stalled: events waiting, none processed for [1-9]\d* s$/);
    // The events arrive: healthy again.
    src.release();
    assertEquals(await until(200, 10_000), { status: 200, body: { status: "ok" } });
    assertEquals(pipeline.stats().processed, 8);
  } finally {
    await src.close();
    await running;
    await api.close();
  }
  // A pipeline whose source ended is unhealthy too.
  const ended = await startApi({ health: () => pipeline.health() });
  try {
    assertEquals((await fetch(`${ended.url}/healthz`)).status, 503);
    assertEquals((await (await fetch(`${ended.url}/healthz`)).json()).error, "event source ended");
  } finally {
    await ended.close();
  }
});

Deno.test("api: no token and a wrong token get 401; the right one gets through", async () => {
  const api = await startApi();
  try {
    for (const path of ["/metrics", "/versions", "/alerts", "/alerts/stream"]) {
      let r = await fetch(`${api.url}${path}`);
      assertEquals(r.status, 401, `${path} without a token`);
      assertStringIncludes(r.headers.get("www-authenticate") ?? "", "Bearer");
      assertEquals((await r.json()).error, "missing bearer token");
      r = await fetch(`${api.url}${path}`, { headers: { authorization: "Bearer nope" } });
      assertEquals(r.status, 401, `${path} with a wrong token`);
      assertEquals((await r.json()).error, "invalid bearer token");
      r = await fetch(`${api.url}${path}`, { headers: { authorization: "Basic abc" } });
      assertEquals(r.status, 401);
      await r.body?.cancel();
    }
    const r = await fetch(`${api.url}/versions`, { headers: auth });
    assertEquals(r.status, 200);
    assertEquals(await r.json(), VERSIONS);
  } finally {
    await api.close();
  }
});

Deno.test("api: oversized request bodies get 413 before they are read", async () => {
  const api = await startApi({ maxBody: 1024 });
  try {
    // Declared length over the limit.
    let r = await fetch(`${api.url}/alerts`, {
      method: "POST",
      headers: auth,
      body: "x".repeat(4096),
    });
    assertEquals(r.status, 413);
    assertEquals(await r.json(), { error: "request body too large", limit_bytes: 1024 });
    // Streamed without a length: cut once it passes the limit.
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode("y".repeat(512)));
        c.close();
      },
    });
    r = await fetch(`${api.url}/alerts`, { method: "POST", headers: auth, body: chunks });
    assertEquals(r.status, 413);
    await r.body?.cancel();
  } finally {
    await api.close();
  }
});

Deno.test("api: /metrics in Prometheus text format", async () => {
  const api = await startApi();
  try {
    api.fanout.publish(alert(1, "Critical", "Shell"));
    const r = await fetch(`${api.url}/metrics`, { headers: auth });
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await r.text();
    assertStringIncludes(text, "# TYPE saker_events_received_total counter\n");
    assertStringIncludes(text, "saker_events_received_total 42\n");
    assertStringIncludes(
      text,
      'saker_alerts_total{rule="Shell",priority="Critical",source="syscall"} 1\n',
    );
    assertStringIncludes(text, 'saker_output_queue_capacity{output="store"} 1000\n');
  } finally {
    await api.close();
  }
});

Deno.test("api: /alerts filters and pages through the store", async () => {
  const api = await startApi();
  try {
    const prios: Priority[] = ["Debug", "Warning", "Critical", "Notice", "Error"];
    for (let i = 0; i < 25; i++) api.fanout.publish(alert(i, prios[i % 5], `R${i % 3}`));
    await api.fanout.flush(5000);
    const get = async (q: string) => {
      const r = await fetch(`${api.url}/alerts?${q}`, { headers: auth });
      assertEquals(r.status, 200, q);
      return await r.json();
    };
    const all = await get("limit=10");
    assertEquals(all.alerts.length, 10);
    assertEquals(all.alerts[0].output_fields["proc.pid"], 24);
    assertEquals(all.alerts[0].hostname, "api-test");
    const ids: number[] = [];
    let next: number | undefined;
    do {
      const page = await get(`limit=7${next ? `&before=${next}` : ""}`);
      ids.push(...page.alerts.map((a: { id: number }) => a.id));
      next = page.next;
    } while (next);
    assertEquals(ids, Array.from({ length: 25 }, (_, i) => 25 - i));
    const crit = await get("priority=error");
    assert(
      crit.alerts.every((a: { priority: string }) => ["Critical", "Error"].includes(a.priority)),
    );
    assertEquals(crit.alerts.length, 10);
    const r1 = await get("rule=R1&priority=critical");
    assertEquals(
      r1.alerts.map((a: { output_fields: Record<string, number> }) => a.output_fields["proc.pid"]),
      [22, 7],
    );
    const since = await get("since=2023-11-14T22:13:40Z");
    assertEquals(since.alerts.length, 5);
    const bad = await fetch(`${api.url}/alerts?priority=loud`, { headers: auth });
    assertEquals(bad.status, 400);
    assertStringIncludes((await bad.json()).error, "priority: 'loud' is not a priority");
    const badLimit = await fetch(`${api.url}/alerts?limit=0`, { headers: auth });
    assertEquals(badLimit.status, 400);
    await badLimit.body?.cancel();
  } finally {
    await api.close();
  }
});

/** Reads SSE events from a response until `n` `alert` events arrived. */
async function readSse(res: Response, n: number): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  if (n <= 0) return events;
  for await (const ev of sseEvents(res)) {
    if (ev.event === "alert") events.push(ev);
    if (events.length >= n) break;
  }
  return events;
}

Deno.test("api: /alerts/stream delivers live alerts matching its filter", async () => {
  const api = await startApi();
  try {
    const res = await fetch(`${api.url}/alerts/stream?priority=warning&rule=Shell`, {
      headers: auth,
    });
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "text/event-stream");
    // Wait for the subscription, then raise alerts: only the matching one is sent.
    while (api.live.size === 0) await new Promise((r) => setTimeout(r, 5));
    const wanted = alert(2, "Critical", "Shell");
    api.fanout.publish(alert(1, "Debug", "Shell"));
    api.fanout.publish(alert(3, "Critical", "Other"));
    api.fanout.publish(wanted);
    const events = await readSse(res, 1);
    assertEquals(events.length, 1);
    const got = JSON.parse(events[0].data);
    assertEquals(got.rule, "Shell");
    assertEquals(got.priority, "Critical");
    assertEquals(got.output, "22:13:22.000000000: Critical alert 2");
    // The client went away: its subscription is dropped.
    for (let i = 0; i < 1000 && api.live.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(api.live.size, 0);
  } finally {
    await api.close();
  }
});

Deno.test("api: served over TLS from one PEM file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-api-tls-" });
  const { ca, combined } = await makeCa(dir);
  const api = await startApi({ tls: combined });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
  try {
    assert(api.url.startsWith("https://"));
    const r = await fetch(`${api.url}/healthz`, { client });
    assertEquals(await r.json(), { status: "ok" });
  } finally {
    client.close();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("api: a webhook source mounts with the same token and body limit", async () => {
  const api = await startApi({ maxBody: 2048 });
  try {
    const received: unknown[] = [];
    const hook = new Hono();
    hook.post("/audit", async (c) => {
      received.push(await c.req.json());
      return c.json({ accepted: true });
    });
    mountSource(api.app, "/k8s", hook);
    const body = JSON.stringify({ kind: "EventList", items: [] });
    let r = await fetch(`${api.url}/k8s/audit`, { method: "POST", body });
    assertEquals(r.status, 401);
    await r.body?.cancel();
    r = await fetch(`${api.url}/k8s/audit`, { method: "POST", body, headers: auth });
    assertEquals(await r.json(), { accepted: true });
    r = await fetch(`${api.url}/k8s/audit`, {
      method: "POST",
      body: "x".repeat(5000),
      headers: auth,
    });
    assertEquals(r.status, 413);
    await r.body?.cancel();
    assertEquals(received, [{ kind: "EventList", items: [] }]);
  } finally {
    await api.close();
  }
});
