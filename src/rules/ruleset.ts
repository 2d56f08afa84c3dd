/**
 * A compiled, immutable rule set: rules selected by priority, name and tag, one generated
 * evaluator per event type, and the alert built when a rule matches. Reloading builds a new
 * Ruleset and swaps the reference between batches.
 *
 * @example
 * ```ts
 * import { loadRulesText } from "./loader.ts";
 * import { compileRuleset } from "./ruleset.ts";
 * import { buildEvent } from "../events/encode.ts";
 * const loaded = loadRulesText([{ name: "r.yaml", text: `
 * - rule: open etc
 *   desc: d
 *   condition: evt.type = openat and evt.arg.name startswith /etc
 *   output: "opened %evt.arg.name"
 *   priority: WARNING
 * ` }]);
 * const rs = compileRuleset(loaded);
 * rs.evaluate(buildEvent("openat", { tid: 1 }, { fd: 3, dirfd: -100, name: "/etc/passwd" }),
 *   (a) => console.log(a.output)); // opened /etc/passwd
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import { EVENT_COUNT, eventIdsByName, EVENTS } from "../events/table.ts";
import type { AggregationSettings, Alert, OutputFieldValue, Priority } from "./alert.ts";
import { priorityRank } from "./alert.ts";
import type { CompiledRule } from "./compiler.ts";
import type { LoadedRules } from "./loader.ts";
import {
  type Evaluator,
  foldForType,
  FunctionBuilder,
  instantiate,
  instantiatePredicate,
  type Predicate,
} from "./codegen.ts";
import type { CompiledSequence } from "./sequence_compiler.ts";
import {
  type ChainTable,
  type CountTable,
  SequenceRunner,
  SequenceStore,
  ThresholdRunner,
} from "./sequence_engine.ts";
import type { FieldResult } from "./fields/registry.ts";
import { compileOutput, type OutputFormat, renderOutput } from "./output_format.ts";
import {
  additionsFor,
  compileExtraFields,
  type ExtraField,
  type OutputAddition,
} from "./output_additions.ts";
import { compileGlob } from "./ops.ts";
import {
  aggregationFor,
  type AggregationPolicy,
  conditionFields,
  NO_AGGREGATION as NO_AGGREGATION_POLICY,
} from "./aggregation.ts";
import { setNames } from "./evttypes.ts";
import { type ResponseTarget, TARGET_FIELDS } from "./actions.ts";

/** The format reading an alert's response target from its event (see actions.ts). */
let targetFormat: OutputFormat | undefined;

/** The process and container an event's actions aim at. */
function targetOf(ev: Event): ResponseTarget {
  const f = renderOutput(
    targetFormat ??= compileOutput(
      TARGET_FIELDS.map((n) => `%${n}`).join(" "),
      "syscall",
    ),
    ev,
  ).fields;
  const str = (k: string) => {
    const v = f[k];
    return v === null || v === undefined ? "" : String(v);
  };
  const uid = f["user.uid"];
  return {
    pid: typeof f["proc.pid"] === "number" ? f["proc.pid"] : 0,
    name: str("proc.name"),
    exepath: str("proc.exepath"),
    user: str("user.name"),
    uid: typeof uid === "number" ? uid : undefined,
    containerId: str("container.id") === "host" ? "" : str("container.id"),
    image: str("container.image.repository") || str("container.image"),
    ...(ev.denied ? { denied: true } : {}),
  };
}

/** A call the probe denied (response `deny`), as user space sees its event. */
export interface DeniedCall {
  /** The event's time (ns since the epoch). */
  time: bigint;
  kind: "exec" | "open";
  /** What was executed (`proc.exepath`) or opened (`fd.name`), as the event names it. */
  path: string;
  target: ResponseTarget;
}

let openedFormat: OutputFormat | undefined;

/**
 * The denied call of an event the probe marked (`ev.denied`), for the agent's audit of a denial
 * no rule's alert accounts for (e.g. a file reached through a symbolic link: the probe matches
 * the path the kernel resolved, `fd.name` is the path as opened).
 */
