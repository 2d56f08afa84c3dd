/**
 * Holding the events of one group (a container whose metadata is on its way) while every other
 * event flows on, then evaluating them in their order once the group may go on or a bounded wait
 * has passed.
 *
 * Why only rule evaluation waits: the state tracker must see every event at once and in order
 * (a clone creates the thread the next event needs; a container's first process is a host
 * process until its exec moves it into the container; exits reparent children). So a held event
 * is applied to the tables like any other, and {@link HoldPolicy.freeze} keeps copies of what
 * its rules will read (thread, process, ancestors, fd) as of that moment. Only the rules run
 * later, with the metadata that arrived meanwhile.
 *
 * Order: the events of one group are evaluated in the order they came, and a group that holds
 * events keeps taking its new events until it is released, so no event of the group overtakes
 * another. Alerts of held events come out later than those of events that flowed on; each alert
 * keeps its own event time.
 *
 * @example
 * ```ts
 * import { EventHold } from "./hold.ts";
 * const hold = new EventHold({ policy, waitMs: 500, evaluate: (evs, missing) => ... });
 * state.update(ev);
 * if (!hold.offer(ev)) ruleset.evaluate(ev, emit);
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type { Alert } from "../rules/alert.ts";
import { type Counter, type Gauge, metrics as globalMetrics, type Registry } from "../metrics.ts";

/** Decides which events wait, and says when their group may go on. */
export interface HoldPolicy {
  /** The group `ev` must wait with (called after its state update), or undefined. */
  keyOf(ev: Event): string | undefined;
  /** Copies what the rules will read about `ev` (see state/freeze.ts). */
  freeze(ev: Event): void;
  /**
   * Registers the callback run when a group's wait is over: its metadata arrived (`ready`
   * true) or the runtime gave no answer (false).
   */
  onReady(cb: (key: string, ready: boolean) => void): void;
  /** Tells the policy that `key` waited the whole bound: its later events need not wait. */
  expired(key: string): void;
}

/** Options of an {@link EventHold}. */
export interface EventHoldOptions {
  policy: HoldPolicy;
  /** Longest wait of a group, ms, counted from its first held event. */
  waitMs: number;
  /**
   * Evaluates released events, in order; `missing` says why they go on without their metadata
   * (`timeout`: the wait ran out; `failed`: the runtime did not answer), undefined when it came.
   */
  evaluate(events: Event[], missing: MissingReason | undefined): void;
  registry?: Registry;
}

interface Group {
  events: Event[];
  since: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Why held events went on without their metadata. */
export type MissingReason = "timeout" | "failed";

/** Output field set on alerts of held events evaluated without their metadata. */
export const MISSING_FIELD = "container.metadata";

/**
 * Marks an alert whose event waited for its container's metadata and was evaluated without it:
 * `container.metadata` is `timeout` (the wait ran out) or `failed` (the runtime did not answer),
 * in the output fields and at the end of the output text.
 */
export function markMissing(a: Alert, why: MissingReason): void {
  if (a.outputFields[MISSING_FIELD] !== undefined) return;
  a.outputFields[MISSING_FIELD] = why;
  a.output += ` ${MISSING_FIELD}=${why}`;
}

/** The held groups of one pipeline. */
export class EventHold {
  readonly #policy: HoldPolicy;
  readonly #waitMs: number;
  readonly #evaluate: (events: Event[], missing: MissingReason | undefined) => void;
  readonly #groups = new Map<string, Group>();
  #heldNow = 0;
  readonly #held: Counter;
  readonly #waits: Counter;
  readonly #timeouts: Counter;
  readonly #waitSeconds: Counter;

  constructor(opts: EventHoldOptions) {
    this.#policy = opts.policy;
    this.#waitMs = opts.waitMs;
    this.#evaluate = opts.evaluate;
    const reg = opts.registry ?? globalMetrics;
    this.#held = reg.counter(
      "saker_container_held_events_total",
      "Events whose rules waited for their container's metadata.",
    ).labels();
    this.#waits = reg.counter(
      "saker_container_hold_waits_total",
      "Containers whose events waited for metadata.",
    ).labels();
    this.#timeouts = reg.counter(
      "saker_container_hold_timeouts_total",
      "Waits that ran out before the metadata arrived (the events were evaluated without it).",
    ).labels();
    this.#waitSeconds = reg.counter(
      "saker_container_hold_wait_seconds_total",
      "Time containers' events spent waiting for metadata, summed.",
    ).labels();
    const gauge: Gauge = reg.gauge(
      "saker_container_held_events",
      "Events waiting for their container's metadata now.",
    ).labels();
    gauge.collect = () => this.#heldNow;
    opts.policy.onReady((key, ready) => this.release(key, ready ? undefined : "failed"));
  }

  /** Events waiting now. */
  get size(): number {
    return this.#heldNow;
  }

  /** Takes `ev` if its group waits (true), else leaves it to the caller (false). */
  offer(ev: Event): boolean {
    const key = this.#policy.keyOf(ev);
    if (key === undefined) return false;
    this.#policy.freeze(ev);
    let g = this.#groups.get(key);
    if (g === undefined) {
      const timer = setTimeout(() => this.release(key, "timeout"), this.#waitMs);
      Deno.unrefTimer(timer);
      g = { events: [], since: Date.now(), timer };
      this.#groups.set(key, g);
      this.#waits.inc();
    }
    g.events.push(ev);
    this.#heldNow++;
    this.#held.inc();
    return true;
  }

  /** True while `key` has events waiting (its new events must wait behind them). */
  holds(key: string): boolean {
    return this.#groups.has(key);
  }

  /** Evaluates the events of `key` now, in order (`missing`: without their metadata, why). */
  release(key: string, missing: MissingReason | undefined): void {
    const g = this.#groups.get(key);
    if (g === undefined) return;
    this.#groups.delete(key);
    clearTimeout(g.timer);
    this.#heldNow -= g.events.length;
    this.#waitSeconds.inc((Date.now() - g.since) / 1000);
    if (missing === "timeout") {
      this.#timeouts.inc();
      this.#policy.expired(key);
    }
    this.#evaluate(g.events, missing);
  }

  /** Evaluates every waiting event now, as timed out (end of the stream, shutdown). */
  releaseAll(): void {
    for (const key of [...this.#groups.keys()]) this.release(key, "timeout");
  }
}
