/**
 * The dashboard's API and files served for real (Deno.serve on a loopback port): counts over
 * time, top values, one alert, rules, the status summary (checked against /metrics), the token
 * on every data route, the page and its files without it, and the live stream's new filters
 * read with the page's own event parser (web/api.js).
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import type { Alert, Priority } from "../../src/rules/alert.ts";
import type { RuleEntry } from "../../src/rules/ruleset.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFanout } from "../../src/outputs/fanout.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { AlertStore, StoreOutput } from "../../src/outputs/alert_store.ts";
import { createApp } from "../../src/server/app.ts";
import { LiveAlerts } from "../../src/server/live_alerts.ts";
import { serveApi } from "../../src/server/server.ts";
import { RateMeter, STATUS_METRICS } from "../../src/server/status.ts";
import { CONTENT_SECURITY_POLICY, dashboardFiles } from "../../src/server/dashboard.ts";
import { versions } from "../../src/version.ts";
import { webModule } from "../support/web.ts";

const { readEvents } = await webModule("api.js");

const TOKEN = "dash-t0ken";
const auth = { authorization: `Bearer ${TOKEN}` };

const RULES: RuleEntry[] = [
  {
    name: "Shell",
    source: "syscall",
    priority: "Notice",
    tags: ["shell", "T1059.004"],
    description: "a shell",
    enabled: true,
  },
  {
    name: "Read",
    source: "syscall",
    priority: "Warning",
    tags: ["filesystem"],
    description: "a read",
    enabled: true,
  },
  {
    name: "Off",
    source: "syscall",
    priority: "Debug",
    tags: [],
    description: "disabled",
    enabled: false,
  },
];

async function startApi(opts: { dashboard?: boolean } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "saker-dash-api-" });
  const registry = new Registry();
  const store = AlertStore.open({ path: `${dir}/alerts.db`, registry });
  const live = new LiveAlerts(registry, 100);
  const fmt = new AlertFormatter({ hostname: "dash-test", localOffsetMinutes: () => 0 });
  const fanout = new AlertFanout(
    fmt,
    [new OutputQueue(new StoreOutput(store), { capacity: 1000, registry })],
    [live],
    registry,
  );
  registry.counter(STATUS_METRICS.processed, "", ["source"]).labels("syscall").inc(1234);
  registry.counter(STATUS_METRICS.kernelDrops, "", ["cpu"]).labels("0").inc(3);
  registry.counter(STATUS_METRICS.kernelDrops, "", ["cpu"]).labels("1").inc(4);
  registry.gauge(STATUS_METRICS.rulesLoaded, "").set(2);
  registry.gauge(STATUS_METRICS.lastReloadTime, "").set(1_700_000_000);
  registry.gauge(STATUS_METRICS.lastReloadSuccess, "").set(0);
  registry.counter(STATUS_METRICS.reloads, "", ["result"]).labels("rejected").inc();
  const app = createApp({
    health: () => ({ ok: true }),
    versions,
    registry,
    store,
    live,
    authToken: TOKEN,
    maxBodyBytes: 1024,
    keepAliveSeconds: 1,
    rules: () => RULES,
    lastReload: () => ({ reason: "SIGHUP", error: "rules: x.yaml:3:1: bad" }),
    dashboard: opts.dashboard,
  });
  const server = await serveApi(app, { hostname: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    fanout,
    live,
    registry,
    async close() {
      live.closeAll();
      await server.shutdown();
      await fanout.close(1000);
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const NOW_NS = BigInt(Date.now()) * 1_000_000n + 123n;
const MIN = 60_000_000_000n;

function alert(i: number, rule: string, priority: Priority, container?: string): Alert {
  return {
    // i minutes ago, inside the last hour.
    time: NOW_NS - BigInt(i) * MIN,
    rule,
    priority,
    source: "syscall",
    tags: RULES.find((r) => r.name === rule)?.tags ?? [],
    output: `alert ${i} in ${container ?? "host"}`,
    outputFields: {
      "proc.name": i % 2 ? "bash" : "cat",
      "proc.pid": 100 + i,
      "container.name": container ?? "host",
    },
  };
}

async function get(url: string, headers: Record<string, string> = auth) {
  const r = await fetch(url, { headers });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text), headers: r.headers };
}

Deno.test("dashboard api: every data route needs the token; the page and its files do not", async () => {
  const api = await startApi();
  try {
    for (
      const path of ["/alerts/counts", "/alerts/top", "/alerts/1", "/rules", "/status"]
    ) {
      assertEquals((await get(`${api.url}${path}`, {})).status, 401, path);
      const wrong = await get(`${api.url}${path}`, { authorization: "Bearer nope" });
      assertEquals(wrong.status, 401, path);
    }
    const page = await get(`${api.url}/`, {});
    assertEquals(page.status, 200);
    assertStringIncludes(page.text, '<script type="module" src="/ui/app.js">');
    assertEquals(page.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    for (const name of dashboardFiles().filter((n) => n !== "index.html")) {
      const r = await get(`${api.url}/ui/${name}`, {});
      assertEquals(r.status, 200, name);
      assertEquals(r.headers.get("x-content-type-options"), "nosniff");
    }
    assertEquals(
      (await get(`${api.url}/ui/app.js`, {})).headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    // Nothing outside the web assets, however the path is spelt.
    for (const p of ["/ui/../deno.json", "/ui/%2e%2e/deno.json", "/ui/nope.js", "/ui/"]) {
      const r = await get(`${api.url}${p}`, {});
      assert(r.status === 404 || r.status === 401, `${p}: ${r.status}`);
      assert(!r.text.includes("nodeModulesDir"), p);
    }
    // Data stays guarded even under the page's prefix-free paths.
    assertEquals((await get(`${api.url}/alerts`, {})).status, 401);
    assertEquals((await get(`${api.url}/ui`, {})).status, 401);
  } finally {
    await api.close();
  }
});

Deno.test("dashboard api: with the dashboard off, / is an ordinary guarded path", async () => {
  const api = await startApi({ dashboard: false });
  try {
    assertEquals((await get(`${api.url}/`, {})).status, 401);
    assertEquals((await get(`${api.url}/ui/app.js`, {})).status, 401);
    assertEquals((await get(`${api.url}/`)).status, 404);
    assertEquals((await get(`${api.url}/status`)).status, 200);
  } finally {
    await api.close();
  }
});

Deno.test("dashboard api: counts over time, top values and one alert from the store", async () => {
  const api = await startApi();
  try {
    // 12 alerts over the last 12 minutes.
    for (let i = 0; i < 12; i++) {
      api.fanout.publish(
        alert(i, i % 3 ? "Shell" : "Read", i % 4 ? "Notice" : "Critical", i % 2 ? "web" : "db"),
      );
    }
    await api.fanout.flush(5000);
    const since = new Date(Number((NOW_NS - 20n * MIN) / 1_000_000n)).toISOString();
    const until = new Date(Number((NOW_NS + MIN) / 1_000_000n)).toISOString();
    const c = (await get(`${api.url}/alerts/counts?since=${since}&until=${until}&step=1m`))
      .json();
    assertEquals(c.step_seconds, 60);
    assertEquals(c.series[0].counts.length, 21);
    assertEquals(c.total, 12);
    const byKey = Object.fromEntries(
      c.series.map((s: { key: string; total: number }) => [s.key, s.total]),
    );
    assertEquals(byKey, { Notice: 9, Critical: 3 });
    // The same numbers as /alerts with the same filter.
    const listed = (await get(`${api.url}/alerts?since=${since}&limit=1000`)).json().alerts;
    assertEquals(listed.length, c.total);
    assertEquals(
      listed.filter((a: { priority: string }) => a.priority === "Critical").length,
      byKey.Critical,
    );
    const byRule = (
      await get(`${api.url}/alerts/counts?since=${since}&until=${until}&step=5m&by=rule&series=1`)
    ).json();
    assertEquals(byRule.series.map((s: { key: string }) => s.key), ["Shell"]);
    assertEquals(byRule.series[0].total, 8);
    assertEquals(byRule.other.total, 4);
    assertEquals(byRule.other.keys, 1);
    const filtered = (await get(`${api.url}/alerts/counts?since=1h&container=web&process=bash`))
      .json();
    assertEquals(filtered.total, 6);
    assertEquals(filtered.series[0].counts.length, 60);

    const top = (await get(`${api.url}/alerts/top?by=container&since=1h`)).json();
    assertEquals(top, {
      by: "container",
      total: 12,
      entries: [{ value: "db", count: 6 }, { value: "web", count: 6 }],
    });
    const topRules = (await get(`${api.url}/alerts/top?limit=1&priority=critical`)).json();
    assertEquals(topRules.entries, [{ value: "Shell", count: 2 }]);

    const first = listed[listed.length - 1];
    const one = await get(`${api.url}/alerts/${first.id}`);
    assertEquals(one.status, 200);
    assertEquals(one.json(), first);
    // Nanosecond integers stay exact in the text.
    assertStringIncludes(one.text, `"evt.time":${NOW_NS}`);
    assertEquals((await get(`${api.url}/alerts/999999`)).status, 404);

    for (
      const [q, msg] of [
        ["by=colour", "by: 'colour' is not one of priority, rule, source, hostname"],
        ["step=0s", "step: '0s' is not a duration"],
        ["since=7d&step=1s", "step: makes 604800 buckets; at most 1000"],
        ["since=1h&until=2h", "since: must be before until"],
        ["series=0", "series: expected an integer from 1 to 50"],
      ]
    ) {
      const r = await get(`${api.url}/alerts/counts?${q}`);
      assertEquals(r.status, 400, q);
      assertStringIncludes(r.json().error, msg);
    }
    const badTop = await get(`${api.url}/alerts/top?limit=5000`);
    assertEquals(badTop.status, 400);
  } finally {
    await api.close();
  }
});

Deno.test("dashboard api: /rules lists every rule with its alerts", async () => {
  const api = await startApi();
  try {
    for (let i = 0; i < 5; i++) api.fanout.publish(alert(i, "Shell", "Notice"));
    api.fanout.publish(alert(9, "Read", "Warning"));
    await api.fanout.flush(5000);
    const { rules } = (await get(`${api.url}/rules`)).json();
    assertEquals(rules, [
      {
        name: "Shell",
        source: "syscall",
        priority: "Notice",
        tags: ["shell", "T1059.004"],
        enabled: true,
        description: "a shell",
        alerts: 5,
        alerts_since_start: 5,
      },
      {
        name: "Read",
        source: "syscall",
        priority: "Warning",
        tags: ["filesystem"],
        enabled: true,
        description: "a read",
        alerts: 1,
        alerts_since_start: 1,
      },
      {
        name: "Off",
        source: "syscall",
        priority: "Debug",
        tags: [],
        enabled: false,
        description: "disabled",
        alerts: 0,
        alerts_since_start: 0,
      },
    ]);
  } finally {
    await api.close();
  }
});

/** Prometheus text → value of `name` with these labels (summed over the rest). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

Deno.test("dashboard api: /status reads the same numbers as /metrics", async () => {
  const api = await startApi();
  try {
    for (let i = 0; i < 3; i++) api.fanout.publish(alert(i, "Read", "Warning"));
    api.fanout.publish(alert(5, "Shell", "Notice"));
    await api.fanout.flush(5000);
    const st = (await get(`${api.url}/status`)).json();
    const text = (await get(`${api.url}/metrics`)).text;
    const M = STATUS_METRICS;
    assertEquals(st.health, { ok: true });
    assertEquals(st.events.processed, metric(text, M.processed));
    assertEquals(st.events.processed, 1234);
    assertEquals(st.events.per_second, null);
    assertEquals(st.events.kernel_drops, metric(text, M.kernelDrops));
    assertEquals(st.events.kernel_drops_by_cpu, { "0": 3, "1": 4 });
    assertEquals(st.alerts.total, metric(text, M.alerts));
    assertEquals(st.alerts.total, 4);
    assertEquals(st.alerts.by_priority, {
      Warning: metric(text, M.alerts, { priority: "Warning" }),
      Notice: 1,
    });
    assertEquals(st.alerts.stored, metric(text, M.stored));
    assertEquals(st.outputs, [{
      name: "store",
      queue_depth: metric(text, M.queueDepth, { output: "store" }),
      queue_capacity: 1000,
      sent: metric(text, M.sent, { output: "store" }),
      failed: 0,
      dropped: 0,
      retries: 0,
    }]);
    assertEquals(st.outputs[0].sent, 4);
    assertEquals(st.rules, {
      loaded: 2,
      reloads: { rejected: 1 },
      last_reload: {
        time: "2023-11-14T22:13:20.000Z",
        result: "rejected",
        reason: "SIGHUP",
        error: "rules: x.yaml:3:1: bad",
      },
    });
  } finally {
    await api.close();
  }
});

Deno.test("dashboard api: the rate meter measures over its window", () => {
  const m = new RateMeter(10_000);
  assertEquals(m.rate(0, 0), undefined);
  assertEquals(m.rate(500, 500), undefined);
  assertEquals(m.rate(1000, 1000), 1000);
  assertEquals(m.rate(3000, 2000), 1500);
  // Readings older than the window go, keeping the newest one at least a window old.
  m.rate(20_000, 11_000);
  assertEquals(m.rate(30_000, 21_000), 1000);
  assertEquals(m.rate(30_000, 31_000), 0);
});

Deno.test("dashboard api: the live stream filters by container, process and text", async () => {
  const api = await startApi();
  const controller = new AbortController();
  try {
    const res = await fetch(
      `${api.url}/alerts/stream?container=web&process=bash&q=ALERT%207`,
      { headers: auth, signal: controller.signal },
    );
    assertEquals(res.status, 200);
    while (api.live.size === 0) await new Promise((r) => setTimeout(r, 5));
    const got: string[] = [];
    const reading = readEvents(res.body!, (event: string, data: string) => {
      if (event === "alert") got.push(JSON.parse(data).output);
      if (got.length === 1) controller.abort();
    }).catch(() => {});
    api.fanout.publish(alert(5, "Shell", "Notice", "web")); // text differs
    api.fanout.publish(alert(7, "Shell", "Notice", "db")); // container differs
    api.fanout.publish(alert(8, "Shell", "Notice", "web")); // process differs (cat)
    api.fanout.publish(alert(7, "Shell", "Notice", "web"));
    await reading;
    assertEquals(got.length, 1);
    assertStringIncludes(got[0], "alert 7 in web");
  } finally {
    controller.abort();
    await api.close();
  }
});
