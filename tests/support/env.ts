/**
 * Test environment facts shared by the suites: root or not, where the reference material is
 * (scripts/reference.ts). Tests that need either skip with a visible message when it is missing.
 * @module
 */
import { referenceCandidates, referenceDir, REPO_ROOT } from "../../scripts/reference.ts";

/** True when the tests run as root (needed to load the probe, run containers, make netns). */
export const IS_ROOT: boolean = Deno.uid() === 0;

export { REPO_ROOT };

/**
 * Path of Falco's reference material (SAKER_REFERENCE, default ../shared/reference beside the
 * repository), or undefined in a user's clone.
 */
export const REFERENCE_DIR: string | undefined = referenceDir();

const said = new Set<string>();

/**
 * The test file (`./tests/...`, as the JUnit report names it) that called into this module:
 * the first stack frame in a `.test.ts` file, else the first outside this file.
 */
function callerFile(): string {
  const frames = (new Error().stack ?? "").split("\n").map((l) =>
    /(file:\/\/[^\s)]+?):\d+:\d+/.exec(l)?.[1]
  )
    .filter((f): f is string => f !== undefined && !f.endsWith("/tests/support/env.ts"));
  const url = frames.find((f) => f.endsWith(".test.ts")) ?? frames[0] ?? "";
  const path = url.startsWith("file://") ? new URL(url).pathname : url;
  return path.startsWith(REPO_ROOT) ? `./${path.slice(REPO_ROOT.length)}` : path;
}

/**
 * Says why tests are skipped: prints `SKIP: reason` once, and records the reason with the calling
 * test file in the file named by `$SAKER_SKIP_LOG` (scripts/test lists every skipped test with
 * its reason, and fails a skip that has none).
 *
 * @example
 * ```ts
 * const ignore = !haveTool && skipNote("tool is not installed: its checks are skipped");
 * ```
 */
export function skipNote(reason: string): true {
  const file = callerFile();
  const key = `${file}\t${reason}`;
  if (said.has(key)) return true;
  said.add(key);
  console.warn(`SKIP: ${reason}`);
  const log = Deno.env.get("SAKER_SKIP_LOG");
  if (log) Deno.writeTextFileSync(log, JSON.stringify({ file, reason }) + "\n", { append: true });
  return true;
}

/** True when `cmd --version` runs here: the tool is installed and starts. */
export function haveTool(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** `ignore` value: true (with the reason printed and recorded) when `missing` is true. */
export function skipIf(missing: boolean, reason: string): boolean {
  return missing ? skipNote(reason) : false;
}

/** `ignore` value for tests that need root; prints the reason when skipping. */
export function needsRoot(): boolean {
  if (IS_ROOT) return false;
  skipNote("not root: live kernel tests are skipped");
  return true;
}

/** `ignore` value for tests that need ../shared/reference; prints the reason when skipping. */
export function needsReference(): boolean {
  if (REFERENCE_DIR) return false;
  skipNote(
    `Falco's reference material is absent (set SAKER_REFERENCE; looked in ${
      referenceCandidates().join(", ")
    }): tests against it are skipped`,
  );
  return true;
}
