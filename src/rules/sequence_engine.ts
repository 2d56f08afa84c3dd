/**
 * The state of sequence and threshold rules: chains in progress (partial matches) and counts,
 * per key, in bounded tables, expired by event time.
 *
 * Why event time: a capture replayed hours later must give the alerts the live agent gave, so a
 * chain's window is measured between its events' timestamps, never with the wall clock. Why
 * bounded: keys come from the watched workload (session ids, users), so an attacker or a busy
 * node could make any number of them; each table holds at most `maxEntries`, and the oldest
 * entry makes room (counted as evicted). A store outlives rulesets: a reload that keeps a
 * sequence's definition keeps its chains.
 *
 * Semantics of a sequence (steps S0..Sn, `not` steps between them): an event matching S0 starts
 * a chain for its key (the same captured values restart the chain rather than doubling it); an
 * event of the same key matching the next step, not earlier than the chain's last event and
 * within the window from its first, moves it on (captured values and `%step[N]` fields are kept
 * then); matching a `not` step while the chain waits for the step after it ends the chain; the
 * last step completes it: one alert, and the chain is gone. Several chains completing on one
 * event give one alert (the oldest chain's).
 *
 * A threshold counts matching events (or distinct values of a field) per key in a sliding
 * window; reaching its count alerts once, and the key stays quiet for one window after.
 *
 * @example
 * ```ts
 * import { SequenceStore } from "./sequence_engine.ts";
 * const store = new SequenceStore({ maxEntries: 4096 });
 * // compileRuleset(loaded, { sequenceStore: store }) keeps its chains here;
 * store.stats(); // [{ rule, kind, entries, evicted, expired, cancelled }]
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type { FieldResult } from "./fields/registry.ts";
import type { Operand } from "./check.ts";
import { evalOperand } from "./operand.ts";
import type { CompiledSequence, CompiledStep } from "./sequence_compiler.ts";
import type { Predicate } from "./codegen.ts";

/** Default bound of each table: chains in progress of one sequence, keys of one threshold. */
export const DEFAULT_MAX_ENTRIES = 4096;

/**
 * Expired entries are removed this long after their window, beyond the event time seen: events
 * of a container whose metadata is awaited are evaluated a little late, and must still find
 * their chains (each chain's own window is checked exactly, on every event).
 */
const SWEEP_SLACK_NS = 2_000_000_000n;

/** Counts of one sequence or threshold, kept across reloads. */
export interface TableCounts {
  evicted: number;
  expired: number;
  cancelled: number;
}

/** What one table holds and has dropped. */
export interface TableStats extends TableCounts {
  rule: string;
  kind: CompiledSequence["kind"];
  entries: number;
  maxEntries: number;
}

/** One chain in progress. */
interface Chain {
  id: number;
  key: string;
  /** Time of its first and of its latest event. */
  start: bigint;
  last: bigint;
  /** Index of the next step with a condition. */
  next: number;
  caps: FieldResult[];
  kept: Map<string, FieldResult> | undefined;
}

/** Chains of one sequence: by key, and all in creation order (oldest first). */
export class ChainTable {
  readonly byKey = new Map<string, Chain[]>();
  readonly order = new Map<number, Chain>();
  readonly counts: TableCounts;
  #id = 0;
  #now = 0n;

  constructor(counts: TableCounts) {
    this.counts = counts;
  }

  get size(): number {
    return this.order.size;
  }

