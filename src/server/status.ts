/**
 * The agent's state in one JSON document (GET /status): events per second, kernel drops, output
 * queues and failures, rules loaded and the last reload, memory, alerts. Every number is read
 * from the metrics registry that /metrics renders, so the two never disagree; only the rate is
 * computed here, from successive readings of the processed-events counter.
 *
 * @example
 * ```ts
 * import { metrics } from "../metrics.ts";
 * import { RateMeter, statusSummary } from "./status.ts";
 * const meter = new RateMeter();
 * const s = statusSummary(metrics, { health: { ok: true }, meter });
 * console.log(s.events.per_second, s.memory.rss_bytes);
 * ```
 * @module
 */
import type { Registry } from "../metrics.ts";

/** Names of the metrics the summary reads (each registered by the part that counts it). */
export const STATUS_METRICS = {
  received: "saker_events_received_total",
  processed: "saker_events_processed_total",
  kernelDrops: "saker_kernel_drops_total",
  evaluationErrors: "saker_evaluation_errors_total",
  alerts: "saker_alerts_total",
  stored: "saker_alert_store_alerts",
  queueDepth: "saker_output_queue_depth",
  queueCapacity: "saker_output_queue_capacity",
  sent: "saker_output_sent_total",
  failed: "saker_output_failed_total",
  dropped: "saker_output_dropped_total",
  retries: "saker_output_retries_total",
  rulesLoaded: "saker_rules_loaded",
  reloads: "saker_reloads_total",
  lastReloadTime: "saker_last_reload_timestamp_seconds",
  lastReloadSuccess: "saker_last_reload_success",
  rss: "saker_memory_rss_bytes",
  heap: "saker_memory_heap_used_bytes",
  uptime: "saker_uptime_seconds",
  sseClients: "saker_sse_clients",
  sseDropped: "saker_sse_dropped_total",
} as const;

/** A rate from successive readings of a counter, over about the last `windowMs`. */
export class RateMeter {
  #samples: { t: number; v: number }[] = [];
  constructor(readonly windowMs = 10_000) {}

  /**
   * Records `value` at `nowMs` and returns the rate per second since the newest reading at least
   * a window old (or the oldest one); undefined until two readings are a second apart.
   */
  rate(value: number, nowMs = Date.now()): number | undefined {
    const s = this.#samples;
    s.push({ t: nowMs, v: value });
    while (s.length > 2 && s[1].t <= nowMs - this.windowMs) s.shift();
    const first = s[0];
    const dt = (nowMs - first.t) / 1000;
    if (dt < 1) return undefined;
    return Math.max(0, (value - first.v) / dt);
  }
}

/** One output's queue and delivery counts. */
export interface OutputStatus {
  name: string;
  queue_depth: number;
  queue_capacity: number;
  sent: number;
  failed: number;
  dropped: number;
  retries: number;
}

/** What GET /status answers. */
export interface StatusSummary {
  time: string;
  health: { ok: boolean; reason?: string };
  uptime_seconds: number;
  events: {
    received: number;
    processed: number;
    /** Processed events per second over about the last 10 s (null right after start). */
    per_second: number | null;
    /** Per source. */
    processed_by_source: Record<string, number>;
    kernel_drops: number;
    kernel_drops_by_cpu: Record<string, number>;
    evaluation_errors: number;
  };
  alerts: { total: number; by_priority: Record<string, number>; stored: number };
  outputs: OutputStatus[];
  rules: {
    loaded: number;
    reloads: Record<string, number>;
    last_reload: {
      time: string;
      result: "ok" | "rejected";
      reason?: string;
      error?: string;
    } | null;
  };
  memory: { rss_bytes: number; heap_used_bytes: number };
  live_clients: number;
  live_dropped: number;
}

/** What the summary needs beyond the registry. */
export interface StatusInputs {
  health: { ok: boolean; reason?: string };
  meter: RateMeter;
  /** The last reload's trigger and first error line (the registry has its time and result). */
  lastReload?: { reason?: string; error?: string };
  nowMs?: number;
}

function byLabel(reg: Registry, name: string, label = 0): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of reg.family(name)?.entries() ?? []) {
    const k = e.labels[label] ?? "";
    out[k] = (out[k] ?? 0) + e.value;
  }
  return out;
}

function total(reg: Registry, name: string): number {
  let n = 0;
  for (const e of reg.family(name)?.entries() ?? []) n += e.value;
  return n;
}

/** Reads the summary from the registry. */
export function statusSummary(reg: Registry, inputs: StatusInputs): StatusSummary {
  const M = STATUS_METRICS;
  const now = inputs.nowMs ?? Date.now();
  const processed = total(reg, M.processed);
  const perSecond = inputs.meter.rate(processed, now);
  const depth = byLabel(reg, M.queueDepth);
  const capacity = byLabel(reg, M.queueCapacity);
  const sent = byLabel(reg, M.sent);
  const failed = byLabel(reg, M.failed);
  const dropped = byLabel(reg, M.dropped);
  const retries = byLabel(reg, M.retries);
  const names = [...new Set([...Object.keys(capacity), ...Object.keys(depth)])].sort();
  const lastTime = total(reg, M.lastReloadTime);
  return {
    time: new Date(now).toISOString(),
    health: inputs.health,
    uptime_seconds: total(reg, M.uptime),
    events: {
      received: total(reg, M.received),
      processed,
      per_second: perSecond === undefined ? null : Math.round(perSecond * 10) / 10,
      processed_by_source: byLabel(reg, M.processed),
      kernel_drops: total(reg, M.kernelDrops),
      kernel_drops_by_cpu: byLabel(reg, M.kernelDrops),
      evaluation_errors: total(reg, M.evaluationErrors),
    },
    alerts: {
      total: total(reg, M.alerts),
      by_priority: byLabel(reg, M.alerts, 1),
      stored: total(reg, M.stored),
    },
    outputs: names.map((name) => ({
      name,
      queue_depth: depth[name] ?? 0,
      queue_capacity: capacity[name] ?? 0,
      sent: sent[name] ?? 0,
      failed: failed[name] ?? 0,
      dropped: dropped[name] ?? 0,
      retries: retries[name] ?? 0,
    })),
    rules: {
      loaded: total(reg, M.rulesLoaded),
      reloads: byLabel(reg, M.reloads),
      last_reload: lastTime > 0
        ? {
          time: new Date(lastTime * 1000).toISOString(),
          result: total(reg, M.lastReloadSuccess) === 1 ? "ok" : "rejected",
          ...inputs.lastReload,
        }
        : null,
    },
    memory: { rss_bytes: total(reg, M.rss), heap_used_bytes: total(reg, M.heap) },
    live_clients: total(reg, M.sseClients),
    live_dropped: total(reg, M.sseDropped),
  };
}
