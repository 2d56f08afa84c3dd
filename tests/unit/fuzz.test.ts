/**
 * The short form of the reliability suite's fuzzing: 10,000 generated or mutated inputs for each
 * parser that takes outside input (the condition parser, the rules loader, the config loader, the
 * capture reader, the live record decoder, the audit webhook's body parser, the API's query
 * strings), with a seed (SAKER_FUZZ_SEED, default 1; each finding names the input number that
 * reproduces it). No uncaught exception, no input running over 5 s, and the commands reading
 * such files exit with their documented codes. `deno task bench reliability` runs 1,000,000.
 */
import { assertEquals } from "../support/assert.ts";
import { fuzzAll } from "../../scripts/reliability/fuzz.ts";

const SEED = Number(Deno.env.get("SAKER_FUZZ_SEED") ?? 1);

Deno.test("fuzz: 10,000 inputs per parser, no crash, no hang, documented exit codes", async () => {
  const results = await fuzzAll({ seed: SEED, count: 10_000, cliRuns: 1, parallel: 2 });
  console.log(JSON.stringify(
    results.map(({ findings: _, ...figures }) => figures),
    null,
    1,
  ));
  const found = results.flatMap((r) => r.findings.map((f) => ({ target: r.target, ...f })));
  assertEquals(found, [], `seed ${SEED}`);
});
