/**
 * `saker validate FILE...` (alias `-V`): loads rules files as the agent would and reports, per
 * file, `Ok`, `Ok, with warnings` or `Invalid`, with every error and warning (code,
 * file:line:column, snippet with a caret). `--json` prints Falco's validation JSON shape. Exits 1
 * when any file has an error.
 * @module
 */
import { loadRulesFiles } from "../rules/loader.ts";
import { formatResult, resultJson } from "../rules/result.ts";
import { pluginsForCommand } from "./plugins.ts";
import { pluginRequirementProblems } from "../agent/plugins.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker validate [--json] [--quiet] FILE|DIR...

Checks rules files. Several files load in order into one rule set (later files can append to
or override earlier ones), as with several -r options of the agent.

  --json    print {"falco_load_results": [...]} (Falco's validation JSON)
  --quiet   print only the summary line of each file
  -c FILE   load the plugins of this config (its load_plugins) too: their fields and versions

The rules files' required_plugin_versions are checked against the plugins Saker carries and
those of the config.`;

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    console.error(`saker validate: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  // `-V a.yaml -V b.yaml` (Falco style) arrives as positionals mixed with "-V".
  const files = parsed.positionals.filter((p) => p !== "-V" && p !== "--validate");
  if (files.length === 0) {
    console.error(`saker validate: no rules file given\n\n${USAGE}`);
    return 2;
  }
  const plugins = await pluginsForCommand("validate", parsed.values.config);
  if (plugins === undefined) return 1;
  const loaded = await loadRulesFiles(files);
  const missing = pluginRequirementProblems(loaded.requiredPlugins, plugins);
  for (const m of missing) console.error(`saker validate: ${m}`);
  const ok = loaded.results.every((r) => r.successful) && missing.length === 0;
  if (parsed.values.json) {
    console.log(JSON.stringify({
      falco_load_results: loaded.results.map((r) => resultJson(r, loaded.contents)),
    }));
  } else {
    for (const r of loaded.results) {
      console.log(
        parsed.values.quiet
          ? formatResult(r, new Map()).split("\n")[0]
          : formatResult(r, loaded.contents),
      );
    }
  }
  return ok ? 0 : 1;
}
