/**
 * The field registry: every field a condition or output can name (`proc.name`, `fd.sip`,
 * `evt.arg.flags`, `proc.aname[2]`), with its type, description and extractor. This module
 * holds the shapes and the {@link FieldRegistry} class; the registry Saker's conditions, output
 * formatting and `saker fields` read is built from every field module in mod.ts.
 *
 * Extractors take the event (which carries its enrichment: `ev.thread`, `ev.fdInfo`) and the
 * field argument, and return a value or `undefined` when the value cannot be extracted; every
 * comparison on `undefined` is false, `!=` included.
 *
 * @example
 * ```ts
 * import { FieldRegistry } from "./registry.ts";
 * const reg = new FieldRegistry();
 * reg.define({ name: "demo", desc: "Example fields.", fields: [
 *   { name: "demo.tid", type: "int64", desc: "Thread id.", extract: (ev) => ev.tid },
 * ] });
 * reg.lookup("demo.tid")?.def.type; // "int64"
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { EventInfo } from "../../events/table.ts";

/** Value types of fields (names follow Falco's field types, lowercased). */
export type FieldType =
  | "charbuf"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "bool"
  | "ipaddr"
  | "ipnet"
  | "port"
  | "l4proto"
  | "reltime"
  | "abstime"
  | "bytebuf"
  | "double"
  | "dyn"
  | "fspath"
  | "mode"
  | "fd"
  | "pid"
  | "errno"
  | "uid"
  | "gid"
  | "sockfamily"
  | "flags32";

/** Returned by `constant` for event types where the value does depend on the event. */
export const NOT_CONSTANT: unique symbol = Symbol("not constant");

/** A scalar field value. */
export type FieldScalar = string | number | bigint | boolean | Uint8Array;

/** What an extractor returns: a value, several values (list fields), or undefined. */
export type FieldResult = FieldScalar | FieldScalar[] | undefined;

/** Whether and how a field takes an argument (`proc.aname[2]`, `evt.arg.fd`, `proc.env[HOME]`). */
export type FieldArgMode = "none" | "optional" | "required";

/** One field. */
export interface FieldDef {
  /** Full name, e.g. `proc.aname`. */
  name: string;
  type: FieldType;
  /** What the field means, in Saker's words. */
  desc: string;
  /**
   * For fields read from the process and thread state: which events change the value
   * (texts from updates.ts), shown by `saker fields`.
   */
  updated?: string;
  /** Argument handling; default "none". */
  arg?: FieldArgMode;
  /** The argument may also follow a dot (`evt.arg.fd` as well as `evt.arg[fd]`). */
  dottedArg?: boolean;
  /** The argument must be a non-negative integer (`proc.aname[2]`). */
  numericArg?: boolean;
  /** The extractor returns an array; comparisons match if any element matches. */
  list?: boolean;
  /**
   * With `list`: a list in Falco's sense (a plugin's list field, e.g.
   * ka.req.pod.containers.image), where `in` holds only when every element is in the set
   * (`intersects` when one is).
   */
  subsetIn?: boolean;
  /**
   * Values seldom repeat from one event to the next (times, unique ids): the generated code does
   * not remember test results by value for it.
   */
  distinct?: boolean;
  /** Printable in outputs only, not usable in conditions. */
  printOnly?: boolean;
  /** Hidden from `saker fields` (kept for compatibility with old rules). */
  deprecated?: boolean;
  /**
   * Appended to rule outputs by `append_output` entries with `suggested_output: true`, as
   * `name_with_underscores=%name` (the fields Falco's container plugin suggests).
   */
  suggested?: boolean;
  /** Event names this field is only meaningful for (informational, used for warnings). */
  eventTypes?: string[];
  /**
   * The extractor may return several values for one event (ancestors for `proc.aname`, both ends
   * for `fd.ip`): a check matches when any of them matches. Unlike `list`, every operator works.
   */
  multi?: boolean;
  /**
   * The value depends only on the event type (`evt.type`, `evt.category` ...): the compiler
   * evaluates checks on it once per event type instead of once per event.
   */
  constant?: (info: EventInfo, arg: string | undefined) => FieldResult | typeof NOT_CONSTANT;
  /** The field's type depends on its argument (`evt.rawarg.NAME` takes the parameter's type). */
  typeFor?: (arg: string) => FieldType | undefined;
  /** Checks the argument beyond `arg`/`numericArg`; returns an error message or undefined. */
  checkArg?: (arg: string) => string | undefined;
  /** Not allowed on the right-hand side of a comparison (`val(...)`). */
  noRhs?: boolean;
  /** Extracts the value; `arg` is the field argument when one was given. */
  extract: (ev: Event, arg: string | undefined) => FieldResult;
}

/** A class of fields (`proc`, `fd`, `evt` ...) as a field module declares it. */
export interface FieldClassSpec {
  name: string;
  desc: string;
  /** Event source the class belongs to; default "syscall"; "*" for every source. */
  source?: string;
  fields: readonly FieldDef[];
}

/** A class of fields as the registry lists it. */
export interface FieldClass {
  name: string;
  desc: string;
  /** Event source the class belongs to; default "syscall"; "*" for every source. */
  source?: string;
  fields: FieldDef[];
}

