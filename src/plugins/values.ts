/**
 * Small readers of parsed JSON for plugin fields: a value at a path of keys, a string value, any
 * value as text (strings as they are, the rest as compact JSON), so each plugin's field table reads
 * as a list of paths.
 *
 * @example
 * ```ts
 * import { at, str, text } from "./values.ts";
 * const rec = { userIdentity: { type: "Root" }, readOnly: false };
 * str(at(rec, "userIdentity", "type")); // "Root"
 * text(at(rec, "readOnly")); // "false"
 * ```
 * @module
 */

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The value at a path of keys (array indexes as numbers), or undefined. */
export function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** A string value, or undefined for anything else. */
export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Any present value as text: strings as they are, the rest as compact JSON. */
export function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A non-negative integer from a number or a numeric string (floats truncated), or undefined. */
export function uint(v: unknown): number | undefined {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? Math.trunc(n) : undefined;
}

/** The elements of an array value (an empty list for anything else). */
export function items(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
