/**
 * The field registry Saker's rules use ({@link FIELDS}), with the fields of system call events
 * (evt, proc, thread, fd, fs, user, group, container, k8s and the static fields). The fields of
 * plugins (the json and Kubernetes audit fields, the plugins Saker carries) join the same registry
 * when src/rules/fields/mod.ts is loaded: whatever loads rules files, lists fields or runs the
 * agent loads it. A filter or an output format over a capture file needs only these fields, and
 * starts without loading the plugins ({@link compileWithPluginFields} in src/rules/filter.ts
 * loads them when a condition names a field this registry lacks).
 *
 * The rules engine reads the registry through this module; the functions below are shorthands
 * for its methods, and read whatever fields are registered when they are called.
 *
 * @example
 * ```ts
 * import { FIELDS, lookupField } from "./core.ts";
 * lookupField("proc.name")?.def.type; // "charbuf"
 * FIELDS.classes().map((c) => c.name); // ["evt", "util", "proc", ...]
 * ```
 * @module
 */
import { checkArg, type FieldDef, type FieldRef, FieldRegistry } from "./registry.ts";
import { EVT_FIELDS } from "./evt.ts";
import { PROC_FIELDS } from "./proc.ts";
import { THREAD_FIELDS } from "./thread.ts";
import { FD_FIELDS } from "./fd.ts";
import { FS_FIELDS } from "./fs.ts";
import { USER_GROUP_FIELDS } from "./user.ts";
import { CONTAINER_FIELDS } from "./container.ts";
import { K8S_FIELDS } from "./k8s.ts";
import { STATIC_FIELDS } from "./static.ts";

/** Builds a registry of the system call field classes, in the order `saker fields` lists them. */
export function buildSyscallFieldRegistry(): FieldRegistry {
  const reg = new FieldRegistry();
  for (const cls of EVT_FIELDS) reg.define(cls);
  reg.define(PROC_FIELDS).define(THREAD_FIELDS).define(FD_FIELDS).define(FS_FIELDS);
  for (const cls of USER_GROUP_FIELDS) reg.define(cls);
  reg.define(CONTAINER_FIELDS).define(K8S_FIELDS).define(STATIC_FIELDS);
  return reg;
}

/**
 * The registry of every field rules can name: the system call fields, and the plugins' fields
 * once src/rules/fields/mod.ts is loaded.
 */
export const FIELDS: FieldRegistry = buildSyscallFieldRegistry();

/** {@link FieldRegistry.lookup} on {@link FIELDS}. */
export function lookupField(text: string): FieldRef | undefined {
  return FIELDS.lookup(text);
}

/** {@link FieldRegistry.usableFor} on {@link FIELDS}. */
export function fieldUsableFor(def: FieldDef, source: string): boolean {
  return FIELDS.usableFor(def, source);
}

/** {@link FieldRegistry.sourceOf} on {@link FIELDS}. */
export function fieldSource(def: FieldDef): string {
  return FIELDS.sourceOf(def);
}

/** {@link FieldRegistry.classes} on {@link FIELDS}. */
export function fieldClasses(): ReturnType<FieldRegistry["classes"]> {
  return FIELDS.classes();
}

/** {@link FieldRegistry.all} on {@link FIELDS}. */
export function allFields(): IterableIterator<FieldDef> {
  return FIELDS.all();
}

export { checkArg };
export type { FieldClass, FieldDef, FieldRef, FieldResult, FieldType } from "./registry.ts";

/** The fields `suggested_output` appends for rules of `source`, in registry order. */
export function suggestedFields(source: string): FieldDef[] {
  return [...FIELDS.all()].filter((f) => f.suggested && fieldUsableFor(f, source));
}
