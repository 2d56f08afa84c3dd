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
 * Deno keeps V8's code cache of the file, but that cache holds only the functions V8 compiled
 * with the script, and by default it compiles a function at its first call, in every run. The
 * functions of the modules `saker replay` imports (and of the entry's own) are written so that
 * V8 compiles them with the script ({@link eagerCompile}): a replay of a small capture starts
 * ~7 ms sooner; every other command's functions stay lazy (a larger cache takes longer to load).
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

/**
 * Modules whose code every `saker replay` runs at start: the entry's own imports (the command
 * line, the embedded files) and the replay command with every module it imports statically.
 * {@link eagerCompile} has V8 compile their functions with the bundle.
 */
export const EAGER_ROOTS: readonly string[] = [
  "src/assets.ts",
  "src/cli/main.ts",
  "src/cli/replay.ts",
];

/** `var init_x = __esm({ "src/x.ts"() { init_a(); ...`: a module's init and its imports' inits. */
const MODULE_INIT =
  /^var (init_[\w$]+) = __esm\(\{\n {2}"([^"]+)"\(\) \{\n((?: {4}init_[\w$]+\(\);\n)*)/gm;

/** The modules `roots` import statically (themselves included), from the bundle's inits. */
export function staticImports(js: string, roots: readonly string[]): Set<string> {
  const deps = new Map<string, string[]>();
  const pathOf = new Map<string, string>();
  const initOf = new Map<string, string>();
  for (const m of js.matchAll(MODULE_INIT)) {
    deps.set(m[1], [...m[3].matchAll(/init_[\w$]+/g)].map((d) => d[0]));
    pathOf.set(m[1], m[2]);
    initOf.set(m[2], m[1]);
  }
  const seen = new Set<string>();
  const todo = roots.map((r) => {
    const init = initOf.get(r);
    if (init === undefined) throw new Error(`the bundle has no module ${r}`);
    return init;
  });
  for (let init = todo.pop(); init !== undefined; init = todo.pop()) {
    if (seen.has(init)) continue;
    seen.add(init);
    todo.push(...deps.get(init) ?? []);
  }
  return new Set([...seen].map((i) => pathOf.get(i)!));
}

/** True when `text` is one function expression (a cut that ends early fails to parse). */
function isOneFunction(text: string): boolean {
  try {
    new Function(`return (${text}\n);`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bundle with the functions of `modules` compiled when V8 compiles the bundle, instead of
 * at their first call. Deno keeps V8's code cache of the bundle, and that cache holds only what
 * was compiled with the script: functions V8 compiles lazily (by default, all of them) are
 * parsed and compiled again at every start, ~7 ms of a small `saker replay`. V8 compiles a
 * parenthesized function expression with its script (it expects it to be called soon), so each
 * top-level `function f(...) {...}` of these modules becomes `var f = (function f(...) {...});`
 * (same name in stack traces; nothing calls them before the bundle's last lines run) and each
 * module's init `"src/x.ts"() {...}` becomes `"src/x.ts": (function() {...})`. Only these
 * modules: every compiled function makes the cache larger, and reading it back costs time too
 * (~4 ms per MB). Functions nested in these stay lazy.
 */
export function eagerCompile(js: string, modules: ReadonlySet<string>): string {
  // Each module's code follows a `// src/x.ts` line, up to the next module's.
  const heads = [...js.matchAll(/^\/\/ (\S+\.(?:ts|js|mjs|cjs))\n/gm)];
  // Each edit replaces `del` characters at `at` with `text`.
  const edits: { at: number; del: number; text: string }[] = [];
  for (let h = 0; h < heads.length; h++) {
    if (!modules.has(heads[h][1])) continue;
    const start = heads[h].index!;
    const end = h + 1 < heads.length ? heads[h + 1].index! : js.length;
    const section = js.slice(start, end);
    for (const f of section.matchAll(/^(?:async )?function\*? ?([\w$]+)\(/gm)) {
      const at = start + f.index!;
      const close = js.indexOf("\n}\n", at) + 2;
      // A statement's start (the bundler's output puts one per line), not a line of a template
      // literal; and the text up to the first "}" line is the whole function.
      const before = js.slice(js.lastIndexOf("\n", at - 2) + 1, at - 1);
      if (!/^$|^\/\/ |[;}]$/.test(before)) continue;
      if (close < 2 || close >= end || !isOneFunction(js.slice(at, close))) continue;
      edits.push({ at, del: 0, text: `var ${f[1]} = (` }, { at: close, del: 0, text: ");" });
    }
  }
  for (const m of js.matchAll(MODULE_INIT)) {
    if (!modules.has(m[2])) continue;
    const head = `  "${m[2]}"() {`;
    const at = m.index! + m[0].indexOf(head);
    const close = js.indexOf("\n  }\n});", at + head.length);
    edits.push({ at, del: head.length, text: `  "${m[2]}": (function() {` });
    edits.push({ at: close, del: 4, text: "\n  })" });
  }
  edits.sort((a, b) => a.at - b.at);
  let out = "";
  let from = 0;
  for (const e of edits) {
    out += js.slice(from, e.at) + e.text;
    from = e.at + e.del;
  }
  return out + js.slice(from);
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
  const bundled = lazyRequire(await Deno.readTextFile(tmp));
  const js = eagerCompile(bundled, staticImports(bundled, EAGER_ROOTS));
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
