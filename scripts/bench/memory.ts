/**
 * Memory benchmark: the agent's resident memory idle and under load, and what the settings that
 * bound it cost in CPU, side by side in one run. The agent runs as `saker run` with Falco's
 * stable rules (Saker's rules without the reference material), in variants that differ only in
 * V8's young generation (the launchers bound it with `--max-semi-space-size`, MiB per
 * semi-space; V8's default sizes it from the machine's memory, 32 with 24 GB) and the ring
 * buffer's size:
 *
 * - idle: RSS after start-up and 5 s without load (and where it is: smaps by kind, V8's heap),
 *   the agent's CPU meanwhile;
 * - load: a fresh agent with `kernel.predicates=false`, so that an open+close storm's every open
 *   reaches user space, for SAKER_BENCH_SECONDS × 3: peak RSS, CPU per received event, the
 *   storm's rate, and the events the probe dropped (the ring is where excess waits: the agent
 *   keeps no queue of its own, so a smaller ring drops sooner).
 *
 * Rounds alternate the variants' order; figures are medians over SAKER_BENCH_ROUNDS (3) rounds.
 * The machine is shared and noisy: compare variants within one run.
 * @module
 */
import {
  buildTools,
  FALCO_RULES,
  measureIdle,
  median,
  rssBreakdown,
  startAgentProcess,
  storm,
  type Tools,
} from "./_outside.ts";
import { AGENT_V8_FLAGS } from "../../src/agent/heap.ts";

const ROUNDS = Number(Deno.env.get("SAKER_BENCH_ROUNDS") ?? 3);
const SECONDS = Number(Deno.env.get("SAKER_BENCH_SECONDS") ?? 3);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Variant {
  name: string;
  v8Flags: readonly string[];
  ring: string;
}

/**
 * As shipped (the launchers' V8 flags, the config's 16 MiB ring); V8's default young generation;
 * an 8 MiB ring.
 */
const VARIANTS: Variant[] = [
  { name: "as_shipped_ring_16MiB", v8Flags: AGENT_V8_FLAGS, ring: "16MiB" },
  { name: "v8_default_ring_16MiB", v8Flags: [], ring: "16MiB" },
  { name: "as_shipped_ring_8MiB", v8Flags: AGENT_V8_FLAGS, ring: "8MiB" },
];

interface Sample {
  rss_idle_mb: number;
  idle_cpu_percent: number;
  idle_memory_mb: Record<string, number>;
  rss_load_peak_mb: number;
  cpu_ns_per_received_event: number;
  storm_syscalls_per_s: number;
  kernel_drops_per_million: number;
}

async function measure(v: Variant, rules: string, tools: Tools): Promise<Sample> {
  const overrides = [`kernel.ring_buffer_size=${v.ring}`];
  let idle;
  const a = await startAgentProcess({ rules: [rules], v8Flags: v.v8Flags, overrides });
  try {
    await sleep(3000);
    const cost = await measureIdle(a, 5000);
    idle = {
      cpu: cost.cpu_percent_of_core,
      rss: a.rss().now,
      memory: {
        ...rssBreakdown(a.pid),
        v8_heap_used: Math.round((await a.metric("saker_memory_heap_used_bytes")) / 2 ** 20),
        v8_heap_total: Math.round((await a.metric("saker_memory_heap_total_bytes")) / 2 ** 20),
        external: Math.round((await a.metric("saker_memory_external_bytes")) / 2 ** 20),
      },
    };
  } finally {
    await a.stop();
  }
  const b = await startAgentProcess({
    rules: [rules],
    v8Flags: v.v8Flags,
    overrides: [...overrides, "kernel.predicates=false"],
  });
  try {
    await storm(tools, 1); // warm-up: V8 compiles the hot paths
    const e0 = await b.metric("saker_events_received_total");
    const d0 = await b.metric("saker_kernel_drops_total");
    const c0 = b.cpuNs();
    const rate = await storm(tools, SECONDS * 3);
    await sleep(200);
    const received = (await b.metric("saker_events_received_total")) - e0;
    const drops = (await b.metric("saker_kernel_drops_total")) - d0;
    return {
      rss_idle_mb: idle.rss / 2 ** 20,
      idle_cpu_percent: idle.cpu,
      idle_memory_mb: idle.memory,
      rss_load_peak_mb: b.rss().peak / 2 ** 20,
      cpu_ns_per_received_event: (b.cpuNs() - c0) / Math.max(1, received),
      storm_syscalls_per_s: rate,
      kernel_drops_per_million: drops / Math.max(1, received + drops) * 1e6,
    };
  } finally {
    await b.stop();
  }
}

/** Benchmark entry point (see scripts/bench/main.ts). */
export async function bench(): Promise<Record<string, unknown>> {
  if (Deno.uid() !== 0) return { skipped: "needs root to load the probe" };
  const rules = FALCO_RULES ?? new URL("../../rules", import.meta.url).pathname;
  const tools = await buildTools();
  const samples = new Map<string, Sample[]>(VARIANTS.map((v) => [v.name, []]));
  try {
    for (let i = 0; i < ROUNDS; i++) {
      for (const v of i % 2 ? [...VARIANTS].reverse() : VARIANTS) {
        samples.get(v.name)!.push(await measure(v, rules, tools));
      }
      console.error(`bench memory: round ${i + 1}/${ROUNDS} done`);
    }
  } finally {
    await tools.remove();
  }
  const med = (xs: Sample[], f: (s: Sample) => number, digits = 1) =>
    Math.round(median(xs.map(f)) * 10 ** digits) / 10 ** digits;
  const out: Record<string, unknown> = {
    rules: FALCO_RULES ? "Falco's falco_rules.yaml (stable)" : "Saker's rules/",
    rounds: ROUNDS,
  };
  for (const v of VARIANTS) {
    const xs = samples.get(v.name)!;
    out[v.name] = {
      v8_flags: v.v8Flags,
      ring_buffer_size: v.ring,
      rss_idle_mb: med(xs, (s) => s.rss_idle_mb),
      idle_cpu_percent_of_core: med(xs, (s) => s.idle_cpu_percent, 2),
      rss_peak_under_load_mb: med(xs, (s) => s.rss_load_peak_mb),
      cpu_ns_per_received_event: med(xs, (s) => s.cpu_ns_per_received_event, 0),
      storm_syscalls_per_s: med(xs, (s) => s.storm_syscalls_per_s, 0),
      kernel_drops_per_million_events: med(xs, (s) => s.kernel_drops_per_million, 0),
      per_round_rss_peak_under_load_mb: xs.map((s) => Math.round(s.rss_load_peak_mb)),
      idle_memory_mb: xs[0]?.idle_memory_mb,
      per_round_rss_idle_mb: xs.map((s) => Math.round(s.rss_idle_mb)),
    };
  }
  return out;
}

if (import.meta.main) console.log(JSON.stringify(await bench(), null, 2));
