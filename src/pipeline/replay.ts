/**
 * Replaying a file through the same pipeline as live events: one runner, two inputs.
 *
 * - A capture file (scap): the file's process, fd and user lists seed the state, then each event
 *   is applied to the state and evaluated by the rules, batch by batch (src/pipeline/pipeline.ts).
 *   Blocks marked "state only" update the state but are not evaluated. Falco's capture feature
 *   can save the events around alerts while replaying.
 * - A file of Kubernetes audit events (JSON lines, JSON, gzip, or a directory of them): the
 *   events go to a ruleset of `source: k8s_audit` rules, without state.
 * - What a plugin reads from a log file or directory (CloudTrail, Okta, GCP audit logs): a
 *   ruleset of the plugin's source, without state.
 *
 * Per event, after the state update, optional hooks see the event as the rules saw it: an event
 * filter (only matching events are evaluated) and a printer (`saker replay -p FORMAT`). Used by
 * `saker replay`, the conformance suite and the replay benchmark.
 *
 * Audit files and plugin sources are replayed by src/pipeline/replay_sources.ts, and the
 * capture recorder is handed in by the caller ({@link CaptureReplayOptions.recorderClass}): Deno
 * reads every module a literal `import()` names, at start, even when it never runs, so a
 * capture replay names none of them (their ~20 modules cost ~2.5 ms of every start).
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
import { type Evaluator, NO_RULES, Pipeline, type StateTracker } from "./pipeline.ts";
import { StateStore } from "../state/store.ts";
import type { EventBatch, EventSource } from "../sources/source.ts";
import { openScapSource, type ScapSource } from "../sources/scap.ts";
import { ScapFormatError } from "../capture/errors.ts";
import { EVENT_STATE_ONLY } from "../capture/reader.ts";
import { eventIdsByName, EVENTS } from "../events/table.ts";
import { ACTION, KEEPS_ENTER, USER_TABLE_EVENT } from "../state/handlers.ts";
import { Registry } from "../metrics.ts";
import type { SeedCounts } from "../capture/seed.ts";
import type { CaptureRecorder, CaptureSettings } from "./recorder.ts";

/** Options every replay takes. */
export interface ReplayOptions {
  /** The rules (a compiled ruleset of the input's source); without one, nothing alerts. */
  evaluator?: Evaluator;
  /** Receives each batch's alerts. */
  onAlerts?: (alerts: Alert[]) => void;
  /** Sees each event after its state update; return false to skip its evaluation. */
  filter?: (ev: Event) => boolean;
  /** Sees each event that passed the filter, after evaluation (printing). */
  onEvent?: (ev: Event) => void;
  /** Called after each batch (flushing printed lines). */
  afterBatch?: (batch: Event[]) => void;
  /** Events per batch (default 1024). */
  batchSize?: number;
}

/** One input of the runner: a source of batches and how its events are treated. */
export interface ReplayInput {
  readonly source: EventSource;
  /** State the events update before the rules see them (none: unenriched). */
  readonly state?: StateTracker;
  /** Events that update the state but are not evaluated (capture blocks marked state only). */
  stateOnly?(ev: Event): boolean;
  /** Errors that end the input early, keeping what was replayed (a truncated capture). */
  endsInput?(err: unknown): boolean;
  /** Wraps the rules (Falco's capture feature watches their alerts). */
  wrapRules?(rules: Evaluator): Evaluator;
  /** Runs after each batch, before the caller's afterBatch. */
  afterBatch?(batch: EventBatch): void;
  /** Runs once the input is read (closing capture files). */
  close?(): Promise<void> | void;
}

/** What the runner did. */
export interface RunResult {
  events: number;
  alerts: number;
  seconds: number;
  /** The error that ended the input early, when {@link ReplayInput.endsInput} accepted it. */
  error?: unknown;
}

/**
 * Runs an input through the pipeline: per event the state update, then (unless filtered or
 * state-only) the rules and the printer. Resolves when the input is read to its end.
 */
export async function runReplay(input: ReplayInput, opts: ReplayOptions = {}): Promise<RunResult> {
  const rules = opts.evaluator
    ? (input.wrapRules ? input.wrapRules(opts.evaluator) : opts.evaluator)
    : undefined;
  const { filter, onEvent } = opts;
  const stateOnly = input.stateOnly;
  let events = 0;
  // Without filter and printer, the hook is just the count and the rules.
  const evaluator: Evaluator = filter || onEvent
    ? {
      evaluate(ev, emit) {
        events++;
        if (stateOnly?.(ev)) return;
        if (filter && !filter(ev)) return;
        rules?.evaluate(ev, emit);
        onEvent?.(ev);
      },
    }
    : {
      evaluate(ev, emit) {
        events++;
        if (stateOnly !== undefined && stateOnly(ev)) return;
        (rules ?? NO_RULES).evaluate(ev, emit);
      },
    };
  const after = input.afterBatch && opts.afterBatch
    ? (batch: EventBatch) => {
      input.afterBatch!(batch);
      opts.afterBatch!(batch);
    }
    : input.afterBatch ?? opts.afterBatch;
  let alerts = 0;
  const pipeline = new Pipeline({
    source: input.source,
    state: input.state,
    ruleset: evaluator,
    onAlerts: (a) => {
      alerts += a.length;
      opts.onAlerts?.(a);
    },
    afterBatch: after,
    // Replays are one-shot: their counters stay out of the agent's metrics registry, and
    // nothing asks for their health.
    registry: new Registry(),
    watchdog: false,
  });
  const t0 = performance.now();
  let error: unknown;
  try {
    await pipeline.run();
  } catch (err) {
    if (!input.endsInput?.(err)) throw err;
    error = err;
  } finally {
    await input.close?.();
  }
  return { events, alerts, seconds: (performance.now() - t0) / 1000, error };
}

