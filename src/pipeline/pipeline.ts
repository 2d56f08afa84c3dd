/**
 * The event pipeline, as Web Streams: source batches → [per event: state update, then rule
 * evaluation] → alert batches → fan-out to the outputs.
 *
 * A chunk is always a batch (a slice of a ring drain, one block of a capture file), never one
 * event: a stream hop costs about 350 ns per chunk, so per-event chunks would cap the agent well
 * below a million events per second. Within the evaluation stage the work is plain loops.
 *
 * Enrichment and evaluation are interleaved per event, as libsinsp does: rules see the state as
 * of their own event (a close() still sees the fd it closes). With a hold policy, the rules of a
 * new container's events wait (a bounded time) for its metadata while every other event flows
 * on; their state is still updated at once and frozen for the later evaluation (hold.ts).
 *
 * Reload: `setRuleset` replaces the reference that the next batch reads, so a swap always falls
 * between two batches and every event is evaluated by exactly one ruleset.
 *
 * The sink never waits: alerts are pushed into the outputs' bounded queues, so a slow output
 * cannot slow the source (and the kernel ring) down.
 *
 * A source that can be pulled (a capture file: EventSource.next) is run without streams: the
 * pipeline asks for a batch, evaluates it, calls afterBatch and hands its alerts on, in the order
 * the streams would, then asks for the next. A replay does not pay the streams' promises and
 * queues per batch (~7 % of `saker replay`'s scan of a filter over sample.scap ×2500).
 *
 * Backpressure: the streams keep no queue of their own beyond one batch, so the source is asked
 * for its next batch only as the current one is evaluated, and what has not been evaluated yet
 * waits in the source (the kernel ring, where an overflow is counted per CPU), not as decoded
 * events in memory. Sources whose streams read ahead (highWaterMark) hold that many more.
 *
 * @example
 * ```ts
 * import { Pipeline } from "./pipeline.ts";
 * const p = new Pipeline({ source, state, ruleset, onAlerts: (a) => fanout.publishAll(a) });
 * const done = p.run();
 * p.setRuleset(newRuleset); // on reload
 * await source.close();
 * await done;
 * ```
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import type { Event } from "../events/event.ts";
import type { EventBatch, EventSource } from "../sources/source.ts";
import { RateLimitedLog } from "../log.ts";
import { type Counter, metrics as globalMetrics, type Registry, stageSeconds } from "../metrics.ts";
import { EventHold, type HoldPolicy, markMissing, type MissingReason } from "./hold.ts";

/** Anything that turns events into alerts (the compiled ruleset). */
export interface Evaluator {
  /** Evaluates the rules for one event; calls `emit` for each alert. */
  evaluate(ev: Event, emit: (a: Alert) => void): void;
}

/** The evaluator of a source without rules: events are read (and tracked), nothing alerts. */
export const NO_RULES: Evaluator = { evaluate() {} };

/** Anything that tracks state from events (threads, fds) and attaches it to them. */
export interface StateTracker {
  /** Applies the event and sets its enrichment (ev.thread, ev.fdInfo). */
  update(ev: Event): void;
}

/** Pipeline construction options. */
export interface PipelineOptions {
  source: EventSource;
  /** State tracking; events go to the rules unenriched without it. */
  state?: StateTracker;
  ruleset: Evaluator;
  /** Receives each batch's alerts (never waits). */
  onAlerts(alerts: Alert[]): void;
  /** Called after each batch is evaluated (drop monitoring, metrics snapshots ...). */
  afterBatch?(batch: EventBatch): void;
  /** Source-side count of events read, to tell "idle" from "stuck" (live source stats). */
  received?: () => number;
  /** Seconds a backlog may wait before the pipeline counts as stalled (default 30). */
  stallSeconds?: number;
  registry?: Registry;
  /**
   * Events that must wait before their rules run (a new container's, while its metadata is on
   * its way): their state is updated at once, their rules run when the policy says or after
   * `holdWaitMs` (see hold.ts). None: every event is evaluated at once.
   */
  hold?: HoldPolicy;
  /** Longest wait of a held group, ms (default 500; 0 turns holding off). */
  holdWaitMs?: number;
  /**
   * Watch for a blocked event loop and a stalled backlog (health); default true. A one-shot
   * replay has no one to tell, and its timer would load Node's timers at start-up.
   */
  watchdog?: boolean;
}

/** Health of the pipeline. */
export interface PipelineHealth {
  ok: boolean;
  reason?: string;
}

type State = "new" | "running" | "ended" | "failed";

const errors = new RateLimitedLog(10_000);

