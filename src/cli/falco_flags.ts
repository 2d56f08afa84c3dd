/**
 * Falco's command-line flags on `saker run`, with Falco's meaning, so that scripts and habits
 * carry over: most become config overrides (`-U` is `buffered_outputs=false`, `-A` is
 * `base_syscalls.all=true`, `-D`/`-T`/`-t` add `rules:` selections, `-p` an `append_output`
 * entry); the others print something and exit (`-L`, `-l RULE`, `--list [SOURCE]`, `-i`,
 * `--support`: see run_info.ts). Pure: parsing and translation only.
 *
 * An unknown flag is answered with the closest flag `saker run` knows, and Falco flags that have
 * no Saker meaning say what to use instead.
 *
 * @example
 * ```ts
 * import { falcoOverrides } from "./falco_flags.ts";
 * falcoOverrides({ unbuffered: true, T: ["network"] });
 * // ["buffered_outputs=false", 'rules[]={"disable":{"tag":"network"}}']
 * ```
 * @module
 */
import { editDistance } from "../edit_distance.ts";

/** parseArgs option specs of the Falco flags `saker run` takes. */
export const FALCO_RUN_OPTIONS = {
  L: { type: "boolean" },
  l: { type: "string" },
  list: { type: "string" },
  format: { type: "string" },
  markdown: { type: "boolean" },
  N: { type: "boolean" },
  unbuffered: { type: "boolean", short: "U" },
  p: { type: "string", multiple: true },
  i: { type: "boolean" },
  support: { type: "boolean" },
  A: { type: "boolean" },
  D: { type: "string", multiple: true },
  T: { type: "string", multiple: true },
  t: { type: "string", multiple: true },
} as const;

/** The values parseArgs yields for {@link FALCO_RUN_OPTIONS}. */
export interface FalcoFlagValues {
  L?: boolean;
  l?: string;
  list?: string;
  format?: string;
  markdown?: boolean;
  N?: boolean;
  unbuffered?: boolean;
  p?: string[];
  i?: boolean;
  support?: boolean;
  A?: boolean;
  D?: string[];
  T?: string[];
  t?: string[];
}

/** The usage lines of the Falco flags (part of `saker run --help`). */
export const FALCO_RUN_USAGE = `Falco's flags, with Falco's meaning:
  -L                describe every loaded rule and exit (JSON with json_output / --json)
  -l RULE           describe one rule and exit
  --list [SOURCE]   list the fields (of one source: syscall, k8s_audit) and exit; with
                    --format text|markdown|json, -N for names only
  -U, --unbuffered  flush outputs on every alert (buffered_outputs=false)
  -p FORMAT         append FORMAT to every rule's output; -pc / -pk append the container and
                    Kubernetes fields (append_output suggested_output); repeatable
  -i                list the events left out unless -A, and exit
  -A                capture those events too (base_syscalls.all=true)
  -D SUBSTRING      disable rules whose name contains SUBSTRING (repeatable)
  -T TAG            disable rules with this tag (repeatable)
  -t TAG            enable only rules with this tag (repeatable; not with -D/-T)
  --support         print version, system, config and rules files as JSON, and exit`;

/** What a set of Falco flags asks `saker run` to do instead of running. */
export type FalcoAction =
  | { kind: "describe"; rule?: string }
  | { kind: "fields"; source: string; format: "text" | "markdown" | "json"; namesOnly: boolean }
  | { kind: "ignored" }
  | { kind: "support" };

/** A flag combination Falco refuses; the message is Falco's reason. */
export class FlagError extends Error {}

/** The print-and-exit action the flags ask for, if any (checked in Falco's order). */
export function falcoAction(v: FalcoFlagValues): FalcoAction | undefined {
  if (v.markdown && v.format !== undefined) {
    throw new FlagError("cannot specify both --markdown and --format options together");
  }
  if (v.support) return { kind: "support" };
  if (v.list !== undefined) {
    const format = (v.format ?? (v.markdown ? "markdown" : "text")).toLowerCase();
    if (format !== "text" && format !== "markdown" && format !== "json") {
      throw new FlagError(
        `invalid format '${v.format}'. Valid values are: text, markdown, json`,
      );
    }
    return { kind: "fields", source: v.list, format, namesOnly: v.N === true };
  }
  if (v.i) return { kind: "ignored" };
  if (v.L) return { kind: "describe" };
  if (v.l !== undefined) return { kind: "describe", rule: v.l };
  return undefined;
}

/** Escapes the wildcard characters of a rule name, so that it matches only itself. */
function literal(s: string): string {
  return s.replace(/[*?[\]\\]/g, "\\$&");
}

const selection = (entry: Record<string, Record<string, string>>) =>
  `rules[]=${JSON.stringify(entry)}`;

/** `-pc`, `-pk` and their long spellings: the container (and Kubernetes) fields. */
const CONTAINER_PRINT = new Set(["c", "container", "k", "kubernetes"]);

