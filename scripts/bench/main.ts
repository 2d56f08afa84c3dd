/**
 * `deno task bench`: runs every benchmark module in scripts/bench/ (each exports
 * `bench(): Promise<Record<string, unknown>>`) and prints one JSON object with their results,
 * the seconds each module took, and the cost table (figure, with and without the agent, slowdown
 * or ratio, goal, met or not; see _summary.ts), which also goes to stderr at the end as a table.
 * `deno task bench NAME...` runs only those (file names without .ts).
 *
 * A module that exports `onlyWhenNamed` (the reason, e.g. its duration) runs only when named:
 * `deno task bench` alone must not run for hours.
 * @module
 */
import { formatSummary, summaryRows } from "./_summary.ts";
import { buildProbe } from "../build_bpf.ts";

const dir = new URL(".", import.meta.url).pathname;
const wanted = new Set(Deno.args);
const names: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith(".ts") && e.name !== "main.ts" && !e.name.startsWith("_")) {
    const name = e.name.slice(0, -3);
    if (wanted.size === 0 || wanted.has(name)) names.push(name);
  }
}
names.sort();
const results: Record<string, unknown> = {
  machine: {
    cpus: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    date: new Date().toISOString(),
  },
};
const seconds: Record<string, number> = {};
// The benchmarks load the probe object as built: one older than bpf/ would measure old kernel code
// beside new user-space code.
await buildProbe({ ifStale: true });
for (const name of names) {
  const t0 = performance.now();
  try {
    const mod = await import(`./${name}.ts`);
    if (typeof mod.onlyWhenNamed === "string" && !wanted.has(name)) {
      results[name] = {
        skipped: `runs only when named (deno task bench ${name}): ${mod.onlyWhenNamed}`,
      };
      continue;
    }
    console.error(`bench: ${name} ...`);
    results[name] = await mod.bench();
  } catch (err) {
    results[name] = { error: (err as Error).message };
  }
  seconds[name] = Math.round((performance.now() - t0) / 100) / 10;
}
results.seconds = seconds;
const rows = summaryRows(results);
if (rows.length > 0) results.summary = rows;
console.log(JSON.stringify(results, (_k, v) => typeof v === "bigint" ? v.toString() : v, 2));
if (rows.length > 0) {
  console.error(`\nWhat Saker costs the workload (this run):\n${formatSummary(rows)}`);
}
const total = Object.values(seconds).reduce((a, b) => a + b, 0);
const each = Object.entries(seconds).map(([n, s]) => `${n} ${Math.round(s)} s`).join(", ");
console.error(`\nbench: ${Math.round(total)} s in all (${each})`);