export function deniedCallOf(ev: Event): DeniedCall {
  const target = targetOf(ev);
  const kind = ev.name.startsWith("exec") ? "exec" : "open";
  const opened = kind === "open"
    ? renderOutput(openedFormat ??= compileOutput("%fd.name", "syscall"), ev).fields["fd.name"]
    : target.exepath;
  return { time: ev.ts, kind, path: opened === null ? "" : String(opened), target };
}

/** One step of rule selection, applied in order after each rule's own `enabled`. */
export interface RuleSelector {
  action: "enable" | "disable";
  /** Rule name pattern (`*` matches any run of characters); exact otherwise. */
  rule?: string;
  /** A tag the rule must carry. */
  tag?: string;
}

/** Options of a rule set. */
export interface RulesetOptions {
  /** Least severe priority to keep (Falco's `priority`); default Debug (all). */
  minPriority?: Priority;
  /** `first`: stop at the first matching rule per event; `all`: every matching rule. */
  ruleMatching?: "first" | "all";
  /** Enable/disable steps (Falco's `rules:` config, -D, -t, -T). */
  select?: RuleSelector[];
  /** Event source evaluated (rules of other sources are left out); default syscall. */
  source?: string;
  /**
   * `append_output` entries that apply to this source (see output_additions.ts), applied to the
   * outputs of the rules they match when the ruleset is built.
   */
  additions?: readonly OutputAddition[];
  /**
   * How alerts are aggregated (see aggregation.ts): each rule's key fields and windows are
   * decided when the ruleset is built, and every alert carries its key's values.
   */
  aggregation?: AggregationPolicy;
  /**
   * Where sequence and threshold rules keep their chains and counts. Pass the store of the
   * ruleset this one replaces to keep chains in progress across a reload; default: a new one
   * bounded by `maxPartialMatches`.
   */
  sequenceStore?: SequenceStore;
  /** Bound of each sequence's (or threshold's) table when no store is given. */
  maxPartialMatches?: number;
  /**
   * Rule matches are only counted ({@link Ruleset.matches}, the result of evaluate): no alert is
   * built and nothing is emitted. For an event filter, which asks only whether its rule matched:
   * an alert renders the rule's output and reads the event's time for every matching event.
   */
  countOnly?: boolean;
}

/** A loaded rule as listings show it (the API's GET /rules), running or not. */
export interface RuleEntry {
  name: string;
  source: string;
  priority: Priority;
  tags: string[];
  description: string;
  /** True when the rule runs: enabled in its file and by the config, at or above `priority`. */
  enabled: boolean;
  /** Fields its condition reads (what the tuning assistant finds its main object from). */
  fields?: string[];
}

/** The facts rule selection reads (rules, sequences and thresholds alike). */
interface Selectable {
  name: string;
  tags: readonly string[];
  enabled: boolean;
  priority: Priority;
  source: string;
}

/** Receives alerts. */
export type Emit = (alert: Alert) => void;

function matchName(pattern: string, name: string): boolean {
  return pattern.includes("*") ? compileGlob(pattern).test(name) : pattern === name;
}

/** Decides which rules run: `enabled`, then each selector in order, then the priority floor. */
export function selectRules<T extends Selectable>(rules: readonly T[], opts: RulesetOptions): T[] {
  const min = priorityRank(opts.minPriority ?? "Debug");
  const source = opts.source ?? "syscall";
  return rules.filter((r) => {
    if (r.source !== source) return false;
    let on = r.enabled;
    for (const s of opts.select ?? []) {
      const byName = s.rule === undefined || matchName(s.rule, r.name);
      const byTag = s.tag === undefined || r.tags.includes(s.tag);
      if (byName && byTag) on = s.action === "enable";
    }
    return on && priorityRank(r.priority) <= min;
  });
}

const NOOP: Evaluator = () => 0;

