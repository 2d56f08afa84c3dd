/**
 * Test environment facts shared by the suites: root or not, where the reference material is
 * (scripts/reference.ts). Tests that need either skip with a visible message when it is missing.
 * @module
 */
import { referenceCandidates, referenceDir } from "../../scripts/reference.ts";

/** True when the tests run as root (needed to load the probe, run containers, make netns). */
export const IS_ROOT: boolean = Deno.uid() === 0;

export { REPO_ROOT } from "../../scripts/reference.ts";

/**
 * Path of Falco's reference material (SAKER_REFERENCE, default ../shared/reference beside the
 * repository), or undefined in a user's clone.
 */
export const REFERENCE_DIR: string | undefined = referenceDir();

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
  skipNote(
    `Falco's reference material is absent (set SAKER_REFERENCE; looked in ${
      referenceCandidates().join(", ")
    }): tests against it are skipped`,
  );
  return true;
}
