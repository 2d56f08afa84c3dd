/**
 * The API server's limits against real sockets on loopback: a connection cap, header and
 * request timeouts that close idle and slow clients, request bodies metered against a budget
 * shared by all requests, and `Content-Length` never deciding what is allocated.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { Hono } from "hono";
import { BodyError, readBody } from "../../src/http_body.ts";
import { type RunningServer, serveApi, type ServerLimits } from "../../src/server/server.ts";

async function start(limits: Partial<ServerLimits>): Promise<RunningServer> {
  const app = new Hono();
  app.get("/ping", (c) => c.text("pong"));
  app.post("/body", async (c) => {
    const b = await readBody(c.req.raw, 1 << 20);
    return c.json({ bytes: b.length });
  });
  app.onError((err) =>
    err instanceof BodyError
      ? Response.json({ error: err.message }, { status: err.status })
      : Response.json({ error: err.message }, { status: 500 })
  );
  return await serveApi(app, { hostname: "127.0.0.1", port: 0, limits });
}

/** Opens a raw connection and writes `text` to it. */
async function raw(port: number, text = ""): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (text) await conn.write(new TextEncoder().encode(text));
  return conn;
}

/** Closes the test's connections (those the server closed too) and shuts the server down. */
async function closeAll(server: RunningServer, conns: Deno.TcpConn[]): Promise<void> {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
  await server.shutdown();
}

/** Polls `f` every 10 ms until it holds, for up to `ms` (then the test's own check says what is off). */
async function until(f: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Reads until the peer closes (or `ms` pass); returns what came and whether it closed. */
async function readToEnd(
  conn: Deno.TcpConn,
  ms: number,
): Promise<{ text: string; closed: boolean }> {
  const buf = new Uint8Array(4096);
  let text = "";
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const timer = new Promise<"wait">((r) => setTimeout(() => r("wait"), deadline - Date.now()));
    const n = await Promise.race([conn.read(buf).catch(() => null), timer]);
    if (n === "wait") return { text, closed: false };
    if (n === null) return { text, closed: true };
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return { text, closed: false };
}

Deno.test("server: over the cap, the longest-waiting idle connection makes room; busy ones stay", async () => {
  const server = await start({ maxConnections: 20, headersTimeoutMs: 1500 });
  const port = server.addr.port;
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 30; i++) conns.push(await raw(port));
    // The ten that waited longest were closed to make room for the newer ones.
    const first = await Promise.all(conns.slice(0, 10).map((c) => readToEnd(c, 1000)));
    assertEquals(first.filter((r) => r.closed).length, 10);
    assertEquals(server.connections(), 20);
    assertEquals(server.evicted(), 10);
    // A client that sends its request at once is served while twenty idle ones hold the cap.
    assertEquals(await (await fetch(`http://127.0.0.1:${port}/ping`)).text(), "pong");
    // The idle ones send nothing: closed by the header timeout.
    const t0 = Date.now();
    const idle = await Promise.all(conns.slice(10).map((c) => readToEnd(c, 5000)));
    assert(idle.every((r) => r.closed), "all closed");
    assert(Date.now() - t0 < 4000, `closed after ${Date.now() - t0} ms`);
  } finally {
    await closeAll(server, conns);
  }
});

Deno.test("server: a kept-alive client outlives a flood of new idle connections", async () => {
  const server = await start({ maxConnections: 10, headersTimeoutMs: 3000 });
  const port = server.addr.port;
  const conns: Deno.TcpConn[] = [];
  const get = new TextEncoder().encode("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  const client = await raw(port);
  // Everything the client receives, read by one loop (a read left pending would eat an answer).
  let received = "";
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    for (let n; (n = await client.read(buf).catch(() => null)) !== null;) {
      received += new TextDecoder().decode(buf.subarray(0, n));
    }
  })();
  const answers = () => received.split("HTTP/1.1 200").length - 1;
  const waitAnswers = async (n: number) => {
    for (let i = 0; i < 1000 && answers() < n; i++) await new Promise((r) => setTimeout(r, 10));
    return answers();
  };
  try {
    await client.write(get);
    assertEquals(await waitAnswers(1), 1);
    // Fifty connections that never send a request: they make room for each other.
    for (let i = 0; i < 50; i++) conns.push(await raw(port));
    // The server accepts them in its own time (a busy machine may take longer than a moment).
    await until(() => server.evicted() >= 41);
    assertEquals(server.evicted(), 41);
    // The client that completed a request keeps its connection and is answered on it.
    await client.write(get);
    assertEquals(await waitAnswers(2), 2, "served again on the same connection");
  } finally {
    client.close();
    await reading;
    await closeAll(server, conns);
  }
});

