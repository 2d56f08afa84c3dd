/**
 * The fan-out: each alert is wrapped once (its text and JSON forms computed lazily, at most once)
 * and pushed to every sink: the outputs' bounded queues and the live subscribers. Pushing never
 * waits, so evaluation never waits for an output.
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import type { AlertFormatter } from "./format.ts";
import type { OutputQueue } from "./queue.ts";
import { FormattedAlert } from "./output.ts";

/** Anything alerts can be pushed to without waiting. */
export interface AlertSink {
  /** Takes the alert or drops it (counting the drop); never waits. */
  push(a: FormattedAlert): boolean;
}

/** Alerts → every output queue and subscriber. */
export class AlertFanout {
  readonly formatter: AlertFormatter;
  readonly queues: OutputQueue[];
  readonly #sinks: AlertSink[];
  readonly #family;
  readonly #byKey = new Map<string, Counter>();

  constructor(
    formatter: AlertFormatter,
    queues: OutputQueue[],
    extraSinks: AlertSink[] = [],
    registry: Registry = globalMetrics,
  ) {
    this.formatter = formatter;
    this.queues = queues;
    this.#sinks = [...queues, ...extraSinks];
    this.#family = registry.counter(
      "saker_alerts_total",
      "Alerts raised, per rule, priority and source.",
      ["rule", "priority", "source"],
    );
  }

  /** Adds a sink (e.g. a live subscriber registry created after the outputs). */
  addSink(s: AlertSink): void {
    this.#sinks.push(s);
  }

  /** Sends one alert everywhere. */
  publish(alert: Alert): void {
    const key = `${alert.rule}\u0000${alert.priority}\u0000${alert.source}`;
    let c = this.#byKey.get(key);
    if (!c) this.#byKey.set(key, c = this.#family.labels(alert.rule, alert.priority, alert.source));
    c.inc();
    const fa = new FormattedAlert(alert, this.formatter);
    for (let i = 0; i < this.#sinks.length; i++) this.#sinks[i].push(fa);
  }

  /** Sends a batch of alerts everywhere. */
  publishAll(alerts: Alert[]): void {
    for (let i = 0; i < alerts.length; i++) this.publish(alerts[i]);
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

  /** Drains (within `timeoutMs`) and closes every output. */
  async close(timeoutMs?: number): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close(timeoutMs)));
  }
}
