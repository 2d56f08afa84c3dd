/**
 * Serving the API app over HTTP/1.1 (Node's HTTP server as Deno provides it), optionally over
 * TLS from one PEM file holding the certificate chain and the private key (Falco's
 * `webserver.ssl_certificate` format), with the limits a server reachable by untrusted clients
 * needs:
 *
 * - at most `maxConnections` connections: when one more arrives, a connection without a request
 *   in progress is closed to make room: first the one that has waited longest without ever
 *   completing a request (idle since it connected, or still sending its headers), then the
 *   longest-idle kept-alive one; so a flood of idle or slow clients cannot lock out a client that
 *   sends its request at once, nor one keeping its connection between requests. When every
 *   connection has a request in progress, the new one is closed;
 * - a connection must send its request headers within `headersTimeoutMs` (idle ones included)
 *   and the whole request within `requestTimeoutMs`, or it gets 408 and is closed; an idle
 *   keep-alive connection is closed after `keepAliveTimeoutMs`;
 * - at most `maxBodiesInFlight` requests have their bodies received at once; another one is
 *   answered 503 (Retry-After) before a byte of its body is read, and its connection closed;
 * - request bodies reach the app as streams metered against a budget shared by every request
 *   (`maxBodyBytesInFlight`): a chunk that does not fit errors the body with a 503 (handlers read
 *   bodies with `readBody`, src/http_body.ts, which also applies their own size limit).
 *
 * Deno.serve has neither a connection limit nor header timeouts, which is why this server is
 * Node's: the same Hono app runs on it through a small adapter (Request in, Response out,
 * streamed both ways with back-pressure; a client going away cancels the response stream).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { serveApi } from "./server.ts";
 * const app = new Hono().get("/", (c) => c.text("hi"));
 * const server = await serveApi(app, { hostname: "127.0.0.1", port: 0 });
 * await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text(); // "hi"
 * await server.shutdown();
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Hono } from "hono";
import { BodyBudget, BodyError } from "../http_body.ts";
import { log } from "../log.ts";

/** Limits on clients (see the module documentation). */
export interface ServerLimits {
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Requests whose bodies are being received at once; more get 503 before a byte is read. */
  maxBodiesInFlight: number;
  maxBodyBytesInFlight: number;
}

/** Defaults of {@link ServerLimits}. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxBodiesInFlight: 32,
  maxBodyBytesInFlight: 32 << 20,
};

/** Where and how to listen. */
export interface ServeOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM file with certificate(s) and private key; plain HTTP when absent. */
  tlsPemFile?: string;
  /** Limits on clients (default {@link DEFAULT_LIMITS}, each may be given alone). */
  limits?: Partial<ServerLimits>;
}

/** A running server. */
export interface RunningServer {
  /** The address actually bound (the port is known here when 0 was asked for). */
  addr: Deno.NetAddr;
  /** https or http. */
  scheme: "http" | "https";
  /** Connections open now. */
  connections(): number;
  /** Connections closed to make room for a newer one, and connections refused (all busy). */
  evicted(): number;
  refused(): number;
  /** Body bytes held by requests now, and bodies cut for the budget so far. */
  bodyBudget: BodyBudget;
  /** Stops accepting, lets open requests finish (within 2 s; live streams are cut). */
  shutdown(): Promise<void>;
}

/** Splits a combined PEM into its certificate chain and its private key. */
export function splitPem(pem: string, file = "PEM"): { cert: string; key: string } {
  const blocks = pem.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
  const certs = blocks.filter((b) => b.startsWith("-----BEGIN CERTIFICATE-----"));
  const keys = blocks.filter((b) => /^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(b));
  if (certs.length === 0) throw new Error(`${file}: no CERTIFICATE block`);
  if (keys.length !== 1) {
    throw new Error(`${file}: expected one PRIVATE KEY block, found ${keys.length}`);
  }
  return { cert: certs.join("\n") + "\n", key: keys[0] + "\n" };
}

const NO_BODY = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

function problem(res: ServerResponse, status: number, error: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", connection: "close" });
  res.end(JSON.stringify({ error }));
}

/**
 * The request's body as a stream that pulls from the connection only when read, each chunk
 * counted against `budget` (given back by `release`).
 */
function meteredBody(req: IncomingMessage, budget: BodyBudget): {
  body: ReadableStream<Uint8Array>;
  release: () => void;
} {
  let held = 0;
  const it = req[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (err) {
        controller.error(new BodyError(400, (err as Error).message));
        return;
      }
      if (next.done) {
        controller.close();
        return;
      }
      const chunk = new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.length);
      if (!budget.take(chunk.length)) {
        // The connection closes after the answer; no more of this body is read.
        controller.error(new BodyError(503, "too many request bodies in flight; retry later"));
        return;
      }
      held += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      it.return?.();
    },
  }, { highWaterMark: 0 });
  return {
    body,
    release: () => {
      budget.give(held);
      held = 0;
    },
  };
}

