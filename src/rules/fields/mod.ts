/**
 * Every field class, registered on import. Conditions, outputs and `saker fields` see the fields
 * of every module imported here.
 *
 * @example
 * ```ts
 * import "./mod.ts";
 * import { lookupField } from "./registry.ts";
 * lookupField("proc.name")?.def.type; // "charbuf"
 * ```
 * @module
 */
import "./evt.ts";
import "./proc.ts";
import "./thread.ts";
import "./fd.ts";
import "./user.ts";
import "./container.ts";
import "./k8s.ts";
import "./k8saudit.ts";

export * from "./registry.ts";
