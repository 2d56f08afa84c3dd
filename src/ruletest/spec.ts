/**
 * Rule test files: their shape, and reading them with every spot's position so that a bad key,
 * an unknown field or a missing rules file is reported at its `file:line:column`.
 *
 * ```yaml
 * rules: [..]                 # rules files or directories, relative to this file
 * priority: warning           # least severe priority loaded (Falco's `priority`)
 * tests:
 *   - name: cat reads /etc/shadow
 *     events:                 # or capture:, audit:, simulate:
 *       - {evt.type: openat, fd.name: /etc/shadow, proc.name: cat}
 *     expect:
 *       fire:                 # at least these (exactly: these and no other)
 *         - rule: Sensitive file read by untrusted program
 *           count: 1
 *           priority: Warning
 *           output_fields: {fd.name: /etc/shadow, proc.cmdline: {regex: "^cat"}}
 *       never: [Log file cleared]
 *   - name: passwd reads /etc/shadow
 *     events: [{evt.type: openat, fd.name: /etc/shadow, proc.name: passwd}]
 *     expect: none
 * ```
 *
 * Falco's declarative event-generator files (`tests:` with `runner`, `steps`,
 * `expectedOutcome`) are read by evtgen.ts into the same {@link TestCase} shape.
 *
 * @example
 * ```ts
 * import { parseTestFile } from "./spec.ts";
 * const file = parseTestFile("t.yaml", "tests:\n  - name: n\n    events: [{evt.type: openat}]\n    expect: none\n");
 * file.tests[0].expect.mode; // "none"
 * ```
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from "yaml";
import { parsePriority, PRIORITIES, type Priority } from "../rules/alert.ts";
import { lookupField } from "../rules/fields/mod.ts";
import type { FieldEntry, SynthValue } from "./synth.ts";
import { TestFileError, type Where } from "./problem.ts";
import { parseEvtgenTests, quoteTemplates } from "./evtgen.ts";

/** How an output field's value is matched. */
export type ValueMatch =
  | { kind: "exact"; value: string | number | boolean | null }
  | { kind: "regex"; value: string; re: RegExp }
  | { kind: "glob"; value: string; re: RegExp }
  | { kind: "contains"; value: string };

/** An expected output field. */
export interface FieldExpect {
  field: string;
  match: ValueMatch;
  at?: Where;
}

/** A rule expected to fire. */
export interface RuleExpect {
  rule: string;
  /** Exact number of alerts (default: at least one). */
  count?: number;
  priority?: Priority;
  outputFields: FieldExpect[];
  at?: Where;
}

/** What a test expects of the alerts. */
export interface Expectation {
  /** `fire`: at least the listed rules; `exactly`: those and no other; `none`: no alert. */
  mode: "fire" | "exactly" | "none";
  rules: RuleExpect[];
  /** Rules that must not fire. */
  never: { rule: string; at?: Where }[];
  at?: Where;
}

/** What a test runs. */
export type TestInput =
  | { kind: "events"; events: FieldEntry[][] }
  | { kind: "capture"; file: string; filter?: string; from?: number; to?: number; at?: Where }
  | { kind: "audit"; file?: string; events?: unknown[]; at?: Where }
  | { kind: "simulate"; action: string; at?: Where }
  | { kind: "evtgen"; test: import("./evtgen.ts").EvtgenTest };

/** One test. */
export interface TestCase {
  file: string;
  name: string;
  /** Rules paths (resolved against the test file); undefined: the default rules. */
  rules?: string[];
  rulesAt?: Where;
  /** Least severe priority loaded. */
  priority?: Priority;
  /** `--update` may rewrite this test's expected output fields. */
  update: boolean;
  /** Skip with this reason. */
  skip?: string;
  /** The test could not be read: it is reported with this problem and not run. */
  invalid?: TestFileError;
  input: TestInput;
  expect: Expectation;
  at?: Where;
  /** Index of the test in its file (for updates). */
  index: number;
}

/** A parsed test file. */
export interface TestFile {
  path: string;
  text: string;
  tests: TestCase[];
  /** Falco's declarative event-generator format. */
  evtgen: boolean;
}

/** Reads YAML nodes with positions. */
export class YamlReader {
  readonly lines = new LineCounter();
  constructor(readonly file: string) {}

