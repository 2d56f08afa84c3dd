/**
 * The pipeline with real decoded events (built by the event encoder), the real rules engine and
 * the real state store: batches in, alerts out, per-event interleaving, ruleset swaps between
 * batches, failures contained, slow outputs never holding the source, health.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { Pipeline, type StateTracker, watchdogPeriodMs } from "../../src/pipeline/pipeline.ts";
import { compileRuleset, type Ruleset } from "../../src/rules/ruleset.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { StateStore } from "../../src/state/store.ts";
import { Registry } from "../../src/metrics.ts";
import type { EventSource } from "../../src/sources/source.ts";
import { AlertFanout } from "../../src/outputs/fanout.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import type { AlertOutput } from "../../src/outputs/output.ts";

function rules(
  name: string,
  cond: string,
  output = "open of %evt.arg.name by %proc.name",
): Ruleset {
  const loaded = loadRulesText([{
    name: "test.yaml",
    text: `
- rule: ${name}
  desc: test rule
  condition: ${cond}
  output: "${output}"
  priority: WARNING
  tags: [test]
`,
  }]);
  assertEquals(loaded.results.flatMap((r) => r.errors), []);
  return compileRuleset(loaded);
}

function open(tid: number, path: string, i = 0): Event {
  const ev = buildEvent("openat", { tid, pid: tid, comm: "cat" }, {
    fd: 3,
    dirfd: -100,
    name: path,
    flags: 1,
    mode: 0,
  });
  ev.num = i;
  ev.ts = 1_700_000_000_000_000_000n + BigInt(i);
  return ev;
}

/** A source the test feeds batch by batch. */
class PushSource implements EventSource {
  readonly source = "syscall";
  readonly readable: ReadableStream<Event[]>;
  #ctl!: ReadableStreamDefaultController<Event[]>;
  pulls = 0;
  constructor() {
    this.readable = new ReadableStream<Event[]>({
      start: (c) => {
        this.#ctl = c;
      },
      pull: () => {
        this.pulls++;
      },
    }, { highWaterMark: 1 });
  }
  push(batch: Event[]): void {
    this.#ctl.enqueue(batch);
  }
  fail(err: Error): void {
    this.#ctl.error(err);
  }
  close(): Promise<void> {
    try {
      this.#ctl.close();
    } catch { /* closed */ }
    return Promise.resolve();
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("pipeline: batches through state and rules to alerts", async () => {
  const src = new PushSource();
  const got: Alert[][] = [];
  const reg = new Registry();
  const p = new Pipeline({
    source: src,
    state: new StateStore(),
    ruleset: rules("etc open", "evt.type = openat and fd.name startswith /etc"),
    onAlerts: (a) => got.push(a),
    registry: reg,
  });
  const done = p.run();
  src.push([open(10, "/etc/passwd", 1), open(10, "/tmp/x", 2), open(11, "/etc/hosts", 3)]);
  src.push([open(12, "/var/log/y", 4)]);
  src.push([open(12, "/etc/shadow", 5)]);
  await src.close();
  await done;
  // One alert chunk per batch that produced alerts; nothing for the quiet batch.
  assertEquals(got.map((b) => b.map((a) => a.output)), [
    ["open of /etc/passwd by cat", "open of /etc/hosts by cat"],
    ["open of /etc/shadow by cat"],
  ]);
  assertEquals(got[0][0].outputFields, { "evt.arg.name": "/etc/passwd", "proc.name": "cat" });
  assertEquals(p.stats(), { processed: 5, batches: 3, alerts: 3, swaps: 0 });
  assertEquals(reg.family("saker_events_processed_total")?.get("syscall"), 5);
  assertEquals(p.health(), { ok: false, reason: "event source ended" });
});

Deno.test("pipeline: the main thread's time in evaluation is counted per source", async () => {
  const src = new PushSource();
  const reg = new Registry();
  // An evaluator that takes 4 ms per event: two batches of two events take at least 16 ms.
  const slow = {
    evaluate() {
      const until = performance.now() + 4;
      while (performance.now() < until) { /* busy */ }
    },
  };
  const p = new Pipeline({ source: src, ruleset: slow, onAlerts: () => {}, registry: reg });
  const done = p.run();
  src.push([open(10, "/a", 1), open(10, "/b", 2)]);
  src.push([open(10, "/c", 3), open(10, "/d", 4)]);
  await src.close();
  await done;
  const seconds = reg.family("saker_stage_seconds_total")?.get("syscall", "evaluate") ?? 0;
  assert(seconds >= 0.016 && seconds < 1, `evaluate stage counted ${seconds} s`);
});

Deno.test("pipeline: state update and evaluation interleave per event", async () => {
  const src = new PushSource();
  const order: string[] = [];
  const store = new StateStore();
  const state: StateTracker = {
    update(ev) {
      order.push(`update ${ev.num}`);
      store.update(ev);
    },
  };
  const rs = rules("any open", "evt.type = openat");
  const p = new Pipeline({
    source: src,
    state,
    ruleset: {
      evaluate(ev, emit) {
        // The rule sees the thread the state stage attached for this very event.
        order.push(`evaluate ${ev.num} thread=${ev.thread?.tid}`);
        rs.evaluate(ev, emit);
      },
    },
    onAlerts: () => {},
    registry: new Registry(),
  });
  const done = p.run();
  src.push([open(20, "/a", 1), open(21, "/b", 2)]);
  await src.close();
  await done;
  assertEquals(order, ["update 1", "evaluate 1 thread=20", "update 2", "evaluate 2 thread=21"]);
});

Deno.test("pipeline: a ruleset swap takes effect at the next batch, never inside one", async () => {
  const src = new PushSource();
  const seen: string[] = [];
  const p = new Pipeline({
    source: src,
    ruleset: rules("old", "evt.type = openat", "old %evt.arg.name"),
    onAlerts: (a) => seen.push(...a.map((x) => x.output)),
    registry: new Registry(),
  });
  const done = p.run();
  src.push([open(1, "/1", 1), open(1, "/2", 2)]);
  await tick();
  await tick();
  p.setRuleset(rules("new", "evt.type = openat", "new %evt.arg.name"));
  src.push([open(1, "/3", 3), open(1, "/4", 4)]);
  await src.close();
  await done;
  assertEquals(seen, ["old /1", "old /2", "new /3", "new /4"]);
  assertEquals(p.stats().swaps, 1);
});

Deno.test("pipeline: an event that throws is skipped and counted, the rest go on", async () => {
  const src = new PushSource();
  const reg = new Registry();
  const rs = rules("any open", "evt.type = openat");
  let n = 0;
  const p = new Pipeline({
    source: src,
    ruleset: {
      evaluate(ev, emit) {
        if (++n === 2) throw new Error("boom");
        rs.evaluate(ev, emit);
      },
    },
    onAlerts: (a) => void a,
    registry: reg,
  });
  const done = p.run();
  src.push([open(1, "/1", 1), open(1, "/2", 2), open(1, "/3", 3)]);
  await src.close();
  await done;
  assertEquals(p.stats().alerts, 2);
  assertEquals(reg.family("saker_evaluation_errors_total")?.get("syscall"), 1);
});

Deno.test("pipeline: a stuck output never holds up the source", async () => {
  const src = new PushSource();
  const reg = new Registry();
  const stuck: AlertOutput = {
    name: "stuck",
    write: () => new Promise(() => {}),
    close: () => Promise.resolve(),
  };
  const q = new OutputQueue(stuck, { capacity: 10, maxBatch: 5, registry: reg });
  const fanout = new AlertFanout(new AlertFormatter({ hostname: "h" }), [q], [], reg);
  const p = new Pipeline({
    source: src,
    ruleset: rules("any open", "evt.type = openat"),
    onAlerts: (a) => fanout.publishAll(a),
    registry: reg,
  });
  const done = p.run();
  for (let b = 0; b < 100; b++) {
    src.push(Array.from({ length: 10 }, (_, i) => open(1, `/f${b}`, b * 10 + i)));
    await tick();
  }
  await src.close();
  await done;
  assertEquals(p.stats().processed, 1000);
  assertEquals(reg.family("saker_alerts_total")?.get("any open", "Warning", "syscall"), 1000);
  // 5 in flight, 10 queued, the rest dropped and counted.
  assertEquals(q.stats().dropped, 985);
  assertEquals(reg.family("saker_output_dropped_total")?.get("stuck"), 985);
  await q.close(10);
});

Deno.test("pipeline: health reports a failed source", async () => {
  const src = new PushSource();
  const p = new Pipeline({
    source: src,
    ruleset: rules("any open", "evt.type = openat"),
    onAlerts: () => {},
    registry: new Registry(),
  });
  assertEquals(p.health().ok, false);
  const done = p.run();
  assertEquals(p.health(), { ok: true });
  src.fail(new Error("ring unmapped"));
  let err: Error | undefined;
  try {
    await done;
  } catch (e) {
    err = e as Error;
  }
  assert(err);
  assertEquals(p.health(), { ok: false, reason: "pipeline failed: ring unmapped" });
});

Deno.test("pipeline: a blocked event loop is seen from a watchdog ticking at a tenth of the stall timeout", async () => {
  // An idle agent wakes for the watchdog only: with the default 30 s stall timeout, every 3 s.
  assertEquals(watchdogPeriodMs(30_000), 3000);
  assertEquals(watchdogPeriodMs(2_000), 200);
  assertEquals(watchdogPeriodMs(500), 100);
  assertEquals(watchdogPeriodMs(3_600_000), 3000);
  const src = new PushSource();
  const p = new Pipeline({
    source: src,
    ruleset: rules("any open", "evt.type = openat"),
    onAlerts: () => {},
    stallSeconds: 0.5,
    registry: new Registry(),
  });
  const done = p.run();
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(p.health(), { ok: true });
  // Blocked for 0.8 s: a tick due 0.1 s later comes at least 0.6 s late, over the 0.5 s timeout.
  // It can come no later than the time the loop was blocked and waited since, plus the period
  // (measured, not assumed: a busy machine runs the tick late).
  const from = Date.now();
  const until = performance.now() + 800;
  while (performance.now() < until) { /* blocking the event loop */ }
  await new Promise((r) => setTimeout(r, 30));
  const h = p.health();
  assertEquals(h.ok, false);
  const blocked = Number(/^event loop blocked for (\d+) ms$/.exec(h.reason ?? "")?.[1]);
  assert(blocked >= 600 && blocked <= Date.now() - from + 100, h.reason);
  // The next tick on time clears it.
  await new Promise((r) => setTimeout(r, 250));
  assertEquals(p.health(), { ok: true });
  await src.close();
  await done;
});

Deno.test("pipeline: the source is asked for a batch only once the previous one is through", async () => {
  // A source that makes its batches on demand, as the live source drains the ring: what the
  // pipeline asks for ahead of its evaluation waits in the stream as decoded events, so it must
  // ask for at most one batch beyond the one it evaluates.
  let made = 0;
  let evaluated = 0;
  let ahead = 0;
  const batches = 20;
  const source: EventSource = {
    source: "syscall",
    readable: new ReadableStream<Event[]>({
      pull: (c) => {
        if (made === batches) return c.close();
        c.enqueue([open(10, "/tmp/x", made++)]);
      },
    }, { highWaterMark: 0 }),
    close: () => Promise.resolve(),
  };
  const p = new Pipeline({
    source,
    ruleset: {
      evaluate: () => {
        // Slower than the source: a pipeline that reads ahead would do so here.
        const until = performance.now() + 1;
        while (performance.now() < until) { /* evaluating */ }
        evaluated++;
        ahead = Math.max(ahead, made - evaluated);
      },
    },
    onAlerts: () => {},
    registry: new Registry(),
  });
  await p.run();
  assertEquals(evaluated, batches);
  assert(ahead <= 1, `batches made ahead of evaluation: ${ahead}`);
});

/** A source pulled batch by batch (as a capture file is): EventSource.next, no stream. */
function pullSource(batches: Event[][], fail?: Error) {
  let i = 0;
  const log: string[] = [];
  const source: EventSource & { log: string[] } = {
    source: "syscall",
    log,
    get readable(): ReadableStream<Event[]> {
      throw new Error("a pulled source's stream must not be asked for");
    },
    // deno-lint-ignore require-await
    next: async () => {
      if (i < batches.length) {
        log.push(`next ${i}`);
        return batches[i++];
      }
      if (fail) throw fail;
      return null;
    },
    close: () => {
      log.push("close");
      return Promise.resolve();
    },
  };
  return source;
}

Deno.test("pipeline: a pulled source's batches go through the stages in the streams' order", async () => {
  const src = pullSource([
    [open(10, "/etc/passwd", 1), open(10, "/tmp/x", 2)],
    [open(12, "/var/log/y", 3)],
    [open(12, "/etc/shadow", 4)],
  ]);
  const reg = new Registry();
  const p = new Pipeline({
    source: src,
    state: new StateStore(),
    ruleset: rules("etc open", "evt.type = openat and fd.name startswith /etc"),
    onAlerts: (a) => src.log.push(`alerts ${a.map((x) => x.output).join(", ")}`),
    afterBatch: (b) => src.log.push(`after ${b.map((e) => e.num).join(",")}`),
    registry: reg,
  });
  await p.run();
  // One batch at a time, each through before the next is asked for; afterBatch before its alerts.
  assertEquals(src.log, [
    "next 0",
    "after 1,2",
    "alerts open of /etc/passwd by cat",
    "next 1",
    "after 3",
    "next 2",
    "after 4",
    "alerts open of /etc/shadow by cat",
  ]);
  assertEquals(p.stats(), { processed: 4, batches: 3, alerts: 2, swaps: 0 });
  assertEquals(reg.family("saker_events_processed_total")?.get("syscall"), 4);
  assertEquals(p.health(), { ok: false, reason: "event source ended" });
});

Deno.test("pipeline: a pulled source that fails ends the run with its error, after its batches", async () => {
  const src = pullSource([[open(10, "/etc/passwd", 1)]], new Error("truncated block"));
  let alerts = 0;
  const p = new Pipeline({
    source: src,
    ruleset: rules("any open", "evt.type = openat"),
    onAlerts: (a) => alerts += a.length,
    registry: new Registry(),
  });
  let err: Error | undefined;
  try {
    await p.run();
  } catch (e) {
    err = e as Error;
  }
  assertEquals(err?.message, "truncated block");
  assertEquals(alerts, 1);
  // As a failed pipe cancels its source: the source is closed.
  assertEquals(src.log, ["next 0", "close"]);
  assertEquals(p.health(), { ok: false, reason: "pipeline failed: truncated block" });
});
