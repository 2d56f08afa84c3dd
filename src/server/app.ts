/**
 * The agent's HTTP API as a Hono app (served by Node's HTTP server, see server.ts):
 *
 * - GET /healthz (path configurable): `{"status":"ok"}`, or 503 with the reason when the pipeline
 *   has stopped or stalled; `warnings` lists what is unsafe about the set-up (an API open to other
 *   hosts without a token). Never needs a token (Kubernetes probes).
 * - GET /versions: Saker, engine and runtime versions.
 * - GET /metrics: Prometheus text format.
 * - GET /alerts: stored alerts, newest first, filtered (since, until, rule, priority, source,
 *   tag) and paginated (limit, before = the previous page's `next`); `view=each` (default) lists
 *   every stored alert (summaries carry their `aggregate` counts), `view=aggregated` one entry per
 *   aggregation key and chain of windows, with its `occurrences`.
 * - GET /alerts/stream: server-sent events, one `alert` event per matching alert as it happens
 *   (same filters).
 * - GET /alerts/counts, /alerts/top, /alerts/ID, /rules, /status: summaries for the dashboard and
 *   other clients (src/server/summaries.ts).
 * - GET /tune: the tuning assistant's proposals from the store (src/server/tune.ts).
 * - GET / and /ui/*: the alert dashboard's page and files (src/server/dashboard.ts).
 * - Webhook sources (Kubernetes audit ...) mount their routes with {@link mountSource}.
 *
 * With a token configured, every route but the health check and the dashboard's files (which
 * hold no data) needs `Authorization: Bearer TOKEN`.
 * Request bodies above the configured size get 413 before they are read.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE } from "hono/streaming";
import type { Registry } from "../metrics.ts";
import { FilterError, parseAlertFilter } from "../outputs/alert_filter.ts";
import { alertPageJson, type AlertStore } from "../outputs/alert_store.ts";
import type { RuleEntry } from "../rules/ruleset.ts";
import type { LiveAlerts } from "./live_alerts.ts";
import { isDashboardPath, mountDashboard } from "./dashboard.ts";
import { mountSummaries } from "./summaries.ts";
import { mountTune } from "./tune.ts";
import { BodyError } from "../http_body.ts";

/** What the API serves, provided by the running agent. */
export interface ApiDeps {
  /** Pipeline health: ok, or the reason it is not. */
  health(): { ok: boolean; reason?: string };
  versions(): Record<string, string>;
  registry: Registry;
  /** The alert store (GET /alerts answers 404 without one). */
  store?: AlertStore;
  live: LiveAlerts;
  /** Bearer token; empty or undefined: no authentication. */
  authToken?: string;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** Health check path (default /healthz). */
  healthzPath?: string;
  /** Serve /metrics (default true). */
  metricsEnabled?: boolean;
  /** Seconds between SSE keep-alive comments (default 15). */
  keepAliveSeconds?: number;
  /** Every loaded rule, running or not (GET /rules). */
  rules?: () => readonly RuleEntry[];
  /** The last reload's trigger and first error line (GET /status). */
  lastReload?: () => { reason?: string; error?: string } | undefined;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  /** What is unsafe about the agent's set-up (an API open without a token), for /healthz. */
  healthWarnings?: readonly string[];
}

