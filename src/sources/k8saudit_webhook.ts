/**
 * Kubernetes audit events from the API server's webhook backend: a Hono app answering POST with
 * a JSON body (an audit Event, an EventList — what the backend sends — or an array of them), to
 * be mounted under an endpoint path (Falco's `/k8s-audit`) of the agent's server or served on its
 * own listener. Each body becomes one batch for the pipeline.
 *
 * Answers: 200 `{"accepted":N,"rejected":M}`; 400 when the body is not JSON or holds no audit
 * event; 405 for other methods; 413 above the body limit (the k8saudit plugin's
 * `webhookMaxBatchSize`), announced or received: the body is read as a stream, never sized from
 * `Content-Length`; 415 without a JSON content type; 503 with Retry-After while the pipeline is
 * behind by more than the queue holds (the API server retries a failed batch), while the
 * server's budget for bodies in flight is spent, or once the source is closed. Every event not taken is counted in
 * `saker_k8saudit_rejected_total{input="webhook",reason}`.
 *
 * @example
 * ```ts
 * import { AuditWebhook } from "./k8saudit_webhook.ts";
 * const hook = new AuditWebhook();
 * // agent.mount("/k8s-audit", hook.app, { ownBodyLimit: true }); a Pipeline reads hook.readable
 * const res = await hook.app.request("/", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: '{"kind":"EventList","items":[]}',
 * });
 * res.status; // 200
 * ```
 * @module
 */
import { Hono } from "hono";
import { BodyError, readBody } from "../http_body.ts";
import type { EventSource } from "./source.ts";
import { type AuditEvent, K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { AuditIngest, type IngestError } from "../k8saudit/ingest.ts";
import type { Registry } from "../metrics.ts";
import { DEFAULT_MAX_BATCH_BYTES } from "../k8saudit/audit_inputs.ts";

/** Options of {@link AuditWebhook}. */
export interface AuditWebhookOptions {
  /** Largest request body, bytes (default {@link DEFAULT_MAX_BATCH_BYTES}). */
  maxBodyBytes?: number;
  /** Largest audit record, characters of compact JSON (the plugin's maxEventSize). */
  maxEventBytes?: number;
  /** Events waiting for the pipeline at most before requests get 503 (default 65536). */
  queueEvents?: number;
  registry?: Registry;
  /** Receives each payload or item not taken (default: a rate-limited log warning). */
  onError?: (e: IngestError) => void;
}

function reply(status: number, body: Record<string, unknown>, headers: HeadersInit = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The webhook as an event source. */
export class AuditWebhook implements EventSource {
  readonly source = K8S_AUDIT_SOURCE;
  readonly readable: ReadableStream<AuditEvent[]>;
  /** The routes: POST to the app's root (mount the app under the endpoint path). */
  readonly app: Hono;
  readonly #ingest: AuditIngest;
  readonly #maxBody: number;
  #controller!: ReadableStreamDefaultController<AuditEvent[]>;
  #closed = false;
  /** Requests answered. */
  requests = 0;

  constructor(opts: AuditWebhookOptions = {}) {
    const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.#ingest = new AuditIngest({
      input: "webhook",
      maxEventBytes: opts.maxEventBytes,
      registry: opts.registry,
      onError: opts.onError,
    });
    this.readable = new ReadableStream<AuditEvent[]>(
      { start: (c) => void (this.#controller = c) },
      { highWaterMark: opts.queueEvents ?? 65536, size: (batch) => batch.length },
    );
    this.#maxBody = maxBody;
    const app = new Hono();
    app.post("/", (c) => this.handle(c.req.raw));
    app.all("/", () => reply(405, { error: "use POST" }, { allow: "POST" }));
    this.app = app;
  }

  /** Takes one request: its audit events go to the pipeline as one batch. */
  async handle(req: Request): Promise<Response> {
    this.requests++;
    const where = from(req);
    if (!(req.headers.get("content-type") ?? "").includes("application/json")) {
      this.#ingest.reject("bad_request", "content type is not application/json", where);
      return reply(415, { error: "expected content-type: application/json" });
    }
    if (this.#closed) {
      return reply(503, { error: "shutting down" }, { "retry-after": "5" });
    }
    if ((this.#controller.desiredSize ?? 0) <= 0) {
      this.#ingest.reject("busy", "the pipeline is behind; the API server will retry", where);
      return reply(503, { error: "busy, retry later" }, { "retry-after": "1" });
    }
    let bytes: Uint8Array;
    try {
      bytes = await readBody(req, this.#maxBody);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      if (err.status === 413) {
        this.#ingest.reject("body_too_large", err.message, where);
        return reply(413, { error: "request body too large", limit_bytes: this.#maxBody });
      }
      if (err.status === 503) {
        this.#ingest.reject("busy", err.message, where);
        return reply(503, { error: err.message }, { "retry-after": "1" });
      }
      this.#ingest.reject("bad_request", err.message, where);
      return reply(400, { error: err.message });
    }
    const text = new TextDecoder().decode(bytes);
    const before = this.#ingest.rejected;
    const events = this.#ingest.text(text, where);
    const rejected = this.#ingest.rejected - before;
    if (events.length === 0 && rejected > 0) {
      return reply(400, { error: "no Kubernetes audit event in the body", rejected });
    }
    if (events.length > 0) this.#controller.enqueue(events);
    return reply(200, { accepted: events.length, rejected });
  }

  /** Events taken, payloads or items not taken, requests seen. */
  stats(): { received: number; rejected: number; requests: number } {
    return {
      received: this.#ingest.accepted,
      rejected: this.#ingest.rejected,
      requests: this.requests,
    };
  }

  /** Stops taking requests (503 from now on); the stream ends after the queued batches. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#controller.close();
      } catch { /* already closed or cancelled */ }
    }
    return Promise.resolve();
  }
}

/** Where a request came from, for reports. */
function from(req: Request): string {
  return `webhook POST ${new URL(req.url).pathname}`;
}
