/**
 * Workload benchmark: what Saker costs the machine it watches, measured from outside with the
 * agent running as `saker run` with Falco's stable rules loaded unchanged — every figure of the
 * cost table side by side in one run:
 *
 * - redis-benchmark GET and SET with 20 clients against a redis-server on loopback: requests/s
 *   without and with the agent, slowdown. A phase of its own, after the other rounds: short runs
 *   in more rounds (SAKER_BENCH_REDIS_ROUNDS), each bracketed by a run without the agent before
 *   and after (the slowdown is against their mean, so a drift of the machine during the round
 *   cancels; their difference is the noise, reported beside it), with the agent and with the
 *   empty probe in between in alternating order. redis-server and redis-benchmark are pinned
 *   together to the last CPU (taskset) in every run alike: on this 2-core VM that halved the
 *   spread of repeated runs without the agent (and raised their rate), while apart or unpinned
 *   the cross-CPU wake-ups of the loopback connection dominate. The slowdown is the median over
 *   the rounds, with the middle half of the rounds' values beside it;
 * - an open+close storm of one file no rule cares about: syscalls/s without and with the agent,
 *   slowdown and ns added per syscall, and the agent's CPU per storm syscall (the kernel
 *   predicates keep that storm in the kernel, so the agent receives next to nothing of it);
 * - the floor under both: the storm and redis again with the agent running a probe whose
 *   sys_exit program returns at once (built with SAKER_BENCH_EMPTY_EXIT). Every system call
 *   pays the global sys_exit tracepoint once a program is attached to it (fentry/fexit, per
 *   syscall, are refused on some kernels), so that slowdown is what no filtering in the probe
 *   can remove; the rest is the probe's own work;
 * - the agent's CPU per event it received ((utime + stime) / saker_events_received_total) over
 *   the same storm with `kernel.predicates=false`, so that every open reaches user space: what
 *   an event the rules do see costs. Where it goes: the main thread's share (the rest is V8's
 *   collector and compiler threads), the slope per event against the part fixed per second, and
 *   the per-event work alone, the same storm's records run through decoding, state and rules in
 *   this process without the kernel (_live_stages.ts): the main thread's time beyond that work
 *   is the live path around it (reading the ring, wake-ups and timers, the streams);
 * - system call → alert line on stdout (a trigger opens /etc/shadow after random pauses; the
 *   alert of "Read sensitive file untrusted" is stamped when its line arrives): p50/p99/max idle
 *   and while an open+close storm runs at 300k events/s;
 * - the agent's CPU over 10 s idle (percent of one core) and its RSS idle and at its peak;
 * - `saker replay` against `sysdig -r` (0.29) on libs' sample.scap repeated 2500 times with one
 *   filter: time, speed ratio, match counts, Saker's peak RSS; Saker as shipped (the bundle),
 *   the source tree beside it.
 *
 * Rounds alternate the order of the runs without and with the agent; each figure is the median
 * over the rounds (latency percentiles over every sample of every round). The machine is shared
 * and noisy: compare ratios from one run, not numbers across runs.
 *
 * Environment: SAKER_BENCH_ROUNDS (3), SAKER_BENCH_SECONDS (3 s per storm),
 * SAKER_BENCH_LATENCY_SAMPLES (60 per round and condition), SAKER_BENCH_REDIS_ROUNDS (7),
 * SAKER_BENCH_REDIS_REQUESTS (50000 per command and run), SAKER_BENCH_REPLAY_REPEAT (2500).
 * @module
 */
import {
  type AgentProcess,
  alertLatency,
  buildTools,
  FALCO_RULES,
  latencySummary,
  measureIdle,
  median,
  rssBreakdown,
  startAgentProcess,
  startStorm,
  storm,
  type Tools,
} from "./_outside.ts";
import { replayVersusSysdig } from "./_replay_sample.ts";
import { liveStageCosts, type StageCosts } from "./_live_stages.ts";
import { buildProbe } from "../build_bpf.ts";

