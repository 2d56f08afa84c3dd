/**
 * What state tracking needs for the rules (src/rules/state_needs.ts): which rules read fd
 * history, whether sockets are enough (the condition implies the fd is a socket and the record
 * names the fd by inode), and the fd calls the kernel then leaves out (src/events/syscalls.ts).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { loadRulesFiles, loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { stateNeeds } from "../../src/rules/state_needs.ts";
import { deriveKernelPredicates, unmatchableEvents } from "../../src/rules/kernel_filter.ts";
import { selectSyscalls, STATE_SYSCALLS, stateSyscalls } from "../../src/events/syscalls.ts";
import "../../src/rules/fields/mod.ts";

function rulesText(conds: string[], output = "o"): string {
  return conds.map((c, i) =>
    `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: ${
      JSON.stringify(output)
    }\n  priority: INFO\n  warn_evttypes: false\n`
  ).join("");
}

function needsOf(conds: string[], output?: string) {
  const loaded = loadRulesText([{ name: "r.yaml", text: rulesText(conds, output) }]);
  assertEquals(loaded.results.flatMap((r) => r.errors.map((e) => e.message)), []);
  compileRuleset(loaded, {});
  return stateNeeds(loaded.rules);
}

Deno.test("state needs: fd facts the records carry need no history", () => {
  // Opens name their path (the probe resolves relative ones); execve needs nothing of fds.
  const n = needsOf([
    "evt.type = openat and fd.name startswith /etc/",
    "evt.type = execve and proc.name = sh",
    "evt.type = unlinkat and evt.arg.name = /x", // the probe writes name_dir
  ]);
  assertEquals(n, { fdHistory: "none", readers: [] });
});

Deno.test("state needs: a read of a socket's facts on connect or dup needs sockets only", () => {
  const n = needsOf([
    "evt.type = connect and fd.sip = 10.0.0.1",
    "evt.type = dup2 and fd.type in (ipv4, ipv6) and evt.rawres = 0",
    "evt.type = execve and proc.stdin.type in (ipv4, ipv6)",
  ]);
  assertEquals(n.fdHistory, "sockets");
  assertEquals(n.readers, [
    'rule "r0" reads fd.sip on connect (sockets)',
    'rule "r1" reads fd.type on dup2 (sockets)',
    'rule "r2" reads proc.stdin.type on execve (sockets)',
  ]);
});

Deno.test("state needs: reads that may see a file, or an fd the record does not name, need all", () => {
  // A file written (write records carry no inode), a name read without a socket test, stdout's
  // name on a rule that only tests stdin, a count of open fds.
  for (
    const [cond, output, reader] of [
      ["evt.type = write and fd.name startswith /etc/", "o", "fd.name on write"],
      ["evt.type = dup2 and evt.rawres = 1", "%fd.name", "fd.name on dup2"],
      [
        "evt.type = execve and proc.stdin.type = ipv4",
        "%proc.stdout.name",
        "proc.stdout.name on execve",
      ],
      ["evt.type = execve and proc.fdopencount > 100", "o", "proc.fdopencount on execve"],
      ["evt.type = connect and not fd.sip = 10.0.0.1", "o", "fd.sip on connect"],
    ]
  ) {
    const n = needsOf([cond], output);
    assertEquals(n.fdHistory, "all", cond);
    assert(n.readers.some((r) => r.includes(reader) && r.endsWith("(all)")), n.readers.join());
  }
});

Deno.test("state needs: event types no rule can match do not count", () => {
  const loaded = loadRulesText([{
    name: "r.yaml",
    text: rulesText(["evt.type = sendto and fd.l4proto = tcp and fd.l4proto = udp"]),
  }]);
  compileRuleset(loaded, {});
  const un = unmatchableEvents(deriveKernelPredicates(loaded.rules));
  assertEquals([...un], ["sendto"]);
  assertEquals(stateNeeds(loaded.rules, un).fdHistory, "none");
  assertEquals(stateNeeds(loaded.rules).fdHistory, "sockets");
});

Deno.test("state syscalls: each need leaves out the fd calls it does without", () => {
  assertEquals(stateSyscalls("all"), [...STATE_SYSCALLS]);
  const sockets = new Set(stateSyscalls("sockets"));
  for (const n of ["open", "openat", "close", "pipe2", "eventfd2", "memfd_create"]) {
    assert(!sockets.has(n), n);
  }
  for (const n of ["socket", "accept4", "connect", "dup2", "fcntl", "clone", "execve", "fchdir"]) {
    assert(sockets.has(n), n);
  }
  const none = new Set(stateSyscalls("none"));
  for (const n of ["socket", "connect", "dup2", "fcntl"]) assert(!none.has(n), n);
  for (const n of ["clone", "execve", "chdir", "fchdir", "setuid", "prctl"]) assert(none.has(n), n);
  // base_syscalls with a custom set keeps every chosen call for state.
  const s = selectSyscalls(new Set(["openat"]), {
    custom_set: ["close"],
    repair: false,
    all: false,
  });
  assert(s.state.has("openat") && s.state.has("close"));
  const d = selectSyscalls(
    new Set(["openat"]),
    { custom_set: [], repair: false, all: false },
    "none",
  );
  assert(d.names !== "all" && d.names.has("openat") && !d.names.has("close"));
  assert(!d.state.has("openat"));
});

Deno.test({
  name: "state needs: Falco's stable rules need the fd history of sockets only",
  ignore: REFERENCE_DIR === undefined,
  fn: async () => {
    const loaded = await loadRulesFiles([`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`]);
    compileRuleset(loaded, {});
    const un = unmatchableEvents(deriveKernelPredicates(loaded.rules));
    const n = stateNeeds(loaded.rules, un);
    assertEquals(n.fdHistory, "sockets", n.readers.join("\n"));
    assert(n.readers.some((r) => r.startsWith('rule "Redirect STDOUT/STDIN')), n.readers.join());
  },
});

Deno.test("state needs: Saker's rules need all (a shell's stdout name is shown)", async () => {
  const loaded = await loadRulesFiles([`${REPO_ROOT}rules`]);
  compileRuleset(loaded, {});
  const n = stateNeeds(loaded.rules, unmatchableEvents(deriveKernelPredicates(loaded.rules)));
  assertEquals(n.fdHistory, "all");
});
