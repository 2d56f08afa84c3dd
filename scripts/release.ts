/**
 * `deno task release`: `dist/saker-VERSION-linux-x86_64.tar.gz`, what an operator downloads:
 *
 * ```
 * saker-VERSION-linux-x86_64/
 *   bin/saker                 the single binary (deno task compile)
 *   bin/saker.js              the same program as one JavaScript file, for `deno run -A`
 *   etc/saker/config.yaml     the default config, naming the built-in rules and /etc/saker/rules.d
 *   rules/                    the default rules as files (the programs carry them too)
 *   deploy/systemd/, deploy/kubernetes/
 *   LICENSE, README.md (the Install section), BUILD.json (version, commit, probe hash, time)
 * ```
 *
 * The binary needs Deno's denort runtime (see scripts/compile.ts). Where it cannot be had the
 * release stops with that one line, unless `--bundle-only` asks for a tarball without it.
 *
 * Usage: deno task release [--bundle-only]
 * @module
 */
import { parseArgs } from "node:util";
import { SAKER_VERSION } from "../src/version.ts";
import { bundle } from "./bundle.ts";
import { compile } from "./compile.ts";

const root = new URL("..", import.meta.url).pathname;

/** Name of the release tarball (without directory). */
export function tarballName(version = SAKER_VERSION): string {
  return `saker-${version}-linux-x86_64.tar.gz`;
}

/** The config.yaml of a release: the repository's, with rules from the program and rules.d. */
export function releaseConfig(text: string): string {
  const from = /^rules_files:\n(?:\s+- .*\n)+/m;
  if (!from.test(text)) throw new Error("config.yaml has no rules_files list to rewrite");
  return text.replace(
    from,
    "rules_files:\n  - builtin:rules\n  - /etc/saker/rules.d\n",
  );
}

/** The README's Install section (from its heading to the next one of the same level). */
export function installSection(readme: string): string {
  const start = readme.search(/^## Install$/m);
  if (start < 0) throw new Error("README.md has no '## Install' section");
  const rest = readme.slice(start + 1);
  const next = rest.search(/^## /m);
  return `# Saker ${SAKER_VERSION}\n\n${
    readme.slice(start, next < 0 ? undefined : start + 1 + next)
  }`;
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Makes the release tarball; returns its path. */
export async function release(opts: { bundleOnly?: boolean } = {}): Promise<string> {
  const name = `saker-${SAKER_VERSION}-linux-x86_64`;
  const stage = await Deno.makeTempDir({ prefix: "saker-release-" });
  try {
    const top = `${stage}/${name}`;
    await Deno.mkdir(`${top}/bin`, { recursive: true });
    const { stamp } = await bundle(`${top}/bin/saker.js`);
    let binary = false;
    if (!opts.bundleOnly) {
      const problem = await compile(`${top}/bin/saker`);
      if (problem) throw new Error(`${problem} (or --bundle-only for a tarball without it)`);
      binary = true;
    }
    await Deno.mkdir(`${top}/etc/saker`, { recursive: true });
    await Deno.writeTextFile(
      `${top}/etc/saker/config.yaml`,
      releaseConfig(await Deno.readTextFile(`${root}config.yaml`)),
    );
    await copyTree(`${root}rules`, `${top}/rules`);
    await copyTree(`${root}deploy`, `${top}/deploy`);
    await Deno.copyFile(`${root}LICENSE`, `${top}/LICENSE`);
    await Deno.writeTextFile(
      `${top}/README.md`,
      installSection(await Deno.readTextFile(`${root}README.md`)),
    );
    await Deno.writeTextFile(
      `${top}/BUILD.json`,
      JSON.stringify(
        {
          version: stamp.version,
          commit: stamp.commit,
          probe_sha256: stamp.probeSha256,
          build_time: stamp.builtAt,
          programs: binary ? ["bin/saker", "bin/saker.js"] : ["bin/saker.js"],
        },
        null,
        2,
      ) + "\n",
    );
    await Deno.mkdir(`${root}dist`, { recursive: true });
    const out = `${root}dist/${tarballName()}`;
    const r = await new Deno.Command("tar", {
      args: ["-C", stage, "--owner=0", "--group=0", "--sort=name", "-czf", out, name],
      stderr: "piped",
    }).output();
    if (!r.success) throw new Error(`tar failed: ${new TextDecoder().decode(r.stderr).trim()}`);
    return out;
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { "bundle-only": { type: "boolean" } },
  });
  try {
    const out = await release({ bundleOnly: values["bundle-only"] });
    console.error(`release: wrote ${out} (${((await Deno.stat(out)).size / 1e6).toFixed(1)} MB)`);
  } catch (err) {
    console.error(`release: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
