/**
 * Plugin fields in the field registry: each {@link PluginField} becomes a registry field of its
 * plugin's source (or sources), grouped in classes by the name's first part (`ct`, `s3` ...),
 * so conditions, outputs, validation and `saker fields` treat them like built-in fields. An
 * extractor that throws is contained: the value is missing for that event, the error is counted
 * in `saker_plugin_errors_total{plugin,stage="extract"}` and logged (rate-limited) with the
 * plugin's name.
 *
 * @example
 * ```ts
 * import { FieldRegistry } from "./registry.ts";
 * import { registerPluginFields } from "./plugin.ts";
 * const reg = new FieldRegistry();
 * registerPluginFields(reg, {
 *   name: "demo", version: "1.0.0", source: "demo", open: async function* () {},
 *   fields: [{ name: "demo.who", type: "string", desc: "Who.", extract: () => "me" }],
 * });
 * reg.lookup("demo.who")?.def.type; // "charbuf"
 * ```
 * @module
 */
import { PluginEvent } from "../../events/plugin_event.ts";
import type { Plugin, PluginField, PluginFieldType } from "../../plugins/api.ts";
import { metrics } from "../../metrics.ts";
import { RateLimitedLog } from "../../log.ts";
import type { FieldClassSpec, FieldDef, FieldRegistry, FieldType } from "./registry.ts";

const TYPES: Record<PluginFieldType, FieldType> = {
  string: "charbuf",
  uint64: "uint64",
  bool: "bool",
  reltime: "reltime",
  abstime: "abstime",
  ipaddr: "ipaddr",
  ipnet: "ipnet",
};

const errorLog = new RateLimitedLog(10_000);

/** Counts and logs one failure of a plugin (`stage`: extract, open, event ...). */
export function pluginError(plugin: string, stage: string, err: unknown): void {
  metrics.counter(
    "saker_plugin_errors_total",
    "Plugin failures contained: extractors that threw, sources that failed, bad events.",
    ["plugin", "stage"],
  ).labels(plugin, stage).inc();
  errorLog.log("warning", `${plugin}:${stage}`, `plugin ${plugin}: ${stage} failed`, {
    plugin,
    error: err instanceof Error ? err.message : String(err),
  });
}

/** The sources a plugin's fields read. */
export function fieldSources(p: Plugin): string[] {
  return p.source !== undefined ? [p.source] : [...(p.extractSources ?? [])];
}

/**
 * One plugin field as a registry field: read from plugin events of `source` (a source plugin's
 * field) or of any source its rules may use it for (a field-only plugin's, such as json's).
 */
function fieldDef(plugin: string, f: PluginField, source: string | undefined): FieldDef {
  const extract = f.extract;
  const list = f.list === true;
  const index = f.arg?.index === true;
  const key = f.arg?.key === true;
  return {
    name: f.name,
    type: TYPES[f.type],
    desc: f.desc,
    arg: index || key ? (f.arg?.required ? "required" : "optional") : undefined,
    numericArg: index && !key ? true : undefined,
    list: list || undefined,
    subsetIn: list || undefined,
    distinct: f.unique || undefined,
    extract: (ev, arg) => {
      if (!(ev instanceof PluginEvent) || (source !== undefined && ev.source !== source)) {
        return undefined;
      }
      try {
        const v = extract(ev, arg);
        return v === null ? undefined : v;
      } catch (err) {
        pluginError(plugin, "extract", err);
        return undefined;
      }
    },
  };
}

/** A plugin's fields as registry classes: one class per name prefix, for its first source. */
export function pluginFieldClasses(p: Plugin): FieldClassSpec[] {
  const sources = fieldSources(p);
  const byPrefix = new Map<string, FieldDef[]>();
  for (const f of p.fields ?? []) {
    const prefix = f.name.slice(0, f.name.indexOf("."));
    const list = byPrefix.get(prefix) ?? [];
    list.push(fieldDef(p.name, f, p.source));
    byPrefix.set(prefix, list);
  }
  return [...byPrefix].map(([name, fields]) => ({
    name,
    desc: `${p.description ?? `Fields of the ${p.name} plugin`} (plugin ${p.name} ${p.version}).`,
    source: sources[0],
    fields,
  }));
}

/**
 * The event fields every plugin source shares with system call events: number, times, host,
 * and the plugin's name and event summary.
 */
export const PLUGIN_SHARED_EVT_FIELDS: readonly string[] = [
  "evt.num",
  "evt.time",
  "evt.time.s",
  "evt.time.iso8601",
  "evt.datetime",
  "evt.datetime.s",
  "evt.rawtime",
  "evt.rawtime.s",
  "evt.rawtime.ns",
  "evt.hostname",
  "evt.is_async",
  "evt.pluginname",
  "evt.plugininfo",
];

/**
 * Registers a plugin's fields (and the shared event fields for its source); throws when a field
 * name is taken already. A plugin whose fields read several sources gets them shared with the
 * others.
 */
export function registerPluginFields(reg: FieldRegistry, p: Plugin): void {
  const sources = fieldSources(p);
  const classes = pluginFieldClasses(p);
  for (const f of p.fields ?? []) {
    if (reg.lookup(f.name)?.def.name === f.name) {
      throw new Error(`field ${f.name} of plugin ${p.name} is defined already`);
    }
  }
  for (const cls of classes) reg.define(cls);
  for (const source of sources.slice(1)) {
    for (const cls of classes) {
      reg.share({
        cls: { name: cls.name, desc: cls.desc },
        names: cls.fields.map((f) => f.name),
        source,
      });
    }
  }
  if (p.source === undefined) return;
  reg.share({
    cls: { name: "evt", desc: "Event number, time and host, as for every source." },
    names: PLUGIN_SHARED_EVT_FIELDS,
    source: p.source,
  });
  // The json plugin's fields read every source of JSON events.
  for (const cls of [...reg.classes()]) {
    if (!JSON_CLASSES.includes(cls.name) || cls.source === p.source) continue;
    if (reg.classes().some((c) => c.name === cls.name && c.source === p.source)) continue;
    reg.share({ cls, names: cls.fields.map((f) => f.name), source: p.source });
  }
}

/** The classes of the json plugin, which every plugin source gets. */
const JSON_CLASSES = ["json", "jevt"];
