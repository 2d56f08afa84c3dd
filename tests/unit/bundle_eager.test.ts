/**
 * The bundle's eager compilation (scripts/bundle.ts): the modules `saker replay` imports
 * statically are found from the bundler's module inits, and their top-level functions and inits
 * become parenthesized function expressions (compiled with the bundle, so in Deno's code cache)
 * that behave as before, under the same names; other modules and a function that cannot be cut
 * out whole are left as they were. The shipped bundle is run by tests/live/compile.test.ts.
 * @module
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { eagerCompile, staticImports } from "../../scripts/bundle.ts";

/** A bundle in the bundler's shape: three modules (a imports b), an npm file, one entry. */
const BUNDLE = `var __esm = (fn, res) => function __init() {
  return fn && (res = (0, fn[Object.getOwnPropertyNames(fn)[0]])(fn = 0)), res;
};

// src/b.ts
function twice(x) {
  return 2 * x;
}
var B;
var init_b = __esm({
  "src/b.ts"() {
    B = twice(21);
  }
});

// src/a.ts
function shout(s) {
  return \`\${s}!
}
\`;
}
function doc() {
  return \`usage:
function fake() {
}
\`;
}
async function later(x) {
  return x + B;
}
function named() {
  return new Error("where").stack;
}
var A;
var init_a = __esm({
  "src/a.ts"() {
    init_b();
    A = B + 1;
  }
});

// src/c.ts
function other() {
  return 3;
}
var init_c = __esm({
  "src/c.ts"() {
  }
});

// ../npm/x.js
function npm() {
  return 4;
}

// .build/dist/bundle/entry.ts
init_a();
init_c();
return { A, B, twice, shout, doc, later, named, other, npm };
`;

const run = (js: string) => new Function(js)();

Deno.test("bundle: the modules a command imports statically, from the bundler's inits", () => {
  assertEquals([...staticImports(BUNDLE, ["src/a.ts"])].sort(), ["src/a.ts", "src/b.ts"]);
  assertEquals([...staticImports(BUNDLE, ["src/c.ts"])], ["src/c.ts"]);
  assertThrows(() => staticImports(BUNDLE, ["src/nope.ts"]), "no module src/nope.ts");
});

Deno.test("bundle: eager functions and inits of the chosen modules, behaving as before", async () => {
  const out = eagerCompile(BUNDLE, staticImports(BUNDLE, ["src/a.ts"]));
  assert(out.includes("var twice = (function twice(x) {\n  return 2 * x;\n});"), out);
  assert(out.includes("var later = (async function later(x) {"), out);
  assert(
    out.includes('  "src/a.ts": (function() {\n    init_b();\n    A = B + 1;\n  })\n});'),
    out,
  );
  assert(out.includes('  "src/b.ts": (function() {'), out);
  // The template literal holds a line "}": cut there, shout would not parse; it stays as it was.
  assert(out.includes("\nfunction shout(s) {"), out);
  // Nor is a line of a template literal that looks like a function taken for one.
  assert(out.includes("\nfunction doc() {") && !out.includes("var fake"), out);
  // Modules not chosen, and npm files, stay lazy.
  assert(out.includes("\nfunction other() {") && out.includes('  "src/c.ts"() {\n  }'), out);
  assert(out.includes("\nfunction npm() {"), out);

  const before = run(BUNDLE);
  const after = run(out);
  assertEquals([after.A, after.B, after.other(), after.npm()], [43, 42, 3, 4]);
  assertEquals([before.A, before.B, before.other(), before.npm()], [43, 42, 3, 4]);
  assertEquals(after.twice(4), 8);
  assertEquals(after.shout("hi"), before.shout("hi"));
  assertEquals(after.doc(), before.doc());
  assertEquals(await after.later(1), await before.later(1));
  // Stack traces keep the functions' names.
  assertEquals(after.twice.name, "twice");
  const frame = (stack: string) => stack.split("\n")[1].replace(/\(.*\)/, "");
  assertEquals(frame(after.named()), frame(before.named()));
  assert(frame(after.named()).includes("named"), after.named());
});