/** The config overrides (`-o` syntax) the flags stand for, in order. */
export function falcoOverrides(v: FalcoFlagValues): string[] {
  const disables = (v.D?.length ?? 0) + (v.T?.length ?? 0);
  if (disables > 0 && (v.t?.length ?? 0) > 0) {
    throw new FlagError("you can not specify both disabled (-D/-T) and enabled (-t) rules");
  }
  const out: string[] = [];
  if (v.unbuffered) out.push("buffered_outputs=false");
  if (v.A) out.push("base_syscalls.all=true");
  for (const s of v.D ?? []) out.push(selection({ disable: { rule: `*${literal(s)}*` } }));
  for (const tag of v.T ?? []) out.push(selection({ disable: { tag } }));
  if (v.t?.length) {
    out.push(selection({ disable: { rule: "*" } }));
    for (const tag of v.t) out.push(selection({ enable: { tag } }));
  }
  for (const p of v.p ?? []) {
    out.push(
      CONTAINER_PRINT.has(p)
        ? `append_output[]=${
          JSON.stringify({ match: { source: "syscall" }, suggested_output: true })
        }`
        : `append_output[]=${JSON.stringify({ extra_output: p })}`,
    );
  }
  return out;
}

/** Falco flags that mean nothing for Saker, and what to use instead. */
const FALCO_ONLY: Record<string, string> = {
  "-e": "to run a capture file through the rules use `saker replay FILE` (or `saker run -o " +
    "engine.kind=replay -o engine.replay.capture_file=FILE`)",
  "--list-events": "`saker capture` prints events; -i lists those left out by default",
  "--list-plugins": "`saker fields -c CONFIG` lists the fields of the config's plugins; Saker " +
    "carries k8saudit, json, cloudtrail, github, okta and gcpaudit",
  "--plugin-info": "`saker fields -c CONFIG --source SOURCE` lists a plugin's fields",
  "--page-size": "the ring buffer size is kernel.ring_buffer_size (bytes)",
  "--config-schema": "errors name the config key and what it accepts",
  "--rule-schema": "`saker validate FILE` checks rules files",
  "-P": "Saker writes no PID file; run it under systemd or a container runtime",
  "--pidfile": "Saker writes no PID file; run it under systemd or a container runtime",
  "-v": "-o log_level=debug for more detail",
  "-V": "`saker validate FILE` validates rules files",
  "--validate": "`saker validate FILE` validates rules files",
  "--version": "`saker version`",
  "-b": "Falco's -b is gone (base64 buffers); Saker captures no data buffers by default",
  "-S": "Saker captures no data buffers (the probe's snaplen is 0)",
  "-k": "Kubernetes metadata comes from the container runtime's labels",
  "-K": "Kubernetes metadata comes from the container runtime's labels",
};

/**
 * The command-line spellings of parseArgs option specs: `-x` for one-letter names and shorts,
 * `--name` for the rest.
 */
export function flagSpellings(options: Record<string, { type: string; short?: string }>): string[] {
  const out: string[] = [];
  for (const [name, o] of Object.entries(options)) {
    out.push(name.length === 1 ? `-${name}` : `--${name}`);
    if (o.short) out.push(`-${o.short}`);
  }
  return out;
}

/**
 * Explains an unknown flag: what to use instead for a Falco flag Saker has no use for, else the
 * closest known flag (by edit distance, case counting less), else nothing more.
 */
export function unknownFlagMessage(flag: string, known: readonly string[]): string {
  const name = flag.split("=")[0];
  const instead = FALCO_ONLY[name];
  if (instead) return `unknown option '${name}' (a Falco flag with no Saker meaning): ${instead}`;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = Math.min(
      editDistance(name, k),
      editDistance(name.toLowerCase(), k.toLowerCase()) + 0.5,
    );
    if (d < bestD) [best, bestD] = [k, d];
  }
  const limit = Math.max(2, Math.floor(name.replace(/^-+/, "").length / 3));
  return best !== undefined && bestD <= limit
    ? `unknown option '${name}'; did you mean ${best}?`
    : `unknown option '${name}'`;
}

/**
 * Makes `--list` take an optional value as Falco's does: `--list` alone lists every source,
 * `--list SOURCE` (a next argument that is not a flag) one source.
 */
export function optionalListValue(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--list") {
      out.push(args[i]);
      continue;
    }
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith("-")) {
      out.push(`--list=${next}`);
      i++;
    } else out.push("--list=");
  }
  return out;
}

/**
 * What `saker` says when its first argument is a flag rather than a command (a Falco habit:
 * `falco -r rules.yaml`): the same line as a `saker run` command.
 */
export function flagWithoutCommandMessage(argv: readonly string[]): string {
  const quoted = argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return `saker: '${argv[0]}' is not a command; Saker runs the agent with \`saker run\`: ` +
    `saker run ${quoted.join(" ")}`;
}
