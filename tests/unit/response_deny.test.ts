/**
 * Deny by process name (plans, validation, the probe's entries and keys), the response allowlist
 * as the probe applies it to `deny` (exact paths, prefixes, uids, and the notes of what it
 * applies otherwise), the probe's key for it, and the refusal of rules that
 * could deny in containers while images are allowlisted (the probe cannot see images), checked
 * on plain values and through the rules builder the agent uses.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  commOf,
  denyAllowlist,
  type DenyRule,
  denySets,
  imageDenials,
} from "../../src/agent/response_deny.ts";
import { DENY_COMM, DENY_PATH, denyAllowKey, denyEntry, denyKey } from "../../src/kernel/probe.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import type { DenyPlan } from "../../src/rules/deny.ts";
import { buildEngineRules } from "../../src/agent/build_rules.ts";
import { RulesError } from "../../src/agent/rules_builder.ts";
import { defaultConfig } from "../../src/config/spec.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { responseAlert, responseEngine } from "../support/response.ts";

const allowlist = (a: Partial<{ exe_paths: string[]; users: string[]; images: string[] }>) => ({
  exe_paths: [],
  users: [],
  images: [],
  ...a,
});

Deno.test("deny allowlist: exact paths with their real paths, prefixes, uids", () => {
  const uids = new Map([["postgres", 999], ["backup", 1001]]);
  const { allow, notes } = denyAllowlist(
    allowlist({
      exe_paths: ["/usr/bin/python3", "/usr/local/bin/backup-*", "/opt/*/bin/run", "/x/\\*y*"],
      users: ["postgres", "4242", "ghost"],
    }),
    (n) => uids.get(n),
    (p) => p === "/usr/bin/python3" ? "/usr/bin/python3.12" : p,
  );
  assertEquals(allow.exact, ["/usr/bin/python3", "/usr/bin/python3.12"]);
  assertEquals(allow.prefixes, ["/usr/local/bin/backup-", "/opt/", "/x/"]);
  assertEquals(allow.uids, [999, 4242]);
  // `PREFIX*` is exact as a prefix; the others are wider than the pattern, and said so.
  assertEquals(notes.length, 3);
  assert(notes[0].includes("/opt/*/bin/run") && notes[0].includes("'/opt/'"), notes[0]);
  assert(notes[1].includes("/x/\\*y*"), notes[1]);
  assert(/ghost is not in the host's passwd file/.test(notes[2]), notes[2]);
  // The sets carry it to the probe.
  assertEquals(denySets([], { mode: "enforce", rules: [] }, allow).allow, allow);
});

Deno.test("deny allowlist key: prefix bits, an exact path's NUL, long paths as prefixes", () => {
  const view = (k: Uint8Array) => new DataView(k.buffer).getUint32(0, true);
  const exact = denyAllowKey("/bin/sh", false);
  assertEquals(exact.length, 4 + DENY_PATH);
  assertEquals(view(exact), 8 * 8); // 7 bytes and the NUL
  assertEquals(new TextDecoder().decode(exact.subarray(4, 11)), "/bin/sh");
  assertEquals(exact[11], 0);
  assertEquals(view(denyAllowKey("/usr/local/bin/backup-", true)), 22 * 8);
  assertEquals(view(denyAllowKey("", true)), 0); // `*`: every executable
  const long = "/" + "a".repeat(300);
  assertEquals(view(denyAllowKey(long, false)), DENY_PATH * 8);
  assertEquals(view(denyAllowKey("/" + "b".repeat(254), false)), DENY_PATH * 8);
});

const rule = (name: string, host: boolean, container: boolean, mode?: "monitor"): DenyRule => ({
  name,
  source: "syscall",
  tags: [],
  ...(mode ? { mode } : {}),
  plan: { kind: "exec", paths: ["/usr/bin/nc"], comms: [], host, container },
});

Deno.test("deny with an images allowlist: rules that could deny in containers are refused", () => {
  const rules = [
    rule("both", true, true),
    rule("containers", false, true),
    rule("host only", true, false),
    rule("monitor", true, true, "monitor"),
  ];
  const c = { mode: "enforce" as const, rules: [], allowlist: allowlist({ images: ["x/*"] }) };
  const msgs = imageDenials(rules, c);
  assertEquals(msgs.length, 2);
  assert(msgs[0].startsWith("rule 'both': cannot deny in containers"), msgs[0]);
  assert(msgs[1].includes("'container.id = host'"), msgs[1]);
  assertEquals(imageDenials(rules, { ...c, mode: "monitor" }), []);
  assertEquals(imageDenials(rules, { ...c, allowlist: allowlist({}) }), []);
  // The operator's per-rule mode counts too.
  const entries = [{ match: { rule: "both" }, mode: "monitor" as const }];
  assertEquals(imageDenials(rules, { ...c, rules: entries as never }).length, 1);
});

