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
  if (Array.isArray(v)) return isIndex(key) ? v[Number(key)] : undefined;
  const x = (v as Record<string, Json>)[key];
  // JSON holds no functions: one found came from Object.prototype, as would __proto__.
  if (typeof x === "function" || (key === "__proto__" && !Object.hasOwn(v, key))) return undefined;
  return x;
}

function isIndex(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The value at `keys` (undefined when a step finds nothing; JSON null is a value). */
export function get(v: Json, keys: readonly string[]): Json {
  for (let i = 0; i < keys.length && v !== undefined; i++) v = child(v, keys[i]);
  return v;
}

/** Reads the value at a fixed path of keys (see {@link accessor}). */
export type Accessor = (v: Json) => Json;

const accessors = new Map<string, Accessor>();

/**
 * The function reading the value at `keys`, as {@link get} does. Each distinct path gets code of
 * its own, so every property read in it meets only the few object shapes of its own place in
 * audit records (one shared loop meets every shape, and V8 then looks properties up the slow
 * way). Keys enter the code only as JSON literals.
 */
export function accessor(keys: readonly string[]): Accessor {
  const id = JSON.stringify(keys);
  let fn = accessors.get(id);
  if (fn === undefined) {
    const steps = keys.map((k) => {
      const lit = JSON.stringify(k);
      const proto = k === "__proto__" ? ` || !Object.hasOwn(v, ${lit})` : "";
      const step = isIndex(k)
        ? `x = Array.isArray(v) ? v[${Number(k)}] : v[${lit}];`
        : `x = Array.isArray(v) ? undefined : v[${lit}];`;
      return `if (v === null || typeof v !== "object") return undefined;\n${step}\n` +
        `if (x === undefined || typeof x === "function"${proto}) return undefined;\nv = x;`;
    });
    fn = new Function("v", `"use strict";\nlet x;\n${steps.join("\n")}\nreturn v;`) as Accessor;
    if (accessors.size >= 4096) accessors.clear();
    accessors.set(id, fn);
  }
  return fn;
}

/** A pointer's reader, made once per distinct pointer (rules name the same few). */
const pointers = new Map<string, Accessor>();

function pointerAccessor(ptr: string): Accessor {
  let fn = pointers.get(ptr);
  if (fn === undefined) {
    const path = ptr.startsWith("/") ? ptr.slice(1) : ptr;
    const keys = path === ""
      ? []
      : path.split("/").map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
    fn = accessor(keys);
    if (pointers.size >= 1024) pointers.clear();
    pointers.set(ptr, fn);
  }
  return fn;
}

/** A value as text: strings as they are, anything else as compact JSON. */
export function text(v: Json): string {
  if (typeof v === "string") return v;
  // Numbers and booleans print the same in JSON; String() is quicker.
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
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
  const found = pointerAccessor(ptr)(v);
  return found === undefined ? undefined : text(found);
}
