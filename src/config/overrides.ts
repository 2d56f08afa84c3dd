/**
 * Pieces of config loading that work on plain values: `-o key=value` overrides (Falco's syntax:
 * dotted paths, `list[2]` for an item, `list[]` to append, backslash to escape `.`, `[`, `]`,
 * `\` in key names, `{...}` values read as YAML maps) and `${VAR}` environment expansion
 * (`${VAR:-default}` for a fallback, `$${` for a literal `${`).
 *
 * @example
 * ```ts
 * import { applyOverride, expandEnv } from "./overrides.ts";
 * const cfg: Record<string, unknown> = {};
 * applyOverride(cfg, "webserver.listen_port=9000");
 * applyOverride(cfg, "rules_files[]=/etc/saker/rules.d");
 * expandEnv("${HOME}/alerts.db", { HOME: "/root" }); // "/root/alerts.db"
 * ```
 * @module
 */
import { parse as parseYaml } from "yaml";

/** One step of a key path: a map key, a list index, or "append to the list". */
export type PathStep = string | number | { append: true };

/** Splits `a.b[2].c\.d` into steps; throws with the position of a syntax error. */
export function parseKeyPath(key: string): PathStep[] {
  const steps: PathStep[] = [];
  let cur = "";
  let haveKey = false;
  let i = 0;
  const flush = () => {
    if (!haveKey) throw new Error(`empty key name at position ${i} in '${key}'`);
    steps.push(cur);
    cur = "";
    haveKey = false;
  };
  while (i < key.length) {
    const c = key[i];
    if (c === "\\") {
      const next = key[i + 1];
      if (next === undefined || !".[]\\".includes(next)) {
        throw new Error(`invalid escape at position ${i} in '${key}' (escape only . [ ] \\)`);
      }
      cur += next;
      haveKey = true;
      i += 2;
      continue;
    }
    if (c === ".") {
      if (haveKey) flush();
      else if (steps.length === 0 || typeof steps[steps.length - 1] === "string") {
        throw new Error(`empty key name at position ${i} in '${key}'`);
      }
      i++;
      continue;
    }
    if (c === "[") {
      if (haveKey) flush();
      const close = key.indexOf("]", i);
      if (close < 0) throw new Error(`missing ] after position ${i} in '${key}'`);
      const idx = key.slice(i + 1, close);
      if (idx === "") steps.push({ append: true });
      else if (/^\d+$/.test(idx)) steps.push(Number(idx));
      else {throw new Error(
          `expected a list index in [] at position ${i} in '${key}', got '${idx}'`,
        );}
      i = close + 1;
      continue;
    }
    cur += c;
    haveKey = true;
    i++;
  }
  if (haveKey) flush();
  if (steps.length === 0) throw new Error(`empty key in '${key}'`);
  return steps;
}

/** Readable form of a path for messages: `a.b[2]`. */
export function formatPath(path: readonly (string | number)[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += (s ? "." : "") + p.replace(/([.[\]\\])/g, "\\$1");
  }
  return s;
}

/**
 * Applies `key=value` to `root` in place and returns the concrete path that was set. Values in
 * braces are read as YAML maps; everything else stays a string (the schema converts).
 */
export function applyOverride(root: Record<string, unknown>, option: string): (string | number)[] {
  const eq = option.indexOf("=");
  if (eq <= 0) {
    throw new Error(`'${option}' must be of the form key=value (e.g. webserver.listen_port=9000)`);
  }
  const steps = parseKeyPath(option.slice(0, eq));
  const raw = option.slice(eq + 1);
  let value: unknown = raw;
  if (raw.startsWith("{") && raw.endsWith("}")) {
    try {
      value = parseYaml(raw);
    } catch (err) {
      throw new Error(`value of '${option.slice(0, eq)}' is not a valid YAML map: ${err}`);
    }
  }
  const concrete: (string | number)[] = [];
  // deno-lint-ignore no-explicit-any
  let node: any = root;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const last = i === steps.length - 1;
    const nextIsList = !last && typeof steps[i + 1] !== "string";
    const fresh = () => (nextIsList ? [] : {});
    let key: string | number;
    if (typeof step === "object") {
      if (!Array.isArray(node)) throw new Error(`'${formatPath(concrete)}' is not a list`);
      key = node.length;
    } else if (typeof step === "number") {
      if (!Array.isArray(node)) throw new Error(`'${formatPath(concrete)}' is not a list`);
      if (step > node.length) {
        throw new Error(
          `index ${step} is past the end of '${formatPath(concrete)}' (${node.length} items; ` +
            `use [] to append)`,
        );
      }
      key = step;
    } else {
      if (node === null || typeof node !== "object" || Array.isArray(node)) {
        throw new Error(`'${formatPath(concrete)}' is not a map`);
      }
      key = step;
    }
    concrete.push(key);
    if (last) {
      node[key] = value;
    } else {
      const child = node[key];
      if (child === null || typeof child !== "object") node[key] = fresh();
      node = node[key];
    }
  }
  return concrete;
}

/** A `${VAR}` that is not set and has no default. */
export class MissingEnvError extends Error {
  constructor(readonly variable: string) {
    super(
      `environment variable ${variable} is not set (write \${${variable}:-} to allow it empty)`,
    );
  }
}

/** Expands `${VAR}` and `${VAR:-default}` in `s`; `$${` stays a literal `${`. */
export function expandEnv(s: string, env: Record<string, string | undefined>): string {
  if (!s.includes("${")) return s;
  return s.replace(
    /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, escaped: string | undefined, name: string, def: string | undefined) => {
      if (escaped) return whole.slice(1);
      const v = env[name];
      if (v !== undefined && v !== "") return v;
      if (def !== undefined) return def;
      if (v !== undefined) return v;
      throw new MissingEnvError(name);
    },
  );
}

/**
 * Expands environment variables in every string of a parsed YAML value, in place. Errors are
 * reported per key through `onError`.
 */
export function expandEnvDeep(
  value: unknown,
  env: Record<string, string | undefined>,
  onError: (path: (string | number)[], err: Error) => void,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === "string") {
    try {
      return expandEnv(value, env);
    } catch (err) {
      onError(path, err as Error);
      return value;
    }
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      value[i] = expandEnvDeep(value[i], env, onError, [...path, i]);
    }
  } else if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    for (const k of Object.keys(obj)) obj[k] = expandEnvDeep(obj[k], env, onError, [...path, k]);
  }
  return value;
}