const ROUNDS = Number(Deno.env.get("SAKER_BENCH_ROUNDS") ?? 3);
const SECONDS = Number(Deno.env.get("SAKER_BENCH_SECONDS") ?? 3);
/** The stages of the live path the agent times (saker_stage_seconds_total). */
const LIVE_STAGES = ["ring_read", "decode", "evaluate"] as const;

/** Seconds of storm before the CPU per received event is measured (see receivedEventCost). */
const WARM_UP_SECONDS = 4;
const LAT_SAMPLES = Number(Deno.env.get("SAKER_BENCH_LATENCY_SAMPLES") ?? 60);
const REDIS_ROUNDS = Number(Deno.env.get("SAKER_BENCH_REDIS_ROUNDS") ?? 7);
const REDIS_REQUESTS = Number(Deno.env.get("SAKER_BENCH_REDIS_REQUESTS") ?? 50_000);
const SENSITIVE_RULE = "Read sensitive file untrusted";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The CPU redis-server and redis-benchmark share (the last one), when there are two or more and
 * taskset runs; undefined: not pinned. */
const REDIS_CPU = await (async () => {
  const cpus = navigator.hardwareConcurrency;
  if (cpus < 2) return undefined;
  try {
    const r = await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output();
    return r.success ? cpus - 1 : undefined;
  } catch {
    return undefined;
  }
})();

/** `cmd args`, pinned to REDIS_CPU when there is one. */
function redisCommand(cmd: string, args: string[]): [string, string[]] {
  return REDIS_CPU === undefined
    ? [cmd, args]
    : ["taskset", ["-c", String(REDIS_CPU), cmd, ...args]];
}

/** A redis-server of our own on a loopback port, no persistence. */
async function startRedis(dir: string) {
  const port = 16379 + (Deno.pid % 500);
  const [cmd, args] = redisCommand("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
  ]);
  const child = new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).spawn();
  for (let i = 0; i < 100; i++) {
    const r = await new Deno.Command("redis-cli", { args: ["-p", String(port), "ping"] }).output();
    if (new TextDecoder().decode(r.stdout).includes("PONG")) break;
    await sleep(100);
  }
  return {
    port,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** redis-benchmark GET and SET, 20 clients: requests per second of each. */
async function redisBench(port: number): Promise<{ get: number; set: number }> {
  const [cmd, args] = redisCommand(
    "redis-benchmark",
    ["-h", "127.0.0.1", "-p", String(port), "-c", "20", "-n", String(REDIS_REQUESTS)]
      .concat(["-t", "set,get", "--csv"]),
  );
  const r = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "null",
  }).output();
  const out: Record<string, number> = {};
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    const m = line.match(/^"(\w+)","([\d.]+)"/);
    if (m) out[m[1].toLowerCase()] = Number(m[2]);
  }
  if (!out.get || !out.set) throw new Error("redis-benchmark printed no GET/SET figures");
  return { get: out.get, set: out.set };
}

/** One round of the redis phase: requests/s of GET and SET in each run. */
interface RedisRound {
  without_before: { get: number; set: number };
  with: { get: number; set: number };
  floor: { get: number; set: number };
  without_after: { get: number; set: number };
}

/**
 * The redis phase (see the module doc): REDIS_ROUNDS rounds of a run without the agent, the
 * agent and the agent with the empty probe (in alternating order), and another run without.
 */
async function redisRounds(
  rules: string,
  port: number,
  emptyProbe: string,
): Promise<RedisRound[]> {
  const withAgent = async (env?: Record<string, string>) => {
    const agent = await startAgentProcess({ rules: [rules], env });
    try {
      await sleep(500); // start-up's collections and memory release are over
      return await redisBench(port);
    } finally {
      await agent.stop();
    }
  };
  const rounds: RedisRound[] = [];
  await redisBench(port); // warm-up: the server's first connections and allocations
  for (let i = 0; i < REDIS_ROUNDS; i++) {
    const without_before = await redisBench(port);
    let w, f;
    if (i % 2 === 0) {
      w = await withAgent();
      f = await withAgent({ SAKER_PROBE: emptyProbe });
    } else {
      f = await withAgent({ SAKER_PROBE: emptyProbe });
      w = await withAgent();
    }
    rounds.push({ without_before, with: w, floor: f, without_after: await redisBench(port) });
  }
  return rounds;
}