  at(node: unknown): Where | undefined {
    const off = (node as { range?: number[] } | null | undefined)?.range?.[0];
    if (off === undefined) return undefined;
    const { line, col } = this.lines.linePos(off);
    return { file: this.file, line, col };
  }

  fail(msg: string, node: unknown): never {
    throw new TestFileError(msg, this.at(node));
  }

  map(node: unknown, what: string): YAMLMap<unknown, unknown> {
    if (!isMap(node)) this.fail(`${what} must be a mapping`, node);
    return node as YAMLMap<unknown, unknown>;
  }

  /** Key/value pairs of a mapping, each key checked against `known`. */
  pairs(map: YAMLMap<unknown, unknown>, known: readonly string[] | undefined, what: string) {
    const out = new Map<string, { key: Node; value: unknown }>();
    for (const p of map.items) {
      const key = p.key as Node;
      if (!isScalar(key)) this.fail(`${what}: keys must be plain names`, key ?? map);
      const name = String(key.value);
      if (known && !known.includes(name)) {
        const near = known.find((k) => similar(k, name));
        this.fail(
          `unknown key '${name}' in ${what}${near ? ` (did you mean '${near}'?)` : ""}; known: ${
            known.join(", ")
          }`,
          key,
        );
      }
      if (out.has(name)) this.fail(`key '${name}' given twice in ${what}`, key);
      out.set(name, { key, value: p.value });
    }
    return out;
  }

  string(node: unknown, what: string): string {
    if (!isScalar(node) || node.value === null || typeof node.value === "object") {
      this.fail(`${what} must be a text`, node);
    }
    return String((node as { value: unknown }).value);
  }

  int(node: unknown, what: string, min = 0): number {
    const v = isScalar(node) ? Number(node.value) : NaN;
    if (!Number.isInteger(v) || v < min) {
      this.fail(`${what} must be a whole number >= ${min}`, node);
    }
    return v;
  }

  bool(node: unknown, what: string): boolean {
    if (!isScalar(node) || typeof node.value !== "boolean") {
      this.fail(`${what} must be true or false`, node);
    }
    return (node as { value: boolean }).value;
  }

  /** A scalar or a list of scalars, as a list. */
  strings(node: unknown, what: string): { value: string; at?: Where }[] {
    if (isSeq(node)) {
      return node.items.map((i) => ({ value: this.string(i, what), at: this.at(i) }));
    }
    return [{ value: this.string(node, what), at: this.at(node) }];
  }

  /** A field value: a scalar, or a list of scalars. */
  fieldValue(node: unknown, what: string): { value: SynthValue; raw?: string } {
    if (isSeq(node)) {
      return {
        value: node.items.map((i) => this.fieldValue(i, what).value as SynthValue),
      };
    }
    if (node === null || node === undefined) return { value: null };
    if (!isScalar(node)) this.fail(`${what} must be a value or a list of values`, node);
    const v = node.value;
    if (v !== null && typeof v === "object") this.fail(`${what} must be a value`, node);
    return {
      value: v as SynthValue,
      raw: typeof node.source === "string" ? node.source : undefined,
    };
  }
}

/** Names within two edits of each other (a likely typo). */
function similar(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] <= 2;
}

const FILE_KEYS = ["rules", "priority", "tests"] as const;
const TEST_KEYS = [
  "name",
  "description",
  "rules",
  "priority",
  "update",
  "skip",
  "events",
  "capture",
  "audit",
  "simulate",
  "expect",
] as const;
const INPUT_KEYS = ["events", "capture", "audit", "simulate"] as const;
const EXPECT_KEYS = ["fire", "exactly", "never", "none"] as const;
const RULE_KEYS = ["rule", "count", "priority", "output_fields"] as const;
const CAPTURE_KEYS = ["file", "filter", "from", "to"] as const;
const AUDIT_KEYS = ["file", "events"] as const;
const MATCH_KEYS = ["regex", "glob", "contains"] as const;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

/** A path written in a test file, relative to the file's directory. */
export function resolveFrom(file: string, p: string): string {
  if (p.startsWith("/") || p.startsWith("builtin:")) return p;
  const dir = dirOf(file);
  const joined = dir === "." ? p : `${dir}/${p}`;
  const parts: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "." || (seg === "" && parts.length > 0)) continue;
    if (seg === ".." && parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else parts.push(seg);
  }
  return parts.join("/") || ".";
}

