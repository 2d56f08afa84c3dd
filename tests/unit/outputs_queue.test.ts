import { assert, assertEquals } from "../support/assert.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { type AlertOutput, FormattedAlert, OutputWriteError } from "../../src/outputs/output.ts";

const fmt = new AlertFormatter({ hostname: "h", localOffsetMinutes: () => 0 });

function alert(i: number): FormattedAlert {
  const a: Alert = {
    time: BigInt(i),
    rule: `r${i}`,
    priority: "Warning",
    source: "syscall",
    tags: [],
    output: `alert ${i}`,
    outputFields: {},
  };
  return new FormattedAlert(a, fmt);
}

/** An output whose behaviour the test scripts: fail N times, hang until released ... */
class ScriptedOutput implements AlertOutput {
  readonly name: string;
  got: string[] = [];
  writes = 0;
  failNext = 0;
  failDelivered = 0;
  gate: Promise<void> | undefined;
  closed = false;
  constructor(name = "scripted") {
    this.name = name;
  }
  async write(batch: FormattedAlert[], signal: AbortSignal): Promise<void> {
    this.writes++;
    if (this.gate) {
      await Promise.race([
        this.gate,
        new Promise((_, rej) => signal.addEventListener("abort", () => rej(new Error("abort")))),
      ]);
    }
    if (this.failNext > 0) {
      this.failNext--;
      const d = Math.min(this.failDelivered, batch.length);
      for (let i = 0; i < d; i++) this.got.push(batch[i].text);
      throw new OutputWriteError("scripted failure", d);
    }
    for (const a of batch) this.got.push(a.text);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

Deno.test("queue: delivers in order in batches and flushes", async () => {
  const reg = new Registry();
  const out = new ScriptedOutput();
  const q = new OutputQueue(out, { capacity: 100, maxBatch: 4, registry: reg });
  for (let i = 0; i < 10; i++) assert(q.push(alert(i)));
  assertEquals(await q.flush(5000), true);
  assertEquals(
    out.got,
    Array.from(
      { length: 10 },
      (_, i) => `00:00:00.${String(i).padStart(9, "0")}: Warning alert ${i}`,
    ),
  );
  assert(out.writes >= 3, `batches of at most 4: ${out.writes} writes`);
  assertEquals(q.stats().sent, 10);
  assertEquals(reg.family("saker_output_sent_total")?.get("scripted"), 10);
  await q.close();
  assert(out.closed);
});

Deno.test("queue: a full queue drops and counts without waiting", async () => {
  const reg = new Registry();
  const out = new ScriptedOutput();
  let release!: () => void;
  out.gate = new Promise((r) => release = r);
  const q = new OutputQueue(out, { capacity: 5, maxBatch: 2, registry: reg });
  // Pushes never wait: 20 in one go, before the worker runs, fill the 5 places; 15 are dropped.
  const first = Array.from({ length: 20 }, (_, i) => q.push(alert(i)));
  assertEquals(first, Array.from({ length: 20 }, (_, i) => i < 5));
  assertEquals(q.stats().dropped, 15);
  // The worker takes one batch of 2 into delivery (held at the gate): 2 places free up.
  while (out.writes === 0) await new Promise((r) => setTimeout(r, 1));
  const second = [20, 21, 22].map((i) => q.push(alert(i)));
  assertEquals(second, [true, true, false]);
  assertEquals(q.stats().dropped, 16);
  assertEquals(reg.family("saker_output_dropped_total")?.get("scripted"), 16);
  assertEquals(q.depth, 7, "5 waiting and 2 in delivery");
  assertEquals(reg.family("saker_output_queue_depth")?.get("scripted"), 7);
  release();
  await q.flush(5000);
  // Exactly the accepted alerts arrive, once each and in order.
  assertEquals(out.got.map((l) => l.slice(l.lastIndexOf(" ") + 1)), [
    "0",
    "1",
    "2",
    "3",
    "4",
    "20",
    "21",
  ]);
  assertEquals(q.stats().sent, 7);
  assertEquals(reg.family("saker_output_queue_depth")?.get("scripted"), 0);
  await q.close();
});

Deno.test("queue: failures are retried with backoff, keeping what was delivered", async () => {
  const reg = new Registry();
  const out = new ScriptedOutput();
  out.failNext = 3;
  out.failDelivered = 1;
  const q = new OutputQueue(out, {
    capacity: 100,
    maxBatch: 10,
    retryInitialMs: 1,
    retryMaxMs: 4,
    registry: reg,
  });
  for (let i = 0; i < 5; i++) q.push(alert(i));
  await q.flush(5000);
  // Each failed attempt delivered one alert; nothing twice, nothing lost, order kept.
  assertEquals(out.got.map((l) => l.slice(-1)), ["0", "1", "2", "3", "4"]);
  assertEquals(q.stats(), { queued: 0, sent: 5, dropped: 0, failed: 0, retries: 3 });
  await q.close();
});

Deno.test("queue: a retry that delivered some alerts starts the backoff over", async () => {
  const out = new ScriptedOutput();
  // A receiver that takes one alert per attempt (a full datagram queue, a nearly full disk).
  out.failNext = 8;
  out.failDelivered = 1;
  const q = new OutputQueue(out, {
    capacity: 100,
    maxBatch: 10,
    retryInitialMs: 20,
    retryMaxMs: 5000,
    registry: new Registry(),
  });
  for (let i = 0; i < 9; i++) q.push(alert(i));
  const t0 = performance.now();
  await q.flush(10_000);
  const ms = performance.now() - t0;
  assertEquals(out.got.length, 9);
  // Eight waits of the first delay (~160 ms), not a doubling one (20 * (2^8 - 1) = 5.1 s).
  assert(ms < 2000, `took ${Math.round(ms)} ms`);
  await q.close();
});

Deno.test("queue: permanent errors give the batch up and count it as failed", async () => {
  const out: AlertOutput = {
    name: "broken",
    write: () => Promise.reject(new OutputWriteError("bad request", 0, true)),
    close: () => Promise.resolve(),
  };
  const q = new OutputQueue(out, { capacity: 10, registry: new Registry() });
  q.push(alert(1));
  q.push(alert(2));
  await q.flush(5000);
  assertEquals(q.stats().failed, 2);
  assertEquals(q.stats().sent, 0);
  await q.close();
});

Deno.test("queue: refused alerts count as failed, the rest as sent", async () => {
  const out: AlertOutput = {
    name: "picky",
    write: (b) => Promise.resolve(b.length > 1 ? 1 : 0),
    close: () => Promise.resolve(),
  };
  const q = new OutputQueue(out, { capacity: 10, registry: new Registry() });
  for (let i = 0; i < 3; i++) q.push(alert(i));
  await q.flush(5000);
  assertEquals(q.stats().sent + q.stats().failed, 3);
  assertEquals(q.stats().failed, 1);
  await q.close();
});

Deno.test("queue: close drains, and gives up at the deadline", async () => {
  const out = new ScriptedOutput();
  const q = new OutputQueue(out, { capacity: 10, registry: new Registry() });
  for (let i = 0; i < 3; i++) q.push(alert(i));
  await q.close(5000);
  assertEquals(out.got.length, 3);
  assertEquals(q.push(alert(9)), false); // closed: counted as dropped

  const stuck = new ScriptedOutput("stuck");
  stuck.gate = new Promise(() => {}); // never delivers
  const q2 = new OutputQueue(stuck, { capacity: 10, maxBatch: 2, registry: new Registry() });
  for (let i = 0; i < 5; i++) q2.push(alert(i));
  await q2.close(50);
  assertEquals(q2.stats().failed, 5);
  assertEquals(q2.stats().sent, 0);
  assert(stuck.closed);
});
