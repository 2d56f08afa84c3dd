/**
 * The JSON endpoints the dashboard reads beyond /alerts, public API like the rest (same token):
 *
 * - GET /alerts/counts: alerts per time bucket and per priority, rule, source, host, container
 *   or process (`by`), between `since` (default 1h ago) and `until` (default now) in buckets of
 *   `step` (default a sixtieth of the range); the /alerts filters apply.
 * - GET /alerts/top: the most frequent values of `by` (default rule), `limit` of them (default
 *   10); the /alerts filters apply.
 * - GET /alerts/ID: one stored alert.
 * - GET /rules: every loaded rule with priority, source, tags, description, whether it runs, and
 *   its alerts (in the store, and raised since the agent started).
 * - GET /status: the agent's state from the metrics registry (src/server/status.ts).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { mountSummaries } from "./summaries.ts";
 * const app = new Hono();
 * mountSummaries(app, { registry, store, rules: () => [], health: () => ({ ok: true }) });
 * // GET /alerts/counts?since=1d&step=1h&by=rule&priority=warning
 * ```
 * @module
 */
import type { Hono } from "hono";
import type { Registry } from "../metrics.ts";
import { FilterError, parseAlertFilter } from "../outputs/alert_filter.ts";
import { parseDuration } from "../rules/duration.ts";
import { GROUP_KEYS, type GroupKey, isGroupKey } from "../outputs/alert_sql.ts";
import { type AlertStore, storedAlertJson } from "../outputs/alert_store.ts";
import { rfc3339Nano } from "../outputs/format.ts";
import type { RuleEntry } from "../rules/ruleset.ts";
import { RateMeter, STATUS_METRICS, statusSummary } from "./status.ts";

/** What the summaries read from the running agent. */
export interface SummaryDeps {
  registry: Registry;
  store?: AlertStore;
  /** Every loaded rule (none: GET /rules lists nothing). */
  rules?: () => readonly RuleEntry[];
  health: () => { ok: boolean; reason?: string };
  /** The last reload's trigger and first error line. */
  lastReload?: () => { reason?: string; error?: string } | undefined;
}

const JSON_TYPE = "application/json";
const MAX_BUCKETS = 1000;
const MAX_SERIES = 50;
const MAX_TOP = 1000;

function problem(status: number, error: string): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": JSON_TYPE },
  });
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: { "content-type": JSON_TYPE } });
}

function intParam(params: URLSearchParams, name: string, dflt: number, max: number): number {
  const text = params.get(name);
  if (text === null) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new FilterError(name, `expected an integer from 1 to ${max}`);
  }
  return n;
}

function groupParam(params: URLSearchParams, dflt: GroupKey): GroupKey {
  const by = params.get("by") ?? dflt;
  if (!isGroupKey(by)) {
    throw new FilterError("by", `'${by}' is not one of ${Object.keys(GROUP_KEYS).join(", ")}`);
  }
  return by;
}

/** Runs a handler that may throw FilterError (400) and needs the store (404 without). */
function withStore(
  deps: SummaryDeps,
  f: (store: AlertStore, params: URLSearchParams) => Response,
): (c: { req: { url: string } }) => Response {
  return (c) => {
    if (!deps.store) return problem(404, "the alert store is disabled (alert_store.enabled)");
    try {
      return f(deps.store, new URL(c.req.url).searchParams);
    } catch (err) {
      if (err instanceof FilterError) return problem(400, err.message);
      throw err;
    }
  };
}

/** Adds the summary routes to the API app (before its catch-all 404). */
export function mountSummaries(app: Hono, deps: SummaryDeps): void {
  app.get(
    "/alerts/counts",
    withStore(deps, (store, params) => {
      const nowMs = Date.now();
      const filter = parseAlertFilter(params, nowMs);
      const until = filter.until ?? BigInt(nowMs) * 1_000_000n;
      const since = filter.since ?? until - 3600n * 1_000_000_000n;
      if (since >= until) throw new FilterError("since", "must be before until");
      const stepText = params.get("step");
      let stepNs: bigint;
      if (stepText === null) {
        stepNs = (until - since + 59n) / 60n;
      } else {
        const s = parseDuration(stepText);
        if (s === undefined || s <= 0) {
          throw new FilterError("step", `'${stepText}' is not a duration (30s, 5m, 1h)`);
        }
        stepNs = BigInt(Math.round(s * 1e9));
      }
      const steps = Number((until - since + stepNs - 1n) / stepNs);
      if (steps > MAX_BUCKETS) {
        throw new FilterError("step", `makes ${steps} buckets; at most ${MAX_BUCKETS}`);
      }
      const by = groupParam(params, "priority");
      const maxSeries = intParam(params, "series", 10, MAX_SERIES);
      const counts = store.counts(filter, by, since, stepNs, steps);
      const kept = counts.series.slice(0, maxSeries);
      const rest = counts.series.slice(maxSeries);
      const body: Record<string, unknown> = {
        since: rfc3339Nano(since),
        until: rfc3339Nano(since + stepNs * BigInt(steps)),
        step_seconds: Number(stepNs) / 1e9,
        by,
        total: counts.total,
        series: kept,
      };
      if (rest.length > 0) {
        const sum = new Array(steps).fill(0);
        for (const s of rest) s.counts.forEach((n, i) => sum[i] += n);
        body.other = {
          keys: rest.length,
          counts: sum,
          total: rest.reduce((x, s) => x + s.total, 0),
        };
      }
      return json(body);
    }),
  );

  app.get(
    "/alerts/top",
    withStore(deps, (store, params) => {
      const filter = parseAlertFilter(params);
      const by = groupParam(params, "rule");
      const limit = intParam(params, "limit", 10, MAX_TOP);
      return json({ by, total: store.occurrences(filter), entries: store.top(filter, by, limit) });
    }),
  );

  app.get("/alerts/:id{[0-9]+}", (c) => {
    if (!deps.store) return problem(404, "the alert store is disabled (alert_store.enabled)");
    const a = deps.store.get(Number(c.req.param("id")));
    if (!a) return problem(404, `no alert ${c.req.param("id")} in the store`);
    return new Response(storedAlertJson(a), { headers: { "content-type": JSON_TYPE } });
  });

  app.get("/rules", () => {
    const rules = deps.rules?.() ?? [];
    const stored = new Map(
      (deps.store?.top({}, "rule", Math.max(1, rules.length + 100)) ?? []).map((e) => [
        e.value,
        e.count,
      ]),
    );
    const raised = new Map<string, number>();
    for (const e of deps.registry.family(STATUS_METRICS.alerts)?.entries() ?? []) {
      raised.set(e.labels[0], (raised.get(e.labels[0]) ?? 0) + e.value);
    }
    return json({
      rules: rules.map((r) => ({
        name: r.name,
        source: r.source,
        priority: r.priority,
        tags: r.tags,
        enabled: r.enabled,
        description: r.description,
        alerts: stored.get(r.name) ?? 0,
        alerts_since_start: raised.get(r.name) ?? 0,
      })),
    });
  });

  const meter = new RateMeter();
  app.get("/status", () =>
    json(statusSummary(deps.registry, {
      health: deps.health(),
      meter,
      lastReload: deps.lastReload?.(),
    })));
}
