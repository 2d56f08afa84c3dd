/**
 * Kernel drop monitoring (`syscall_event_drops`), with Falco's semantics: once per second of
 * event time, the drops of the last second are compared with the events of that second; when the
 * ratio exceeds `threshold`, the configured actions run (log, alert with the internal rule
 * "Falco internal: syscall event drop", exit), at most as often as a token bucket allows (`rate`
 * per second, bursts of `max_burst`). `simulate_drops` adds one drop every second and sets the
 * threshold to 0, to exercise the actions.
 *
 * Time is event time (as Falco), so a capture replayed fast behaves as it did live.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(0.03333, 1); // syscall_event_drops: rate, max_burst
 * bucket.claim(now); // true at most once per 30 s: one drop alert, the others counted
 * ```
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import { log } from "../log.ts";
import type { DropAction } from "../config/spec.ts";
import { INTERNAL_SOURCE } from "../outputs/format.ts";

/** The internal rule name Falco consumers know for drop alerts. */
export const DROP_RULE = "Falco internal: syscall event drop";

const SECOND = 1_000_000_000n;

/** Event and drop counters of a source, summed over CPUs (monotonic). */
export interface DropCounters {
  /** Events the kernel side handled (delivered or dropped). */
  events: number;
  drops: number;
}

/** A token bucket on event time (ns). */
export class TokenBucket {
  #tokens: number;
  #last: bigint | undefined;
  constructor(readonly rate: number, readonly maxTokens: number) {
    this.#tokens = maxTokens;
  }

  /** Takes one token if there is one at time `now`. */
  claim(now: bigint): boolean {
    if (this.#last !== undefined && now > this.#last) {
      this.#tokens = Math.min(
        this.maxTokens,
        this.#tokens + this.rate * Number(now - this.#last) / 1e9,
      );
    }
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Settings of the monitor (config: syscall_event_drops). */
export interface DropMonitorOptions {
  threshold: number;
  actions: DropAction[];
  rate: number;
  maxBurst: number;
  simulateDrops: boolean;
  /** Reads the source's counters. */
  counters: () => DropCounters;
  /** Sends an alert (the internal drop alert). */
  alert: (a: Alert) => void;
  /** Asks the agent to exit with an error (the `exit` action). */
  exit: (reason: string) => void;
}

/** Watches kernel drops and runs the configured actions. */
export class DropMonitor {
  readonly #o: DropMonitorOptions;
  readonly #bucket: TokenBucket;
  readonly #threshold: number;
  #nextCheck = 0n;
  #last: DropCounters;
  /** Seconds in which drops exceeded the threshold. */
  occurrences = 0;
  /** Times the actions ran (the bucket allowed). */
  actionsTaken = 0;

  constructor(o: DropMonitorOptions) {
    this.#o = o;
    this.#bucket = new TokenBucket(o.rate, o.maxBurst);
    this.#threshold = o.simulateDrops ? 0 : o.threshold;
    this.#last = o.counters();
  }

  /** Called with the time of the newest event processed (per batch). */
  check(now: bigint): void {
    if (this.#nextCheck === 0n) {
      this.#nextCheck = now + SECOND;
      return;
    }
    if (now <= this.#nextCheck) return;
    this.#nextCheck = now + SECOND;
    const cur = this.#o.counters();
    let drops = cur.drops - this.#last.drops;
    const events = cur.events - this.#last.events;
    this.#last = cur;
    if (this.#o.simulateDrops) {
      drops++;
    }
    if (drops <= 0) return;
    const ratio = events > 0 ? drops / events : 1;
    if (!(ratio > this.#threshold)) return;
    this.occurrences++;
    if (!this.#bucket.claim(now)) {
      log.debug("kernel drops above the threshold; actions held back by the rate limit", {
        drops,
      });
      return;
    }
    this.actionsTaken++;
    this.#act(now, events, drops);
  }

  #act(now: bigint, events: number, drops: number): void {
    const msg = `${DROP_RULE}. ${drops} system calls dropped in last second.`;
    for (const a of this.#o.actions) {
      switch (a) {
        case "ignore":
          break;
        case "log":
          log.warn(msg, { events, drops, ratio: Number((drops / Math.max(events, 1)).toFixed(4)) });
          break;
        case "alert":
          this.#o.alert({
            time: now,
            rule: DROP_RULE,
            priority: "Debug",
            source: INTERNAL_SOURCE,
            tags: [],
            output: msg,
            outputFields: {
              ebpf_enabled: "1",
              n_drops: String(drops),
              n_drops_buffer_total: String(drops),
              n_evts: String(events),
            },
          });
          break;
        case "exit":
          log.error(msg);
          this.#o.exit("kernel event drops above the threshold (syscall_event_drops: exit)");
          break;
      }
    }
  }

  /** One summary line at shutdown. */
  logSummary(): void {
    if (this.occurrences > 0 || this.#o.simulateDrops) {
      log.info("syscall event drop monitoring", {
        occurrences: this.occurrences,
        actions_taken: this.actionsTaken,
      });
    }
  }
}
