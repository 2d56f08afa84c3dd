/**
 * Taking audit payloads in: JSON text (a webhook body, a line of an audit log) to numbered
 * {@link AuditEvent}s, with every payload or item that is not taken counted by reason in
 * /metrics (`saker_k8saudit_rejected_total{input,reason}`) and reported (a rate-limited log
 * line by default), so nothing is lost without a trace.
 *
 * @example
 * ```ts
 * import { AuditIngest } from "./ingest.ts";
 * const ingest = new AuditIngest({ input: "file" });
 * const line = '{"kind":"Event","auditID":"1","stageTimestamp":"2024-05-01T10:00:00Z"}';
 * const events = ingest.text(line, "audit.log:1");
 * events[0].num; // 1
 * ```
 * @module
 */
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import { RateLimitedLog } from "../log.ts";
import { type AuditEvent, parseAuditPayload } from "./audit_event.ts";

/** Why input was not taken: the payload reasons plus `not_json`. */
export type IngestRejection =
  | "not_json"
  | "not_audit"
  | "bad_timestamp"
  | "too_large"
  | "busy"
  | "body_too_large"
  | "bad_request";

/** One rejection, as reported. */
export interface IngestError {
  reason: IngestRejection;
  message: string;
  /** Where the input came from (`file:line`, `webhook 127.0.0.1`). */
  where: string;
}

/** Options of {@link AuditIngest}. */
export interface IngestOptions {
  /** The input's name in metrics: `webhook`, `file` ... */
  input: string;
  /** Largest audit record accepted, in characters of compact JSON (default: no limit). */
  maxEventBytes?: number;
  registry?: Registry;
  /** Receives each rejection (default: a warning in the log, at most one per reason per 10 s). */
  onError?: (e: IngestError) => void;
}

const logLimit = new RateLimitedLog(10_000);

/** Default reporting: a rate-limited warning. */
export function logIngestError(e: IngestError): void {
  logLimit.log("warning", `k8saudit:${e.reason}`, `k8s audit input rejected: ${e.message}`, {
    reason: e.reason,
    where: e.where,
  });
}

/** Turns audit payloads into events for one input, numbering them from 1. */
export class AuditIngest {
  readonly input: string;
  readonly #maxEventBytes: number | undefined;
  readonly #onError: (e: IngestError) => void;
  readonly #registry: Registry;
  readonly #accepted: Counter;
  readonly #rejectedBy = new Map<string, Counter>();
  #next = 1;
  /** Events taken. */
  accepted = 0;
  /** Payloads or items not taken. */
  rejected = 0;

  constructor(opts: IngestOptions) {
    this.input = opts.input;
    this.#maxEventBytes = opts.maxEventBytes;
    this.#onError = opts.onError ?? logIngestError;
    this.#registry = opts.registry ?? globalMetrics;
    this.#accepted = this.#registry.counter(
      "saker_k8saudit_events_total",
      "Kubernetes audit events taken in, per input.",
      ["input"],
    ).labels(this.input);
  }

  /** Counts and reports one rejection. */
  reject(reason: IngestRejection, message: string, where: string, count = 1): void {
    this.rejected += count;
    let c = this.#rejectedBy.get(reason);
    if (!c) {
      c = this.#registry.counter(
        "saker_k8saudit_rejected_total",
        "Kubernetes audit payloads or events not taken, per input and reason.",
        ["input", "reason"],
      ).labels(this.input, reason);
      this.#rejectedBy.set(reason, c);
    }
    c.inc(count);
    this.#onError({ reason, message, where });
  }

  /** The events of a parsed payload (`bytes`: its size as received, when known). */
  value(value: unknown, where: string, bytes?: number): AuditEvent[] {
    const parsed = parseAuditPayload(value, {
      firstNum: this.#next,
      maxEventBytes: this.#maxEventBytes,
      payloadBytes: bytes,
    });
    for (const e of parsed.errors) this.reject(e.reason, e.message, where);
    this.#next += parsed.events.length;
    this.accepted += parsed.events.length;
    this.#accepted.inc(parsed.events.length);
    return parsed.events;
  }

  /** The events of a JSON text; text that is not JSON is rejected as `not_json`. */
  text(text: string, where: string): AuditEvent[] {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.reject("not_json", `not JSON: ${(err as Error).message}`, where);
      return [];
    }
    return this.value(value, where, text.length);
  }
}
