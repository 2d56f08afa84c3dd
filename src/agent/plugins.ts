/**
 * Plugins as the config names them, with Falco's keys: every name in `load_plugins` picks the
 * `plugins:` entry of that name; its `library_path` says which module implements it (a Falco
 * library name such as `libcloudtrail.so`, or nothing, picks the plugin Saker carries of that
 * name; a `.ts`/`.js`/`.mjs` path, relative to the config file's directory, a `file:` URL or an
 * `npm:` specifier is imported); `init_config` goes to its `init`, `open_params` to its `open`.
 * Third-party plugins' fields join the field registry, so rules, outputs and `saker fields`
 * know them. Each loaded source plugin runs in a pipeline of its own with its source's rules.
 *
 * Rules files' `required_plugin_versions` are checked against the loaded plugins as Falco checks
 * them: each requirement (or one of its alternatives) needs a loaded plugin of that name with the
 * same major version and no older. k8saudit and json are always there (the agent's own audit
 * endpoint and the JSON fields need no entry), and so is the container plugin's work.
 *
 * @example
 * ```ts
 * import { loadPlugins } from "./plugins.ts";
 * const plugins = await loadPlugins({
 *   load_plugins: ["cloudtrail"],
 *   plugins: [{ name: "cloudtrail", library_path: "libcloudtrail.so", open_params: "/logs" }],
 * }, { configDir: "/etc/saker" });
 * plugins.map((p) => p.plugin.name); // ["cloudtrail"]
 * ```
 * @module
 */
import type { Agent, AgentSource } from "./agent.ts";
import type { Config } from "../config/spec.ts";
import { checkPlugin, type Plugin, versionSatisfies } from "../plugins/api.ts";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { JSON_PLUGIN, K8SAUDIT_PLUGIN_FIELDS } from "../rules/fields/k8saudit.ts";
import { registerPluginFields } from "../rules/fields/plugin.ts";
import { FIELDS, wakeSource } from "../rules/fields/mod.ts";
import { openPluginSource } from "../sources/plugin_source.ts";
import { K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { AGENT_ENDPOINT, k8sauditPlugin } from "./k8saudit_plugin.ts";
import type { PluginEntry } from "../k8saudit/audit_inputs.ts";
import type { Registry } from "../metrics.ts";
import { log } from "../log.ts";
import { Hono } from "hono";

/** A plugin the config loads. */
export interface LoadedPlugin {
  plugin: Plugin;
  /** Its `plugins:` entry and that entry's key (`plugins[2]`). */
  entry: PluginEntry;
  key: string;
  /** Saker carries it. */
  builtin: boolean;
}

/** Plugins could not load; one line per problem, each starting with its config key. */
export class PluginLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "PluginLoadError";
  }
}

/** The parts of the config the loader reads. */
export type PluginConfigView = Pick<Config, "load_plugins" | "plugins">;

/** Options of {@link loadPlugins}. */
export interface LoadPluginsOptions {
  /** Directory relative library paths are read from (the config file's). */
  configDir?: string;
  /** Counters of the k8saudit plugin. */
  registry?: Registry;
}

/** Plugins handled elsewhere: the container plugin's work is built into the state. */
const NOT_PLUGINS = new Set(["container"]);

/** True when `path` names a Falco plugin library (`libNAME.so`) or nothing: Saker's own plugin. */
function namesBuiltin(path: string | undefined, name: string): boolean {
  const p = (path ?? "").trim();
  return p === "" || /\.so(\.\d+)*$/.test(p) || p === name;
}

function moduleUrl(path: string, dir: string | undefined): string {
  if (/^(npm|jsr|file|https?):/.test(path)) return path;
  const abs = path.startsWith("/") ? path : `${(dir ?? Deno.cwd()).replace(/\/$/, "")}/${path}`;
  return new URL(`file://${abs}`).href;
}

/** The built-in plugin named `name` (a fresh k8saudit for this agent). */
function builtin(name: string, registry: Registry | undefined): Plugin | undefined {
  if (name === "k8saudit") return k8sauditPlugin({ registry });
  if (name === "json") return JSON_PLUGIN;
  return BUILTIN_PLUGINS.find((p) => p.name === name);
}

/**
 * Loads, checks and initializes the plugins of `load_plugins`; throws {@link PluginLoadError}
 * naming the config key of every problem.
 */
export async function loadPlugins(
  config: PluginConfigView,
  opts: LoadPluginsOptions = {},
): Promise<LoadedPlugin[]> {
  const out: LoadedPlugin[] = [];
  const problems: string[] = [];
  for (const [i, name] of config.load_plugins.entries()) {
    if (NOT_PLUGINS.has(name)) continue;
    const index = config.plugins.findIndex((p) => p.name === name);
    if (index < 0) {
      problems.push(`load_plugins[${i}]: no plugins entry is named ${name}`);
      continue;
    }
    const entry = config.plugins[index] as PluginEntry;
    const key = `plugins[${index}]`;
    let plugin: Plugin | undefined;
    let isBuiltin = false;
    if (namesBuiltin(entry.library_path, name)) {
      plugin = builtin(name, opts.registry);
      isBuiltin = plugin !== undefined;
      if (!plugin) {
        problems.push(
          `${key}.library_path: Saker carries no plugin ${name} (it carries k8saudit, json, ` +
            `${BUILTIN_PLUGINS.map((p) => p.name).join(", ")}); name a .ts or .js module`,
        );
        continue;
      }
    } else {
      const url = moduleUrl(entry.library_path!, opts.configDir);
      try {
        const mod = await import(url);
        plugin = checkPlugin(mod.default ?? mod.plugin);
      } catch (err) {
        problems.push(`${key}.library_path: ${entry.library_path}: ${(err as Error).message}`);
        continue;
      }
      if (plugin.name !== name) {
        problems.push(`${key}.name: the module's plugin is named ${plugin.name}, not ${name}`);
        continue;
      }
    }
    try {
      await plugin.init?.(entry.init_config ?? "");
    } catch (err) {
      problems.push(`${key}.init_config: plugin ${name}: ${(err as Error).message}`);
      continue;
    }
    if (!isBuiltin) {
      try {
        registerPluginFields(FIELDS, plugin);
      } catch (err) {
        problems.push(`${key}.library_path: ${(err as Error).message}`);
        continue;
      }
    }
    if (isBuiltin && plugin.source) wakeSource(plugin.source);
    out.push({ plugin, entry, key, builtin: isBuiltin });
  }
  if (problems.length > 0) throw new PluginLoadError(problems);
  return out;
}

