/**
 * The response engine's decisions on plain values (modes, protections, allowlist, rate limits),
 * the `actions:` key of rules files (accepted forms, and errors with their positions), and the
 * outcomes as the engine records them, with real processes where the decision reads /proc.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  ActionLimiter,
  Allowlist,
  containerProtection,
  modeFor,
  protection,
} from "../../src/agent/response_policy.ts";
import { childrenOf, isKernelThread, killTree } from "../../src/agent/response_proc.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { defaultConfig } from "../../src/config/spec.ts";
import { RESPONSE_AUDIT_RULE } from "../../src/agent/response.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { Registry } from "../../src/metrics.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { responseAlert, responseEngine, responseTarget } from "../support/response.ts";

const R = { name: "r", source: "syscall", tags: ["t"] };

Deno.test("mode: the config's monitor is a ceiling; under enforce the rule, then entries", () => {
  assertEquals(modeFor(R, "enforce", { mode: "monitor", rules: [] }), "monitor");
  assertEquals(modeFor(R, undefined, { mode: "enforce", rules: [] }), "enforce");
  assertEquals(modeFor(R, "monitor", { mode: "enforce", rules: [] }), "monitor");
  const rules = [{ match: { tags: ["t"] }, mode: "enforce" as const }];
  assertEquals(modeFor(R, "monitor", { mode: "enforce", rules }), "enforce");
  const other = [{ match: { rule: "other" }, mode: "monitor" as const }];
  assertEquals(modeFor(R, undefined, { mode: "enforce", rules: other }), "enforce");
});

Deno.test("protections: pid 0 and 1, kernel threads, the agent and its parent", () => {
  const self = { pid: 500, ppid: 499, containerId: "a".repeat(64) };
  assertEquals(protection({ pid: 1, kernelThread: false }, self), "pid 1");
  assertEquals(protection({ pid: 0, kernelThread: false }, self), "no process");
  assertEquals(protection({ pid: 77, kernelThread: true }, self), "kernel thread");
  assertEquals(protection({ pid: 500, kernelThread: false }, self), "the agent itself");
  assertEquals(protection({ pid: 499, kernelThread: false }, self), "the agent's parent");
  assertEquals(protection({ pid: 501, kernelThread: false }, self), undefined);
  assertEquals(containerProtection("aaaaaaaaaaaa", self), "the agent's own container");
  assertEquals(containerProtection("", self), "not in a container");
  assertEquals(containerProtection("bbbbbbbbbbbb", self), undefined);
});

Deno.test("kernel threads are read from /proc: kthreadd's children, not this process", () => {
  assert(isKernelThread(2));
  const kids = childrenOf(2);
  assert(kids.length > 0, "kthreadd has children");
  assert(isKernelThread(kids[0]));
  assert(!isKernelThread(Deno.pid));
});

Deno.test("allowlist: executables (globs), users by name or uid, images", () => {
  const a = new Allowlist({
    exe_paths: ["/usr/bin/backup", "/opt/*/bin/agent"],
    users: ["postgres", "1001"],
    images: ["registry.local/ops/*"],
  });
  const t = { exepath: "/bin/cat", user: "root", uid: 0, image: "" };
  assertEquals(a.match(t), undefined);
  assertEquals(
    a.match({ ...t, exepath: "/usr/bin/backup" }),
    "allowlisted executable /usr/bin/backup",
  );
  assertEquals(a.match({ ...t, exepath: "/usr/bin/backup2" }), undefined);
  assert(a.match({ ...t, exepath: "/opt/x/bin/agent" }));
  assertEquals(a.match({ ...t, user: "postgres" }), "allowlisted user postgres");
  assertEquals(a.match({ ...t, uid: 1001 }), "allowlisted uid 1001");
  assert(a.match({ ...t, image: "registry.local/ops/tools" }));
});

Deno.test("rate limit: at most max per key within the period, counted again after", () => {
  let now = 0;
  const l = new ActionLimiter(3, 1000, () => now);
  assertEquals([1, 2, 3, 4].map(() => l.take("k")), [true, true, true, false]);
  assert(l.take("other"));
  assert(!l.peek("k"));
  now = 1000;
  assert(l.peek("k"));
  assert(l.take("k"));
});

