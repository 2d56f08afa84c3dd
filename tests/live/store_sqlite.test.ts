/** The SQLite alert store with real database files: queries, pagination, retention, kill -9. */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import type { Alert, Priority } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { parseAlertFilter } from "../../src/outputs/alert_filter.ts";
import {
  alertPageJson,
  AlertStore,
  storedAlertJson,
  storedToAlert,
} from "../../src/outputs/alert_store.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { DatabaseSync } from "node:sqlite";

const fmt = new AlertFormatter({ hostname: "node-7", localOffsetMinutes: () => 0 });
const T0 = 1_700_000_000_000_000_000n;
const SEC = 1_000_000_000n;

function mk(i: number, rule: string, priority: Priority, source = "syscall", tags = ["a"]): Alert {
  return {
    time: T0 + BigInt(i) * SEC + 123n,
    rule,
    priority,
    source,
    tags,
    output: `event ${i}`,
    outputFields: { "proc.pid": i, "proc.name": i % 2 ? "sh" : null },
  };
}

function fa(a: Alert): FormattedAlert {
  return new FormattedAlert(a, fmt);
}

async function withStore(
  f: (dir: string, open: (o?: object) => AlertStore) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saker-store-" });
  const opened: AlertStore[] = [];
  try {
    await f(dir, (o = {}) => {
      const s = AlertStore.open({ path: `${dir}/sub/alerts.db`, registry: new Registry(), ...o });
      opened.push(s);
      return s;
    });
  } finally {
    for (const s of opened) s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const SAMPLE: Alert[] = [
  mk(0, "Shell in container", "Warning", "syscall", ["container", "shell"]),
  mk(1, "Read sensitive file", "Error", "syscall", ["filesystem"]),
  mk(2, "Shell in container", "Notice", "syscall", ["container"]),
  mk(3, "K8s secret read", "Critical", "k8s_audit", ["k8s"]),
  mk(4, "Read sensitive file", "Debug", "syscall", ["filesystem"]),
];

Deno.test("store: alerts round-trip in Falco's JSON shape with exact times", async () => {
  await withStore((_dir, open) => {
    const s = open();
    s.insert(SAMPLE.map(fa));
    const page = s.query();
    assertEquals(page.alerts.length, 5);
    assertEquals(page.alerts.map((a) => a.id), [5, 4, 3, 2, 1]);
    const newest = page.alerts[0];
    const expected = JSON.parse(fa(SAMPLE[4]).json);
    assertEquals(JSON.parse(storedAlertJson(newest)), { ...expected, id: 5 });
    assert(storedAlertJson(newest).includes(`"evt.time":${SAMPLE[4].time}`));
    assertEquals(storedToAlert(newest).time, SAMPLE[4].time);
    assertEquals(s.size, 5);
  });
});

Deno.test("store: filters by time, rule, priority, source and tag", async () => {
  await withStore((_dir, open) => {
    const s = open();
    s.insert(SAMPLE.map(fa));
    const rules = (q: string) =>
      s.query(parseAlertFilter(new URLSearchParams(q))).alerts.map((a) =>
        Number(a.output.slice(-1))
      )
        .reverse();
    assertEquals(rules("rule=Shell in container"), [0, 2]);
    assertEquals(rules("rule=Shell in container&rule=K8s secret read"), [0, 2, 3]);
    assertEquals(rules("priority=error"), [1, 3]);
    assertEquals(rules("priority=notice"), [0, 1, 2, 3]);
    assertEquals(rules("source=k8s_audit"), [3]);
    assertEquals(rules("tag=container"), [0, 2]);
    assertEquals(rules("tag=container,shell"), [0]);
    const t1 = (T0 + SEC).toString();
    const t3 = (T0 + 3n * SEC).toString();
    assertEquals(rules(`since=${t1}&until=${t3}`), [1, 2]);
    assertEquals(rules("since=2023-11-14T22:13:22Z"), [2, 3, 4]);
    assertEquals(s.count(parseAlertFilter(new URLSearchParams("priority=warning"))), 3);
  });
});

Deno.test("store: pagination visits every alert once, newest first", async () => {
  await withStore((_dir, open) => {
    const s = open();
    const all = Array.from({ length: 23 }, (_, i) => mk(i, "R", "Warning"));
    s.insert(all.map(fa));
    const seen: number[] = [];
    let before: number | undefined;
    let pages = 0;
    do {
      const p = s.query({}, { limit: 10, before });
      seen.push(...p.alerts.map((a) => a.id));
      before = p.next;
      pages++;
      const parsed = JSON.parse(alertPageJson(p));
      assertEquals(parsed.alerts.length, p.alerts.length);
      assertEquals(parsed.next, p.next);
    } while (before !== undefined);
    assertEquals(pages, 3);
    assertEquals(seen, Array.from({ length: 23 }, (_, i) => 23 - i));
  });
});

Deno.test("store: retention by count and by age", async () => {
  await withStore((_dir, open) => {
    const s = open({ maxAlerts: 10 });
    s.insert(Array.from({ length: 25 }, (_, i) => fa(mk(i, "R", "Warning"))));
    assertEquals(s.applyRetention(), 15);
    assertEquals(s.count(), 10);
    assertEquals(s.size, 10);
    assert(s.query({}, { limit: 100 }).alerts.at(-1)?.output.endsWith(": Warning event 15"));
    s.close();
    // Age: retention runs when the store opens, and again as alerts come in.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const hour = 3600n * SEC;
    const plain = open();
    plain.insert(
      [72n, 2n, 0n].map((h, i) => fa({ ...mk(i, "R", "Warning"), time: nowNs - h * hour })),
    );
    plain.close();
    const aged = open({ maxAgeSeconds: 86400 });
    assertEquals(aged.count(), 2); // at open, everything older than a day went
    assertEquals(aged.applyRetention(Date.now() + 23 * 3600_000), 1); // then the 2-hour-old one
    assertEquals(aged.count(), 1);
  });
});

Deno.test("store: alerts survive a restart", async () => {
  await withStore((_dir, open) => {
    const s = open();
    s.insert(SAMPLE.map(fa));
    s.close();
    const again = open();
    assertEquals(again.count(), 5);
    again.insert([fa(mk(9, "R", "Alert"))]);
    assertEquals(again.query({}, { limit: 1 }).alerts[0].id, 6);
  });
});

Deno.test("store: committed alerts survive kill -9 of the writer", async () => {
  await withStore(async (dir, open) => {
    const path = `${dir}/sub/alerts.db`;
    const script = `${dir}/writer.ts`;
    await Deno.writeTextFile(
      script,
      `
import { AlertStore } from "${REPO_ROOT}src/outputs/alert_store.ts";
import { AlertFormatter } from "${REPO_ROOT}src/outputs/format.ts";
import { FormattedAlert } from "${REPO_ROOT}src/outputs/output.ts";
const fmt = new AlertFormatter({ hostname: "h" });
const s = AlertStore.open({ path: ${JSON.stringify(path)} });
let n = 0;
const enc = new TextEncoder();
while (true) {
  const batch = [];
  for (let i = 0; i < 50; i++) {
    batch.push(new FormattedAlert({ time: BigInt(++n), rule: "R", priority: "Warning",
      source: "syscall", tags: [], output: "x".repeat(200), outputFields: { n } }, fmt));
  }
  s.insert(batch);
  Deno.stdout.writeSync(enc.encode(n + "\\n"));
}
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", script],
      stdout: "piped",
      stderr: "inherit",
      cwd: REPO_ROOT,
    }).spawn();
    let committed = 0;
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (committed < 20_000) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      if (lines.length) committed = Number(lines.at(-1));
    }
    Deno.kill(child.pid, "SIGKILL");
    const status = await child.status;
    assertEquals(status.signal, "SIGKILL");
    await reader.cancel().catch(() => {});
    assert(committed >= 20_000, `writer committed ${committed}`);
    // The database opens cleanly and holds at least every batch the writer reported.
    const db = new DatabaseSync(path);
    assertEquals({ ...db.prepare("PRAGMA integrity_check").get() }, { integrity_check: "ok" });
    db.close();
    const s = open();
    const n = s.count();
    assert(n >= committed, `${n} stored, ${committed} reported committed`);
    assertEquals(n % 50, 0); // whole batches only: a transaction is all or nothing
  });
});
