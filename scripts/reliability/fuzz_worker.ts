/**
 * A fuzz worker: runs inputs `from` to `to` of one target and reports, through a shared counter,
 * the input it is on (so that the parent sees a hang and where), and by message each crash and
 * the slowest input. Started by fuzz.ts; one target per worker.
 * @module
 */
import { TARGETS } from "./targets.ts";
import { rng } from "./mutate.ts";

/** The start message. */
export interface WorkerStart {
  target: string;
  seed: number;
  from: number;
  to: number;
  /** Int32Array over a SharedArrayBuffer: [current input, inputs done]. */
  progress: SharedArrayBuffer;
}

/** Messages back. */
export type WorkerMessage =
  | { kind: "crash"; index: number; error: string }
  | { kind: "done"; slowestMs: number; slowestIndex: number; ms: number };

/** The stream number of input `index` of `target` (inputs of two targets never coincide). */
export function streamOf(target: string, index: number): number {
  let h = 0;
  for (const ch of target) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return (h & 0xfff) * 0x100000 + index;
}

/** Runs one input; resolves with the error when it is not a documented one. */
export async function runOne(
  target: string,
  seed: number,
  index: number,
  corpus: Awaited<ReturnType<(typeof TARGETS)[string]["corpus"]>>,
): Promise<string | undefined> {
  const t = TARGETS[target];
  const input = t.input(rng(seed, streamOf(target, index)), corpus);
  try {
    await t.run(input, corpus);
  } catch (err) {
    if (!t.documented(err)) {
      const e = err as Error;
      return `${e?.name ?? typeof err}: ${String(e?.message ?? err).slice(0, 300)}`;
    }
  }
  return undefined;
}

// deno-lint-ignore no-explicit-any
const self_ = globalThis as any;
if (typeof self_.postMessage === "function" && typeof self_.WorkerGlobalScope !== "undefined") {
  self_.onmessage = async (e: MessageEvent<WorkerStart>) => {
    const { target, seed, from, to } = e.data;
    const progress = new Int32Array(e.data.progress);
    const corpus = await TARGETS[target].corpus();
    const t0 = performance.now();
    let slowestMs = 0, slowestIndex = -1;
    for (let i = from; i < to; i++) {
      Atomics.store(progress, 0, i);
      const s = performance.now();
      const crash = await runOne(target, seed, i, corpus);
      const ms = performance.now() - s;
      if (ms > slowestMs) {
        slowestMs = ms;
        slowestIndex = i;
      }
      if (crash) self_.postMessage({ kind: "crash", index: i, error: crash });
      Atomics.store(progress, 1, i + 1 - from);
    }
    self_.postMessage({ kind: "done", slowestMs, slowestIndex, ms: performance.now() - t0 });
  };
}
