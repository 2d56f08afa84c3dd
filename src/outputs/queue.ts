/**
 * A bounded queue and a worker in front of one output. The pipeline pushes alerts without ever
 * waiting: when the queue is full the alert is dropped for this output only, counted in
 * `saker_output_dropped_total{output}` and logged at a limited rate. The worker takes whatever is
 * queued (up to `maxBatch`), hands it to the output, and on failure retries with exponential
 * backoff (longer when the receiver says Retry-After) while new alerts keep queueing up to the
 * capacity, so a receiver that is down for a
 * while gets every alert once it is back, up to the queue capacity.
 *
 * @example
 * ```ts
 * import { OutputQueue } from "./queue.ts";
 * import { StdoutOutput } from "./stdout.ts";
 * const q = new OutputQueue(new StdoutOutput({ json: false }), { capacity: 1000 });
 * // q.push(formattedAlert) from the pipeline; at shutdown:
 * await q.close(5000);
 * ```
 * @module
 */
import { log, RateLimitedLog } from "../log.ts";
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import { type AlertOutput, type FormattedAlert, OutputWriteError } from "./output.ts";

/** Queue settings. */
export interface QueueOptions {
  /** Most alerts waiting (not counting the batch being delivered). */
  capacity: number;
  /** Most alerts handed to the output in one write (default 512). */
  maxBatch?: number;
  /** First retry delay in ms (default 100); doubles up to `retryMaxMs` (default 5000). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Metrics registry (default: the process-wide one). */
  registry?: Registry;
}

const warnings = new RateLimitedLog(10_000);

/** Counts of one queue, also exported as metrics. */
export interface QueueStats {
  queued: number;
  sent: number;
  dropped: number;
  failed: number;
  retries: number;
}

/** The bounded queue and worker of one output. */
export class OutputQueue {
  readonly output: AlertOutput;
  readonly capacity: number;
  readonly #maxBatch: number;
  readonly #retryInitial: number;
  readonly #retryMax: number;
  #items: (FormattedAlert | undefined)[];
  #head = 0;
  #len = 0;
  #wake: (() => void) | undefined;
  #idle: Array<() => void> = [];
  #busy = false;
  #inflight = 0;
  #closing = false;
  #abort = new AbortController();
  #done: Promise<void>;
  readonly #sent: Counter;
  readonly #dropped: Counter;
  readonly #failed: Counter;
  readonly #retries: Counter;