/** Writes a Web Response to Node's response, streaming its body with back-pressure. */
async function send(res: ServerResponse, response: Response, headOnly: boolean): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    headers[k] = k === "set-cookie" ? response.headers.getSetCookie() : v;
  });
  res.writeHead(response.status, headers);
  if (!response.body || headOnly) {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const gone = () => reader.cancel().catch(() => {});
  res.once("close", gone);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.once("drain", go);
          res.once("close", go);
        });
      }
    }
  } catch {
    /* the client went away, or the stream was cut */
  } finally {
    res.off("close", gone);
    if (!res.destroyed) res.end();
  }
}

/** Starts serving `app`; resolves once listening. */
export async function serveApi(app: Hono, opts: ServeOptions): Promise<RunningServer> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  let tls: { cert: string; key: string } | undefined;
  if (opts.tlsPemFile) {
    const pem = await Deno.readTextFile(opts.tlsPemFile);
    tls = splitPem(pem, opts.tlsPemFile);
  }
  const scheme = tls ? "https" : "http";
  const budget = new BodyBudget(limits.maxBodyBytesInFlight);
  let bodies = 0;
  let base = "";

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    fresh.delete(socket);
    idle.delete(socket);
    res.once("finish", () => {
      if (!socket.destroyed) idle.set(socket, true);
    });
    const method = req.method ?? "GET";
    let url: URL;
    const headers = new Headers();
    try {
      url = new URL(req.url ?? "/", base);
      for (const [k, v] of Object.entries(req.headersDistinct)) {
        for (const one of v ?? []) headers.append(k, one);
      }
    } catch {
      problem(res, 400, "bad request");
      return;
    }
    const length = req.headers["content-length"];
    const hasBody = !NO_BODY.has(method) &&
      ((length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined);
    if (hasBody && bodies >= limits.maxBodiesInFlight) {
      budget.refused++;
      res.setHeader("retry-after", "1");
      problem(res, 503, "too many request bodies in flight; retry later");
      return;
    }
    const aborted = new AbortController();
    res.once("close", () => aborted.abort());
    const metered = hasBody ? meteredBody(req, budget) : undefined;
    if (metered) bodies++;
    try {
      const request = new Request(url, {
        method,
        headers,
        body: metered?.body,
        signal: aborted.signal,
        ...(metered ? { duplex: "half" } : {}),
      } as RequestInit);
      const response = await app.fetch(request);
      // A body the handler left unread is not drained: the connection closes after the answer.
      if (metered && !req.complete) res.setHeader("connection", "close");
      await send(res, response, method === "HEAD");
    } catch (err) {
      if (err instanceof BodyError) problem(res, err.status, err.message);
      else {
        log.error("http server error", { error: err });
        problem(res, 500, "internal error");
      }
    } finally {
      if (metered) {
        metered.release();
        bodies--;
      }
    }
  };

  const options = {
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    ...tls,
  };
  // Node's servers load where used, not at the top: see NODE_MODULES_AT_USE in scripts/bundle.ts.
  const server = tls
    ? process.getBuiltinModule("node:https").createServer(options, handle)
    : process.getBuiltinModule("node:http").createServer(options, handle);
  // Connections without a request in progress, oldest first (a Map keeps insertion order):
  // those that never completed one, and kept-alive ones between requests.
  const fresh = new Map<Socket, true>(), idle = new Map<Socket, true>();
  const live = new Set<Socket>();
  let evicted = 0, refused = 0;
  const forget = (s: Socket) => {
    live.delete(s);
    fresh.delete(s);
    idle.delete(s);
  };
  server.on("connection", (socket: Socket) => {
    live.add(socket);
    fresh.set(socket, true);
    socket.once("close", () => forget(socket));
    if (live.size <= limits.maxConnections) return;
    const oldest = (m: Map<Socket, true>) => {
      for (const s of m.keys()) if (s !== socket) return s;
    };
    const victim = oldest(fresh) ?? oldest(idle);
    if (victim) evicted++;
    else refused++;
    forget(victim ?? socket);
    (victim ?? socket).destroy();
  });

  const addr = await new Promise<Deno.NetAddr>((resolve, reject) => {
    server.once(
      "error",
      (err: Error) =>
        reject(new Error(`could not listen on ${opts.hostname}:${opts.port}: ${err.message}`)),
    );
    server.listen(opts.port, opts.hostname, () => {
      const a = server.address() as { address: string; port: number };
      resolve({ transport: "tcp", hostname: a.address, port: a.port });
    });
  });
  base = `${scheme}://${
    addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
  }:${addr.port}`;
  server.on("error", (err: Error) => log.error("http server error", { error: err }));

  return {
    addr,
    scheme,
    bodyBudget: budget,
    connections: () => live.size,
    evicted: () => evicted,
    refused: () => refused,
    async shutdown() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), 2000);
      await closed;
      clearTimeout(timer);
    },
  };
}
