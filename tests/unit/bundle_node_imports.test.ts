/**
 * The bundle's rule on Node's built-ins (scripts/bundle.ts): the bundler's CommonJS `require`
 * is made on its first call, and a top-level `import ... from "node:..."` left in the bundle is
 * refused, naming it (it would load Deno's Node compatibility layer at every start).
 * @module
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { lazyRequire, NODE_MODULES_AT_USE } from "../../scripts/bundle.ts";

const EAGER = 'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);\n";

Deno.test("bundle: the CommonJS require is made on first use, node:module is not imported", () => {
  const js = EAGER +
    'var a = __commonJS({ "x.js"(exports) { var p = __require("node:process"); } });\n' +
    'if (typeof __require !== "undefined") f();\nvar __commonJS = (cb) => function __require2() {};\n';
  const out = lazyRequire(js);
  assert(!out.includes('from "node:module"'), out);
  assert(out.includes('getBuiltinModule("node:module")'), out);
  assertEquals(out.split("\n").slice(2).join("\n"), js.split("\n").slice(2).join("\n"));
});

Deno.test("bundle: a top-level import of a Node built-in is refused, naming it", () => {
  const js = EAGER + 'import http from "node:http";\nvar s = http.createServer();\n';
  assertThrows(() => lazyRequire(js), 'import http from "node:http";');
  assert(NODE_MODULES_AT_USE.test('import { parseArgs } from "node:util";'));
  assert(!NODE_MODULES_AT_USE.test('  const u = process.getBuiltinModule("node:util");'));
});

Deno.test("bundle: require used other than by a call is refused", () => {
  const js = EAGER + 'var r = __require.resolve("node:fs");\n';
  assertThrows(() => lazyRequire(js), "other than by calling it");
});