/** Options of {@link replayCapture}. */
export interface CaptureReplayOptions extends ReplayOptions {
  /** File bytes read so far and the file size (progress display). */
  onProgress?: (bytes: number, size: number, events: number) => void;
  /** State store to use (default: a new one that reads nothing from the live system). */
  state?: StateStore;
  /** Capture settings: save the events around alerts of rules marked `capture: true`. */
  capture?: CaptureSettings;
  /**
   * The recorder of `capture` (CaptureRecorder of src/pipeline/recorder.ts), needed when
   * `capture.enabled`. Passed in so that a replay without captures never has Deno read the
   * recorder and its file writer.
   */
  recorderClass?: typeof CaptureRecorder;
  /**
   * Names of the events the filter, the rules and the printer can use ("all": every one).
   * Given, only those and the events state tracking needs are decoded; the others are counted
   * and skipped unread (a filter on writes need not decode every read).
   */
  eventNames?: ReadonlySet<string> | "all";
  /**
   * With eventNames: false when nothing reads the user and group tables (no field of
   * USER_TABLE_FIELDS in the filter, the printer or the rules), so that a capture's user and
   * group events are skipped too (unless eventNames names them). Default true.
   */
  userTables?: boolean;
  /**
   * The filter and onEvent keep no event past their call, and the caller passes no evaluator
   * and no capture settings: the events of most types are then views of the read buffer whose
   * objects are used again (see ScapReaderOptions.transientTypes), all but those the state
   * keeps (enter events read back at their exit). Default false.
   */
  transientEvents?: boolean;
}

/**
 * Event ids to decode: `names`, and every event (enter and exit) that changes state, but for
 * those that only feed the user and group tables when `userTables` is false.
 */
export function keptEventTypes(names: ReadonlySet<string>, userTables = true): Uint8Array {
  const keep = new Uint8Array(EVENTS.length);
  const stateNames = new Set(
    EVENTS.filter((e) => ACTION[e.id] !== 0 && (userTables || USER_TABLE_EVENT[e.id] === 0))
      .map((e) => e.name),
  );
  for (const name of [...names, ...stateNames]) {
    for (const id of eventIdsByName(name)) keep[id] = 1;
  }
  return keep;
}

/** Event ids whose events no state keeps past their batch: all but KEEPS_ENTER's. */
export function transientEventTypes(): Uint8Array {
  const t = new Uint8Array(EVENTS.length);
  for (let id = 0; id < t.length; id++) t[id] = KEEPS_ENTER[id] === 1 ? 0 : 1;
  return t;
}

/** What a capture replay did. */
export interface CaptureReplayResult {
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

const isStateOnly = (ev: Event) => (ev.flags & EVENT_STATE_ONLY) !== 0;

/** Replays a capture file; resolves when it has been read to the end (or to a bad block). */
export async function replayCapture(
  path: string,
  opts: CaptureReplayOptions = {},
): Promise<CaptureReplayResult> {
  if (opts.capture?.enabled && opts.recorderClass === undefined) {
    throw new Error("replayCapture: capture settings need opts.recorderClass (CaptureRecorder)");
  }
  const state = opts.state ?? new StateStore();
  let read = 0;
  const names = opts.capture?.enabled ? "all" : opts.eventNames ?? "all";
  const source = await openScapSource(path, {
    batchSize: opts.batchSize,
    state,
    onProgress: opts.onProgress ? (b, s) => opts.onProgress!(b, s, read) : undefined,
    keepTypes: names === "all" ? undefined : keptEventTypes(names, opts.userTables ?? true),
    transientTypes: opts.transientEvents && !opts.evaluator && !opts.capture?.enabled
      ? transientEventTypes()
      : undefined,
  });
  let recorder: CaptureRecorder | undefined;
  if (opts.capture?.enabled) {
    recorder = new opts.recorderClass!(opts.capture, {
      state,
      registry: new Registry(),
      users: () => ({ users: source.metadata.users, groups: source.metadata.groups }),
    });
  }
  const res = await runReplay({
    source,
    state,
    stateOnly: isStateOnly,
    endsInput: (err) => err instanceof ScapFormatError,
    wrapRules: recorder ? (r) => recorder!.wrap(r) : undefined,
    afterBatch: (batch) => {
      read += batch.length;
      recorder?.afterBatch(batch);
    },
    close: () => recorder?.close(),
  }, opts);
  return {
    // Every event of the file, those skipped unread included.
    events: res.events + source.stats().skipped,
    alerts: res.alerts,
    seconds: res.seconds,
    error: res.error as ScapFormatError | undefined,
    seeded: source.seeded,
    captures: recorder?.files ?? [],
    unknownEvents: source.stats().unknownEvents,
    state,
    source,
  };
}
