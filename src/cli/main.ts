/**
 * The `saker` command line: dispatches to a subcommand. Shared by every way Saker starts: the
 * source tree's src/main.ts and the generated entry of the bundle and the binary
 * (scripts/embed.ts), which registers the embedded files first.
 *
 * Each subcommand lives in src/cli/ and exports `main(args): Promise<number>` (the exit code).
 * Modules load lazily so that `saker version` does not pay for the rules engine or libbpf.
 *
 * From the source tree, a command's module is imported by a URL computed at run time: Deno
 * walks the files of every dynamic import it can read in the source before running anything
 * (here that would be every command, the agent, its npm packages), which cost `saker replay`
 * ~5-9 ms of its start. The bundle and the binary cannot load files by computed names, so
 * their generated entry passes a loader with one literal import per command
 * ({@link COMMAND_MODULES}).
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

/** What a command's module exports. */
export type CommandModule = { main(args: string[]): Promise<number> };

/**
 * Loads a command's module, named as in {@link COMMAND_MODULES} (`replay.ts`); also the parts
 * that {@link loadCliModule} loads.
 */
export type CommandLoader = (module: string) => Promise<unknown>;

/** The source tree's loader: the module next to this one, by a URL made at run time. */
const loadFromSource: CommandLoader = (module) => import(new URL(module, import.meta.url).href);

/** Subcommands, with a one-line summary for `saker help`. */
const COMMANDS: Record<string, { summary: string; module: string }> = {
  run: {
    summary: "run the agent: capture, enrich, evaluate rules, alert",
    module: "run.ts",
  },
  collect: {
    summary: "read other agents' alerts from NATS JetStream into the store (the fleet's view)",
    module: "collect.ts",
  },
  capture: {
    summary: "print (or write) every decoded live event",
    module: "capture.ts",
  },
  replay: {
    summary: "run a .scap capture file through the rules",
    module: "replay.ts",
  },
  validate: { summary: "check rules files (alias -V)", module: "validate.ts" },
  rules: { summary: "list the loaded rules", module: "rules.ts" },
  fields: {
    summary: "list the fields conditions and outputs can use",
    module: "fields.ts",
  },
  test: {
    summary: "run rule tests (synthetic events, captures, audit events, live attacks)",
    module: "test.ts",
  },
  explain: {
    summary: "show why each rule matched an event or not",
    module: "explain.ts",
  },
  simulate: {
    summary: "run attack simulations that the default rules detect",
    module: "simulate.ts",
  },
  tune: {
    summary: "propose exceptions for the noisiest rules from the alert store",
    module: "tune.ts",
  },
  token: {
    summary: "make a bearer token for the API (webserver.auth_token)",
    module: "token.ts",
  },
  version: { summary: "print versions", module: "version.ts" },
};

/**
 * Modules of src/cli/ that commands load only when a run needs them, through
 * {@link loadCliModule}: `saker replay`'s audit and plugin inputs, its rules, its replay
 * through the agent, and its capture recorder.
 */
const PART_MODULES = [
  "replay_inputs.ts",
  "replay_rules.ts",
  "replay_agent.ts",
  "replay_capture.ts",
];

/**
 * The module of each command, and the parts commands load later, in src/cli/ (what a
 * {@link CommandLoader} is asked for).
 */
export const COMMAND_MODULES: readonly string[] = [
  ...Object.values(COMMANDS).map((c) => c.module),
  ...PART_MODULES,
];

/** The loader of this run (the source tree's unless {@link main} was given another). */
let activeLoader: CommandLoader = loadFromSource;

/**
 * Loads a module of src/cli/ named in {@link COMMAND_MODULES} with the loader of this run, so
 * that a command can load a heavy part of itself late, in the source tree as in the bundle and
 * the binary. `T` is the module's type: `loadCliModule<typeof import("./x.ts")>("x.ts")`.
 */
export function loadCliModule<T>(module: string): Promise<T> {
  if (!COMMAND_MODULES.includes(module)) throw new Error(`not a module of src/cli/: ${module}`);
  return activeLoader(module) as Promise<T>;
}

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
export async function main(argv: string[], load = loadFromSource): Promise<number> {
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
  activeLoader = load;
  const mod = await load(cmd.module) as CommandModule;
  return await mod.main(rest);
}

/**
 * Runs `argv` and exits with its status; an unexpected error is one log line and status 1.
 * `load` loads the commands' modules (default: from the source tree).
 */
export async function runMain(argv: string[], load?: CommandLoader): Promise<never> {
  try {
    Deno.exit(await main(argv, load));
  } catch (err) {
    log.error("fatal", { error: err instanceof Error ? err.message : String(err) });
    log.debug("stack", { stack: err instanceof Error ? err.stack : undefined });
    Deno.exit(1);
  }
}
