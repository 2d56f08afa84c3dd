/**
 * Replaying a capture file through the same pipeline as live events: the file's process, fd
 * and user lists seed the state, then each event is applied to the state and evaluated by the
 * rules, batch by batch (src/pipeline/pipeline.ts). Used by `saker replay`, the conformance
 * suite and the replay benchmark.
 *
 * Per event, after the state update and before the next event, optional hooks see the event
 * as the rules saw it: an event filter and a printer (`saker replay -p FORMAT`).
 *
 * @example
 * ```ts
 * import { replayCapture } from "./replay.ts";
 * import { compileRuleset } from "../rules/ruleset.ts";
 * import { loadRulesFiles } from "../rules/loader.ts";
 * const ruleset = compileRuleset(await loadRulesFiles(["rules/"]));
 * const res = await replayCapture("trace.scap", { evaluator: ruleset, onAlerts: console.log });
 * console.log(res.events, res.alerts);
 * ```
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import type { Event } from "../events/event.ts";
import { type Evaluator, Pipeline } from "./pipeline.ts";
import { StateStore } from "../state/store.ts";
import { openScapSource, type ScapSource } from "../sources/scap.ts";
import { ScapFormatError } from "../capture/errors.ts";
import { EVENT_STATE_ONLY } from "../capture/reader.ts";
import { Registry } from "../metrics.ts";
import type { SeedCounts } from "../capture/seed.ts";
import { CaptureRecorder, type CaptureSettings } from "./recorder.ts";

/** Options of {@link replayCapture}. */
export interface ReplayOptions {
  /** The rules (a compiled ruleset); without one, events are only applied to the state. */
  evaluator?: Evaluator;
  /** Receives each batch's alerts. */
  onAlerts?: (alerts: Alert[]) => void;
  /** Sees each event after its state update; return false to skip its evaluation. */
  filter?: (ev: Event) => boolean;
  /** Sees each event that passed the filter, after evaluation (printing). */
  onEvent?: (ev: Event) => void;
  /** Called after each batch (flushing printed lines). */
  afterBatch?: (batch: Event[]) => void;
  /** File bytes read so far and the file size (progress display). */
  onProgress?: (bytes: number, size: number, events: number) => void;
  /** Events per batch (default 1024). */
  batchSize?: number;
  /** State store to use (default: a new one that reads nothing from the live system). */
  state?: StateStore;
  /** Capture settings: save the events around alerts of rules marked `capture: true`. */
  capture?: CaptureSettings;
}

/** What a replay did. */
export interface ReplayResult {
  events: number;
  alerts: number;
  seconds: number;
  /** Set when the file ended in a truncated or corrupt block (events before it were replayed). */
  error?: ScapFormatError;
  seeded?: SeedCounts;
  /** Capture files written around alerts. */
  captures: string[];
  unknownEvents: number;
  state: StateStore;
  source: ScapSource;
}

/** Replays a capture file; resolves when it has been read to the end (or to a bad block). */
export async function replayCapture(
  path: string,
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const state = opts.state ?? new StateStore();
  let events = 0;
  const source = await openScapSource(path, {
    batchSize: opts.batchSize,
    state,
    onProgress: opts.onProgress ? (b, s) => opts.onProgress!(b, s, events) : undefined,
  });
  const recorder = opts.capture?.enabled
    ? new CaptureRecorder(opts.capture, { state, registry: new Registry() })
    : undefined;
  const rules = opts.evaluator && recorder ? recorder.wrap(opts.evaluator) : opts.evaluator;
  const filter = opts.filter;
  const onEvent = opts.onEvent;
  // The per-event hook: counts, skips state-only events, then filter, rules and printing.
  // Without filter and printer it is just the rules behind the state-only check.
  const evaluator: Evaluator = filter || onEvent
    ? {
      evaluate(ev, emit) {
        events++;
        // Capture blocks marked "state only" update the state but are not shown or evaluated.
        if ((ev.flags & EVENT_STATE_ONLY) !== 0) return;
        if (filter && !filter(ev)) return;
        rules?.evaluate(ev, emit);
        onEvent?.(ev);
      },
    }
    : {
      evaluate(ev, emit) {
        events++;
        if (rules !== undefined && (ev.flags & EVENT_STATE_ONLY) === 0) rules.evaluate(ev, emit);
      },
    };
  let alerts = 0;
  const pipeline = new Pipeline({
    source,
    state,
    ruleset: evaluator,
    onAlerts: (a) => {
      alerts += a.length;
      opts.onAlerts?.(a);
    },
    afterBatch: recorder
      ? (batch) => {
        recorder.afterBatch(batch);
        opts.afterBatch?.(batch);
      }
      : opts.afterBatch,
    // Replays are one-shot: their counters stay out of the agent's metrics registry.
    registry: new Registry(),
  });
  const t0 = performance.now();
  let error: ScapFormatError | undefined;
  try {
    await pipeline.run();
  } catch (err) {
    if (!(err instanceof ScapFormatError)) throw err;
    error = err;
  } finally {
    await recorder?.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    events,
    alerts,
    seconds,
    error,
    seeded: source.seeded,
    captures: recorder?.files ?? [],
    unknownEvents: source.stats().unknownEvents,
    state,
    source,
  };
}
