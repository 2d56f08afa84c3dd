/**
 * Delivery to receivers in trouble: the HTTP output against real receivers on loopback that are
 * slow or ask to be left alone (every alert carries one id, header and body, on every copy; a
 * receiver slower than the timeout is given more time instead of the same alert at full pace;
 * Retry-After is honoured), and the program output to a program that keeps dying.
 */
import { assert, assertEquals } from "../support/assert.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { HttpOutput } from "../../src/outputs/http.ts";
import { ProgramOutput } from "../../src/outputs/program.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { Registry } from "../../src/metrics.ts";

const fmt = new AlertFormatter({ hostname: "test-host", localOffsetMinutes: () => 0 });

function alert(i: number): FormattedAlert {
  const a: Alert = {
    time: 1_700_000_000_000_000_000n + BigInt(i),
    rule: `Rule ${i}`,
    priority: "Warning",
    source: "syscall",
    tags: [],
    output: `alert number ${i}`,
    outputFields: { n: String(i) },
  };
  return new FormattedAlert(a, fmt);
}

interface Seen {
  key: string | null;
  body: string;
  at: number;
}

/** A receiver that answers each request with `answer(n)` (n counts from 0) after `delayMs`. */
async function receiver(
  delayMs: number,
  answer: (n: number) => Response = () => new Response("ok"),
) {
  const seen: Seen[] = [];
  const ready = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (a) => ready.resolve(a.port),
  }, async (req) => {
    const n = seen.length;
    seen.push({ key: req.headers.get("idempotency-key"), body: await req.text(), at: Date.now() });
    await new Promise((r) => setTimeout(r, delayMs));
    return answer(n);
  });
  return { url: `http://127.0.0.1:${await ready.promise}/`, seen, stop: () => server.shutdown() };
}

Deno.test("http output: a receiver slower than the timeout gets more time and one id", async () => {
  const rx = await receiver(700);
  const registry = new Registry();
  const output = new HttpOutput({ url: rx.url, json: true, userAgent: "t", timeoutMs: 300 });
  const q = new OutputQueue(output, { capacity: 100, registry, retryInitialMs: 50 });
  try {
    const alerts = [1, 2, 3, 4, 5].map(alert);
    for (const a of alerts) q.push(a);
    assert(await q.flush(30_000), "delivered");
    assertEquals(q.stats().sent, 5);
    // Every copy names its alert the same way, in the header and in the body.
    for (const s of rx.seen) assertEquals(JSON.parse(s.body).uuid, s.key);
    const copies = new Map<string, number>();
    for (const s of rx.seen) copies.set(s.key!, (copies.get(s.key!) ?? 0) + 1);
    assertEquals([...copies.keys()], alerts.map((a) => a.id));
    // The first alert found out how slow the receiver is (300 ms, 600 ms, then 1200 ms
    // allowed); the others were sent once each.
    assert(copies.get(alerts[0].id)! <= 3, `${copies.get(alerts[0].id)} copies of the first`);
    for (const a of alerts.slice(1)) assertEquals(copies.get(a.id), 1, a.alert.rule);
    assertEquals(output.timeoutMs, 1200);
  } finally {
    await q.close(1000);
    await rx.stop();
  }
});

Deno.test("http output: the body's Falco keys are unchanged; text bodies keep only the header", async () => {
  const rx = await receiver(0);
  const json = new OutputQueue(
    new HttpOutput({ url: rx.url, json: true, userAgent: "t", timeoutMs: 2000 }),
    { capacity: 10, registry: new Registry() },
  );
  const text = new OutputQueue(
    new HttpOutput({ url: rx.url, json: false, userAgent: "t", timeoutMs: 2000 }),
    { capacity: 10, registry: new Registry() },
  );
  try {
    const a = alert(7);
    json.push(a);
    assert(await json.flush(5000));
    text.push(a);
    assert(await text.flush(5000));
    const body = JSON.parse(rx.seen[0].body);
    const { uuid, ...falco } = body;
    assertEquals(uuid, a.id);
    assertEquals(falco, JSON.parse(a.json));
    assertEquals(rx.seen[1].body, a.text);
    assertEquals(rx.seen[1].key, a.id, "the same alert has the same id in every output");
  } finally {
    await json.close(1000);
    await text.close(1000);
    await rx.stop();
  }
});

