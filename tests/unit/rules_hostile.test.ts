/**
 * Rules input built to break the loader: nesting deeper than a parser's stack, macro chains that
 * nest without bound once expanded. Every such file gets its own verdict naming the file, line
 * and column, and the files around it get theirs.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { formatMessage } from "../../src/rules/result.ts";
import { main as validate } from "../../src/cli/validate.ts";

const rule = (name: string) =>
  `- rule: ${name}\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n`;

/** Block sequences nested 3000 deep: more than the YAML parser's recursion can take. */
const DEEP_YAML = "- ".repeat(3000) + "\n x\n";

/** 5000 macros, each using the one before: a condition nested 5000 deep once expanded. */
function macroChain(n: number): string {
  let s = "- macro: m0\n  condition: evt.type = openat\n";
  for (let i = 1; i < n; i++) {
    s += `- macro: m${i}\n  condition: m${i - 1} and proc.name != x${i}\n`;
  }
  return s + `- rule: chained\n  desc: d\n  condition: m${n - 1}\n  output: o\n  priority: INFO\n`;
}

Deno.test("loader: YAML nested deeper than the parser's stack is an error of its file", () => {
  const loaded = loadRulesText([
    { name: "first.yaml", text: rule("first") },
    { name: "deep.yaml", text: DEEP_YAML },
    { name: "last.yaml", text: rule("last") },
  ]);
  assertEquals(loaded.results.map((r) => r.successful), [true, false, true]);
  const err = loaded.results[1].errors[0];
  assertEquals(err.code, "LOAD_ERR_YAML_PARSE");
  const text = formatMessage(err, loaded.contents);
  assertStringIncludes(text, "deep.yaml:1:");
  assertStringIncludes(text, "nested too deeply");
  assertEquals(loaded.rules.map((r) => r.name).sort(), ["first", "last"]);
});

Deno.test("loader: a macro chain nesting without bound fails at its macro; later files load", () => {
  const loaded = loadRulesText([
    { name: "chain.yaml", text: macroChain(5000) },
    { name: "after.yaml", text: rule("after") },
  ]);
  assertEquals(loaded.results.map((r) => r.name), ["chain.yaml", "after.yaml"]);
  assertEquals(loaded.results[0].successful, false);
  const first = formatMessage(loaded.results[0].errors[0], loaded.contents);
  assertStringIncludes(first, "chain.yaml:2002:14: error LOAD_ERR_VALIDATE");
  assertStringIncludes(first, "more than 1000 levels deep");
  assertStringIncludes(first, "in macro 'm1000'");
  assert(loaded.rules.some((r) => r.name === "after"));
  // A chain within the limit compiles and its rule runs.
  const ok = loadRulesText([{ name: "short.yaml", text: macroChain(900) }]);
  assertEquals(ok.results[0].errors.map((e) => formatMessage(e, ok.contents)), []);
  assertEquals(ok.rules.map((r) => r.name), ["chained"]);
});

Deno.test("saker validate: a pathological file among others; each file gets its verdict", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await Deno.writeTextFile(`${dir}/a.yaml`, rule("a"));
    await Deno.writeTextFile(`${dir}/d.yaml`, DEEP_YAML);
    await Deno.writeTextFile(`${dir}/b.yaml`, rule("b"));
    const code = await validate([`${dir}/a.yaml`, `${dir}/d.yaml`, `${dir}/b.yaml`]);
    assertEquals(code, 1);
    const out = lines.join("\n");
    assertStringIncludes(out, `${dir}/a.yaml: Ok`);
    assertStringIncludes(out, `${dir}/d.yaml: Invalid`);
    assertStringIncludes(out, `${dir}/d.yaml:1:`);
    assertStringIncludes(out, `${dir}/b.yaml: Ok`);
  } finally {
    console.log = log;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: a name of 256 KB that is no field or macro name is read in linear time", () => {
  // Before, two quantifiers over the same letters backtracked quadratically: 64 KB took seconds,
  // 256 KB would take a minute. The condition is an error, the macro's name a warning, at once.
  const long = "a".repeat(256 << 10);
  const t0 = performance.now();
  const loaded = loadRulesText([
    {
      name: "long.yaml",
      text: `- rule: long\n  desc: d\n  condition: evt.type = openat and ${long}-x = 1\n` +
        `  output: o\n  priority: INFO\n- macro: ${long}-\n  condition: evt.type = open\n`,
    },
  ]);
  const ms = performance.now() - t0;
  assertEquals(loaded.results[0].errors.map((e) => e.code), ["LOAD_ERR_COMPILE_CONDITION"]);
  assert(
    loaded.results[0].warnings.some((w) => w.code === "LOAD_INVALID_MACRO_NAME"),
    "the macro's name is warned about",
  );
  assert(ms < 2000, `loaded in ${Math.round(ms)} ms`);
});
