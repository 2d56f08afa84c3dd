/**
 * Falco's declarative end-to-end tests (the event-generator's `test` format, which Falco's
 * evtgen suite is written in), read unchanged into Saker's test cases. Each test names the rule
 * it expects, a context (a chain of processes, optionally in a container), resources (files,
 * directories, a connected client and server, a fileless process), the system calls its last
 * process makes, and the expected alert (source, priority, output fields). `cases` expand a test
 * into one test per value combination (`vector`: one per entry; `matrix`: every combination),
 * substituting `%{ item.KEY }` values; each becomes `NAME_testCase#N`, as the event-generator
 * names them. The tests run live (evtgen_run.ts).
 *
 * @example
 * ```ts
 * import { parseTestFile } from "./spec.ts";
 * const text = `tests:
 *   - name: t
 *     rule: "Remove Bulk Data from Disk"
 *     runner: HostRunner
 *     context: { processes: [ { name: "%{ item.p }" } ] }
 *     expectedOutcome: { source: syscall, priority: warning, outputFields: { proc.name: "%{ item.p }" } }
 *     cases: [ { strategy: matrix, values: { p: [shred, mkfs] } } ]
 * `;
 * parseTestFile("t.yaml", text).tests.map((t) => t.name); // ["t_testCase#0", "t_testCase#1"]
 * ```
 * @module
 */
import { isMap, isSeq, type YAMLMap } from "yaml";
import { parsePriority } from "../rules/alert.ts";
import { lookupField } from "../rules/fields/mod.ts";
import type { TestCase, YamlReader } from "./spec.ts";
import { TestFileError, type Where } from "./problem.ts";

/** A process of a test's context chain (the first is the outermost). */
export interface EvtgenProcess {
  /** Process name (comm): the file name the process is executed under. */
  name?: string;
  /** argv[0]. */
  exe?: string;
  /** Where the executable is placed. */
  exePath?: string;
  /** Space-separated arguments (quotes group words). */
  args?: string;
  env?: Record<string, string>;
  /** User to run as. */
  user?: string;
  capabilities?: string;
}

/** A test resource. */
export type EvtgenResource =
  | { type: "fd"; name: string; subtype: string; filePath?: string; dirPath?: string }
  | { type: "clientServer"; name: string; l4Proto: string; address: string }
  | { type: "process"; name: string; fileLess?: boolean; exePath?: string; args?: string };

/** A system call step. */
export interface EvtgenStep {
  type: "syscall";
  name: string;
  syscall: string;
  args: Record<string, unknown>;
}

/** One expanded test. */
export interface EvtgenTest {
  name: string;
  rule: string;
  description?: string;
  /** Why it does not run here (runIf false), if so. */
  skip?: string;
  context: {
    container?: { image?: string; name?: string; env?: Record<string, string> } | null;
    processes: EvtgenProcess[];
  };
  before?: string;
  after?: string;
  resources: EvtgenResource[];
  steps: EvtgenStep[];
  expectedOutcome: { source?: string; priority?: string; outputFields: Record<string, string> };
  at?: Where;
}

const TEST_KEYS = [
  "name",
  "rule",
  "description",
  "runIf",
  "runner",
  "context",
  "before",
  "after",
  "resources",
  "steps",
  "expectedOutcome",
  "cases",
];

