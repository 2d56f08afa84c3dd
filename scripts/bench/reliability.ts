/**
 * The reliability suite (`deno task bench reliability`), with a seed: fuzzing of every parser
 * that takes outside input (1,000,000 inputs per target; crashes, hangs over 5 s, bad exit
 * codes; goal 0), faults around a running agent (outputs down, slow, gone, full, read-only; a
 * hung container runtime; 100 reloads in 10 s during an alert storm: alerts generated,
 * delivered and counted as dropped, events unevaluated, RSS) and load on its API (1,000 slow and
 * 1,000 idle connections while it detects: RSS growth, API p99, detection delay).
 *
 * Environment: SAKER_BENCH_SEED (default 1), SAKER_FUZZ_INPUTS (default 1000000). Faults and
 * load need root and the probe (run under the shared lock); without root they are skipped.
 * The test suite runs the short form (tests/unit/fuzz.test.ts, tests/live/reliability.test.ts).
 * @module
 */
import { fuzzAll } from "../reliability/fuzz.ts";
import { runFaults } from "../reliability/faults.ts";
import { runLoad } from "../reliability/load.ts";

/** Runs the suite; figures as one JSON object. */
export async function bench(): Promise<Record<string, unknown>> {
  const seed = Number(Deno.env.get("SAKER_BENCH_SEED") ?? 1);
  const count = Number(Deno.env.get("SAKER_FUZZ_INPUTS") ?? 1_000_000);
  const t0 = Date.now();
  const fuzz = await fuzzAll({ seed, count, cliRuns: 100, parallel: 2 });
  const out: Record<string, unknown> = {
    seed,
    command: `SAKER_BENCH_SEED=${seed} SAKER_FUZZ_INPUTS=${count} deno task bench reliability`,
    fuzz: {
      inputs_per_target: count,
      crashes: fuzz.reduce((n, r) => n + r.crashes, 0),
      hangs: fuzz.reduce((n, r) => n + r.hangs, 0),
      bad_exit_codes: fuzz.reduce((n, r) => n + r.bad_exits, 0),
      minutes: Math.round((Date.now() - t0) / 6000) / 10,
      targets: fuzz,
    },
  };
  if (Deno.uid() !== 0) {
    out.faults = out.load = { skipped: "not root: faults and load need the probe" };
    return out;
  }
  out.faults = await runFaults({ alerts: 2000, reloads: 100, reloadSeconds: 10 });
  out.load = await runLoad({ slow: 1000, idle: 1000, seconds: 20, samples: 50 });
  return out;
}
