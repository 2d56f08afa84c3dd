/**
 * Alerts received from other agents (the collector reads them from JetStream): Falco's JSON as
 * an agent's outputs send it, read back into an {@link Alert} plus the forms the agent wrote, so
 * the store keeps them as they were sent (output text, `output_fields` with 64-bit integers exact)
 * and filters and summaries work on them as on local alerts.
 *
 * @example
 * ```ts
 * import { parseReceivedAlert } from "./received.ts";
 * const r = parseReceivedAlert(
 *   '{"hostname":"node-1","output":"12:00:00.000000000: Warning x","output_fields":{},' +
 *     '"priority":"Warning","rule":"R","source":"syscall","tags":[],' +
 *     '"time":"2026-01-02T03:04:05.000000001Z"}',
 *   "6a1f0c1e-9d7c-4c0e-8d0e-3c2b1a0f9e8d",
 * );
 * r.alert.time; // 1767323045000000001n
 * r.forms.hostname; // "node-1"
 * ```
 * @module
 */
import {
  type AggregateInfo,
  type Alert,
  type OutputFieldValue,
  parsePriority,
} from "../rules/alert.ts";
import { parseTime } from "./alert_filter.ts";
import { INTERNAL_SOURCE, sortedObject } from "./format.ts";
import type { ReceivedForms } from "./output.ts";

/** An alert read back from its JSON. */
export interface ReceivedAlert {
  alert: Alert;
  forms: ReceivedForms;
}

/** JSON.parse keeping integers beyond 2^53 exact (as bigints), from their source text. */
export function parseJsonExact(text: string): unknown {
  const reviver = (_k: string, v: unknown, ctx?: { source?: string }) =>
    typeof v === "number" && !Number.isSafeInteger(v) && ctx?.source &&
      /^-?\d+$/.test(ctx.source)
      ? BigInt(ctx.source)
      : v;
  return JSON.parse(text, reviver as (k: string, v: unknown) => unknown);
}

function need<T>(ok: boolean, v: T, what: string): T {
  if (!ok) throw new Error(`not a Falco alert: ${what}`);
  return v;
}

function timeOf(v: unknown, what: string): bigint {
  const t = typeof v === "string" ? parseTime(v) : undefined;
  return need(t !== undefined, t!, `${what} is not an RFC 3339 time`);
}

function aggregateOf(g: Record<string, unknown>): AggregateInfo {
  const reason = g.reason === "rate_limit" ? "rate_limit" : "window";
  const info: AggregateInfo = {
    count: need(typeof g.count === "number", g.count as number, "aggregate.count"),
    first: timeOf(g.first, "aggregate.first"),
    last: timeOf(g.last, "aggregate.last"),
    since: timeOf(g.since, "aggregate.since"),
    reason,
    samples: (g.samples ?? {}) as Record<string, OutputFieldValue[]>,
  };
  if (g.key && typeof g.key === "object") info.key = g.key as Record<string, OutputFieldValue>;
  if (Array.isArray(g.more)) info.more = g.more as string[];
  if (typeof g.group === "string") info.group = g.group;
  if (typeof g.output === "string") info.output = g.output;
  return info;
}

/**
 * Reads one alert in Falco's JSON (`id`: the sender's alert id). Throws naming what is missing
 * when the text is not one.
 */
export function parseReceivedAlert(json: string, id: string): ReceivedAlert {
  let o: Record<string, unknown>;
  try {
    o = parseJsonExact(json) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  need(o !== null && typeof o === "object" && !Array.isArray(o), 0, "not an object");
  const rule = need(typeof o.rule === "string", o.rule as string, "no rule");
  const priority = need(
    typeof o.priority === "string" && parsePriority(o.priority) !== undefined,
    parsePriority(String(o.priority))!,
    "no priority",
  );
  const hostname = typeof o.hostname === "string" ? o.hostname : "";
  const fields =
    (o.output_fields && typeof o.output_fields === "object" ? o.output_fields : {}) as Record<
      string,
      OutputFieldValue
    >;
  const output = typeof o.output === "string" ? o.output : "";
  const source = typeof o.source === "string" ? o.source : "syscall";
  const alert: Alert = {
    time: timeOf(o.time, "time"),
    rule,
    priority,
    source,
    tags: Array.isArray(o.tags) ? o.tags.filter((t) => typeof t === "string") : [],
    // The message without its time and priority, as the rule's output reads.
    output: typeof o.message === "string"
      ? o.message
      : source === INTERNAL_SOURCE
      ? output
      : output.replace(/^\S+: \S+ /, "").replace(/ \(\d+ more like this in [^)]*\)$/, ""),
    outputFields: fields,
  };
  if (o.aggregate && typeof o.aggregate === "object") {
    alert.aggregate = aggregateOf(o.aggregate as Record<string, unknown>);
  }
  return {
    alert,
    forms: { id, hostname, json, output, fieldsJson: sortedObject(fields) },
  };
}