Deno.test("kill tree: the process and its descendants are stopped, then killed", async () => {
  const sh = new Deno.Command("sh", {
    args: ["-c", "sleep 600 & sleep 600 & (sleep 600 & wait) & wait"],
    stdout: "null",
  }).spawn();
  let tree: number[] = [];
  for (let i = 0; i < 100 && tree.length < 4; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const all: number[] = [];
    const walk = (p: number) => {
      for (const c of childrenOf(p)) {
        all.push(c);
        walk(c);
      }
    };
    walk(sh.pid);
    tree = all;
  }
  assertEquals(tree.length, 4, "sh, two sleeps, a subshell and its sleep");
  const { killed } = killTree(sh.pid, () => false);
  assertEquals(new Set(killed), new Set([sh.pid, ...tree]));
  const status = await sh.status;
  assertEquals(status.signal, "SIGKILL");
  for (const p of tree) {
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      try {
        const st = Deno.readTextFileSync(`/proc/${p}/stat`);
        gone = / Z /.test(st);
      } catch {
        gone = true;
      }
      if (!gone) await new Promise((r) => setTimeout(r, 20));
    }
    assert(gone, `descendant ${p} survived`);
  }
});

const RULES = `
- rule: act
  desc: d
  condition: evt.type = openat and fd.name = /tmp/x
  output: "opened %fd.name"
  priority: WARNING
  actions:
    mode: monitor
    run: [kill: tree, stop_container, {exec: {command: "true", timeout: 2s}}, deny]
`;

Deno.test("actions: read from a rule, carried by its alert with the target", () => {
  const loaded = loadRulesText([{ name: "r.yaml", text: RULES }]);
  assertEquals(loaded.results.flatMap((r) => r.errors), []);
  const rule = loaded.rules[0];
  assertEquals(rule.actions?.mode, "monitor");
  assertEquals(rule.actions?.actions, [
    { kind: "kill", tree: true },
    { kind: "stop_container" },
    { kind: "exec", command: "true", timeoutMs: 2000 },
    { kind: "deny" },
  ]);
  const rs = compileRuleset(loaded);
  const got: Alert[] = [];
  rs.evaluate(
    buildEvent("openat", { tid: 42, pid: 42 }, { fd: 3, dirfd: -100, name: "/tmp/x" }),
    (a) => got.push(a),
  );
  assertEquals(got.length, 1);
  assertEquals(got[0].response?.rule.actions.length, 4);
});

Deno.test("actions: bad forms are errors at the spot, naming what is accepted", () => {
  const cases: [string, RegExp][] = [
    ["actions: [explode]", /Unknown action 'explode': expected kill, stop_container/],
    ["actions: [{kill: forest}]", /Value of 'kill' must be 'process' or 'tree'/],
    ["actions: [exec]", /'exec' needs a command/],
    ["actions: {mode: later, run: [kill]}", /Invalid 'mode' of actions: 'later'/],
    ["actions: {when: now}", /Unknown key 'when' in 'actions': expected mode, run/],
    ["actions: [{stop_container: now}]", /'stop_container' takes no argument/],
    ["actions: kill", /must be a sequence of actions/],
  ];
  for (const [line, re] of cases) {
    const text = `- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: o\n` +
      `  priority: WARNING\n  ${line}\n`;
    const loaded = loadRulesText([{ name: "r.yaml", text }]);
    const errors = loaded.results.flatMap((r) => r.errors);
    assertEquals(errors.length, 1, line);
    assert(re.test(errors[0].message), `${line}: ${errors[0].message}`);
    assertEquals(errors[0].context.last.line, 6, line);
  }
  const audit = `- rule: r\n  desc: d\n  condition: ka.verb = create\n  output: o\n` +
    `  priority: WARNING\n  source: k8s_audit\n  actions: [kill]\n`;
  const errors = loadRulesText([{ name: "a.yaml", text: audit }]).results.flatMap((r) => r.errors);
  assertEquals(errors.length, 1);
  assert(/'kill' needs a process or container, which k8s_audit events/.test(errors[0].message));
});

