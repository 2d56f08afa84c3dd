/**
 * Live alert subscriptions for GET /alerts/stream: every subscriber has a filter and its own
 * bounded queue, so a slow client only loses its own alerts (counted in
 * `saker_sse_dropped_total`), never holds up the pipeline or other clients.
 *
 * @example
 * ```ts
 * const live = new LiveAlerts(registry, 1000); // a sink of the fan-out
 * // GET /alerts/stream subscribes; a slow client loses its own alerts, counted
 * ```
 * @module
 */
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import type { AlertSink } from "../outputs/fanout.ts";
import { type AlertFilter, matchesFilter } from "../outputs/alert_filter.ts";
import type { FormattedAlert } from "../outputs/output.ts";

/** One live subscriber. */
export class Subscription {
  #items: FormattedAlert[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  dropped = 0;

  constructor(
    readonly filter: AlertFilter,
    readonly capacity: number,
    private readonly droppedCounter: Counter,
    private readonly onClose: (s: Subscription) => void,
  ) {}

  /** Queues a matching alert (dropping it when the client is too far behind). */
  offer(a: FormattedAlert): void {
    if (this.#closed) return;
    const output = () => a.received?.output ?? a.formatter.fullOutput(a.alert);
    if (!matchesFilter(a.alert, this.filter, output, a.hostname)) return;
    if (this.#items.length >= this.capacity) {
      this.dropped++;
      this.droppedCounter.inc();
      return;
    }
    this.#items.push(a);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /**
   * Waits for alerts (up to `timeoutMs`; then resolves with none, for a keep-alive) and returns
   * everything queued. Returns undefined once closed.
   */
  async next(timeoutMs: number): Promise<FormattedAlert[] | undefined> {
    if (this.#closed) return undefined;
    if (this.#items.length === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        timer = setTimeout(r, timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    if (this.#closed) return undefined;
    const out = this.#items;
    this.#items = [];
    return out;
  }

  /** Ends the subscription (client gone, or the server stopping). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
    this.onClose(this);
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** All live subscribers; an AlertSink for the fan-out. */
export class LiveAlerts implements AlertSink {
  readonly #subs = new Set<Subscription>();
  readonly #dropped: Counter;

  constructor(registry: Registry = globalMetrics, readonly capacity = 1000) {
    this.#dropped = registry.counter(
      "saker_sse_dropped_total",
      "Alerts not sent to a live /alerts/stream client because it was too far behind.",
    ).labels();
    registry.gauge("saker_sse_clients", "Connected /alerts/stream clients.").labels().collect =
      () => this.#subs.size;
  }

  /** Number of connected subscribers. */
  get size(): number {
    return this.#subs.size;
  }

  /** Adds a subscriber with `filter`. */
  subscribe(filter: AlertFilter): Subscription {
    const s = new Subscription(filter, this.capacity, this.#dropped, (x) => this.#subs.delete(x));
    this.#subs.add(s);
    return s;
  }

  push(a: FormattedAlert): boolean {
    for (const s of this.#subs) s.offer(a);
    return true;
  }

  /** Ends every subscription. */
  closeAll(): void {
    for (const s of [...this.#subs]) s.close();
  }
}