Deno.test("deny with an images allowlist: the agent's rules builder refuses the rule", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-deny-images-" });
  try {
    await Deno.writeTextFile(
      `${dir}/rules.yaml`,
      `- rule: No netcat\n  desc: d\n  condition: evt.type = execve and proc.exepath = /usr/bin/nc\n` +
        `  output: o\n  priority: WARNING\n  actions: [deny]\n`,
    );
    const response = {
      ...defaultConfig().response,
      mode: "enforce" as const,
      allowlist: allowlist({ images: ["registry.local/ops/*"] }),
    };
    const opts = { priority: "Debug" as const, ruleMatching: "all" as const, selection: [] };
    let err: unknown;
    try {
      await buildEngineRules([`${dir}/rules.yaml`], { ...opts, appendOutput: [], response });
    } catch (e) {
      err = e;
    }
    assert(err instanceof RulesError, String(err));
    assert(/rule 'No netcat': cannot deny in containers/.test(err.problems[0]), err.problems[0]);
    // Host only: the probe can tell, the rule loads.
    await Deno.writeTextFile(
      `${dir}/rules.yaml`,
      (await Deno.readTextFile(`${dir}/rules.yaml`)).replace(
        "/usr/bin/nc\n",
        "/usr/bin/nc and container.id = host\n",
      ),
    );
    const built = await buildEngineRules([`${dir}/rules.yaml`], {
      ...opts,
      appendOutput: [],
      response,
    });
    assertEquals(built.deny?.[0].plan.container, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deny outcome: an allowlisted target is refused, in monitor mode too", () => {
  for (const mode of ["enforce", "monitor"] as const) {
    const engine = responseEngine({
      config: {
        ...defaultConfig().response,
        mode,
        allowlist: allowlist({ exe_paths: ["/usr/local/bin/backup-*"], users: ["4242"] }),
      },
    });
    const alert = (exepath: string, uid: number) =>
      responseAlert("deny", { pid: 777777, exepath, user: "", uid });
    const byExe = alert("/usr/local/bin/backup-db", 0);
    const byUid = alert("/usr/bin/cat", 4242);
    const other = alert("/usr/bin/cat", 0);
    engine.handle([byExe, byUid, other]);
    const o = (a: Alert) => a.response?.outcomes?.[0];
    assertEquals(o(byExe)?.result, "refused", mode);
    assertEquals(o(byExe)?.detail, "allowlisted executable /usr/local/bin/backup-db");
    assertEquals([o(byUid)?.result, o(byUid)?.detail], ["refused", "allowlisted uid 4242"]);
    assertEquals(o(other)?.result, mode === "monitor" ? "would" : "failed");
  }
});

/** The deny plan of a rule with `condition`, or its load errors. */
function planOf(condition: string) {
  const text = `- rule: r\n  desc: d\n  condition: ${condition}\n  output: o\n` +
    `  priority: WARNING\n  actions: [deny]\n`;
  const loaded = loadRulesText([{ name: "d.yaml", text }]);
  const errors = loaded.results.flatMap((r) => r.errors).map((e) => e.message);
  return errors.length > 0 ? errors : loaded.rules[0].deny;
}

Deno.test("deny by process name: executions by name, with a path, opens by an opener's name", () => {
  assertEquals(planOf("evt.type = execve and proc.name in (nc, ncat)"), {
    kind: "exec",
    paths: [],
    comms: ["nc", "ncat"],
    host: true,
    container: true,
  });
  assertEquals(
    planOf("evt.type = execve and proc.exepath = /usr/bin/nc and proc.name = nc"),
    { kind: "exec", paths: ["/usr/bin/nc"], comms: ["nc"], host: true, container: true },
  );
  assertEquals(
    planOf("evt.type in (open, openat) and fd.name = /etc/shadow and proc.name in (cat, less)"),
    { kind: "open", paths: ["/etc/shadow"], comms: ["cat", "less"], host: true, container: true },
  );
  // Two tests of the name: what both allow.
  assertEquals(
    (planOf("evt.type = execve and proc.name in (a, b) and proc.name = b") as DenyPlan).comms,
    ["b"],
  );
  const cases: [string, RegExp][] = [
    ["evt.type = open and proc.name = cat", /must test fd\.name = PATH/],
    ["evt.type = execve and proc.name = averyveryverylongname", /longer than 15 bytes/],
    ["evt.type = execve and proc.name = a and proc.name = b", /no value in common/],
    ["evt.type = execve and proc.name startswith a", /proc\.name startswith a is not one/],
  ];
  for (const [cond, re] of cases) {
    const errors = planOf(cond) as string[];
    assertEquals(errors.length, 1, cond);
    assert(re.test(errors[0]), `${cond}: ${errors[0]}`);
  }
});

Deno.test("deny by process name: the probe's entries, name and path pairs", () => {
  const r = (name: string, paths: string[], comms: string[], host = true): DenyRule => ({
    name,
    source: "syscall",
    tags: [],
    plan: { kind: "exec", paths, comms, host, container: true },
  });
  const sets = denySets([
    r("name", [], ["nc"]),
    r("pair", ["/usr/bin/nc"], ["nc", "ncat"], false),
    r("path", ["/usr/bin/nc"], []),
  ], { mode: "enforce", rules: [] });
  assertEquals(Object.fromEntries(sets.exec), {
    [denyEntry("", "nc")]: 3,
    [denyEntry("/usr/bin/nc", "nc")]: 2,
    [denyEntry("/usr/bin/nc", "ncat")]: 2,
    "/usr/bin/nc": 3,
  });
  // The probe's key: the name, then the path, NUL-padded.
  const key = denyKey(denyEntry("/usr/bin/nc", "ncat"));
  assertEquals(key.length, DENY_COMM + DENY_PATH);
  assertEquals(new TextDecoder().decode(key.subarray(0, 4)), "ncat");
  assertEquals(key[4], 0);
  assertEquals(new TextDecoder().decode(key.subarray(DENY_COMM, DENY_COMM + 11)), "/usr/bin/nc");
  assertEquals(denyKey(denyEntry("", "nc"))[DENY_COMM], 0);
  assertEquals(commOf("/usr/local/bin/a-very-long-program-name"), "a-very-long-pro");
});
