/**
 * `saker test` live: simulate tests and Falco's declarative event-generator suite
 * (../shared/reference/falco-evtgen-suite, unchanged) run for real under the temporary agent
 * `saker test` starts, with Falco's stable rules; a live test that fails is explained like any
 * other (tests/unit/ruletest_cli.test.ts checks the skip lines without root or with --no-live).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { needsReference, needsRoot, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";

async function saker(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}src/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

const SIMULATE = `rules: [${REPO_ROOT}rules]
tests:
  - name: the simulator reads /etc/shadow
    simulate: read-sensitive-file
    expect:
      fire:
        - rule: Sensitive file read by untrusted program
          output_fields: {fd.name: /etc/shadow, proc.name: saker-sim}
      never: [Log file cleared]
  - name: a log wiper truncates a log
    simulate: clear-log-file
    expect:
      exactly:
        - rule: Log file cleared
          output_fields: {fd.name: {glob: "*/syslog"}}
  - name: a wrong expectation, explained
    simulate: read-sensitive-file
    expect:
      fire: [SSH private key read by untrusted program]
`;

Deno.test({
  name: "saker test live: simulate tests under a temporary agent, a failure explained",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-test-live-" });
    try {
      await Deno.writeTextFile(`${dir}/sim.yaml`, SIMULATE);
      const r = await saker(["test", `${dir}/sim.yaml`]);
      assertEquals(r.code, 1, r.out + r.err);
      assertMatch(r.out, /^PASS {2}.*: the simulator reads \/etc\/shadow/m);
      assertMatch(r.out, /^PASS {2}.*: a log wiper truncates a log/m);
      assertMatch(r.out, /^FAIL {2}.*: a wrong expectation, explained/m);
      assertStringIncludes(r.out, "'SSH private key read by untrusted program' did not fire");
      assertStringIncludes(r.out, "false: fd.name contains /.ssh/id_");
      assertStringIncludes(r.out, "fd.name = /etc/shadow");
      assertMatch(r.out, /^2 passed, 1 failed, 0 skipped, 0 errors/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker test live: Falco's evtgen suite, unchanged, with Falco's stable rules",
  ignore: needsRoot() || needsReference(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const suite = `${REFERENCE_DIR}/falco-evtgen-suite`;
    const rules = `${REFERENCE_DIR}/falco-rules/falco_rules.yaml`;
    const t0 = performance.now();
    const r = await saker(["test", "--json", "-r", rules, suite]);
    const secs = (performance.now() - t0) / 1000;
    const j = JSON.parse(r.out);
    const bad = j.tests.filter((t: { status: string }) => t.status !== "pass");
    console.log(
      `evtgen suite: ${j.summary.passed} passed, ${j.summary.failed} failed, ` +
        `${j.summary.skipped} skipped, ${j.summary.errors} errors in ${secs.toFixed(0)} s`,
    );
    for (const t of bad.slice(0, 10)) console.log(JSON.stringify(t).slice(0, 600));
    assertEquals(j.file_errors, []);
    assert(j.tests.length > 600, `${j.tests.length} tests`);
    const readme = await Deno.readTextFile(`${REPO_ROOT}README.md`);
    const stated = /Falco's evtgen suite \((\d+) tests/.exec(readme)?.[1];
    assertEquals(Number(stated), j.tests.length, "the README's count of the suite's tests");
    assertEquals(bad.map((t: { name: string }) => t.name), []);
    assertEquals(r.code, 0);
  },
});
