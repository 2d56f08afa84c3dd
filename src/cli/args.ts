/**
 * Command-line options: the part of `node:util`'s parseArgs the subcommands use, without
 * loading Deno's Node compatibility layer (about 15 ms of a command's start-up, which a
 * `saker replay` of a small capture pays in full).
 *
 * Options are `--name value`, `--name=value`, `-n value`, `-nvalue` (strings) and `--name`,
 * `-n`, grouped `-ab` (booleans); `--` ends the options; `-` alone is a positional. An unknown
 * option, a string option without a value or a boolean given one throws a TypeError whose
 * message names it, as node's does.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const { values, positionals } = parseArgs({
 *   args: ["-r", "a.yaml", "--json", "trace.scap"],
 *   options: { rules: { type: "string", short: "r", multiple: true }, json: { type: "boolean" } },
 *   allowPositionals: true,
 * });
 * values.rules; // ["a.yaml"]
 * positionals; // ["trace.scap"]
 * ```
 * @module
 */

/** One option: its type, a one-letter alias, and whether it may be given more than once. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** The values of `O`'s options that were given. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]["type"] extends "string" ? O[K]["multiple"] extends true ? string[] : string
    : O[K]["multiple"] extends true ? boolean[]
    : boolean;
};

/** Parses `args` against `options`; throws a TypeError for a bad option. */
export function parseArgs<const O extends Record<string, OptionSpec>>(config: {
  args: readonly string[];
  options: O;
  allowPositionals?: boolean;
}): { values: OptionValues<O>; positionals: string[] } {
  const { args, options } = config;
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.short) byShort.set(o.short, name);
  const shown = (name: string) => {
    const s = options[name].short;
    return s ? `-${s}, --${name}` : `--${name}`;
  };
  const set = (name: string, value: string | boolean) => {
    if (options[name].multiple) ((values[name] ??= []) as unknown[]).push(value);
    else values[name] = value;
  };
  const positional = (a: string) => {
    if (!config.allowPositionals) throw new TypeError(`Unexpected argument '${a}'`);
    positionals.push(a);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      for (const rest of args.slice(i + 1)) positional(rest);
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const o = Object.hasOwn(options, name) ? options[name] : undefined;
      if (!o) throw new TypeError(`Unknown option '--${name}'`);
      if (o.type === "boolean") {
        if (eq >= 0) throw new TypeError(`Option '${shown(name)}' does not take an argument`);
        set(name, true);
      } else if (eq >= 0) set(name, a.slice(eq + 1));
      else if (i + 1 < args.length) set(name, args[++i]);
      else throw new TypeError(`Option '${shown(name)} <value>' argument missing`);
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const name = byShort.get(a[k]);
        if (name === undefined) throw new TypeError(`Unknown option '-${a[k]}'`);
        if (options[name].type === "boolean") {
          set(name, true);
          continue;
        }
        if (k + 1 < a.length) set(name, a.slice(k + 1));
        else if (i + 1 < args.length) set(name, args[++i]);
        else throw new TypeError(`Option '${shown(name)} <value>' argument missing`);
        break;
      }
      continue;
    }
    positional(a);
  }
  return { values: values as OptionValues<O>, positionals };
}

/**
 * `node:util`'s parseArgs, loaded at its first call: for the commands that use what
 * {@link parseArgs} leaves out (a one-letter option name without `short`, `default`, `tokens`,
 * `strict: false`). Not imported at the top, where a bundle would load Node's compatibility
 * layer at every start (see NODE_MODULES_AT_USE in scripts/bundle.ts).
 *
 * @example
 * ```ts
 * const { values } = nodeParseArgs({ args: ["-c", "a.yaml"], options: { c: { type: "string" } } });
 * values.c; // "a.yaml"
 * ```
 */
export const nodeParseArgs: typeof import("node:util").parseArgs = (config) =>
  process.getBuiltinModule("node:util").parseArgs(config);
