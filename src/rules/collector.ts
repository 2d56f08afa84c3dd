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

/** Engine and plugin version requirements of the loaded files. */
export interface Requirements {
  engineVersion: string | undefined;
  plugins: { name: string; version: string }[][];
}

/** Answers whether a field exists for a source (exceptions are validated against it). */
export type FieldValidator = (source: string, field: string) => boolean;

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
    this.#findPrevRule(info.name, info.source, info.ctx);
    info.unknownSource = !this.knownSources.has(info.source);
    for (const ex of info.exceptions) {
      if (!ex.fields) {
        fail("Rule exception item must have fields property with a list of fields", ex.ctx);
      }
      validateException(ex, info.source, info.unknownSource ? undefined : this.hasField);
    }
    this.#define(this.rules, info);
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
    const check = prev.unknownSource ? undefined : this.hasField;
    if (u.cond !== undefined && u.cond.text.length > 0) prev.cond = prev.cond.concat(" ", u.cond);
    if (u.output) prev.output += " " + u.output;
    if (u.desc) prev.desc += " " + u.desc;
    if (u.tags) prev.tags = [...new Set([...prev.tags, ...u.tags])].sort();
    for (const ex of u.exceptions ?? []) {
      const old = prev.exceptions.find((e) => e.name === ex.name);
      if (!old) {
        if (!ex.fields) {
          fail("Rule exception must have fields property with a list of fields", ex.ctx);
        }
        if (ex.values.length === 0) {
          fail("Rule exception must have values property with a list of values", ex.ctx);
        }
        validateException(ex, prev.source, check);
        prev.exceptions.push(ex);
      } else {
        if (ex.fields) {
          fail("Can not append exception fields to existing exception, only values", ex.ctx);
        }
        if (ex.comps) {
          fail("Can not append exception comps to existing exception, only values", ex.ctx);
        }
        old.values.push(...ex.values);
      }
    }
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
      const check = prev.unknownSource ? undefined : this.hasField;
      for (const ex of u.exceptions) {
        if (!ex.fields) {
          fail("Rule exception must have fields property with a list of fields", ex.ctx);
        }
        validateException(ex, prev.source, check);
      }
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

  /** Items of a map ordered by their original position. */
  static ordered<T extends { index: number }>(map: Map<string, T>): T[] {
    return [...map.values()].sort((a, b) => a.index - b.index);
  }
}
