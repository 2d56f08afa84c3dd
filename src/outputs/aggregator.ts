/**
 * Lossless aggregation of repeated alerts. An alert whose rule aggregates (it carries a
 * `grouping`: the rule's key fields and windows, see rules/aggregation.ts) is keyed by its rule
 * and the values of those fields:
 *
 * - the first alert of a key goes out at once and opens a window;
 * - repeats within the window are counted, not sent; each pushes the window's end to `window`
 *   after it, but never past `max_window` after the window opened;
 * - when the window closes with repeats in it, one summary alert goes out: the last repeat's
 *   alert with an `aggregate` object (count, first and last time, the key, a sample of each field
 *   that differed) and a new window opens at once, so a steady stream reports every
 *   `max_window`; a window that closes without repeats ends the key, and its next alert goes out
 *   at once again.
 *
 * Nothing is dropped: every alert is either sent or counted into a summary that is sent (at the
 * latest when the agent stops: {@link AlertAggregator.flush}). The number of open keys is bounded
 * (`maxKeys`): past it, a new key's alerts are aggregated under their rule alone (the key then
 * says `aggregate.overflow`), so a storm of distinct keys costs bounded memory, loses nothing, and
 * another rule's first alert still goes out at once.
 *
 * Pure logic: the caller supplies the time and sends what comes back.
 *
 * @example
 * ```ts
 * import { AlertAggregator } from "./aggregator.ts";
 * const agg = new AlertAggregator({ samples: 5, maxKeys: 10_000 });
 * agg.offer(alert, 0);      // true: send it
 * agg.offer(alert, 100);    // false: counted
 * agg.due(61_000);          // [summary]: "1 more like this"
 * ```
 * @module
 */
import type {
  AggregateInfo,
  AggregationSettings,
  Alert,
  OutputFieldValue,
} from "../rules/alert.ts";

/** Aggregator settings (config: aggregation.samples, aggregation.max_keys). */
export interface AggregatorOptions {
  /** Distinct values kept per differing field in a summary. */
  samples: number;
  /** Most keys with an open window; past it, new keys fold into their rule's overflow key. */
  maxKeys: number;
}

/** Output fields whose values differ for every alert and say nothing a summary's times do not. */
const TIME_FIELDS = /^evt\.(time|rawtime|datetime|num)(\.|$)/;

/**
 * The distinct values of each output field among a run of alerts, to show in a summary the
 * fields that differed (time fields left out: the summary's times say it). At most `samples`
 * values of a field are kept (one more tells that it has more), so an open window costs a few
 * values per field whatever the storm.
 */
export class FieldSamples {
  #values = new Map<string, Map<string, OutputFieldValue>>();
  #more = new Set<string>();
  readonly #keep: number;

  constructor(readonly samples: number) {
    this.#keep = Math.max(samples, 1) + 1;
  }

