/**
 * `deno task compile`: one self-contained `saker` binary with the probe object, the default
 * rules and config embedded (`deno compile --include`).
 *
 * `deno compile` needs Deno's `denort` runtime for the target. With internet access Deno
 * downloads it; without, set DENORT_BIN to a denort binary of the same Deno version (Deno's
 * documented override; the full `deno` binary does not work as one). This script never produces
 * anything else: when the runtime cannot be had, it fails and says why.
 *
 * Usage: deno task compile [--output dist/saker] [--target x86_64-unknown-linux-gnu]
 * @module
 */
import { parseArgs } from "node:util";
import { buildProbe } from "./build_bpf.ts";

const root = new URL("..", import.meta.url).pathname;

/** The `deno compile` arguments for Saker (exported for tests). */
export function compileArgs(output: string, target?: string): string[] {
  return [
    "compile",
    "-A",
    "--no-check",
    "--include",
    `${root}.build/probe.bpf.o`,
    "--include",
    `${root}rules`,
    "--include",
    `${root}config.yaml`,
    ...(target ? ["--target", target] : []),
    "--output",
    output,
    `${root}src/main.ts`,
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { output: { type: "string" }, target: { type: "string" } },
  });
  const output = values.output ?? `${root}dist/saker`;
  await buildProbe({ ifStale: true });
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) console.error(`compile: using the denort runtime at ${denort} (DENORT_BIN)`);
  else console.error("compile: no DENORT_BIN set: deno will download its denort runtime");
  const r = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(output, values.target),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) {
    console.error(
      "compile: deno compile failed. Without internet access, point DENORT_BIN at a denort " +
        `binary of Deno ${Deno.version.deno} (from https://dl.deno.land/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip).`,
    );
    Deno.exit(1);
  }
  console.error(`compile: wrote ${output}`);
}