/**
 * Fields already defined for one source that rules of another `source` may use too (the time
 * fields of `evt` for Kubernetes audit events); listed under `cls` for that source. Their
 * extractors must work on that source's events.
 */
export interface SharedFields {
  cls: { name: string; desc: string };
  names: readonly string[];
  source: string;
}

/** The result of resolving a field reference as written in a rule. */
export interface FieldRef {
  def: FieldDef;
  /** The argument (from `[...]` or a dotted suffix), if any. */
  arg: string | undefined;
}

/** Returns an error message when `ref`'s argument breaks its field's rules, else undefined. */
export function checkArg(ref: FieldRef): string | undefined {
  const mode = ref.def.arg ?? "none";
  if (ref.arg === undefined) {
    return mode === "required" ? `field ${ref.def.name} requires an argument` : undefined;
  }
  if (mode === "none") return `field ${ref.def.name} does not take an argument`;
  if (ref.def.numericArg && !/^\d+$/.test(ref.arg)) {
    return `field ${ref.def.name} needs a numeric argument, got '${ref.arg}'`;
  }
  return ref.def.checkArg?.(ref.arg);
}

/** A set of field classes, looked up by field name. */
export class FieldRegistry {
  readonly #classes: FieldClass[] = [];
  readonly #byName = new Map<string, FieldDef>();
  readonly #sourceOf = new Map<FieldDef, string>();
  readonly #sharedWith = new Map<FieldDef, Set<string>>();
  readonly #dormant = new Set<string>();

  /** Adds a class of fields. A field name defined twice is a programming error. */
  define(cls: FieldClassSpec): this {
    for (const f of cls.fields) {
      if (this.#byName.has(f.name)) throw new Error(`field ${f.name} is defined twice`);
      this.#byName.set(f.name, f);
      this.#sourceOf.set(f, cls.source ?? "syscall");
    }
    const existing = this.#classes.find((c) => c.name === cls.name && c.source === cls.source);
    if (existing) existing.fields.push(...cls.fields);
    else this.#classes.push({ ...cls, fields: [...cls.fields] });
    return this;
  }

  /** Makes fields already defined usable by rules of another source too. */
  share(shared: SharedFields): this {
    const { cls, names, source } = shared;
    const defs = names.map((n) => {
      const d = this.#byName.get(n);
      if (!d) throw new Error(`field ${n} is not defined`);
      return d;
    });
    for (const d of defs) {
      const set = this.#sharedWith.get(d) ?? new Set<string>();
      set.add(source);
      this.#sharedWith.set(d, set);
    }
    const existing = this.#classes.find((c) => c.name === cls.name && c.source === source);
    if (existing) existing.fields.push(...defs);
    else this.#classes.push({ ...cls, source, fields: defs });
    return this;
  }

  /**
   * Resolves a field reference: `proc.name`, `proc.aname[2]`, `evt.arg.fd`, `evt.arg[0]`.
   * Returns undefined for an unknown field. Does not check argument rules; see
   * {@link checkArg}.
   */
  lookup(text: string): FieldRef | undefined {
    let name = text;
    let arg: string | undefined;
    const bracket = text.indexOf("[");
    if (bracket > 0 && text.endsWith("]")) {
      name = text.slice(0, bracket);
      arg = text.slice(bracket + 1, -1);
    }
    const def = this.#byName.get(name);
    if (def) return { def, arg };
    if (arg !== undefined) return undefined;
    // Dotted argument: the longest registered prefix that accepts one.
    for (let dot = name.lastIndexOf("."); dot > 0; dot = name.lastIndexOf(".", dot - 1)) {
      const prefix = this.#byName.get(name.slice(0, dot));
      if (prefix?.dottedArg) return { def: prefix, arg: name.slice(dot + 1) };
    }
    return undefined;
  }

  /** The event source a field belongs to ("syscall", "k8s_audit", or "*" for all). */
  sourceOf(def: FieldDef): string {
    return this.#sourceOf.get(def) ?? "syscall";
  }

  /** True when `def` can be used by rules of `source`. */
  usableFor(def: FieldDef, source: string): boolean {
    const s = this.sourceOf(def);
    return s === "*" || s === source || this.#sharedWith.get(def)?.has(source) === true;
  }

  /**
   * Marks a source whose fields are registered but whose plugin is not loaded: rules of it are
   * skipped as of an unknown source (Falco's LOAD_UNKNOWN_SOURCE) until {@link wake} is called.
   */
  sleep(source: string): this {
    this.#dormant.add(source);
    return this;
  }

  /** Makes a dormant source known to rules (its plugin is loaded). */
  wake(source: string): this {
    this.#dormant.delete(source);
    return this;
  }

  /** True for a source whose plugin is not loaded. */
  isDormant(source: string): boolean {
    return this.#dormant.has(source);
  }

  /** Every class, in definition order. */
  classes(): readonly FieldClass[] {
    return this.#classes;
  }

  /** Every field. */
  all(): IterableIterator<FieldDef> {
    return this.#byName.values();
  }
}
