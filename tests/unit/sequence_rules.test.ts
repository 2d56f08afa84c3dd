/**
 * Sequence and threshold rules through the real loader, compiler, state store, field extractors
 * and generated code: validation with positions, the semantics of chains (order, keys, window,
 * captures, `not` steps, restarts, one alert per chain), bounded tables (evictions, expiry by
 * event time), thresholds (counts, distinct values, a quiet window), override/append/enabled,
 * chains kept across a reload, the generated step predicates against the reference evaluator,
 * and Kubernetes audit sequences.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset, type Ruleset } from "../../src/rules/ruleset.ts";
import { formatMessage, type LoadMessage } from "../../src/rules/result.ts";
import { StateStore } from "../../src/state/store.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { SequenceStore } from "../../src/rules/sequence_engine.ts";
import { FunctionBuilder, instantiatePredicate } from "../../src/rules/codegen.ts";
import { evaluate } from "../../src/rules/interp.ts";
import { stepsAsRules } from "../../src/rules/sequence_compiler.ts";
import { deriveKernelPredicates, predicateKeeps } from "../../src/rules/kernel_filter.ts";
import { AuditEvent } from "../../src/k8saudit/audit_event.ts";
import { buildEngineRules } from "../../src/agent/build_rules.ts";

const S = 1_000_000_000n;
const T0 = 1_700_000_000n * S;

const MACROS = `
- list: tmp_dirs
  items: [/tmp/, /var/tmp/]
- macro: open_write
  condition: (evt.type in (open, openat) and evt.is_open_write = true and fd.num >= 0)
- macro: spawned_process
  condition: (evt.type = execve and evt.rawres >= 0)
`;

const DROPPED = `${MACROS}
- sequence: Dropped binary executed
  desc: A file written below a temporary directory is made executable and run
  by: [proc.sid]
  within: 60s
  steps:
    - condition: open_write and fd.name pmatch (tmp_dirs)
      capture: {path: fd.name}
      exceptions:
        - name: compilers
          fields: proc.name
          values: [cc1, ld]
    - not: evt.type = unlinkat and evt.arg.name = \${path}
    - condition: evt.type = chmod and evt.arg.filename = \${path}
    - condition: spawned_process and proc.exepath = \${path}
  output: >
    %proc.exepath written by %step[0].proc.name (pid %step[0].proc.pid) and run
    | mode=%step[2].evt.arg.mode
  priority: CRITICAL
  tags: [test]
`;

/** A process tree whose events we make, with a clock we move. */
class World {
  readonly state = new StateStore({});
  readonly alerts: Alert[] = [];
  ts = T0;
  #next = 1000;

  constructor(readonly ruleset: Ruleset) {
    this.state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "systemd", exe: "/sbin/init", cwd: "/" });
  }

  /** A process in session `sid` (a new session when absent). */
  proc(comm: string, sid?: number, parent = 1): number {
    const pid = this.#next++;
    this.state.addThread({
      tid: pid,
      pid,
      ppid: parent,
      comm,
      exe: comm,
      exepath: `/usr/bin/${comm}`,
      cwd: "/root",
      sid: sid ?? pid,
    } as never);
    this.state.linkChildren();
    return pid;
  }

  /** One event of `pid`, `dt` seconds after the previous one. */
  event(pid: number, name: string, params: Record<string, unknown>, dt = 1): Event {
    this.ts += BigInt(Math.round(dt * 1000)) * 1_000_000n;
    const th = this.state.threads.get(pid);
    const ev = buildEvent(name, { tid: pid, pid, comm: th?.proc?.comm ?? "" }, params, this.ts);
    this.state.update(ev);
    this.ruleset.evaluate(ev, (a) => this.alerts.push(a));
    return ev;
  }

  write(pid: number, path: string, dt = 1) {
    return this.event(
      pid,
      "openat",
      { fd: 3, dirfd: -100, name: path, flags: 2 | 64, mode: 420 },
      dt,
    );
  }
  chmod(pid: number, path: string, dt = 1) {
    return this.event(pid, "chmod", { res: 0, filename: path, mode: 0o755 }, dt);
  }
  unlink(pid: number, path: string, dt = 1) {
    return this.event(pid, "unlinkat", { res: 0, dirfd: -100, name: path, flags: 0 }, dt);
  }
  exec(pid: number, path: string, dt = 1) {
    return this.event(pid, "execve", {
      res: 0,
      exe: path,
      args: [],
      tid: pid,
      pid,
      ptid: 1,
      cwd: "/root",
    }, dt);
  }

  named(rule: string): Alert[] {
    return this.alerts.filter((a) => a.rule === rule);
  }
}

