/**
 * The fan-out: each alert is wrapped once (its text and JSON forms computed lazily, at most once)
 * and pushed to every sink: the outputs' bounded queues and the live subscribers. Pushing never
 * waits, so evaluation never waits for an output.
 *
 * On the way, alerts of aggregating rules go through the aggregator (aggregator.ts: the first of
 * a key is sent, repeats are counted into a summary sent when the key's window closes), and each
 * output's rate limit (throttle.ts: held-back alerts are counted and summarised), both driven by
 * one timer armed only while something waits. Per rule, /metrics counts every alert fired
 * (`saker_alerts_total`), the ones sent on their own (`saker_alerts_sent_total`), the ones counted
 * into a summary (`saker_alerts_aggregated_total`) and the summaries (`saker_alert_summaries_total`):
 * fired = sent + aggregated.
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import type { AlertFormatter } from "./format.ts";
import type { OutputQueue } from "./queue.ts";
import { FormattedAlert } from "./output.ts";
import type { AlertAggregator } from "./aggregator.ts";
import { OutputThrottle, type ThrottleOptions } from "./throttle.ts";

/** Shortest time between two timer ticks (windows close at most this late). */
const MIN_TICK_MS = 100;

/** Anything alerts can be pushed to without waiting. */
export interface AlertSink {
  /** Takes the alert or drops it (counting the drop); never waits. */
  push(a: FormattedAlert): boolean;
}

/** Aggregation and rate limits of a fan-out (both optional). */
export interface FanoutOptions {
  /** The agent's aggregator: it outlives a fan-out rebuilt for new output settings. */
  aggregator?: AlertAggregator;
  /** Each output's rate limit (the live subscribers have none). */
  throttle?: ThrottleOptions;
  /** Wall-clock ms (tests drive it). */
  now?: () => number;
  /** Arm a timer for window ends and summaries (default true; tests call tick()). */
  timer?: boolean;
}

/** Per-rule counters of one family, cached by rule, priority and source. */
class RuleCounters {
  readonly #byKey = new Map<string, Counter>();
  readonly #family;
  constructor(registry: Registry, name: string, help: string) {
    this.#family = registry.counter(name, help, ["rule", "priority", "source"]);
  }
  of(a: Alert): Counter {
    const key = `${a.rule}\u0000${a.priority}\u0000${a.source}`;
    let c = this.#byKey.get(key);
    if (!c) this.#byKey.set(key, c = this.#family.labels(a.rule, a.priority, a.source));
    return c;
  }
}

/** One output's queue behind its rate limit. */
interface Lane {
  queue: OutputQueue;
  throttle: OutputThrottle | undefined;
  held: Counter;
  summaries: Counter;
}

