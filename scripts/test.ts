/**
 * Runs the whole test suite and ends with the line `N passed, N failed` that CI reads.
 *
 * Builds the probe first when it is missing or stale (live tests load it), then runs
 * `deno test` with a JUnit report next to the normal console output and counts the report's
 * test cases. Extra arguments are passed to `deno test` (a filter, a file list).
 * @module
 */
import { buildProbe } from "./build_bpf.ts";

const root = new URL("..", import.meta.url).pathname;
const junit = `${root}.build/junit.xml`;
await Deno.mkdir(`${root}.build`, { recursive: true });
try {
  await buildProbe({ ifStale: true });
} catch (err) {
  console.error(`test: probe build failed: ${(err as Error).message}`);
}
try {
  await Deno.remove(junit);
} catch { /* first run */ }

const files = Deno.args.length > 0 ? Deno.args : ["tests/"];
const cmd = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--no-check", `--junit-path=${junit}`, ...files],
  cwd: root,
  stdout: "inherit",
  stderr: "inherit",
});
const { code } = await cmd.output();

let passed = 0, failed = 0, skipped = 0;
try {
  const xml = await Deno.readTextFile(junit);
  for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? "";
    if (/<failure\b/.test(body) || /<error\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
} catch (err) {
  console.error(`test: no JUnit report (${(err as Error).message})`);
  failed++;
}
if (code !== 0 && failed === 0) failed = 1; // deno test failed before reporting (load error)
if (skipped > 0) console.log(`${skipped} ignored`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 ? 1 : 0);
