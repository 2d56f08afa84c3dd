/**
 * The safety net behind aggregation: a token bucket per output. An output takes `rate` alerts
 * per second with bursts of `max_burst`; an alert beyond that is held back, never dropped in
 * silence: it is counted per rule, and every `summary_interval` one summary alert per rule goes
 * out (bypassing the bucket) saying how many were held back, when, with the last one's fields and
 * a sample of the values that differed. A summary of summaries adds up their counts, so the
 * occurrences an output is told about always add up to every alert raised.
 *
 * Pure logic: the caller supplies the time.
 *
 * @example
 * ```ts
 * import { OutputThrottle } from "./throttle.ts";
 * const t = new OutputThrottle("http", { rate: 10, maxBurst: 100, summaryIntervalMs: 10_000,
 *   samples: 5 }, 0);
 * t.admit(alert, 0);   // true while tokens last, then false (held and counted)
 * t.due(10_000);       // one summary per rule held back
 * ```
 * @module
 */
import type { AggregateInfo, Alert } from "../rules/alert.ts";
import { FieldSamples, occurrences } from "./aggregator.ts";

/** Rate limit settings (config: output_rate_limit). */
export interface ThrottleOptions {
  /** Alerts per second the output takes. */
  rate: number;
  /** Most alerts taken at once after a quiet time. */
  maxBurst: number;
  /** How long held alerts wait before their summary goes out, ms. */
  summaryIntervalMs: number;
  /** Distinct values per differing field in a summary. */
  samples: number;
}

/** A token bucket: `rate` tokens per second, at most `burst` saved. */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;
  constructor(readonly rate: number, readonly burst: number, nowMs: number) {
    this.#tokens = burst;
    this.#lastMs = nowMs;
  }

  /** Takes a token if there is one at `nowMs`. */
  take(nowMs: number): boolean {
    if (nowMs > this.#lastMs) {
      this.#tokens = Math.min(this.burst, this.#tokens + (nowMs - this.#lastMs) * this.rate / 1000);
      this.#lastMs = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** What is held back for one rule. */
interface Held {
  sinceMs: number;
  count: number;
  first: bigint;
  last: Alert;
  lastTime: bigint;
  samples: FieldSamples;
}

/** The rate limit of one output. */
export class OutputThrottle {
  readonly #bucket: TokenBucket;
  readonly #held = new Map<string, Held>();
  readonly #opts: ThrottleOptions;

  constructor(readonly output: string, opts: ThrottleOptions, nowMs: number) {
    this.#opts = opts;
    this.#bucket = new TokenBucket(opts.rate, opts.maxBurst, nowMs);
  }

  /** Rules with alerts held back now. */
  get holding(): number {
    return this.#held.size;
  }

  /** True: send the alert now; false: it was held back (and counted). */
  admit(alert: Alert, nowMs: number): boolean {
    if (this.#bucket.take(nowMs)) return true;
    const key = `${alert.rule}\u0000${alert.priority}\u0000${alert.source}`;
    const first = alert.aggregate?.first ?? alert.time;
    const last = alert.aggregate?.last ?? alert.time;
    let h = this.#held.get(key);
    if (!h) {
      this.#held.set(
        key,
        h = {
          sinceMs: nowMs,
          count: 0,
          first,
          last: alert,
          lastTime: last,
          samples: new FieldSamples(this.#opts.samples),
        },
      );
    }
    h.count += occurrences(alert);
    if (first < h.first) h.first = first;
    if (last >= h.lastTime) {
      h.lastTime = last;
      h.last = alert;
    }
    h.samples.add(alert.outputFields);
    return false;
  }

  /** Summaries of what has been held back for `summary_interval` or longer at `nowMs`. */
  due(nowMs: number): Alert[] {
    const out: Alert[] = [];
    for (const [key, h] of this.#held) {
      if (nowMs - h.sinceMs < this.#opts.summaryIntervalMs) continue;
      this.#held.delete(key);
      out.push(this.#summary(h));
    }
    return out;
  }

  /** The earliest wall-clock ms a summary is due, if anything is held. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const h of this.#held.values()) {
      const t = h.sinceMs + this.#opts.summaryIntervalMs;
      if (min === undefined || t < min) min = t;
    }
    return min;
  }

  /** Summaries of everything held (shutdown). */
  flush(): Alert[] {
    const out = [...this.#held.values()].map((h) => this.#summary(h));
    this.#held.clear();
    return out;
  }

  #summary(h: Held): Alert {
    const { samples, more } = h.samples.result();
    const aggregate: AggregateInfo = {
      count: h.count,
      first: h.first,
      last: h.lastTime,
      since: h.first,
      reason: "rate_limit",
      samples,
      output: this.output,
    };
    if (more.length > 0) aggregate.more = more;
    const { grouping: _g, aggregate: _a, ...rest } = h.last;
    return { ...rest, aggregate };
  }
}
