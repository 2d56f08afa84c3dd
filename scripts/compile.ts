/**
 * `deno task compile`: `dist/saker`, one self-contained x86_64 Linux program. It is made with
 * `deno compile` from the same generated entry as the bundle (scripts/embed.ts: the probe
 * object, default rules and config, web assets and simulator helper source embedded); at run
 * time it reads nothing from the source tree. The agent's V8 flags (AGENT_V8_FLAGS) are built
 * in, since a compiled program ignores DENO_V8_FLAGS.
 *
 * `deno compile` needs Deno's `denort` runtime for the target. With internet access Deno
 * downloads it; without, set DENORT_BIN to a denort binary of the same Deno version (Deno's
 * documented override; the full `deno` binary does not work as one). When the runtime cannot be
 * had, this script says so in one line and exits non-zero; it never produces anything else.
 *
 * Usage: deno task compile [--output dist/saker] [--target x86_64-unknown-linux-gnu]
 * @module
 */
import { parseArgs } from "node:util";
import { writeEntry } from "./embed.ts";
import { AGENT_V8_FLAGS } from "../src/agent/heap.ts";

const root = new URL("..", import.meta.url).pathname;

/** The `deno compile` arguments for Saker's generated entry (exported for tests). */
export function compileArgs(entry: string, output: string, target?: string): string[] {
  return [
    "compile",
    "-A",
    "--no-check",
    // A compiled program takes its V8 flags from here only: Deno's runtime for compiled programs
    // does not read DENO_V8_FLAGS.
    `--v8-flags=${AGENT_V8_FLAGS.join(",")}`,
    ...(target ? ["--target", target] : []),
    "--output",
    output,
    entry,
  ];
}

/** Compiles Saker to `output`; returns a one-line error, or undefined on success. */
export async function compile(output: string, target?: string): Promise<string | undefined> {
  const { entry } = await writeEntry("binary");
  await Deno.mkdir(output.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  const r = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(entry, output, target),
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.success) return undefined;
  const said = new TextDecoder().decode(r.stderr);
  const denort = Deno.env.get("DENORT_BIN");
  const cause = said.split("\n").map((l) => l.trim()).filter((l) => /^(error|\d+):/.test(l));
  if (denort || !/Setting up base binary|denort/.test(said)) {
    return `deno compile failed${denort ? ` (DENORT_BIN=${denort})` : ""}: ${
      cause.slice(0, 2).join(" ") || "no reason given"
    }`;
  }
  return `cannot get Deno's denort runtime (deno compile downloads it; no network here?): ` +
    `set DENORT_BIN to a denort binary of Deno ${Deno.version.deno} (denort-x86_64-unknown-linux-gnu.zip of the Deno release)`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { output: { type: "string" }, target: { type: "string" } },
  });
  const output = values.output ?? `${root}dist/saker`;
  let problem: string | undefined;
  try {
    problem = await compile(output, values.target);
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem) {
    console.error(`compile: ${problem}`);
    Deno.exit(1);
  }
  console.error(`compile: wrote ${output}`);
}
