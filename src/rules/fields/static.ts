/**
 * `static.*` fields: values fixed by the config (Falco's `static_fields`), the same for every
 * event of every source, e.g. a cluster or environment name to match on (`static.env = prod`)
 * and to see in every alert (`suggested_output` appends `static_env=prod`). A value is known
 * when the rules are built, so the compiler decides checks on it once per event type.
 *
 * @example
 * ```ts
 * import { setStaticFields, staticFieldNames } from "./static.ts";
 * setStaticFields({ env: "prod" });
 * staticFieldNames(); // ["static.env"]
 * ```
 * @module
 */
import type { FieldClassSpec, FieldResult } from "./registry.ts";

let values = new Map<string, string>();

/** Sets the static fields (config `static_fields`); call before rules are built. */
export function setStaticFields(fields: Readonly<Record<string, string>>): void {
  values = new Map(Object.entries(fields));
}

/** The names of the static fields set (`static.NAME`). */
export function staticFieldNames(): string[] {
  return [...values.keys()].map((k) => `static.${k}`);
}

const valueOf = (arg: string | undefined): FieldResult =>
  arg === undefined ? undefined : values.get(arg);

/** The static.* field. */
export const STATIC_FIELDS: FieldClassSpec = {
  name: "static",
  desc: "Values set in the config's static_fields, the same for every event.",
  source: "*",
  fields: [{
    name: "static",
    type: "charbuf",
    desc: "The static field NAME (`static.NAME`) of the config; undefined when not set.",
    arg: "required",
    dottedArg: true,
    extract: (_ev, arg) => valueOf(arg),
    constant: (_info, arg) => valueOf(arg),
  }],
};
