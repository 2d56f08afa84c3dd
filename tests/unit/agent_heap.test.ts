/**
 * The full collection the agent runs after start-up and reloads: it is available without a V8
 * flag on the command line, and it returns the heap that garbage occupied.
 */
import { assert } from "../support/assert.ts";
import { collectGarbage } from "../../src/agent/heap.ts";

Deno.test("heap: a full collection returns what garbage occupied", async () => {
  let junk: unknown[] = [];
  for (let i = 0; i < 400_000; i++) junk.push({ i, s: `entry ${i}` });
  const full = Deno.memoryUsage().heapUsed;
  junk = [];
  assert(await collectGarbage(), "gc available");
  const after = Deno.memoryUsage().heapUsed;
  assert(junk.length === 0);
  assert(full - after > 20 * 2 ** 20, `heap used ${full} -> ${after} bytes`);
});
