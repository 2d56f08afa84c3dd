/**
 * Drain buffers of the live ring are used again once their events are gone (src/kernel/ring.ts),
 * and an event that is kept keeps its bytes: an open/close storm of a few hundred thousand
 * events runs through the live source while events of its first batches are held on to (they
 * hold at most two of the reader's three chunks); at the end their record bytes are what they
 * were when they arrived, no more chunks were allocated than the reader's bound, and chunks were
 * reused. Needs root.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { PYTHON } from "../support/live.ts";
import { openLiveSource } from "../../src/sources/live.ts";
import { MAX_CHUNKS } from "../../src/kernel/ring.ts";
import type { Event } from "../../src/events/event.ts";

Deno.test({
  name: "ring: drain buffers are reused, kept events keep their bytes",
  ignore: needsRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const src = await openLiveSource({
      syscalls: new Set(["openat", "close"]),
      ringBytes: 32 << 20,
      pollMs: 2,
      maxDelayMs: 10,
    });
    const kept: { ev: Event; bytes: Uint8Array }[] = [];
    let batches = 0;
    let stormEvents = 0;
    let stormPid = -1;
    const consumer = (async () => {
      for await (const batch of src.readable) {
        batches++;
        let keep = kept.length < 3; // one event of each of the first storm batches
        for (const ev of batch) {
          if (ev.pid !== stormPid) continue;
          stormEvents++;
          if (keep && ev.name === "openat") {
            // Kept with a copy of its record as it arrived.
            const len = ev.dv.getUint32(ev.off + 20, true);
            kept.push({ ev, bytes: ev.buf.slice(ev.off, ev.off + len) });
            keep = false;
          }
        }
      }
    })();
    const child = new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import os,sys\nsys.stdin.read(1)\n" +
        "for i in range(200000):\n  os.close(os.open('/dev/null' if i % 2 else '/etc/hostname', 0))",
      ],
      stdin: "piped",
    }).spawn();
    stormPid = child.pid;
    const w = child.stdin.getWriter();
    await w.write(new Uint8Array([10]));
    await w.close();
    assert((await child.status).success, "storm ran");
    // Let the last drains arrive.
    for (let i = 0; i < 500 && stormEvents < 400_000; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const stats = src.probe.ring.bufferStats();
    await src.close();
    await consumer;

    assert(stormEvents >= 400_000, `all storm events arrived (${stormEvents})`);
    assertEquals(kept.length, 3, "events kept");
    for (const k of kept) {
      const len = k.ev.dv.getUint32(k.ev.off + 20, true);
      assertEquals(k.ev.buf.slice(k.ev.off, k.ev.off + len), k.bytes, "kept event's record intact");
    }
    assert(stats.chunksAllocated <= MAX_CHUNKS, `chunks allocated: ${JSON.stringify(stats)}`);
    assert(stats.chunksReused > 0, `chunks reused: ${JSON.stringify(stats)}`);
    assert(
      stats.chunksAllocated < stats.drains,
      `fewer chunks allocated than drains: ${JSON.stringify(stats)}`,
    );
  },
});