function load(text: string, name = "seq.yaml") {
  return loadRulesText([{ name, text }]);
}

function world(text: string, opts: Parameters<typeof compileRuleset>[1] = {}): World {
  const loaded = load(text);
  const errors = loaded.results.flatMap((r) =>
    r.errors.map((m) => formatMessage(m, loaded.contents))
  );
  assertEquals(errors, []);
  return new World(compileRuleset(loaded, { ruleMatching: "all", ...opts }));
}

const DB = "Dropped binary executed";

Deno.test("sequence: a chain fires once, with the fields of each step", () => {
  const w = world(DROPPED);
  const sh = w.proc("bash");
  const curl = w.proc("curl", sh, sh);
  w.write(curl, "/tmp/payload");
  w.chmod(sh, "/tmp/payload");
  w.exec(sh, "/tmp/payload");
  const hits = w.named(DB);
  assertEquals(hits.length, 1);
  assertEquals(hits[0].priority, "Critical");
  assertEquals(hits[0].tags, ["test"]);
  assertEquals(hits[0].time, w.ts);
  assertEquals(hits[0].outputFields["step[0].proc.name"], "curl");
  assertEquals(hits[0].outputFields["step[0].proc.pid"], curl);
  assertEquals(hits[0].outputFields["proc.exepath"], "/tmp/payload");
  assertStringIncludes(hits[0].output, "/tmp/payload written by curl (pid");
  assertStringIncludes(hits[0].output, "mode=");
  // The chain is gone: running the binary again raises nothing more.
  w.exec(sh, "/tmp/payload");
  assertEquals(w.named(DB).length, 1);
  assertEquals(w.ruleset.sequenceStore.statsOf(DB)!.entries, 0);
});

Deno.test("sequence: parts of a chain, another key, the wrong order or a late step do not fire", () => {
  const w = world(DROPPED);
  const sh = w.proc("bash");
  // Parts: written and made executable, never run.
  w.write(sh, "/tmp/a");
  w.chmod(sh, "/tmp/a");
  // Run without being made executable.
  w.write(sh, "/tmp/b");
  w.exec(sh, "/tmp/b");
  // Another session does the last steps.
  const other = w.proc("bash");
  w.write(sh, "/tmp/c");
  w.chmod(other, "/tmp/c");
  w.exec(other, "/tmp/c");
  // Wrong order: chmod before the write.
  w.chmod(sh, "/tmp/d");
  w.write(sh, "/tmp/d");
  w.exec(sh, "/tmp/d");
  // Another file than the one written (captured value differs).
  w.write(sh, "/tmp/e");
  w.chmod(sh, "/tmp/f");
  w.exec(sh, "/tmp/f");
  // Outside the window: the run comes 61 s after the write.
  w.write(sh, "/tmp/g");
  w.chmod(sh, "/tmp/g", 30);
  w.exec(sh, "/tmp/g", 31);
  assertEquals(w.named(DB).length, 0);
  // Inside the window, after all of that: it fires.
  w.write(sh, "/tmp/h");
  w.chmod(sh, "/tmp/h", 30);
  w.exec(sh, "/tmp/h", 29);
  assertEquals(w.named(DB).length, 1);
  assertEquals(w.named(DB)[0].outputFields["proc.exepath"], "/tmp/h");
});

