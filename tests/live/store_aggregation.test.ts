/**
 * The alert store under aggregation, with real database files: the fan-out's first alerts,
 * window summaries and rate-limit summaries stored as sent, every occurrence accounted for (the
 * sum of `count`), the chain heads' totals, both views of /alerts, and a store of the earlier
 * schema opened and extended in place.
 */
import { FormattedAlert } from "../../src/outputs/output.ts";
import { assert, assertEquals } from "../support/assert.ts";
import type { AggregationSettings, Alert } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { AlertStore, storedAlertJson, StoreOutput } from "../../src/outputs/alert_store.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { AlertFanout } from "../../src/outputs/fanout.ts";
import { AlertAggregator } from "../../src/outputs/aggregator.ts";
import { DatabaseSync } from "node:sqlite";

const T0 = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;
const SETTINGS: AggregationSettings = { key: ["fd.name"], windowMs: 1000, maxWindowMs: 3000 };

function mk(i: number, file: string, rule = "Shadow read", grouped = true): Alert {
  const a: Alert = {
    time: T0 + BigInt(i) * MS,
    rule,
    priority: "Warning",
    source: "syscall",
    tags: ["filesystem"],
    output: `read ${file} pid=${i}`,
    outputFields: { "fd.name": file, "proc.pid": i },
  };
  if (grouped) a.grouping = { settings: SETTINGS, values: [file] };
  return a;
}

