/**
 * Alert formatting in the two shapes Falco consumers expect, so that falcosidekick and friends
 * take Saker's alerts unchanged:
 *
 * - text: `HH:MM:SS.nnnnnnnnn: Priority output` (local time), or with `time_format_iso_8601`
 *   `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000: Priority output` (UTC);
 * - JSON: one object with sorted keys `hostname, output, output_fields, priority, rule, source,
 *   tags, time`, where `time` is RFC 3339 UTC with nanoseconds and `output_fields` carries the
 *   typed values of the output's fields plus the event time (`evt.time`, or `evt.time.iso8601`)
 *   as integer nanoseconds.
 *
 * A summary alert (an aggregation window closed, or an output's rate limit held alerts back) is the
 * last occurrence's alert with ` (N more like this in T)` after its output and, in JSON, an
 * `aggregate` object: `count`, `first`, `last`, `since` (RFC 3339 times), `reason` (`window` or
 * `rate_limit`), `key`, `samples` of the fields that differed, `more`, `group` and `output`.
 *
 * Internal alerts (source `internal`, e.g. the syscall event drop alert) follow Falco's other
 * shape: the message has no time prefix inside `output`, JSON has no tags, and the text form lists
 * the fields after the message as `(key="value" ...)`.
 *
 * Everything here is pure: the formatter is built once from the config and shared.
 *
 * @example
 * ```ts
 * import { AlertFormatter } from "./format.ts";
 * const f = new AlertFormatter({ hostname: "node-1", timeFormatIso8601: true });
 * const alert = {
 *   time: 1470327477881781397n, rule: "open_from_cat", priority: "Warning" as const,
 *   source: "syscall", tags: ["filesystem"], output: "An open was seen (command=cat /dev/null)",
 *   outputFields: { "proc.cmdline": "cat /dev/null" },
 * };
 * f.text(alert); // "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=...)"
 * f.json(alert); // {"hostname":"node-1","output":"2016-08-04T16:17:57.881781397+0000: ...
 * ```
 * @module
 */
import type { ActionOutcome, AggregateInfo, Alert } from "../rules/alert.ts";
import { formatDuration } from "../rules/duration.ts";

/** Source name of alerts that Saker itself raises (drops, reload failures, metrics). */
export const INTERNAL_SOURCE = "internal";

/** Options of the formatter, from the config keys of the same names. */
export interface FormatOptions {
  /** `hostname` in JSON alerts. */
  hostname: string;
  /** `time_format_iso_8601`: ISO 8601 UTC time prefix instead of local `HH:MM:SS.ns`. */
  timeFormatIso8601?: boolean;
  /** `json_include_output_property` (default true). */
  includeOutput?: boolean;
  /** `json_include_output_fields_property` (default true). */
  includeOutputFields?: boolean;
  /** `json_include_tags_property` (default true). */
  includeTags?: boolean;
  /** `json_include_message_property`: the output without time and priority (default false). */
  includeMessage?: boolean;
  /** Offset of local time from UTC in minutes at a given instant (tests pin it). */
  localOffsetMinutes?: (ms: number) => number;
}

const NS_PER_S = 1_000_000_000n;

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function splitNs(ts: bigint): { sec: number; ns: number } {
  let sec = ts / NS_PER_S;
  let ns = ts % NS_PER_S;
  if (ns < 0n) {
    ns += NS_PER_S;
    sec -= 1n;
  }
  return { sec: Number(sec), ns: Number(ns) };
}

let lastSec = NaN;
let lastSecText = "";