Deno.test("http output: Retry-After on 503 sets the wait before the retry", async () => {
  const rx = await receiver(
    0,
    (n) =>
      n === 0
        ? new Response("busy", { status: 503, headers: { "retry-after": "1" } })
        : new Response("ok"),
  );
  const q = new OutputQueue(
    new HttpOutput({ url: rx.url, json: true, userAgent: "t", timeoutMs: 2000 }),
    { capacity: 10, registry: new Registry(), retryInitialMs: 20 },
  );
  try {
    q.push(alert(1));
    assert(await q.flush(10_000));
    assertEquals(rx.seen.length, 2);
    assertEquals(rx.seen[0].key, rx.seen[1].key);
    const waited = rx.seen[1].at - rx.seen[0].at;
    assert(waited >= 950, `retried after ${waited} ms`);
  } finally {
    await q.close(1000);
    await rx.stop();
  }
});

/** A shell program appending 25 lines to `file`, then exiting. */
function dying25(file: string): string {
  return `n=0; while IFS= read -r l; do printf '%s\\n' "$l" >> ${file}; n=$((n+1)); ` +
    `[ $n -ge 25 ] && exit 0; done`;
}

Deno.test("program output: a program dying every 25 lines still gets every alert, the queue drains", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-program-" });
  const registry = new Registry();
  // A program that handles each line it reads (the shell reads a pipe a byte at a time) and
  // exits after 25: every line it took is kept.
  const output = new ProgramOutput({
    program: dying25(`${dir}/out`),
    keepAlive: true,
    json: true,
  });
  const q = new OutputQueue(output, {
    capacity: 1000,
    registry,
    retryInitialMs: 10,
    retryMaxMs: 50,
  });
  try {
    // Alerts of ~1.5 KB, so that a batch is far more than the pipe holds.
    const alerts = Array.from({ length: 200 }, (_, i) => {
      const a = alert(i);
      a.alert.output = `${"x".repeat(1500)} ${i}`;
      return a;
    });
    for (const a of alerts) q.push(a);
    assert(await q.flush(60_000), "the queue drained");
    // The last lines written may still sit in the pipe of a program that exits: the output sends
    // them again to the next one on its own.
    let missing = alerts;
    for (let i = 0; i < 100 && missing.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const got = new Set(Deno.readTextFileSync(`${dir}/out`).split("\n").filter(Boolean));
      missing = alerts.filter((a) => !got.has(a.json));
    }
    assertEquals(
      missing.map((a) => a.alert.rule),
      [],
      `${missing.length} alerts never reached the program`,
    );
    assertEquals(q.stats().sent + q.stats().failed, 200);
    assert(output.spawned > 7, `${output.spawned} processes`);
  } finally {
    await q.close(1000);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("program output: alerts arriving while programs die: each delivered once, none stuck", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-program-" });
  const output = new ProgramOutput({ program: dying25(`${dir}/out`), keepAlive: true, json: true });
  const q = new OutputQueue(output, {
    capacity: 1000,
    registry: new Registry(),
    retryInitialMs: 10,
    retryMaxMs: 50,
  });
  try {
    // Small batches a few ms apart: programs die between and during writes, their unread
    // lines are counted on a pipe end that Deno may already have closed (and reused).
    const alerts = Array.from({ length: 300 }, (_, i) => {
      const a = alert(i);
      a.alert.output = `${"x".repeat(900)} ${i}`;
      return a;
    });
    for (let i = 0; i < alerts.length; i++) {
      q.push(alerts[i]);
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, (i % 3) * 5));
    }
    assert(await q.flush(60_000), "the queue drained");
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      lines = Deno.readTextFileSync(`${dir}/out`).split("\n").filter(Boolean);
      if (lines.length >= alerts.length) break;
    }
    const got = new Set(lines);
    const missing = alerts.filter((a) => !got.has(a.json)).map((a) => a.alert.rule);
    assertEquals(missing, [], `${missing.length} alerts never reached the program`);
    assertEquals(lines.length - got.size, 0, "alerts delivered twice");
    assertEquals(q.stats().sent, 300);
    // One program per 25 lines: no program was handed lines another had taken already.
    assert(output.spawned <= 13, `${output.spawned} processes for 300 lines`);
  } finally {
    await q.close(1000);
    await Deno.remove(dir, { recursive: true });
  }
});
