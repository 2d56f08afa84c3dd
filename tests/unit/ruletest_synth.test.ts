/**
 * Synthetic events from field values (src/ruletest/synth.ts), one case table: the fields a test
 * gives, and the fields the built event must show after the real state update (the given ones are
 * checked by the world itself; each case also lists what defaults or state produce). Sequences
 * (clone, execve, open) must build state through the handlers, and fields that cannot be given
 * must be errors naming their position.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../support/assert.ts";
import { type FieldEntry, SyntheticWorld, type SynthValue } from "../../src/ruletest/synth.ts";
import { TestFileError } from "../../src/ruletest/problem.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";
import type { Event } from "../../src/events/event.ts";

function entries(fields: Record<string, SynthValue>, line = 1): FieldEntry[] {
  return Object.entries(fields).map(([key, value], i) => ({
    key,
    value,
    at: { file: "t.yaml", line, col: 3 + i },
  }));
}

function field(ev: Event, name: string): unknown {
  const ref = lookupField(name)!;
  return ref.def.extract(ev, ref.arg);
}

/** Builds each event in one world; returns the last event and its read-back problems. */
function build(events: Record<string, SynthValue>[]) {
  const w = new SyntheticWorld();
  let last: Event | undefined;
  let problems: TestFileError[] = [];
  events.forEach((e, i) => {
    const es = entries(e, i + 1);
    const evs = w.events(es);
    last = evs[evs.length - 1];
    problems = w.verify(last, es);
  });
  return { ev: last!, problems, world: w };
}

interface Case {
  name: string;
  events: Record<string, SynthValue>[];
  /** Fields the last event must show (beyond the given ones, which are verified). */
  shows: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    name: "an open: path, flags, fd and the defaults of its process",
    events: [{ "evt.type": "openat", "fd.name": "/etc/shadow", "proc.name": "cat" }],
    shows: {
      "fd.num": 3,
      "fd.typechar": "f",
      "evt.is_open_read": true,
      "proc.pid": 100,
      "proc.exepath": "/usr/bin/cat",
      "proc.cwd": "/root/",
      "user.name": "root",
      "proc.pname": "systemd",
      "container.id": "host",
      "evt.res": "SUCCESS",
    },
  },
  {
    name: "a failed open keeps its path",
    events: [{ "evt.type": "openat", "fd.name": "/etc/shadow", "evt.res": "EACCES" }],
    shows: { "evt.rawres": -13, "fd.num": -1, "evt.failed": true },
  },
  {
    name: "a relative path is resolved against the process's cwd",
    events: [{ "evt.type": "openat", "proc.cwd": "/var/www", "evt.arg.name": "../x/../y" }],
    shows: { "fd.name": "/var/y", "fd.nameraw": "../x/../y" },
  },
  {
    name: "an execve: the new image, its parent and grandparent, a system user",
    events: [{
      "evt.type": "execve",
      "proc.name": "id",
      "proc.args": ["-u"],
      "user.name": "daemon",
      "proc.pname": "bash",
      "proc.aname[2]": "sshd",
    }],
    shows: {
      "proc.cmdline": "id -u",
      "proc.exepath": "/usr/bin/id",
      "user.uid": 1,
      "user.homedir": "/usr/sbin",
      "proc.aname[3]": "systemd",
      "proc.sname": "bash",
    },
  },
  {
    name: "a container process: metadata defaults, its own user table, vpid",
    events: [{ "evt.type": "execve", "container.id": "abc123", "proc.name": "sh" }],
    shows: {
      "container.name": "test-container",
      "container.image.repository": "docker.io/library/test-image",
      "container.image.tag": "latest",
      "container.privileged": false,
      "proc.vpid": 10,
      "user.name": "root",
    },
  },
  {
    name: "Kubernetes fields come from the pod labels",
    events: [{
      "evt.type": "execve",
      "k8s.pod.name": "web-1",
      "k8s.ns.name": "prod",
      "proc.name": "sh",
    }],
    shows: { "container.id": "5a6e7e575e57" },
  },
  {
    name: "capabilities by name",
    events: [{
      "evt.type": "openat",
      "thread.cap_effective": "CAP_SYS_ADMIN CAP_NET_RAW",
      "fd.name": "/x",
    }],
    shows: { "thread.cap_effective": "CAP_NET_RAW CAP_SYS_ADMIN" },
  },
  {
    name: "a connect: a seeded socket, then the tuple the event carries",
    events: [{
      "evt.type": "connect",
      "proc.name": "curl",
      "fd.sip": "203.0.113.10",
      "fd.sport": 443,
    }],
    shows: {
      "fd.name": "192.0.2.10:40000->203.0.113.10:443",
      "fd.l4proto": "tcp",
      "fd.typechar": "4",
      "fd.is_server": false,
    },
  },
  {
    name: "a sequence builds state: socket, connect, dup2 onto stdin, exec of a shell",
    events: [
      { "evt.type": "socket", "proc.name": "python3", "fd.num": 4 },
      { "evt.type": "connect", "fd.num": 4, "fd.sip": "203.0.113.10", "fd.sport": 4444 },
      { "evt.type": "dup2", "fd.num": 4, "evt.arg.newfd": 0 },
      { "evt.type": "execve", "proc.name": "sh", "proc.exepath": "/bin/sh" },
    ],
    shows: { "proc.stdin.type": "ipv4", "proc.stdin.name": "192.0.2.10:40000->203.0.113.10:4444" },
  },
  {
    name: "a sequence builds state: clone in the parent, then the child execs and opens",
    events: [
      { "evt.type": "clone", "proc.pid": 500, "proc.name": "bash", "evt.res": 501 },
      { "evt.type": "execve", "proc.pid": 501, "proc.name": "cat", "proc.args": "/etc/shadow" },
      { "evt.type": "openat", "fd.name": "/etc/shadow" },
    ],
    shows: {
      "proc.pid": 501,
      "proc.ppid": 500,
      "proc.pname": "bash",
      "proc.name": "cat",
      "proc.cmdline": "cat /etc/shadow",
    },
  },
  {
    name: "durations: a process started 2 s before its event",
    events: [{ "evt.type": "openat", "proc.duration": "2s", "fd.name": "/x" }],
    shows: { "proc.duration": 2_000_000_000 },
  },
];

