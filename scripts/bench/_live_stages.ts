/**
 * Where the agent's CPU per received event goes, stage by stage, without the kernel: the records
 * of an open+close storm are taken from the live ring (the probe loaded in this process, every
 * syscall the rules and state need, no kernel predicates: what the agent receives with
 * `kernel.predicates=false`), then run in this process through the agent's per-event stages, one
 * more at a time:
 *
 * - `decode`: the ring's drains (the records framed as the reader hands them on, 1024 per slice)
 *   decoded into events;
 * - `state`: decode plus the state store's update (the storm's thread seeded as /proc showed it
 *   while it ran);
 * - `rules`: decode, state and the rules' evaluator, built from the same config and rules files
 *   as `saker run` builds them;
 * - the same again with the thread asleep for 2 ms after each slice, as the live source sleeps
 *   between drains (only the work is timed): a thread that wakes finds its caches cold, or wakes
 *   on the other CPU. On the 2-core nested VM that cost 10-15 % more than back to back, and a busy
 *   wait of the same length in its place did not (alternating passes in one process).
 *
 * The passes alternate their order and are repeated; each figure is the median ns per event.
 * Beside the live agent's CPU per received event (its slope over the storm's rate) the stages say
 * how much is the per-event work itself and how much the live path adds around it (reading the
 * ring, wake-ups and timers, the streams, V8's other threads).
 *
 * @example
 * ```ts
 * import { buildTools } from "./_outside.ts";
 * import { liveStageCosts } from "./_live_stages.ts";
 * const tools = await buildTools();
 * console.log(await liveStageCosts("rules/falco_rules.yaml", tools)); // as root
 * await tools.remove();
 * ```
 * @module
 */
import { median, startStorm, type Tools } from "./_outside.ts";
import { openLiveSource } from "../../src/sources/live.ts";
import { decodeLiveRecords, type Event, LIVE_HEADER } from "../../src/events/event.ts";
import { frameRecords } from "../../src/events/frame.ts";
import { bootEpochNs } from "../../src/kernel/libc.ts";
import { type SeedThread, StateStore } from "../../src/state/store.ts";
import { ProcFs } from "../../src/state/seed.ts";
import { loadConfig } from "../../src/config/load.ts";
import { kernelFilter, rulesOptions } from "../../src/agent/settings.ts";
import type { Config } from "../../src/config/spec.ts";
import type { BuiltRules } from "../../src/agent/rules_builder.ts";
import { buildEngineRules } from "../../src/agent/build_rules.ts";
import type { Alert } from "../../src/rules/alert.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** Records kept from the storm (~100 bytes each). */
const MAX_RECORDS = 200_000;
/** Events per slice, as the live source hands a drain on (its `sliceEvents` default). */
const SLICE = 1024;
/** The sleep after each slice in the sleeping passes: the live source's shortest pause. */
const SLEEP_MS = 2;

/** The stages' costs, ns per event (medians over the passes), cumulative. */
export interface StageCosts {
  /** Storm records measured. */
  records: number;
  /** Passes over them per stage. */
  passes: number;
  /** Decoding alone. */
  decode_ns: number;
  /** Decoding and the state store's update. */
  decode_state_ns: number;
  /** Decoding, state and the rules' evaluator: the whole per-event work. */
  decode_state_rules_ns: number;
  /**
   * The same work with the thread asleep for {@link SLEEP_MS} after each slice, as the live
   * source sleeps between drains (only the work is timed): what waking costs the work after it.
   */
  decode_state_rules_sleeping_ns: number;
  sleep_ms_between_slices: number;
  /** Alerts the rules raised per pass (the storm's file is one no rule cares about: 0). */
  alerts_per_pass: number;
}

