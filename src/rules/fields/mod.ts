/**
 * Every field Saker's rules can name: the registry of src/rules/fields/core.ts ({@link FIELDS},
 * the system call fields) with the plugins' fields registered into it when this module loads:
 * the json and Kubernetes audit fields, and the fields of the plugins Saker carries (their
 * sources asleep until a plugin is loaded). Loading rules files, listing fields, rule tests and
 * the agent import this module; a filter over a capture file does not need to (it loads this
 * module only when it names a field the system call registry lacks), which spares `saker
 * replay FILE FILTER` the plugins' modules at start.
 *
 * @example
 * ```ts
 * import { FIELDS, lookupField } from "./mod.ts";
 * lookupField("ct.name")?.def.type; // "charbuf"
 * FIELDS.classes().map((c) => c.name); // ["evt", "util", "proc", ..., "ct", ...]
 * ```
 * @module
 */
import { FIELDS } from "./core.ts";
import type { FieldRegistry } from "./registry.ts";
import { JSON_PLUGIN, K8SAUDIT_PLUGIN_FIELDS } from "./k8saudit.ts";
import { registerPluginFields } from "./plugin.ts";
import { BUILTIN_PLUGINS } from "../../plugins/builtin.ts";

/**
 * Registers the plugins' fields into `reg` (a registry of the system call fields): json first,
 * so that every source plugin gets its fields, then Kubernetes audit, then the plugins Saker
 * carries, their fields known (`saker fields`), their sources asleep until loaded.
 */
export function registerPluginFieldClasses(reg: FieldRegistry): FieldRegistry {
  registerPluginFields(reg, JSON_PLUGIN);
  registerPluginFields(reg, K8SAUDIT_PLUGIN_FIELDS);
  for (const p of BUILTIN_PLUGINS) {
    registerPluginFields(reg, p);
    if (p.source) reg.sleep(p.source);
  }
  return reg;
}

registerPluginFieldClasses(FIELDS);

/** Makes the source of a loaded plugin Saker carries known to rules ({@link FieldRegistry.wake}). */
export function wakeSource(source: string): void {
  FIELDS.wake(source);
}

export {
  allFields,
  checkArg,
  fieldClasses,
  FIELDS,
  fieldSource,
  fieldUsableFor,
  lookupField,
  suggestedFields,
} from "./core.ts";
export type { FieldClass, FieldDef, FieldRef, FieldResult, FieldType } from "./core.ts";
