/**
 * Where Falco's reference material is (rulesets, the legacy suite, captures, field lists, the
 * scap event table) for tests, benchmarks and generators: the one setting is the environment
 * variable SAKER_REFERENCE; without it, `../shared/reference` relative to the repository (for a
 * git worktree, relative to its main checkout too). Undefined when none exists, as in a user's
 * clone: callers skip with a visible message.
 *
 * @example
 * ```ts
 * import { referenceDir } from "./reference.ts";
 * const ref = referenceDir();
 * if (ref) console.log(`${ref}/falco-rules/falco_rules.yaml`);
 * ```
 * @module
 */

/** The repository's root directory (ends with a slash). */
export const REPO_ROOT: string = new URL("../", import.meta.url).pathname;

/** The repository root, and for a linked git worktree also its main checkout. */
function checkouts(root: string): string[] {
  const out = [root];
  try {
    // In a linked worktree .git is a file: "gitdir: <main>/.git/worktrees/<name>".
    const m = /^gitdir:\s*(.+)$/m.exec(Deno.readTextFileSync(`${root}.git`));
    const gitdir = m ? new URL(m[1].trim().replace(/\/?$/, "/"), `file://${root}`).pathname : "";
    const main = /^(.*\/)\.git\/worktrees\/[^/]+\/$/.exec(gitdir)?.[1];
    if (main) out.push(main);
  } catch { /* .git is a directory (a plain clone) or absent */ }
  return out;
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** The places looked at, in order: SAKER_REFERENCE alone when set. */
export function referenceCandidates(): string[] {
  const fromEnv = Deno.env.get("SAKER_REFERENCE");
  if (fromEnv) return [fromEnv.replace(/\/$/, "")];
  return checkouts(REPO_ROOT).map((c) => new URL("../shared/reference", `file://${c}`).pathname);
}

/** The reference material's directory, or undefined when it is absent. */
export function referenceDir(): string | undefined {
  return referenceCandidates().find(isDir);
}

/** The reference directory, or exits with a message naming where it was looked for. */
export function requireReferenceDir(what: string): string {
  const dir = referenceDir();
  if (dir) return dir;
  console.error(
    `${what} needs Falco's reference material; set SAKER_REFERENCE (looked in ${
      referenceCandidates().join(", ")
    })`,
  );
  Deno.exit(2);
}