Deno.test("engine: monitor records, refuses protected targets, audits, counts", () => {
  const c = defaultConfig().response;
  const audit: Alert[] = [];
  const registry = new Registry();
  const engine = responseEngine({
    config: c,
    audit: (a) => audit.push(a),
    json: (a) => new AlertFormatter({ hostname: "h" }).json(a),
    registry,
  });
  const alert = (pid: number) => responseAlert("kill", { pid });
  const a = alert(123456789);
  const self = alert(Deno.pid);
  engine.handle([a, self]);
  assertEquals(a.response?.outcomes?.[0].result, "would");
  assertEquals(a.response?.outcomes?.[0].mode, "monitor");
  assertEquals(self.response?.outcomes?.[0].result, "refused");
  assertEquals(self.response?.outcomes?.[0].detail, "the agent itself");
  assertEquals(audit.map((x) => x.rule), [RESPONSE_AUDIT_RULE, RESPONSE_AUDIT_RULE]);
  assert(/kill on pid 123456789 \(x\) for rule 'r' \(monitor\): would run/.test(audit[0].output));
  const json = new AlertFormatter({ hostname: "h" }).json(a);
  assert(
    json.includes(
      `"response":[{"action":"kill","container":"","mode":"monitor","pid":123456789,"result":"would"}]`,
    ),
    json,
  );
  assertEquals(
    registry.family("saker_response_actions_total")?.get("r", "kill", "monitor", "would"),
    1,
  );
  // Enforce, on a pid that does not exist: failed, said so.
  engine.configure({ ...c, mode: "enforce" });
  const gone = alert(999_999_999);
  engine.handle([gone]);
  assertEquals(gone.response?.outcomes?.[0].result, "failed");
  assertEquals(gone.response?.outcomes?.[0].detail, "no such process");
});

function denyErrors(condition: string, extra = ""): string[] {
  const text = `- list: bins\n  items: [/usr/bin/nc, /bin/nc]\n${extra}- rule: r\n  desc: d\n` +
    `  condition: ${condition}\n  output: o\n  priority: WARNING\n  actions: [deny]\n`;
  const loaded = loadRulesText([{ name: "d.yaml", text }]);
  return loaded.results.flatMap((r) => r.errors).map((e) => e.message);
}

Deno.test("deny: conditions the probe can decide, with lists and macros", () => {
  const text = `- list: bins\n  items: [/usr/bin/nc, /bin/nc]\n` +
    `- macro: in_ctr\n  condition: container.id != host\n` +
    `- rule: r\n  desc: d\n  condition: evt.type = execve and evt.dir = < and proc.exepath in (bins) and in_ctr\n` +
    `  output: o\n  priority: WARNING\n  actions: [deny]\n` +
    `- rule: f\n  desc: d\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow\n` +
    `  output: o\n  priority: WARNING\n  actions: [deny]\n`;
  const loaded = loadRulesText([{ name: "d.yaml", text }]);
  assertEquals(loaded.results.flatMap((r) => r.errors), []);
  assertEquals(loaded.rules[0].deny, {
    kind: "exec",
    paths: ["/usr/bin/nc", "/bin/nc"],
    comms: [],
    host: false,
    container: true,
  });
  assertEquals(loaded.rules[1].deny, {
    kind: "open",
    paths: ["/etc/shadow"],
    comms: [],
    host: true,
    container: true,
  });
});

