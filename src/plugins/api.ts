/**
 * The plugin interface: how a TypeScript or JavaScript module adds an event source (CloudTrail,
 * GitHub, Okta ...) and the fields rules read from its events, as Falco's plugins do. Saker's own
 * plugins (`k8saudit`, `json`, `cloudtrail`, `github`, `okta`, `gcpaudit`) implement it, and a
 * config's `plugins:` entry loads a third-party one from a file or an npm package by its
 * `library_path`.
 *
 * A module exports one {@link Plugin} (as `default`, or as `plugin`). Saker calls `init` once
 * with the entry's `init_config`, registers the `fields` (so `saker fields` lists them and rules
 * of the plugin's `source` can use them), checks the rules files' `required_plugin_versions`
 * against `version`, and calls `open` with the entry's `open_params`. `open` returns an async
 * iterable of batches of events (an async generator is the simplest); each event is a payload
 * (text, or a value Saker serializes as JSON) and a time. Every event goes through the same
 * pipeline as system call events: the rules of the plugin's source, the outputs, the alert store.
 *
 * Nothing here is trusted: an `open` that throws or ends, an event without a payload, an
 * `extract` that throws — each is counted in `saker_plugin_errors_total{plugin,stage}` and logged
 * with the plugin's name, and the agent keeps running. A plugin that cannot load (a module that
 * is not there, an export of the wrong shape, an `init` that throws) stops `saker run` at start
 * with one line naming the `plugins:` entry.
 *
 * Field types are Falco's plugin field types: `string`, `uint64`, `bool`, `reltime`, `abstime`,
 * `ipaddr`, `ipnet`. A field with `list: true` returns an array; `in` then holds when every
 * element is in the set, `intersects` when one is. A field taking an argument says so in `arg`:
 * `index` for `field[2]`, `key` for `field[name]`.
 *
 * @example A minimal plugin: events from a JSON-lines file, one field.
 * ```ts
 * import type { Plugin } from "./api.ts";
 *
 * const plugin: Plugin = {
 *   name: "doorbell",
 *   version: "1.0.0",
 *   source: "doorbell",
 *   fields: [{
 *     name: "door.visitor",
 *     type: "string",
 *     desc: "Who rang.",
 *     extract: (ev) => (ev.value as { visitor?: string }).visitor,
 *   }],
 *   async *open(params) {
 *     const text = await Deno.readTextFile(params);
 *     yield text.split("\n").filter((l) => l !== "").map((data) => ({ data }));
 *   },
 * };
 * export default plugin;
 * ```
 * @module
 */

/** Field value types, as Falco's plugin API names them. */
export type PluginFieldType =
  | "string"
  | "uint64"
  | "bool"
  | "reltime"
  | "abstime"
  | "ipaddr"
  | "ipnet";

/** The field value types, for checks. */
export const PLUGIN_FIELD_TYPES: readonly PluginFieldType[] = [
  "string",
  "uint64",
  "bool",
  "reltime",
  "abstime",
  "ipaddr",
  "ipnet",
];

/** One value a field gives. */
export type PluginValue = string | number | bigint | boolean;

/** An event as `extract` sees it. */
export interface PluginEventView {
  /** Number within its source, from 1. */
  readonly num: number;
  /** Time, ns since the Unix epoch. */
  readonly ts: bigint;
  /** Event source name. */
  readonly source: string;
  /** The payload as text. */
  readonly data: string;
  /** The payload parsed as JSON (made once per event); undefined when it is not JSON. */
  readonly value: unknown;
}

/** A field a plugin adds. */
export interface PluginField {
  /** Full name, `prefix.name` (`ct.user`). */
  name: string;
  type: PluginFieldType;
  /** What it means (shown by `saker fields`). */
  desc: string;
  /** The value is a list (an array of values). */
  list?: boolean;
  /**
   * The field takes an argument: `index` a number (`field[0]`), `key` a text (`field[name]`);
   * `required` when it cannot be used without one.
   */
  arg?: { index?: boolean; key?: boolean; required?: boolean };
  /** Values seldom repeat from one event to the next (unique ids, times): a hint, no more. */
  unique?: boolean;
  /** The value for one event; undefined when the event has none. */
  extract(ev: PluginEventView, arg: string | undefined): PluginValue | PluginValue[] | undefined;
}

/** An event as a plugin's `open` yields it. */
export interface PluginEventInput {
  /** The payload as text; or give `value`. */
  data?: string | Uint8Array;
  /** The payload as a JSON value (serialized when rules read it as text). */
  value?: unknown;
  /** Event time: ns (bigint), ms (number), a Date, or an RFC 3339 text; default: now. */
  ts?: bigint | number | Date | string;
}

/** What Saker gives `open`. */
export interface OpenContext {
  /** Aborted when the source is closed (agent stopping, reload): stop and return. */
  signal: AbortSignal;
  /** Writes to Saker's log, with the plugin's name. */
  log(level: "info" | "warning" | "error", message: string, fields?: Record<string, unknown>): void;
  /**
   * Serves `handler` at `path` on the agent's own HTTP server (same address, TLS, bearer token
   * and body limit as its API, unless `ownAuth` / `ownBodyLimit` say the handler checks requests
   * or limits bodies itself); the request's URL keeps its full path. Absent when there is no
   * server (`saker replay`, `webserver.enabled: false`).
   */
  mount?(
    path: string,
    handler: (req: Request) => Response | Promise<Response>,
    opts?: { ownBodyLimit?: boolean; ownAuth?: boolean },
  ): void;
}

