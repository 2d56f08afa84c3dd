/**
 * How long a record waits in the ring: a child process opens a file after random pauses, on an
 * otherwise quiet probe (only openat captured) and while an open+close storm keeps the ring
 * busy; each open's kernel timestamp is compared with the time the live source handed its event
 * over. Idle, the probe wakes the reader (it does not poll); busy, the reader's pause is capped.
 * Needs root; skips visibly otherwise.
 */
import { assert } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { openLiveSource } from "../../src/sources/live.ts";
import { bootEpochNs, bootTimeNs } from "../../src/kernel/libc.ts";

const ignore = needsRoot();

/** Opens `path` `count` times, 50-100 ms apart (random), in a child. */
function opener(path: string, count: number): Deno.ChildProcess {
  const script = `for i in $(seq ${count}); do sleep 0.0$((5 + RANDOM % 5)); : < ${path}; done`;
  return new Deno.Command("bash", { args: ["-c", script], stdout: "null" }).spawn();
}

async function measure(marker: string, busy: boolean): Promise<number[]> {
  const src = await openLiveSource({ syscalls: new Set(["openat"]), withState: false });
  const storm = busy
    ? new Deno.Command("bash", {
      args: ["-c", "end=$((SECONDS+30)); while [ $SECONDS -lt $end ]; do : < /dev/null; done"],
      stdout: "null",
    }).spawn()
    : undefined;
  const lat: number[] = [];
  const epoch = bootEpochNs();
  try {
    const child = opener(marker, 30);
    const reader = (async () => {
      for await (const batch of src.readable) {
        const now = Number(bootTimeNs() + epoch) / 1e6; // the probe's clock, as UTC

        for (const ev of batch) {
          if (ev.name === "openat" && ev.arg("name") === marker) {
            lat.push(now - Number(ev.ts) / 1e6);
          }
        }
        if (lat.length >= 30) break;
      }
    })();
    await child.status;
    await Promise.race([reader, new Promise((r) => setTimeout(r, 2000))]);
  } finally {
    if (storm) {
      storm.kill("SIGTERM");
      await storm.status;
    }
    await src.close();
  }
  return lat.sort((a, b) => a - b);
}

for (const busy of [false, true]) {
  Deno.test({
    name: `kernel latency: a record reaches user space within the bound (${
      busy ? "busy" : "idle"
    })`,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "saker-latency-" });
      const marker = `${dir}/marker`;
      await Deno.writeTextFile(marker, "x");
      try {
        const lat = await measure(marker, busy);
        assert(lat.length >= 28, `events seen: ${lat.length} of 30`);
        const p50 = lat[lat.length >> 1];
        console.log(
          `  ${busy ? "busy" : "idle"}: p50 ${p50.toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms`,
        );
        // The bound is 5 ms (max_delay) plus processing. The machine is shared and the suite
        // runs beside other work, so the assertions leave room for scheduling delays and only
        // require what polling with the former 100 ms back-off could not give.
        assert(p50 < 25, `median ${p50.toFixed(2)} ms (all: ${lat.map((x) => x.toFixed(1))})`);
        assert(lat[lat.length - 2] < 80, `second worst ${lat[lat.length - 2].toFixed(1)} ms`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
