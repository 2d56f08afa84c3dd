/**
 * The alert store's schema upgrades, on real database files written the way each earlier schema
 * wrote them: version 1 (the first columns), 2 (aggregation), 3 (the collector's `alert_id`,
 * unique). Opening one upgrades it in place to the current version: the old rows read back
 * unchanged, a redelivered alert id is still recognised, and new alerts carry their response
 * actions' outcomes. A store newer than this Saker is refused with the file named.
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { AlertStore, storedAlertJson } from "../../src/outputs/alert_store.ts";
import { DatabaseSync } from "node:sqlite";

const T0 = 1_700_000_000_000_000_000n;

const V1 = `CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, rule TEXT NOT NULL,
  priority INTEGER NOT NULL, source TEXT NOT NULL, hostname TEXT NOT NULL, tags TEXT NOT NULL,
  output TEXT NOT NULL, output_fields TEXT NOT NULL);
CREATE INDEX alerts_time ON alerts(time);
CREATE INDEX alerts_rule ON alerts(rule, id);
CREATE INDEX alerts_priority ON alerts(priority, id);`;

const V2 = V1 + `
ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN first_time INTEGER;
ALTER TABLE alerts ADD COLUMN aggregate TEXT;
ALTER TABLE alerts ADD COLUMN group_key TEXT;
ALTER TABLE alerts ADD COLUMN head INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN total INTEGER;
ALTER TABLE alerts ADD COLUMN last_time INTEGER;
CREATE INDEX alerts_group ON alerts(group_key) WHERE group_key IS NOT NULL;`;

const V3 = V2 + `
ALTER TABLE alerts ADD COLUMN alert_id TEXT;
CREATE UNIQUE INDEX alerts_alert_id ON alerts(alert_id) WHERE alert_id IS NOT NULL;`;

/** Writes a store of schema `version` with one alert in it, as that version did. */
function oldStore(path: string, version: 1 | 2 | 3): void {
  const db = new DatabaseSync(path);
  db.exec(({ 1: V1, 2: V2, 3: V3 })[version]);
  db.exec(`PRAGMA user_version=${version}`);
  const cols = [
    "time",
    "rule",
    "priority",
    "source",
    "hostname",
    "tags",
    "output",
    "output_fields",
  ];
  const vals: (string | number | bigint)[] = [
    T0,
    "Old",
    4,
    "syscall",
    "h",
    '["old"]',
    "old alert",
    '{"proc.name":"cat"}',
  ];
  if (version >= 2) cols.push("count", "first_time"), vals.push(1, T0);
  if (version >= 3) cols.push("alert_id"), vals.push("node-a/1");
  db.prepare(`INSERT INTO alerts (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
    .run(...vals);
  db.close();
}

function columnsAndVersion(path: string): { columns: string[]; version: number } {
  const db = new DatabaseSync(path);
  try {
    const columns = (db.prepare("PRAGMA table_info(alerts)").all() as { name: string }[])
      .map((c) => c.name);
    const v = db.prepare("PRAGMA user_version").get() as { user_version: number };
    return { columns, version: Number(v.user_version) };
  } finally {
    db.close();
  }
}

const acted: Alert = {
  time: T0 + 1_000_000n,
  rule: "Marker opened",
  priority: "Critical",
  source: "syscall",
  tags: ["response"],
  output: "marker opened by opener",
  outputFields: { "proc.pid": 4242 },
  response: {
    rule: { actions: [{ kind: "kill" }] },
    target: {
      pid: 4242,
      name: "opener",
      exepath: "/tmp/opener",
      user: "root",
      uid: 0,
      containerId: "",
      image: "",
    },
    outcomes: [{ action: "kill", mode: "enforce", result: "done", pid: 4242, container: "" }],
  },
};

for (const version of [1, 2, 3] as const) {
  Deno.test(`store schema: a version ${version} file is upgraded in place to the current one`, async () => {
    const dir = await Deno.makeTempDir({ prefix: `saker-store-v${version}-` });
    const path = `${dir}/alerts.db`;
    try {
      oldStore(path, version);
      const store = AlertStore.open({ path, registry: new Registry() });
      try {
        const [old] = store.query({}, {}).alerts;
        assertEquals([old.rule, old.output, old.count, old.firstTime], ["Old", "old alert", 1, T0]);
        assertEquals(JSON.parse(storedAlertJson(old)).response, undefined);
        assertEquals(store.hasAlertId("node-a/1"), version >= 3, "a received id survives");
        const fmt = new AlertFormatter({ hostname: "n1", localOffsetMinutes: () => 0 });
        assertEquals(store.insert([new FormattedAlert(acted, fmt)]), 1);
        const rows = store.query({ rules: ["Marker opened"] }, {}).alerts;
        assertEquals(rows.length, 1);
        assertEquals(JSON.parse(storedAlertJson(rows[0])).response, [
          { action: "kill", container: "", mode: "enforce", pid: 4242, result: "done" },
        ]);
        assertEquals(store.occurrences(), 2);
      } finally {
        store.close();
      }
      const after = columnsAndVersion(path);
      assertEquals(after.version, 4);
      for (const c of ["count", "group_key", "alert_id", "response"]) {
        assert(after.columns.includes(c), `column ${c} after the upgrade`);
      }
      // Opening again changes nothing: the upgrade is idempotent.
      AlertStore.open({ path, registry: new Registry() }).close();
      assertEquals(columnsAndVersion(path), after);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("store schema: a store newer than this Saker is refused, the file named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-store-v5-" });
  const path = `${dir}/alerts.db`;
  try {
    oldStore(path, 3);
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version=5");
    db.close();
    assertThrows(
      () => AlertStore.open({ path, registry: new Registry() }),
      `${path}: alert store schema version 5 is newer than this Saker (4)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