Deno.test("deny: validation says why a rule cannot deny", () => {
  const cases: [string, RegExp][] = [
    [
      "evt.type = execve and proc.exepath in (bins) and user.name = root",
      /user\.name = root is not one of these/,
    ],
    ["evt.type = execve and (proc.exepath = /a or proc.name = b)", /an 'or' is not one of these/],
    ["evt.type = execve and not proc.exepath = /a", /a negation/],
    ["evt.type = connect and fd.name = /a", /executions \(execve, execveat\) or opens/],
    ["proc.exepath = /a", /must name its events/],
    ["evt.type = execve and fd.name = /a", /must test proc\.exepath/],
    ["evt.type = execve and proc.exepath = relative/x", /not an absolute path/],
    ["evt.type = execve and proc.exepath startswith /tmp", /proc\.exepath startswith \/tmp is not/],
  ];
  for (const [cond, re] of cases) {
    const errors = denyErrors(cond);
    assertEquals(errors.length, 1, cond);
    assert(re.test(errors[0]), `${cond}: ${errors[0]}`);
  }
});

Deno.test("deny: sets by mode; a rule denying the agent's own programs or files is refused", async () => {
  const { denySets, selfDenials, agentNeeds } = await import("../../src/agent/response_deny.ts");
  const rules = [
    {
      name: "a",
      source: "syscall",
      tags: [],
      plan: { kind: "exec" as const, paths: ["/x"], comms: [], host: true, container: false },
    },
    {
      name: "b",
      source: "syscall",
      tags: [],
      mode: "monitor" as const,
      plan: { kind: "open" as const, paths: ["/y"], comms: [], host: true, container: true },
    },
    {
      name: "c",
      source: "syscall",
      tags: [],
      plan: { kind: "exec" as const, paths: ["/x"], comms: [], host: false, container: true },
    },
  ];
  const on = denySets(rules, { mode: "enforce", rules: [] });
  assertEquals([...on.exec], [["/x", 3]]);
  assertEquals(on.open.size, 0);
  const off = denySets(rules, { mode: "monitor", rules: [] });
  assertEquals(off.exec.size + off.open.size, 0);
  const needs = agentNeeds(["/etc/saker/rules.yaml"]);
  assert(needs.executables.includes(Deno.execPath()));
  const own = [
    {
      name: "sh",
      source: "syscall",
      tags: [],
      plan: {
        kind: "exec" as const,
        paths: [Deno.realPathSync("/bin/sh")],
        comms: [],
        host: true,
        container: true,
      },
    },
    {
      name: "rules",
      source: "syscall",
      tags: [],
      plan: {
        kind: "open" as const,
        paths: ["/etc/saker/rules.yaml"],
        comms: [],
        host: true,
        container: true,
      },
    },
    {
      name: "by name",
      source: "syscall",
      tags: [],
      plan: { kind: "exec" as const, paths: [], comms: ["sh"], host: true, container: true },
    },
    {
      name: "other name",
      source: "syscall",
      tags: [],
      plan: {
        kind: "exec" as const,
        paths: ["/bin/sh"],
        comms: ["nc"],
        host: true,
        container: true,
      },
    },
  ];
  const msgs = selfDenials(own, needs);
  assertEquals(msgs.length, 3);
  assert(/rule 'by name': cannot deny \/bin\/sh \(named sh\): the agent runs it/.test(msgs[2]));
  assert(/rule 'sh': cannot deny .*: the agent runs it/.test(msgs[0]), msgs[0]);
  assert(/rule 'rules': cannot deny \/etc\/saker\/rules.yaml: the agent reads it/.test(msgs[1]));
});

Deno.test("default rules: every commented-out actions line loads once uncommented", async () => {
  const { REPO_ROOT } = await import("../support/env.ts");
  const files: { name: string; text: string }[] = [];
  let uncommented = 0;
  for (
    const e of [...Deno.readDirSync(`${REPO_ROOT}rules`)].sort((a, b) => a.name < b.name ? -1 : 1)
  ) {
    if (!e.name.endsWith(".yaml")) continue;
    const text = Deno.readTextFileSync(`${REPO_ROOT}rules/${e.name}`).replace(
      /^ {2}# (actions: .*?)\s+#.*$/gm,
      (_m, a) => (uncommented++, `  ${a}`),
    );
    files.push({ name: e.name, text });
  }
  assert(uncommented >= 4, `${uncommented} actions lines`);
  const loaded = loadRulesText(files);
  assertEquals(loaded.results.flatMap((r) => r.errors).map((e) => e.message), []);
  assertEquals(loaded.rules.filter((r) => r.actions).length, uncommented);
});

