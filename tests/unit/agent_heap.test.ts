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

/** Private clean pages of the running executable's read-only mappings, in bytes (smaps). */
function executablePrivateClean(): number {
  const exe = Deno.readLinkSync("/proc/self/exe");
  let mine = false;
  let bytes = 0;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      mine = head[2] === exe && head[1][1] !== "w";
      continue;
    }
    const m = /^Private_Clean:\s+(\d+) kB/.exec(line);
    if (m && mine) bytes += Number(m[1]) * 1024;
  }
  return bytes;
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
  const privateBefore = executablePrivateClean();
  const released = releaseMemory();
  const privateAfter = executablePrivateClean();
  assert(kept.length === 256);
  assert(released.malloc > 16 * 2 ** 20, `malloc_trim released ${released.malloc} bytes`);
  assert(
    privateAfter <= privateBefore / 2 || privateAfter < 2 ** 20,
    `executable pages only this process maps: ${privateBefore} -> ${privateAfter} bytes`,
  );
});