/** Parses a test file (either format). Throws {@link TestFileError} at the first problem. */
export function parseTestFile(path: string, text: string): TestFile {
  const r: YamlReader = new YamlReader(path);
  const doc = parseDocument(quoteTemplates(text), { lineCounter: r.lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const { line, col } = r.lines.linePos(e.pos[0]);
    const src = text.split("\n")[line - 1] ?? "";
    const hint = /\{[^}]*\w\[[^\]]*\]\s*:/.test(src)
      ? " (in a {...} mapping, quote a field with an argument: 'proc.aname[2]': sshd)"
      : "";
    throw new TestFileError(`YAML: ${e.message.split("\n")[0]}${hint}`, { file: path, line, col });
  }
  const root = doc.contents;
  if (!isMap(root)) r.fail("a test file is a mapping with a `tests:` list", root ?? doc);
  const testsNode = (root as YAMLMap).get("tests", true);
  if (
    isSeq(testsNode) &&
    testsNode.items.some((t) => isMap(t) && (t.has("expectedOutcome") || t.has("runner")))
  ) {
    return { path, text, tests: parseEvtgenTests(path, text, r, root as YAMLMap), evtgen: true };
  }
  const top = r.pairs(root as YAMLMap, FILE_KEYS, "a test file");
  const fileRules = top.has("rules") ? rulesList(r, path, top.get("rules")!.value) : undefined;
  const filePriority = top.has("priority") ? priority(r, top.get("priority")!.value) : undefined;
  const list = top.get("tests")?.value;
  if (!isSeq(list)) r.fail("a test file needs a `tests:` list", list ?? root);
  const tests: TestCase[] = [];
  const names = new Set<string>();
  list.items.forEach((node, index) => {
    let t: TestCase;
    try {
      t = parseTest(r, path, node, index);
    } catch (err) {
      if (!(err instanceof TestFileError)) throw err;
      // A bad test is reported as such; the file's other tests still run.
      const name = isMap(node) && isScalar(node.get("name", true))
        ? String(node.get("name"))
        : `test ${index + 1}`;
      t = {
        file: path,
        name,
        update: false,
        invalid: err,
        input: { kind: "events", events: [] },
        expect: { mode: "none", rules: [], never: [] },
        at: r.at(node),
        index,
      };
    }
    if (names.has(t.name)) r.fail(`two tests are named '${t.name}' in this file`, node);
    names.add(t.name);
    t.rules ??= fileRules?.paths;
    t.rulesAt ??= fileRules?.at;
    t.priority ??= filePriority;
    tests.push(t);
  });
  return { path, text, tests, evtgen: false };
}

function rulesList(r: YamlReader, file: string, node: unknown) {
  const items = r.strings(node, "rules");
  return { paths: items.map((i) => resolveFrom(file, i.value)), at: r.at(node) };
}

function priority(r: YamlReader, node: unknown): Priority {
  const p = parsePriority(r.string(node, "priority"));
  if (!p) r.fail(`priority must be one of ${PRIORITIES.join(", ")}`, node);
  return p;
}

function parseTest(r: YamlReader, file: string, node: unknown, index: number): TestCase {
  const m = r.map(node, "a test");
  const keys = r.pairs(m, TEST_KEYS, "a test");
  const nameNode = keys.get("name")?.value;
  if (nameNode === undefined) r.fail("a test needs a `name`", m);
  const name = r.string(nameNode, "name");
  const inputs = INPUT_KEYS.filter((k) => keys.has(k));
  if (inputs.length !== 1) {
    r.fail(
      inputs.length === 0
        ? `test '${name}' needs one of ${INPUT_KEYS.join(", ")}`
        : `test '${name}' has ${inputs.join(" and ")}: give one of them`,
      inputs.length === 0 ? m : keys.get(inputs[1])!.key,
    );
  }
  const inputKey = inputs[0];
  const inputNode = keys.get(inputKey)!.value;
  let input: TestInput;
  switch (inputKey) {
    case "events":
      input = { kind: "events", events: parseEvents(r, inputNode) };
      break;
    case "capture":
      input = parseCapture(r, file, inputNode);
      break;
    case "audit":
      input = parseAudit(r, file, inputNode);
      break;
    case "simulate":
      input = { kind: "simulate", action: r.string(inputNode, "simulate"), at: r.at(inputNode) };
      break;
  }
  const expectNode = keys.get("expect")?.value;
  if (expectNode === undefined) r.fail(`test '${name}' needs an \`expect\``, m);
  const rules = keys.has("rules") ? rulesList(r, file, keys.get("rules")!.value) : undefined;
  return {
    file,
    name,
    rules: rules?.paths,
    rulesAt: rules?.at,
    priority: keys.has("priority") ? priority(r, keys.get("priority")!.value) : undefined,
    update: keys.has("update") ? r.bool(keys.get("update")!.value, "update") : false,
    skip: keys.has("skip") ? r.string(keys.get("skip")!.value, "skip") : undefined,
    input,
    expect: parseExpect(r, expectNode),
    at: r.at(m),
    index,
  };
}

