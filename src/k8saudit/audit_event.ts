/**
 * Kubernetes audit events as the rules engine sees them. The API server reports each request as
 * an `audit.k8s.io` Event (JSON); its webhook backend posts them in batches (an EventList), and
 * its log backend writes one per line. Saker turns each audit record into an {@link AuditEvent}:
 * an {@link Event} of the scap type `pluginevent` (id 322, the type Falco gives every plugin
 * event) that carries the parsed record instead of parameter bytes. So the ruleset, the pipeline
 * and the outputs take audit events unchanged, while syscall events keep their own class
 * untouched.
 *
 * What counts as an audit payload follows Falco's k8saudit plugin: an object of kind `Event`, an
 * object of kind `EventList` (its `items`), or a JSON array of such payloads; the event time is
 * the record's `stageTimestamp`.
 *
 * @example
 * ```ts
 * import { parseAuditPayload } from "./audit_event.ts";
 * const { events, errors } = parseAuditPayload(JSON.parse(
 *   '{"kind":"Event","auditID":"a1","verb":"get","stageTimestamp":"2024-05-01T10:00:00.5Z"}',
 * ));
 * events[0].record.verb; // "get"
 * events[0].ts; // 1714557600500000000n
 * errors.length; // 0
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import { PLUGIN_EVENT_TYPE as PLUGIN_EVENT_ID, PluginEvent } from "../events/plugin_event.ts";

/** One audit record: the JSON object of an audit.k8s.io Event, as the API server wrote it. */
export type AuditRecord = Record<string, unknown>;

/** Event id of `pluginevent` in the scap table (Falco's type for every plugin event). */
export const PLUGIN_EVENT_TYPE: number = PLUGIN_EVENT_ID;

/** The event source name of audit events, as rules name it (`source: k8s_audit`). */
export const K8S_AUDIT_SOURCE = "k8s_audit";

/** The plugin whose events these are, as Falco names it. */
export const K8S_AUDIT_PLUGIN = "k8saudit";

/** A Kubernetes audit event: a plugin event whose payload is one parsed audit record. */
export class AuditEvent extends PluginEvent {
  /** The audit record. */
  readonly record: AuditRecord;

  /**
   * An audit event for `record`, at `ts` (UTC ns), numbered `num` within its source; `json` and
   * `rawtime` are the record's JSON and the time's decimal text when already known.
   */
  constructor(record: AuditRecord, ts: bigint, num = 0, json?: string, rawtime?: string) {
    super({
      source: K8S_AUDIT_SOURCE,
      plugin: K8S_AUDIT_PLUGIN,
      ts,
      num,
      data: json,
      value: record,
      rawtime,
    });
    this.record = record;
  }

  /** The record as compact JSON (made once, on first use). */
  get json(): string {
    return this.data;
  }
}

/** The audit record of an event, or undefined for any other event. */
export function auditRecord(ev: Event): AuditRecord | undefined {
  return ev instanceof AuditEvent ? ev.record : undefined;
}

const RFC3339 = new RegExp(
  "^(\\d{4})-(\\d{2})-(\\d{2})[Tt ](\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?\\d*" +
    "(?:([Zz])|([+-])(\\d{2}):(\\d{2}))$",
);

/** An RFC 3339 time as nanoseconds since the epoch, in decimal text; undefined when malformed. */
function rfc3339Text(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  let ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (!Number.isFinite(ms) || +m[2] > 12 || +m[3] > 31 || +m[4] > 23 || +m[5] > 59) {
    return undefined;
  }
  if (m[9]) ms += (m[9] === "+" ? -1 : 1) * (+m[10] * 60 + +m[11]) * 60_000;
  // Whole seconds and nine digits of fraction: no BigInt arithmetic for the usual case.
  const frac = (m[7] ?? "").padEnd(9, "0");
  if (ms >= 1000) return `${ms / 1000}${frac}`;
  return String(BigInt(ms) * 1_000_000n + BigInt(frac));
}

/**
 * Parses an RFC 3339 time with up to nanosecond precision (`2024-05-01T10:00:00.123456789Z`,
 * `...+02:00`) into nanoseconds since the Unix epoch; undefined when malformed.
 */
export function parseRfc3339(text: string): bigint | undefined {
  const t = rfc3339Text(text);
  return t === undefined ? undefined : BigInt(t);
}

/** Why an audit payload (or one of its items) was not taken. */
export type AuditRejection =
  /** Not an Event, an EventList or an array of them. */
  | "not_audit"
  /** An audit record without a readable stageTimestamp. */
  | "bad_timestamp"
  /** An audit record larger than the configured maximum event size. */
  | "too_large";

/** One item that was not taken, with a message for the log. */
export interface AuditPayloadError {
  reason: AuditRejection;
  message: string;
}

/** What a payload held. */
export interface ParsedAuditPayload {
  events: AuditEvent[];
  errors: AuditPayloadError[];
}

/** Options of {@link parseAuditPayload}. */
export interface ParseAuditOptions {
  /** Number given to the first event (default 0); the next ones follow. */
  firstNum?: number;
  /**
   * Largest record accepted, in characters of compact JSON (the k8saudit plugin's
   * `maxEventSize`); with `payloadBytes` at or below it no record can exceed it, so none is
   * measured.
   */
  maxEventBytes?: number;
  /** Size of the payload the value was parsed from, when known. */
  payloadBytes?: number;
}

const NOT_AUDIT = "data not recognized as a k8s audit event " +
  "(expected an object of kind Event or EventList, or a JSON array of them)";

/**
 * The audit events of a parsed JSON payload: an Event, an EventList's items, or an array of
 * payloads (nested arrays too). Items that are not usable are reported in `errors`, the others
 * become events.
 */
export function parseAuditPayload(
  value: unknown,
  opts: ParseAuditOptions = {},
): ParsedAuditPayload {
  const out: ParsedAuditPayload = { events: [], errors: [] };
  let num = opts.firstNum ?? 0;
  const max = opts.maxEventBytes;
  const measure = max !== undefined && (opts.payloadBytes === undefined || opts.payloadBytes > max);
  const single = (item: unknown) => {
    const rec = item as AuditRecord;
    const stamp = rec !== null && typeof rec === "object" ? rec.stageTimestamp : undefined;
    const rawtime = typeof stamp === "string" ? rfc3339Text(stamp) : undefined;
    if (rawtime === undefined) {
      out.errors.push({
        reason: "bad_timestamp",
        message: stamp === undefined
          ? "audit event without stageTimestamp"
          : `audit event with an unreadable stageTimestamp ${JSON.stringify(stamp)}`,
      });
      return;
    }
    let json: string | undefined;
    if (measure) {
      json = JSON.stringify(rec);
      if (json.length > max!) {
        out.errors.push({
          reason: "too_large",
          message: `audit event of ${json.length} bytes is larger than maxEventSize (${max})`,
        });
        return;
      }
    }
    out.events.push(new AuditEvent(rec, BigInt(rawtime), num++, json, rawtime));
  };
  const visit = (v: unknown, depth: number) => {
    if (Array.isArray(v) && depth < 8) {
      for (const x of v) visit(x, depth + 1);
      return;
    }
    const kind = v !== null && typeof v === "object" ? (v as AuditRecord).kind : undefined;
    if (kind === "EventList" && Array.isArray((v as AuditRecord).items)) {
      for (const item of (v as { items: unknown[] }).items) single(item);
    } else if (kind === "Event") single(v);
    else out.errors.push({ reason: "not_audit", message: NOT_AUDIT });
  };
  visit(value, 0);
  return out;
}