/** The running pipeline of one source. */
export class Pipeline {
  readonly source: EventSource;
  #ruleset: Evaluator;
  readonly #state: StateTracker | undefined;
  readonly #onAlerts: (alerts: Alert[]) => void;
  readonly #afterBatch: ((batch: EventBatch) => void) | undefined;
  readonly #received: (() => number) | undefined;
  readonly #stallMs: number;
  readonly #hold: EventHold | undefined;
  readonly #watch: boolean;
  #status: State = "new";
  #failure = "";
  #processed = 0;
  #batches = 0;
  #alerts = 0;
  #swaps = 0;
  #lastBatchAt = 0;
  #backlogSince = 0;
  #loopLagMs = 0;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  readonly #eventsCounter: Counter;
  readonly #batchCounter: Counter;
  readonly #errorCounter: Counter;
  readonly #evaluateSeconds: Counter;

  constructor(opts: PipelineOptions) {
    this.source = opts.source;
    this.#ruleset = opts.ruleset;
    this.#state = opts.state;
    this.#onAlerts = opts.onAlerts;
    this.#afterBatch = opts.afterBatch;
    this.#received = opts.received;
    this.#stallMs = (opts.stallSeconds ?? 30) * 1000;
    this.#watch = opts.watchdog ?? true;
    const waitMs = opts.holdWaitMs ?? 500;
    this.#hold = opts.hold && waitMs > 0
      ? new EventHold({
        policy: opts.hold,
        waitMs,
        registry: opts.registry,
        evaluate: (events, missing) => this.#evaluateHeld(events, missing),
      })
      : undefined;
    const reg = opts.registry ?? globalMetrics;
    this.#eventsCounter = reg.counter(
      "saker_events_processed_total",
      "Events enriched and evaluated, per source.",
      ["source"],
    ).labels(opts.source.source);
    this.#batchCounter = reg.counter(
      "saker_event_batches_total",
      "Event batches through the pipeline, per source.",
      ["source"],
    ).labels(opts.source.source);
    this.#errorCounter = reg.counter(
      "saker_evaluation_errors_total",
      "Events whose enrichment or evaluation threw (the event is skipped, the pipeline goes on).",
      ["source"],
    ).labels(opts.source.source);
    this.#evaluateSeconds = stageSeconds(reg, opts.source.source, "evaluate");
  }

  /** The ruleset the next batch will use. */
  get ruleset(): Evaluator {
    return this.#ruleset;
  }

  /** Swaps the ruleset; takes effect at the next batch. */
  setRuleset(r: Evaluator): void {
    this.#ruleset = r;
    this.#swaps++;
  }

  /** Counts since start. */
  stats(): { processed: number; batches: number; alerts: number; swaps: number } {
    return {
      processed: this.#processed,
      batches: this.#batches,
      alerts: this.#alerts,
      swaps: this.#swaps,
    };
  }

  /** Evaluates one batch (the body of the evaluation stage; public for benchmarks). */
  evaluateBatch(batch: EventBatch, out: Alert[]): void {
    const t0 = performance.now();
    this.#evaluateEvents(
      batch,
      this.#ruleset,
      this.#state,
      this.#hold,
      (a: Alert) => out.push(a),
    );
    this.#evaluateSeconds.inc((performance.now() - t0) / 1000);
    this.#processed += batch.length;
    this.#batches++;
    this.#eventsCounter.inc(batch.length);
    this.#batchCounter.inc();
    this.#lastBatchAt = Date.now();
  }

  // The per-event loop alone in its function: V8 compiles a long-running loop on the fly (OSR),
  // and code after the loop that had not run yet at that moment would then deoptimise the
  // compiled loop at its end on every batch, sending the next batches back to the interpreter.
  #evaluateEvents(
    batch: EventBatch,
    rs: Evaluator, // one ruleset for the whole batch
    state: StateTracker | undefined,
    hold: EventHold | undefined,
    emit: (a: Alert) => void,
  ): void {
    for (let i = 0; i < batch.length; i++) {
      const ev = batch[i];
      try {
        if (state) state.update(ev);
        if (hold !== undefined && hold.offer(ev)) continue;
        rs.evaluate(ev, emit);
      } catch (err) {
        this.#errorCounter.inc();
        errors.log("error", "evaluate", "event skipped: enrichment or evaluation failed", {
          event: ev.name,
          num: ev.num,
          error: err,
        });
      }
    }
  }

  /** Evaluates held events now, in order, and hands their alerts on (see hold.ts). */
  #evaluateHeld(events: Event[], missing: MissingReason | undefined): void {
    const rs = this.#ruleset;
    const alerts: Alert[] = [];
    const emit = missing === undefined
      ? (a: Alert) => alerts.push(a)
      : (a: Alert) => alerts.push((markMissing(a, missing), a));
    for (const ev of events) {
      try {
        rs.evaluate(ev, emit);
      } catch (err) {
        this.#errorCounter.inc();
        errors.log("error", "evaluate", "event skipped: evaluation failed", {
          event: ev.name,
          num: ev.num,
          error: err,
        });
      }
    }
    if (alerts.length === 0) return;
    this.#alerts += alerts.length;
    this.#onAlerts(alerts);
  }

  /** Runs until the source ends (resolves) or fails (rejects). */
  async run(): Promise<void> {
    if (this.#status !== "new") throw new Error("pipeline already started");
    this.#status = "running";
    this.#lastBatchAt = Date.now();
    if (this.#watch) this.#startWatchdog();
    if (this.source.next !== undefined) {
      try {
        await this.#runDirect(this.source);
        this.#status = "ended";
      } catch (err) {
        this.#fail(err);
        // As a failed stream pipe cancels its source: nothing more is read.
        await this.source.close().catch(() => {});
        throw err;
      } finally {
        this.#stopWatchdog();
      }
      return;
    }
    const evaluate = new TransformStream<EventBatch, Alert[]>({
      transform: (batch, controller) => {
        const alerts: Alert[] = [];
        this.evaluateBatch(batch, alerts);
        if (alerts.length > 0) controller.enqueue(alerts);
        this.#afterBatch?.(batch);
      },
      // The source ended: what still waits is evaluated now, with what is known.
      flush: () => this.#hold?.releaseAll(),
    });
    const sink = new WritableStream<Alert[]>({
      write: (alerts) => this.#deliver(alerts),
    });
    try {
      await this.source.readable.pipeThrough(evaluate).pipeTo(sink);
      this.#status = "ended";
    } catch (err) {
      this.#fail(err);
      throw err;
    } finally {
      this.#stopWatchdog();
    }
  }

  /** The sink: alerts counted and handed on (both ways of running). */
  #deliver(alerts: Alert[]): void {
    this.#alerts += alerts.length;
    this.#onAlerts(alerts);
  }

  /** The run failed with `err` (both ways of running). */
  #fail(err: unknown): void {
    this.#status = "failed";
    this.#failure = err instanceof Error ? err.message : String(err);
  }

  /**
   * The stages of {@link run} called directly on a source that can be pulled (see
   * EventSource.next), in the order the streams run them: a batch is evaluated, then
   * afterBatch, then its alerts go to the sink; at the end the held events are released.
   */
  async #runDirect(source: EventSource): Promise<void> {
    while (true) {
      const batch = await source.next!();
      if (batch === null) break;
      const alerts: Alert[] = [];
      this.evaluateBatch(batch, alerts);
      this.#afterBatch?.(batch);
      if (alerts.length > 0) this.#deliver(alerts);
    }
    this.#hold?.releaseAll();
  }

  // Only when one runs: the first use of the timer globals loads Deno's Node timers (~3 ms),
  // which a replay (no watchdog) has no need of.
  #stopWatchdog(): void {
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
  }

  #startWatchdog(): void {
    const period = watchdogPeriodMs(this.#stallMs);
    let expected = Date.now() + period;
    this.#watchdog = setInterval(() => {
      const now = Date.now();
      this.#loopLagMs = Math.max(0, now - expected);
      expected = now + period;
      const backlog = this.#received ? this.#received() - this.#processed : 0;
      if (backlog > 0) {
        if (this.#backlogSince === 0) this.#backlogSince = now;
      } else this.#backlogSince = 0;
    }, period);
    Deno.unrefTimer(this.#watchdog as unknown as number);
  }

  /** Healthy while running, keeping up and not blocked. */
  health(): PipelineHealth {
    switch (this.#status) {
      case "new":
        return { ok: false, reason: "pipeline not started" };
      case "ended":
        return { ok: false, reason: "event source ended" };
      case "failed":
        return { ok: false, reason: `pipeline failed: ${this.#failure}` };
    }
    if (this.#loopLagMs > this.#stallMs) {
      return { ok: false, reason: `event loop blocked for ${this.#loopLagMs} ms` };
    }
    const now = Date.now();
    if (
      this.#backlogSince > 0 && now - this.#backlogSince > this.#stallMs &&
      now - this.#lastBatchAt > this.#stallMs
    ) {
      return {
        ok: false,
        reason: `stalled: events waiting, none processed for ${
          Math.round((now - this.#lastBatchAt) / 1000)
        } s`,
      };
    }
    return { ok: true };
  }
}

/**
 * The watchdog's period for a stall timeout: a tenth of it, between 100 ms and 3 s. Each tick
 * wakes an otherwise idle agent (on a VM, ~0.2-1 ms of CPU each), so it is as rare as the health
 * check allows: the event loop counts as blocked once a tick comes more than the stall timeout
 * late, so a block is seen when it lasts the timeout plus at most a tenth of it (30 s: 33 s), and
 * a backlog's start is known to within the same tenth.
 */
export function watchdogPeriodMs(stallMs: number): number {
  return Math.min(3000, Math.max(100, Math.round(stallMs / 10)));
}
