/**
 * Explanations of rule outcomes (src/rules/explain.ts), one case table: a rule, an event, and
 * the deciding checks an explanation must list (text, field value, macro, position). The
 * explained outcome must agree with the compiled ruleset's for every case.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { explainEvent, explainRule, formatExplanation } from "../../src/rules/explain.ts";
import { StateStore } from "../../src/state/store.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { flagValue } from "../../src/events/flags.ts";

const RULES = `
- list: readers
  items: [passwd, sshd]
- macro: open_read
  condition: (evt.type in (open, openat) and evt.is_open_read = true)
- macro: secret
  condition: (fd.name in (/etc/shadow, /etc/gshadow) or fd.name startswith /etc/sudoers.d/)
- macro: secret_read
  condition: (open_read and secret)
- rule: secret read
  desc: d
  condition: secret_read and not proc.name in (readers)
  output: "%proc.name %fd.name"
  priority: WARNING
- rule: same names
  desc: d
  condition: evt.type = openat and proc.name = val(proc.pname)
  output: "%proc.name"
  priority: NOTICE
- rule: exec only
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: "%proc.name"
  priority: NOTICE
`;
const loaded = loadRulesText([{ name: "t.yaml", text: RULES }]);
const ruleset = compileRuleset(loaded, { ruleMatching: "all" });
const rule = (n: string) => loaded.rules.find((r) => r.name === n)!;

/** An openat of `path` by process `comm` (parent `pcomm`). */
function openEvent(comm: string, path: string, flags = "O_RDONLY", pcomm = "bash") {
  const st = new StateStore();
  st.addThread({ tid: 5, pid: 5, ppid: 1, comm: pcomm, exe: pcomm, cwd: "/" });
  st.addThread({ tid: 10, pid: 10, ppid: 5, comm, exe: comm, cwd: "/root" });
  st.linkChildren();
  const ev = buildEvent("openat", { tid: 10, pid: 10 }, {
    fd: 3,
    dirfd: -100,
    name: path,
    flags: flagValue("file_flags", flags),
  });
  st.update(ev);
  return ev;
}

interface Case {
  name: string;
  rule: string;
  event: () => ReturnType<typeof openEvent>;
  matched: boolean;
  /** Each deciding check: its text and the operand's value, in order. */
  deciding: { text: string; actual: string; negated?: boolean; macros?: string[] }[];
}

const CASES: Case[] = [
  {
    name: "an untrusted reader matches: the deciding checks are the ones that held",
    rule: "secret read",
    event: () => openEvent("cat", "/etc/shadow"),
    matched: true,
    deciding: [
      {
        text: "evt.type in (open, openat)",
        actual: "openat",
        macros: ["secret_read", "open_read"],
      },
      { text: "evt.is_open_read = true", actual: "true", macros: ["secret_read", "open_read"] },
      {
        text: "fd.name in (/etc/shadow, /etc/gshadow)",
        actual: "/etc/shadow",
        macros: ["secret_read", "secret"],
      },
      { text: "proc.name in (passwd, sshd)", actual: "cat", negated: true },
    ],
  },
  {
    name: "a trusted reader: the false operand is the negated list check, with the name",
    rule: "secret read",
    event: () => openEvent("passwd", "/etc/shadow"),
    matched: false,
    deciding: [{ text: "proc.name in (passwd, sshd)", actual: "passwd", negated: true }],
  },
  {
    name: "not a secret: every alternative of the or is listed",
    rule: "secret read",
    event: () => openEvent("cat", "/etc/hostname"),
    matched: false,
    deciding: [
      {
        text: "fd.name in (/etc/shadow, /etc/gshadow)",
        actual: "/etc/hostname",
        macros: ["secret_read", "secret"],
      },
      {
        text: "fd.name startswith /etc/sudoers.d/",
        actual: "/etc/hostname",
        macros: ["secret_read", "secret"],
      },
    ],
  },
  {
    name: "opened for writing: the first false operand inside the first macro",
    rule: "secret read",
    event: () => openEvent("cat", "/etc/shadow", "O_WRONLY"),
    matched: false,
    deciding: [{
      text: "evt.is_open_read = true",
      actual: "false",
      macros: ["secret_read", "open_read"],
    }],
  },
  {
    name: "a field compared with a field: both values",
    rule: "same names",
    event: () => openEvent("cat", "/tmp/x", "O_RDONLY", "bash"),
    matched: false,
    deciding: [{ text: "proc.name = val(proc.pname)", actual: "cat" }],
  },
];

for (const c of CASES) {
  Deno.test(`explain: ${c.name}`, () => {
    const ev = c.event();
    const x = explainRule(rule(c.rule), ev);
    const fired = new Set<string>();
    ruleset.evaluate(ev, (a) => fired.add(a.rule));
    assertEquals(x.matched, fired.has(c.rule), "explanation and compiled rules agree");
    assertEquals(x.matched, c.matched);
    assertEquals(
      x.deciding.map((d) => ({
        text: d.text,
        actual: d.actual,
        ...(d.negated ? { negated: true } : {}),
        ...(d.macros.length ? { macros: d.macros } : {}),
      })),
      c.deciding,
    );
    for (const d of x.deciding) assert(d.where?.startsWith("t.yaml:"), `position of ${d.text}`);
  });
}

Deno.test("explain: the right operand's value of a field comparison is shown", () => {
  const x = explainRule(rule("same names"), openEvent("cat", "/tmp/x", "O_RDONLY", "bash"));
  assertEquals(x.deciding[0].right, { operand: "proc.pname", actual: "bash" });
});

Deno.test("explain: a check's position points into the macro where it is written", () => {
  const x = explainRule(rule("secret read"), openEvent("cat", "/etc/shadow", "O_WRONLY"));
  // `evt.is_open_read = true` sits on line 5 of the rules text, in macro open_read.
  assertEquals(x.deciding[0].where, "t.yaml:5:46");
});

Deno.test("explain: a rule of another event type is not evaluated, and says which types", () => {
  const x = explainRule(rule("exec only"), openEvent("cat", "/etc/shadow"));
  assertEquals(x.evaluated, false);
  assertEquals(x.eventTypes, ["execve"]);
  assertStringIncludes(formatExplanation(x).join("\n"), "handles execve, not openat");
});

Deno.test("explain: explainEvent lists the rules of the event's type only", () => {
  const names = explainEvent(loaded.rules, openEvent("cat", "/etc/shadow")).map((x) => x.rule);
  assertEquals(names, ["secret read", "same names"]);
});

Deno.test("explain: the text form names the false operand and the field's value", () => {
  const lines = formatExplanation(
    explainRule(rule("secret read"), openEvent("passwd", "/etc/shadow")),
  );
  assertEquals(lines[0], "secret read: no match");
  assertStringIncludes(lines[1], "false: not proc.name in (passwd, sshd)");
  assertEquals(lines[2].trim(), "proc.name = passwd");
});
