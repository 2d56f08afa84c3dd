/**
 * The layer test: imports between the folders of src/ point one way, down the data path
 * (events ← state ← rules ← pipeline ← agent ← cli, with kernel/, capture/, sources/, outputs/
 * and the others placed in {@link LAYERS}). An import from a folder to one in the same or a
 * higher layer fails the test, naming the importing file, the imported file and both folders;
 * with every edge pointing down, no cycle between folders can form.
 *
 * Type-only imports obey the same rule, except the few listed in {@link TYPE_ONLY_EXCEPTIONS}
 * where the type mirrors the domain (an event carries its thread). An exception that is no
 * longer used fails too, so the list stays exact. Shared leaf modules (assets, files, http_body,
 * log, metrics, version) may be imported from anywhere and import nothing from src/ themselves.
 *
 * Imports are read from the source text: static `import`/`export ... from`, side-effect imports
 * and dynamic `import("...")`, with comments (and so JSDoc examples) removed first.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";

/** Folders of src/ from the bottom of the data path up; a folder imports only lower layers. */
const LAYERS: readonly (readonly string[])[] = [
  ["events"], // event table, parameters, flags, errno, syscalls, framing, printing
  ["state", "kernel", "k8saudit", "plugins"], // enrichment; FFI, probe loader, ring; audit events;
  // the plugin interface and the plugins Saker carries
  ["capture", "rules"], // scap file format; rules language, fields, ruleset, alerts
  ["sources", "outputs"], // live ring, capture file, audit inputs; alert channels
  ["pipeline", "server"], // Web Streams pipeline, replay runner, recorder; HTTP API
  ["config"], // the config file
  ["agent", "simulate"], // the running agent; the attack simulator
  ["ruletest"], // rule tests: test files, synthetic events, runs and reports
  ["cli"], // commands
  ["main.ts"], // entry point
];

/** Leaf modules shared by every layer. */
const SHARED = new Set([
  "assets.ts",
  "edit_distance.ts",
  "files.ts",
  "http_body.ts",
  "log.ts",
  "metrics.ts",
  "version.ts",
]);

/** Type-only imports allowed to point up, each with its reason ("from -> to", under src/). */
const TYPE_ONLY_EXCEPTIONS: Readonly<Record<string, string>> = {
  "events/event.ts -> state/model.ts":
    "a decoded event carries its thread and fd entries (ev.thread, ev.fdInfo)",
};

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

const SRC = `${REPO_ROOT}src/`;

async function sourceFiles(dir = SRC): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}${e.name}`;
    if (e.isDirectory) out.push(...await sourceFiles(`${p}/`));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

/** Removes block comments and whole-line comments (string contents are left alone). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

const STATIC = /^\s*(?:import|export)\s+(type\s+)?(?:([^"';]*?)\s+from\s+)?["']([^"']+)["']/gm;
/** `import("x")`; `import("x").Name` names a type inline (type-only). */
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)(\.[A-Z])?/g;

/** Relative imports of one file, resolved to paths under src/. */
function importsOf(file: string, text: string): Edge[] {
  const code = stripComments(text);
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith(".")) return; // npm: and node: modules
    const to = new URL(spec, `file://${file}`).pathname;
    edges.push({ from: file.slice(SRC.length), to: to.slice(SRC.length), typeOnly });
  };
  for (const m of code.matchAll(STATIC)) {
    const clause = m[2]?.trim() ?? "";
    let typeOnly = m[1] !== undefined;
    if (!typeOnly && clause.startsWith("{") && clause.endsWith("}")) {
      const names = clause.slice(1, -1).split(",").map((s) => s.trim()).filter(Boolean);
      typeOnly = names.length > 0 && names.every((n) => n.startsWith("type "));
    }
    add(m[3], typeOnly);
  }
  for (const m of code.matchAll(DYNAMIC)) add(m[1], m[2] !== undefined);
  return edges;
}

/** The folder (first path component under src/) or the top-level file name. */
function unit(path: string): string {
  return path.split("/")[0];
}

const RANK = new Map<string, number>();
LAYERS.forEach((names, i) => names.forEach((n) => RANK.set(n, i)));

async function allEdges(): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const f of await sourceFiles()) edges.push(...importsOf(f, await Deno.readTextFile(f)));
  return edges;
}

Deno.test("layers: every folder of src/ has a layer", async () => {
  const missing: string[] = [];
  for await (const e of Deno.readDir(SRC)) {
    if (SHARED.has(e.name) || RANK.has(e.name)) continue;
    missing.push(e.name);
  }
  assertEquals(missing, [], `place these in LAYERS of tests/unit/layers.test.ts: ${missing}`);
});

Deno.test("layers: imports between folders point down the data path", async () => {
  const edges = await allEdges();
  assert(edges.length > 300, `only ${edges.length} imports found: the scanner is broken`);
  const problems: string[] = [];
  const usedExceptions = new Set<string>();
  for (const e of edges) {
    const a = unit(e.from), b = unit(e.to);
    if (a === b) continue;
    if (SHARED.has(a)) {
      problems.push(`shared module imports src/${e.to}: src/${e.from} -> src/${e.to}`);
      continue;
    }
    if (SHARED.has(b)) continue;
    const ra = RANK.get(a), rb = RANK.get(b);
    if (ra === undefined || rb === undefined) continue; // reported by the test above
    if (rb < ra) continue;
    const key = `${e.from} -> ${e.to}`;
    if (e.typeOnly && key in TYPE_ONLY_EXCEPTIONS) {
      usedExceptions.add(key);
      continue;
    }
    const how = rb === ra ? "a sibling in the same layer" : "a higher layer";
    problems.push(
      `${a} may not import ${b} (${how}${e.typeOnly ? ", type-only" : ""}): ` +
        `src/${e.from} -> src/${e.to}`,
    );
  }
  for (const key of Object.keys(TYPE_ONLY_EXCEPTIONS)) {
    if (!usedExceptions.has(key)) problems.push(`unused type-only exception: ${key}`);
  }
  assertEquals(problems, []);
});

Deno.test("layers: the scanner reads every import form and skips comments", () => {
  const file = `${SRC}rules/x.ts`;
  const text = [
    "/**",
    ' * import { a } from "../cli/example.ts";',
    " */",
    'import { b } from "./b.ts";',
    'import type { C } from "../events/event.ts";',
    'import { type D, type E } from "../state/model.ts";',
    'import { type F, g } from "../state/store.ts";',
    "import {",
    "  h,",
    "  type I,",
    '} from "../events/table.ts";',
    'export { j } from "./j.ts";',
    'export type { K } from "./k.ts";',
    'import "./fields/mod.ts";',
    'import { parse } from "yaml";',
    "// const x = await import('../agent/agent.ts');",
    'const m = await import("../cli/run.ts");',
    'let t: import("../outputs/output.ts").AlertOutput;',
  ].join("\n");
  assertEquals(importsOf(file, text).map((e) => `${e.to}${e.typeOnly ? " (type)" : ""}`), [
    "rules/b.ts",
    "events/event.ts (type)",
    "state/model.ts (type)",
    "state/store.ts",
    "events/table.ts",
    "rules/j.ts",
    "rules/k.ts (type)",
    "rules/fields/mod.ts",
    "cli/run.ts",
    "outputs/output.ts (type)",
  ]);
});
