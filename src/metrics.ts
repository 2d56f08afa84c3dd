/**
 * In-process metrics: counters and gauges, optionally labelled, rendered in the Prometheus text
 * format by GET /metrics. Every stage registers what it counts here (events received, dropped,
 * alerts, queue depth, table sizes), so that nothing is dropped without being visible.
 *
 * Hot paths keep a reference to a counter or a labelled child and call `inc`, which is a plain
 * number addition.
 *
 * @example
 * ```ts
 * import { metrics } from "./metrics.ts";
 * const received = metrics.counter("saker_events_received_total", "Events read from the source.");
 * received.inc(512);
 * const dropped = metrics.counter("saker_output_dropped_total", "Alerts dropped.", ["output"]);
 * dropped.labels("http").inc();
 * console.log(metrics.render());
 * ```
 * @module
 */

/** A monotonically increasing count (kept here, or read at render time via `collect`). */
export class Counter {
  value = 0;
  /** Reads the count at render time when set (counts kept elsewhere, e.g. in the kernel). */
  collect?: () => number;
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
  get current(): number {
    return this.collect ? this.collect() : this.value;
  }
}

/** A value that goes up and down, set directly or computed when rendered. */
export class Gauge {
  value = 0;
  /** Computes the value at render time when set. */
  collect?: () => number;
  set(v: number): void {
    this.value = v;
  }
  get current(): number {
    return this.collect ? this.collect() : this.value;
  }
}

type Kind = "counter" | "gauge";

/** A metric family: a name, help text, label names and one child per label combination. */
export class Family<T extends Counter | Gauge> {
  #children = new Map<string, { labels: string[]; metric: T }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    readonly labelNames: readonly string[],
    private readonly make: () => T,
  ) {}

  /** The child for these label values (created on first use). */
  labels(...values: string[]): T {
    const key = values.join("\u0000");
    let c = this.#children.get(key);
    if (!c) this.#children.set(key, c = { labels: values, metric: this.make() });
    return c.metric;
  }

  /** Adds to the unlabelled child (counters). */
  inc(n = 1): void {
    (this.labels() as Counter).inc(n);
  }

  /** Sets the unlabelled child (gauges). */
  set(v: number): void {
    (this.labels() as Gauge).set(v);
  }

  /** Current value of the child with these labels (0 if never touched). */
  get(...values: string[]): number {
    const c = this.#children.get(values.join("\u0000"));
    if (!c) return 0;
    return c.metric.current;
  }

  /** Every child with its label values. */
  entries(): Array<{ labels: string[]; value: number }> {
    return [...this.#children.values()].map(({ labels, metric }) => ({
      labels,
      value: metric.current,
    }));
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** A set of metric families. */
export class Registry {
  #families = new Map<string, Family<Counter> | Family<Gauge>>();
  #texts = new Set<() => string>();

  /**
   * Adds a producer of ready Prometheus text, rendered after the families (metrics whose label
   * sets differ from sample to sample, such as Falco's rule matches with one label per tag).
   * Returns the function that removes it.
   */
  addText(render: () => string): () => void {
    this.#texts.add(render);
    return () => this.#texts.delete(render);
  }

  /** Gets or creates a counter family. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Family<Counter> {
    return this.#get(name, help, "counter", labelNames, () => new Counter()) as Family<Counter>;
  }

  /** Gets or creates a gauge family. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Family<Gauge> {
    return this.#get(name, help, "gauge", labelNames, () => new Gauge()) as Family<Gauge>;
  }

  #get(
    name: string,
    help: string,
    kind: Kind,
    labelNames: readonly string[],
    make: () => Counter | Gauge,
  ): Family<Counter> | Family<Gauge> {
    const existing = this.#families.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`metric ${name} registered as ${existing.kind}`);
      return existing;
    }
    // deno-lint-ignore no-explicit-any
    const f = new Family(name, help, kind, labelNames, make as any) as Family<Counter>;
    this.#families.set(name, f);
    return f;
  }

  /** The family called `name`, if registered. */
  family(name: string): Family<Counter> | Family<Gauge> | undefined {
    return this.#families.get(name);
  }

  /** Prometheus text exposition format (version 0.0.4). */
  render(): string {
    const out: string[] = [];
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.kind}`);
      for (const { labels, value } of f.entries()) {
        const l = labels.length === 0
          ? ""
          : `{${labels.map((v, i) => `${f.labelNames[i]}="${escapeLabel(v)}"`).join(",")}}`;
        out.push(`${f.name}${l} ${Number.isFinite(value) ? value : 0}`);
      }
    }
    let text = out.join("\n") + "\n";
    for (const render of this.#texts) text += render();
    return text;
  }
}

/** The process-wide registry that /metrics renders. */
export const metrics: Registry = new Registry();

/**
 * The counter of seconds the main thread spends in one stage of a source's path
 * (`saker_stage_seconds_total{source,stage}`): the live source's `ring_read` (copying a drain out
 * of the ring) and `decode`, the pipeline's `evaluate` (state and rules). Timed around each drain
 * or batch, not each event, so the clock costs nothing per event; wall time, so a preemption in
 * the middle of a batch counts too. Divided by the events received, it says where the agent's CPU
 * per event goes, while it runs.
 *
 * @example
 * ```ts
 * import { metrics, stageSeconds } from "./metrics.ts";
 * const evaluate = stageSeconds(metrics, "syscall", "evaluate");
 * const t0 = performance.now();
 * // ... evaluate a batch ...
 * evaluate.inc((performance.now() - t0) / 1000);
 * ```
 */
export function stageSeconds(reg: Registry, source: string, stage: string): Counter {
  return reg.counter(
    "saker_stage_seconds_total",
    "Seconds the main thread spent per stage of a source's path (ring_read, decode, evaluate: " +
      "state and rules), timed per batch.",
    ["source", "stage"],
  ).labels(source, stage);
}
