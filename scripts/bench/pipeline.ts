/**
 * Pipeline overhead benchmark: what the stream plumbing and the alert fan-out cost per event,
 * apart from state and rules (the evaluator here does nothing, or raises an alert for 1 event
 * in 100). Synthetic live batches (openat, execve, connect, close) are decoded once and fed
 * through:
 *
 * - `direct`: a plain loop calling the evaluator (the floor: no streams at all);
 * - `pipeline_B`: the real Pipeline (ReadableStream → evaluation TransformStream → alert sink)
 *   with batches of B events;
 * - `fanout`: the pipeline with 1% of events alerting into 3 output queues (alerts formatted as
 *   text and JSON once, written to no-op outputs).
 *
 * Reports ns per event for each and the ratio to `direct`, measured side by side in one run.
 * @module
 */
import { concatRecords, encodeLiveRecord } from "../../src/events/encode.ts";
import { decodeLiveBatch, type Event } from "../../src/events/event.ts";
import { currentExitId } from "../../src/events/table.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { type Evaluator, Pipeline } from "../../src/pipeline/pipeline.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFanout } from "../../src/outputs/fanout.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import type { AlertOutput, FormattedAlert } from "../../src/outputs/output.ts";
import type { EventSource } from "../../src/sources/source.ts";

function batchOf(n: number): Event[] {
  const recs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const tid = 1000 + (i % 50);
    const h = { tid, pid: tid, comm: "worker", ts: BigInt(i) * 1000n };
    switch (i % 4) {
      case 0:
        recs.push(encodeLiveRecord(currentExitId("openat")!, h, {
          fd: 3,
          dirfd: -100,
          name: "/etc/ld.so.cache",
          flags: 1,
          mode: 0,
        }));
        break;
      case 1:
        recs.push(encodeLiveRecord(currentExitId("close")!, h, { res: 0 }));
        break;
      case 2:
        recs.push(encodeLiveRecord(currentExitId("connect")!, h, {
          res: 0,
          tuple: { family: 2, sip: "10.0.0.1", sport: 40000, dip: "10.0.0.2", dport: 443 },
          fd: 4,
        }));
        break;
      default:
        recs.push(encodeLiveRecord(currentExitId("execve")!, h, {
          res: 0,
          exe: "/usr/bin/true",
          args: ["true"],
          tid,
          pid: tid,
          ptid: 1,
          cwd: "/",
        }));
    }
  }
  return decodeLiveBatch(concatRecords(recs), 1_700_000_000_000_000_000n, 1);
}

/** A source replaying the same decoded batch `count` times. */
function replay(batch: Event[], count: number): EventSource {
  let left = count;
  return {
    source: "syscall",
    readable: new ReadableStream<Event[]>({
      pull(c) {
        if (left-- > 0) c.enqueue(batch);
        else c.close();
      },
    }, { highWaterMark: 2 }),
    close: () => Promise.resolve(),
  };
}

const noop: Evaluator = { evaluate() {} };

function sometimes(every: number): Evaluator {
  let n = 0;
  return {
    evaluate(ev, emit) {
      if (++n % every !== 0) return;
      emit({
        time: ev.ts,
        rule: "bench rule",
        priority: "Warning",
        source: "syscall",
        tags: ["bench"],
        output: `opened by ${ev.comm} (tid=${ev.tid})`,
        outputFields: { "proc.name": ev.comm, "thread.tid": ev.tid },
      });
    },
  };
}

