/**
 * A fuzz worker process: runs inputs `from` to `to` of one target and says on stdout the input it
 * is on (so that the parent sees a hang and where), each crash and the slowest input. A process
 * of its own (started by fuzz.ts) so that its memory is bounded and given back, and a fatal error
 * (out of memory) is seen as a crash of one input rather than the end of the run.
 * @module
 */
import { TARGETS } from "./targets.ts";
import { rng } from "./mutate.ts";

/** Lines the worker writes on stdout, one per event. */
export type WorkerLine =
  | { kind: "at"; index: number }
  | { kind: "crash"; index: number; error: string }
  | { kind: "done"; slowestMs: number; slowestIndex: number; ms: number };

/** Reads one line a worker wrote. */
export function parseWorkerLine(line: string): WorkerLine | undefined {
  const sp = line.indexOf(" ");
  const tag = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? "" : line.slice(sp + 1);
  if (tag === "at") return { kind: "at", index: Number(rest) };
  if (tag === "crash") {
    const [index, ...msg] = rest.split(" ");
    return { kind: "crash", index: Number(index), error: msg.join(" ") };
  }
  if (tag === "done") {
    const [slowestMs, slowestIndex, ms] = rest.split(" ").map(Number);
    return { kind: "done", slowestMs, slowestIndex, ms };
  }
  return undefined;
}

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

if (import.meta.main) {
  // fuzz_worker.ts TARGET SEED FROM TO: runs inputs FROM..TO-1, writing `at I` before each (so
  // that a hang names its input), `crash I ERROR` for each crash, `done ...` at the end.
  const [target, seed, from, to] = Deno.args;
  const enc = new TextEncoder();
  const say = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  const corpus = await TARGETS[target].corpus();
  const t0 = performance.now();
  let slowestMs = 0, slowestIndex = -1;
  for (let i = Number(from); i < Number(to); i++) {
    say(`at ${i}`);
    const s = performance.now();
    const crash = await runOne(target, Number(seed), i, corpus);
    const ms = performance.now() - s;
    if (ms > slowestMs) {
      slowestMs = ms;
      slowestIndex = i;
    }
    if (crash) say(`crash ${i} ${crash.replace(/\s+/g, " ")}`);
  }
  say(`done ${slowestMs} ${slowestIndex} ${performance.now() - t0}`);
}
