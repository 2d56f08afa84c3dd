/**
 * Falco's http_output keys on real receivers over loopback: `insecure` accepts a certificate no
 * CA vouches for (and without it the same receiver is refused), `keep_alive` reuses one
 * connection for every alert (a new one per alert when off), `max_consecutive_timeouts` gives an
 * alert up after that many timeouts in a row and the next alerts go on.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { makeCa } from "./outputs_tls_support.ts";
import { HttpOutput } from "../../src/outputs/http.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import type { Alert } from "../../src/rules/alert.ts";

const formatter = new AlertFormatter({ hostname: "h" });
const alert = (n: number): FormattedAlert =>
  new FormattedAlert(
    {
      time: 1_700_000_000_000_000_000n + BigInt(n),
      rule: `r${n}`,
      priority: "Warning",
      source: "syscall",
      tags: [],
      output: `alert ${n}`,
      outputFields: {},
    } satisfies Alert,
    formatter,
  );
const never = new AbortController().signal;

Deno.test("http_output.insecure: a certificate no CA vouches for is accepted only when set", async () => {
  const dir = await Deno.makeTempDir();
  const { cert, key } = await makeCa(dir);
  const got: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    async (req) => {
      got.push(await req.text());
      return new Response("ok");
    },
  );
  const url = `https://127.0.0.1:${server.addr.port}/`;
  try {
    const checked = await HttpOutput.create({ url, json: true, userAgent: "t" });
    const err = await checked.write([alert(1)], never).catch((e) => e);
    assert(err instanceof Error, "an unknown CA is refused without insecure");
    await checked.close();
    const insecure = await HttpOutput.create({ url, json: true, userAgent: "t", insecure: true });
    assertEquals(await insecure.write([alert(2), alert(3)], never), 0);
    await insecure.close();
    assertEquals(got.map((b) => JSON.parse(b).rule), ["r2", "r3"]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("http_output.keep_alive: one connection for every alert, or one per alert", async () => {
  const peers: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_req, info) => {
    peers.push((info.remoteAddr as Deno.NetAddr).port);
    return new Response("ok");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  try {
    for (const keepAlive of [true, false]) {
      peers.length = 0;
      const out = await HttpOutput.create({ url, json: true, userAgent: "t", keepAlive });
      for (let i = 0; i < 4; i++) await out.write([alert(i)], never);
      await out.close();
      assertEquals(peers.length, 4);
      assertEquals(new Set(peers).size, keepAlive ? 1 : 4, `keep_alive: ${keepAlive}`);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("http_output.max_consecutive_timeouts: an alert is given up after that many", async () => {
  let calls = 0;
  const slow: Promise<unknown>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    calls++;
    const body = await req.text();
    // The first alert never gets an answer in time: each timeout doubles (250, 500, 1000 ms)
    // and its answer takes 3 s. The others are answered at once (250 ms leaves a busy machine
    // room for that).
    if (JSON.parse(body).rule === "r1") {
      const wait = new Promise((r) => setTimeout(r, 3000));
      slow.push(wait);
      await wait;
    }
    return new Response("ok");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  try {
    const out = await HttpOutput.create({
      url,
      json: true,
      userAgent: "t",
      timeoutMs: 250,
      maxConsecutiveTimeouts: 2,
    });
    let attempts = 0;
    let refused: number | void = undefined;
    // What the queue does: the same batch again while a write fails.
    while (refused === undefined) {
      attempts++;
      try {
        refused = await out.write([alert(1), alert(2)], never);
      } catch (err) {
        assertStringIncludes((err as Error).message, "timed out");
      }
    }
    assertEquals(attempts, 3, "two timeouts retried, the third gives the alert up");
    assertEquals(refused, 1);
    assertEquals(calls, 4, "three tries of r1, then r2 delivered");
    await out.close();
  } finally {
    await Promise.all(slow);
    await server.shutdown();
  }
});