Deno.test("sequence: a 'not' step between two steps ends the chain", () => {
  const w = world(DROPPED);
  const sh = w.proc("bash");
  w.write(sh, "/tmp/x");
  w.unlink(sh, "/tmp/x"); // removed before chmod: not the chain
  w.chmod(sh, "/tmp/x");
  w.exec(sh, "/tmp/x");
  assertEquals(w.named(DB).length, 0);
  assertEquals(w.ruleset.sequenceStore.statsOf(DB)!.cancelled, 1);
  // Removing another file does not end it.
  w.write(sh, "/tmp/y");
  w.unlink(sh, "/tmp/other");
  w.chmod(sh, "/tmp/y");
  // After the chmod, the 'not' step no longer applies (it stands between steps 0 and 2).
  w.unlink(sh, "/tmp/y");
  w.exec(sh, "/tmp/y");
  assertEquals(w.named(DB).length, 1);
});

Deno.test("sequence: exceptions, macros and lists inside steps; rules stay untouched", () => {
  const rules = `${DROPPED}
- rule: Chmod seen
  desc: every chmod
  condition: evt.type = chmod
  output: chmod %evt.arg.filename
  priority: INFO
`;
  const w = world(rules, { ruleMatching: "first" });
  const sh = w.proc("bash");
  const ld = w.proc("ld", sh, sh);
  w.write(ld, "/tmp/a.out"); // the linker is an exception of step 0
  w.chmod(sh, "/tmp/a.out");
  w.exec(sh, "/tmp/a.out");
  w.write(sh, "/var/tmp/x"); // the list's second directory
  w.chmod(sh, "/var/tmp/x");
  w.exec(sh, "/var/tmp/x");
  w.write(sh, "/home/x"); // not below a listed directory
  w.chmod(sh, "/home/x");
  w.exec(sh, "/home/x");
  // rule_matching: first stops the rules at the chmod rule, never the sequences.
  assertEquals(w.named("Chmod seen").length, 3);
  assertEquals(w.named(DB).map((a) => a.outputFields["proc.exepath"]), ["/var/tmp/x"]);
});

Deno.test("sequence: one event is one step of a chain; restarts and several chains per key", () => {
  const text = `${MACROS}
- sequence: Two writes
  desc: d
  by: [proc.pid]
  within: 10s
  steps:
    - condition: open_write
    - condition: open_write
  output: second %fd.name after %step[0].fd.name
  priority: WARNING
`;
  const w = world(text);
  const p = w.proc("cat");
  w.write(p, "/a");
  assertEquals(w.alerts.length, 0); // the first write is not also the second step
  w.write(p, "/b");
  assertEquals(w.alerts.map((a) => a.output), ["second /b after /a"]);
  // The event that completes a chain may start the next one (it matches step 0 too).
  w.write(p, "/c");
  assertEquals(w.alerts.map((a) => a.output), ["second /b after /a", "second /c after /b"]);

  const dup = world(DROPPED);
  const sh = dup.proc("bash");
  // The same file written twice: one chain (restarted), one alert.
  dup.write(sh, "/tmp/x");
  dup.write(sh, "/tmp/x");
  assertEquals(dup.ruleset.sequenceStore.statsOf(DB)!.entries, 1);
  // Two files written: two chains of one key; each completes on its own.
  dup.write(sh, "/tmp/y");
  dup.chmod(sh, "/tmp/x");
  dup.chmod(sh, "/tmp/y");
  dup.exec(sh, "/tmp/y");
  dup.exec(sh, "/tmp/x");
  assertEquals(dup.named(DB).map((a) => a.outputFields["proc.exepath"]), ["/tmp/y", "/tmp/x"]);
});

