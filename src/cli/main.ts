/**
 * The `saker` command line: dispatches to a subcommand. Shared by every way Saker starts: the
 * source tree's src/main.ts and the generated entry of the bundle and the binary
 * (scripts/embed.ts), which registers the embedded files first.
 *
 * Each subcommand lives in src/cli/ and exports `main(args): Promise<number>` (the exit code).
 * Modules load lazily so that `saker version` does not pay for the rules engine or libbpf.
 *
 * @example
 * ```ts
 * import { runMain } from "./main.ts";
 * await runMain(["version", "--json"]); // prints, then exits with the command's status
 * ```
 * @module
 */
import { log } from "../log.ts";
import { flagWithoutCommandMessage } from "./falco_flags.ts";

type CommandModule = { main(args: string[]): Promise<number> };

/** Subcommands, with a one-line summary for `saker help`. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  run: {
    summary: "run the agent: capture, enrich, evaluate rules, alert",
    load: () => import("./run.ts"),
  },
  collect: {
    summary: "read other agents' alerts from NATS JetStream into the store (the fleet's view)",
    load: () => import("./collect.ts"),
  },
  capture: {
    summary: "print (or write) every decoded live event",
    load: () => import("./capture.ts"),
  },
  replay: {
    summary: "run a .scap capture file through the rules",
    load: () => import("./replay.ts"),
  },
  validate: { summary: "check rules files (alias -V)", load: () => import("./validate.ts") },
  rules: { summary: "list the loaded rules", load: () => import("./rules.ts") },
  fields: {
    summary: "list the fields conditions and outputs can use",
    load: () => import("./fields.ts"),
  },
  test: {
    summary: "run rule tests (synthetic events, captures, audit events, live attacks)",
    load: () => import("./test.ts"),
  },
  explain: {
    summary: "show why each rule matched an event or not",
    load: () => import("./explain.ts"),
  },
  simulate: {
    summary: "run attack simulations that the default rules detect",
    load: () => import("./simulate.ts"),
  },
  tune: {
    summary: "propose exceptions for the noisiest rules from the alert store",
    load: () => import("./tune.ts"),
  },
  token: {
    summary: "make a bearer token for the API (webserver.auth_token)",
    load: () => import("./token.ts"),
  },
  version: { summary: "print versions", load: () => import("./version.ts") },
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

/** Runs the command `argv` names and returns its exit status. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === "help" || first === "--help" || first === "-h") {
    console.log(usage());
    return first ? 0 : 2;
  }
  const name = ALIASES[first] ?? first;
  const cmd = COMMANDS[name];
  if (!cmd && first.startsWith("-")) {
    console.error(flagWithoutCommandMessage(argv));
    return 2;
  }
  if (!cmd) {
    console.error(`saker: unknown command '${first}'\n\n${usage()}`);
    return 2;
  }
  const mod = await cmd.load();
  return await mod.main(rest);
}

/** Runs `argv` and exits with its status; an unexpected error is one log line and status 1. */
export async function runMain(argv: string[]): Promise<never> {
  try {
    Deno.exit(await main(argv));
  } catch (err) {
    log.error("fatal", { error: err instanceof Error ? err.message : String(err) });
    log.debug("stack", { stack: err instanceof Error ? err.stack : undefined });
    Deno.exit(1);
  }
}