for (const c of CASES) {
  Deno.test(`synthetic events: ${c.name}`, () => {
    const { ev, problems } = build(c.events);
    assertEquals(problems.map((p) => p.message), [], "every given field reads back");
    for (const [k, v] of Object.entries(c.shows)) {
      const got = field(ev, k);
      assertEquals(typeof got === "bigint" ? Number(got) : got, v, k);
    }
  });
}

Deno.test("synthetic events: a field given for a process an earlier event made is an error", () => {
  const { problems } = build([
    { "evt.type": "openat", "proc.name": "bash", "fd.name": "/a" },
    { "evt.type": "openat", "proc.name": "cat", "fd.name": "/b" },
  ]);
  assertEquals(problems.length, 1);
  assertStringIncludes(problems[0].message, "proc.name: given cat, the event shows bash");
  assertStringIncludes(problems[0].message, "existed before this event");
  assertEquals(problems[0].at, { file: "t.yaml", line: 2, col: 4 });
});

Deno.test("synthetic events: a derived field that does not hold is reported with its value", () => {
  const { problems } = build([{
    "evt.type": "openat",
    "fd.name": "/a",
    "evt.is_open_write": true,
  }]);
  assertEquals(problems.map((p) => p.message), [
    "evt.is_open_write: given true, the event shows false",
  ]);
});

Deno.test("synthetic events: bad input is an error at its position", () => {
  const cases: [Record<string, SynthValue>, string][] = [
    [{ "fd.name": "/x" }, "an event needs evt.type"],
    [{ "evt.type": "opennat" }, "unknown event type 'opennat'"],
    [{ "evt.type": "openat", "fd.nme": "/x" }, "unknown field 'fd.nme'"],
    [{ "evt.type": "openat", "evt.arg.flag": "O_RDONLY" }, "openat has no parameter 'flag'"],
    [{ "evt.type": "openat", "evt.arg.flags": "O_READ" }, "is not a number or file_flags names"],
    [{ "evt.type": "openat", "evt.res": "EWHAT" }, "is not SUCCESS, an errno name or a number"],
    [{ "evt.type": "openat", "thread.cap_effective": "CAP_FLY" }, "unknown capability"],
    [{ "evt.type": "openat", "proc.aname[0]": "x" }, "the level must be 1 or more"],
  ];
  for (const [fields, msg] of cases) {
    const err = assertThrows(() => new SyntheticWorld().events(entries(fields, 7)), msg);
    assert(err instanceof TestFileError && err.at?.line === 7, `${msg}: position`);
  }
});

Deno.test("synthetic events: times start at the documented time, 1 ms apart", () => {
  const w = new SyntheticWorld();
  const a = w.event(entries({ "evt.type": "openat", "fd.name": "/a" }));
  const b = w.event(entries({ "evt.type": "openat", "fd.name": "/b" }));
  assertEquals(new Date(Number(a.ts / 1_000_000n)).toISOString(), "2025-01-01T00:00:00.000Z");
  assertEquals(b.ts - a.ts, 1_000_000n);
  assertEquals([a.num, b.num], [1, 2]);
});
