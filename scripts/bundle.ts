/**
 * `deno task bundle`: writes `dist/saker.js`, Saker as one JavaScript file (npm dependencies and
 * every run-time file inside, through the same generated entry as the binary: scripts/embed.ts).
 * It runs with `deno run -A dist/saker.js COMMAND ...` on any Linux machine with Deno and
 * libbpf, from any directory, without a checkout.
 *
 * One file means every `import ... from "node:..."` of every module sits at the file's top and
 * runs at each start, whatever the command: each loads Deno's Node compatibility layer (~20 ms,
 * a third of a small `saker replay`). So Saker's own modules take Node's built-ins where they use
 * them (`process.getBuiltinModule`), and the bundler's `require` for the npm packages written as
 * CommonJS (yaml, nats) gets `node:module` on its first call ({@link lazyRequire}). The bundle
 * is refused if a top-level import of a Node built-in is left ({@link NODE_MODULES_AT_USE}).
 *
 * Usage: deno task bundle [--output dist/saker.js]
 * @module
 */
import { parseArgs } from "node:util";
import { writeEntry } from "./embed.ts";

const root = new URL("..", import.meta.url).pathname;

/** What `deno bundle` writes for the CommonJS packages' `require`: node:module at every start. */
const EAGER_REQUIRE =
  'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);\n";

/** The same `require`, made on its first call. */
const LAZY_REQUIRE = "var __deno_internal_require;\n" +
  "var __require = (id) => (__deno_internal_require ??= globalThis.process" +
  '.getBuiltinModule("node:module").createRequire(import.meta.url))(id);\n';

/**
 * The rule the bundle keeps: no top-level import of a Node built-in (`node:...`). Saker's
 * modules load one where they use it, `process.getBuiltinModule("node:util")`.
 */
export const NODE_MODULES_AT_USE = /^import\b[^;]*?\bfrom\s*"node:[^"]+";?$/m;

/**
 * The bundler's output with its CommonJS `require` made on first use ({@link LAZY_REQUIRE});
 * throws when a top-level import of a Node built-in is left, or when the bundle uses `require`
 * other than by calling it or testing that it exists.
 */
export function lazyRequire(js: string): string {
  let out = js;
  if (js.includes(EAGER_REQUIRE)) {
    const uses = (js.match(/\b__require\b/g) ?? []).length - 1; // but its definition
    const calls = (js.match(/__require\(/g) ?? []).length +
      (js.match(/typeof __require\b/g) ?? []).length;
    if (uses !== calls) {
      throw new Error("the bundle uses the bundler's require other than by calling it");
    }
    out = js.replace(EAGER_REQUIRE, LAZY_REQUIRE);
  }
  const left = NODE_MODULES_AT_USE.exec(out);
  if (left) {
    throw new Error(
      `the bundle imports a Node built-in at its top (${left[0]}): load it where it is used ` +
        `(process.getBuiltinModule), or every command pays Node compatibility at start`,
    );
  }
  return out;
}

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
  const js = lazyRequire(await Deno.readTextFile(tmp));
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
