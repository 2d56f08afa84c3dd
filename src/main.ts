/**
 * `saker`: runtime security agent for Linux. Entry point: dispatches to a subcommand.
 *
 * Each subcommand lives in src/cli/ and exports `main(args): Promise<number>` (the exit code).
 * Modules load lazily so that `saker version` does not pay for the rules engine or libbpf.
 * @module
 */
import { log } from "./log.ts";

type CommandModule = { main(args: string[]): Promise<number> };

/** Subcommands, with a one-line summary for `saker help`. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  run: {
    summary: "run the agent: capture, enrich, evaluate rules, alert",
    load: () => import("./cli/run.ts"),
  },
  capture: {
    summary: "print (or write) every decoded live event",
    load: () => import("./cli/capture.ts"),
  },
  replay: {
    summary: "run a .scap capture file through the rules",
    load: () => import("./cli/replay.ts"),
  },
  validate: { summary: "check rules files (alias -V)", load: () => import("./cli/validate.ts") },
  rules: { summary: "list the loaded rules", load: () => import("./cli/rules.ts") },
  fields: {
    summary: "list the fields conditions and outputs can use",
    load: () => import("./cli/fields.ts"),
  },
  simulate: {
    summary: "run attack simulations that the default rules detect",
    load: () => import("./cli/simulate.ts"),
  },
  version: { summary: "print versions", load: () => import("./cli/version.ts") },
};

const ALIASES: Record<string, string> = {
  "-V": "validate",
  "--validate": "validate",
  "--version": "version",
};

function usage(): string {
  const lines = ["usage: saker <command> [options]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push("", "Run `saker <command> --help` for a command's options.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === "help" || first === "--help" || first === "-h") {
    console.log(usage());
    return first ? 0 : 2;
  }
  const name = ALIASES[first] ?? first;
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`saker: unknown command '${first}'\n\n${usage()}`);
    return 2;
  }
  const mod = await cmd.load();
  return await mod.main(rest);
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    log.error("fatal", { error: err instanceof Error ? err.message : String(err) });
    log.debug("stack", { stack: err instanceof Error ? err.stack : undefined });
    Deno.exit(1);
  }
}
