/**
 * Running tests that need no kernel: synthetic events (through a synthetic world's real state
 * store), capture files (through the replay runner, with an optional filter and event range) and
 * Kubernetes audit events (inline or a file, through the k8s_audit rules). Each run collects the
 * alerts, the rules whose condition ran on the test's events (for coverage), and for every rule
 * the test expects, the explanation of the event it came closest to matching.
 *
 * @example
 * ```ts
 * import { runEvents } from "./run_offline.ts";
 * import { compileRuleset } from "../rules/ruleset.ts";
 * import { loadRulesFiles } from "../rules/loader.ts";
 * const ruleset = compileRuleset(await loadRulesFiles(["rules"]), { ruleMatching: "all" });
 * const out = runEvents([[{ key: "evt.type", value: "openat" }, { key: "fd.name", value: "/etc/shadow" }]], ruleset, []);
 * out.alerts.map((a) => a.rule);
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type { Alert } from "../rules/alert.ts";
import type { Ruleset } from "../rules/ruleset.ts";
import { explainRule, type Explanation } from "../rules/explain.ts";
import { compileFilter, FilterError } from "../rules/filter.ts";
import { replayCapture } from "../pipeline/replay.ts";
import { replayAuditFile } from "../pipeline/replay_sources.ts";
import { AuditIngest } from "../k8saudit/ingest.ts";
import { Registry } from "../metrics.ts";
import { type FieldEntry, SyntheticWorld } from "./synth.ts";
import type { SeenAlert } from "./judge.ts";
import { TestFileError, type Where } from "./problem.ts";

/** What a run produced. */
export interface RunOutput {
  alerts: SeenAlert[];
  /** Per expected rule that did not always fire: the explanation of its nearest miss. */
  why: Map<string, Explanation>;
  /** Rules whose condition ran on at least one event of the test. */
  evaluated: Set<string>;
  /** Events the rules saw. */
  events: number;
}

/** Keeps, per watched rule, the explanation of the event that came closest to matching it. */
export class NearestMiss {
  readonly why = new Map<string, Explanation>();
  readonly evaluated = new Set<string>();
  readonly #watch: ReturnType<Ruleset["rules"]["filter"]>;

  constructor(readonly ruleset: Ruleset, watch: readonly string[]) {
    const names = new Set(watch);
    this.#watch = ruleset.rules.filter((r) => names.has(r.name));
  }

  /** Looks at one evaluated event; `fired` holds the rules that fired on it. */
  see(ev: Event, fired: ReadonlySet<string>): void {
    for (const r of this.ruleset.rules) if (r.eventTypes[ev.type]) this.evaluated.add(r.name);
    for (const q of this.ruleset.sequences) {
      if (q.steps.some((s) => s.eventTypes[ev.type])) this.evaluated.add(q.name);
    }
    for (const r of this.#watch) {
      if (!r.eventTypes[ev.type] || fired.has(r.name)) continue;
      const x = explainRule(r, ev);
      const best = this.why.get(r.name);
      if (!best || x.progress >= best.progress) this.why.set(r.name, x);
    }
  }

  /** For watched rules that no event of the test reached: why (their event types). */
  unreached(ev: Event | undefined): void {
    if (!ev) return;
    for (const r of this.#watch) {
      if (!this.why.has(r.name) && !r.eventTypes[ev.type]) this.why.set(r.name, explainRule(r, ev));
    }
  }
}

function seen(a: Alert): SeenAlert {
  return { rule: a.rule, priority: a.priority, output: a.output, outputFields: a.outputFields };
}

/**
 * Runs synthetic events: each built from its fields in one world (so earlier events build the
 * state later ones see), checked against its fields, then evaluated. Throws TestFileError for an
 * event that cannot be built or does not show a field as given.
 */