/** The middle half of `xs` (its quartiles), rounded to `digits`. */
function middleHalf(xs: number[], digits = 1): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10 ** digits) / 10 ** digits;
  return [r(s[Math.floor((s.length - 1) / 4)]), r(s[Math.ceil((s.length - 1) * 3 / 4)])];
}

/** Slowdowns of the redis phase, per command: median and middle half over the rounds, and the
 * noise (the two runs without the agent of a round against each other, median of |difference|). */
function redisTable(rounds: RedisRound[]) {
  const out: Record<string, number | [number, number]> = {};
  for (const c of ["get", "set"] as const) {
    const base = (r: RedisRound) => (r.without_before[c] + r.without_after[c]) / 2;
    const slow = (r: RedisRound, v: number) => (1 - v / base(r)) * 100;
    const agent = rounds.map((r) => slow(r, r.with[c]));
    const floor = rounds.map((r) => slow(r, r.floor[c]));
    const noise = rounds.map((r) => Math.abs(1 - r.without_after[c] / r.without_before[c]) * 100);
    const m = (xs: number[]) => Math.round(median(xs) * 10) / 10;
    out[`redis_${c}_slowdown_percent`] = m(agent);
    out[`redis_${c}_slowdown_percent_middle_half`] = middleHalf(agent);
    out[`redis_${c}_slowdown_percent_tracepoint_floor`] = m(floor);
    out[`redis_${c}_noise_percent`] = m(noise);
  }
  return out;
}

interface Round {
  storm_without: number;
  storm_with: number;
  storm_floor: number;
  agent_ns_per_storm_syscall: number;
  agent_ns_per_received_event: number;
  agent_ns_per_received_event_marginal: number;
  agent_ns_per_received_event_main_thread: number;
  agent_ns_per_received_event_by_stage: Record<string, number>;
  agent_fixed_cpu_ms_per_s: number;
  received_events_per_s: number;
  storm_with_predicates_off: number;
  idle_cpu_percent: number;
  idle_events_per_s: number;
  rss_idle_mb: number;
  idle_memory_mb: Record<string, number>;
  rss_peak_mb: number;
  latency_idle_ns: number[];
  latency_busy_ns: number[];
  missed: number;
}

async function withAgentRun(agent: AgentProcess, tools: Tools) {
  // Idle first, as after start-up: CPU and RSS with no load yet, then latency on a quiet machine.
  await alertLatency(agent, tools, { samples: 5, minGapMs: 5, maxGapMs: 10 });
  await sleep(3000);
  // The machine is shared: "idle" still has other people's system calls (counted).
  const idleCost = await measureIdle(agent);
  const idleCpu = idleCost.cpu_percent_of_core;
  const idleEvents = idleCost.events_per_s;
  const rssIdle = agent.rss().now;
  const idleMemory = {
    ...rssBreakdown(agent.pid),
    v8_heap_used: Math.round((await agent.metric("saker_memory_heap_used_bytes")) / 2 ** 20),
  };
  const idle = await alertLatency(agent, tools, { samples: LAT_SAMPLES, rule: SENSITIVE_RULE });
  // Warm-up: V8 compiles the hot paths over the first second of traffic.
  await storm(tools, 1);
  const s0 = agent.cpuNs();
  const stormWith = await storm(tools, SECONDS);
  await sleep(200);
  const perSyscall = (agent.cpuNs() - s0) / Math.max(1, stormWith * SECONDS);
  // Latency while an open+close storm runs at 300k events/s beside it.
  const busyStorm = startStorm(tools, 60, 300_000);
  await sleep(1000);
  const busy = await alertLatency(agent, tools, { samples: LAT_SAMPLES, rule: SENSITIVE_RULE });
  await busyStorm.stop();
  return {
    stormWith,
    perSyscall,
    idleCpu,
    idleEvents,
    rssIdle,
    idleMemory,
    rssPeak: agent.rss().peak,
    idle,
    busy,
  };
}

