/**
 * Aggregation of repeated alerts, without losing one: each rule's key and windows (the config's
 * defaults, the rule's `aggregate:`, the config's entries), the rule key read and checked with
 * positions, the key values an alert carries (real loader, ruleset, state store and fields), the
 * aggregator's windows (first sent, repeats counted, extension with a cap, continuation, end,
 * samples of differing values, bounded keys), each output's rate limit, and the fan-out with its
 * per-rule counts (fired = sent + aggregated), text and JSON of summaries.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import type { AggregationSettings, Alert, OutputFieldValue } from "../../src/rules/alert.ts";
import {
  aggregationFor,
  type AggregationPolicy,
  conditionFields,
  mainObjectOf,
} from "../../src/rules/aggregation.ts";
import { formatResult } from "../../src/rules/result.ts";
import { StateStore } from "../../src/state/store.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { AlertAggregator } from "../../src/outputs/aggregator.ts";
import { OutputThrottle, TokenBucket } from "../../src/outputs/throttle.ts";
import { AlertFanout } from "../../src/outputs/fanout.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import type { AlertOutput, FormattedAlert } from "../../src/outputs/output.ts";
import { Registry } from "../../src/metrics.ts";
import { aggregationPolicy } from "../../src/agent/build_rules.ts";
import { defaultConfig } from "../../src/config/spec.ts";
import { formatDuration, parseDuration } from "../../src/rules/duration.ts";
import { REPO_ROOT } from "../support/env.ts";

const RULES = `
- macro: outbound
  condition: evt.type = connect and fd.sip != "127.0.0.1"
- rule: Shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "shadow read by %proc.name (pid=%proc.pid file=%fd.name)"
  priority: WARNING
  tags: [filesystem, credentials]
- rule: Outbound
  desc: d
  condition: outbound
  output: "connection by %proc.name to %fd.name"
  priority: NOTICE
  tags: [network]
- rule: Shell
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: "shell %proc.cmdline"
  priority: NOTICE
  tags: [process]
  aggregate:
    key: [proc.name]
    window: 30s
    max_window: 5m
`;

const POLICY: AggregationPolicy = {
  defaults: {
    enabled: true,
    key: ["container.id", "proc.exepath"],
    mainObject: true,
    windowMs: 60_000,
    maxWindowMs: 600_000,
  },
  groups: [],
};

Deno.test("aggregation: each rule's main object comes from the fields its condition reads", () => {
  const loaded = loadRulesText([{ name: "r.yaml", text: RULES }]);
  assertEquals(loaded.results[0].errors, []);
  const main = Object.fromEntries(
    loaded.rules.map((
      r,
    ) => [r.name, mainObjectOf({ source: r.source, fields: conditionFields(r.ast) })]),
  );
  assertEquals(main, {
    "Shadow read": ["fd.name"],
    "Outbound": ["fd.sip", "fd.sport"],
    "Shell": ["proc.pexepath"],
  });
  assertEquals(
    mainObjectOf({ source: "syscall", fields: ["evt.type", "evt.arg.target", "proc.name"] }),
    ["evt.arg.target"],
  );
  assertEquals(mainObjectOf({ source: "k8s_audit", fields: ["ka.verb"] }), [
    "ka.user.name",
    "ka.target.resource",
    "ka.target.namespace",
    "ka.target.name",
  ]);
});

Deno.test("aggregation: defaults, then the rule's aggregate:, then the config's entries", () => {
  const loaded = loadRulesText([{ name: "r.yaml", text: RULES }]);
  const rule = (n: string) => loaded.rules.find((r) => r.name === n)!;
  const of = (n: string, policy: AggregationPolicy) => {
    const r = rule(n);
    return aggregationFor(
      { name: r.name, source: r.source, tags: r.tags, fields: conditionFields(r.ast) },
      r.aggregate,
      policy,
    );
  };
  assertEquals(of("Shadow read", POLICY), {
    key: ["container.id", "proc.exepath", "fd.name"],
    windowMs: 60_000,
    maxWindowMs: 600_000,
  });
  // The rule's own key replaces the defaults' (the main object is still added).
  assertEquals(of("Shell", POLICY), {
    key: ["proc.name", "proc.pexepath"],
    windowMs: 30_000,
    maxWindowMs: 300_000,
  });
  // Aggregation off by default: only the rule that asks for it aggregates.
  const off = { ...POLICY, defaults: { ...POLICY.defaults, enabled: false } };
  assertEquals(of("Shadow read", off), undefined);
  assert(of("Shell", off) !== undefined);
  // Entries match by tags (every one), source and name; the last matching entry wins a key.
  const groups: AggregationPolicy = {
    ...POLICY,
    groups: [
      { match: { tags: ["network"] }, spec: { windowMs: 300_000, mainObject: false } },
      { match: { tags: ["filesystem", "nothere"] }, spec: { enabled: false } },
      { match: { rule: "Shell" }, spec: { enabled: false } },
      { match: { source: "k8s_audit" }, spec: { enabled: false } },
    ],
  };
  assertEquals(of("Outbound", groups), {
    key: ["container.id", "proc.exepath"],
    windowMs: 300_000,
    maxWindowMs: 600_000,
  });
  assert(of("Shadow read", groups) !== undefined, "a tag the rule lacks: no match");
  assertEquals(of("Shell", groups), undefined, "the operator's entry wins over the rule");
  // Fields of another source are left out; an audit rule keys on its user and target.
  assertEquals(
    aggregationFor({ name: "a", source: "k8s_audit", tags: [], fields: [] }, undefined, POLICY)
      ?.key,
    ["ka.user.name", "ka.target.resource", "ka.target.namespace", "ka.target.name"],
  );
  // A max_window shorter than the window is taken as the window.
  assertEquals(
    aggregationFor(
      { name: "x", source: "syscall", tags: [], fields: [] },
      { windowMs: 5000, maxWindowMs: 1000 },
      POLICY,
    )?.maxWindowMs,
    5000,
  );
});

Deno.test("aggregation: the config section becomes the policy; unknown key fields are named", () => {
  const c = defaultConfig().aggregation;
  assertEquals(c.enabled, false, "a config without the section behaves as Falco: every alert");
  const p = aggregationPolicy({
    ...c,
    enabled: true,
    window: 2,
    rules: [{ match: { tags: ["network"] }, window: 0.5, key: ["fd.name"] }],
  })!;
  assertEquals(p.defaults.windowMs, 2000);
  assertEquals(p.groups[0].spec, { windowMs: 500, key: ["fd.name"] });
  let err: Error | undefined;
  try {
    aggregationPolicy({ ...c, key: ["proc.nmae"], rules: [{ key: ["fd.nmae"] }] });
  } catch (e) {
    err = e as Error;
  }
  assertStringIncludes(err?.message ?? "", "aggregation.key: 'proc.nmae' is not a field");
  assertStringIncludes(err?.message ?? "", "aggregation.rules[0].key: 'fd.nmae' is not a field");
});

Deno.test("aggregation: the rule key's forms, a note for validation, errors with positions", () => {
  const base = `- rule: R
  desc: d
  condition: evt.type = openat
  output: "o %fd.name"
  priority: NOTICE
`;
  const load = (extra: string) => loadRulesText([{ name: "a.yaml", text: base + extra }]);
  assertEquals(load("  aggregate: false\n").rules[0].aggregate, { enabled: false });
  assertEquals(load("  aggregate: true\n").rules[0].aggregate, { enabled: true });
  const full = load(
    "  aggregate:\n    key: [fd.name]\n    main_object: false\n    window: 90\n" +
      "    max_window: 1h\n",
  );
  assertEquals(full.rules[0].aggregate, {
    enabled: true,
    key: ["fd.name"],
    mainObject: false,
    windowMs: 90_000,
    maxWindowMs: 3_600_000,
  });
  // Saker's extension: a note, never a warning; the verdict stays Ok.
  const r = full.results[0];
  assertEquals(r.warnings, []);
  assertEquals(r.notes.map((n) => n.code), ["LOAD_SAKER_EXTENSION"]);
  const text = formatResult(r, full.contents);
  assert(text.startsWith("a.yaml: Ok\n"), text);
  assertStringIncludes(text, "a.yaml:6:3: note LOAD_SAKER_EXTENSION: 'aggregate' is Saker's");
  // A plain Falco file has no note.
  assertEquals(load("").results[0].notes, []);

  const bad = (extra: string) => {
    const res = load(extra).results[0];
    assertEquals(res.successful, false, extra);
    const m = res.errors[0];
    return `${m.code} ${m.context.last.line}:${m.context.last.column} ${m.message}`;
  };
  assertEquals(
    bad("  aggregate:\n    windw: 30s\n"),
    "LOAD_ERR_YAML_VALIDATE 7:5 Unknown key 'windw' in 'aggregate': expected enabled, key, " +
      "main_object, window, max_window",
  );
  assertEquals(
    bad("  aggregate:\n    window: soon\n"),
    "LOAD_ERR_YAML_VALIDATE 7:13 'soon' is not a duration: use e.g. 30s, 10m, 1h, or a number " +
      "of seconds",
  );
  assertEquals(
    bad("  aggregate:\n    key: [ka.verb]\n"),
    "LOAD_ERR_VALIDATE 7:5 'aggregate' key names 'ka.verb', which is not a field of source syscall",
  );
  assertEquals(
    bad("  aggregate: [fd.name]\n"),
    "LOAD_ERR_YAML_VALIDATE 6:14 Value of 'aggregate' must be true, false or a mapping " +
      "(enabled, key, main_object, window, max_window)",
  );
  // An override replaces it.
  const over = loadRulesText([{
    name: "a.yaml",
    text: base + "  aggregate: true\n- rule: R\n  aggregate: false\n  override:\n" +
      "    aggregate: replace\n",
  }]);
  assertEquals(over.results[0].errors, []);
  assertEquals(over.rules[0].aggregate, { enabled: false });
});

Deno.test("aggregation: an alert carries its key's values, read from the event", () => {
  const loaded = loadRulesText([{ name: "r.yaml", text: RULES }]);
  const rs = compileRuleset(loaded, { aggregation: POLICY });
  const state = new StateStore();
  state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "init", exe: "/sbin/init", cwd: "/" });
  state.addThread({
    tid: 70,
    pid: 70,
    ppid: 1,
    comm: "cat",
    exe: "cat",
    exepath: "/usr/bin/cat",
    cwd: "/",
  });
  state.linkChildren();
  const out: Alert[] = [];
  const ev = buildEvent("openat", { tid: 70, pid: 70, comm: "cat" }, {
    fd: 3,
    dirfd: -100,
    name: "/etc/shadow",
    flags: 1,
    mode: 0,
  });
  state.update(ev);
  rs.evaluate(ev, (a) => out.push(a));
  assertEquals(out.length, 1);
  assertEquals(out[0].grouping?.settings.key, ["container.id", "proc.exepath", "fd.name"]);
  assertEquals(out[0].grouping?.values, ["host", "/usr/bin/cat", "/etc/shadow"]);
  // Without a policy, only rules with aggregate: group their alerts.
  const plain: Alert[] = [];
  compileRuleset(loaded).evaluate(ev, (a) => plain.push(a));
  assertEquals(plain[0].grouping, undefined);
});

const SETTINGS: AggregationSettings = {
  key: ["proc.exepath", "fd.name"],
  windowMs: 1000,
  maxWindowMs: 5000,
};

function alert(
  i: number,
  opts: { rule?: string; file?: string; settings?: AggregationSettings | null } = {},
): Alert {
  const file = opts.file ?? "/etc/shadow";
  const fields: Record<string, OutputFieldValue> = {
    "proc.exepath": "/usr/bin/cat",
    "fd.name": file,
    "proc.pid": 1000 + i,
    "evt.time": i,
  };
  const a: Alert = {
    time: BigInt(i) * 1_000_000n,
    rule: opts.rule ?? "Shadow read",
    priority: "Warning",
    source: "syscall",
    tags: ["filesystem"],
    output: `shadow read (pid=${1000 + i} file=${file})`,
    outputFields: fields,
  };
  const settings = opts.settings === undefined ? SETTINGS : opts.settings;
  if (settings) a.grouping = { settings, values: ["/usr/bin/cat", file] };
  return a;
}

Deno.test("aggregator: first sent, repeats counted, summary when the window closes", () => {
  const agg = new AlertAggregator({ samples: 3, maxKeys: 100 });
  assertEquals(agg.offer(alert(0), 0), true);
  for (let i = 1; i <= 10; i++) assertEquals(agg.offer(alert(i), i * 100), false);
  // The last repeat at 1000 ms pushed the end to 2000 ms.
  assertEquals(agg.due(1999), []);
  const [s] = agg.due(2000);
  assertEquals(s.aggregate?.count, 10);
  assertEquals(s.aggregate?.first, 1_000_000n);
  assertEquals(s.aggregate?.last, 10_000_000n);
  assertEquals(s.aggregate?.since, 0n, "the window started with the alert sent");
  assertEquals(s.aggregate?.key, { "proc.exepath": "/usr/bin/cat", "fd.name": "/etc/shadow" });
  assertEquals(s.aggregate?.samples, { "proc.pid": [1000, 1001, 1002] });
  assertEquals(s.aggregate?.more, ["proc.pid"]);
  assertEquals(s.aggregate?.reason, "window");
  assertEquals(s.outputFields["proc.pid"], 1010, "the summary is the last occurrence");
  assertEquals(s.grouping, undefined);
  // The key goes on with a fresh window: its next alert is counted, not sent.
  assertEquals(agg.offer(alert(30), 2500), false);
  const [s2] = agg.due(3500);
  assertEquals(s2.aggregate?.count, 1);
  assertEquals(s2.aggregate?.group, s.aggregate?.group, "one chain of windows");
  // A window without repeats ends the key; the next alert goes out at once, in a new chain.
  assertEquals(agg.due(4500), []);
  assertEquals(agg.openKeys, 0);
  const next = alert(50);
  assertEquals(agg.offer(next, 4600), true);
  assert(next.grouping?.group !== s.aggregate?.group);
});

Deno.test("aggregator: a steady stream reports every max_window; other keys go out at once", () => {
  const agg = new AlertAggregator({ samples: 5, maxKeys: 100 });
  const sent: number[] = [];
  const summaries: { at: number; count: number }[] = [];
  for (let t = 0; t <= 12_000; t += 100) {
    for (const s of agg.due(t)) summaries.push({ at: t, count: s.aggregate!.count });
    if (agg.offer(alert(t), t)) sent.push(t);
  }
  assertEquals(sent, [0]);
  assertEquals(summaries.map((s) => s.at), [5000, 10000]);
  assertEquals(summaries.map((s) => s.count), [49, 50]);
  // A different file is another key: sent at once, mid-stream.
  assertEquals(agg.offer(alert(1, { file: "/etc/gshadow" }), 12_050), true);
  // Flush at stop: every open window with repeats.
  const rest = agg.flush();
  assertEquals(rest.map((s) => s.aggregate!.count), [21]);
  // Every alert is accounted for: 121 offered = 1 sent + 49 + 50 + 21.
  assertEquals(
    sent.length + [...summaries, ...rest.map((s) => ({ count: s.aggregate!.count }))]
      .reduce((n, s) => n + s.count, 0),
    121,
  );
});

Deno.test("aggregator: past max_keys new keys aggregate under their rule, losing nothing", () => {
  const agg = new AlertAggregator({ samples: 5, maxKeys: 2 });
  assertEquals(agg.offer(alert(0, { file: "/a" }), 0), true);
  assertEquals(agg.offer(alert(1, { file: "/b" }), 0), true);
  // A third key: the rule's overflow key opens (its first alert is sent), later ones count.
  assertEquals(agg.offer(alert(2, { file: "/c" }), 0), true);
  assertEquals(agg.offer(alert(3, { file: "/d" }), 0), false);
  assertEquals(agg.offer(alert(4, { file: "/e" }), 0), false);
  // Another rule still gets its first alert out at once.
  assertEquals(agg.offer(alert(5, { rule: "Other", file: "/f" }), 0), true);
  assertEquals(agg.overflowed, 4);
  const [s] = agg.due(1000).filter((x) => x.aggregate!.key?.["aggregate.overflow"]);
  assertEquals(s.aggregate?.count, 2);
  assertEquals(s.aggregate?.samples["fd.name"], ["/c", "/d", "/e"]);
});

Deno.test("throttle: a token bucket, and a summary per rule of what it held back", () => {
  const b = new TokenBucket(2, 3, 0);
  assertEquals([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assertEquals(b.take(500), true, "one token after half a second at 2/s");
  assertEquals(b.take(500), false);

  const t = new OutputThrottle("http", {
    rate: 1,
    maxBurst: 2,
    summaryIntervalMs: 10_000,
    samples: 5,
  }, 0);
  const admitted = [0, 1, 2, 3, 4].map((i) => t.admit(alert(i, { settings: null }), 0));
  assertEquals(admitted, [true, true, false, false, false]);
  // A held summary counts what it stands for.
  const summary = { ...alert(5, { settings: null }), aggregate: { ...someAggregate(), count: 40 } };
  assertEquals(t.admit(summary, 0), false);
  assertEquals(t.admit(alert(6, { rule: "Other", settings: null }), 0), false);
  assertEquals(t.due(9_999), []);
  const due = t.due(10_000);
  const byRule = Object.fromEntries(due.map((s) => [s.rule, s.aggregate!]));
  assertEquals(byRule["Shadow read"].count, 3 + 40);
  assertEquals(byRule["Shadow read"].reason, "rate_limit");
  assertEquals(byRule["Shadow read"].output, "http");
  assertEquals(byRule["Other"].count, 1);
  assertEquals(t.holding, 0);
});

function someAggregate() {
  return {
    count: 1,
    first: 5_000_000n,
    last: 5_000_000n,
    since: 5_000_000n,
    reason: "window" as const,
    samples: {},
  };
}

/** An output keeping every line it is given. */
class Collect implements AlertOutput {
  lines: string[] = [];
  constructor(readonly name: string, readonly json: boolean) {}
  write(batch: FormattedAlert[]): Promise<void> {
    for (const a of batch) this.lines.push(a.line(this.json));
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("fan-out: 1000 repeats become one alert and one summary; the counts add up", async () => {
  const reg = new Registry();
  let now = 0;
  const text = new Collect("stdout", false);
  const json = new Collect("http", true);
  const queues = [text, json].map((o) => new OutputQueue(o, { capacity: 100, registry: reg }));
  const fanout = new AlertFanout(
    new AlertFormatter({ hostname: "h", localOffsetMinutes: () => 0 }),
    queues,
    [],
    reg,
    { aggregator: new AlertAggregator({ samples: 2, maxKeys: 100 }), now: () => now, timer: false },
  );
  for (let i = 0; i < 1000; i++) {
    now = i;
    fanout.publish(alert(i));
    if (i === 500) fanout.publish(alert(i, { rule: "Different attack", file: "/etc/sudoers" }));
  }
  await fanout.flush();
  assertEquals(text.lines.length, 2, "the first alert and the different attack, at once");
  assertStringIncludes(text.lines[1], "Warning shadow read (pid=1500 file=/etc/sudoers)");
  now = 999 + SETTINGS.windowMs;
  fanout.tick();
  await fanout.flush();
  assertEquals(text.lines.length, 3);
  assertStringIncludes(
    text.lines[2],
    "shadow read (pid=1999 file=/etc/shadow) (999 more like this in ",
  );
  const summary = JSON.parse(json.lines[2]);
  assertEquals(summary.rule, "Shadow read");
  assertEquals(summary.aggregate.count, 999);
  assertEquals(summary.aggregate.reason, "window");
  assertEquals(summary.aggregate.samples["proc.pid"], [1000, 1001]);
  assertEquals(summary.aggregate.first, "1970-01-01T00:00:00.001000000Z");
  assertEquals(summary.aggregate.last, "1970-01-01T00:00:00.999000000Z");
  assertEquals(Object.keys(summary)[0], "aggregate", "keys stay sorted as Falco writes them");
  assertStringIncludes(summary.output, "(999 more like this in 999ms)");
  const metric = (name: string, rule = "Shadow read") => {
    const m = new RegExp(`^${name}\\{rule="${rule}",[^}]*\\} (\\d+)$`, "m").exec(reg.render());
    return Number(m?.[1] ?? NaN);
  };
  assertEquals(metric("saker_alerts_total"), 1000, "fired");
  assertEquals(metric("saker_alerts_sent_total"), 1);
  assertEquals(metric("saker_alerts_aggregated_total"), 999);
  assertEquals(metric("saker_alert_summaries_total"), 1);
  assertEquals(metric("saker_alerts_sent_total", "Different attack"), 1);
  await fanout.close();
});

Deno.test("fan-out: an output's rate limit holds back, counts and summarises; none lost", async () => {
  const reg = new Registry();
  let now = 0;
  const out = new Collect("http", true);
  const fanout = new AlertFanout(
    new AlertFormatter({ hostname: "h" }),
    [new OutputQueue(out, { capacity: 1000, registry: reg })],
    [],
    reg,
    {
      throttle: { rate: 10, maxBurst: 5, summaryIntervalMs: 2000, samples: 3 },
      now: () => now,
      timer: false,
    },
  );
  // Distinct alerts (no aggregation): 100 within a second.
  for (let i = 0; i < 100; i++) {
    now = i * 10;
    fanout.publish(alert(i, { settings: null, file: `/tmp/f${i}` }));
  }
  await fanout.flush();
  const passed = out.lines.length;
  assert(passed >= 5 && passed <= 16, `burst plus a second's rate: ${passed}`);
  now = 3000;
  fanout.tick();
  await fanout.flush();
  const summary = JSON.parse(out.lines[out.lines.length - 1]);
  assertEquals(summary.aggregate.reason, "rate_limit");
  assertEquals(passed + summary.aggregate.count, 100, "every alert sent or counted");
  assertStringIncludes(summary.output, "held back by the rate limit of http");
  // The first ones held back: the bucket's 5 passed, then one every 100 ms.
  assertEquals(summary.aggregate.samples["fd.name"], ["/tmp/f5", "/tmp/f6", "/tmp/f7"]);
  assert(reg.render().includes(`saker_output_throttled_total{output="http"} ${100 - passed}`));
  await fanout.close();
});

Deno.test("durations: parsed and printed", () => {
  assertEquals(parseDuration("1h30m"), 5400);
  assertEquals(parseDuration("soon"), undefined);
  assertEquals(
    [0.25, 9.84, 59.99, 125, 3720, 93_600].map(formatDuration),
    ["250ms", "9.8s", "1m", "2m5s", "1h2m", "1d2h"],
  );
});

Deno.test("fan-out: the timer closes windows on its own, and close() stops it", async () => {
  const reg = new Registry();
  const out = new Collect("stdout", true);
  const fanout = new AlertFanout(
    new AlertFormatter({ hostname: "h" }),
    [new OutputQueue(out, { capacity: 100, registry: reg })],
    [],
    reg,
    { aggregator: new AlertAggregator({ samples: 2, maxKeys: 100 }) },
  );
  const settings = { key: ["fd.name"], windowMs: 150, maxWindowMs: 1000 };
  for (let i = 0; i < 5; i++) fanout.publish(alert(i, { settings }));
  // flush() sends what the queues hold and closes no window: only the timer makes the summary.
  // It is waited for (up to 10 s), not given a fixed time, which a busy machine can overrun.
  const end = Date.now() + 10_000;
  while (out.lines.length < 2 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    await fanout.flush();
  }
  assertEquals(out.lines.map((l) => JSON.parse(l).aggregate?.count ?? 1), [1, 4]);
  await fanout.close();
});

Deno.test("aggregation: saker run --dry-run says which rules aggregate and the rate limit", async () => {
  const run = async (...o: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-check",
        `${REPO_ROOT}src/main.ts`,
        "run",
        "--dry-run",
        "-c",
        "/dev/null",
        "-r",
        `${REPO_ROOT}rules`,
        ...o.flatMap((x) => ["-o", x]),
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const lines = new TextDecoder().decode(r.stdout).split("\n");
    const count = (prefix: string, re: RegExp) =>
      Number(re.exec(lines.find((l) => l.startsWith(prefix)) ?? "")?.[1] ?? NaN);
    // Every source's rules, sequences and thresholds aggregate (the audit sequence too).
    const enabled = count("rules: ", /^rules: (\d+) enabled/) +
      count("k8s audit: ", /^k8s audit: (\d+) rules/);
    return lines.find((l) => l.startsWith("aggregation: "))?.replace(
      `${enabled} rules aggregate`,
      "ALL rules aggregate",
    );
  };
  assertEquals(await run(), "aggregation: 0 rules aggregate; rate limit: off");
  const on = await run(
    "aggregation.enabled=true",
    "aggregation.window=30s",
    "output_rate_limit.enabled=true",
  );
  assert(
    on?.startsWith("aggregation: ALL rules aggregate (by default: key rule, container.id, "),
    on,
  );
  assertStringIncludes(
    on!,
    "window 30s, at most 600s); rate limit: 50/s per output, bursts of 500",
  );
});