Deno.test("sequence: tables are bounded (oldest evicted, counted) and expire by event time", () => {
  const w = world(DROPPED, { maxPartialMatches: 3 });
  const sh = w.proc("bash");
  for (const f of ["a", "b", "c", "d", "e"]) w.write(sh, `/tmp/${f}`, 0.001);
  let st = w.ruleset.sequenceStore.statsOf(DB)!;
  assertEquals([st.entries, st.evicted, st.maxEntries], [3, 2, 3]);
  // The oldest chains are gone: /tmp/a cannot complete, /tmp/e can.
  w.chmod(sh, "/tmp/a");
  w.exec(sh, "/tmp/a");
  w.chmod(sh, "/tmp/e");
  w.exec(sh, "/tmp/e");
  assertEquals(w.named(DB).map((a) => a.outputFields["proc.exepath"]), ["/tmp/e"]);
  // Event time, not the wall clock: two minutes later in the events, the rest are dropped.
  w.write(w.proc("bash"), "/tmp/z", 120);
  st = w.ruleset.sequenceStore.statsOf(DB)!;
  assertEquals([st.entries, st.expired], [1, 2]);
});

Deno.test("sequence: the same events give the same alerts, whatever the wall clock", () => {
  const run = () => {
    const w = world(DROPPED);
    const sh = w.proc("bash");
    w.write(sh, "/tmp/a");
    w.write(sh, "/tmp/b", 0.5);
    w.chmod(sh, "/tmp/b", 40);
    w.chmod(sh, "/tmp/a", 10);
    w.exec(sh, "/tmp/a", 5);
    w.exec(sh, "/tmp/b", 10);
    return w.alerts.map((a) => [a.time, a.output]);
  };
  const first = run();
  assertEquals(first.length, 1); // /tmp/b's run comes 60.5 s after its write
  assertEquals(run(), first);
});

Deno.test("sequence: a reload that keeps the definition keeps the chains", () => {
  const store = new SequenceStore();
  const w = world(DROPPED, { sequenceStore: store });
  const sh = w.proc("bash");
  w.write(sh, "/tmp/x");
  w.chmod(sh, "/tmp/x");
  const loaded = load(DROPPED);
  const next = compileRuleset(loaded, { ruleMatching: "all", sequenceStore: store });
  // A changed definition starts over.
  const changed = load(DROPPED.replace("within: 60s", "within: 50s"));
  const other = new SequenceStore();
  const w2 = new World(compileRuleset(load(DROPPED), { sequenceStore: other }));
  const sh2 = w2.proc("bash");
  w2.write(sh2, "/tmp/y");
  compileRuleset(changed, { sequenceStore: other });
  assertEquals(other.statsOf(DB)!.entries, 0);
  (w as { ruleset: Ruleset }).ruleset = next;
  w.exec(sh, "/tmp/x");
  assertEquals(w.named(DB).length, 1);
});

Deno.test("sequence: clearing the store forgets chains and counts, not the definitions", () => {
  const w = world(`${DROPPED}
- threshold: Two opens
  desc: d
  condition: evt.type = openat and fd.num >= 0
  by: [proc.pid]
  count: 2
  within: 10s
  output: "%threshold.count opens"
  priority: NOTICE
`);
  const sh = w.proc("bash");
  w.write(sh, "/tmp/x");
  w.chmod(sh, "/tmp/x");
  assertEquals(w.ruleset.sequenceStore.statsOf(DB)!.entries, 1);
  w.ruleset.sequenceStore.clear();
  assertEquals(w.ruleset.sequenceStore.statsOf(DB)!.entries, 0);
  assertEquals(w.ruleset.sequenceStore.statsOf(DB)!.expired, 0);
  w.exec(sh, "/tmp/x"); // its chain is gone
  w.write(sh, "/tmp/y"); // one open counted since the clear
  assertEquals(w.alerts.map((a) => a.rule), []);
  // The same ruleset still follows chains and counts.
  w.chmod(sh, "/tmp/y");
  w.exec(sh, "/tmp/y");
  w.write(sh, "/tmp/z");
  assertEquals(w.alerts.map((a) => a.rule).sort(), [DB, "Two opens"]);
});

