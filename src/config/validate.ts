/**
 * Checking a config against the key table (spec.ts): every value is checked and converted
 * (`16MiB`, `5ms`, `7d`, "true" from `-o`), and every problem is reported with its key path and
 * what the key accepts; an unknown key gets the closest known key as a suggestion.
 *
 * @example
 * ```ts
 * import { check, type Issue } from "./validate.ts";
 * import { SPEC } from "./spec.ts";
 * const issues: Issue[] = [];
 * check(SPEC, { webserver: { listen_prot: 9000 } }, [], issues);
 * issues[0].message; // "unknown key (did you mean listen_port?); known keys here: ..."
 * ```
 * @module
 */
import { parseDuration } from "../rules/duration.ts";
import { ALIASES, type Spec } from "./spec.ts";
import { editDistance } from "../edit_distance.ts";

/** What a key accepts, in words: the one place it is written. */
export function describe(s: Spec): string {
  switch (s.kind) {
    case "bool":
      return "true or false";
    case "int":
      return s.min !== undefined && s.max !== undefined
        ? `an integer from ${s.min} to ${s.max}`
        : s.min !== undefined
        ? `an integer of at least ${s.min}`
        : "an integer";
    case "number":
      return s.min !== undefined && s.max !== undefined
        ? `a number from ${s.min} to ${s.max}`
        : s.min !== undefined
        ? `a number greater than ${s.min}`
        : "a number";
    case "string":
      return s.nonEmpty ? "a non-empty string" : "a string";
    case "enum":
      return `one of ${s.values.join(", ")}`;
    case "bytes":
      return `a size in bytes (an integer or e.g. 512KiB, 16MiB)${
        s.powerOfTwo ? " that is a power of two" : ""
      }`;
    case "duration":
      return `a duration (e.g. 500ms, 30s, 5m, 1h, 7d${
        s.unit === "s" ? ", or a number of seconds" : ", or a number of milliseconds"
      })`;
    case "list":
      return `a list of ${describe(s.of).replace(/^an? /, "")}s`;
    case "object":
      return `a map with keys ${Object.keys(s.fields).join(", ")}`;
    case "map":
      return `a map of names to ${describe(s.of).replace(/^an? /, "")}s`;
    case "oneof":
      return s.describe;
    case "ignored":
      return "anything (ignored)";
    case "any":
      return s.what;
  }
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** Parses `16MiB`, `512k`, `4096` into bytes; undefined when malformed. */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isInteger(n) ? n : undefined;
}

/** One problem found while checking, located by key path. */
export interface Issue {
  path: (string | number)[];
  message: string;
  severity: "error" | "warning";
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean;
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

/**
 * Checks `value` against `spec` and returns the converted value (or undefined when invalid; the
 * reasons go to `issues`). Strings such as "true" or "8765" are accepted where a boolean or a
 * number is expected, since `-o` and environment variables only produce strings.
 */
export function check(
  spec: Spec,
  value: unknown,
  path: (string | number)[],
  issues: Issue[],
): unknown {
  const bad = (what = describe(spec)) => {
    issues.push({ path, severity: "error", message: `expected ${what}, got ${typeName(value)}` });
    return undefined;
  };
  switch (spec.kind) {
    case "ignored":
      issues.push({ path, severity: "warning", atKey: true, message: `ignored: ${spec.why}` });
      return undefined;
    case "any":
      return value;
    case "bool":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "false") return value === "true";
      return bad();
    case "int":
    case "number": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n)) return bad();
      if (spec.kind === "int" && !Number.isInteger(n)) return bad();
      if (spec.min !== undefined && n < spec.min) return bad();
      if (spec.max !== undefined && n > spec.max) return bad();
      if (spec.kind === "number" && spec.min !== undefined && spec.max === undefined) {
        if (n <= spec.min) return bad();
      }
      return n;
    }
    case "string": {
      if (typeof value === "number" || typeof value === "boolean") value = String(value);
      if (typeof value !== "string") return bad();
      if (spec.nonEmpty && value === "") return bad();
      const why = spec.check?.(value);
      return why ? bad(why) : value;
    }
    case "enum": {
      if (typeof value !== "string" && typeof value !== "number") return bad();
      const s = String(value).toLowerCase();
      if (!spec.values.includes(s)) return bad();
      return spec.parse ? spec.parse(s) : s;
    }
    case "bytes": {
      const n = parseBytes(value);
      if (n === undefined || (spec.min !== undefined && n < spec.min)) {
        return bad(describe(spec) + (spec.min ? ` of at least ${spec.min}` : ""));
      }
      if (spec.powerOfTwo && (n & (n - 1)) !== 0) return bad();
      return n;
    }
    case "duration": {
      let n: number | undefined;
      if (typeof value === "number") n = value;
      else if (typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)) n = Number(value);
      else if (typeof value === "string") {
        const s = parseDuration(value);
        if (s !== undefined) n = spec.unit === "s" ? s : s * 1000;
      }
      if (n === undefined || !Number.isFinite(n) || (spec.min !== undefined && n < spec.min)) {
        return bad();
      }
      return n;
    }
    case "list": {
      if (!Array.isArray(value)) return bad();
      const out: unknown[] = [];
      value.forEach((item, i) => {
        const v = check(spec.of, item, [...path, i], issues);
        if (v !== undefined) out.push(v);
      });
      return out;
    }
    case "map": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return bad();
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(value)) {
        const v = check(spec.of, item, [...path, k], issues);
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    case "object": {
      if (value === null || value === undefined) return {};
      if (typeof value !== "object" || Array.isArray(value)) return bad();
      const out: Record<string, unknown> = {};
      for (const [rawKey, item] of Object.entries(value)) {
        const k = path.length === 0 ? (ALIASES[rawKey] ?? rawKey) : rawKey;
        const sub = spec.fields[k];
        if (!sub) {
          const hint = suggest(rawKey, Object.keys(spec.fields));
          issues.push({
            path: [...path, rawKey],
            severity: "error",
            atKey: true,
            message: `unknown key${hint ? ` (did you mean ${hint}?)` : ""}; known keys here: ` +
              Object.keys(spec.fields).join(", "),
          });
          continue;
        }
        // Falco 0.x allowed a single string for rules_file.
        const given = k === "rules_files" && typeof item === "string" ? [item] : item;
        const v = check(sub, given, [...path, rawKey], issues);
        if (v === undefined) continue;
        if (k === "rules_files" && Array.isArray(out[k])) {
          (out[k] as unknown[]).push(...(v as unknown[]));
        } else out[k] = v;
      }
      return out;
    }
    case "oneof": {
      for (const opt of spec.options) {
        const tmp: Issue[] = [];
        const v = check(opt, value, path, tmp);
        if (v !== undefined && !tmp.some((i) => i.severity === "error")) {
          issues.push(...tmp);
          return v;
        }
      }
      return bad();
    }
  }
}

/** The closest known key within edit distance 2, for "did you mean". */
function suggest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}