  /** A new chain; the oldest ones make room past `max`. */
  add(c: Omit<Chain, "id">, max: number): void {
    const chain = { ...c, id: this.#id++ };
    this.order.set(chain.id, chain);
    const list = this.byKey.get(chain.key);
    if (list) list.push(chain);
    else this.byKey.set(chain.key, [chain]);
    while (this.order.size > max) {
      this.remove(this.order.values().next().value!);
      this.counts.evicted++;
    }
  }

  remove(c: Chain): void {
    if (!this.order.delete(c.id)) return;
    const list = this.byKey.get(c.key)!;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byKey.delete(c.key);
  }

  /** Forgets every chain (not counted as expired) and the latest event time seen. */
  clear(): void {
    this.byKey.clear();
    this.order.clear();
    this.#now = 0n;
  }

  /** Drops chains whose window ended well before the latest event time seen. */
  sweep(ts: bigint, windowNs: bigint): void {
    if (ts > this.#now) this.#now = ts;
    const limit = this.#now - windowNs - SWEEP_SLACK_NS;
    for (const c of this.order.values()) {
      if (c.start >= limit) break;
      this.remove(c);
      this.counts.expired++;
    }
  }
}

/** Counting state of one threshold key. */
interface CountState {
  /** Times (µs) of counted events, from `head` on. */
  times: number[];
  head: number;
  /** Distinct values with the time (µs) each was last seen, oldest first. */
  values: Map<string, number> | undefined;
  /** No alert for this key before this time (µs). */
  quietUntil: number;
  last: number;
}

/** Keys of one threshold, least recently counted first. */
export class CountTable {
  readonly byKey = new Map<string, CountState>();
  readonly counts: TableCounts;
  #lastKey: string | undefined;

  constructor(counts: TableCounts) {
    this.counts = counts;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The state of `key`, moved to the most recent end; the least recent make room past `max`. */
  get(key: string, distinct: boolean, max: number): CountState {
    let s = this.byKey.get(key);
    if (s && key !== this.#lastKey) {
      this.byKey.delete(key);
      this.byKey.set(key, s);
    } else if (!s) {
      s = { times: [], head: 0, values: distinct ? new Map() : undefined, quietUntil: 0, last: 0 };
      this.byKey.set(key, s);
      while (this.byKey.size > max) {
        this.byKey.delete(this.byKey.keys().next().value!);
        this.counts.evicted++;
      }
    }
    this.#lastKey = key;
    return s;
  }

  /** Forgets every key (not counted as expired). */
  clear(): void {
    this.byKey.clear();
    this.#lastKey = undefined;
  }

  /** Drops keys with nothing counted in the window before `nowUs`. */
  sweep(nowUs: number, windowUs: number): void {
    for (const [key, s] of this.byKey) {
      if (s.last >= nowUs - windowUs - Number(SWEEP_SLACK_NS / 1000n)) break;
      this.byKey.delete(key);
      this.counts.expired++;
    }
  }
}

/**
 * Tables of the sequences and thresholds of one event source, kept across the rulesets that
 * replace each other (a reload). Each table is bound to one definition: a changed sequence
 * starts over, an unchanged one keeps its chains.
 */
export class SequenceStore {
  /** Bound of each table (rulesets built after a change use the new bound). */
  maxEntries: number;
  readonly #tables = new Map<string, { sig: string; table: ChainTable | CountTable }>();
  readonly #counts = new Map<string, TableCounts>();
  readonly #kinds = new Map<string, CompiledSequence["kind"]>();

  constructor(opts: { maxEntries?: number } = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
  }

  /** The table of `q`: the one kept for this definition, or a new one. */
  table(q: CompiledSequence): ChainTable | CountTable {
    const kept = this.#tables.get(q.name);
    if (kept && kept.sig === q.signature) return kept.table;
    let counts = this.#counts.get(q.name);
    if (!counts) this.#counts.set(q.name, counts = { evicted: 0, expired: 0, cancelled: 0 });
    const table = q.kind === "sequence" ? new ChainTable(counts) : new CountTable(counts);
    this.#tables.set(q.name, { sig: q.signature, table });
    this.#kinds.set(q.name, q.kind);
    return table;
  }

  /**
   * Empties every table, keeping the definitions they belong to: what runs next starts with no
   * chain in progress and nothing counted (independent tests on one ruleset).
   *
   * @example
   * ```ts
   * ruleset.sequenceStore.clear(); // the next event can only start chains
   * ```
   */
  clear(): void {
    for (const { table } of this.#tables.values()) table.clear();
  }

  /** Forgets the tables of sequences no longer loaded (their counts stay for the metrics). */
  retain(names: ReadonlySet<string>): void {
    for (const name of [...this.#tables.keys()]) if (!names.has(name)) this.#tables.delete(name);
  }

  /** Entries and drops per sequence or threshold (ones no longer loaded show 0 entries). */
  stats(): TableStats[] {
    return [...this.#counts.keys()].map((rule) => this.statsOf(rule)!);
  }

  /** Entries and drops of one sequence or threshold; undefined for a name never loaded. */
  statsOf(rule: string): TableStats | undefined {
    const counts = this.#counts.get(rule);
    if (!counts) return undefined;
    return {
      rule,
      kind: this.#kinds.get(rule)!,
      entries: this.#tables.get(rule)?.table.size ?? 0,
      maxEntries: this.maxEntries,
      ...counts,
    };
  }
}

/** The values of `ops` on an event joined into a key; undefined when one cannot be extracted. */
function keyOf(ops: readonly Operand[], ev: Event): string | undefined {
  let key = "";
  for (let i = 0; i < ops.length; i++) {
    const v = evalOperand(ops[i], ev);
    if (v === undefined) return undefined;
    key += (i === 0 ? "" : "\u0000") + (Array.isArray(v) ? v.join("\u0001") : String(v));
  }
  return key;
}

function sameValues(a: readonly FieldResult[], b: readonly FieldResult[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x === y) continue;
    if (Array.isArray(x) && Array.isArray(y) && x.join("\u0001") === y.join("\u0001")) continue;
    return false;
  }
  return true;
}

/** Called when a sequence or threshold fires: the last event and the values kept. */
export type Fire = (ev: Event, kept: Map<string, FieldResult> | undefined) => void;

/** Runs one sequence: each step's matches (its `pre` held for the event) move its chains. */
export class SequenceRunner {
  readonly seq: CompiledSequence;
  readonly table: ChainTable;
  readonly #max: number;
  readonly #full: (Predicate | undefined)[];
  /** Per step: the next step with a condition (-1 after the last). */
  readonly #nextOf: number[];
  readonly #first: number;
  readonly #last: number;
  readonly #fire: Fire;

  constructor(
    seq: CompiledSequence,
    table: ChainTable,
    max: number,
    full: (Predicate | undefined)[],
    fire: Fire,
  ) {
    this.seq = seq;
    this.table = table;
    this.#max = max;
    this.#full = full;
    this.#fire = fire;
    const positive = seq.steps.filter((s) => !s.negated).map((s) => s.index);
    this.#first = positive[0];
    this.#last = positive[positive.length - 1];
    this.#nextOf = seq.steps.map((s) => positive.find((p) => p > s.index) ?? -1);
  }

  /** Step `i`'s event-only condition held for `ev`. */
  step(i: number, ev: Event): void {
    const table = this.table;
    if (i !== this.#first && table.size === 0) return; // nothing in progress: nothing to do
    const key = keyOf(this.seq.by, ev);
    if (key === undefined) return;
    const ts = ev.ts;
    if (table.size > 0) table.sweep(ts, this.seq.withinNs);
    const step = this.seq.steps[i];
    if (i === this.#first) this.#start(step, key, ev, ts);
    else if (step.negated) this.#cancel(i, key, ev, ts);
    else this.#advance(step, key, ev, ts);
  }

  #start(step: CompiledStep, key: string, ev: Event, ts: bigint): void {
    const caps: FieldResult[] = new Array(this.seq.captureCount);
    const next = this.#nextOf[step.index];
    for (const c of step.captures) caps[c.slot] = evalOperand(c.operand, ev);
    const same = this.table.byKey.get(key);
    if (same) {
      for (const c of [...same]) {
        if (c.next === next && sameValues(c.caps, caps)) this.table.remove(c);
      }
    }
    this.table.add({
      key,
      start: ts,
      last: ts,
      next,
      caps,
      kept: keep(step, ev, undefined),
    }, this.#max);
  }

  #live(c: Chain, ts: bigint): boolean {
    if (ts - c.start > this.seq.withinNs) {
      this.table.remove(c);
      this.table.counts.expired++;
      return false;
    }
    return ts >= c.last;
  }

  #cancel(i: number, key: string, ev: Event, ts: bigint): void {
    const list = this.table.byKey.get(key);
    if (!list) return;
    const waitingFor = this.#nextOf[i];
    const full = this.#full[i];
    for (const c of [...list]) {
      if (c.next !== waitingFor || !this.#live(c, ts)) continue;
      if (full && !full(ev, c.caps)) continue;
      this.table.remove(c);
      this.table.counts.cancelled++;
    }
  }

  #advance(step: CompiledStep, key: string, ev: Event, ts: bigint): void {
    const list = this.table.byKey.get(key);
    if (!list) return;
    const full = this.#full[step.index];
    const last = step.index === this.#last;
    let done: Chain | undefined;
    for (const c of [...list]) {
      if (c.next !== step.index || !this.#live(c, ts)) continue;
      if (full && !full(ev, c.caps)) continue;
      for (const cap of step.captures) c.caps[cap.slot] = evalOperand(cap.operand, ev);
      c.kept = keep(step, ev, c.kept);
      c.last = ts;
      if (!last) {
        c.next = this.#nextOf[step.index];
        continue;
      }
      done ??= c;
      this.table.remove(c);
    }
    if (done) this.#fire(ev, done.kept);
  }
}

/** Keeps the `%step[N].field` values of `step` from its event. */
function keep(
  step: CompiledStep,
  ev: Event,
  kept: Map<string, FieldResult> | undefined,
): Map<string, FieldResult> | undefined {
  if (step.outputs.length === 0) return kept;
  const out = kept ?? new Map<string, FieldResult>();
  for (const o of step.outputs) {
    let v: FieldResult;
    try {
      v = evalOperand(o.operand, ev);
    } catch {
      v = undefined;
    }
    out.set(o.key, v);
  }
  return out;
}

/** Runs one threshold: each matching event counts for its key. */
export class ThresholdRunner {
  readonly seq: CompiledSequence;
  readonly table: CountTable;
  readonly #max: number;
  readonly #windowUs: number;
  readonly #fire: Fire;

  constructor(seq: CompiledSequence, table: CountTable, max: number, fire: Fire) {
    this.seq = seq;
    this.table = table;
    this.#max = max;
    this.#windowUs = Math.max(1, Math.round(seq.within * 1e6));
    this.#fire = fire;
  }

  /** The threshold's condition held for `ev`. */
  count(ev: Event): void {
    const key = keyOf(this.seq.by, ev);
    if (key === undefined) return;
    let value: string | undefined;
    if (this.seq.distinct) {
      const v = evalOperand(this.seq.distinct, ev);
      if (v === undefined) return;
      value = Array.isArray(v) ? v.join("\u0001") : String(v);
    }
    const t = Number(ev.ts / 1000n);
    const window = this.#windowUs;
    this.table.sweep(t, window);
    const s = this.table.get(key, value !== undefined, this.#max);
    s.last = t;
    if (t < s.quietUntil) return;
    let n: number;
    if (s.values && value !== undefined) {
      s.values.delete(value);
      s.values.set(value, t);
      for (const [v, seen] of s.values) {
        if (seen >= t - window) break;
        s.values.delete(v);
      }
      n = s.values.size;
    } else {
      s.times.push(t);
      while (s.head < s.times.length && s.times[s.head] < t - window) s.head++;
      if (s.head > 1024 && s.head * 2 > s.times.length) {
        s.times = s.times.slice(s.head);
        s.head = 0;
      }
      n = s.times.length - s.head;
    }
    if (n < this.seq.count) return;
    s.times = [];
    s.head = 0;
    s.values?.clear();
    s.quietUntil = t + window;
    this.#fire(ev, new Map([["threshold.count", n]]));
  }
}