export function runEvents(
  events: readonly FieldEntry[][],
  ruleset: Ruleset,
  watch: readonly string[],
): RunOutput {
  const world = new SyntheticWorld();
  const near = new NearestMiss(ruleset, watch);
  const alerts: SeenAlert[] = [];
  let last: Event | undefined;
  let count = 0;
  for (const entries of events) {
    const built = world.events(entries);
    const problems = world.verify(built[built.length - 1], entries);
    if (problems.length > 0) {
      throw new TestFileError(
        problems.map((p) => p.message).join("; "),
        problems[0].at ?? entries[0]?.at,
      );
    }
    for (const ev of built) {
      const fired = new Set<string>();
      ruleset.evaluate(ev, (a) => {
        alerts.push(seen(a));
        fired.add(a.rule);
      });
      near.see(ev, fired);
      last = ev;
      count++;
    }
  }
  near.unreached(last);
  return { alerts, why: near.why, evaluated: near.evaluated, events: count };
}

/** Options of {@link runCapture}. */
export interface CaptureInput {
  file: string;
  filter?: string;
  from?: number;
  to?: number;
  at?: Where;
}

/** Replays a capture file; only events in the range and matching the filter are evaluated. */
export async function runCapture(
  input: CaptureInput,
  ruleset: Ruleset,
  watch: readonly string[],
): Promise<RunOutput> {
  let filter: ((ev: Event) => boolean) | undefined;
  if (input.filter) {
    try {
      const f = compileFilter(input.filter);
      filter = (ev) => f.matches(ev);
    } catch (err) {
      if (err instanceof FilterError) throw new TestFileError(`filter: ${err.message}`, input.at);
      throw err;
    }
  }
  try {
    await Deno.stat(input.file);
  } catch {
    throw new TestFileError(`capture file ${input.file} cannot be read`, input.at);
  }
  const near = new NearestMiss(ruleset, watch);
  const alerts: SeenAlert[] = [];
  let last: Event | undefined;
  let count = 0;
  const { from, to } = input;
  const res = await replayCapture(input.file, {
    filter: (ev) =>
      (from === undefined || ev.num >= from) && (to === undefined || ev.num <= to) &&
      (filter === undefined || filter(ev)),
    evaluator: {
      evaluate(ev, emit) {
        const fired = new Set<string>();
        ruleset.evaluate(ev, (a) => {
          emit(a);
          alerts.push(seen(a));
          fired.add(a.rule);
        });
        near.see(ev, fired);
        last = ev;
        count++;
      },
    },
  });
  if (res.error) {
    throw new TestFileError(`capture file ${input.file}: ${res.error.message}`, input.at);
  }
  near.unreached(last);
  return { alerts, why: near.why, evaluated: near.evaluated, events: count };
}

/** Runs Kubernetes audit events, inline or from a file, through the k8s_audit rules. */
export async function runAudit(
  input: { file?: string; events?: unknown[]; at?: Where },
  ruleset: Ruleset,
  watch: readonly string[],
): Promise<RunOutput> {
  const near = new NearestMiss(ruleset, watch);
  const alerts: SeenAlert[] = [];
  const rejected: string[] = [];
  let last: Event | undefined;
  let count = 0;
  const evaluate = (ev: Event) => {
    const fired = new Set<string>();
    ruleset.evaluate(ev, (a) => {
      alerts.push(seen(a));
      fired.add(a.rule);
    });
    near.see(ev, fired);
    last = ev;
    count++;
  };
  if (input.file !== undefined) {
    try {
      await Deno.stat(input.file);
    } catch {
      throw new TestFileError(`audit file ${input.file} cannot be read`, input.at);
    }
    await replayAuditFile(input.file, {
      onError: (e) => rejected.push(`${e.where}: ${e.message}`),
      evaluator: { evaluate: (ev) => evaluate(ev) },
    });
  } else {
    const ingest = new AuditIngest({
      input: "test",
      registry: new Registry(),
      onError: (e) => rejected.push(e.message),
    });
    for (const ev of ingest.value(input.events ?? [], "test")) evaluate(ev);
  }
  if (rejected.length > 0) {
    throw new TestFileError(`not audit events: ${rejected.slice(0, 3).join("; ")}`, input.at);
  }
  near.unreached(last);
  return { alerts, why: near.why, evaluated: near.evaluated, events: count };
}
