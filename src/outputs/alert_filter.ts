/**
 * Alert filters shared by the alert store queries (GET /alerts and the counts built on it) and
 * live subscriptions (GET /alerts/stream): time range, rule names, minimum priority, sources,
 * tags, containers, process names, host names and free text. Parsed from URL query parameters with precise
 * errors; matched in memory for live alerts and turned into SQL by the store, with the same
 * meaning (a test runs one case table through both).
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
import { parseDuration } from "../rules/duration.ts";

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
  /** Any of these containers, by `container.name` or `container.id` (output fields). */
  containers?: string[];
  /** Any of these process names (`proc.name` output field). */
  processes?: string[];
  /** Any of these host names (the agent that raised the alert: a collector stores many). */
  hostnames?: string[];
  /** Text in the output or the rule name, ignoring the case of ASCII letters. */
  text?: string;
}

/** The output fields the container and process filters read. */
export const FILTER_FIELDS = {
  containerName: "container.name",
  containerId: "container.id",
  process: "proc.name",
} as const;

/** A bad filter parameter. */
export class FilterError extends Error {
  constructor(readonly param: string, message: string) {
    super(`${param}: ${message}`);
    this.name = "FilterError";
  }
}

/**
 * Parses a point in time: RFC 3339 (`2026-01-02T03:04:05.123456789Z`), an integer (seconds since
 * the epoch up to 12 digits, nanoseconds beyond), or a duration meaning "that long ago" (`15m`).
 */
export function parseTime(s: string, nowMs = Date.now()): bigint | undefined {
  if (/^\d+$/.test(s)) return clampNs(s.length <= 12 ? BigInt(s) * 1_000_000_000n : BigInt(s));
  const ago = parseDuration(s);
  if (ago !== undefined) {
    const ms = nowMs - ago * 1000;
    return Number.isFinite(ms) ? clampNs(BigInt(Math.round(ms)) * 1_000_000n) : undefined;
  }
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(m[1] + (m[3] === "Z" ? "Z" : m[3].replace(/(\d\d)(\d\d)$/, "$1:$2")));
  if (Number.isNaN(ms)) return undefined;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0"));
  return BigInt(ms) * 1_000_000n + frac;
}

/** Times are kept as signed 64-bit nanoseconds since the epoch: before 1970 is 1970. */
const MAX_NS = (1n << 63n) - 1n;

function clampNs(ns: bigint): bigint {
  return ns < 0n ? 0n : ns > MAX_NS ? MAX_NS : ns;
}

function list(params: URLSearchParams, name: string): string[] | undefined {
  const vals = params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) =>
    v !== ""
  );
  return vals.length > 0 ? vals : undefined;
}

/**
 * Reads a filter from query parameters: since, until, rule, priority, source, tag, container,
 * process, hostname, q (free text).
 */
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
  const lists = {
    sources: "source",
    tags: "tag",
    containers: "container",
    processes: "process",
    hostnames: "hostname",
  };
  for (const [key, name] of Object.entries(lists) as [keyof typeof lists, string][]) {
    const vals = list(params, name);
    if (vals) f[key] = vals;
  }
  const q = params.get("q")?.trim();
  if (q) f.text = q;
  return f;
}

/** Lower case of ASCII letters only (what SQLite's LIKE folds), so both sides agree. */
export function foldAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function fieldText(a: Alert, name: string): string | undefined {
  const v = a.outputFields[name];
  return v === null || v === undefined ? undefined : String(v);
}

/**
 * True when the alert passes the filter. `output` is the text the free-text filter reads: the
 * output as stored and sent (with its time and priority prefix), which callers holding the
 * formatted alert pass so that live and stored alerts match alike; `hostname` is the host the
 * alert comes from.
 */
export function matchesFilter(
  a: Alert,
  f: AlertFilter,
  output: () => string = () => a.output,
  hostname?: string,
): boolean {
  if (f.hostnames && (hostname === undefined || !f.hostnames.includes(hostname))) return false;
  if (f.since !== undefined && a.time < f.since) return false;
  if (f.until !== undefined && a.time >= f.until) return false;
  if (f.rules && !f.rules.includes(a.rule)) return false;
  if (f.priority && priorityRank(a.priority) > priorityRank(f.priority)) return false;
  if (f.sources && !f.sources.includes(a.source)) return false;
  if (f.tags && !f.tags.every((t) => a.tags.includes(t))) return false;
  if (f.containers) {
    const name = fieldText(a, FILTER_FIELDS.containerName);
    const id = fieldText(a, FILTER_FIELDS.containerId);
    if (!f.containers.some((c) => c === name || c === id)) return false;
  }
  if (f.processes) {
    const p = fieldText(a, FILTER_FIELDS.process);
    if (p === undefined || !f.processes.includes(p)) return false;
  }
  if (f.text !== undefined) {
    const t = foldAscii(f.text);
    if (!foldAscii(output()).includes(t) && !foldAscii(a.rule).includes(t)) return false;
  }
  return true;
}
