/**
 * Rule test files (src/ruletest): bad input is reported at its file:line:column; captures and
 * Kubernetes audit events run as tests (with Falco's reference captures, audit files and rules);
 * Falco's declarative event-generator files expand into one test per case.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { parseTestFile, type TestFile } from "../../src/ruletest/spec.ts";
import { TestFileError } from "../../src/ruletest/problem.ts";
import { loadTestFiles, runTests } from "../../src/ruletest/runner.ts";

const RULES = `${REPO_ROOT}rules`;

function problem(text: string): TestFileError {
  try {
    const f = parseTestFile("t.yaml", text);
    const bad = f.tests.find((t) => t.invalid);
    if (bad) return bad.invalid!;
  } catch (err) {
    if (err instanceof TestFileError) return err;
    throw err;
  }
  throw new Error("no problem reported");
}

/** Bad test files: the message and the line:column it must name. */
const BAD: { name: string; text: string; message: string; at: string }[] = [
  {
    name: "a misspelt key of a test",
    text: "tests:\n  - name: a\n    events: [{evt.type: openat}]\n    expct: none\n",
    message: "unknown key 'expct' in a test (did you mean 'expect'?)",
    at: "4:5",
  },
  {
    name: "an unknown field in an event",
    text:
      "tests:\n  - name: a\n    events:\n      - {evt.type: openat, fd.nme: /x}\n    expect: none\n",
    message: "unknown field 'fd.nme'",
    at: "4:28",
  },
  {
    name: "an unknown field in the expected output",
    text: "tests:\n  - name: a\n    events: [{evt.type: openat}]\n    expect:\n      fire:\n" +
      "        - rule: R\n          output_fields: {proc.nam: cat}\n",
    message: "unknown field 'proc.nam'",
    at: "7:27",
  },
  {
    name: "an event without a type",
    text: "tests:\n  - name: a\n    events:\n      - {fd.name: /x}\n    expect: none\n",
    message: "an event needs evt.type",
    at: "4:9",
  },
  {
    name: "two inputs",
    text:
      "tests:\n  - name: a\n    events: [{evt.type: openat}]\n    capture: x.scap\n    expect: none\n",
    message: "test 'a' has events and capture: give one of them",
    at: "4:5",
  },
  {
    name: "no expectation",
    text: "tests:\n  - name: a\n    events: [{evt.type: openat}]\n",
    message: "test 'a' needs an `expect`",
    at: "2:5",
  },
  {
    name: "fire and exactly together",
    text:
      "tests:\n  - name: a\n    events: [{evt.type: openat}]\n    expect:\n      fire: [A]\n      exactly: [B]\n",
    message: "give `fire` (at least these) or `exactly`",
    at: "6:7",
  },
  {
    name: "a bad priority",
    text: "priority: urgent\ntests: []\n",
    message: "priority must be one of",
    at: "1:11",
  },
  {
    name: "a bad regex",
    text: "tests:\n  - name: a\n    events: [{evt.type: openat}]\n    expect:\n      fire:\n" +
      "        - rule: R\n          output_fields: {fd.name: {regex: '('}}\n",
    message: "bad regex",
    at: "7:44",
  },
  {
    name: "YAML that does not parse, with the hint about bracketed keys",
    text:
      "tests:\n  - name: a\n    events: [{evt.type: execve, proc.aname[2]: sshd}]\n    expect: none\n",
    message: "quote a field with an argument",
    at: "3:43",
  },
  {
    name: "not a mapping",
    text: "- rule: x\n",
    message: "a test file is a mapping with a `tests:` list",
    at: "1:1",
  },
];

for (const c of BAD) {
  Deno.test(`test files: ${c.name} is reported at its position`, () => {
    const p = problem(c.text);
    assertStringIncludes(p.message, c.message);
    assertEquals(`${p.at?.line}:${p.at?.col}`, c.at, p.message);
  });
}