class NullOutput implements AlertOutput {
  written = 0;
  constructor(readonly name: string, readonly json: boolean) {}
  write(batch: FormattedAlert[]): Promise<void> {
    for (const a of batch) this.written += (this.json ? a.json : a.text).length;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function timePipeline(
  batch: Event[],
  batches: number,
  evaluator: Evaluator,
  onAlerts: (a: Alert[]) => void,
): Promise<number> {
  const p = new Pipeline({
    source: replay(batch, batches),
    ruleset: evaluator,
    onAlerts,
    registry: new Registry(),
  });
  const t0 = performance.now();
  await p.run();
  return (performance.now() - t0) * 1e6 / (batch.length * batches);
}

function timeDirect(batch: Event[], batches: number, evaluator: Evaluator): number {
  const emit = () => {};
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < batch.length; i++) evaluator.evaluate(batch[i], emit);
  }
  return (performance.now() - t0) * 1e6 / (batch.length * batches);
}

/** Runs the benchmark. */
export async function bench(): Promise<Record<string, unknown>> {
  const EVENTS = 2_000_000;
  const b1024 = batchOf(1024);
  const b256 = batchOf(256);
  const b64 = batchOf(64);
  const b1 = batchOf(1);
  const round = (x: number) => Math.round(x * 100) / 100;

  // Warm up every path once.
  timeDirect(b1024, 200, noop);
  await timePipeline(b1024, 200, noop, () => {});
  await timePipeline(b1, 2000, noop, () => {});

  // Best of three runs each, interleaved, so that a busy neighbour does not decide the result.
  const runs = {
    direct: [] as number[],
    p1024: [] as number[],
    p256: [] as number[],
    p64: [] as number[],
    p1: [] as number[],
  };
  for (let r = 0; r < 3; r++) {
    runs.direct.push(timeDirect(b1024, EVENTS / 1024, noop));
    runs.p1024.push(await timePipeline(b1024, EVENTS / 1024, noop, () => {}));
    runs.p256.push(await timePipeline(b256, EVENTS / 256, noop, () => {}));
    runs.p64.push(await timePipeline(b64, EVENTS / 64, noop, () => {}));
    runs.p1.push(await timePipeline(b1, 100_000, noop, () => {}));
  }
  const direct = Math.min(...runs.direct);
  const p1024 = Math.min(...runs.p1024);
  const p256 = Math.min(...runs.p256);
  const p64 = Math.min(...runs.p64);
  const p1 = Math.min(...runs.p1);

  const reg = new Registry();
  const outs = [new NullOutput("a", false), new NullOutput("b", true), new NullOutput("c", true)];
  const queues = outs.map((o) => new OutputQueue(o, { capacity: 100_000, registry: reg }));
  const fanout = new AlertFanout(
    new AlertFormatter({ hostname: "bench" }),
    queues,
    [],
    reg,
  );
  const fan = await timePipeline(b1024, EVENTS / 1024, sometimes(100), (a) => fanout.publishAll(a));
  const t0 = performance.now();
  await fanout.flush();
  const drainMs = performance.now() - t0;
  const alerts = EVENTS / 100;
  const dropped = queues.reduce((s, q) => s + q.stats().dropped, 0);
  await fanout.close();

  return {
    events: EVENTS,
    batch_cost_ns: {
      pipeline_1024: Math.round((p1024 - direct) * 1024),
      pipeline_64: Math.round((p64 - direct) * 64),
      pipeline_1: Math.round(p1 - direct),
    },
    ns_per_event: {
      direct: round(direct),
      pipeline_1024: round(p1024),
      pipeline_256: round(p256),
      pipeline_64: round(p64),
      pipeline_1: round(p1),
      fanout_1pct_3_outputs: round(fan),
    },
    overhead_ns_per_event_vs_direct: {
      pipeline_1024: round(p1024 - direct),
      pipeline_64: round(p64 - direct),
      pipeline_1: round(p1 - direct),
    },
    ratio_to_direct: {
      pipeline_1024: round(p1024 / direct),
      pipeline_1: round(p1 / direct),
    },
    fanout: {
      alerts,
      ns_per_alert_publish: round((fan - p1024) * 100),
      drain_ms_after_run: round(drainMs),
      dropped,
    },
  };
}

if (import.meta.main) console.log(JSON.stringify(await bench(), null, 2));
