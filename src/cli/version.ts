/**
 * `saker version [--json]`: Saker, engine and runtime versions, and the build: a bundle or
 * binary names the commit, probe object hash and time it was built from (stamped by
 * scripts/embed.ts); a source tree reports its git commit and the hash of its built probe.
 *
 * ```
 * $ saker version --json
 * {"saker_version":"0.1.0",...,"form":"bundle","commit":"3f2a...","probe_sha256":"9c1e...",
 *  "build_time":"2026-12-02T19:40:11.000Z"}
 * ```
 * @module
 */
import { versions } from "../version.ts";
import { buildStamp, readAsset } from "../assets.ts";

/** Which build is running. */
export interface BuildInfo {
  /** `binary`, `bundle` or `source`. */
  form: string;
  /** Git commit ("-dirty" with local changes), or "unknown". */
  commit: string;
  /** SHA-256 of the probe object this build loads, or "" when it has none. */
  probe_sha256: string;
  /** When the build was made (ISO 8601 UTC); a source tree has none (""). */
  build_time: string;
}

/** Hex SHA-256 of some bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The git commit of the tree at `dir` ("-dirty" with local changes), or "unknown". */
export function gitCommit(dir: string): string {
  try {
    const git = (args: string[]) =>
      new Deno.Command("git", { args: ["-C", dir, ...args], stdout: "piped", stderr: "null" })
        .outputSync();
    const head = git(["rev-parse", "HEAD"]);
    if (!head.success) return "unknown";
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]);
    const id = new TextDecoder().decode(head.stdout).trim();
    return dirty.success && dirty.stdout.length > 0 ? `${id}-dirty` : id;
  } catch {
    return "unknown";
  }
}

/** The running build: its stamp when embedded, else facts of the source tree. */
export async function buildInfo(): Promise<BuildInfo> {
  const stamp = buildStamp();
  if (stamp) {
    return {
      form: stamp.form,
      commit: stamp.commit,
      probe_sha256: stamp.probeSha256,
      build_time: stamp.builtAt,
    };
  }
  const probe = readAsset("probe.bpf.o");
  return {
    form: "source",
    commit: gitCommit(new URL("../..", import.meta.url).pathname),
    probe_sha256: probe ? await sha256Hex(probe) : "",
    build_time: "",
  };
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  const v = { ...versions(), ...await buildInfo() };
  if (args.includes("--json")) console.log(JSON.stringify(v));
  else for (const [k, val] of Object.entries(v)) console.log(`${k}: ${val || "-"}`);
  return 0;
}