/** A plugin. */
export interface Plugin {
  /** Name, as `plugins:` entries and `required_plugin_versions` name it. */
  name: string;
  /** Semantic version, `MAJOR.MINOR.PATCH`. */
  version: string;
  /** One line about the plugin. */
  description?: string;
  /** The event source the plugin provides (`aws_cloudtrail`); absent for field-only plugins. */
  source?: string;
  /** For field-only plugins: the sources whose events its fields read. */
  extractSources?: readonly string[];
  /** The fields it adds. */
  fields?: readonly PluginField[];
  /** Takes the entry's `init_config` (a map, or text); throws to refuse it. */
  init?(config: unknown): void | Promise<void>;
  /** Opens the source on `open_params`; batches of events until the source ends or is closed. */
  open?(params: string, ctx: OpenContext): AsyncIterable<PluginEventInput[]>;
  /** A one-line summary of an event (`evt.plugininfo`). */
  summary?(ev: PluginEventView): string | undefined;
  /**
   * True when a log file whose text starts with `head` holds this plugin's events, so that
   * `saker replay FILE` picks the plugin by the file's content.
   */
  sniff?(head: string): boolean;
}

const NAME = /^[a-zA-Z][a-zA-Z0-9_-]*$/;
const FIELD = /^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)+$/;
const VERSION = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/;

/**
 * Checks that `value` is a plugin: returns it, or throws with a message naming every problem
 * (`plugin.version: expected MAJOR.MINOR.PATCH`).
 */
export function checkPlugin(value: unknown): Plugin {
  const problems: string[] = [];
  if (value === null || typeof value !== "object") {
    throw new Error("the module exports no plugin object (export default or export const plugin)");
  }
  const p = value as Record<string, unknown>;
  if (typeof p.name !== "string" || !NAME.test(p.name)) {
    problems.push("name: expected a name of letters, digits, - and _");
  }
  if (typeof p.version !== "string" || !VERSION.test(p.version)) {
    problems.push("version: expected MAJOR.MINOR.PATCH");
  }
  if (p.source !== undefined && (typeof p.source !== "string" || !NAME.test(p.source))) {
    problems.push("source: expected a source name");
  }
  if (p.source !== undefined && typeof p.open !== "function") {
    problems.push("open: a plugin with a source needs an open function");
  }
  if (p.source === undefined && p.fields !== undefined && !Array.isArray(p.extractSources)) {
    problems.push("extractSources: a plugin without a source names the sources of its fields");
  }
  for (const k of ["init", "open", "summary", "sniff"]) {
    if (p[k] !== undefined && typeof p[k] !== "function") {
      problems.push(`${k}: expected a function`);
    }
  }
  if (p.fields !== undefined && !Array.isArray(p.fields)) problems.push("fields: expected a list");
  const seen = new Set<string>();
  for (const [i, f] of (Array.isArray(p.fields) ? p.fields : []).entries()) {
    const at = `fields[${i}]`;
    if (f === null || typeof f !== "object") {
      problems.push(`${at}: expected a field object`);
      continue;
    }
    if (typeof f.name !== "string" || !FIELD.test(f.name)) {
      problems.push(`${at}.name: expected prefix.name`);
    } else if (seen.has(f.name)) problems.push(`${at}.name: ${f.name} is listed twice`);
    else seen.add(f.name);
    if (!PLUGIN_FIELD_TYPES.includes(f.type)) {
      problems.push(`${at}.type: expected one of ${PLUGIN_FIELD_TYPES.join(", ")}`);
    }
    if (typeof f.extract !== "function") problems.push(`${at}.extract: expected a function`);
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
  return value as Plugin;
}

/** A version's three numbers; undefined when it is not `MAJOR.MINOR.PATCH`. */
export function parseVersion(v: string): [number, number, number] | undefined {
  const m = VERSION.exec(v.trim());
  return m ? [+m[1], +m[2], +m[3]] : undefined;
}

/**
 * Whether a plugin of version `have` satisfies a rules file requiring `want`, as Falco decides:
 * the same major version, and not older.
 */
export function versionSatisfies(have: string, want: string): boolean {
  const h = parseVersion(have), w = parseVersion(want);
  if (!h || !w || h[0] !== w[0]) return false;
  return h[1] !== w[1] ? h[1] > w[1] : h[2] >= w[2];
}

/**
 * An `init_config` as a map: a map as is, a JSON text parsed, empty or absent as `{}`; throws for
 * anything else.
 */
export function initConfigMap(raw: unknown): Record<string, unknown> {
  let v = raw;
  if (typeof v === "string") {
    if (v.trim() === "") return {};
    try {
      v = JSON.parse(v);
    } catch {
      throw new Error("expected a map or a JSON object, got unreadable JSON");
    }
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new Error("expected a map or a JSON object");
  return v as Record<string, unknown>;
}