/** Alerts → every output queue and subscriber. */
export class AlertFanout {
  readonly formatter: AlertFormatter;
  readonly queues: OutputQueue[];
  readonly #lanes: Lane[];
  readonly #sinks: AlertSink[];
  readonly #fired: RuleCounters;
  readonly #sent: RuleCounters;
  readonly #aggregated: RuleCounters;
  readonly #summaries: RuleCounters;
  readonly #aggregator: AlertAggregator | undefined;
  readonly #now: () => number;
  readonly #timer: boolean;
  #armedAt: number | undefined;
  #timerId: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    formatter: AlertFormatter,
    queues: OutputQueue[],
    extraSinks: AlertSink[] = [],
    registry: Registry = globalMetrics,
    opts: FanoutOptions = {},
  ) {
    this.formatter = formatter;
    this.queues = queues;
    this.#sinks = [...extraSinks];
    this.#aggregator = opts.aggregator;
    this.#now = opts.now ?? Date.now;
    this.#timer = opts.timer ?? true;
    this.#fired = new RuleCounters(
      registry,
      "saker_alerts_total",
      "Alerts fired (every occurrence), per rule, priority and source.",
    );
    this.#sent = new RuleCounters(
      registry,
      "saker_alerts_sent_total",
      "Alerts sent on their own (not counted into an aggregation summary), per rule.",
    );
    this.#aggregated = new RuleCounters(
      registry,
      "saker_alerts_aggregated_total",
      "Alerts counted into an aggregation summary instead of being sent, per rule.",
    );
    this.#summaries = new RuleCounters(
      registry,
      "saker_alert_summaries_total",
      "Aggregation summaries sent (one per closed window with repeats), per rule.",
    );
    const held = registry.counter(
      "saker_output_throttled_total",
      "Alerts held back by an output's rate limit (counted into its summaries), per output.",
      ["output"],
    );
    const summaries = registry.counter(
      "saker_output_throttle_summaries_total",
      "Summaries of alerts held back by an output's rate limit, per output.",
      ["output"],
    );
    const now = this.#now();
    this.#lanes = queues.map((queue) => ({
      queue,
      throttle: opts.throttle
        ? new OutputThrottle(queue.output.name, opts.throttle, now)
        : undefined,
      held: held.labels(queue.output.name),
      summaries: summaries.labels(queue.output.name),
    }));
    if (this.#aggregator) {
      registry.gauge("saker_aggregation_keys", "Aggregation keys with an open window.").labels()
        .collect = () => this.#aggregator?.openKeys ?? 0;
      registry.counter(
        "saker_aggregation_overflow_total",
        "Alerts aggregated under their rule alone because aggregation.max_keys windows were open.",
      ).labels().collect = () => this.#aggregator?.overflowed ?? 0;
      this.#arm();
    }
  }

  /** Adds a sink (e.g. a live subscriber registry created after the outputs). */
  addSink(s: AlertSink): void {
    this.#sinks.push(s);
  }

  /** Takes one alert: counted, then sent, or counted into its key's window. */
  publish(alert: Alert): void {
    this.#fired.of(alert).inc();
    const agg = this.#aggregator;
    if (agg && alert.grouping) {
      const now = this.#now();
      const send = agg.offer(alert, now, (s) => this.#summary(s));
      if (!send) {
        this.#aggregated.of(alert).inc();
        return;
      }
      this.#arm(now + alert.grouping.settings.windowMs);
    }
    this.#sent.of(alert).inc();
    this.deliver(alert);
  }

  /** Takes a batch of alerts. */
  publishAll(alerts: Alert[]): void {
    for (let i = 0; i < alerts.length; i++) this.publish(alerts[i]);
  }

  #summary(s: Alert): void {
    this.#summaries.of(s).inc();
    this.deliver(s);
  }

  /** Sends an alert everywhere as it is (outputs through their rate limits). */
  deliver(alert: Alert): void {
    const fa = new FormattedAlert(alert, this.formatter);
    const lanes = this.#lanes;
    let now = 0;
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i];
      if (l.throttle) {
        if (now === 0) now = this.#now();
        if (!l.throttle.admit(alert, now)) {
          l.held.inc();
          this.#arm(l.throttle.nextDue());
          continue;
        }
      }
      l.queue.push(fa);
    }
    for (let i = 0; i < this.#sinks.length; i++) this.#sinks[i].push(fa);
  }

  /**
   * Sends what is due at `now`: the summaries of closed aggregation windows, then each output's
   * rate-limit summaries. The timer calls it; tests call it directly.
   */
  tick(now = this.#now()): void {
    for (const s of this.#aggregator?.due(now) ?? []) this.#summary(s);
    for (const l of this.#lanes) {
      for (const s of l.throttle?.due(now) ?? []) {
        l.summaries.inc();
        l.queue.push(new FormattedAlert(s, this.formatter));
      }
    }
  }

  /** The earliest time something is due. */
  #nextDue(): number | undefined {
    let next = this.#aggregator?.nextDeadline();
    for (const l of this.#lanes) {
      const t = l.throttle?.nextDue();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  /**
   * Makes sure the timer fires by `at` (or at the next due time), at most every MIN_TICK_MS: a
   * storm of distinct keys has a deadline every few microseconds, and each tick looks at every
   * open window.
   */
  #arm(due = this.#nextDue()): void {
    if (!this.#timer || this.#closed || due === undefined) return;
    const now = this.#now();
    const at = Math.max(due, now + MIN_TICK_MS);
    if (this.#armedAt !== undefined && this.#armedAt <= at) return;
    if (this.#timerId !== undefined) clearTimeout(this.#timerId);
    this.#armedAt = at;
    const id = setTimeout(() => {
      this.#timerId = undefined;
      this.#armedAt = undefined;
      this.tick();
      this.#arm();
    }, at - now);
    // Windows closing never keep the process alive (a stop flushes them).
    Deno.unrefTimer(id);
    this.#timerId = id;
  }

  /** Sends the summary of every open aggregation window now (before the agent stops). */
  flushAggregates(): void {
    for (const s of this.#aggregator?.flush() ?? []) this.#summary(s);
  }

  /** Waits until every queue is drained (or `timeoutMs` passes); true when all drained. */
  async flush(timeoutMs?: number): Promise<boolean> {
    const r = await Promise.all(this.queues.map((q) => q.flush(timeoutMs)));
    return r.every(Boolean);
  }

  /** SIGUSR1: reopen files and respawn programs. */
  async reopen(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.reopen()));
  }

  /**
   * Stops the timer, sends each output's rate-limit summaries, then drains (within `timeoutMs`)
   * and closes every output. The aggregator's windows stay open (a fan-out rebuilt for new
   * output settings takes them over); {@link flushAggregates} ends them.
   */
  async close(timeoutMs?: number): Promise<void> {
    this.#closed = true;
    if (this.#timerId !== undefined) clearTimeout(this.#timerId);
    this.#timerId = undefined;
    for (const l of this.#lanes) {
      for (const s of l.throttle?.flush() ?? []) {
        l.summaries.inc();
        l.queue.push(new FormattedAlert(s, this.formatter));
      }
    }
    await Promise.all(this.queues.map((q) => q.close(timeoutMs)));
  }
}
