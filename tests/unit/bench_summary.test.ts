/**
 * The cost table of `deno task bench` (scripts/bench/_summary.ts) on a results object recorded
 * from one run of the workload, agent and memory benchmarks: each figure read from its module's
 * keys, with and without the agent side by side, the goal judged; a module that was skipped or
 * renamed a key gives "not measured" rows, never a made-up figure.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { formatSummary, type Results, summaryRows } from "../../scripts/bench/_summary.ts";

const recorded: Results = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/bench_results.json", import.meta.url)),
);
const row = (rows: ReturnType<typeof summaryRows>, start: string) => {
  const r = rows.find((x) => x.figure.startsWith(start));
  assert(r, `no row ${start}`);
  return r;
};

Deno.test("bench summary: every figure of the recorded run, side by side, judged", () => {
  const rows = summaryRows(recorded);
  assertEquals(rows.map((r) => [r.figure.split(":")[0], r.status]), [
    ["redis-benchmark GET, 20 clients", "met"],
    ["redis-benchmark SET, 20 clients", "not met"],
    ["open+close storm of one file", "not met"],
    ["agent CPU per received event (storm, every open received)", "not met"],
    ["syscall → alert line, Falco's stable rules, idle", "met"],
    ["syscall → alert line, Falco's stable rules, at 300k events/s", "met"],
    ["syscall → alert line, Saker's rules, idle", "not met"],
    ["syscall → alert line, Saker's rules, at 300k events/s", "not met"],
    ["agent CPU while idle, % of one core", "not met"],
    ["agent RSS idle, Falco's stable rules", "not met"],
    ["agent RSS peak, workload run (storm kept in the kernel)", "met"],
    ["agent RSS peak, storm with every open received (as shipped)", "not met"],
    ["saker replay vs sysdig -r, sample.scap ×2500, one filter", "not met"],
    ["saker replay peak RSS, sample.scap ×2500", "met"],
  ]);
  // With and without: medians over the rounds; the slowdown is the module's own median.
  assertEquals(row(rows, "redis-benchmark SET"), {
    figure: "redis-benchmark SET, 20 clients: requests/s, slowdown",
    with: "130,208/s",
    without: "140,056/s",
    ratio: "5.2%",
    goal: "≤ 5%",
    status: "not met",
  });
  const storm = row(rows, "open+close storm");
  assertEquals([storm.with, storm.without, storm.ratio], [
    "2,316,617/s",
    "3,812,971/s",
    "39.8% (+172 ns/syscall)",
  ]);
  const replay = row(rows, "saker replay vs sysdig");
  assertEquals([replay.with, replay.without, replay.ratio, replay.goal], [
    "0.36 s",
    "0.2 s",
    "0.56×",
    "≥ 1.5×",
  ]);
  assertEquals(
    row(rows, "syscall → alert line, Saker's rules, at 300k").with,
    "p50 8.36 / p99 27.7 / max 43.65 ms (100 samples)",
  );
  // The replay module did not run in that recording: no row for it.
  assert(!rows.some((r) => r.figure.includes("live capture")));
});

Deno.test("bench summary: skipped modules, renamed keys and unequal matches are not met", () => {
  const results = structuredClone(recorded) as Record<string, Record<string, unknown>>;
  results.agent = { skipped: "needs root to load the probe" };
  results.replay = { ratio_saker_over_sysdig: 2, saker: { events_per_s: 2e6 } };
  const table = results.workload.table as Record<string, unknown>;
  table.agent_rss_idle_mb_renamed = table.agent_rss_idle_mb;
  delete table.agent_rss_idle_mb;
  Object.assign(table.replay_sample_x2500 as object, { same_matches: false, saker_matches: 4999 });
  const rows = summaryRows(results);
  const latency = row(rows, "syscall → alert line, Saker's rules, idle");
  assertEquals([latency.status, latency.note], [
    "not measured",
    "skipped: needs root to load the probe",
  ]);
  const rss = row(rows, "agent RSS idle");
  assertEquals([rss.status, rss.with, rss.note], [
    "not measured",
    "—",
    "not in the workload results (a key renamed?)",
  ]);
  const replay = row(rows, "saker replay vs sysdig");
  assertEquals([replay.status, replay.note], ["not met", "match counts differ: 4999 against 5000"]);
  const live = row(rows, "saker replay (Falco's stable rules)");
  assertEquals([live.status, live.with, live.without], ["met", "2,000,000/s", "—"]);
});

Deno.test("bench summary: the replay row reads the benchmark's own wall times when present", () => {
  const results = structuredClone(recorded) as Record<string, Record<string, unknown>>;
  const table = results.workload.table as Record<string, unknown>;
  Object.assign(table.replay_sample_x2500 as object, {
    saker_wall_ms: 120.4,
    sysdig_wall_ms: 168.6,
    speed_ratio_ms: 1.4,
  });
  const replay = row(summaryRows(results), "saker replay vs sysdig");
  assertEquals([replay.with, replay.without, replay.ratio, replay.status], [
    "120.4 ms",
    "168.6 ms",
    "1.4×",
    "not met",
  ]);
});

Deno.test("bench summary: printed as one Markdown table, nothing when no figure ran", () => {
  const text = formatSummary(summaryRows(recorded));
  const lines = text.split("\n");
  assertEquals(lines.length, 2 + 14);
  assert(lines[0].startsWith("| figure "));
  assert(lines.every((l) => l.length === lines[0].length), "columns aligned");
  assertEquals(formatSummary(summaryRows({ capture: { ns: 1 } })), "");
});

Deno.test("bench summary: the tracepoint floor (empty sys_exit program) beside the slowdowns", () => {
  const results = structuredClone(recorded) as Record<string, Record<string, unknown>>;
  Object.assign(results.workload.table as object, {
    redis_get_slowdown_percent_tracepoint_floor: 1.3,
    redis_set_slowdown_percent_tracepoint_floor: -0.4,
    open_close_storm_slowdown_percent_tracepoint_floor: 12.1,
    open_close_storm_ns_added_per_syscall_tracepoint_floor: 41,
  });
  const rows = summaryRows(results);
  assertEquals(
    row(rows, "open+close storm").ratio,
    "39.8% (+172 ns/syscall); empty sys_exit alone: 12.1% (+41 ns)",
  );
  assert(row(rows, "redis-benchmark GET").ratio.endsWith("; empty sys_exit alone: 1.3%"));
  assertEquals(row(rows, "redis-benchmark SET").ratio, "5.2%; empty sys_exit alone: -0.4%");
  // The goal is judged on the slowdown with the agent, not on the floor.
  assertEquals(row(rows, "open+close storm").status, "not met");
});

Deno.test("bench summary: redis's slowdown with the middle half of its rounds and the noise", () => {
  const results = structuredClone(recorded) as Record<string, Record<string, unknown>>;
  Object.assign(results.workload.table as object, {
    redis_set_slowdown_percent_middle_half: [2.1, 7],
    redis_set_noise_percent: 1.5,
  });
  const rows = summaryRows(results);
  assertEquals(row(rows, "redis-benchmark SET").ratio, "5.2% (middle half 2.1 to 7%, noise 1.5%)");
  // Without the agent: the mean of the runs before and after, median over the rounds.
  const rounds = results.workload.redis_rounds as { without_after: { set: number } }[];
  for (const r of rounds) r.without_after.set += 1000;
  assertEquals(row(summaryRows(results), "redis-benchmark SET").without, "140,556/s");
});

Deno.test("bench summary: CPU per received event splits into its parts when measured", () => {
  const results = structuredClone(recorded) as Record<string, Record<string, unknown>>;
  Object.assign(results.workload.table as object, {
    agent_cpu_ns_per_received_event: 443,
    agent_cpu_ns_per_received_event_marginal: 377,
    agent_cpu_fixed_ms_per_s_of_storm: 43.3,
    received_events_per_s: 512_000,
    agent_cpu_ns_per_received_event_main_thread: 390,
    agent_cpu_ns_per_received_event_by_stage: { ring_read: 26, decode: 40, evaluate: 170 },
    received_event_work_ns: {
      decode_ns: 30.3,
      decode_state_ns: 103.2,
      decode_state_rules_ns: 133.7,
      decode_state_rules_sleeping_ns: 144.9,
    },
  });
  const cpu = row(summaryRows(results), "agent CPU per received event");
  assertEquals([cpu.with, cpu.ratio, cpu.status], [
    "443 ns",
    "377 ns per event + 43.3 ms CPU per second (at 512k events/s); main thread 390 ns (ring " +
    "read 26, decode 40, state and rules 170, between them 154); the same records without the " +
    "kernel 134 ns (decode 30, state 73, rules 30), 145 ns with a sleep after each slice",
    "not met",
  ]);
  // Without the measurement without the kernel (it failed): the agent's own split alone.
  const table = results.workload.table as Record<string, unknown>;
  table.received_event_work_ns = { error: "x" };
  assertEquals(
    row(summaryRows(results), "agent CPU per received event").ratio,
    "377 ns per event + 43.3 ms CPU per second (at 512k events/s); main thread 390 ns (ring " +
      "read 26, decode 40, state and rules 170, between them 154)",
  );
  // An older run, with neither: the two parts alone.
  delete table.agent_cpu_ns_per_received_event_main_thread;
  assertEquals(
    row(summaryRows(results), "agent CPU per received event").ratio,
    "377 ns per event + 43.3 ms CPU per second (at 512k events/s)",
  );
});
