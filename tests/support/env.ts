/**
 * Test environment facts shared by the suites: root or not, where ../shared/reference is.
 * Tests that need either skip with a visible message when it is missing.
 * @module
 */

/** True when the tests run as root (needed to load the probe, run containers, make netns). */
export const IS_ROOT: boolean = Deno.uid() === 0;

/** Repository root (ends with a slash). */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname;

function findReference(): string | undefined {
  const fromEnv = Deno.env.get("SAKER_REFERENCE");
  const candidates = [fromEnv, `${REPO_ROOT}../shared/reference`, "/work/shared/reference"];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isDirectory) return c.replace(/\/$/, "");
    } catch { /* absent */ }
  }
  return undefined;
}

/** Path of Falco's reference material (../shared/reference), or undefined in a user's clone. */
export const REFERENCE_DIR: string | undefined = findReference();

const said = new Set<string>();

/** Prints once why a group of tests is skipped (visible in the test output). */
export function skipNote(reason: string): void {
  if (said.has(reason)) return;
  said.add(reason);
  console.warn(`SKIP: ${reason}`);
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
  skipNote("../shared/reference is absent: tests against Falco's reference material are skipped");
  return true;
}