function utcDateTime(sec: number): string {
  // Alerts come in bursts within the same second: keep the last conversion.
  if (sec === lastSec) return lastSecText;
  const d = new Date(sec * 1000);
  lastSecText = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-` +
    `${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:` +
    `${pad(d.getUTCSeconds(), 2)}`;
  lastSec = sec;
  return lastSecText;
}

/** RFC 3339 UTC time with nanoseconds, as in the `time` property: `2016-08-04T16:17:57.881781397Z`. */
export function rfc3339Nano(ts: bigint): string {
  const { sec, ns } = splitNs(ts);
  return `${utcDateTime(sec)}.${pad(ns, 9)}Z`;
}

/** ISO 8601 time as `evt.time.iso8601` prints it: `2016-08-04T16:17:57.881781397+0000`. */
export function iso8601Nano(ts: bigint): string {
  const { sec, ns } = splitNs(ts);
  return `${utcDateTime(sec)}.${pad(ns, 9)}+0000`;
}

/** The system's offset of local time from UTC, in minutes, at `ms` since the epoch. */
export function systemOffsetMinutes(ms: number): number {
  return -new Date(ms).getTimezoneOffset();
}

/** Time of day as `evt.time` prints it: `16:17:57.881781397` in local time. */
export function timeOfDayNano(
  ts: bigint,
  offsetMinutes: (ms: number) => number = systemOffsetMinutes,
): string {
  const { sec, ns } = splitNs(ts);
  const local = sec + offsetMinutes(sec * 1000) * 60;
  const s = ((local % 86400) + 86400) % 86400;
  return `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor((s % 3600) / 60), 2)}:${
    pad(s % 60, 2)
  }` +
    `.${pad(ns, 9)}`;
}

/** Already serialised JSON, inserted as is by {@link jsonValue}. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A JSON object with keys in sorted order (the order Falco's JSON library writes). */
export function sortedObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj).sort(byCodePoint);
  let s = "{";
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) s += ",";
    s += JSON.stringify(keys[i]) + ":" + jsonValue(obj[keys[i]]);
  }
  return s + "}";
}

/**
 * JSON text of a value: like JSON.stringify, but bigints print as exact integers (64-bit values
 * such as nanosecond times must not lose digits through a double).
 */
export function jsonValue(v: unknown): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
    case "undefined":
      return "null";
  }
  if (v === null) return "null";
  if (v instanceof RawJson) return v.text;
  if (Array.isArray(v)) return "[" + v.map(jsonValue).join(",") + "]";
  // A replacer function takes V8 off its fast path: only for the rare nested object.
  return JSON.stringify(v, bigintAsString);
}

function bigintAsString(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Escapes control characters, quotes and backslashes as JSON does, without the quotes. */
function escapeLikeJson(s: string): string {
  // Fast path: most outputs have nothing to escape.
  // deno-lint-ignore no-control-regex
  if (!/["\\\x00-\x1f]/.test(s)) return s;
  const j = JSON.stringify(s);
  return j.slice(1, -1);
}

/** Formats alerts as text lines and JSON objects; one instance per config. */
export class AlertFormatter {
  readonly hostname: string;
  readonly iso: boolean;
  readonly includeOutput: boolean;
  readonly includeOutputFields: boolean;
  readonly includeTags: boolean;
  readonly includeMessage: boolean;
  readonly #offset: (ms: number) => number;
  readonly #hostnameJson: string;
  #prefixSec = NaN;
  #prefixText = "";

  constructor(opts: FormatOptions) {
    this.hostname = opts.hostname;
    this.iso = opts.timeFormatIso8601 ?? false;
    this.includeOutput = opts.includeOutput ?? true;
    this.includeOutputFields = opts.includeOutputFields ?? true;
    this.includeTags = opts.includeTags ?? true;
    this.includeMessage = opts.includeMessage ?? false;
    this.#offset = opts.localOffsetMinutes ?? systemOffsetMinutes;
    this.#hostnameJson = JSON.stringify(opts.hostname);
  }

  /** The time prefix of a text alert (`evt.time` or `evt.time.iso8601`). */
  timePrefix(ts: bigint): string {
    if (this.iso) return iso8601Nano(ts);
    // The local offset only changes between seconds (and rarely): reuse the last second's text.
    const { sec, ns } = splitNs(ts);
    if (sec !== this.#prefixSec) {
      this.#prefixSec = sec;
      this.#prefixText = timeOfDayNano(BigInt(sec) * NS_PER_S, this.#offset).slice(0, 8);
    }
    return `${this.#prefixText}.${pad(ns, 9)}`;
  }

  /** The full output line before escaping: time, priority and the rule's resolved output. */
  fullOutput(a: Alert): string {
    const more = a.aggregate ? moreText(a.aggregate) : "";
    if (a.source === INTERNAL_SOURCE) return a.output + more;
    return `${this.timePrefix(a.time)}: ${a.priority} ${a.output}${more}`;
  }

  /** The text form of an alert (one line, no newline). */
  text(a: Alert): string {
    if (a.source === INTERNAL_SOURCE) {
      // Internal messages always use the time of day, and list their fields after the message.
      let s = `${timeOfDayNano(a.time, this.#offset)}: ${a.priority} ${a.output}`;
      if (a.aggregate) s += moreText(a.aggregate);
      const keys = Object.keys(a.outputFields).sort(byCodePoint);
      if (keys.length > 0) {
        s += " (" + keys.map((k) => `${k}=${jsonValue(a.outputFields[k])}`).join(" ") + ")";
      }
      return s;
    }
    // Control characters and quotes print escaped, so one alert is always one line.
    return escapeLikeJson(this.fullOutput(a));
  }

  /** `output_fields` as JSON text: the alert's fields plus the event time field. */
  fieldsJson(a: Alert): string {
    const f = a.outputFields;
    const keys = Object.keys(f);
    let timeKey: string | undefined;
    if (a.source !== INTERNAL_SOURCE) {
      // The time prefix's field, as integer nanoseconds (it wins over a rule's own %evt.time).
      timeKey = this.iso ? "evt.time.iso8601" : "evt.time";
      if (!(timeKey in f)) keys.push(timeKey);
    }
    keys.sort(byCodePoint);
    let s = "{";
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (i > 0) s += ",";
      s += JSON.stringify(k) + ":" + (k === timeKey ? a.time.toString() : jsonValue(f[k]));
    }
    return s + "}";
  }

  /** The JSON form of an alert (one line, no newline). */
  json(a: Alert): string {
    // Keys written directly in sorted order (the order Falco's JSON library uses).
    const internal = a.source === INTERNAL_SOURCE;
    let s = a.aggregate
      ? `{"aggregate":${aggregateJson(a.aggregate)},"hostname":${this.#hostnameJson}`
      : `{"hostname":${this.#hostnameJson}`;
    if (!internal && this.includeMessage) s += `,"message":${JSON.stringify(a.output)}`;
    if (internal || this.includeOutput) s += `,"output":${JSON.stringify(this.fullOutput(a))}`;
    if (internal || this.includeOutputFields) s += `,"output_fields":${this.fieldsJson(a)}`;
    s += `,"priority":${JSON.stringify(a.priority)}`;
    if (a.response?.outcomes) s += `,"response":${responseJson(a.response.outcomes)}`;
    s += `,"rule":${JSON.stringify(a.rule)},"source":${JSON.stringify(a.source)}`;
    if (!internal && this.includeTags) {
      const tags = a.tags.length > 1 ? [...new Set(a.tags)].sort(byCodePoint) : a.tags;
      s += `,"tags":${jsonValue(tags)}`;
    }
    return s + `,"time":"${rfc3339Nano(a.time)}"}`;
  }
}

