/**
 * Loading semantics: exceptions (list and scalar forms, appended values), overrides (append and
 * replace per key), deprecated append, list substitution and nesting, macro visibility, event-type
 * inference, rule selection, output strings, and error positions.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadRulesText, loadWarnings } from "../../src/rules/loader.ts";
import { buildEngineRules } from "../../src/agent/build_rules.ts";
import { REPO_ROOT } from "../support/env.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { formatResult } from "../../src/rules/result.ts";
import { setNames, setSize } from "../../src/rules/evttypes.ts";
import { EVENTS_BY_NAME } from "./rules_cases.ts";
import type { Alert } from "../../src/rules/alert.ts";

function load(text: string) {
  return loadRulesText([{ name: "t.yaml", text }]);
}

function matches(text: string, ev: keyof typeof EVENTS_BY_NAME, opts = {}): string[] {
  const loaded = load(text);
  const errs = loaded.results.flatMap((r) => r.errors.map((e) => `${e.code}: ${e.message}`));
  assertEquals(errs, []);
  const out: string[] = [];
  compileRuleset(loaded, { ruleMatching: "all", ...opts }).evaluate(
    EVENTS_BY_NAME[ev](),
    (a: Alert) => out.push(a.rule),
  );
  return out;
}

const RULE = (cond: string, extra = "") =>
  `- rule: r\n  desc: d\n  condition: ${cond}\n  output: o\n  priority: WARNING\n${extra}`;

Deno.test("exceptions: list form with comps, scalar form, quoted and list values", () => {
  const base = RULE(
    "evt.type = openat",
    `  exceptions:
    - name: by_name_file
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [Cat, /etc/]
`,
  );
  assertEquals(matches(base, "open"), []);
  const miss = base.replace("[Cat, /etc/]", "[Cat, /usr/]");
  assertEquals(matches(miss, "open"), ["r"]);
  const scalar = RULE(
    "evt.type = openat",
    `  exceptions:
    - name: names
      fields: proc.name
      values: [nginx, Cat]
`,
  );
  assertEquals(matches(scalar, "open"), []);
  const inList = RULE(
    "evt.type = openat",
    `  exceptions:
    - name: name_in
      fields: [proc.name, fd.name]
      comps: [in, =]
      values:
        - [[nginx, Cat], /etc/passwd]
`,
  );
  assertEquals(matches(inList, "open"), []);
  const listRef = `- list: cats\n  items: [Cat, dog]\n` + RULE(
    "evt.type = openat",
    `  exceptions:
    - name: ref
      fields: [proc.name]
      comps: [in]
      values:
        - [cats]
`,
  );
  assertEquals(matches(listRef, "open"), []);
  const noValues = RULE(
    "evt.type = openat",
    `  exceptions:
    - name: empty
      fields: [proc.name]
`,
  );
  assertEquals(matches(noValues, "open"), ["r"]);
});

Deno.test("exceptions: appended values, override append and replace", () => {
  const base = RULE(
    "evt.type = openat",
    `  exceptions:
    - name: names
      fields: [proc.name]
      values: [[nginx]]
`,
  );
  assertEquals(matches(base, "open"), ["r"]);
  const appended = base + `- rule: r\n  exceptions:\n    - name: names\n      values: [[Cat]]\n` +
    `  append: true\n`;
  assertEquals(matches(appended, "open"), []);
  const overrideAppend = base +
    `- rule: r\n  exceptions:\n    - name: names\n      values: [[Cat]]\n  override:\n    exceptions: append\n`;
  assertEquals(matches(overrideAppend, "open"), []);
  const overrideReplace = base + `- rule: r\n  exceptions:\n    - name: other\n` +
    `      fields: [proc.name]\n      values: [[nginx]]\n  override:\n    exceptions: replace\n`;
  assertEquals(matches(overrideReplace, "open"), ["r"]);
});

Deno.test("overrides: condition append/replace, output, priority, enabled, tags", () => {
  const base = RULE("evt.type = openat", "  tags: [a]\n");
  const narrowed = base + `- rule: r\n  condition: and proc.name = nginx\n  override:\n` +
    `    condition: append\n`;
  assertEquals(matches(narrowed, "open"), []);
  const replaced = base +
    `- rule: r\n  condition: evt.type = connect\n  override:\n    condition: replace\n`;
  assertEquals(matches(replaced, "open"), []);
  assertEquals(matches(replaced, "connect"), ["r"]);
  const disabled = base + `- rule: r\n  enabled: false\n  override:\n    enabled: replace\n`;
  assertEquals(matches(disabled, "open"), []);
  const legacyDisabled = base + `- rule: r\n  enabled: false\n`;
  assertEquals(matches(legacyDisabled, "open"), []);
  const prio = base + `- rule: r\n  priority: DEBUG\n  override:\n    priority: replace\n`;
  assertEquals(matches(prio, "open", { minPriority: "Warning" }), []);
  assertEquals(matches(base, "open", { minPriority: "Warning" }), ["r"]);
  const tags = load(base + `- rule: r\n  tags: [b]\n  override:\n    tags: append\n`);
  assertEquals(tags.rules[0].tags, ["a", "b"]);
  const out = load(base + `- rule: r\n  output: more\n  override:\n    output: append\n`);
  assertEquals(out.rules[0].outputText, "o more");
  const bad = load(base + `- rule: r\n  priority: DEBUG\n  override:\n    priority: append\n`);
  assertStringIncludes(bad.results[0].errors[0].message, "cannot be appended to");
  const missing = load(base + `- rule: r\n  override:\n    condition: append\n`);
  assertStringIncludes(missing.results[0].errors[0].message, "is not defined");
});

Deno.test("append (deprecated): conditions join with one space, macros and lists too", () => {
  const text = `- list: l\n  items: [nginx]\n- list: l\n  items: [Cat]\n  append: true\n` +
    `- macro: m\n  condition: evt.type = openat\n- macro: m\n  condition: and proc.name in (l)\n` +
    `  append: true\n` + RULE("m");
  assertEquals(matches(text, "open"), ["r"]);
  const loaded = load(text);
  assert(loaded.results[0].warnings.some((w) => w.code === "LOAD_DEPRECATED_ITEM"));
});

Deno.test("lists: substitution at delimiters only, nesting, quoting of items with spaces", () => {
  const text =
    `- list: files\n  items: [/etc/passwd, "/a b"]\n- list: more\n  items: [files, /x]\n` +
    RULE("evt.type = openat and fd.name in (more) and not fd.name = files_x");
  assertEquals(matches(text, "open"), ["r"]);
  const loaded = load(text);
  assertStringIncludes(loaded.rules[0].conditionText, `"/a b"`);
  assertStringIncludes(loaded.rules[0].conditionText, "files_x");
});

Deno.test("macros: a macro sees only macros defined before it; rules see all", () => {
  const later = `- macro: a\n  condition: b\n- macro: b\n  condition: evt.type = openat\n` +
    RULE("a");
  const loaded = load(later);
  assertEquals(loaded.results[0].errors[0].message, "Undefined macro 'b' used in filter.");
  const ok = `- macro: b\n  condition: evt.type = openat\n- macro: a\n  condition: b\n` + RULE("a");
  assertEquals(matches(ok, "open"), ["r"]);
  const unused = load(`- macro: u\n  condition: evt.type = open\n- list: ul\n  items: [x]\n`);
  assertEquals(unused.results[0].warnings.map((w) => w.code).sort(), [
    "LOAD_UNUSED_LIST",
    "LOAD_UNUSED_MACRO",
  ]);
});

Deno.test("event types: and intersects, or unites, negation pushed down; evt.type maps every id", () => {
  const types = (cond: string) =>
    setNames(load(RULE(cond, "  warn_evttypes: false\n")).rules[0].eventTypes);
  assertEquals(types("evt.type = openat and proc.name = x"), ["openat"]);
  assertEquals(types("evt.type in (open, execve) or evt.type = connect"), [
    "connect",
    "execve",
    "open",
  ]);
  assertEquals(types("evt.type = execve and not proc.name = x or evt.type = open"), [
    "execve",
    "open",
  ]);
  const loaded = load(RULE("evt.type = openat"));
  assert(setSize(loaded.rules[0].eventTypes) >= 4, "enter, exit and old versions of openat");
  const noType = load(RULE("proc.name = x"));
  assertEquals(noType.results[0].warnings.map((w) => w.code), ["LOAD_NO_EVTTYPE"]);
  const notIn = load(RULE("not evt.type in (open, execve)"));
  assertEquals(notIn.results[0].warnings.map((w) => w.code), ["LOAD_NO_EVTTYPE"]);
});

Deno.test("selection: by name pattern and tag, first vs all matching", () => {
  const text = RULE("evt.type = openat", "  tags: [fs]\n") +
    RULE("evt.type = openat", "  tags: [net]\n").replace("rule: r", "rule: r2");
  assertEquals(matches(text, "open"), ["r", "r2"]);
  assertEquals(matches(text, "open", { ruleMatching: "first" }), ["r"]);
  assertEquals(matches(text, "open", { select: [{ action: "disable", rule: "r*" }] }), []);
  assertEquals(matches(text, "open", { select: [{ action: "disable", tag: "fs" }] }), ["r2"]);
  assertEquals(
    matches(text, "open", {
      select: [{ action: "disable", rule: "*" }, { action: "enable", tag: "net" }],
    }),
    ["r2"],
  );
});

Deno.test("outputs: fields, arguments, transformers, widths and <NA>", () => {
  const loaded = load(
    `- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: "file=%fd.name p=%proc.aname[1] ` +
      `u=%toupper(proc.name) w=[%5evt.rawres] c=%fd.cport x=%proc.namex"\n  priority: WARNING\n`,
  );
  let alert: Alert | undefined;
  compileRuleset(loaded).evaluate(EVENTS_BY_NAME.open(), (a) => alert = a);
  assertEquals(
    alert?.output,
    "file=/etc/passwd p=bash u=CAT w=[3    ] c=<NA> x=Catx",
  );
  assertEquals(alert?.outputFields["fd.cport"], null);
  assertEquals(alert?.outputFields["evt.rawres"], 3);
  assertEquals(alert?.priority, "Warning");
  const bad = load(RULE("evt.type = openat").replace("output: o", "output: x %nope"));
  assertEquals(bad.results[0].errors[0].code, "LOAD_ERR_COMPILE_OUTPUT");
});

Deno.test("errors: precise codes, messages and positions; broken rules do not stop others", () => {
  const text =
    `- rule: ok\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n` +
    `- rule: bad type\n  desc: d\n  condition: evt.type = openat and evt.rawres contains 3\n` +
    `  output: o\n  priority: INFO\n` +
    `- rule: bad paren\n  desc: d\n  condition: (evt.type = openat\n  output: o\n  priority: INFO\n` +
    `- rule: bad prio\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: LOUD\n` +
    `- rule: bad op\n  desc: d\n  condition: evt.type = openat and proc.name like x\n` +
    `  output: o\n  priority: INFO\n`;
  const loaded = load(text);
  assertEquals(loaded.rules.map((r) => r.name), ["ok"]);
  const errs = loaded.results[0].errors.map((e) => [
    e.code,
    e.context.find("rule")?.itemName,
    `${e.context.last.line}:${e.context.last.column}`,
  ]);
  assertEquals(errs, [
    // the priority value, the check, the end of the condition, the operator
    ["LOAD_ERR_YAML_VALIDATE", "bad prio", "20:13"],
    ["LOAD_ERR_COMPILE_CONDITION", "bad type", "8:36"],
    ["LOAD_ERR_COMPILE_CONDITION", "bad paren", "13:31"],
    ["LOAD_ERR_COMPILE_CONDITION", "bad op", "23:46"],
  ]);
  const text2 = formatResult(loaded.results[0], loaded.contents);
  assertStringIncludes(text2, "'contains' operator not supported for numeric filters");
  assertStringIncludes(text2, "expected a ')' token");
  assertStringIncludes(text2, "Invalid priority");
  assertStringIncludes(text2, "^");
});

Deno.test("YAML errors carry positions; a non-list document is rejected", () => {
  const bad = load("- rule: x\n  desc: [unclosed\n");
  assertEquals(bad.results[0].errors[0].code, "LOAD_ERR_YAML_PARSE");
  assert(bad.results[0].errors[0].context.last.line >= 2);
  assertEquals(
    load("foo: bar\n").results[0].errors[0].message,
    "Rules content is not yaml array of objects",
  );
  const unknown = load(RULE("evt.type = openat", "  colour: red\n") + "- thing: 1\n");
  assertEquals(unknown.results[0].warnings.map((w) => w.code).sort(), [
    "LOAD_UNKNOWN_ITEM",
    "LOAD_UNKNOWN_KEY",
  ]);
});

Deno.test("loader: a split rule set reports the macros and lists unused at its end only", () => {
  const loaded = loadRulesText([
    {
      name: "base.yaml",
      text: "- macro: shared\n  condition: evt.type = openat\n" +
        "- macro: spare\n  condition: evt.type = close\n",
    },
    {
      name: "rules.yaml",
      text: "- rule: r\n  desc: d\n  condition: shared\n  output: o\n  priority: INFO\n",
    },
  ]);
  // Falco's per-file reports: the first file's load sees neither macro used yet.
  assertEquals(loaded.results[0].warnings.map((w) => w.code), [
    "LOAD_UNUSED_MACRO",
    "LOAD_UNUSED_MACRO",
  ]);
  const set = loadWarnings(loaded);
  assertEquals(set.map((w) => [w.file, w.warning.code]), [["rules.yaml", "LOAD_UNUSED_MACRO"]]);
  assertStringIncludes(JSON.stringify(set[0].warning.context), "spare");
});

Deno.test("loader: Saker's default rules load with no error and no warning", async () => {
  const built = await buildEngineRules([`${REPO_ROOT}rules`], {
    priority: "Debug",
    ruleMatching: "first",
    selection: [],
    appendOutput: [],
  });
  assertEquals(built.warnings, []);
  assert(built.ruleCount > 40, `${built.ruleCount} rules`);
});
