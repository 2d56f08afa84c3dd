/**
 * Holding a container's events for its metadata: the frozen state a held event keeps (its
 * process execs again and its parent exits before the rules run, and the rules still see the
 * state as of the event), and the hold itself (per-group order, other groups flowing on, release
 * on readiness or after the bounded wait, counters, the mark on alerts evaluated without
 * metadata).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { StateStore } from "../../src/state/store.ts";
import { freezeEvent } from "../../src/state/freeze.ts";
import { EventHold, type HoldPolicy, markMissing } from "../../src/pipeline/hold.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";

let clock = 1_000n;
const PROCEXIT = 186;
function ev(
  name: string | number,
  header: { tid: number; pid: number; comm?: string },
  params = {},
): Event {
  clock += 1000n;
  return buildEvent(name, { ts: clock, ...header }, params, 1_700_000_000_000_000_000n);
}

function field(e: Event, ref: string): unknown {
  const f = lookupField(ref)!;
  return f.def.extract(e, f.arg);
}

function execve(pid: number, exe: string, args: string[], ptid: number): Event {
  const comm = exe.slice(exe.lastIndexOf("/") + 1);
  return ev("execve", { tid: pid, pid, comm }, {
    res: 0,
    exe,
    args,
    tid: pid,
    pid,
    ptid,
    cwd: "/work",
    comm,
    uid: 0,
    gid: 0,
  });
}

Deno.test("freeze: a held event keeps its process, parent and fd as of the event", () => {
  const state = new StateStore();
  state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "init", exe: "/sbin/init" });
  state.addThread({ tid: 50, pid: 50, ppid: 1, comm: "conmon", exe: "/usr/bin/conmon" });
  state.addThread({ tid: 60, pid: 60, ppid: 50, comm: "sh", exe: "/bin/sh", cwd: "/" });
  const exec = execve(60, "/bin/cat", ["/etc/shadow"], 50);
  state.update(exec);
  const open = ev("openat", { tid: 60, pid: 60, comm: "cat" }, {
    fd: 3,
    dirfd: -100,
    name: "/etc/shadow",
    flags: 1,
  });
  state.update(open);
  freezeEvent(exec);
  freezeEvent(open);
  // The tables move on: the process execs again, closes its fd, its parent exits.
  state.update(execve(60, "/bin/true", [], 50));
  state.update(ev("close", { tid: 60, pid: 60, comm: "true" }, { res: 0, fd: 3 }));
  state.update(ev(PROCEXIT, { tid: 50, pid: 50, comm: "conmon" }, { status: 0 }));
  state.update(ev("getcwd", { tid: 60, pid: 60, comm: "true" }, { res: 0, path: "/" }));
  assertEquals(state.process(50), undefined, "the parent left the table");
  for (const e of [exec, open]) {
    assertEquals(field(e, "proc.name"), "cat");
    assertEquals(field(e, "proc.cmdline"), "cat /etc/shadow");
    assertEquals(field(e, "proc.pname"), "conmon");
    assertEquals(field(e, "proc.aname[2]"), "init");
  }
  assertEquals(field(open, "fd.name"), "/etc/shadow");
  // The live tables are those of the later events.
  assertEquals(state.process(60)?.exe, "/bin/true");
});

/** A policy over fixed groups: events whose tid is in `pending` wait under key "c<tid>". */
class FakePolicy implements HoldPolicy {
  pending = new Set<number>();
  expiredKeys: string[] = [];
  frozen = 0;
  #cb: ((key: string, ready: boolean) => void) | undefined;
  keyOf(e: Event): string | undefined {
    return this.pending.has(e.tid) ? `c${e.tid}` : undefined;
  }
  freeze(): void {
    this.frozen++;
  }
  onReady(cb: (key: string, ready: boolean) => void): void {
    this.#cb = cb;
  }
  expired(key: string): void {
    this.expiredKeys.push(key);
  }
  settle(tid: number, ready: boolean): void {
    this.pending.delete(tid);
    this.#cb?.(`c${tid}`, ready);
  }
}

function metric(reg: Registry, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(reg.render());
  return m ? Number(m[1]) : NaN;
}

Deno.test("hold: a pending group waits in order while the others flow on", async () => {
  const policy = new FakePolicy();
  policy.pending.add(7);
  policy.pending.add(8);
  const reg = new Registry();
  const evaluated: string[] = [];
  const missing: Array<string | undefined> = [];
  const hold = new EventHold({
    policy,
    waitMs: 80,
    registry: reg,
    evaluate: (events, why) => {
      for (const e of events) evaluated.push(`${e.tid}:${e.num}`);
      missing.push(why);
    },
  });
  const events = [7, 1, 7, 8, 1, 7].map((tid, i) => {
    const e = ev("getcwd", { tid, pid: tid }, { res: 0, path: "/" });
    e.num = i;
    return e;
  });
  const now: string[] = [];
  for (const e of events) if (!hold.offer(e)) now.push(`${e.tid}:${e.num}`);
  assertEquals(now, ["1:1", "1:4"], "host events flow on");
  assertEquals(hold.size, 4);
  assertEquals(policy.frozen, 4, "every held event is frozen");
  policy.settle(7, true);
  assertEquals(evaluated, ["7:0", "7:2", "7:5"], "released in their order");
  assertEquals(missing, [undefined]);
  // Group 8 never gets its metadata: released by the bounded wait.
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(evaluated.slice(3), ["8:3"]);
  assertEquals(missing[1], "timeout");
  assertEquals(policy.expiredKeys, ["c8"]);
  assertEquals(metric(reg, "saker_container_held_events_total"), 4);
  assertEquals(metric(reg, "saker_container_hold_waits_total"), 2);
  assertEquals(metric(reg, "saker_container_hold_timeouts_total"), 1);
  assertEquals(metric(reg, "saker_container_held_events"), 0);
  assert(metric(reg, "saker_container_hold_wait_seconds_total") >= 0.08);
});

Deno.test("hold: alerts evaluated without metadata say so", () => {
  const a: Alert = {
    time: 1n,
    rule: "r",
    priority: "Warning",
    source: "syscall",
    tags: [],
    output: "Privileged container started",
    outputFields: { "container.name": null },
  };
  markMissing(a, "timeout");
  markMissing(a, "timeout");
  assertEquals(a.output, "Privileged container started container.metadata=timeout");
  assertEquals(a.outputFields["container.metadata"], "timeout");
});
