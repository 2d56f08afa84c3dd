/**
 * The collector: lists, macros and rules as read from rules files, with Falco's redefinition
 * semantics. A redefinition keeps the item's original position (`index`, which orders lists,
 * macros and rules) and moves its visibility (`visibility`: macros and lists see only items whose
 * index is lower); appends join conditions with one space; overrides append or replace per key.
 * @module
 */
import { type Context, LoadError } from "./result.ts";
import type { MappedText } from "./source_text.ts";
import { isOperatorWithModifier, OPERATORS } from "./ast.ts";
import type { Priority } from "./alert.ts";
import type { AggregationSpec } from "./aggregation.ts";
import type { RuleActions } from "./actions.ts";

/** A scalar or a (nested) list of scalars in an exception definition. */
export interface ExceptionEntry {
  isList: boolean;
  item: string;
  items: ExceptionEntry[];
}

/** One exception of a rule. */
export interface ExceptionInfo {
  name: string;
  fields: ExceptionEntry | undefined;
  comps: ExceptionEntry | undefined;
  values: ExceptionEntry[];
  ctx: Context;
}

/** A list as collected. */
export interface ListInfo {
  name: string;
  items: string[];
  index: number;
  visibility: number;
  ctx: Context;
}

/** A macro as collected. */
export interface MacroInfo {
  name: string;
  cond: MappedText;
  condCtx: Context;
  index: number;
  visibility: number;
  ctx: Context;
}

/** A rule as collected. */
export interface RuleInfo {
  name: string;
  cond: MappedText;
  condCtx: Context;
  output: string;
  outputCtx: Context;
  desc: string;
  priority: Priority;
  source: string;
  enabled: boolean;
  capture: boolean;
  captureDuration: number;
  warnEvttypes: boolean;
  skipIfUnknownFilter: boolean;
  tags: string[];
  exceptions: ExceptionInfo[];
  /** Saker's `aggregate:` key, where it was written. */
  aggregate?: { spec: AggregationSpec; ctx: Context };
  /** Saker's `actions:` key, where it was written. */
  actions?: { spec: RuleActions; ctx: Context };
  index: number;
  visibility: number;
  ctx: Context;
  unknownSource: boolean;
}

/** Fields an append or a replace of a rule may carry. */
export interface RuleUpdate {
  name: string;
  source: string;
  ctx: Context;
  cond?: MappedText;
  condCtx?: Context;
  output?: string;
  desc?: string;
  tags?: string[];
  exceptions?: ExceptionInfo[];
  priority?: Priority;
  capture?: boolean;
  captureDuration?: number;
  enabled?: boolean;
  warnEvttypes?: boolean;
  skipIfUnknownFilter?: boolean;
  aggregate?: { spec: AggregationSpec; ctx: Context };
  actions?: { spec: RuleActions; ctx: Context };
}

/** A value a sequence step keeps for later steps (`capture: {path: fd.name}`). */
export interface CaptureInfo {
  name: string;
  /** The field (or transformer) whose value is kept. */
  field: string;
  ctx: Context;
}

/** A field named by a sequence or threshold (`by` keys, `distinct`). */
export interface FieldInfo {
  field: string;
  ctx: Context;
}

/** One step of a sequence as collected (a threshold has one, from its condition). */
export interface StepInfo {
  /** A `not:` step: an event matching it between the steps around it ends the chain. */
  negated: boolean;
  cond: MappedText;
  condCtx: Context;
  captures: CaptureInfo[];
  exceptions: ExceptionInfo[];
  ctx: Context;
}

/** Additions to one step (`override: {steps: append}`): more condition, more exceptions. */
export interface StepAppend {
  /** Whether the entry appends to a `not:` step (undefined: it names no condition). */
  negated?: boolean;
  cond?: MappedText;
  condCtx?: Context;
  exceptions?: ExceptionInfo[];
  ctx: Context;
}

