/**
 * The plugins a command that reads no events still needs to know (`saker validate -c`,
 * `saker fields -c`): those Saker carries (their sources made known to rules), and those the
 * config's `load_plugins` loads (their fields join the registry).
 *
 * @example
 * ```ts
 * import { pluginsForCommand } from "./plugins.ts";
 * const plugins = await pluginsForCommand("validate", "/etc/saker/config.yaml");
 * plugins?.map((p) => `${p.name} ${p.version}`);
 * ```
 * @module
 */
import { ConfigError, loadConfig } from "../config/load.ts";
import { availablePlugins, loadPlugins, PluginLoadError } from "../agent/plugins.ts";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { wakeSource } from "../rules/fields/mod.ts";

/**
 * Names and versions of the carried plugins and the config's (loaded); undefined, with the
 * problems printed, when the config or a plugin cannot load.
 */
export async function pluginsForCommand(
  command: string,
  configFile: string | undefined,
): Promise<{ name: string; version: string }[] | undefined> {
  // Rules of every plugin Saker carries are checked, as with each plugin loaded.
  for (const p of BUILTIN_PLUGINS) if (p.source) wakeSource(p.source);
  const carried = BUILTIN_PLUGINS.map((p) => ({ name: p.name, version: p.version }));
  if (configFile === undefined) return [...availablePlugins([]), ...carried];
  try {
    const { config } = await loadConfig({ file: configFile });
    const loaded = await loadPlugins(config, {
      configDir: process.getBuiltinModule("node:path").dirname(configFile),
    });
    const out = availablePlugins(loaded);
    for (const c of carried) if (!out.some((o) => o.name === c.name)) out.push(c);
    return out;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PluginLoadError) {
      for (const p of err.problems) console.error(`saker ${command}: config: ${p}`);
      return undefined;
    }
    throw err;
  }
}
