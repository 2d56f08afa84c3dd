/**
 * Request bodies read as streams against limits, so that what a client announces never decides
 * what the agent allocates: a `Content-Length` above the limit is refused before a byte is read,
 * and a body is taken chunk by chunk, each counted against the request's limit and against a
 * budget shared by every request in flight (a thousand clients each sending part of a large
 * body cannot make the agent hold a thousand large bodies). `Request.text()` is never used on a
 * client's body: it sizes its buffer from `Content-Length` before the bytes arrive.
 *
 * Shared by the API server (which meters every body against the budget) and the webhook
 * sources (which read their bodies with {@link readBody}).
 *
 * @example
 * ```ts
 * import { BodyError, readBody } from "./http_body.ts";
 * async function handle(req: Request): Promise<Response> {
 *   try {
 *     const text = new TextDecoder().decode(await readBody(req, 1 << 20));
 *     return new Response(`${text.length} characters`);
 *   } catch (err) {
 *     if (err instanceof BodyError) return new Response(err.message, { status: err.status });
 *     throw err;
 *   }
 * }
 * ```
 * @module
 */

/** Why a body could not be read: the HTTP status to answer and what to say. */
export class BodyError extends Error {
  /**
   * @param status 413 over the request's limit, 503 over the shared budget (retry later), 400
   * for a broken body (the client went away, a bad length)
   */
  constructor(readonly status: 400 | 413 | 503, message: string) {
    super(message);
    this.name = "BodyError";
  }
}

/** Bytes of request bodies held at once across requests, with a ceiling. */
export class BodyBudget {
  #used = 0;
  /** Bodies cut because the budget was spent. */
  refused = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Takes `n` bytes; false (nothing taken) when they do not fit. */
  take(n: number): boolean {
    if (this.#used + n > this.maxBytes) {
      this.refused++;
      return false;
    }
    this.#used += n;
    return true;
  }

  /** Gives back `n` bytes taken before. */
  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}

/**
 * Reads a request's whole body, at most `maxBytes`; throws {@link BodyError} (413) as soon as
 * the announced or received size is over, without reading further. Errors of the underlying
 * stream that carry a status (the server's budget) come through as they are.
 */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const announced = req.headers.get("content-length");
  if (announced !== null) {
    const n = Number(announced);
    if (!/^\d+$/.test(announced.trim()) || !Number.isSafeInteger(n)) {
      throw new BodyError(400, "invalid content-length");
    }
    if (n > maxBytes) throw new BodyError(413, `body of ${n} bytes is over ${maxBytes} bytes`);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) throw new BodyError(413, `body over ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    if (err instanceof BodyError) throw err;
    throw new BodyError(400, `body not received: ${(err as Error).message}`);
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
