/**
 * `deno task bundle`: writes `dist/saker.js`, Saker as one JavaScript file (npm dependencies and
 * every run-time file inside, through the same generated entry as the binary: scripts/embed.ts).
 * It runs with `deno run -A dist/saker.js COMMAND ...` on any Linux machine with Deno and
 * libbpf, from any directory, without a checkout.
 *
 * Usage: deno task bundle [--output dist/saker.js]
 * @module
 */
import { parseArgs } from "node:util";
import { writeEntry } from "./embed.ts";

const root = new URL("..", import.meta.url).pathname;

/** Bundles Saker into `output`; returns the build stamp. */
export async function bundle(output = `${root}dist/saker.js`) {
  const { entry, stamp, assets } = await writeEntry("bundle");
  await Deno.mkdir(output.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  const tmp = `${output}.tmp.js`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "--output", tmp, entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`deno bundle failed: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  // A shebang makes the file runnable on its own where `deno` is on PATH.
  const js = await Deno.readTextFile(tmp);
  await Deno.writeTextFile(tmp, `#!/usr/bin/env -S deno run -A\n${js}`);
  await Deno.chmod(tmp, 0o755);
  await Deno.rename(tmp, output);
  return { output, stamp, assets };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { output: { type: "string" } } });
  try {
    const { output, stamp, assets } = await bundle(values.output);
    const size = (await Deno.stat(output)).size;
    console.error(
      `bundle: wrote ${output} (${(size / 1e6).toFixed(1)} MB, ${
        Object.keys(assets).length
      } embedded files, commit ${stamp.commit.slice(0, 12)}, probe ${
        stamp.probeSha256.slice(0, 12)
      })`,
    );
  } catch (err) {
    console.error(`bundle: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