/** Compares two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

const JSON_TYPE = "application/json";

function problem(status: number, error: string, extra: Record<string, unknown> = {}): Response {
  return new Response(JSON.stringify({ error, ...extra }), {
    status,
    headers: { "content-type": JSON_TYPE },
  });
}

/** Builds the API app. */
export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();
  const healthz = deps.healthzPath ?? "/healthz";
  const token = deps.authToken ?? "";
  const dashboard = deps.dashboard ?? true;

  const limit = bodyLimit({
    maxSize: deps.maxBodyBytes,
    onError: () => problem(413, "request body too large", { limit_bytes: deps.maxBodyBytes }),
  });
  const own = new Set<string>();
  ownBodyLimits.set(app, own);
  app.use("*", (c, next) => {
    for (const p of own) if (c.req.path === p || c.req.path.startsWith(`${p}/`)) return next();
    return limit(c, next);
  });

  const ownAuth = new Set<string>();
  ownAuthPaths.set(app, ownAuth);
  app.use("*", async (c, next) => {
    if (token === "" || c.req.path === healthz) return await next();
    for (const p of ownAuth) {
      if (c.req.path === p || c.req.path.startsWith(`${p}/`)) return await next();
    }
    if (dashboard && c.req.method === "GET" && isDashboardPath(c.req.path)) return await next();
    const auth = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (!m) {
      return new Response(JSON.stringify({ error: "missing bearer token" }), {
        status: 401,
        headers: { "content-type": JSON_TYPE, "www-authenticate": 'Bearer realm="saker"' },
      });
    }
    if (!constantTimeEqual(m[1].trim(), token)) {
      return new Response(JSON.stringify({ error: "invalid bearer token" }), {
        status: 401,
        headers: {
          "content-type": JSON_TYPE,
          "www-authenticate": 'Bearer realm="saker", error="invalid_token"',
        },
      });
    }
    await next();
  });

  const warnings = deps.healthWarnings?.length ? { warnings: deps.healthWarnings } : {};
  app.get(healthz, () => {
    const h = deps.health();
    if (h.ok) {
      return new Response(JSON.stringify({ status: "ok", ...warnings }), {
        headers: { "content-type": JSON_TYPE },
      });
    }
    return problem(503, h.reason ?? "unhealthy", { status: "unhealthy", ...warnings });
  });

  app.get("/versions", (c) => c.json(deps.versions()));

  if (deps.metricsEnabled ?? true) {
    app.get("/metrics", () =>
      new Response(deps.registry.render(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      }));
  }

  app.get("/alerts", (c) => {
    if (!deps.store) return problem(404, "the alert store is disabled (alert_store.enabled)");
    const params = new URL(c.req.url).searchParams;
    let filter;
    try {
      filter = parseAlertFilter(params);
    } catch (err) {
      if (err instanceof FilterError) return problem(400, err.message);
      throw err;
    }
    const limitText = params.get("limit");
    const beforeText = params.get("before");
    const limit = limitText === null ? 100 : Number(limitText);
    const before = beforeText === null ? undefined : Number(beforeText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      return problem(400, "limit: expected an integer from 1 to 10000");
    }
    if (before !== undefined && (!Number.isInteger(before) || before < 1)) {
      return problem(400, "before: expected an alert id (the previous page's next)");
    }
    const view = params.get("view") ?? "each";
    if (view !== "each" && view !== "aggregated") {
      return problem(
        400,
        "view: expected each (every stored alert; summaries with their counts) or aggregated " +
          "(one entry per aggregation key and chain of windows)",
      );
    }
    const page = deps.store.query(filter, { limit, before, view });
    return new Response(alertPageJson(page), { headers: { "content-type": JSON_TYPE } });
  });

  app.get("/alerts/stream", (c) => {
    let filter;
    try {
      filter = parseAlertFilter(new URL(c.req.url).searchParams);
    } catch (err) {
      if (err instanceof FilterError) return problem(400, err.message);
      throw err;
    }
    const sub = deps.live.subscribe(filter);
    const keepAliveMs = (deps.keepAliveSeconds ?? 15) * 1000;
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => sub.close());
      // A first comment makes clients (and proxies) see the stream as open at once.
      await stream.write(": subscribed\n\n");
      let id = 0;
      while (!stream.aborted && !stream.closed) {
        const batch = await sub.next(keepAliveMs);
        if (batch === undefined) break;
        if (batch.length === 0) {
          await stream.write(": keep-alive\n\n");
          continue;
        }
        for (const a of batch) {
          await stream.writeSSE({ event: "alert", id: String(++id), data: a.json });
        }
      }
      sub.close();
    });
  });

  mountSummaries(app, deps);
  mountTune(app, deps);
  if (dashboard) mountDashboard(app);

  app.notFound(() => problem(404, "not found"));
  app.onError((err) =>
    err instanceof BodyError ? problem(err.status, err.message) : problem(500, err.message)
  );
  return app;
}

/** Paths of mounted sources that limit their request bodies themselves, per app. */
const ownBodyLimits = new WeakMap<Hono, Set<string>>();

/** Paths of mounted sources that authenticate requests themselves (signed webhooks), per app. */
const ownAuthPaths = new WeakMap<Hono, Set<string>>();

/**
 * Mounts a webhook event source (e.g. Kubernetes audit) under `path` of the API app; it gets the
 * same authentication as every other route unless `ownAuth` says that the source checks requests
 * itself (GitHub signs its webhooks with a shared secret and sends no bearer token), and the same
 * body limit unless `ownBodyLimit` says that the source enforces its own (audit batches are
 * larger than API requests).
 */
export function mountSource(
  app: Hono,
  path: string,
  source: Hono,
  opts: { ownBodyLimit?: boolean; ownAuth?: boolean } = {},
): void {
  if (opts.ownBodyLimit) ownBodyLimits.get(app)?.add(path);
  if (opts.ownAuth) ownAuthPaths.get(app)?.add(path);
  app.route(path, source);
}