Deno.test("sequence: override, append and enabled work as on rules", () => {
  const local = `
- sequence: Dropped binary executed
  within: 5s
  override: {within: replace}
- sequence: Dropped binary executed
  steps:
    - exceptions:
        - name: compilers
          values: [curl]
    - {}
    - condition: and evt.arg.mode != 0
  override: {steps: append}
`;
  const loaded = loadRulesText([{ name: "a.yaml", text: DROPPED }, {
    name: "b.yaml",
    text: local,
  }]);
  assert(loaded.results.every((r) => r.successful), JSON.stringify(loaded.results));
  const q = loaded.sequences[0];
  assertEquals(q.within, 5);
  assertStringIncludes(q.steps[0].conditionText, "curl");
  assertStringIncludes(q.steps[2].conditionText, "evt.arg.mode != 0");
  const w = new World(compileRuleset(loaded));
  const sh = w.proc("bash");
  const curl = w.proc("curl", sh, sh);
  w.write(curl, "/tmp/a"); // curl is now an exception
  w.chmod(sh, "/tmp/a");
  w.exec(sh, "/tmp/a");
  w.write(sh, "/tmp/b");
  w.chmod(sh, "/tmp/b", 3);
  w.exec(sh, "/tmp/b", 3); // 6 s: outside the new window
  w.write(sh, "/tmp/c");
  w.chmod(sh, "/tmp/c");
  w.exec(sh, "/tmp/c");
  assertEquals(w.named(DB).map((a) => a.outputFields["proc.exepath"]), ["/tmp/c"]);

  const off = loadRulesText([
    { name: "a.yaml", text: DROPPED },
    {
      name: "b.yaml",
      text: `- sequence: ${DB}\n  enabled: false\n  override: {enabled: replace}\n`,
    },
  ]);
  assertEquals(off.sequences[0].enabled, false);
  assertEquals(compileRuleset(off).sequences.length, 0);
  const standalone = loadRulesText([
    { name: "a.yaml", text: DROPPED },
    { name: "b.yaml", text: `- sequence: ${DB}\n  enabled: false\n` },
  ]);
  assertEquals(standalone.sequences[0].enabled, false);
  assert(standalone.results[1].warnings.some((w) => w.code === "LOAD_DEPRECATED_ITEM"));
  // Selection by name, tag and priority applies to sequences too.
  assertEquals(compileRuleset(load(DROPPED), { minPriority: "Emergency" }).sequences.length, 0);
  assertEquals(
    compileRuleset(load(DROPPED), { select: [{ action: "disable", tag: "test" }] }).sequences
      .length,
    0,
  );
});

/** The first error or warning of a file, as `line:column: code: message`. */
function problem(text: string, kind: "errors" | "warnings" = "errors"): string {
  const loaded = load(text);
  const m: LoadMessage | undefined = loaded.results[0][kind][0];
  if (!m) return "";
  const l = m.context.last;
  return `${l.line}:${l.column}: ${m.code}: ${m.message}`;
}

