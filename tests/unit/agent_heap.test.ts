/**
 * The full collection the agent runs after start-up and reloads: it is available without a V8
 * flag on the command line, and it returns the heap that garbage occupied.
 */
import { assert } from "../support/assert.ts";
import { collectGarbage, releaseMemory } from "../../src/agent/heap.ts";

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

/**
 * Pages of the running executable's read-only mappings in this process's resident set, in
 * bytes (smaps): those only this process maps (Private_Clean) and all of them (Rss).
 */
function executableResident(): { privateClean: number; rss: number } {
  const exe = Deno.readLinkSync("/proc/self/exe");
  let mine = false;
  const out = { privateClean: 0, rss: 0 };
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      mine = head[2] === exe && head[1][1] !== "w";
      continue;
    }
    const m = /^(Private_Clean|Rss):\s+(\d+) kB/.exec(line);
    if (m && mine) out[m[1] === "Rss" ? "rss" : "privateClean"] += Number(m[2]) * 1024;
  }
  return out;
}

Deno.test("heap: freed malloc memory and start-up's code pages go back to the system", async () => {
  // 32 KB buffers come from malloc's heap; keeping every 8th leaves the freed ones as holes
  // below the heap's top, which free() alone never returns.
  let buffers: Uint8Array[] = [];
  for (let i = 0; i < 2048; i++) buffers.push(new Uint8Array(32 * 1024).fill(1));
  const kept = buffers.filter((_, i) => i % 8 === 0);
  buffers = [];
  assert(await collectGarbage(), "gc available");
  await new Promise((r) => setTimeout(r, 100)); // V8 frees array buffers after the collection
  const before = executableResident();
  const released = releaseMemory();
  const after = executableResident();
  assert(kept.length === 256);
  assert(released.malloc > 16 * 2 ** 20, `malloc_trim released ${released.malloc} bytes`);
  assert(
    after.privateClean <= before.privateClean / 2 || after.privateClean < 2 ** 20,
    `executable pages only this process maps: ${before.privateClean} -> ${after.privateClean} bytes`,
  );
  // Those other processes map too (the test runner's own Deno, for one) leave the resident set
  // as well; the ones this code runs on come back as it runs.
  assert(
    after.rss <= before.rss / 2,
    `executable pages resident: ${before.rss} -> ${after.rss} bytes`,
  );
});
