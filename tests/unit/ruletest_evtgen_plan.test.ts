/**
 * Plans for Falco's declarative event-generator tests (src/ruletest/evtgen_run.ts): every test of
 * the reference evtgen suite turns into a plan for the simulator's helper; the records of a few
 * are checked field by field (process chain, users, steps with Linux flag values and octal modes,
 * resource bindings). The plans run for real in tests/live/ruletest_live.test.ts.
 */
import { assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { parseTestFile, type TestCase } from "../../src/ruletest/spec.ts";
import { byMadePaths } from "../../src/ruletest/run_live.ts";
import { planOf, splitArgs, stepArgs } from "../../src/ruletest/evtgen_run.ts";
import type { EvtgenTest } from "../../src/ruletest/evtgen.ts";

const USERS = new Map<string, [number, number]>([["root", [0, 0]], ["daemon", [1, 1]]]);

Deno.test("evtgen plans: arguments split as the event-generator splits them", () => {
  assertEquals(splitArgs(`-c "ls -l" 'a b' x`), ["-c", "ls -l", "a b", "x"]);
  assertEquals(splitArgs(undefined), []);
});

Deno.test("evtgen plans: system calls with Linux values, octal modes and bindings", () => {
  assertEquals(stepArgs("openat", { pathname: "/x", flags: "O_WRONLY|O_CREAT", mode: "0644" }), [
    "257",
    "i-100",
    "s/x",
    `i${0o101}`,
    `i${0o644}`,
  ]);
  assertEquals(stepArgs("open", { pathname: "/x", flags: "O_RDONLY" }), ["2", "s/x", "i0", "i0"]);
  assertEquals(stepArgs("openat2", { pathname: "/y", how: { flags: "O_RDONLY" } })[4], "i24");
  assertEquals(stepArgs("dup2", { oldFd: "${ cs.client.fd }", newFd: 1 }), [
    "33",
    "rcs.client",
    "i1",
  ]);
  assertEquals(stepArgs("socket", { domain: "AF_PACKET", type: "SOCK_RAW", protocol: 0 }), [
    "41",
    "i17",
    "i3",
    "i0",
  ]);
});

Deno.test("evtgen plans: a chain of processes with names, users and a step", () => {
  const t: EvtgenTest = {
    name: "t",
    rule: "R",
    context: { processes: [{ name: "sshd" }, { name: "id", user: "daemon", args: "-u" }] },
    resources: [{ type: "fd", name: "f", subtype: "file", filePath: "/tmp/eg/x" }],
    steps: [{ type: "syscall", name: "op", syscall: "open", args: { pathname: "/tmp/eg/x" } }],
    expectedOutcome: { outputFields: {} },
  };
  assertEquals(planOf(t, { dir: "/w", users: USERS }).records, [
    ["F", "/tmp/eg/x"],
    ["C", "/w/p0/event-generator"],
    ["L", "/w/p0/event-generator", "/w/p0/sshd"],
    ["P", "/w/p0/sshd", "sshd", "-1", "-1", "0"],
    ["C", "/w/p1/event-generator"],
    ["L", "/w/p1/event-generator", "/w/p1/id"],
    ["P", "/w/p1/id", "id", "1", "1", "1", "-u"],
    ["S", "op", "2", "s/tmp/eg/x", "i0", "i0"],
  ]);
});

Deno.test({
  name: "evtgen plans: every test of Falco's evtgen suite has a plan",
  ignore: needsReference(),
  async fn() {
    const dir = `${REFERENCE_DIR}/falco-evtgen-suite`;
    let n = 0;
    for await (const e of Deno.readDir(dir)) {
      const f = parseTestFile(`${dir}/${e.name}`, await Deno.readTextFile(`${dir}/${e.name}`));
      for (const t of f.tests) {
        if (t.input.kind !== "evtgen") throw new Error(`${t.name}: not an evtgen test`);
        const users = new Map(USERS);
        for (const p of t.input.test.context.processes) if (p.user) users.set(p.user, [1000, 1000]);
        planOf(t.input.test, { dir: "/w", users });
        n++;
      }
    }
    assertEquals(n > 500, true, `${n} tests`);
  },
});

Deno.test("evtgen live runs: tests that make the same path run one after another", () => {
  const t = (name: string, paths: string[], exePath?: string, container = false) =>
    ({
      name,
      input: {
        kind: "evtgen",
        test: {
          context: { container: container ? {} : undefined, processes: [{ exePath }] },
          resources: paths.map((filePath) => ({ type: "fd", name: "f", filePath })),
        },
      },
    }) as unknown as TestCase;
  const there = new Set(["/tmp", "/var", "/var/log", "/etc", "/etc/shadow"]);
  const groups = byMadePaths([
    t("a1", ["/tmp/eg/x"]),
    t("read", ["/etc/shadow"]),
    t("a2", ["/tmp/eg/y"]),
    t("log1", ["/var/log/eg_test"]),
    t("b", ["/tmp/other/z"]),
    t("log2", ["/var/log/eg_test", "/tmp/other/w"]),
    t("exe", [], "/tmp/eg/bin/sh"),
    t("in a container", ["/tmp/eg/x"], undefined, true),
  ], (p) => there.has(p));
  assertEquals(groups.map((g) => g.map((x) => x.name)), [
    ["a1", "a2", "exe"],
    ["log1", "b", "log2"],
    ["read"],
    ["in a container"],
  ]);
});
