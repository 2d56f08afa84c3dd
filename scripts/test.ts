/**
 * Runs the whole test suite and ends with the line `N passed, N failed, N skipped` that CI reads.
 *
 * Builds the probe first when it is missing or stale (live tests load it), then runs
 * `deno test` with a JUnit report next to the normal console output and counts the report's
 * test cases (steps included). A skipped case never counts as passed: each one is listed with
 * the reason its file recorded (tests/support/env.ts `skipNote`), and a skip with no recorded
 * reason counts as a failure. Extra arguments are passed to `deno test` (a filter, a file list).
 *
 * ```
 * deno run -A scripts/test.ts tests/unit/
 * ```
 * @module
 */
import { buildProbe } from "./build_bpf.ts";

const root = new URL("..", import.meta.url).pathname;
const junit = `${root}.build/junit.xml`;
const skipLog = `${root}.build/skips.jsonl`;
await Deno.mkdir(`${root}.build`, { recursive: true });
try {
  await buildProbe({ ifStale: true });
} catch (err) {
  console.error(`test: probe build failed: ${(err as Error).message}`);
}
for (const f of [junit, skipLog]) {
  try {
    await Deno.remove(f);
  } catch { /* first run */ }
}

const files = Deno.args.length > 0 ? Deno.args : ["tests/"];
const cmd = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--no-check", `--junit-path=${junit}`, ...files],
  cwd: root,
  env: { SAKER_SKIP_LOG: skipLog },
  stdout: "inherit",
  stderr: "inherit",
});
const { code } = await cmd.output();

/** Reasons recorded per test file. */
const reasons = new Map<string, Set<string>>();
try {
  for (const line of (await Deno.readTextFile(skipLog)).split("\n")) {
    if (!line) continue;
    const { file, reason } = JSON.parse(line) as { file: string; reason: string };
    if (!reasons.has(file)) reasons.set(file, new Set());
    reasons.get(file)!.add(reason);
  }
} catch { /* nothing skipped */ }

const unescape = (s: string) =>
  s.replaceAll("&gt;", ">").replaceAll("&lt;", "<").replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'").replaceAll("&amp;", "&");

let passed = 0, failed = 0, skipped = 0;
const skipLines: string[] = [];
try {
  const xml = await Deno.readTextFile(junit);
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[3] ?? "";
    if (/<failure\b/.test(body) || /<error\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) {
      skipped++;
      const name = unescape(/\bname="([^"]*)"/.exec(m[1])?.[1] ?? "?");
      const file = unescape(/\bclassname="([^"]*)"/.exec(m[1])?.[1] ?? "?");
      const why = [...(reasons.get(file) ?? [])];
      if (why.length === 0) {
        failed++;
        skipLines.push(`  ${file}: ${name}: SKIPPED WITHOUT A REASON (counted as failed)`);
      } else skipLines.push(`  ${file}: ${name}: ${why.join("; ")}`);
    } else passed++;
  }
} catch (err) {
  console.error(`test: no JUnit report (${(err as Error).message})`);
  failed++;
}
if (code !== 0 && failed === 0) failed = 1; // deno test failed before reporting (load error)
if (skipLines.length > 0) console.log(`skipped:\n${skipLines.join("\n")}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(failed > 0 ? 1 : 0);
