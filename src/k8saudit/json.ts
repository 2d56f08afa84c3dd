/**
 * Reading values out of parsed audit JSON the way Falco's k8saudit and json plugins do: a path of
 * keys where a numeric key indexes an array, every value rendered as text (strings as they are,
 * anything else as compact JSON, so `true` is "true" and 201 is "201"), and walks that fan out
 * over the arrays they meet (`spec.containers[*].image`).
 *
 * @example
 * ```ts
 * import { collect, get, pointer, text } from "./json.ts";
 * const rec = { spec: { containers: [{ image: "nginx" }, { name: "x" }] } };
 * text(get(rec, ["spec", "containers", "0", "image"])); // "nginx"
 * collect(rec, ["spec", "containers", "image"], undefined); // ["nginx", MISSING]
 * pointer(rec, "/spec/containers/1/name"); // "x"
 * ```
 * @module
 */

/** A JSON value as JSON.parse makes it. */
export type Json = unknown;

/** Marks an array element where a walk found nothing (the element had no such key). */
export const MISSING: unique symbol = Symbol("missing");

/** One step: an object's own key, or an index into an array (a decimal key); else undefined. */
export function child(v: Json, key: string): Json {
  if (v === null || typeof v !== "object") return undefined;
  if (Array.isArray(v)) {
    if (!/^\d+$/.test(key)) return undefined;
    return v[Number(key)];
  }
  return Object.hasOwn(v, key) ? (v as Record<string, Json>)[key] : undefined;
}

/** The value at `keys` (undefined when a step finds nothing; JSON null is a value). */
export function get(v: Json, keys: readonly string[]): Json {
  for (let i = 0; i < keys.length && v !== undefined; i++) v = child(v, keys[i]);
  return v;
}

/** A value as text: strings as they are, anything else as compact JSON. */
export function text(v: Json): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Walks `keys` from `v`; at an array met before a key, either fans out over its elements
 * (`index` undefined: the rest of the walk per element, an element where it finds nothing gives
 * {@link MISSING}) or steps into element `index` (every array met). An empty key stands for the
 * value itself. Undefined when the walk finds nothing outside a fan-out.
 */
export function collect(
  v: Json,
  keys: readonly string[],
  index: number | undefined,
  from = 0,
): (Json | typeof MISSING)[] | undefined {
  for (let i = from; i < keys.length; i++) {
    if (Array.isArray(v)) {
      if (index === undefined) {
        const out: (Json | typeof MISSING)[] = [];
        for (const el of v) {
          const sub = collect(el, keys, undefined, i);
          if (sub === undefined) out.push(MISSING);
          else for (const x of sub) out.push(x);
        }
        return out;
      }
      if (index >= v.length) return undefined;
      v = v[index];
    }
    if (keys[i] !== "") v = child(v, keys[i]);
    if (v === undefined) return undefined;
  }
  return [v];
}

/**
 * The value at an RFC 6901 JSON pointer (`/requestObject/spec/volumes/0`, `~1` for `/`, `~0`
 * for `~`), as text; the whole value for an empty pointer; undefined when absent.
 */
export function pointer(v: Json, ptr: string): string | undefined {
  const path = ptr.startsWith("/") ? ptr.slice(1) : ptr;
  if (path !== "") {
    for (const raw of path.split("/")) {
      v = child(v, raw.replaceAll("~1", "/").replaceAll("~0", "~"));
      if (v === undefined) return undefined;
    }
  }
  return text(v);
}