Deno.test("sequence: validation errors name the file position", () => {
  const base = (steps: string, extra = "within: 10s", by = "[proc.pid]") =>
    `${MACROS}
- sequence: S
  desc: d
  by: ${by}
  ${extra}
  steps:
${steps}
  output: o %proc.name
  priority: INFO
`;
  const two = "    - condition: open_write\n    - condition: spawned_process\n";
  const cases: [string, RegExp][] = [
    [base(two, "within: soon"), /^12:11: LOAD_ERR_YAML_VALIDATE: Invalid duration 'soon'/],
    [base(two, ""), /Item has no mapping for key 'within'/],
    [base("    - condition: open_write\n"), /at least two steps/],
    [base(`    - not: open_write\n${two}`), /^14:7: .*'not' step stands between two steps/],
    [
      base("    - condition: open_write\n    - condition: spawned_process and proc.name = ${x}\n"),
      /^15:50: LOAD_ERR_COMPILE_CONDITION: '\$\{x\}' is captured by no earlier step/,
    ],
    [
      base(
        "    - condition: open_write\n      capture: {p: proc.pid}\n" +
          "    - condition: spawned_process and proc.name = ${p}\n",
      ),
      /can't be compared with '\$\{p\}' of type 'int64'/,
    ],
    [
      base(
        "    - condition: open_write\n      capture: {p: proc.nosuch}\n" +
          "    - condition: spawned_process\n",
      ),
      /^15:20: LOAD_ERR_VALIDATE: Capture 'proc.nosuch'/,
    ],
    [
      base(
        "    - condition: open_write\n      capture: {p: proc.pid}\n" +
          "    - condition: spawned_process\n      capture: {p: proc.ppid}\n",
      ),
      /'p' is captured twice/,
    ],
    [
      base(
        "    - condition: open_write\n      capture: {p: proc.name}\n    - condition: spawned_process and proc.name in (${p})\n",
      ),
      /stands alone on the right of a check/,
    ],
    [base(two, "within: 10s", "[proc.aname]"), /Key 'proc.aname' has several values/],
    [base(two, "within: 10s", "[proc.pid, no.field]"), /^11:18: LOAD_ERR_VALIDATE: Key 'no.field'/],
    [
      base(
        "    - condition: open_write\n      not: spawned_process\n    - condition: spawned_process\n",
      ),
      /either 'condition' .* or 'not'/,
    ],
    [base(two).replace("o %proc.name", "o %step[2].proc.name"), /%step\[2\] names no step/],
    [
      base(
        `    - condition: open_write\n    - not: evt.type = close\n    - condition: spawned_process\n`,
      )
        .replace("o %proc.name", "o %step[1].proc.name"),
      /step 1 is a 'not' step/,
    ],
  ];
  const wrong = cases.map(([text, re]) => [re, problem(text)] as const)
    .filter(([re, p]) => !re.test(p))
    .map(([re, p]) => `expected ${re}\n     got ${p}`);
  assertEquals(wrong, []);
  const thr = (extra: string) => `
- threshold: T
  desc: d
  condition: evt.type = openat
  by: [proc.pid]
  within: 10s
  ${extra}
  output: o
  priority: INFO
`;
  assert(/Invalid count '1'/.test(problem(thr("count: 1"))), problem(thr("count: 1")));
  assert(/no mapping for key 'count'/.test(problem(thr(""))));
  assert(/Distinct field 'x.y'/.test(problem(thr("count: 5\n  distinct: x.y"))));
  // A rule and a sequence cannot share a name.
  assert(
    /share names/.test(
      problem(
        `${DROPPED}\n- rule: ${DB}\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n`,
      ),
    ),
  );
  // %step[N] and %threshold.count belong to their items only.
  assert(/%step\[N\] is for sequence outputs/.test(problem(`
- rule: R
  desc: d
  condition: evt.type = open
  output: o %step[0].proc.name
  priority: INFO
`)));
});

Deno.test("sequence: warnings for a step matching every event, unknown keys and no keys", () => {
  const text = `${MACROS}
- sequence: Broad
  desc: d
  within: 10s
  colour: red
  steps:
    - condition: proc.name = sh
    - condition: spawned_process
      surprise: 1
  output: o
  priority: INFO
`;
  const loaded = load(text);
  const w = loaded.results[0].warnings.map((m) =>
    `${m.context.last.line}:${m.context.last.column}: ${m.code}: ${m.message}`
  );
  assert(
    w.some((x) => /^14:7: LOAD_NO_EVTTYPE: Step 0 matches too many evt.type/.test(x)),
    w.join("\n"),
  );
  assert(w.some((x) => /LOAD_UNKNOWN_KEY: Unknown key 'colour'/.test(x)), w.join("\n"));
  assert(w.some((x) => /^15:7: LOAD_UNKNOWN_KEY: Unknown key 'surprise'/.test(x)), w.join("\n"));
  assert(w.some((x) => /no 'by' keys/.test(x)), w.join("\n"));
  // The macros the steps use are used.
  assert(!w.some((x) => /LOAD_UNUSED_MACRO.*spawned/.test(x)), w.join("\n"));
});

