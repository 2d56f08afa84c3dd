/**
 * The field registry Saker's rules use, built explicitly from every field module: conditions,
 * outputs, filters and `saker fields` read {@link FIELDS}. The functions below are shorthands
 * for its methods. Adding a field class means adding its module's spec here.
 *
 * @example
 * ```ts
 * import { FIELDS, lookupField } from "./mod.ts";
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
import { JSON_PLUGIN, K8SAUDIT_PLUGIN_FIELDS } from "./k8saudit.ts";
import { registerPluginFields } from "./plugin.ts";
import { BUILTIN_PLUGINS } from "../../plugins/builtin.ts";

/** Builds the registry of every built-in field class, in the order `saker fields` lists them. */
export function buildFieldRegistry(): FieldRegistry {
  const reg = new FieldRegistry();
  for (const cls of EVT_FIELDS) reg.define(cls);
  reg.define(PROC_FIELDS).define(THREAD_FIELDS).define(FD_FIELDS).define(FS_FIELDS);
  for (const cls of USER_GROUP_FIELDS) reg.define(cls);
  reg.define(CONTAINER_FIELDS).define(K8S_FIELDS).define(STATIC_FIELDS);
  // Plugins: the json plugin first, so that every source plugin gets its fields.
  registerPluginFields(reg, JSON_PLUGIN);
  registerPluginFields(reg, K8SAUDIT_PLUGIN_FIELDS);
  // The plugins Saker carries: fields known (saker fields), sources asleep until loaded.
  for (const p of BUILTIN_PLUGINS) {
    registerPluginFields(reg, p);
    if (p.source) reg.sleep(p.source);
  }
  return reg;
}

/** The registry of every built-in field. */
export const FIELDS: FieldRegistry = buildFieldRegistry();

/** Makes the source of a loaded plugin Saker carries known to rules ({@link FieldRegistry.wake}). */
export function wakeSource(source: string): void {
  FIELDS.wake(source);
}

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
