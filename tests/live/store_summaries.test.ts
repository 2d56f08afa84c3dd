/**
 * The alert store's filters and summaries on a real SQLite file: one case table of filters run
 * through the SQL the store builds and through the in-memory matcher of live subscriptions (they
 * must agree), counts per time bucket and group, top values, one alert by id.
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import type { Alert, Priority } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FilterError, matchesFilter, parseAlertFilter } from "../../src/outputs/alert_filter.ts";
import { outputField, whereClause } from "../../src/outputs/alert_sql.ts";
import { AlertStore, storedAlertJson } from "../../src/outputs/alert_store.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";

const fmt = new AlertFormatter({ hostname: "node-3", localOffsetMinutes: () => 0 });
const T0 = 1_700_000_000_000_000_000n;
const SEC = 1_000_000_000n;

function mk(
  i: number,
  rule: string,
  priority: Priority,
  fields: Record<string, string | number | null>,
  extra: Partial<Alert> = {},
): Alert {
  return {
    time: T0 + BigInt(i) * 60n * SEC,
    rule,
    priority,
    source: "syscall",
    tags: ["t"],
    output: `event ${i} 100%_done`,
    outputFields: fields,
    ...extra,
  };
}

const SAMPLE: Alert[] = [
  mk(0, "Shell in container", "Warning", {
    "container.name": "web",
    "container.id": "aaa111",
    "proc.name": "bash",
  }),
  mk(1, "Read sensitive file", "Error", {
    "container.name": "host",
    "container.id": "host",
    "proc.name": "cat",
  }),
  mk(2, "Shell in container", "Notice", {
    "container.name": "db",
    "container.id": "bbb222",
    "proc.name": "sh",
  }, { tags: ["t", "shell"] }),
  mk(3, "K8s secret read", "Critical", {}, { source: "k8s_audit", output: "Secret GET by ALICE" }),
  mk(4, "Read sensitive file", "Debug", {
    "container.name": null,
    "container.id": "ccc333",
    "proc.name": "cat",
  }),
  mk(5, "Write below etc", "Warning", { "proc.name": "tee", "container.name": "web" }),
];

/** Filter → indices of SAMPLE it keeps. */
const CASES: [string, number[]][] = [
  ["", [0, 1, 2, 3, 4, 5]],
  ["priority=warning", [0, 1, 3, 5]],
  ["rule=Shell in container", [0, 2]],
  ["source=k8s_audit", [3]],
  ["tag=shell", [2]],
  ["container=web", [0, 5]],
  ["container=web,db", [0, 2, 5]],
  ["container=ccc333", [4]],
  ["container=host", [1]],
  ["process=cat", [1, 4]],
  ["process=cat&container=host", [1]],
  ["process=bash&process=sh", [0, 2]],
  ["q=secret", [3]],
  ["q=alice", [3]],
  ["q=READ", [1, 3, 4]],
  ["q=100%_", [0, 1, 2, 4, 5]],
  ["q=1%", []],
  ["q=e_e", []],
  ["q=_d", [0, 1, 2, 4, 5]],
  ["q=event 2", [2]],
  ["q=Warning event", [0, 5]],
  ["priority=error&q=file", [1]],
  ["hostname=node-3", [0, 1, 2, 3, 4, 5]],
  ["hostname=node-1,node-3&process=cat", [1, 4]],
  ["hostname=node-1", []],
];

async function withStore(f: (s: AlertStore) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "saker-summaries-" });
  const s = AlertStore.open({ path: `${dir}/alerts.db`, registry: new Registry() });
  try {
    s.insert(SAMPLE.map((a) => new FormattedAlert(a, fmt)));
    await f(s);
  } finally {
    s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("store: every filter keeps the same alerts in SQL and in live matching", async () => {
  await withStore((s) => {
    for (const [q, want] of CASES) {
      const f = parseAlertFilter(new URLSearchParams(q));
      const stored = s.query(f).alerts.map((a) => a.id - 1).reverse();
      assertEquals(stored, want, `store: ${q}`);
      assertEquals(s.count(f), want.length, `count: ${q}`);
      const live = SAMPLE.flatMap((a, i) => {
        const fa = new FormattedAlert(a, fmt);
        return matchesFilter(a, f, () => fa.formatter.fullOutput(a), fa.hostname) ? [i] : [];
      });
      assertEquals(live, want, `live: ${q}`);
    }
  });
});

Deno.test("store: counts per time bucket and group; top values; one alert by id", async () => {
  await withStore((s) => {
    const step = 120n * SEC;
    const byPrio = s.counts({}, "priority", T0, step, 4);
    assertEquals(byPrio.total, 6);
    assertEquals(byPrio.series.map((x) => [x.key, x.counts]), [
      ["Warning", [1, 0, 1, 0]],
      ["Critical", [0, 1, 0, 0]],
      ["Debug", [0, 0, 1, 0]],
      ["Error", [1, 0, 0, 0]],
      ["Notice", [0, 1, 0, 0]],
    ]);
    // The filter applies, and alerts outside the range are left out.
    const byRule = s.counts(
      parseAlertFilter(new URLSearchParams("process=cat")),
      "rule",
      T0,
      step,
      2,
    );
    assertEquals(byRule.series, [{ key: "Read sensitive file", counts: [1, 0], total: 1 }]);
    assertEquals(s.counts({}, "container", T0 + 60n * SEC, 60n * SEC, 1).series, [
      { key: "host", counts: [1], total: 1 },
    ]);

    assertEquals(s.top({}, "rule", 2), [
      { value: "Read sensitive file", count: 2 },
      { value: "Shell in container", count: 2 },
    ]);
    assertEquals(s.top({}, "container", 10), [
      { value: "web", count: 2 },
      { value: "db", count: 1 },
      { value: "host", count: 1 },
    ]);
    assertEquals(s.top({}, "process", 1), [{ value: "cat", count: 2 }]);
    assertEquals(s.top({ priority: "Error" }, "priority", 10), [
      { value: "Critical", count: 1 },
      { value: "Error", count: 1 },
    ]);

    const third = s.get(3);
    assert(third);
    assertEquals(JSON.parse(storedAlertJson(third)).rule, "Shell in container");
    assertEquals(JSON.parse(storedAlertJson(third)).tags, ["shell", "t"]);
    assertEquals(s.get(99), undefined);
  });
});

Deno.test("store: filter SQL binds every value; field names are checked", () => {
  const w = whereClause(parseAlertFilter(new URLSearchParams("container=x'y&q=a'b")));
  assert(!w.sql.includes("x'y") && !w.sql.includes("a'b"), w.sql);
  assertEquals(w.args, ["x'y", "x'y", "%a'b%", "%a'b%"]);
  assertThrows(() => outputField("a'); drop table alerts; --"), "not a field name");
  const err = assertThrows(
    () => parseAlertFilter(new URLSearchParams("priority=loud")),
    "priority: 'loud' is not a priority",
  );
  assert(err instanceof FilterError);
});