function parseEvents(r: YamlReader, node: unknown): FieldEntry[][] {
  if (!isSeq(node) || node.items.length === 0) r.fail("events must be a list of events", node);
  return node.items.map((item) => {
    const m = r.map(item, "an event (field: value ...)");
    const out: FieldEntry[] = [];
    for (const [key, { key: keyNode, value }] of r.pairs(m, undefined, "an event")) {
      if (!lookupField(key)) {
        r.fail(`unknown field '${key}' (saker fields lists them)`, keyNode);
      }
      const v = r.fieldValue(value, key);
      out.push({ key, value: v.value, raw: v.raw, at: r.at(keyNode) });
    }
    if (!out.some((e) => e.key === "evt.type" || e.key === "syscall.type")) {
      r.fail("an event needs evt.type (openat, execve, connect ...)", m);
    }
    return out;
  });
}

function parseCapture(r: YamlReader, file: string, node: unknown): TestInput {
  if (isScalar(node)) {
    return { kind: "capture", file: resolveFrom(file, r.string(node, "capture")), at: r.at(node) };
  }
  const keys = r.pairs(r.map(node, "capture"), CAPTURE_KEYS, "capture");
  const f = keys.get("file")?.value;
  if (f === undefined) r.fail("capture needs a `file`", node);
  const from = keys.has("from") ? r.int(keys.get("from")!.value, "from", 1) : undefined;
  const to = keys.has("to") ? r.int(keys.get("to")!.value, "to", 1) : undefined;
  if (from !== undefined && to !== undefined && to < from) {
    r.fail("`to` comes before `from`", keys.get("to")!.value);
  }
  return {
    kind: "capture",
    file: resolveFrom(file, r.string(f, "file")),
    filter: keys.has("filter") ? r.string(keys.get("filter")!.value, "filter") : undefined,
    from,
    to,
    at: r.at(f),
  };
}

function parseAudit(r: YamlReader, file: string, node: unknown): TestInput {
  if (isScalar(node)) {
    return { kind: "audit", file: resolveFrom(file, r.string(node, "audit")), at: r.at(node) };
  }
  if (isSeq(node)) return { kind: "audit", events: node.toJSON() as unknown[], at: r.at(node) };
  const keys = r.pairs(r.map(node, "audit"), AUDIT_KEYS, "audit");
  if (keys.has("file") === keys.has("events")) {
    r.fail("audit needs one of `file` or `events`", node);
  }
  if (keys.has("file")) {
    const f = keys.get("file")!.value;
    return { kind: "audit", file: resolveFrom(file, r.string(f, "file")), at: r.at(f) };
  }
  const ev = keys.get("events")!.value;
  if (!isSeq(ev)) r.fail("audit events must be a list", ev);
  return { kind: "audit", events: ev.toJSON() as unknown[], at: r.at(ev) };
}