/** `NAME: %{ item.x }` is not YAML (a plain value cannot start with `%`): quote it first. */
export function quoteTemplates(text: string): string {
  return text.replace(/^(\s*(?:-\s+)?[^\s:#][^:#]*:\s+|\s*-\s+)(%\{[^}\n]*\})[ \t]*$/gm, '$1"$2"');
}

const PARAM = /^\s*%\{\s*(\S+?)\.(\S+)\s*\}\s*$/;

/** Replaces every value that is exactly `%{ item.KEY }` by the case's value for KEY. */
function fill(v: unknown, values: Record<string, unknown>, fail: (m: string) => never): unknown {
  if (typeof v === "string") {
    const m = PARAM.exec(v);
    if (!m || m[1] !== "item") return v;
    if (!(m[2] in values)) fail(`template parameter ${v.trim()} matches no value of the case`);
    return structuredClone(values[m[2]]);
  }
  if (Array.isArray(v)) return v.map((x) => fill(x, values, fail));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = fill(x, values, fail);
    return out;
  }
  return v;
}

/** The value combinations of a test's `cases`. */
function expandCases(cases: unknown, fail: (m: string) => never): Record<string, unknown>[] {
  if (!Array.isArray(cases) || cases.length === 0) fail("cases must be a non-empty list");
  const out: Record<string, unknown>[] = [];
  let keys: string | undefined;
  for (const c of cases as Record<string, unknown>[]) {
    const values = c?.values as Record<string, unknown> | undefined;
    if (!values || typeof values !== "object") fail("each case needs `values`");
    const k = Object.keys(values).sort().join(",");
    if (keys !== undefined && keys !== k) fail("test cases specify different sets of keys");
    keys = k;
    if (c.strategy === "vector") out.push(values);
    else if (c.strategy === "matrix") {
      let combos: Record<string, unknown>[] = [{}];
      for (const [key, list] of Object.entries(values)) {
        if (!Array.isArray(list)) fail(`matrix value '${key}' is not a list`);
        combos = combos.flatMap((combo) => list.map((v) => ({ ...combo, [key]: v })));
      }
      out.push(...combos);
    } else fail(`unknown case strategy '${c.strategy}' (vector or matrix)`);
  }
  return out;
}

function goArch(): string {
  const a = Deno.build.arch as string;
  return a === "x86_64" ? "amd64" : a === "aarch64" ? "arm64" : a;
}

/** Why a `runIf` keeps the test from running here (undefined: it runs). */
function runIfReason(runIf: unknown): string | undefined {
  if (runIf === null || runIf === undefined) return undefined;
  const arch = (runIf as Record<string, { op?: string; val?: string }>).arch;
  if (!arch) return undefined;
  const here = goArch();
  const holds = arch.op === "ne" ? here !== arch.val : here === arch.val;
  return holds ? undefined : `runIf: arch ${arch.op} ${arch.val} (this machine: ${here})`;
}

/** Reads the tests of a declarative event-generator file. */
export function parseEvtgenTests(
  path: string,
  _text: string,
  r: YamlReader,
  root: YAMLMap,
): TestCase[] {
  const list = root.get("tests", true);
  if (!isSeq(list)) r.fail("`tests` must be a list", list ?? root);
  const out: TestCase[] = [];
  list.items.forEach((node, index) => {
    if (!isMap(node)) r.fail("a test must be a mapping", node);
    r.pairs(node, TEST_KEYS, "an event-generator test");
    const at = r.at(node);
    const fail = (m: string): never => {
      throw new TestFileError(m, at);
    };
    const raw = node.toJSON() as Record<string, unknown>;
    if (typeof raw.name !== "string" || raw.name === "") r.fail("a test needs a `name`", node);
    if (typeof raw.rule !== "string" || raw.rule === "") {
      r.fail("a test needs the `rule` it expects", node);
    }
    if (raw.runner !== "HostRunner") {
      r.fail(`runner '${raw.runner}' is not supported (HostRunner)`, node);
    }
    const { cases, ...template } = raw;
    const instances = cases === undefined
      ? [template]
      : expandCases(cases, fail).map((values) =>
        fill(template, values, fail) as Record<string, unknown>
      );
    instances.forEach((t, i) => {
      const name = cases === undefined ? String(t.name) : `${t.name}_testCase#${i}`;
      const test = toTest(t, name, at, fail);
      const eo = test.expectedOutcome;
      const priority = eo.priority ? parsePriority(eo.priority) : undefined;
      if (eo.priority && !priority) {
        fail(`expectedOutcome.priority '${eo.priority}' is not a priority`);
      }
      for (const f of Object.keys(eo.outputFields)) {
        if (!lookupField(f)) fail(`expectedOutcome.outputFields: unknown field '${f}'`);
      }
      out.push({
        file: path,
        name,
        update: false,
        skip: test.skip,
        input: { kind: "evtgen", test },
        expect: {
          mode: "fire",
          rules: [{
            rule: test.rule,
            priority,
            outputFields: Object.entries(eo.outputFields).map(([field, value]) => ({
              field,
              match: { kind: "exact", value: String(value) },
              at,
            })),
            at,
          }],
          never: [],
          at,
        },
        at,
        index,
      });
    });
  });
  return out;
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function toTest(
  t: Record<string, unknown>,
  name: string,
  at: Where | undefined,
  fail: (m: string) => never,
): EvtgenTest {
  const ctx = (t.context ?? {}) as Record<string, unknown>;
  const processes = ((ctx.processes ?? []) as Record<string, unknown>[]).map((p) => ({
    name: str(p.name),
    exe: str(p.exe),
    exePath: str(p.exePath),
    args: str(p.args),
    env: p.env as Record<string, string> | undefined,
    user: str(p.user),
    capabilities: str(p.capabilities),
  }));
  const resources = ((t.resources ?? []) as Record<string, unknown>[]).map((res) => {
    if (res.type === "fd") {
      return {
        type: "fd" as const,
        name: String(res.name),
        subtype: String(res.subtype ?? "file"),
        filePath: str(res.filePath),
        dirPath: str(res.dirPath),
      };
    }
    if (res.type === "clientServer") {
      return {
        type: "clientServer" as const,
        name: String(res.name),
        l4Proto: String(res.l4Proto ?? "tcp4"),
        address: String(res.address ?? ""),
      };
    }
    if (res.type === "process") {
      return {
        type: "process" as const,
        name: String(res.name),
        fileLess: res.fileLess === true,
        exePath: str(res.exePath),
        args: str(res.args),
      };
    }
    return fail(`resource type '${res.type}' is not supported (fd, clientServer, process)`);
  });
  const steps = ((t.steps ?? []) as Record<string, unknown>[]).map((s) => {
    if (s.type !== "syscall") fail(`step type '${s.type}' is not supported (syscall)`);
    return {
      type: "syscall" as const,
      name: String(s.name ?? ""),
      syscall: String(s.syscall),
      args: (s.args ?? {}) as Record<string, unknown>,
    };
  });
  const eo = (t.expectedOutcome ?? {}) as Record<string, unknown>;
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries((eo.outputFields ?? {}) as Record<string, unknown>)) {
    fields[k] = String(v);
  }
  const container = ctx.container === undefined
    ? undefined
    : ctx.container as EvtgenTest["context"]["container"];
  return {
    name,
    rule: String(t.rule),
    description: str(t.description),
    skip: runIfReason(t.runIf),
    context: { container, processes },
    before: str(t.before),
    after: str(t.after),
    resources,
    steps,
    expectedOutcome: { source: str(eo.source), priority: str(eo.priority), outputFields: fields },
    at,
  };
}