/** A compiled rule set. */
export class Ruleset {
  /** The rules that run, in evaluation order. */
  readonly rules: readonly CompiledRule[];
  /** Event ids at least one rule can match. */
  readonly eventTypes: readonly number[];
  readonly options: Readonly<RulesetOptions>;
  /** Matches per rule (same order as `rules`). */
  readonly matches: Uint32Array;
  readonly #evaluators: Evaluator[];
  readonly #sources = new Map<Evaluator, string>();
  /** Per rule: its output with the additions, and its extra fields (same order as `rules`). */
  readonly #outputs: OutputFormat[];
  readonly #extras: (ExtraField[] | undefined)[];
  /** Per rule: the output text with the additions (what `-L` and listings show). */
  readonly outputTexts: readonly string[];
  /** Per rule: how its alerts are aggregated (undefined: each is sent). */
  readonly aggregation: readonly (AggregationSettings | undefined)[];
  readonly #keys: (OutputFormat | undefined)[];
  /** The sequence and threshold rules that run, in listing order. */
  readonly sequences: readonly CompiledSequence[];
  /** Alerts per sequence or threshold (same order as `sequences`). */
  readonly sequenceMatches: Uint32Array;
  /** Per sequence or threshold: how its alerts are aggregated (same order as `sequences`). */
  readonly sequenceAggregation: (AggregationSettings | undefined)[] = [];
  /** Where the sequences keep their chains and counts. */
  readonly sequenceStore: SequenceStore;
  /** Per step of a running sequence (generated code calls hit `rules.length + i`). */
  readonly #steps: { run: (ev: Event) => void }[] = [];
  /** Emit of the event being evaluated (sequence alerts are raised from step matches). */
  #emit: Emit = () => {};

