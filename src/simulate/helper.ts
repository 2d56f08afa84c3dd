/**
 * Builds the `saker-sim` helper with gcc, once per source version: a dynamic build for the
 * host and a static one for containers (the busybox image has no C library). Builds are cached
 * in a root-only directory under the system temp dir, keyed by a hash of the source.
 * @module
 */

import { assetText } from "../assets.ts";
import { mustRun, which } from "./command.ts";

/** Paths of the two builds of the helper. */
export interface HelperBuild {
  /** Dynamically linked, for the host. */
  host: string;
  /** Statically linked, for containers. */
  static: string;
  /** Short hash of the source: names the cache directory and the container image tag. */
  hash: string;
}

/** The helper's C source (src/simulate/saker-sim.c, carried by every build of Saker). */
export function helperSource(): string {
  const text = assetText("simulate/saker-sim.c");
  if (text === undefined) {
    throw new Error("the simulator helper's source is missing from this build");
  }
  return text;
}

async function sourceHash(): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(helperSource()),
  );
  return Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The cache directory of helper builds. */
export function helperCacheDir(): string {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp}/saker-simulate-${Deno.uid() ?? 0}`;
}

let pending: Promise<HelperBuild> | undefined;

/** Builds the helper if its cached build is missing; returns the paths. */
export function buildHelper(): Promise<HelperBuild> {
  pending ??= build().catch((err) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function build(): Promise<HelperBuild> {
  const hash = await sourceHash();
  const dir = `${helperCacheDir()}/helper-${hash}`;
  const out: HelperBuild = { host: `${dir}/saker-sim`, static: `${dir}/saker-sim-static`, hash };
  if (await exists(out.host) && await exists(out.static)) return out;
  const gcc = await which("gcc") ?? await which("cc");
  if (!gcc) throw new Error("gcc is needed to build the simulator's helper (apt-get install gcc)");
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(helperCacheDir(), 0o700);
  const src = `${dir}/saker-sim.c`;
  await Deno.writeTextFile(src, helperSource());
  // Build under temporary names, then rename: a concurrent run never sees half a binary.
  const tmpHost = `${out.host}.${Deno.pid}`;
  const tmpStatic = `${out.static}.${Deno.pid}`;
  await mustRun(gcc, ["-O2", "-Wall", "-o", tmpHost, src]);
  await mustRun(gcc, ["-O2", "-static", "-o", tmpStatic, src]);
  await Deno.rename(tmpHost, out.host);
  await Deno.rename(tmpStatic, out.static);
  await removeStaleBuilds(`helper-${hash}`);
  return out;
}

/** Removes builds of earlier helper versions from the cache. */
async function removeStaleBuilds(keep: string): Promise<void> {
  for await (const e of Deno.readDir(helperCacheDir())) {
    if (e.isDirectory && e.name.startsWith("helper-") && e.name !== keep) {
      await Deno.remove(`${helperCacheDir()}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
}