  /** Notes the output field values of one alert. */
  add(fields: Record<string, OutputFieldValue>): void {
    for (const k in fields) {
      if (TIME_FIELDS.test(k) || this.#more.has(k)) continue;
      const v = fields[k];
      let seen = this.#values.get(k);
      if (!seen) this.#values.set(k, seen = new Map());
      const id = valueId(v);
      if (seen.has(id)) continue;
      if (seen.size >= this.#keep) this.#more.add(k);
      else seen.set(id, v);
    }
  }

  /** Up to `samples` values of each field that differed, and the fields that had more. */
  result(): { samples: Record<string, OutputFieldValue[]>; more: string[] } {
    const n = this.samples;
    const samples: Record<string, OutputFieldValue[]> = {};
    const more: string[] = [];
    for (const [k, seen] of this.#values) {
      if (seen.size < 2 && !this.#more.has(k)) continue;
      samples[k] = [...seen.values()].slice(0, n);
      if (seen.size > n || this.#more.has(k)) more.push(k);
    }
    return { samples, more: more.sort() };
  }
}

/** One key's open window. */
interface Window {
  key: string;
  settings: AggregationSettings;
  keyFields: Record<string, OutputFieldValue>;
  group: string;
  /** Wall-clock ms: opened, closes (without repeats), closes at the latest. */
  openedMs: number;
  deadlineMs: number;
  capMs: number;
  /** Event time the window starts at (its first occurrence), UTC ns. */
  since: bigint;
  count: number;
  first: bigint;
  last: Alert | undefined;
  /** Distinct values per field among the window's alerts (the opening one included). */
  samples: FieldSamples;
}

let groupSeq = 0;

/** A short id naming a key's chain of windows: time and a counter. */
function newGroupId(nowMs: number): string {
  groupSeq = (groupSeq + 1) % 0x100000;
  return `${nowMs.toString(36)}-${groupSeq.toString(36)}`;
}

/** Text identity of a field value (values of one field have one type). */
function valueId(v: OutputFieldValue): string {
  if (v === null) return "\u0000null";
  if (Array.isArray(v)) return "\u0000[" + v.join("\u0000");
  return typeof v === "string" ? v : String(v);
}

/** The aggregation state of the running agent. */
export class AlertAggregator {
  #opts: AggregatorOptions;
  readonly #open = new Map<string, Window>();
  #overflowed = 0;

  constructor(opts: AggregatorOptions) {
    this.#opts = { ...opts };
  }

  /** Changes samples and max keys (config reload); open windows keep going. */
  configure(opts: AggregatorOptions): void {
    this.#opts = { ...opts };
  }

  /** Keys with an open window. */
  get openKeys(): number {
    return this.#open.size;
  }

  /** Alerts counted under an overflow key because `maxKeys` windows were open. */
  get overflowed(): number {
    return this.#overflowed;
  }

  /**
   * Takes an alert at wall-clock `nowMs`. Returns true when it must be sent now, false when it
   * was counted into its key's window. `closed` receives the summary of a window that this call
   * found already over (its timer had not fired yet), before the alert's own fate.
   */
  offer(alert: Alert, nowMs: number, closed?: (summary: Alert) => void): boolean {
    const g = alert.grouping;
    if (!g) return true;
    let key = keyOf(alert);
    let w = this.#open.get(key);
    if (w && nowMs >= w.deadlineMs) {
      const s = this.#close(w, nowMs);
      if (s) closed?.(s);
      w = this.#open.get(key);
    }
    let overflow = false;
    if (!w && this.#open.size >= this.#opts.maxKeys) {
      // Past the bound, the rule alone is the key (at most one more window per rule).
      key = `${alert.rule}\u0000${alert.source}\u0000overflow`;
      w = this.#open.get(key);
      overflow = true;
      this.#overflowed++;
    }
    if (!w) {
      const nw = this.#newWindow(key, alert, nowMs, overflow);
      this.#open.set(key, nw);
      g.group = nw.group;
      return true;
    }
    this.#repeat(w, alert, nowMs);
    return false;
  }

  #newWindow(key: string, alert: Alert, nowMs: number, overflow: boolean): Window {
    const settings = alert.grouping!.settings;
    const keyFields: Record<string, OutputFieldValue> = {};
    if (overflow) keyFields["aggregate.overflow"] = true;
    else settings.key.forEach((f, i) => keyFields[f] = alert.grouping!.values[i] ?? null);
    const w: Window = {
      key,
      settings,
      keyFields,
      group: newGroupId(nowMs),
      openedMs: nowMs,
      deadlineMs: nowMs + settings.windowMs,
      capMs: nowMs + settings.maxWindowMs,
      since: alert.time,
      count: 0,
      first: alert.time,
      last: undefined,
      samples: new FieldSamples(this.#opts.samples),
    };
    w.samples.add(alert.outputFields);
    return w;
  }

  #repeat(w: Window, alert: Alert, nowMs: number): void {
    if (w.count === 0) w.first = alert.time;
    w.count++;
    w.last = alert;
    w.deadlineMs = Math.min(nowMs + w.settings.windowMs, w.capMs);
    w.samples.add(alert.outputFields);
  }

  /** Closes `w` at `nowMs`: its summary (when it had repeats), and the next window or none. */
  #close(w: Window, nowMs: number): Alert | undefined {
    if (w.count === 0 || !w.last) {
      this.#open.delete(w.key);
      return undefined;
    }
    const summary = this.#summary(w);
    // The stream may go on: a fresh window, whose first repeat is counted, not sent.
    w.openedMs = nowMs;
    w.deadlineMs = nowMs + w.settings.windowMs;
    w.capMs = nowMs + w.settings.maxWindowMs;
    w.since = w.last.time;
    w.count = 0;
    w.last = undefined;
    w.samples = new FieldSamples(this.#opts.samples);
    return summary;
  }

  #summary(w: Window): Alert {
    const last = w.last!;
    const { samples, more } = w.samples.result();
    const aggregate: AggregateInfo = {
      count: w.count,
      first: w.first,
      last: last.time,
      since: w.since,
      reason: "window",
      key: w.keyFields,
      samples,
      group: w.group,
    };
    if (more.length > 0) aggregate.more = more;
    const { grouping: _, ...rest } = last;
    return { ...rest, aggregate };
  }

  /** Summaries of the windows that are over at `nowMs` (their keys go on or end). */
  due(nowMs: number): Alert[] {
    const out: Alert[] = [];
    for (const w of [...this.#open.values()]) {
      if (nowMs < w.deadlineMs) continue;
      const s = this.#close(w, nowMs);
      if (s) out.push(s);
    }
    return out;
  }

  /** The earliest wall-clock ms a window closes, if any is open. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const w of this.#open.values()) {
      if (min === undefined || w.deadlineMs < min) min = w.deadlineMs;
    }
    return min;
  }

  /** Summaries of every open window with repeats, and forgets every key (shutdown). */
  flush(): Alert[] {
    const out: Alert[] = [];
    for (const w of this.#open.values()) {
      if (w.count > 0 && w.last) out.push(this.#summary(w));
    }
    this.#open.clear();
    return out;
  }
}

/** The key of an alert: rule, source and key values. */
function keyOf(a: Alert): string {
  let k = `${a.rule}\u0000${a.source}`;
  for (const v of a.grouping!.values) k += "\u0000" + valueId(v);
  return k;
}

/** Occurrences an alert stands for: a summary's count, or 1. */
export function occurrences(a: Alert): number {
  return a.aggregate?.count ?? 1;
}
