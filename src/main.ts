/**
 * `saker`: runtime security agent for Linux, run from a source tree
 * (`deno run -A src/main.ts COMMAND ...`). The command line itself is src/cli/main.ts.
 * @module
 */
import { runMain } from "./cli/main.ts";

if (import.meta.main) await runMain(Deno.args);
