/** `saker version [--json]`: Saker, engine and runtime versions. @module */
import { versions } from "../version.ts";

/** Entry point of the subcommand. */
export function main(args: string[]): Promise<number> {
  const v = versions();
  if (args.includes("--json")) console.log(JSON.stringify(v));
  else for (const [k, val] of Object.entries(v)) console.log(`${k}: ${val}`);
  return Promise.resolve(0);
}