/** Writes files into a temporary directory and runs their tests. */
async function runIn(files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "saker-ruletest-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    const paths = Object.keys(files).filter((n) => n.endsWith(".test.yaml")).map((n) =>
      `${dir}/${n}`
    );
    const { files: parsed, problems } = await loadTestFiles(paths);
    assertEquals(problems.map((p) => p.error.message), []);
    return { dir, results: await runTests(parsed, { defaultRules: [RULES] }) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("test files: a missing rules file is an error at the rules key", async () => {
  const { results } = await runIn({
    "a.test.yaml":
      "rules: [nothere.yaml]\ntests:\n  - name: a\n    events: [{evt.type: openat}]\n    expect: none\n",
  });
  assertEquals(results[0].status, "error");
  assertStringIncludes(results[0].error!.message, "LOAD_ERR_FILE_READ");
  assertEquals([results[0].error!.at?.line, results[0].error!.at?.col], [1, 8]);
});

Deno.test("test files: a rule name the rules do not have is an error at its position", async () => {
  const { results } = await runIn({
    "a.test.yaml": `rules: [${RULES}]\ntests:\n  - name: a\n    events: [{evt.type: openat}]\n` +
      "    expect:\n      never: [Sensitive file read by untrusted programs]\n",
  });
  assertEquals(results[0].status, "error");
  assertStringIncludes(
    results[0].error!.message,
    "no rule named 'Sensitive file read by untrusted programs'",
  );
  assertEquals(results[0].error!.at?.line, 6);
});

Deno.test("test files: a rule below the test's priority cannot be expected to fire", async () => {
  const { results } = await runIn({
    "a.test.yaml": `rules: [${RULES}]\npriority: warning\ntests:\n  - name: a\n` +
      "    events: [{evt.type: ptrace, evt.arg.request: PTRACE_TRACEME}]\n" +
      "    expect:\n      fire: [Anti-debugging with ptrace]\n",
  });
  assertEquals(results[0].status, "error");
  assertStringIncludes(
    results[0].error!.message,
    "its priority Notice is below the test's Warning",
  );
});

Deno.test("test files: a bad test is reported and the file's other tests still run", async () => {
  const { results } = await runIn({
    "a.test.yaml":
      `rules: [${RULES}]\ntests:\n  - name: bad\n    events: [{evt.type: openat, x.y: 1}]\n` +
      "    expect: none\n  - name: good\n    events: [{evt.type: openat, fd.name: /x}]\n    expect: none\n",
  });
  assertEquals(results.map((r) => r.status), ["error", "pass"]);
});

const ref = (p: string) => `${REFERENCE_DIR}/${p}`;

Deno.test({
  name: "capture tests: Falco's cat_write.scap, counts per rule, a filter and an event range",
  ignore: needsReference(),
  async fn() {
    const rules = [
      ref("falco-legacy-tests/rules/single_rule.yaml"),
      ref("falco-legacy-tests/rules/double_rule.yaml"),
    ];
    const capture = ref("falco-legacy-tests/trace_files/cat_write.scap");
    const { results } = await runIn({
      "c.test.yaml": `rules: ${JSON.stringify(rules)}\npriority: warning\ntests:\n` +
        // Falco's legacy suite: open_from_cat=8, exec_from_cat=1, access_from_cat=0.
        `  - name: counts\n    capture: ${capture}\n    expect:\n      exactly:\n` +
        "        - {rule: open_from_cat, count: 8, priority: Warning}\n" +
        "        - {rule: exec_from_cat, count: 1, priority: Error}\n" +
        `  - name: filter\n    capture: {file: ${capture}, filter: evt.type = execve}\n` +
        "    expect:\n      exactly: [{rule: exec_from_cat, count: 1}]\n" +
        `  - name: range\n    capture: {file: ${capture}, from: 1, to: 5}\n    expect: none\n` +
        `  - name: a rule that does not fire, explained\n    capture: ${capture}\n` +
        "    rules: [cat_passwd.yaml]\n    expect:\n      fire: [cat opens passwd]\n",
      "cat_passwd.yaml": "- rule: cat opens passwd\n  desc: d\n  output: x\n  priority: WARNING\n" +
        "  condition: evt.type = open and proc.name = cat and fd.name = /etc/passwd\n",
    });
    assertEquals(results.map((r) => r.status), ["pass", "pass", "pass", "fail"]);
    const why = results[3].failures.join("\n");
    assertStringIncludes(why, "'cat opens passwd' did not fire");
    // The nearest miss: an open by cat, of another file.
    assertStringIncludes(why, "false: fd.name = /etc/passwd");
    assertStringIncludes(why, "fd.name = /");
  },
});

Deno.test({
  name: "audit tests: Falco's k8s audit rules on an audit file and on inline events",
  ignore: needsReference(),
  async fn() {
    const rules = [ref("falco-rules/k8s_audit_rules.yaml")];
    const file = ref("falco-legacy-tests/trace_files/k8s_audit/create_nginx_pod_privileged.json");
    const inline = (await Deno.readTextFile(file)).trim().split("\n").join(",\n        ");
    const { results } = await runIn({
      "k.test.yaml": `rules: ${JSON.stringify(rules)}\ntests:\n` +
        `  - name: file\n    audit: ${file}\n    expect:\n      fire:\n` +
        "        - rule: Create Privileged Pod\n          count: 1\n" +
        "          output_fields: {ka.req.pod.containers.image: {contains: nginx}}\n" +
        `  - name: inline\n    audit:\n      events: [\n        ${inline}]\n` +
        "    expect:\n      fire: [{rule: Create Privileged Pod, count: 1}]\n" +
        `  - name: a rule that does not fire on it\n    audit: ${file}\n` +
        "    expect:\n      fire: [Create HostNetwork Pod]\n",
    });
    assertEquals(results.map((r) => r.status), ["pass", "pass", "fail"]);
    assertStringIncludes(
      results[2].failures.join("\n"),
      "false: ka.req.pod.host_network intersects (true)",
    );
  },
});

Deno.test({
  name: "event-generator files: Falco's evtgen suite expands into tests named NAME_testCase#N",
  ignore: needsReference(),
  async fn() {
    const dir = ref("falco-evtgen-suite");
    const files: TestFile[] = [];
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      files.push(parseTestFile(path, await Deno.readTextFile(path)));
    }
    assertEquals(files.length, 20);
    assert(files.every((f) => f.evtgen));
    const tests = files.flatMap((f) => f.tests);
    assertEquals(tests.filter((t) => t.invalid).map((t) => t.invalid!.message), []);
    const clear = files.find((f) => f.path.endsWith("clear_log_activities.yaml"))!;
    // 13 targets for open and openat, 10 listed for openat2 (see the file).
    assertEquals(
      clear.tests.length,
      13 * 2 + clear.tests.filter((t) => t.name.startsWith("clear_log_activities_openat2")).length,
    );
    const shell = files.find((f) => f.path.endsWith("run_shell_untrusted.yaml"))!;
    const direct = shell.tests.filter((t) =>
      t.name.startsWith("run_shell_untrusted_direct_spawner_")
    );
    assertEquals(direct.length, 8 * 34);
    const t0 = direct[0];
    assertEquals(t0.input.kind, "evtgen");
    if (t0.input.kind !== "evtgen") return;
    assertEquals(t0.input.test.context.processes.map((p) => p.name), ["fluentd", "ash"]);
    assertEquals(t0.expect.rules[0].rule, "Run shell untrusted");
    assertEquals(t0.expect.rules[0].priority, "Notice");
    assertEquals(t0.expect.rules[0].outputFields.map((f) => f.field), ["proc.name", "proc.pname"]);
    // runIf { arch: ne arm64 } runs on x86_64.
    assertEquals(
      tests.filter((t) => t.skip).length,
      Deno.build.arch === "aarch64" ? tests.filter((t) => t.skip).length : 0,
    );
  },
});