  constructor(
    rules: readonly CompiledRule[],
    opts: RulesetOptions = {},
    sequences: readonly CompiledSequence[] = [],
  ) {
    this.options = opts;
    this.rules = selectRules(rules, opts).sort((a, b) => a.index - b.index);
    this.matches = new Uint32Array(this.rules.length);
    this.sequences = selectRules(sequences, opts).sort((a, b) => a.index - b.index);
    this.sequenceMatches = new Uint32Array(this.sequences.length);
    const additions = opts.additions ?? [];
    const texts: string[] = [];
    this.#outputs = [];
    this.#extras = [];
    const aggregation: (AggregationSettings | undefined)[] = [];
    this.#keys = [];
    for (const r of this.rules) {
      const agg = opts.aggregation || r.aggregate
        ? aggregationFor(
          { name: r.name, source: r.source, tags: r.tags, fields: conditionFields(r.ast) },
          r.aggregate,
          opts.aggregation ?? NO_AGGREGATION_POLICY,
        )
        : undefined;
      aggregation.push(agg);
      this.#keys.push(
        agg && agg.key.length > 0
          ? compileOutput(agg.key.map((f) => `%${f}`).join(" "), r.source)
          : undefined,
      );
      const a = additions.length > 0 ? additionsFor(r, additions) : undefined;
      const changed = a !== undefined && a.outputText !== r.outputText;
      texts.push(a?.outputText ?? r.outputText);
      this.#outputs.push(changed ? compileOutput(a.outputText, r.source) : r.output);
      this.#extras.push(a?.fields.length ? compileExtraFields(a.fields, r.source) : undefined);
    }
    this.outputTexts = texts;
    this.aggregation = aggregation;
    this.sequenceStore = opts.sequenceStore ??
      new SequenceStore({ maxEntries: opts.maxPartialMatches });
    const stepEntries = this.#runSequences(additions);
    const first = (opts.ruleMatching ?? "first") === "first";
    const rulesCount = this.rules.length;
    const hit = opts.countOnly
      ? (id: number, ev: Event, emit: Emit) => {
        if (id < rulesCount) this.matches[id]++;
        else this.#hit(id, ev, emit);
      }
      : (id: number, ev: Event, emit: Emit) => this.#hit(id, ev, emit);
    const cache = new Map<string, Evaluator>();
    const evaluators: Evaluator[] = new Array(EVENT_COUNT + 1).fill(NOOP);
    const types: number[] = [];
    // Events of other sources are plugin events: one type (Falco gives them all this one).
    const only = (opts.source ?? "syscall") === "syscall" ? -1 : eventIdsByName("pluginevent")[0];
    for (let t = 0; t < EVENT_COUNT; t++) {
      if (only >= 0 && t !== only) continue;
      const info = EVENTS[t];
      const list: { id: number; cond: ReturnType<typeof foldForType>; stop?: boolean }[] = [];
      // Sequence steps first: they never stop the rules (rule_matching: first), and a step's
      // match is handled before the steps that come earlier in its sequence, so one event
      // never both starts a chain and moves it on.
      for (const s of stepEntries) {
        if (!s.eventTypes[t]) continue;
        const cond = foldForType(s.pre, info);
        if (cond !== false) list.push({ id: this.rules.length + s.id, cond, stop: false });
      }
      this.rules.forEach((r, id) => {
        if (!r.eventTypes[t]) return;
        const cond = foldForType(r.checked, info);
        if (cond !== false) list.push({ id, cond });
      });
      if (list.length === 0) continue;
      types.push(t);
      const b = new FunctionBuilder();
      const src = b.build(list, first);
      let fn = cache.get(src);
      if (!fn) {
        fn = instantiate(src, b.consts, hit as never);
        cache.set(src, fn);
        this.#sources.set(fn, src);
      }
      evaluators[t] = fn;
    }
    this.#evaluators = evaluators;
    this.eventTypes = types;
  }

  /**
   * Builds the runner of each sequence and threshold; returns their steps as entries of the
   * generated evaluators (each step's event-only condition, latest step first).
   */
  #runSequences(additions: readonly OutputAddition[]): {
    id: number;
    pre: CompiledSequence["steps"][number]["pre"];
    eventTypes: Uint8Array;
  }[] {
    const entries: {
      id: number;
      pre: CompiledSequence["steps"][number]["pre"];
      eventTypes: Uint8Array;
    }[] = [];
    const predicates = new Map<string, Predicate>();
    const store = this.sequenceStore;
    this.sequences.forEach((q, qi) => {
      const a = additions.length > 0 ? additionsFor(q, additions) : undefined;
      const output = a !== undefined && a.outputText !== q.outputText
        ? compileOutput(a.outputText, q.source, {
          steps: q.steps.length,
          computed: q.kind === "threshold" ? ["threshold.count"] : undefined,
        })
        : q.output;
      const extras = a?.fields.length ? compileExtraFields(a.fields, q.source) : undefined;
      // Aggregation as the config sets it for rules; the main object is the last step's.
      const last = q.steps[q.steps.length - 1];
      const agg = this.options.aggregation
        ? aggregationFor(
          { name: q.name, source: q.source, tags: q.tags, fields: conditionFields(last.ast) },
          undefined,
          this.options.aggregation,
        )
        : undefined;
      this.sequenceAggregation.push(agg);
      const keys = agg && agg.key.length > 0
        ? compileOutput(agg.key.map((f) => `%${f}`).join(" "), q.source)
        : undefined;
      const fire = (ev: Event, kept: Map<string, FieldResult> | undefined) => {
        this.sequenceMatches[qi]++;
        const alert = this.#alert(q, output, extras, ev, kept);
        if (agg) {
          const f = keys ? renderOutput(keys, ev).fields : {};
          alert.grouping = { settings: agg, values: keys?.fields.map((k) => f[k] ?? null) ?? [] };
        }
        this.#emit(alert);
      };
      const table = store.table(q);
      if (q.kind === "threshold") {
        const runner = new ThresholdRunner(q, table as CountTable, store.maxEntries, fire);
        entries.push({
          id: this.#steps.length,
          pre: q.steps[0].checked,
          eventTypes: q.steps[0].eventTypes,
        });
        this.#steps.push({ run: (ev) => runner.count(ev) });
        return;
      }
      const full = q.steps.map((s) => {
        if (!s.usesCaptures) return undefined;
        const b = new FunctionBuilder();
        const src = b.buildPredicate(s.checked);
        let p = predicates.get(src);
        if (!p) predicates.set(src, p = instantiatePredicate(src, b.consts));
        return p;
      });
      const runner = new SequenceRunner(q, table as ChainTable, store.maxEntries, full, fire);
      for (const s of [...q.steps].reverse()) {
        entries.push({ id: this.#steps.length, pre: s.pre, eventTypes: s.eventTypes });
        const i = s.index;
        this.#steps.push({ run: (ev) => runner.step(i, ev) });
      }
    });
    store.retain(new Set(this.sequences.map((q) => q.name)));
    return entries;
  }

  #alert(
    q: CompiledSequence,
    output: OutputFormat,
    extras: ExtraField[] | undefined,
    ev: Event,
    kept: Map<string, FieldResult> | undefined,
  ): Alert {
    const r = renderOutput(output, ev, kept);
    if (extras) {
      for (const x of extras) {
        const v = renderOutput(x.format, ev);
        r.fields[x.name] = x.raw ? v.fields[x.format.fields[0]] ?? null : v.output;
      }
    }
    return {
      time: ev.ts,
      rule: q.name,
      priority: q.priority,
      source: q.source,
      tags: q.tags,
      output: r.output,
      outputFields: r.fields,
    };
  }

  #hit(id: number, ev: Event, emit: Emit): void {
    if (id >= this.rules.length) {
      this.#emit = emit;
      this.#steps[id - this.rules.length].run(ev);
      return;
    }
    const r = this.rules[id];
    this.matches[id]++;
    const { output, fields } = renderOutput(this.#outputs[id], ev);
    const extras = this.#extras[id];
    if (extras) {
      for (const x of extras) {
        const v = renderOutput(x.format, ev);
        fields[x.name] = x.raw ? v.fields[x.format.fields[0]] ?? null : v.output;
      }
    }
    const alert: Alert = {
      time: ev.ts,
      rule: r.name,
      priority: r.priority,
      source: r.source,
      tags: r.tags,
      output,
      outputFields: fields,
    };
    if (r.actions && r.source === "syscall") {
      alert.response = { rule: r.actions, target: targetOf(ev) };
    } else if (r.actions) {
      alert.response = {
        rule: r.actions,
        target: {
          pid: 0,
          name: "",
          exepath: "",
          user: "",
          uid: undefined,
          containerId: "",
          image: "",
        },
      };
    }
    const settings = this.aggregation[id];
    if (settings) alert.grouping = { settings, values: this.#keyValues(id, ev) };
    emit(alert);
  }

  /** The values of a rule's aggregation key fields for an event. */
  #keyValues(id: number, ev: Event): OutputFieldValue[] {
    const fmt = this.#keys[id];
    if (!fmt) return [];
    const f = renderOutput(fmt, ev).fields;
    return fmt.fields.map((k) => f[k] ?? null);
  }

  /** Evaluates the rules for one event (state already applied); returns the number of matches. */
  evaluate(ev: Event, emit: Emit): number {
    const f = this.#evaluators[ev.type];
    return f === undefined ? 0 : f(ev, emit);
  }

  /**
   * A test of whether a rule matches an event (state already applied), for an event filter:
   * what `evaluate(ev, emit) > 0` says, without the method's own call per event. Alerts go
   * nowhere (see {@link RulesetOptions.countOnly}).
   */
  matcher(): (ev: Event) => boolean {
    const evaluators = this.#evaluators;
    const none: Emit = () => {};
    return (ev) => {
      const f = evaluators[ev.info.id];
      return f !== undefined && f(ev, none) > 0;
    };
  }

  /** Names of the events the rules need (every name when a rule matches every type). */
  eventNames(): string[] {
    const s = new Uint8Array(EVENT_COUNT);
    for (const t of this.eventTypes) s[t] = 1;
    return setNames(s);
  }

  /** Syscall names for the kernel filter: the names of the needed events. */
  syscalls(): Set<string> {
    return new Set(this.eventNames());
  }

  /** The generated source evaluating events of type `type` (for debugging and tests). */
  sourceFor(type: number): string | undefined {
    return this.#sources.get(this.#evaluators[type]);
  }
}

/** Compiles loaded rules (with their sequences and thresholds) into a rule set. */
export function compileRuleset(
  loaded: LoadedRules | readonly CompiledRule[],
  opts: RulesetOptions = {},
): Ruleset {
  if (Array.isArray(loaded)) return new Ruleset(loaded as CompiledRule[], opts);
  const l = loaded as LoadedRules;
  return new Ruleset(l.rules, opts, l.sequences ?? []);
}