Deno.test("server: when every connection has a request in progress, a new one is refused", async () => {
  const server = await start({ maxConnections: 5, requestTimeoutMs: 3000 });
  const port = server.addr.port;
  const conns: Deno.TcpConn[] = [];
  try {
    // Five requests whose bodies are still coming.
    for (let i = 0; i < 5; i++) {
      conns.push(await raw(port, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx"));
    }
    // Each request is in progress once its first body byte is held.
    await until(() => server.bodyBudget.used === 5);
    assertEquals(server.bodyBudget.used, 5, "five bodies in progress");
    const late = await raw(port);
    assert((await readToEnd(late, 1000)).closed, "refused");
    late.close();
    assertEquals(server.refused(), 1);
    // The busy ones were not touched: each completes its body and gets its answer.
    for (const c of conns) await c.write(new TextEncoder().encode("123456789"));
    const answers = await Promise.all(conns.map((c) => readToEnd(c, 1000)));
    assert(answers.every((a) => a.text.startsWith("HTTP/1.1 200")), answers[0].text);
  } finally {
    await closeAll(server, conns);
  }
});

Deno.test("server: headers sent slowly get 408 and the connection closes", async () => {
  const server = await start({ headersTimeoutMs: 600 });
  const conn = await raw(server.addr.port, "GET /ping HTTP/1.1\r\nHost: x\r\n");
  try {
    const got = await readToEnd(conn, 4000);
    assert(got.closed, "closed");
    assert(got.text === "" || got.text.startsWith("HTTP/1.1 408"), got.text);
  } finally {
    conn.close();
    await server.shutdown();
  }
});

Deno.test("server: a body announced large but sent slowly costs what was sent, not what was announced", async () => {
  const server = await start({ requestTimeoutMs: 1500 });
  const port = server.addr.port;
  try {
    // Over the route's limit: refused from the header alone.
    const big = await raw(
      port,
      "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nx",
    );
    const refused = await readToEnd(big, 3000);
    assert(refused.text.startsWith("HTTP/1.1 413"), refused.text);
    big.close();
    // Within the limit, but only one byte ever comes: the request times out.
    const slow = await raw(
      port,
      "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\nx",
    );
    const timedOut = await readToEnd(slow, 5000);
    assert(timedOut.closed, "closed by the request timeout");
    slow.close();
    assertEquals(server.bodyBudget.used, 0, "nothing held once the requests are gone");
  } finally {
    await server.shutdown();
  }
});

Deno.test("server: bodies in flight beyond the shared budget get 503; the budget is given back", async () => {
  const server = await start({ maxBodyBytesInFlight: 256 << 10 });
  const port = server.addr.port;
  const conns: Deno.TcpConn[] = [];
  try {
    // Ten bodies of 900 KB announced, 64 KB of each sent: 640 KB over a 256 KB budget.
    const chunk = "y".repeat(64 << 10);
    for (let i = 0; i < 10; i++) {
      conns.push(
        await raw(port, `POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n${chunk}`),
      );
    }
    const answers = await Promise.all(conns.map((c) => readToEnd(c, 1500)));
    const busy = answers.filter((a) => a.text.startsWith("HTTP/1.1 503")).length;
    assert(busy >= 6, `${busy} answered 503`);
    assert(server.bodyBudget.used <= 256 << 10, `${server.bodyBudget.used} bytes held`);
    for (const c of conns) c.close();
    // The server sees the closes in its own time; what they held is given back then.
    await until(() => server.bodyBudget.used === 0);
    assertEquals(server.bodyBudget.used, 0, "the closed requests' bytes are given back");
    // A complete body still goes through once the others are gone.
    const res = await fetch(`http://127.0.0.1:${port}/body`, { method: "POST", body: chunk });
    assertEquals(await res.json(), { bytes: chunk.length });
    assertEquals(server.bodyBudget.used, 0);
  } finally {
    await closeAll(server, conns);
  }
});