/**
 * The agent with the kernel predicates off, so that the storm's every open reaches user space:
 * its CPU per received event, and the storm's rate beside it.
 *
 * The agent's CPU per second of storm is a fixed part plus a part per event (V8's own work, timers
 * and the ring's wake-ups do not shrink with fewer events), so CPU per event depends on how fast
 * the storm delivers events: on a kernel where system calls cost more, fewer events share the
 * fixed part. A second storm paced at a third of the first one's rate separates the two parts:
 * the slope between the two runs is the cost per event, the rest is the fixed part.
 */
async function receivedEventCost(rules: string, tools: Tools) {
  const agent = await startAgentProcess({ rules: [rules], overrides: ["kernel.predicates=false"] });
  try {
    // Warm-up by volume: V8's tiers settle after ~2M events, which 1 s gave on a kernel with
    // cheap system calls and takes several seconds where they cost more.
    await storm(tools, WARM_UP_SECONDS);
    // The main thread (JavaScript: decoding, state, rules, the streams and timers) apart from
    // the process's other threads (V8's collector and compiler workers, the ring's waiter).
    const mainNs = () => agent.threadNs().get(String(agent.pid))?.ns ?? 0;
    // The main thread's time in each stage of the live path, as the agent counts it.
    const stageNs = async () => {
      const out: Record<string, number> = {};
      for (const stage of LIVE_STAGES) {
        out[stage] = 1e9 *
          await agent.metric(`saker_stage_seconds_total{source="syscall",stage="${stage}"}`);
      }
      return out;
    };
    const run = async (rate = 0) => {
      // The stage counters are read outside the CPU window: each read renders /metrics.
      const s0 = await stageNs();
      const e0 = await agent.metric("saker_events_received_total");
      const c0 = agent.cpuNs();
      const m0 = mainNs();
      const t0 = performance.now();
      const syscalls = await storm(tools, SECONDS, rate);
      await sleep(200);
      const received = (await agent.metric("saker_events_received_total")) - e0;
      const seconds = (performance.now() - t0) / 1000;
      const cpuNs = agent.cpuNs() - c0;
      const mainThreadNs = mainNs() - m0;
      const s1 = await stageNs();
      const stages = Object.fromEntries(
        LIVE_STAGES.map((k) => [k, (s1[k] - s0[k]) / Math.max(1, received)]),
      );
      return { syscalls, received, cpuNs, mainNs: mainThreadNs, stages, seconds };
    };
    const full = await run();
    const paced = await run(Math.round(full.syscalls / 3));
    const slope = (full.cpuNs / full.seconds - paced.cpuNs / paced.seconds) /
      Math.max(1, full.received / full.seconds - paced.received / paced.seconds);
    return {
      rate: full.syscalls,
      perEvent: full.cpuNs / Math.max(1, full.received),
      perEventMainThread: full.mainNs / Math.max(1, full.received),
      perEventStages: full.stages,
      eventsPerS: full.received / full.seconds,
      perEventMarginal: slope,
      fixedMsPerS: (full.cpuNs / full.seconds - slope * full.received / full.seconds) / 1e6,
    };
  } finally {
    await agent.stop();
  }
}

