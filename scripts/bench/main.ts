/**
 * `deno task bench`: runs every benchmark module in scripts/bench/ (each exports
 * `bench(): Promise<Record<string, unknown>>`) and prints one JSON object with their results.
 * `deno task bench NAME...` runs only those (file names without .ts).
 * @module
 */

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
for (const name of names) {
  console.error(`bench: ${name} ...`);
  try {
    const mod = await import(`./${name}.ts`);
    results[name] = await mod.bench();
  } catch (err) {
    results[name] = { error: (err as Error).message };
  }
}
console.log(JSON.stringify(results, (_k, v) => typeof v === "bigint" ? v.toString() : v, 2));