  constructor(output: AlertOutput, opts: QueueOptions) {
    if (!(opts.capacity >= 1)) throw new RangeError("queue capacity must be at least 1");
    this.output = output;
    this.capacity = Math.floor(opts.capacity);
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#retryInitial = opts.retryInitialMs ?? 100;
    this.#retryMax = opts.retryMaxMs ?? 5000;
    this.#items = new Array(Math.min(this.capacity, 1024));
    const reg = opts.registry ?? globalMetrics;
    const name = output.name;
    this.#sent = reg.counter("saker_output_sent_total", "Alerts delivered, per output.", [
      "output",
    ]).labels(name);
    this.#dropped = reg.counter(
      "saker_output_dropped_total",
      "Alerts dropped because the output's queue was full, per output.",
      ["output"],
    ).labels(name);
    this.#failed = reg.counter(
      "saker_output_failed_total",
      "Alerts given up after a permanent error or at the shutdown deadline, per output.",
      ["output"],
    ).labels(name);
    this.#retries = reg.counter(
      "saker_output_retries_total",
      "Failed deliveries retried, per output.",
      ["output"],
    ).labels(name);
    const depth = reg.gauge("saker_output_queue_depth", "Alerts waiting, per output.", ["output"])
      .labels(name);
    depth.collect = () => this.#len + this.#inflight;
    reg.gauge("saker_output_queue_capacity", "Queue capacity, per output.", ["output"])
      .labels(name).set(this.capacity);
    this.#done = this.#run();
  }

  /** Alerts waiting, including the batch being delivered. */
  get depth(): number {
    return this.#len + this.#inflight;
  }

  /** Counts since the queue was created. */
  stats(): QueueStats {
    return {
      queued: this.#len + this.#inflight,
      sent: this.#sent.value,
      dropped: this.#dropped.value,
      failed: this.#failed.value,
      retries: this.#retries.value,
    };
  }

  /** Queues an alert; false (and counted) when the queue is full or closing. Never waits. */
  push(a: FormattedAlert): boolean {
    if (this.#len >= this.capacity || this.#closing) {
      this.#dropped.inc();
      warnings.log("warning", `drop:${this.output.name}`, "output queue full, alert dropped", {
        output: this.output.name,
        capacity: this.capacity,
        rule: a.alert.rule,
      });
      return false;
    }
    if (this.#len === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#len) % this.#items.length] = a;
    this.#len++;
    const w = this.#wake;
    if (w) {
      this.#wake = undefined;
      w();
    }
    return true;
  }

  #grow(): void {
    const n = Math.min(this.capacity, this.#items.length * 2);
    const next = new Array<FormattedAlert | undefined>(n);
    for (let i = 0; i < this.#len; i++) {
      next[i] = this.#items[(this.#head + i) % this.#items.length];
    }
    this.#items = next;
    this.#head = 0;
  }

  #take(): FormattedAlert[] {
    const n = Math.min(this.#len, this.#maxBatch);
    const out = new Array<FormattedAlert>(n);
    const size = this.#items.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.#head + i) % size;
      out[i] = this.#items[idx]!;
      this.#items[idx] = undefined;
    }
    this.#head = (this.#head + n) % size;
    this.#len -= n;
    return out;
  }

  async #run(): Promise<void> {
    while (true) {
      if (this.#len === 0) {
        for (const r of this.#idle.splice(0)) r();
        if (this.#closing) return;
        await new Promise<void>((r) => this.#wake = r);
        continue;
      }
      this.#busy = true;
      const batch = this.#take();
      this.#inflight = batch.length;
      try {
        await this.#deliver(batch);
      } finally {
        this.#busy = false;
        this.#inflight = 0;
      }
    }
  }

  async #deliver(batch: FormattedAlert[]): Promise<void> {
    const signal = this.#abort.signal;
    let rest = batch;
    let attempt = 0;
    while (rest.length > 0) {
      if (signal.aborted) {
        this.#failed.inc(rest.length);
        return;
      }
      try {
        const refused = Math.min(rest.length, (await this.output.write(rest, signal)) ?? 0);
        this.#sent.inc(rest.length - refused);
        this.#failed.inc(refused);
        return;
      } catch (err) {
        const e = err instanceof OutputWriteError ? err : undefined;
        const delivered = Math.min(e?.delivered ?? 0, rest.length);
        this.#sent.inc(delivered);
        rest = rest.slice(delivered);
        this.#inflight = rest.length;
        // Progress (a receiver that takes a few alerts at a time: a full datagram queue, a disk
        // with some room) starts the backoff over: only a receiver that takes nothing waits long.
        if (delivered > 0) attempt = 0;
        if (e?.permanent || signal.aborted) {
          this.#failed.inc(rest.length);
          warnings.log("error", `fail:${this.output.name}`, "output failed, alerts given up", {
            output: this.output.name,
            alerts: rest.length,
            error: (err as Error).message,
          });
          return;
        }
        this.#retries.inc();
        attempt++;
        warnings.log("warning", `retry:${this.output.name}`, "output write failed, retrying", {
          output: this.output.name,
          attempt,
          error: (err as Error).message,
        });
        const backoff = Math.min(this.#retryMax, this.#retryInitial * 2 ** (attempt - 1));
        // A receiver's Retry-After is honoured up to a minute.
        await sleep(Math.max(backoff, Math.min(e?.retryAfterMs ?? 0, 60_000)), signal);
      }
    }
  }

  /**
   * Waits until every queued alert has been delivered (or given up). With `timeoutMs`, gives up
   * what is still pending when the time is over; returns false then.
   */
  async flush(timeoutMs?: number): Promise<boolean> {
    if (this.#len === 0 && !this.#busy) return true;
    const drained = new Promise<boolean>((r) => this.#idle.push(() => r(true)));
    if (timeoutMs === undefined) return await drained;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => timer = setTimeout(() => r(false), timeoutMs));
    const ok = await Promise.race([drained, timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** SIGUSR1: asks the output to reopen its file or respawn its program. */
  async reopen(): Promise<void> {
    try {
      await this.output.reopen?.();
    } catch (err) {
      log.error("output reopen failed", { output: this.output.name, error: err });
    }
  }

  /**
   * Stops accepting alerts, delivers what is queued (within `timeoutMs`; then the rest is given
   * up and counted as failed), and closes the output.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#closing = true;
    const w = this.#wake;
    if (w) {
      this.#wake = undefined;
      w();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ok = await Promise.race([
      this.#done.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (!ok) {
      this.#abort.abort();
      const lost = this.#len;
      this.#failed.inc(lost);
      this.#items.fill(undefined);
      this.#len = 0;
      // A write that ignores the abort must not hold the shutdown: wait a little, then go on.
      await Promise.race([this.#done, sleep(Math.min(1000, timeoutMs))]);
      log.warn("output not drained before the deadline", {
        output: this.output.name,
        given_up: lost,
      });
    }
    try {
      await this.output.close();
    } catch (err) {
      log.error("output close failed", { output: this.output.name, error: err });
    }
  }
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