/** A sequence or threshold rule as collected. */
export interface SequenceInfo {
  kind: "sequence" | "threshold";
  name: string;
  desc: string;
  output: string;
  outputCtx: Context;
  priority: Priority;
  source: string;
  enabled: boolean;
  tags: string[];
  /** Fields whose values every event of one chain (or count) shares. */
  by: FieldInfo[];
  /** Window in seconds: a chain completes, or a count fills, within it. */
  within: number;
  steps: StepInfo[];
  /** Threshold: matching events (or distinct values) that make an alert. */
  count: number;
  /** Threshold: count distinct values of this field instead of events. */
  distinct: FieldInfo | undefined;
  warnEvttypes: boolean;
  skipIfUnknownFilter: boolean;
  index: number;
  visibility: number;
  ctx: Context;
  unknownSource: boolean;
}

/** Keys an append or a replace of a sequence or threshold may carry. */
export interface SequenceUpdate {
  kind: "sequence" | "threshold";
  name: string;
  source: string;
  ctx: Context;
  desc?: string;
  output?: string;
  tags?: string[];
  priority?: Priority;
  enabled?: boolean;
  by?: FieldInfo[];
  within?: number;
  count?: number;
  distinct?: FieldInfo;
  warnEvttypes?: boolean;
  skipIfUnknownFilter?: boolean;
  /** Replace: the new steps (a sequence). */
  steps?: StepInfo[];
  /** Replace: the new condition or exceptions (a threshold). */
  cond?: MappedText;
  condCtx?: Context;
  exceptions?: ExceptionInfo[];
  /** Append: additions to the steps, by position. */
  stepAppends?: StepAppend[];
}

/** Engine and plugin version requirements of the loaded files. */
export interface Requirements {
  engineVersion: string | undefined;
  plugins: { name: string; version: string }[][];
}

/** Answers whether a field exists for a source (exceptions are validated against it). */
export type FieldValidator = (source: string, field: string) => boolean;

/** Falco's errors for an exception without fields: defined with its item, or appended/replaced. */
const NO_FIELDS_ITEM = "Rule exception item must have fields property with a list of fields";
const NO_FIELDS = "Rule exception must have fields property with a list of fields";

function fail(msg: string, ctx: Context): never {
  throw new LoadError("LOAD_ERR_VALIDATE", msg, ctx);
}

function normalizeComp(s: string): string {
  return s.trim();
}

function isOperator(op: string): boolean {
  return (OPERATORS as readonly string[]).includes(op) || isOperatorWithModifier(op);
}

/** Fills default comps and checks an exception's fields and comps (Falco's rules). */
export function validateException(
  ex: ExceptionInfo,
  source: string,
  hasField: FieldValidator | undefined,
): void {
  const fields = ex.fields;
  if (!fields) return;
  if (fields.isList) {
    if (!ex.comps) {
      ex.comps = {
        isList: true,
        item: "",
        items: fields.items.map(() => ({ isList: false, item: "=", items: [] })),
      };
    }
    if (fields.items.length !== ex.comps.items.length) {
      fail("Fields and comps lists must have equal length", ex.ctx);
    }
    for (const c of ex.comps.items) {
      c.item = normalizeComp(c.item);
      if (!isOperator(c.item)) fail(`'${c.item}' is not a supported comparison operator`, ex.ctx);
    }
    if (hasField) {
      for (const f of fields.items) {
        if (!hasField(source, f.item)) fail(`'${f.item}' is not a supported filter field`, ex.ctx);
      }
    }
  } else {
    if (!ex.comps) ex.comps = { isList: false, item: "in", items: [] };
    if (ex.comps.isList) fail("Fields and comps must both be strings", ex.ctx);
    ex.comps.item = normalizeComp(ex.comps.item);
    const c = ex.comps.item;
    if (c !== "in" && c !== "pmatch" && c !== "intersects" && !isOperatorWithModifier(c)) {
      fail(
        "When fields is a single value, comps must be one of (in, pmatch, intersects) " +
          "or a modifier operator (e.g. startswith oneof)",
        ex.ctx,
      );
    }
    if (hasField && !hasField(source, fields.item)) {
      fail(`'${fields.item}' is not a supported filter field`, ex.ctx);
    }
  }
}