/** Benchmark entry point (see scripts/bench/main.ts). */
export async function bench(): Promise<Record<string, unknown>> {
  if (Deno.uid() !== 0) return { skipped: "needs root to load the probe" };
  const rules = FALCO_RULES;
  if (!rules) return { skipped: "Falco's rules not found (SAKER_REFERENCE)" };
  const tools = await buildTools();
  const emptyProbe = await buildProbe({
    defines: ["SAKER_BENCH_EMPTY_EXIT"],
    out: `${tools.dir}/empty-exit.bpf.o`,
  });
  const redis = await startRedis(tools.dir);
  const rounds: Round[] = [];
  let redisRuns: RedisRound[] = [];
  let replay: Record<string, unknown> = {};
  let stages: StageCosts | { error: string } | undefined;
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const without = async () => ({ storm: await storm(tools, SECONDS) });
      const withAgent = async () => {
        const agent = await startAgentProcess({ rules: [rules] });
        let run;
        try {
          run = await withAgentRun(agent, tools);
        } finally {
          await agent.stop();
        }
        return { ...run, received: await receivedEventCost(rules, tools) };
      };
      // The agent as in `withAgent`, its probe's sys_exit program empty: the tracepoint's cost.
      const floor = async () => {
        const agent = await startAgentProcess({ rules: [rules], env: { SAKER_PROBE: emptyProbe } });
        try {
          await storm(tools, 1); // the same warm-up as with the agent
          return { storm: await storm(tools, SECONDS) };
        } finally {
          await agent.stop();
        }
      };
      let w0, w1, wf;
      if (i % 2 === 0) {
        w0 = await without();
        wf = await floor();
        w1 = await withAgent();
      } else {
        w1 = await withAgent();
        wf = await floor();
        w0 = await without();
      }
      rounds.push({
        storm_without: w0.storm,
        storm_with: w1.stormWith,
        storm_floor: wf.storm,
        agent_ns_per_storm_syscall: w1.perSyscall,
        agent_ns_per_received_event: w1.received.perEvent,
        agent_ns_per_received_event_marginal: w1.received.perEventMarginal,
        agent_ns_per_received_event_main_thread: w1.received.perEventMainThread,
        agent_ns_per_received_event_by_stage: w1.received.perEventStages,
        agent_fixed_cpu_ms_per_s: w1.received.fixedMsPerS,
        received_events_per_s: w1.received.eventsPerS,
        storm_with_predicates_off: w1.received.rate,
        idle_cpu_percent: w1.idleCpu,
        idle_events_per_s: w1.idleEvents,
        rss_idle_mb: w1.rssIdle / 2 ** 20,
        idle_memory_mb: w1.idleMemory,
        rss_peak_mb: w1.rssPeak / 2 ** 20,
        latency_idle_ns: w1.idle.ns,
        latency_busy_ns: w1.busy.ns,
        missed: w1.idle.missed + w1.busy.missed,
      });
      console.error(`bench workload: round ${i + 1}/${ROUNDS} done`);
    }
    stages = await liveStageCosts(rules, tools).catch((e) => ({ error: String(e) }));
    redisRuns = await redisRounds(rules, redis.port, emptyProbe);
    console.error(`bench workload: redis, ${REDIS_ROUNDS} rounds done`);
    replay = await replayVersusSysdig(tools.dir).catch((e) => ({ error: String(e) }));
  } finally {
    await redis.stop();
    await tools.remove();
  }
  const med = (f: (r: Round) => number, digits = 1) => {
    const v = median(rounds.map(f));
    return Math.round(v * 10 ** digits) / 10 ** digits;
  };
  const slow = (a: number, b: number) => (1 - b / a) * 100;
  const stageOf = (r: Round, k: string) => r.agent_ns_per_received_event_by_stage[k] ?? NaN;
  return {
    rules: "Falco's falco_rules.yaml (stable), unchanged",
    rounds: ROUNDS,
    seconds_per_storm: SECONDS,
    redis: {
      rounds: REDIS_ROUNDS,
      requests_per_command_and_run: REDIS_REQUESTS,
      pinned_to_cpu: REDIS_CPU ?? null,
    },
    table: {
      // Each with the middle half of the rounds' slowdowns, the empty probe's (the floor) and
      // the noise (runs without the agent against each other).
      ...redisTable(redisRuns),
      open_close_storm_slowdown_percent: med((r) => slow(r.storm_without, r.storm_with)),
      open_close_storm_ns_added_per_syscall: med(
        (r) => 1e9 / r.storm_with - 1e9 / r.storm_without,
        0,
      ),
      // The floor: the same with an empty sys_exit program (what the tracepoint alone costs).
      open_close_storm_slowdown_percent_tracepoint_floor: med((r) =>
        slow(r.storm_without, r.storm_floor)
      ),
      open_close_storm_ns_added_per_syscall_tracepoint_floor: med(
        (r) => 1e9 / r.storm_floor - 1e9 / r.storm_without,
        0,
      ),
      open_close_storm_slowdown_percent_predicates_off: med((r) =>
        slow(r.storm_without, r.storm_with_predicates_off)
      ),
      agent_cpu_ns_per_storm_syscall: med((r) => r.agent_ns_per_storm_syscall, 1),
      agent_cpu_ns_per_received_event: med((r) => r.agent_ns_per_received_event, 0),
      // Its two parts: the slope between a full-speed and a paced storm, and what is left.
      agent_cpu_ns_per_received_event_marginal: med(
        (r) => r.agent_ns_per_received_event_marginal,
        0,
      ),
      agent_cpu_fixed_ms_per_s_of_storm: med((r) => r.agent_fixed_cpu_ms_per_s, 1),
      // The main thread's share, and the per-event work alone: the same storm's records run
      // through decoding, state and rules in one process without the kernel (_live_stages.ts).
      agent_cpu_ns_per_received_event_main_thread: med(
        (r) => r.agent_ns_per_received_event_main_thread,
        0,
      ),
      // The agent's own count of its main thread's time per stage (the rest: the streams,
      // timers and wake-ups between them).
      agent_cpu_ns_per_received_event_by_stage: Object.fromEntries(
        LIVE_STAGES.map((k) => [k, med((r) => stageOf(r, k), 0)]),
      ),
      received_event_work_ns: stages,
      received_events_per_s: med((r) => r.received_events_per_s, 0),
      latency_idle: latencySummary(rounds.flatMap((r) => r.latency_idle_ns), 0),
      latency_at_300k_events_per_s: latencySummary(rounds.flatMap((r) => r.latency_busy_ns), 0),
      alerts_missed: rounds.reduce((a, r) => a + r.missed, 0),
      agent_idle_cpu_percent_of_core: med((r) => r.idle_cpu_percent, 2),
      events_per_s_while_idle: med((r) => r.idle_events_per_s, 0),
      agent_rss_idle_mb: med((r) => r.rss_idle_mb),
      agent_rss_peak_mb: med((r) => r.rss_peak_mb),
      agent_idle_memory_mb: rounds[0]?.idle_memory_mb,
      replay_sample_x2500: replay,
    },
    goals: {
      redis_slowdown_percent: "<= 5",
      open_close_storm_slowdown_percent: "<= 15",
      agent_cpu_ns_per_received_event: "<= 200",
      latency_p99_ms: "<= 10 idle and at 300k events/s",
      agent_idle_cpu_percent_of_core: "< 0.5",
      agent_rss_idle_mb: "<= 100 (<= 150 under load)",
      replay_speed_vs_sysdig: ">= 1.5",
    },
    redis_rounds: redisRuns,
    per_round: rounds.map((r) => ({
      storm_without: r.storm_without,
      storm_with: r.storm_with,
      storm_floor: r.storm_floor,
      storm_with_predicates_off: r.storm_with_predicates_off,
      agent_ns_per_storm_syscall: Math.round(r.agent_ns_per_storm_syscall * 10) / 10,
      agent_ns_per_received_event: Math.round(r.agent_ns_per_received_event),
      agent_ns_per_received_event_marginal: Math.round(r.agent_ns_per_received_event_marginal),
      agent_ns_per_received_event_main_thread: Math.round(
        r.agent_ns_per_received_event_main_thread,
      ),
      agent_ns_per_received_event_by_stage: Object.fromEntries(
        Object.entries(r.agent_ns_per_received_event_by_stage).map(([k, v]) => [k, Math.round(v)]),
      ),
      agent_fixed_cpu_ms_per_s: Math.round(r.agent_fixed_cpu_ms_per_s * 10) / 10,
      received_events_per_s: Math.round(r.received_events_per_s),
      idle_cpu_percent: Math.round(r.idle_cpu_percent * 100) / 100,
      rss_idle_mb: Math.round(r.rss_idle_mb),
      rss_peak_mb: Math.round(r.rss_peak_mb),
      latency_idle: latencySummary(r.latency_idle_ns, 0),
      latency_busy: latencySummary(r.latency_busy_ns, 0),
    })),
  };
}

if (import.meta.main) console.log(JSON.stringify(await bench(), null, 2));