Deno.test("threshold: N events or N distinct values per key in a sliding window, then quiet", () => {
  const text = `
- threshold: Many opens
  desc: d
  condition: evt.type = openat and fd.num >= 0
  by: [proc.pid]
  count: 3
  within: 10s
  output: "%threshold.count opens by %proc.name, last %fd.name"
  priority: NOTICE
- threshold: Many files
  desc: d
  condition: evt.type = openat and fd.num >= 0
  by: [proc.pid]
  distinct: fd.name
  count: 3
  within: 10s
  output: "%threshold.count files by %proc.name"
  priority: NOTICE
`;
  const w = world(text);
  const a = w.proc("cat");
  const b = w.proc("cat");
  w.write(a, "/x");
  w.write(b, "/y"); // another key
  w.write(a, "/x", 6);
  w.write(a, "/x", 6); // the first is 12 s old by now: two in the window
  assertEquals(w.alerts.length, 0);
  w.write(a, "/x", 1);
  assertEquals(w.named("Many opens").map((x) => x.output), ["3 opens by cat, last /x"]);
  assertEquals(w.named("Many opens")[0].outputFields["threshold.count"], 3);
  // Quiet for one window after firing.
  for (let i = 0; i < 5; i++) w.write(a, "/x", 1);
  assertEquals(w.named("Many opens").length, 1);
  w.write(a, "/x", 6);
  w.write(a, "/x", 1);
  w.write(a, "/x", 1);
  assertEquals(w.named("Many opens").length, 2);
  assertEquals(w.named("Many files").length, 0);
  w.write(b, "/1");
  w.write(b, "/2");
  w.write(b, "/2");
  w.write(b, "/3");
  assertEquals(w.named("Many files").map((x) => x.output), ["3 files by cat"]);
});

Deno.test("sequence: generated step predicates agree with the reference evaluator", () => {
  const loaded = load(DROPPED);
  const q = loaded.sequences[0];
  const w = world(DROPPED);
  const sh = w.proc("bash");
  const events = [
    w.write(sh, "/tmp/x"),
    w.chmod(sh, "/tmp/x"),
    w.chmod(sh, "/tmp/y"),
    w.unlink(sh, "/tmp/x"),
    w.exec(sh, "/tmp/x"),
    w.exec(sh, "/usr/bin/x"),
  ];
  const capsList = [["/tmp/x"], ["/tmp/y"], [undefined], [["/tmp/x", "/tmp/z"]]];
  let compared = 0;
  for (const s of q.steps.filter((s) => s.usesCaptures)) {
    const b = new FunctionBuilder();
    const pred = instantiatePredicate(b.buildPredicate(s.checked), b.consts);
    for (const ev of events) {
      for (const caps of capsList) {
        assertEquals(pred(ev, caps), evaluate(s.checked, ev, caps), `${s.conditionText}`);
        compared++;
      }
    }
  }
  assertEquals(compared, 3 * events.length * capsList.length);
  // The event-only projection is implied by the full condition.
  for (const s of q.steps) {
    for (const ev of events) {
      for (const caps of capsList) {
        if (evaluate(s.checked, ev, caps)) assert(evaluate(s.pre, ev), s.conditionText);
      }
    }
  }
});

Deno.test("sequence: steps feed the kernel's event selection and predicates", () => {
  const text = `${DROPPED}
- rule: Shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: o
  priority: INFO
`;
  const loaded = load(text);
  const rs = compileRuleset(loaded);
  // chmod and unlinkat are needed by the sequence alone.
  for (const n of ["chmod", "unlinkat", "execve", "openat"]) assert(rs.syscalls().has(n), n);
  const preds = deriveKernelPredicates([...rs.rules, ...stepsAsRules(rs.sequences)]);
  const w = world(text);
  const sh = w.proc("bash");
  // Every event a step matches is kept by its type's predicate.
  for (const ev of [w.write(sh, "/tmp/x"), w.chmod(sh, "/tmp/x"), w.unlink(sh, "/tmp/x")]) {
    const p = preds.get(ev.type);
    assert(p && predicateKeeps(p, ev), `kept: ${ev.type}`);
  }
});