/** Collects items across files, in order. */
export class Collector {
  readonly lists = new Map<string, ListInfo>();
  readonly macros = new Map<string, MacroInfo>();
  readonly rules = new Map<string, RuleInfo>();
  /** Sequence and threshold rules, by name. */
  readonly sequences = new Map<string, SequenceInfo>();
  readonly requirements: Requirements = { engineVersion: undefined, plugins: [] };
  #next = 0;
  /** Sources whose fields are known (rules of other sources are skipped with a warning). */
  readonly knownSources: ReadonlySet<string>;
  readonly hasField: FieldValidator | undefined;

  constructor(knownSources: ReadonlySet<string>, hasField?: FieldValidator) {
    this.knownSources = knownSources;
    this.hasField = hasField;
  }

  #define<T extends { name: string; index: number; visibility: number }>(
    map: Map<string, T>,
    info: T,
  ): void {
    const id = this.#next++;
    const prev = map.get(info.name);
    info.visibility = id;
    info.index = prev ? prev.index : id;
    map.set(info.name, info);
  }

  /** Defines (or redefines) a list. */
  defineList(info: ListInfo): void {
    this.#define(this.lists, info);
  }

  /** Appends items to an existing list. */
  appendList(info: ListInfo): void {
    const prev = this.lists.get(info.name);
    if (!prev) fail("List has 'append' key but no list by that name already exists", info.ctx);
    prev.items.push(...info.items);
    prev.visibility = this.#next++;
  }

  /** Defines (or redefines) a macro. */
  defineMacro(info: MacroInfo): void {
    this.#define(this.macros, info);
  }

  /** Appends to an existing macro's condition. */
  appendMacro(info: MacroInfo): void {
    const prev = this.macros.get(info.name);
    if (!prev) fail("Macro has 'append' key but no macro by that name already exists", info.ctx);
    prev.cond = prev.cond.concat(" ", info.cond);
    prev.visibility = this.#next++;
  }

  #findPrevRule(name: string, source: string, ctx: Context): RuleInfo | undefined {
    const prev = this.rules.get(name);
    if (prev && prev.source !== "" && source !== "" && prev.source !== source) {
      fail("Rule has been re-defined with a different source", ctx);
    }
    return prev;
  }

  /** Defines (or redefines) a rule. Returns false when the rule's source is unknown. */
  defineRule(info: RuleInfo): void {
    if (this.sequences.has(info.name)) {
      fail(
        `A ${this.sequences.get(info.name)!.kind} named '${info.name}' exists: rules, ` +
          "sequences and thresholds share names",
        info.ctx,
      );
    }
    this.#findPrevRule(info.name, info.source, info.ctx);
    info.unknownSource = !this.knownSources.has(info.source);
    this.#checkExceptions(info.exceptions, info);
    this.#define(this.rules, info);
  }

  /**
   * Checks exceptions written whole (each must name its fields) against the fields of `owner`'s
   * source (unless that source is unknown), filling in their default comps.
   */
  #checkExceptions(
    exceptions: ExceptionInfo[],
    owner: { source: string; unknownSource: boolean },
    noFields = NO_FIELDS_ITEM,
  ): void {
    for (const ex of exceptions) {
      if (!ex.fields) fail(noFields, ex.ctx);
      validateException(ex, owner.source, owner.unknownSource ? undefined : this.hasField);
    }
  }

  /**
   * Appends exceptions to a rule's or a step's list: a new name is a whole exception (fields and
   * values, checked like a definition); a known name adds values only, and `refused` gives the
   * errors for the fields or comps it may not bring.
   */
  #appendExceptions(
    list: ExceptionInfo[],
    adds: ExceptionInfo[],
    owner: { source: string; unknownSource: boolean },
    refused: { fields: string; comps: string },
  ): void {
    for (const ex of adds) {
      const old = list.find((e) => e.name === ex.name);
      if (!old) {
        if (!ex.fields) fail(NO_FIELDS, ex.ctx);
        if (ex.values.length === 0) {
          fail("Rule exception must have values property with a list of values", ex.ctx);
        }
        validateException(ex, owner.source, owner.unknownSource ? undefined : this.hasField);
        list.push(ex);
      } else {
        if (ex.fields) fail(refused.fields, ex.ctx);
        if (ex.comps) fail(refused.comps, ex.ctx);
        old.values.push(...ex.values);
      }
    }
  }

  /** Appends condition, output, desc, tags or exceptions to an existing rule. */
  appendRule(u: RuleUpdate): void {
    const prev = this.#findPrevRule(u.name, u.source, u.ctx);
    if (!prev) fail("Rule has 'append' key but no rule by that name already exists", u.ctx);
    if (
      u.cond === undefined && u.exceptions === undefined && u.output === undefined &&
      u.desc === undefined && u.tags === undefined
    ) {
      fail("Appended rule must have exceptions or condition property", u.ctx);
    }
    if (u.cond !== undefined && u.cond.text.length > 0) prev.cond = prev.cond.concat(" ", u.cond);
    if (u.output) prev.output += " " + u.output;
    if (u.desc) prev.desc += " " + u.desc;
    if (u.tags) prev.tags = [...new Set([...prev.tags, ...u.tags])].sort();
    this.#appendExceptions(prev.exceptions, u.exceptions ?? [], prev, {
      fields: "Can not append exception fields to existing exception, only values",
      comps: "Can not append exception comps to existing exception, only values",
    });
    prev.visibility = this.#next++;
  }

  /** Replaces the given keys of an existing rule. */
  replaceRule(u: RuleUpdate): void {
    const prev = this.#findPrevRule(u.name, u.source, u.ctx);
    if (!prev) {
      fail(
        "An 'override.<key>: replace' to a rule was requested but no rule by that name " +
          "already exists",
        u.ctx,
      );
    }
    if (u.cond !== undefined) prev.cond = u.cond;
    if (u.output !== undefined) prev.output = u.output;
    if (u.desc !== undefined) prev.desc = u.desc;
    if (u.tags !== undefined) prev.tags = u.tags;
    if (u.exceptions !== undefined) {
      this.#checkExceptions(u.exceptions, prev, NO_FIELDS);
      prev.exceptions = u.exceptions;
    }
    if (u.priority !== undefined) prev.priority = u.priority;
    if (u.capture !== undefined) prev.capture = u.capture;
    if (u.captureDuration !== undefined) prev.captureDuration = u.captureDuration;
    if (u.enabled !== undefined) prev.enabled = u.enabled;
    if (u.warnEvttypes !== undefined) prev.warnEvttypes = u.warnEvttypes;
    if (u.skipIfUnknownFilter !== undefined) prev.skipIfUnknownFilter = u.skipIfUnknownFilter;
    if (u.aggregate !== undefined) prev.aggregate = u.aggregate;
    if (u.actions !== undefined) prev.actions = u.actions;
    prev.visibility = this.#next++;
  }

  /** Sets `enabled` of an existing rule (a rule item with only `rule` and `enabled`). */
  enableRule(name: string, enabled: boolean, ctx: Context): void {
    const prev = this.rules.get(name);
    if (!prev) fail("Rule has 'enabled' key but no rule by that name already exists", ctx);
    prev.enabled = enabled;
  }

  #findPrevSequence(u: { name: string; kind: string; source: string; ctx: Context }) {
    const prev = this.sequences.get(u.name);
    if (prev && prev.kind !== u.kind) {
      fail(`'${u.name}' is a ${prev.kind}, it cannot be changed as a ${u.kind}`, u.ctx);
    }
    if (prev && prev.source !== "" && u.source !== "" && prev.source !== u.source) {
      fail(`The ${u.kind} has been re-defined with a different source`, u.ctx);
    }
    return prev;
  }

  /** Defines (or redefines) a sequence or threshold rule. */
  defineSequence(info: SequenceInfo): void {
    if (this.rules.has(info.name)) {
      fail(
        `A rule named '${info.name}' exists: rules, sequences and thresholds share names`,
        info.ctx,
      );
    }
    this.#findPrevSequence(info);
    info.unknownSource = !this.knownSources.has(info.source);
    for (const st of info.steps) this.#checkExceptions(st.exceptions, info);
    this.#define(this.sequences, info);
  }

  /** Appends desc, output, tags, or step conditions and exceptions, to a sequence or threshold. */
  appendSequence(u: SequenceUpdate): void {
    const prev = this.#findPrevSequence(u);
    if (!prev) fail(`The ${u.kind} has 'append' but no ${u.kind} by that name exists`, u.ctx);
    if (u.output) prev.output += " " + u.output;
    if (u.desc) prev.desc += " " + u.desc;
    if (u.tags) prev.tags = [...new Set([...prev.tags, ...u.tags])].sort();
    const adds = u.stepAppends ?? [];
    if (adds.length > prev.steps.length) {
      fail(
        `${adds.length} steps appended to a ${u.kind} of ${prev.steps.length}: an entry per ` +
          "existing step, in order ({} leaves a step as it is)",
        adds[prev.steps.length].ctx,
      );
    }
    adds.forEach((a, i) => {
      const step = prev.steps[i];
      if (a.negated !== undefined && a.negated !== step.negated) {
        fail(
          `Step ${i} is a '${step.negated ? "not" : "condition"}' step: append to it with ` +
            `'${step.negated ? "not" : "condition"}'`,
          a.ctx,
        );
      }
      if (a.cond !== undefined && a.cond.text.length > 0) step.cond = step.cond.concat(" ", a.cond);
      const refused = "Can not append exception fields or comps to an existing exception";
      this.#appendExceptions(step.exceptions, a.exceptions ?? [], prev, {
        fields: refused,
        comps: refused,
      });
    });
    prev.visibility = this.#next++;
  }

  /** Replaces the given keys of an existing sequence or threshold. */
  replaceSequence(u: SequenceUpdate): void {
    const prev = this.#findPrevSequence(u);
    if (!prev) {
      fail(
        `An 'override.<key>: replace' to a ${u.kind} was requested but no ${u.kind} by that ` +
          "name already exists",
        u.ctx,
      );
    }
    if (u.desc !== undefined) prev.desc = u.desc;
    if (u.output !== undefined) prev.output = u.output;
    if (u.tags !== undefined) prev.tags = u.tags;
    if (u.priority !== undefined) prev.priority = u.priority;
    if (u.enabled !== undefined) prev.enabled = u.enabled;
    if (u.by !== undefined) prev.by = u.by;
    if (u.within !== undefined) prev.within = u.within;
    if (u.count !== undefined) prev.count = u.count;
    if (u.distinct !== undefined) prev.distinct = u.distinct;
    if (u.warnEvttypes !== undefined) prev.warnEvttypes = u.warnEvttypes;
    if (u.skipIfUnknownFilter !== undefined) prev.skipIfUnknownFilter = u.skipIfUnknownFilter;
    if (u.steps !== undefined) {
      for (const st of u.steps) this.#checkExceptions(st.exceptions, prev);
      prev.steps = u.steps;
    }
    if (u.cond !== undefined) {
      prev.steps[0].cond = u.cond;
      prev.steps[0].condCtx = u.condCtx ?? prev.steps[0].condCtx;
    }
    if (u.exceptions !== undefined) {
      this.#checkExceptions(u.exceptions, prev);
      prev.steps[0].exceptions = u.exceptions;
    }
    prev.visibility = this.#next++;
  }

  /** Sets `enabled` of an existing sequence or threshold (an item with only its name and it). */
  enableSequence(kind: SequenceInfo["kind"], name: string, enabled: boolean, ctx: Context): void {
    const prev = this.sequences.get(name);
    if (!prev || prev.kind !== kind) {
      fail(`The ${kind} has 'enabled' but no ${kind} by that name already exists`, ctx);
    }
    prev.enabled = enabled;
  }

  /** Items of a map ordered by their original position. */
  static ordered<T extends { index: number }>(map: Map<string, T>): T[] {
    return [...map.values()].sort((a, b) => a.index - b.index);
  }
}
