/**
 * The probe's cost on an open+close storm of one file no rule cares about, two or more probe
 * objects alternated in one run: the storm's slowdown against runs without a probe, and the
 * kernel's own timing of each program (kernel.bpf_stats_enabled). Each probe is loaded as the
 * agent loads it with Falco's stable rules (their syscalls; their kernel predicates, so the
 * storm's opens are dropped in the kernel and its closes filtered), without the agent's user
 * space, so nothing but the probe differs between the runs.
 *
 * A round: a storm without a probe, then one per object (the order alternates from round to
 * round), then another without; each object's storm is timed with bpf_stats off (its rate),
 * then with them on (sys_exit's ns per run), and a storm of close(-1) alone (a syscall the probe
 * does not capture) with them on too, for SAKER_AB_STATS_SECONDS each. The slowdown of a run is
 * against the mean of its round's two runs without a probe; medians over the rounds at the end.
 * Build the objects with `scripts/build_bpf.ts` (`buildProbe({ defines, out })`), e.g. one with
 * SAKER_BENCH_EMPTY_EXIT for the tracepoint's own cost.
 *
 * An object given as NAME=PROBE.o:nopred runs without kernel predicates (every open captured).
 * SAKER_AB_STATS_ONLY=1 leaves the timed storms out (bpf_stats only); SAKER_AB_STATS_SECONDS (1)
 * is the length of the storms timed by bpf_stats.
 *
 * Loads the probe: run it as root, under the live lock where several people share the machine.
 *
 * @example
 * ```sh
 * deno run -A scripts/ab_probe_storm.ts 7 3 empty=/tmp/empty.bpf.o new=.build/probe.bpf.o
 * ```
 * @module
 */
import { Probe } from "../src/kernel/probe.ts";
import { SYSCALL_NR } from "../src/events/syscalls.ts";
import { buildTools, FALCO_RULES, storm } from "./bench/_outside.ts";
import {
  buildStorm,
  type ProgStat,
  progStats,
  storm as stormMode,
  withBpfStats,
} from "./bench/capture.ts";
import { buildEngineRules } from "../src/agent/build_rules.ts";
import { kernelFilter, rulesOptions } from "../src/agent/settings.ts";
import { defaultConfig } from "../src/config/spec.ts";

const [roundsArg, secondsArg, ...specs] = Deno.args;
const rounds = Number(roundsArg), seconds = Number(secondsArg);
if (!(rounds > 0) || !(seconds > 0) || specs.length === 0) {
  console.error("usage: ab_probe_storm.ts ROUNDS SECONDS NAME=PROBE.o...");
  Deno.exit(2);
}
if (!FALCO_RULES) {
  console.error("Falco's rules not found (SAKER_REFERENCE)");
  Deno.exit(2);
}
const objects = await Promise.all(specs.map(async (s) => {
  const [name, spec] = s.includes("=") ? s.split("=", 2) : [s, s];
  const [path, opt] = spec.split(":");
  return { name, object: await Deno.readFile(path), predicates: opt !== "nopred" };
}));
/** SAKER_AB_STATS_ONLY=1: bpf_stats only, no timed storm (the slowdown columns stay empty). */
const statsOnly = Deno.env.get("SAKER_AB_STATS_ONLY") === "1";
/** Seconds of each storm timed by bpf_stats (SAKER_AB_STATS_SECONDS, default 1). */
const statsSeconds = Number(Deno.env.get("SAKER_AB_STATS_SECONDS") ?? 1);

// The syscalls and kernel predicates `saker run` loads with these rules and the default config.
const config = defaultConfig();
const rules = await buildEngineRules([FALCO_RULES], rulesOptions(config));
const filter = kernelFilter(rules, config);
if (filter.syscalls === "all" || !filter.programs) throw new Error("no kernel predicates");
const nrs = new Set<number>();
for (const name of filter.syscalls) {
  const nr = SYSCALL_NR.get(name);
  if (nr !== undefined) nrs.add(nr);
}
const programs = filter.programs;

/** sys_exit's ns per run between two readings of bpf_stats, to a tenth of a ns. */
function exitNs(a: Map<string, ProgStat>, b: Map<string, ProgStat>): number {
  const x = a.get("sys_exit"), y = b.get("sys_exit");
  if (!x || !y || y.run_cnt <= x.run_cnt) return NaN;
  return Math.round((y.run_time_ns - x.run_time_ns) / (y.run_cnt - x.run_cnt) * 10) / 10;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const tools = await buildTools();
const closeBin = await buildStorm();
const slow: number[][] = objects.map(() => []);
const closeNs: number[][] = objects.map(() => []);
const added: number[][] = objects.map(() => []);
const nsRun: number[][] = objects.map(() => []);
const STATS = "/proc/sys/kernel/bpf_stats_enabled";
try {
  await withBpfStats(async () => {
    await Deno.writeTextFile(STATS, "0");
    for (let r = 0; r < rounds; r++) {
      const order = objects.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      const before = statsOnly ? NaN : await storm(tools, seconds);
      const rates = new Map<number, number>();
      const runNs = new Map<number, number>();
      const closeRun = new Map<number, number>();
      for (const i of order) {
        const probe = await Probe.load({ object: objects[i].object });
        try {
          probe.setFilter(nrs, objects[i].predicates ? programs : undefined);
          await storm(tools, 1);
          rates.set(i, statsOnly ? NaN : await storm(tools, seconds));
          await Deno.writeTextFile(STATS, "1");
          const s0 = await progStats();
          await storm(tools, statsSeconds);
          const d = exitNs(s0, await progStats());
          // A close alone (close(-1), a syscall the probe does not capture).
          const s1 = await progStats();
          await stormMode(closeBin, "close", 0, statsSeconds);
          const c = exitNs(s1, await progStats());
          await Deno.writeTextFile(STATS, "0");
          runNs.set(i, d);
          closeRun.set(i, c);
        } finally {
          probe.close();
        }
      }
      const after = statsOnly ? NaN : await storm(tools, seconds);
      const base = (before + after) / 2;
      const line = [`round ${r}: without ${(base / 1e6).toFixed(3)}M/s`];
      for (const [i, rate] of rates) {
        slow[i].push((1 - rate / base) * 100);
        added[i].push(1e9 / rate - 1e9 / base);
        nsRun[i].push(runNs.get(i)!);
        closeNs[i].push(closeRun.get(i)!);
        line.push(
          `${objects[i].name} ${((1 - rate / base) * 100).toFixed(1)} % ` +
            `(sys_exit ${runNs.get(i)} ns/run, close alone ${closeRun.get(i)})`,
        );
      }
      console.log(line.join("; "));
    }
  });
} finally {
  await tools.remove();
  await Deno.remove(closeBin.replace(/\/storm$/, ""), { recursive: true });
}
console.log(
  "medians (slowdown against runs without a probe; ns added per syscall; sys_exit ns per run " +
    "in the storm, and for a close(-1) storm alone):",
);
objects.forEach((o, i) => {
  console.log(
    `  ${o.name}: ${median(slow[i]).toFixed(1)} %, +${median(added[i]).toFixed(1)} ns/syscall, ` +
      `${median(nsRun[i]).toFixed(1)} ns/run, close alone ${median(closeNs[i]).toFixed(1)} ns/run`,
  );
});