async function withStore(f: (store: AlertStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saker-store-agg-" });
  const store = AlertStore.open({ path: `${dir}/alerts.db`, registry: new Registry() });
  try {
    await f(store, dir);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("store: every occurrence accounted for; each view and the chain heads", async () => {
  await withStore(async (store) => {
    const reg = new Registry();
    let now = 0;
    const fanout = new AlertFanout(
      new AlertFormatter({ hostname: "n1", localOffsetMinutes: () => 0 }),
      [
        new OutputQueue(new StoreOutput(store, { closeStore: false }), {
          capacity: 100,
          registry: reg,
        }),
      ],
      [],
      reg,
      {
        aggregator: new AlertAggregator({ samples: 3, maxKeys: 100 }),
        now: () => now,
        timer: false,
      },
    );
    // 5000 reads of /etc/shadow over 5 s (a summary at the 3 s cap, then one at the end), one
    // read of /etc/gshadow, and three alerts of a rule that does not aggregate.
    for (let i = 0; i < 5000; i++) {
      now = i;
      fanout.tick(now);
      fanout.publish(mk(i, "/etc/shadow"));
      if (i === 2500) fanout.publish(mk(i, "/etc/gshadow"));
      if (i % 2000 === 0) fanout.publish(mk(i, "/tmp/x", "Plain", false));
    }
    now = 10_000;
    fanout.tick(now);
    await fanout.flush();

    assertEquals(store.occurrences({ rules: ["Shadow read"] }), 5001, "every occurrence");
    assertEquals(store.occurrences({ rules: ["Plain"] }), 3);
    // Rows: the first alert, the cap's summary, the last summary; gshadow; the three plain ones.
    assertEquals(store.count(), 3 + 1 + 3);

    const each = store.query({}, { limit: 100 }).alerts;
    const shadow = each.filter((a) =>
      a.rule === "Shadow read" && a.outputFieldsJson.includes("/etc/shadow")
    );
    assertEquals(shadow.map((a) => a.count).reverse(), [1, 2999, 2000]);
    const sum = JSON.parse(storedAlertJson(shadow[0]));
    assertEquals(sum.aggregate.count, 2000);
    assertEquals(sum.aggregate.key, { "fd.name": "/etc/shadow" });
    assertEquals(sum.output_fields["proc.pid"], 4999, "the last occurrence, in full");
    assert(sum.output.endsWith("(2000 more like this in 2s)"), sum.output);
    assertEquals(sum.occurrences, undefined, "the each view lists rows as sent");
    const first = JSON.parse(storedAlertJson(shadow[2]));
    assertEquals(first.output_fields["proc.pid"], 0, "the first occurrence, in full");
    assertEquals(first.aggregate, undefined);

    const agg = store.query({}, { limit: 100, view: "aggregated" }).alerts;
    assertEquals(agg.length, 1 + 1 + 3, "one entry per key and chain; plain alerts as they are");
    const head = agg.find((a) =>
      a.rule === "Shadow read" && a.outputFieldsJson.includes("/etc/shadow")
    )!;
    const headJson = JSON.parse(storedAlertJson(head));
    assertEquals(headJson.occurrences, 5000);
    assertEquals(headJson.first_time, "2023-11-14T22:13:20.000000000Z");
    assertEquals(headJson.last_time, "2023-11-14T22:13:24.999000000Z");
    assertEquals(headJson.output_fields["proc.pid"], 0);
    const gshadow = JSON.parse(
      storedAlertJson(agg.find((a) => a.outputFieldsJson.includes("/etc/gshadow"))!),
    );
    assertEquals(gshadow.occurrences, undefined, "a single occurrence looks as sent");
    // Filters work on both views.
    assertEquals(store.query({ rules: ["Plain"] }, { view: "aggregated" }).alerts.length, 3);
    await fanout.close();
  });
});

Deno.test("store: a summary whose first alert was never stored heads its chain", async () => {
  await withStore((store) => {
    const fmt = new AlertFormatter({ hostname: "n1" });
    const summary: Alert = {
      ...mk(9, "/etc/shadow"),
      grouping: undefined,
      aggregate: {
        count: 7,
        first: T0,
        last: T0 + 9n * MS,
        since: T0,
        reason: "window",
        samples: {},
        group: "lost-head",
      },
    };
    const limited: Alert = {
      ...mk(10, "/tmp/y", "Plain", false),
      aggregate: {
        count: 40,
        first: T0,
        last: T0 + 10n * MS,
        since: T0,
        reason: "rate_limit",
        samples: {},
        output: "store",
      },
    };
    new StoreOutput(store).write([summary, limited].map((a) => new FormattedAlert(a, fmt)));
    const agg = store.query({}, { view: "aggregated" }).alerts.map((a) =>
      JSON.parse(storedAlertJson(a))
    );
    assertEquals(agg.map((a) => a.occurrences), [40, 7]);
    assertEquals(agg.map((a) => a.aggregate.reason), ["rate_limit", "window"]);
    assertEquals(store.occurrences(), 47);
    return Promise.resolve();
  });
});

Deno.test("store: a store of the earlier schema is extended in place, its rows counted once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-store-v1-" });
  try {
    const db = new DatabaseSync(`${dir}/alerts.db`);
    db.exec(`CREATE TABLE alerts (
      id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, rule TEXT NOT NULL,
      priority INTEGER NOT NULL, source TEXT NOT NULL, hostname TEXT NOT NULL, tags TEXT NOT NULL,
      output TEXT NOT NULL, output_fields TEXT NOT NULL);
      PRAGMA user_version=1;`);
    db.prepare(
      `INSERT INTO alerts (time, rule, priority, source, hostname, tags, output, output_fields)
       VALUES (?, 'Old', 4, 'syscall', 'h', '[]', 'old alert', '{}')`,
    ).run(T0);
    db.close();
    const store = AlertStore.open({ path: `${dir}/alerts.db`, registry: new Registry() });
    try {
      assertEquals(store.occurrences(), 1);
      const [old] = store.query({}, { view: "aggregated" }).alerts;
      assertEquals([old.rule, old.count, old.firstTime], ["Old", 1, T0]);
      assertEquals(JSON.parse(storedAlertJson(old)).occurrences, undefined);
    } finally {
      store.close();
    }
    const check = new DatabaseSync(`${dir}/alerts.db`);
    const v = check.prepare("PRAGMA user_version").get() as { user_version: number };
    const columns = (check.prepare("PRAGMA table_info(alerts)").all() as { name: string }[])
      .map((c) => c.name);
    check.close();
    assertEquals(Number(v.user_version), 4);
    assert(columns.includes("response"), "the response actions' column is added");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