Deno.test("sequence: the agent's build keeps the steps' events and fd-history needs", async () => {
  const plain = `
- rule: Shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: o
  priority: INFO
`;
  const connected = `${MACROS}
- sequence: Written then connected
  desc: d
  by: [proc.pid]
  within: 10s
  steps:
    - condition: open_write and fd.name pmatch (tmp_dirs)
    - condition: evt.type = connect and fd.sip = 10.0.0.1
  output: o
  priority: INFO
`;
  const dir = await Deno.makeTempDir();
  try {
    const opts = { priority: "Debug", ruleMatching: "all", selection: [], appendOutput: [] };
    await Deno.writeTextFile(`${dir}/plain.yaml`, plain);
    const alone = await buildEngineRules([`${dir}/plain.yaml`], opts as never);
    await Deno.writeTextFile(`${dir}/seq.yaml`, connected);
    const both = await buildEngineRules([`${dir}/plain.yaml`, `${dir}/seq.yaml`], opts as never);
    // The plain rule alone: no connect, no fd history, the kernel keeps only /etc/shadow opens.
    assert(alone.syscalls !== "all" && !alone.syscalls.has("connect"));
    assertEquals(alone.fdHistory, "none");
    assertEquals(both.ruleCount, 2);
    // The sequence's steps add connect, the socket history its step reads, and /tmp writes.
    assert(both.syscalls !== "all" && both.syscalls.has("connect"));
    assertEquals(both.fdHistory, "sockets");
    assert(both.fdStateReaders!.some((r) => r.includes("Written then connected")));
    const w = world(plain);
    const write = w.write(w.proc("curl"), "/tmp/payload");
    assert(!predicateKeeps(alone.predicates!.get(write.type)!, write), "dropped without it");
    assert(predicateKeeps(both.predicates!.get(write.type)!, write), "kept for the step");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sequence: Kubernetes audit events (a secret read, then an exec by the same user)", () => {
  const text = `
- sequence: Secret read then exec
  desc: d
  source: k8s_audit
  by: [ka.user.name]
  within: 10m
  steps:
    - condition: ka.verb = get and ka.target.resource = secrets
      capture: {ns: ka.target.namespace}
    - condition: >
        ka.verb = create and ka.target.resource = pods and ka.target.subresource = exec
        and ka.target.namespace = \${ns}
  output: >
    %ka.user.name read secret %step[0].ka.target.name then exec'd into %ka.target.name
  priority: WARNING
`;
  const loaded = load(text);
  assert(loaded.results[0].successful, JSON.stringify(loaded.results[0].errors));
  const rs = compileRuleset(loaded, { source: "k8s_audit" });
  assertEquals(rs.sequences.length, 1);
  const alerts: string[] = [];
  let ts = T0;
  const audit = (
    user: string,
    verb: string,
    resource: string,
    ns: string,
    name: string,
    sub?: string,
  ) => {
    ts += 30n * S;
    const record = {
      kind: "Event",
      auditID: `id-${ts}`,
      verb,
      user: { username: user },
      objectRef: { resource, namespace: ns, name, ...(sub ? { subresource: sub } : {}) },
      requestURI: `/api/v1/namespaces/${ns}/${resource}/${name}`,
      stage: "ResponseComplete",
    };
    rs.evaluate(new AuditEvent(record, ts), (a) => alerts.push(a.output));
  };
  audit("mallory", "get", "secrets", "prod", "db-password");
  audit("alice", "create", "pods", "prod", "web-1", "exec"); // another user
  audit("mallory", "create", "pods", "dev", "web-1", "exec"); // another namespace
  assertEquals(alerts.length, 0);
  audit("mallory", "create", "pods", "prod", "web-1", "exec");
  assertEquals(alerts, ["mallory read secret db-password then exec'd into web-1"]);
});