/** What a summary adds to its output: ` (N more like this in T)`, and why when rate limited. */
export function moreText(g: AggregateInfo): string {
  const span = formatDuration(Number(g.last - g.since) / 1e9);
  const why = g.reason === "rate_limit" ? `, held back by the rate limit of ${g.output}` : "";
  return ` (${g.count} more like this in ${span}${why})`;
}

/**
 * The `response` list of an alert whose rule has actions: one object per action (`action`,
 * `mode`, `result`, `pid`, `container`, `detail`), sorted keys.
 */
export function responseJson(outcomes: readonly ActionOutcome[]): string {
  return "[" + outcomes.map((o) => sortedObject({ ...o })).join(",") + "]";
}

/** The `aggregate` object of a summary alert as JSON (sorted keys, RFC 3339 times). */
export function aggregateJson(g: AggregateInfo): string {
  const o: Record<string, unknown> = {
    count: g.count,
    first: rfc3339Nano(g.first),
    last: rfc3339Nano(g.last),
    reason: g.reason,
    samples: new RawJson(sortedObject(g.samples)),
    since: rfc3339Nano(g.since),
  };
  if (g.key) o.key = new RawJson(sortedObject(g.key));
  if (g.more) o.more = g.more;
  if (g.group) o.group = g.group;
  if (g.output) o.output = g.output;
  return sortedObject(o);
}