/**
 * Falco's container plugin: its work (container and k8s fields of system call events) is built
 * into Saker's state; the version whose fields Saker provides, for Falco's rules that require it.
 */
export const CONTAINER_PLUGIN = { name: "container", version: "0.4.0" };

/**
 * The name and version of every plugin the rules may require: the loaded ones, and those always
 * there (k8saudit, json, container).
 */
export function availablePlugins(
  loaded: readonly LoadedPlugin[],
): { name: string; version: string }[] {
  const out = loaded.map((l) => ({ name: l.plugin.name, version: l.plugin.version }));
  for (const p of [K8SAUDIT_PLUGIN_FIELDS, JSON_PLUGIN, CONTAINER_PLUGIN]) {
    if (!out.some((o) => o.name === p.name)) out.push({ name: p.name, version: p.version });
  }
  return out;
}

/**
 * Problems of `required_plugin_versions` (each a list of alternatives) against the available
 * plugins, in Falco's words.
 */
export function pluginRequirementProblems(
  required: readonly { name: string; version: string }[][],
  available: readonly { name: string; version: string }[],
): string[] {
  const problems: string[] = [];
  for (const alts of required) {
    const ok = alts.some((r) =>
      available.some((a) => a.name === r.name && versionSatisfies(a.version, r.version))
    );
    if (ok) continue;
    const r = alts[0];
    const have = available.find((a) => alts.some((x) => x.name === a.name));
    problems.push(
      have
        ? `Plugin '${have.name}' version '${have.version}' is not compatible with required ` +
          `plugin version '${alts.find((x) => x.name === have.name)!.version}'`
        : `Plugin '${r.name}' is required but not loaded` +
          (alts.length > 1 ? ` (nor ${alts.slice(1).map((a) => a.name).join(", ")})` : ""),
    );
  }
  return [...new Set(problems)];
}

/** Event source names a run can enable or disable: syscall, k8s_audit and the loaded ones. */
export function knownRunSources(loaded: readonly LoadedPlugin[]): string[] {
  const out = ["syscall", K8S_AUDIT_SOURCE];
  for (const l of loaded) {
    if (l.plugin.source && !out.includes(l.plugin.source)) out.push(l.plugin.source);
  }
  return out;
}

/**
 * Falco's `--enable-source` (only these) and `--disable-source` (all but these) over `known`;
 * throws with a message for unknown names, both options at once, or none left.
 */
export function chooseRunSources(
  known: readonly string[],
  enable: readonly string[],
  disable: readonly string[],
): Set<string> {
  for (const s of [...enable, ...disable]) {
    if (!known.includes(s)) {
      throw new Error(`unknown event source ${s} (known: ${known.join(", ")})`);
    }
  }
  if (enable.length > 0 && disable.length > 0) {
    throw new Error("--enable-source and --disable-source cannot be used together");
  }
  const on = known.filter((s) => enable.length > 0 ? enable.includes(s) : !disable.includes(s));
  if (on.length === 0) throw new Error("every event source is disabled");
  return new Set(on);
}

/** Opens one plugin's source for the agent. */
function openForAgent(plugin: Plugin, params: string, agent: Agent): AgentSource {
  const src = openPluginSource(plugin, params, {
    mount: !agent.hasApi ? undefined : (path, handler, o) => {
      const app = new Hono();
      app.all("*", (c) => handler(c.req.raw));
      agent.mount(path, app, o);
    },
  });
  log.info("plugin source open", { plugin: plugin.name, source: plugin.source });
  return {
    source: src.source,
    readable: src.readable,
    close: () => src.close(),
    stats: () => ({ received: src.stats().received }),
  };
}

/**
 * The sources of the loaded plugins whose source is enabled, plus the agent's own Kubernetes
 * audit endpoint (`webserver.k8s_audit_endpoint`) through the k8saudit plugin.
 */
export function openPluginSources(
  loaded: readonly LoadedPlugin[],
  enabled: ReadonlySet<string>,
): (config: Config, agent: Agent) => Promise<AgentSource[]> {
  return (config, agent) => {
    const out: AgentSource[] = [];
    try {
      const endpoint = config.webserver.k8s_audit_endpoint;
      if (enabled.has(K8S_AUDIT_SOURCE) && config.webserver.enabled && endpoint !== "") {
        const own = loaded.find((l) => l.plugin.name === "k8saudit")?.plugin ??
          k8sauditPlugin({ registry: agent.registry });
        out.push(openForAgent(own, `${AGENT_ENDPOINT}${endpoint}`, agent));
      }
      for (const l of loaded) {
        if (!l.plugin.source || !l.plugin.open || !enabled.has(l.plugin.source)) continue;
        out.push(openForAgent(l.plugin, String(l.entry.open_params ?? ""), agent));
      }
    } catch (err) {
      for (const s of out) void s.close();
      throw err;
    }
    return Promise.resolve(out);
  };
}
