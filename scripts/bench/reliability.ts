/**
 * The reliability suite (`deno task bench reliability`), with a seed: fuzzing of every parser
 * that takes outside input (1,000,000 inputs per target; crashes, hangs over 5 s, bad exit
 * codes; goal 0), faults around a running agent (outputs down, slow, gone, full, read-only; a
 * hung container runtime; 100 reloads in 10 s during an alert storm: alerts generated,
 * delivered and counted as dropped, events unevaluated, RSS) and load on its API (1,000 slow and
 * 1,000 idle connections while it detects: RSS growth, API p99, detection delay).
 *
 * Environment: SAKER_BENCH_SEED (default 1), SAKER_FUZZ_INPUTS (default 1000000),
 * SAKER_RELIABILITY_PARTS (default `fuzz,faults,load`; fuzzing takes about an hour and a half on
 * two cores and needs neither root nor the probe, faults and load need both: run them under the
 * shared lock on their own). Without root, faults and load are skipped.
 * The test suite runs the short form (tests/unit/fuzz.test.ts, tests/live/reliability.test.ts).
 * @module
 */
import { fuzzAll } from "../reliability/fuzz.ts";
import { runFaults } from "../reliability/faults.ts";
import { runLoad } from "../reliability/load.ts";

/** `deno task bench` alone skips this module (scripts/bench/main.ts): it runs when named. */
export const onlyWhenNamed =
  "fuzzing 1,000,000 inputs per parser takes about an hour and a half on two cores";

/** Runs the suite; figures as one JSON object. */
export async function bench(): Promise<Record<string, unknown>> {
  const seed = Number(Deno.env.get("SAKER_BENCH_SEED") ?? 1);
  const count = Number(Deno.env.get("SAKER_FUZZ_INPUTS") ?? 1_000_000);
  const parts = new Set((Deno.env.get("SAKER_RELIABILITY_PARTS") ?? "fuzz,faults,load").split(","));
  const out: Record<string, unknown> = {
    seed,
    command: `SAKER_BENCH_SEED=${seed} SAKER_FUZZ_INPUTS=${count} ` +
      `SAKER_RELIABILITY_PARTS=${[...parts].join(",")} deno task bench reliability`,
  };
  if (parts.has("fuzz")) {
    const t0 = Date.now();
    const fuzz = await fuzzAll({ seed, count, cliRuns: 100, parallel: 2 });
    out.fuzz = {
      inputs_per_target: count,
      crashes: fuzz.reduce((n, r) => n + r.crashes, 0),
      hangs: fuzz.reduce((n, r) => n + r.hangs, 0),
      bad_exit_codes: fuzz.reduce((n, r) => n + r.bad_exits, 0),
      minutes: Math.round((Date.now() - t0) / 6000) / 10,
      targets: fuzz,
    };
  }
  const root = Deno.uid() === 0;
  const skipped = { skipped: "not root: faults and load need the probe" };
  if (parts.has("faults")) {
    out.faults = root
      ? await runFaults({ alerts: 2000, reloads: 100, reloadSeconds: 10 })
      : skipped;
  }
  if (parts.has("load")) {
    out.load = root ? await runLoad({ slow: 1000, idle: 1000, seconds: 20, samples: 50 }) : skipped;
  }
  return out;
}
