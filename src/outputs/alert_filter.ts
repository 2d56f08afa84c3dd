/**
 * Alert filters shared by the alert store queries (GET /alerts) and live subscriptions
 * (GET /alerts/stream): time range, rule names, minimum priority, sources and tags. Parsed from
 * URL query parameters with precise errors; matched in memory for live alerts and turned into SQL
 * by the store.
 *
 * @example
 * ```ts
 * import { parseAlertFilter } from "./alert_filter.ts";
 * const f = parseAlertFilter(new URLSearchParams("priority=warning&rule=Terminal shell&since=1h"));
 * ```
 * @module
 */
import {
  type Alert,
  parsePriority,
  PRIORITIES,
  type Priority,
  priorityRank,
} from "../rules/alert.ts";

/** What alerts to return. Every given criterion must hold. */
export interface AlertFilter {
  /** Event time at or after, UTC ns. */
  since?: bigint;
  /** Event time before, UTC ns. */
  until?: bigint;
  /** Any of these rule names. */
  rules?: string[];
  /** This priority or a more severe one. */
  priority?: Priority;
  /** Any of these sources. */
  sources?: string[];
  /** All of these tags. */
  tags?: string[];
}

/** A bad filter parameter. */
export class FilterError extends Error {
  constructor(readonly param: string, message: string) {
    super(`${param}: ${message}`);
    this.name = "FilterError";
  }
}

const UNITS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses a duration like `90s`, `15m`, `1h30m`, `7d` into seconds; undefined if malformed. */
export function parseDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;
  let total = 0;
  let pos = 0;
  const t = s.trim();
  if (t === "") return undefined;
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

/**
 * Parses a point in time: RFC 3339 (`2026-01-02T03:04:05.123456789Z`), an integer (seconds since
 * the epoch up to 12 digits, nanoseconds beyond), or a duration meaning "that long ago" (`15m`).
 */
export function parseTime(s: string, nowMs = Date.now()): bigint | undefined {
  if (/^\d+$/.test(s)) return s.length <= 12 ? BigInt(s) * 1_000_000_000n : BigInt(s);
  const ago = parseDuration(s);
  if (ago !== undefined) return BigInt(Math.round(nowMs - ago * 1000)) * 1_000_000n;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(m[1] + (m[3] === "Z" ? "Z" : m[3].replace(/(\d\d)(\d\d)$/, "$1:$2")));
  if (Number.isNaN(ms)) return undefined;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0"));
  return BigInt(ms) * 1_000_000n + frac;
}

function list(params: URLSearchParams, name: string): string[] | undefined {
  const vals = params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) =>
    v !== ""
  );
  return vals.length > 0 ? vals : undefined;
}

/** Reads a filter from query parameters: since, until, rule, priority, source, tag. */
export function parseAlertFilter(params: URLSearchParams, nowMs = Date.now()): AlertFilter {
  const f: AlertFilter = {};
  for (const name of ["since", "until"] as const) {
    const v = params.get(name);
    if (v === null) continue;
    const t = parseTime(v, nowMs);
    if (t === undefined) {
      throw new FilterError(
        name,
        `'${v}' is not a time: use RFC 3339 (2026-01-02T03:04:05Z), seconds or nanoseconds ` +
          `since the epoch, or a duration ago (15m, 2h, 7d)`,
      );
    }
    f[name] = t;
  }
  // Rule names may contain commas, so each `rule` parameter is one name.
  const rules = params.getAll("rule").filter((r) => r !== "");
  if (rules.length > 0) f.rules = rules;
  const p = params.get("priority");
  if (p !== null) {
    const pr = parsePriority(p);
    if (!pr) {
      throw new FilterError(
        "priority",
        `'${p}' is not a priority: use one of ${PRIORITIES.map((x) => x.toLowerCase()).join(", ")}`,
      );
    }
    f.priority = pr;
  }
  f.sources = list(params, "source");
  f.tags = list(params, "tag");
  if (!f.sources) delete f.sources;
  if (!f.tags) delete f.tags;
  return f;
}

/** True when the alert passes the filter. */
export function matchesFilter(a: Alert, f: AlertFilter): boolean {
  if (f.since !== undefined && a.time < f.since) return false;
  if (f.until !== undefined && a.time >= f.until) return false;
  if (f.rules && !f.rules.includes(a.rule)) return false;
  if (f.priority && priorityRank(a.priority) > priorityRank(f.priority)) return false;
  if (f.sources && !f.sources.includes(a.source)) return false;
  if (f.tags && !f.tags.every((t) => a.tags.includes(t))) return false;
  return true;
}
