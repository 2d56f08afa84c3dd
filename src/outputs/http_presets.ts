/**
 * Request bodies of the http output's presets, and how each receiver's answer is read. Pure, so
 * the wire format is tested without a network:
 *
 * - `falco` (the default): one POST per alert, Falco's JSON (falcosidekick, webhooks);
 * - `elasticsearch` and `opensearch`: one `_bulk` request per batch, NDJSON: for each alert a
 *   `create` action naming the index and the alert's id as `_id`, then the alert's JSON as the
 *   document, every line ending with a newline (`Content-Type: application/x-ndjson`). `create`
 *   with the id makes a retried batch harmless: an alert already indexed answers 409, counted as
 *   delivered;
 * - `loki`: one push per batch (`POST /loki/api/v1/push`, JSON): a stream per label set
 *   (`hostname`, `priority`, `rule`, `source`), each value the event time in nanoseconds (a string)
 *   and the alert's line.
 *
 * @example
 * ```ts
 * import { bulkBody } from "./http_presets.ts";
 * // bulkBody(batch, "saker-alerts"):
 * // {"create":{"_index":"saker-alerts","_id":"6a1f..."}}\n{"hostname":"node-1",...}\n
 * ```
 * @module
 */
import type { FormattedAlert } from "./output.ts";

/** The http output's presets. */
export const HTTP_PRESETS = ["falco", "elasticsearch", "opensearch", "loki"] as const;
/** One preset. */
export type HttpPreset = typeof HTTP_PRESETS[number];

/** An Elasticsearch / OpenSearch `_bulk` body: a create action and the document per alert. */
export function bulkBody(batch: FormattedAlert[], index: string): string {
  let s = "";
  for (const fa of batch) {
    s += `{"create":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(fa.id)}}}\n`;
    s += fa.json + "\n";
  }
  return s;
}

/** What a `_bulk` answer says of a batch. */
export interface BulkOutcome {
  /** Index of the first alert to send again (429 or 5xx), or undefined when none. */
  retryFrom?: number;
  /** Alerts refused for good before `retryFrom` (other 4xx; 409 means already indexed). */
  refused: number;
  /** The first refusal's reason. */
  reason?: string;
}

/** Reads a `_bulk` answer (`{"errors":..., "items":[{"create":{"status":201}}, ...]}`). */
export function bulkOutcome(answer: unknown, size: number): BulkOutcome {
  const items = (answer as { items?: unknown[] })?.items;
  if (!Array.isArray(items) || items.length !== size) {
    return { retryFrom: 0, refused: 0, reason: "the answer does not list every alert" };
  }
  let refused = 0;
  let reason: string | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = Object.values(items[i] as Record<string, unknown>)[0] as {
      status?: number;
      error?: { type?: string; reason?: string };
    };
    const status = item?.status ?? 500;
    if (status < 300 || status === 409) continue;
    if (status === 429 || status >= 500) return { retryFrom: i, refused, reason };
    refused++;
    reason ??= `${status} ${item.error?.type ?? ""}: ${item.error?.reason ?? ""}`;
  }
  return { refused, reason };
}

/** The label set of an alert in Loki. */
export function lokiLabels(fa: FormattedAlert): Record<string, string> {
  return {
    hostname: fa.hostname,
    priority: fa.alert.priority,
    rule: fa.alert.rule,
    source: fa.alert.source,
  };
}

/** A Loki push body: one stream per label set, values `[time in ns, line]` in order. */
export function lokiBody(batch: FormattedAlert[], json: boolean): string {
  const streams = new Map<string, { stream: Record<string, string>; values: string[][] }>();
  for (const fa of batch) {
    const labels = lokiLabels(fa);
    const key = JSON.stringify(labels);
    let s = streams.get(key);
    if (!s) streams.set(key, s = { stream: labels, values: [] });
    s.values.push([fa.alert.time.toString(), fa.line(json)]);
  }
  return JSON.stringify({ streams: [...streams.values()] });
}