/** Records the storm's own records from the live ring; see the module doc. */
async function recordStorm(
  config: Config,
  rules: BuiltRules,
  tools: Tools,
): Promise<{ records: Uint8Array[]; seed: SeedThread | undefined }> {
  const src = await openLiveSource({
    ringBytes: config.kernel.ring_buffer_size,
    syscalls: kernelFilter(rules, config).syscalls,
    withState: false,
    pollMs: config.kernel.poll_interval,
    maxDelayMs: config.kernel.max_delay,
  });
  const storm = startStorm(tools, 3);
  const records: Uint8Array[] = [];
  let seed: SeedThread | undefined;
  const reader = src.readable.getReader();
  const deadline = Date.now() + 2500;
  try {
    while (records.length < MAX_RECORDS && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of value as Event[]) {
        if (ev.pid !== storm.pid) continue;
        // The thread as /proc shows it while the storm runs, for the state store offline.
        seed ??= new ProcFs().thread(ev.pid, ev.tid, true);
        const len = ev.dv.getUint32(ev.off + LIVE_HEADER.len, true);
        records.push(ev.buf.slice(ev.off, ev.off + len));
      }
    }
  } finally {
    reader.releaseLock();
    await storm.stop();
    await src.close();
  }
  return { records, seed };
}

/** Measures the stages on the storm's records; see the module doc. Needs root (the probe). */
export async function liveStageCosts(
  rulesFile: string,
  tools: Tools,
  passes = 7,
): Promise<StageCosts> {
  // The config and rules the agent runs with the predicates off, for the recording and the passes.
  const { config } = await loadConfig({
    file: `${ROOT}/config.yaml`,
    overrides: ["kernel.predicates=false"],
  });
  const rules = await buildEngineRules([rulesFile], rulesOptions(config));
  const { records, seed } = await recordStorm(config, rules, tools);
  if (records.length < 10_000 || seed === undefined) {
    throw new Error(`the storm gave ${records.length} records of its own`);
  }
  const slices: Uint8Array[] = [];
  for (let i = 0; i < records.length; i += SLICE) {
    slices.push(frameRecords(records.slice(i, i + SLICE)));
  }
  const tsBase = bootEpochNs();
  let alerts = 0;
  const emit = (_a: Alert) => {
    alerts++;
  };
  // Work is timed slice by slice (the sleeps between slices are not counted).
  const pass = async (withState: boolean, withRules: boolean, sleepMs = 0): Promise<number> => {
    const state = new StateStore();
    state.addThread(seed);
    let num = 1;
    let ms = 0;
    for (const bytes of slices) {
      const t0 = performance.now();
      const events: Event[] = [];
      decodeLiveRecords(bytes, new DataView(bytes.buffer), 0, SLICE, tsBase, num, events);
      num += events.length;
      if (withState) {
        for (const ev of events) {
          state.update(ev);
          if (withRules) rules.evaluator.evaluate(ev, emit);
        }
      }
      ms += performance.now() - t0;
      if (sleepMs > 0) await new Promise((r) => setTimeout(r, sleepMs));
    }
    return ms * 1e6 / records.length;
  };
  const kinds: [boolean, boolean, number][] = [
    [false, false, 0],
    [true, false, 0],
    [true, true, 0],
    [true, true, SLEEP_MS],
  ];
  const ns: number[][] = kinds.map(() => []);
  // Warm-up: V8's tiers settle after a few million events.
  for (let i = 0; i < 4; i++) for (const [s, r] of kinds) await pass(s, r);
  alerts = 0;
  for (let p = 0; p < passes; p++) {
    const order = p % 2 === 0 ? [0, 1, 2, 3] : [3, 2, 1, 0];
    for (const k of order) ns[k].push(await pass(...kinds[k]));
  }
  const med = (xs: number[]) => Math.round(median(xs) * 10) / 10;
  return {
    records: records.length,
    passes,
    decode_ns: med(ns[0]),
    decode_state_ns: med(ns[1]),
    decode_state_rules_ns: med(ns[2]),
    decode_state_rules_sleeping_ns: med(ns[3]),
    sleep_ms_between_slices: SLEEP_MS,
    alerts_per_pass: alerts / passes,
  };
}

if (import.meta.main) {
  const { buildTools, FALCO_RULES } = await import("./_outside.ts");
  const tools = await buildTools();
  try {
    console.log(await liveStageCosts(Deno.args[0] ?? FALCO_RULES!, tools));
  } finally {
    await tools.remove();
  }
}