Deno.test("config: response keys are checked, errors name the key", async () => {
  const { loadConfig, ConfigError } = await import("../../src/config/load.ts");
  const ok = await loadConfig({
    text: "response: {mode: enforce, rate_limit: {per_rule: 5, period: 10s}}\n",
  });
  assertEquals(ok.config.response.mode, "enforce");
  assertEquals(ok.config.response.rate_limit.period, 10);
  assertEquals(ok.config.response.rate_limit.per_target, 3);
  for (
    const [text, key] of [
      ["response: {mode: sometimes}\n", "response.mode"],
      ["response: {rate_limit: {per_rule: 0}}\n", "response.rate_limit.per_rule"],
      ['response: {allowlist: {users: [""]}}\n', "response.allowlist.users"],
      ["response: {rules: [{match: {rule: x}, mode: later}]}\n", "response.rules[0].mode"],
    ]
  ) {
    const err = await loadConfig({ text }).then(() => undefined, (e) => e);
    assert(err instanceof ConfigError, text);
    assert((err as Error).message.includes(key), `${text}: ${(err as Error).message}`);
  }
});

Deno.test("engine: a deny outcome says what the probe did; a denial no alert claims is audited", async () => {
  const c = { ...defaultConfig().response, mode: "enforce" as const };
  const audit: Alert[] = [];
  let now = 1_000;
  const engine = responseEngine({
    config: c,
    audit: (a) => audit.push(a),
    json: (a) => new AlertFormatter({ hostname: "h" }).json(a),
    now: () => now,
    denyGraceMs: 100,
  });
  const dir = await Deno.makeTempDir({ prefix: "saker-deny-audit-" });
  try {
    await Deno.writeTextFile(`${dir}/secret`, "s");
    await Deno.symlink(`${dir}/secret`, `${dir}/link`);
    engine.setDenyRules([{
      name: "Protect secret",
      source: "syscall",
      tags: ["response"],
      plan: { kind: "open", paths: [`${dir}/secret`], comms: [], host: true, container: true },
    }]);
    const target = (pid: number, denied: boolean) =>
      responseTarget({ pid, name: "cat", exepath: "/usr/bin/cat", ...(denied ? { denied } : {}) });
    const alert = (time: bigint, pid: number, denied: boolean) =>
      responseAlert("deny", target(pid, denied), { time, rule: "Protect secret" });
    const stopped = alert(10n, 4242, true);
    const parent = alert(11n, Deno.ppid, false);
    const missed = alert(12n, 4343, false);
    engine.handle([stopped, parent, missed]);
    assertEquals(stopped.response?.outcomes?.[0].result, "done");
    assertEquals(parent.response?.outcomes?.[0].result, "refused");
    assertEquals(parent.response?.outcomes?.[0].detail, "the agent's parent");
    assertEquals(missed.response?.outcomes?.[0].result, "failed");
    // The stopped call's alert claims its denial; the call through the link has no alert.
    engine.noteDenied([
      { time: 10n, kind: "open", path: `${dir}/secret`, target: target(4242, true) },
      { time: 20n, kind: "open", path: `${dir}/link`, target: target(4444, true) },
    ]);
    const before = audit.length;
    engine.sweepDenied();
    assertEquals(audit.length, before, "audited before the grace time");
    now += 100;
    engine.sweepDenied();
    const extra = audit.slice(before);
    assertEquals(extra.length, 1);
    assertEquals(extra[0].outputFields["response.rule"], "Protect secret");
    assertEquals(extra[0].outputFields["response.pid"], 4444);
    assertEquals(extra[0].outputFields["response.result"], "done");
    assert(
      String(extra[0].outputFields["response.detail"]).includes(
        `open of ${dir}/link (${await Deno.realPath(`${dir}/secret`)})`,
      ),
      String(extra[0].outputFields["response.detail"]),
    );
  } finally {
    engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
