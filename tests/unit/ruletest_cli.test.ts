/**
 * `saker test` and `saker explain` as commands (subprocesses, real exit status): a line per
 * test, the summary, the explanation of a failure, exit 1 on failure or a bad file, --junit,
 * --json, --coverage, --update rewriting a test file, the default test directory beside the
 * config's rules, and `saker explain` on a synthetic event and on a capture's event.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";

async function saker(
  args: string[],
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}src/main.ts`, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { SAKER_CONFIG: "" },
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

const RULES = `${REPO_ROOT}rules`;

const TESTS = `rules: [${RULES}]
tests:
  - name: cat reads /etc/shadow
    events:
      - {evt.type: openat, proc.name: cat, fd.name: /etc/shadow}
    expect:
      fire: [Sensitive file read by untrusted program]
  - name: passwd reads /etc/shadow (expected to fire, wrongly)
    events:
      - {evt.type: openat, proc.name: passwd, fd.name: /etc/shadow}
    expect:
      fire: [Sensitive file read by untrusted program]
`;

async function withDir(fn: (dir: string) => Promise<void>, files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "saker-test-cli-" });
  try {
    for (const [n, t] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${n}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeTextFile(`${dir}/${n}`, t);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("saker test: a line per test, the explanation of a failure, the summary, exit 1", async () => {
  await withDir(async (dir) => {
    const r = await saker(["test", `${dir}/t.yaml`, "--junit", `${dir}/junit.xml`]);
    assertEquals(r.code, 1, r.err);
    assertMatch(r.out, /^PASS {2}.*t\.yaml: cat reads \/etc\/shadow \(/m);
    assertMatch(r.out, /^FAIL {2}.*t\.yaml: passwd reads \/etc\/shadow/m);
    assertStringIncludes(r.out, "'Sensitive file read by untrusted program' did not fire");
    assertStringIncludes(r.out, "false: not proc.name in (login, su, sudo");
    assertStringIncludes(r.out, "proc.name = passwd");
    assertMatch(r.out, /^1 passed, 1 failed, 0 skipped, 0 errors \(1 file, [\d.]+ s\)$/m);
    const xml = await Deno.readTextFile(`${dir}/junit.xml`);
    assertEquals(xml.match(/<testcase /g)?.length, 2);
    assertEquals(xml.match(/<failure /g)?.length, 1);
    assertStringIncludes(xml, 'tests="2" failures="1" errors="0" skipped="0"');
  }, { "t.yaml": TESTS });
});

Deno.test("saker test: --json and --coverage", async () => {
  await withDir(async (dir) => {
    const r = await saker(["test", "--json", "--coverage", `${dir}/t.yaml`]);
    assertEquals(r.code, 1);
    const j = JSON.parse(r.out);
    assertEquals(j.summary, { passed: 1, failed: 1, skipped: 0, errors: 0 });
    assertEquals(j.tests[1].status, "fail");
    const rule = j.coverage.rules.find((c: { rule: string }) =>
      c.rule === "Sensitive file read by untrusted program"
    );
    assertEquals([rule.positive, rule.negative], [1, 0]);
    assert(j.coverage.total >= 40 && j.coverage.covered === 0);
    const text = await saker(["test", "--coverage", `${dir}/t.yaml`]);
    assertMatch(
      text.out,
      /MISS Sensitive file read by untrusted program +\+1 -0 +\(no negative test\)/,
    );
    assertMatch(text.out, /^rules covered: 0\/\d+ \(0\.0 %\)$/m);
  }, { "t.yaml": TESTS });
});

Deno.test("saker test: a bad test file is an error with file:line:column, exit 1", async () => {
  await withDir(async (dir) => {
    const r = await saker(["test", `${dir}/bad.yaml`]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.out, `${dir}/bad.yaml:5:28: error: unknown field 'fd.nam'`);
    assertStringIncludes(r.out, "|                            ^");
    assertMatch(r.out, /^0 passed, 0 failed, 0 skipped, 1 errors/m);
  }, {
    "bad.yaml":
      `rules: [${RULES}]\ntests:\n  - name: x\n    events:\n      - {evt.type: openat, fd.nam: /x}\n    expect: none\n`,
  });
});

Deno.test("saker test: --update fills in the output fields of a test marked for it", async () => {
  await withDir(async (dir) => {
    const r = await saker(["test", "--update", `${dir}/u.yaml`]);
    assertEquals(r.code, 0, r.out + r.err);
    assertMatch(
      r.out,
      /^UPDATE .*u\.yaml: cat reads \/etc\/shadow: \d+ output fields of 'Sensitive file read by untrusted program'/m,
    );
    const text = await Deno.readTextFile(`${dir}/u.yaml`);
    assertStringIncludes(text, "# kept comment");
    assertStringIncludes(text, "output_fields:");
    assertStringIncludes(text, "fd.name: /etc/shadow");
    assertStringIncludes(text, "proc.name: cat");
    assert(!text.includes("evt.time"), "times are left out");
    // The updated test passes as written, and still checks the fields.
    const again = await saker(["test", `${dir}/u.yaml`]);
    assertEquals(again.code, 0);
    const at = text.lastIndexOf("fd.name: /etc/shadow");
    await Deno.writeTextFile(
      `${dir}/u.yaml`,
      `${text.slice(0, at)}fd.name: /etc/gshadow${text.slice(at + 20)}`,
    );
    const changed = await saker(["test", `${dir}/u.yaml`]);
    assertEquals(changed.code, 1);
    assertStringIncludes(changed.out, "fd.name: expected /etc/gshadow, got /etc/shadow");
    assertMatch(changed.out, /\(\d+ other fields as expected\)/);
  }, {
    "u.yaml":
      `rules: [${RULES}]\ntests:\n  # kept comment\n  - name: cat reads /etc/shadow\n    update: true\n` +
      "    events:\n      - {evt.type: openat, proc.name: cat, fd.name: /etc/shadow}\n" +
      "    expect:\n      fire: [Sensitive file read by untrusted program]\n",
  });
});

Deno.test("saker test: without paths, the tests directory beside the config's rules", async () => {
  await withDir(async (dir) => {
    const r = await saker(["test", "-c", `${dir}/config.yaml`], dir);
    assertEquals(r.code, 0, r.out + r.err);
    assertMatch(r.out, /^PASS {2}myrules\/tests\/a\.yaml: passwd reads \/etc\/shadow/m);
    assertMatch(r.out, /^1 passed, 0 failed/m);
  }, {
    "config.yaml": "rules_files: [myrules]\n",
    "myrules/r.yaml": await Deno.readTextFile(`${RULES}/10_credential_access.yaml`).then((t) =>
      Deno.readTextFile(`${RULES}/00_base.yaml`).then((b) => b + "\n" + t)
    ),
    "myrules/tests/a.yaml": "tests:\n  - name: passwd reads /etc/shadow\n    events:\n" +
      "      - {evt.type: openat, proc.name: passwd, fd.name: /etc/shadow}\n    expect: none\n",
  });
});

Deno.test("saker explain: every rule of the event's type and why, for a synthetic event", async () => {
  const r = await saker([
    "explain",
    "-r",
    RULES,
    "--event",
    "{evt.type: openat, proc.name: passwd, fd.name: /etc/shadow}",
  ]);
  assertEquals(r.code, 0, r.err);
  assertMatch(r.out, /^event #1 openat proc.name=passwd proc.pid=100 fd.name=\/etc\/shadow$/m);
  assertStringIncludes(r.out, "  Sensitive file read by untrusted program: no match");
  assertStringIncludes(r.out, "    false: not proc.name in (login, su, sudo");
  assertStringIncludes(r.out, "      proc.name = passwd");
  assertMatch(r.out, /^0 of \d+ rules matched$/m);
  const kv = await saker([
    "explain",
    "-r",
    RULES,
    "--event",
    "evt.type=openat proc.name=cat fd.name=/etc/shadow",
    "--rule",
    "Sensitive file read by untrusted program",
  ]);
  assertEquals(kv.code, 0, kv.err);
  assertStringIncludes(kv.out, "  Sensitive file read by untrusted program: match");
  assertMatch(kv.out, /^1 of 1 rules matched$/m);
  const bad = await saker(["explain", "-r", RULES, "--event", "evt.type=openat fd.nam=/x"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.err, "unknown field 'fd.nam'");
});

Deno.test({
  name: "saker explain: an event of a capture file or an audit file, by number",
  ignore: needsReference(),
  async fn() {
    const rules = `${REFERENCE_DIR}/falco-legacy-tests/rules/single_rule.yaml`;
    const capture = `${REFERENCE_DIR}/falco-legacy-tests/trace_files/cat_write.scap`;
    const list = await saker([
      "replay",
      capture,
      "-r",
      rules,
      "-p",
      "%evt.num %evt.type %proc.name",
      "evt.type=open and proc.name=cat",
    ]);
    const num = list.out.trim().split("\n")[0].split(" ")[0];
    const r = await saker(["explain", "-r", rules, "--capture", capture, "--evt-num", num]);
    assertEquals(r.code, 0, r.err);
    assertMatch(r.out, new RegExp(`^event #${num} open proc.name=cat`, "m"));
    assertStringIncludes(r.out, "open_from_cat: match");
    const missing = await saker([
      "explain",
      "-r",
      rules,
      "--capture",
      capture,
      "--evt-num",
      "99999999",
    ]);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.err, "no event numbered 99999999");
    const audit = await saker([
      "explain",
      "-r",
      `${REFERENCE_DIR}/falco-rules/k8s_audit_rules.yaml`,
      "--audit",
      `${REFERENCE_DIR}/falco-legacy-tests/trace_files/k8s_audit/create_nginx_pod_privileged.json`,
      "--evt-num",
      "1",
      "--rule",
      "Create HostNetwork Pod",
    ]);
    assertEquals(audit.code, 0, audit.err);
    assertMatch(
      audit.out,
      /^event #1 pluginevent ka.verb=create ka.uri=\/api\/v1\/namespaces\/default\/pods$/m,
    );
    assertStringIncludes(audit.out, "false: ka.req.pod.host_network intersects (true)");
  },
});

Deno.test("saker test: live tests are skipped with their reason (--no-live, or not root)", async () => {
  await withDir(async (dir) => {
    const r = await saker(["test", "--no-live", `${dir}/live.yaml`]);
    assertEquals(r.code, 0, r.out + r.err);
    assertMatch(r.out, /^SKIP {2}.*live\.yaml: shadow read: live test, not run \(--no-live\)$/m);
    assertMatch(r.out, /^0 passed, 0 failed, 1 skipped, 0 errors/m);
  }, {
    "live.yaml":
      `rules: [${RULES}]\ntests:\n  - name: shadow read\n    simulate: read-sensitive-file\n` +
      "    expect:\n      fire: [Sensitive file read by untrusted program]\n",
  });
  const { TemporaryAgentRunner } = await import("../../src/ruletest/run_live.ts");
  const why = await new TemporaryAgentRunner(() => Promise.reject(new Error("not started")))
    .unavailable();
  if (Deno.uid() !== 0) assertStringIncludes(String(why), "needs root");
  else assertEquals(why, undefined);
});
