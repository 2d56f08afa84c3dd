/**
 * The thread table's bound, at its default (262144 threads, as the README says): events of
 * more threads than that keep the table at the bound, and each thread left out is counted in
 * `saker_state_threads_dropped_total`; once threads exit, new ones are tracked again.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { StateStore } from "../../src/state/store.ts";
import { registerStateMetrics } from "../../src/state/metrics.ts";
import { metrics } from "../../src/metrics.ts";

/** scap's procexit event (PPME_PROCEXIT_1_E). */
const PROCEXIT = 186;

/** The bound the README states ("the table is bounded (262144 threads by default ..."). */
const DOCUMENTED_BOUND = Number(
  /is bounded \((\d+) threads by default/.exec(
    await Deno.readTextFile(new URL("../../README.md", import.meta.url)),
  )?.[1],
);

Deno.test("state: the thread table stops at 262144 threads and counts the overflow", () => {
  assertEquals(DOCUMENTED_BOUND, 262144);
  const state = new StateStore(); // defaults, no /proc: threads come from event headers
  registerStateMetrics(state);
  const dropped = () =>
    Number(
      /^saker_state_threads_dropped_total (\d+)$/m.exec(metrics.render())?.[1] ?? NaN,
    );
  const before = dropped();
  // One event of each thread: a failed close (it changes nothing but the thread table).
  const extra = 100;
  for (let tid = 10; tid < 10 + DOCUMENTED_BOUND + extra; tid++) {
    const ev = buildEvent("close", { tid, pid: tid, comm: "t" }, { res: -9, fd: 1000 });
    state.update(ev);
  }
  assertEquals(state.threads.size, DOCUMENTED_BOUND);
  assertEquals(state.stats.threadsDropped, extra);
  assertEquals(dropped() - before, extra);
  // The left-out threads have no state; the tracked ones keep theirs.
  assert(state.threads.has(10) && !state.threads.has(10 + DOCUMENTED_BOUND));
  // A thread exits (its removal waits one event): a new thread fits again.
  state.update(
    buildEvent(PROCEXIT, { tid: 10, pid: 10, comm: "t" }, { status: 0, ret: 0, sig: 0, core: 0 }),
  );
  state.update(buildEvent("close", { tid: 11, pid: 11, comm: "t" }, { res: -9, fd: 1000 }));
  assert(!state.threads.has(10), "the exited thread left the table");
  const fresh = 10 + DOCUMENTED_BOUND + extra;
  state.update(buildEvent("close", { tid: fresh, pid: fresh, comm: "t" }, { res: -9, fd: 1000 }));
  assert(state.threads.has(fresh), "a new thread is tracked once there is room");
  assertEquals(state.threads.size, DOCUMENTED_BOUND);
  assertEquals(state.stats.threadsDropped, extra);
});
