/**
 * HTTP/1.0 over a unix socket, as container runtimes serve their APIs (docker, `podman system
 * service`): a one-shot GET ({@link unixGet}) and a streaming GET whose body is read line by
 * line as it arrives ({@link unixStreamLines}, for `/events`). HTTP/1.0 keeps the exchange
 * simple: the server answers without chunked encoding and closes the connection at the end, so
 * a stream's body is the raw bytes up to the close.
 *
 * @example
 * ```ts
 * import { unixGet } from "./unix_http.ts";
 * const answer = await unixGet("/run/podman/podman.sock", "/version", 2000);
 * answer.status; // 200
 * ```
 * @module
 */

/** A response: status code and body text. */
export interface HttpAnswer {
  status: number;
  body: string;
}

function indexOfCrlf(b: Uint8Array, from: number, double: boolean): number {
  for (let i = from; i + 1 < b.length; i++) {
    if (b[i] !== 13 || b[i + 1] !== 10) continue;
    if (!double) return i;
    if (b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** Decodes an HTTP/1.x response (plain or chunked body). */
export function parseHttpResponse(raw: Uint8Array): HttpAnswer {
  const headEnd = indexOfCrlf(raw, 0, true);
  if (headEnd < 0) throw new Error("truncated HTTP response");
  const latin1 = new TextDecoder("latin1");
  const head = latin1.decode(raw.subarray(0, headEnd));
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? 0);
  let body = raw.subarray(headEnd + 4);
  if (/^transfer-encoding:\s*chunked/im.test(head)) {
    const parts: Uint8Array[] = [];
    let pos = 0;
    for (;;) {
      const lineEnd = indexOfCrlf(body, pos, false);
      if (lineEnd < 0) break;
      const size = parseInt(latin1.decode(body.subarray(pos, lineEnd)), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) {
      joined.set(p, off);
      off += p.length;
    }
    body = joined;
  }
  return { status, body: new TextDecoder().decode(body) };
}

/** GET `path` from an HTTP server on a unix socket (HTTP/1.0, connection closed after). */
export function unixGet(socket: string, path: string, timeoutMs: number): Promise<HttpAnswer> {
  return unixRequest(socket, "GET", path, timeoutMs);
}

/**
 * A request without a body (`POST /containers/ID/stop` ...) to an HTTP server on a unix socket
 * (HTTP/1.0, connection closed after); the answer, or a throw when it takes over `timeoutMs`.
 */
export async function unixRequest(
  socket: string,
  method: "GET" | "POST" | "DELETE",
  path: string,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }, timeoutMs);
  try {
    const length = method === "GET" ? "" : "Content-Length: 0\r\n";
    await conn.write(
      new TextEncoder().encode(`${method} ${path} HTTP/1.0\r\nHost: localhost\r\n${length}\r\n`),
    );
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(16384);
    let total = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      total += n;
      if (total > 8 << 20) throw new Error("answer too large");
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return parseHttpResponse(all);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

/** A running streaming GET: `done` settles when the server closes or `close()` is called. */
export interface LineStream {
  /** Resolves with the status code once the header arrived (rejects if it never does). */
  status: Promise<number>;
  /** Settles when the stream ends. */
  done: Promise<void>;
  close(): void;
}

/**
 * GET `path` and call `onLine` for each newline-terminated line of the body as it arrives
 * (the Docker-compatible `/events` API writes one JSON object per line). A non-200 answer ends
 * the stream after its header. Lines longer than 1 MiB are dropped.
 */
export function unixStreamLines(
  socket: string,
  path: string,
  onLine: (line: string) => void,
  connectTimeoutMs = 2000,
): LineStream {
  let conn: Deno.UnixConn | undefined;
  let closed = false;
  let resolveStatus!: (n: number) => void;
  let rejectStatus!: (e: unknown) => void;
  const status = new Promise<number>((res, rej) => {
    resolveStatus = res;
    rejectStatus = rej;
  });
  status.catch(() => {});
  const close = () => {
    closed = true;
    try {
      conn?.close();
    } catch {
      // already closed
    }
  };
  const done = (async () => {
    const timer = setTimeout(close, connectTimeoutMs);
    Deno.unrefTimer(timer);
    let gotHeader = false;
    try {
      conn = await Deno.connect({ transport: "unix", path: socket });
      if (closed) return;
      await conn.write(
        new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`),
      );
      const decoder = new TextDecoder();
      const buf = new Uint8Array(65536);
      let text = "";
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += decoder.decode(buf.subarray(0, n), { stream: true });
        if (!gotHeader) {
          const end = text.indexOf("\r\n\r\n");
          if (end < 0) continue;
          gotHeader = true;
          clearTimeout(timer);
          const code = Number(/^HTTP\/\d\.\d (\d{3})/.exec(text)?.[1] ?? 0);
          resolveStatus(code);
          if (code !== 200) return;
          text = text.slice(end + 4);
        }
        let nl;
        while ((nl = text.indexOf("\n")) >= 0) {
          const line = text.slice(0, nl).trim();
          text = text.slice(nl + 1);
          if (line !== "") onLine(line);
        }
        if (text.length > 1 << 20) text = "";
      }
    } catch (err) {
      if (!gotHeader) rejectStatus(err);
      if (!closed) throw err;
    } finally {
      clearTimeout(timer);
      if (!gotHeader) rejectStatus(new Error("connection closed before an answer"));
      close();
    }
  })();
  done.catch(() => {});
  return { status, done, close };
}
