// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard's access to the agent's API: the bearer token (kept in session storage, sent as
 * an Authorization header, never put in a URL), JSON requests, and the live alert stream read
 * with fetch (an EventSource cannot send a header) and parsed as server-sent events.
 * @module
 */

const TOKEN_KEY = "saker.token";

/** The token of this browser tab ("" when none). */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Keeps `token` for this tab (cleared with the tab). @param {string} token */
export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The API refused the token (or wants one). */
export class AuthError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "AuthError";
  }
}

/** An error answer of the API (its `error` text). */
export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
    this.name = "ApiError";
  }
}

function headers() {
  const t = getToken();
  /** @type {Record<string, string>} */
  const h = { accept: "application/json" };
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

/** @param {Response} r */
async function failure(r) {
  let message = r.statusText;
  try {
    message = (await r.json()).error ?? message;
  } catch { /* not JSON */ }
  if (r.status === 401) return new AuthError(message);
  return new ApiError(r.status, message);
}

/**
 * GET `path` and its response text (for exact JSON); throws AuthError on 401, ApiError otherwise.
 * @param {string} path
 * @param {AbortSignal} [signal]
 */
export async function getText(path, signal) {
  const r = await fetch(path, { headers: headers(), cache: "no-store", signal });
  if (!r.ok) throw await failure(r);
  return await r.text();
}

/**
 * GET `path` as JSON.
 * @param {string} path
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export async function getJson(path, signal) {
  return JSON.parse(await getText(path, signal));
}

/**
 * @typedef {object} StreamHandlers
 * @property {(alertJson: string) => void} onAlert  each alert's JSON text
 * @property {(state: "connecting" | "open" | "retrying" | "closed", detail?: string) => void} onState
 * @property {(err: Error) => void} onAuth  the token was refused (the stream stops)
 */

/**
 * Follows `path` (an /alerts/stream URL) until closed, reconnecting with back-off when the
 * connection drops.
 * @param {string} path
 * @param {StreamHandlers} on
 * @returns {{ close(): void }}
 */
export function followStream(path, on) {
  let closed = false;
  let controller = new AbortController();
  let delay = 500;
  const run = async () => {
    while (!closed) {
      on.onState("connecting");
      try {
        const r = await fetch(path, {
          headers: { ...headers(), accept: "text/event-stream" },
          cache: "no-store",
          signal: controller.signal,
        });
        if (!r.ok || !r.body) {
          const err = await failure(r);
          if (err instanceof AuthError) {
            on.onAuth(err);
            return;
          }
          throw err;
        }
        on.onState("open");
        delay = 500;
        await readEvents(r.body, (event, data) => {
          if (event === "alert") on.onAlert(data);
        });
      } catch (err) {
        if (closed) break;
        on.onState("retrying", /** @type {Error} */ (err).message);
      }
      if (closed) break;
      on.onState("retrying");
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 10_000);
      controller = new AbortController();
    }
    on.onState("closed");
  };
  run();
  return {
    close() {
      closed = true;
      controller.abort();
    },
  };
}

/**
 * Reads server-sent events from a body: calls `emit(event, data)` per event.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(event: string, data: string) => void} emit
 */
export async function readEvents(body, emit) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let event = "message";
  /** @type {string[]} */
  let data = [];
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (data.length > 0) emit(event, data.join("\n"));
        event = "message";
        data = [];
      } else if (line.startsWith(":")) continue;
      else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
    }
  }
}