function parseExpect(r: YamlReader, node: unknown): Expectation {
  if (isScalar(node)) {
    if (node.value === "none") return { mode: "none", rules: [], never: [], at: r.at(node) };
    r.fail("expect is `none` or a mapping with fire, exactly or never", node);
  }
  const keys = r.pairs(r.map(node, "expect"), EXPECT_KEYS, "expect");
  if (keys.has("fire") && keys.has("exactly")) {
    r.fail(
      "give `fire` (at least these) or `exactly` (these and no other), not both",
      keys.get("exactly")!.key,
    );
  }
  const never = keys.has("never")
    ? r.strings(keys.get("never")!.value, "never").map((n) => ({ rule: n.value, at: n.at }))
    : [];
  if (keys.has("none")) {
    if (!r.bool(keys.get("none")!.value, "none")) {
      r.fail("none: false means nothing; leave it out", keys.get("none")!.value);
    }
    if (keys.has("fire") || keys.has("exactly")) {
      r.fail("`none` with rules to fire", keys.get("none")!.key);
    }
    return { mode: "none", rules: [], never, at: r.at(node) };
  }
  const mode = keys.has("exactly") ? "exactly" : "fire";
  const listNode = keys.get(mode)?.value;
  const rules = listNode === undefined ? [] : ruleList(r, listNode, mode);
  if (rules.length === 0 && never.length === 0) r.fail("expect names no rule", node);
  return { mode, rules, never, at: r.at(node) };
}

function ruleList(r: YamlReader, node: unknown, what: string): RuleExpect[] {
  const items = isSeq(node) ? node.items : [node];
  return items.map((item) => {
    if (isScalar(item)) {
      return { rule: r.string(item, "rule"), outputFields: [], at: r.at(item) };
    }
    const keys = r.pairs(r.map(item, `a rule under ${what}`), RULE_KEYS, `a rule under ${what}`);
    const ruleNode = keys.get("rule")?.value;
    if (ruleNode === undefined) r.fail("an expected rule needs `rule`", item);
    const fields: FieldExpect[] = [];
    if (keys.has("output_fields")) {
      const fm = r.map(keys.get("output_fields")!.value, "output_fields");
      for (const [field, { key, value }] of r.pairs(fm, undefined, "output_fields")) {
        if (!outputFieldKnown(field)) {
          r.fail(`unknown field '${field}' (saker fields lists them)`, key);
        }
        fields.push({ field, match: valueMatch(r, value, field), at: r.at(key) });
      }
    }
    return {
      rule: r.string(ruleNode, "rule"),
      count: keys.has("count") ? r.int(keys.get("count")!.value, "count", 1) : undefined,
      priority: keys.has("priority") ? priority(r, keys.get("priority")!.value) : undefined,
      outputFields: fields,
      at: r.at(ruleNode),
    };
  });
}

function globRe(g: string): RegExp {
  let re = "";
  for (const c of g) {
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

function valueMatch(r: YamlReader, node: unknown, field: string): ValueMatch {
  if (isMap(node)) {
    const keys = r.pairs(node, MATCH_KEYS, `the value of ${field}`);
    if (keys.size !== 1) r.fail(`give one of ${MATCH_KEYS.join(", ")}`, node);
    const [kind, { value }] = [...keys][0];
    const text = r.string(value, kind);
    if (kind === "regex") {
      try {
        return { kind, value: text, re: new RegExp(text, "s") };
      } catch (e) {
        r.fail(`bad regex: ${(e as Error).message}`, value);
      }
    }
    if (kind === "glob") return { kind, value: text, re: globRe(text) };
    return { kind: "contains", value: text };
  }
  if (node !== null && node !== undefined && !isScalar(node)) {
    r.fail(`the value of ${field} must be a value or {regex|glob|contains: ...}`, node);
  }
  const v = isScalar(node) ? node.value : null;
  return { kind: "exact", value: v as string | number | boolean | null };
}

/** The text of a value match, for messages. */
export function matchText(m: ValueMatch): string {
  if (m.kind === "exact") return m.value === null ? "<NA>" : String(m.value);
  return `${m.kind} ${JSON.stringify(m.value)}`;
}

/** True when an output field value satisfies a match (`null` and `<NA>` are alike). */
export function valueMatches(m: ValueMatch, actual: unknown): boolean {
  const text = actual === null || actual === undefined ? "<NA>" : String(actual);
  switch (m.kind) {
    case "exact":
      return m.value === null ? text === "<NA>" : text === String(m.value);
    case "regex":
    case "glob":
      return m.re.test(text);
    case "contains":
      return text.includes(m.value);
  }
}

/**
 * A field an alert's `output_fields` can hold: a field, a sequence's `step[N].FIELD` or a
 * threshold's `threshold.count`.
 */
function outputFieldKnown(field: string): boolean {
  if (field === "threshold.count") return true;
  return lookupField(field.replace(/^step\[\d+\]\./, "")) !== undefined;
}
