/**
 * Fuzzing every parser that takes outside input (targets.ts), with a seed: each target's inputs
 * run in a worker that reports the input it is on through a shared counter, so that an input
 * running longer than the hang limit (5 s) is found, the worker is ended and the run goes on
 * with the next input; an uncaught exception or a worker that dies counts as a crash. A sample
 * of the inputs also goes through the command that reads such files (`saker validate`, `saker
 * run --dry-run -c`, `saker replay`), whose exit code must be a documented one.
 *
 * Figures per target: inputs, crashes, hangs, bad exit codes, the slowest input, microseconds
 * per input; each finding with its input number (rebuilt from seed, target and number).
 *
 * @example
 * ```ts
 * import { fuzzTarget } from "./fuzz.ts";
 * const r = await fuzzTarget("condition", { seed: 1, count: 10_000 });
 * r.crashes; // 0
 * ```
 * @module
 */
import { TARGETS } from "./targets.ts";
import { rng } from "./mutate.ts";
import { streamOf, type WorkerMessage, type WorkerStart } from "./fuzz_worker.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** One finding: what happened to which input. */
export interface Finding {
  kind: "crash" | "hang" | "exit";
  index: number;
  error: string;
}

/** The figures of one target. */
export interface FuzzResult {
  target: string;
  seed: number;
  inputs: number;
  crashes: number;
  hangs: number;
  bad_exits: number;
  cli_runs: number;
  slowest_ms: number;
  slowest_index: number;
  us_per_input: number;
  findings: Finding[];
}

/** Options of {@link fuzzTarget}. */
export interface FuzzOptions {
  seed: number;
  count: number;
  /** An input running longer is a hang (default 5000 ms). */
  hangMs?: number;
  /** Inputs also run through the target's command (default 0). */
  cliRuns?: number;
}

/** Runs inputs [from, to) in a worker; resolves when done, or at a hang or a crash of the worker. */
function runWorker(
  target: string,
  seed: number,
  from: number,
  to: number,
  hangMs: number,
  findings: Finding[],
): Promise<{ next: number; slowestMs: number; slowestIndex: number; ms: number }> {
  const progress = new SharedArrayBuffer(8);
  const view = new Int32Array(progress);
  Atomics.store(view, 0, from);
  const worker = new Worker(new URL("./fuzz_worker.ts", import.meta.url), { type: "module" });
  return new Promise((resolve) => {
    let lastIndex = from, lastDone = -1, still = 0;
    const t0 = performance.now();
    const finish = (v: { next: number; slowestMs: number; slowestIndex: number; ms: number }) => {
      clearInterval(timer);
      worker.terminate();
      resolve(v);
    };
    const timer = setInterval(() => {
      const index = Atomics.load(view, 0), done = Atomics.load(view, 1);
      if (index === lastIndex && done === lastDone) still += 250;
      else still = 0;
      lastIndex = index;
      lastDone = done;
      if (still >= hangMs) {
        findings.push({ kind: "hang", index, error: `no progress for ${hangMs} ms` });
        finish({ next: index + 1, slowestMs: hangMs, slowestIndex: index, ms: 0 });
      }
    }, 250);
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.kind === "crash") findings.push({ kind: "crash", index: m.index, error: m.error });
      else finish({ next: to, slowestMs: m.slowestMs, slowestIndex: m.slowestIndex, ms: m.ms });
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const index = Atomics.load(view, 0);
      findings.push({ kind: "crash", index, error: `worker died: ${e.message}` });
      finish({ next: index + 1, slowestMs: 0, slowestIndex: -1, ms: performance.now() - t0 });
    };
    worker.postMessage({ target, seed, from, to, progress } satisfies WorkerStart);
  });
}

/** Runs the target's command on one input written to a file; a finding when the exit is wrong. */
async function cliCheck(
  name: string,
  seed: number,
  index: number,
  corpus: Awaited<ReturnType<(typeof TARGETS)[string]["corpus"]>>,
  hangMs: number,
): Promise<Finding | undefined> {
  const t = TARGETS[name];
  if (!t.cli) return undefined;
  const input = t.input(rng(seed, streamOf(name, index)), corpus);
  const dir = await Deno.makeTempDir({ prefix: "saker-fuzz-cli-" });
  try {
    const file = `${dir}/input${t.cli.suffix}`;
    if (typeof input === "string") await Deno.writeTextFile(file, input);
    else await Deno.writeFile(file, input);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", `${ROOT}src/main.ts`, ...t.cli.args(file)],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { SAKER_CONFIG: "/nonexistent" },
    }).spawn();
    // Start-up costs a few seconds on a busy machine: the command gets the hang limit on top.
    const timer = setTimeout(() => child.kill("SIGKILL"), hangMs + 10_000);
    const out = await child.output();
    clearTimeout(timer);
    const stderr = new TextDecoder().decode(out.stderr);
    if (out.signal === "SIGKILL") return { kind: "hang", index, error: `${t.cli.args(file)[0]}` };
    if (!t.cli.codes.includes(out.code) || /\bfatal\b|Uncaught|panicked/.test(stderr)) {
      return {
        kind: "exit",
        index,
        error: `exit ${out.code}: ${stderr.split("\n").slice(-3).join(" ").slice(0, 300)}`,
      };
    }
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Fuzzes one target with `count` inputs. */
export async function fuzzTarget(name: string, opts: FuzzOptions): Promise<FuzzResult> {
  const hangMs = opts.hangMs ?? 5000;
  const findings: Finding[] = [];
  let next = 0, slowestMs = 0, slowestIndex = -1, ms = 0;
  while (next < opts.count) {
    const r = await runWorker(name, opts.seed, next, opts.count, hangMs, findings);
    next = r.next;
    ms += r.ms;
    if (r.slowestMs > slowestMs) {
      slowestMs = r.slowestMs;
      slowestIndex = r.slowestIndex;
    }
  }
  const cliRuns = TARGETS[name].cli ? opts.cliRuns ?? 0 : 0;
  if (cliRuns > 0) {
    const corpus = await TARGETS[name].corpus();
    const step = Math.max(1, Math.floor(opts.count / cliRuns));
    for (let k = 0; k < cliRuns; k++) {
      const f = await cliCheck(name, opts.seed, k * step, corpus, hangMs);
      if (f) findings.push(f);
    }
  }
  const count = (kind: Finding["kind"]) => findings.filter((f) => f.kind === kind).length;
  return {
    target: name,
    seed: opts.seed,
    inputs: opts.count,
    crashes: count("crash"),
    hangs: count("hang"),
    bad_exits: count("exit"),
    cli_runs: cliRuns,
    slowest_ms: Math.round(slowestMs * 10) / 10,
    slowest_index: slowestIndex,
    us_per_input: Math.round((ms * 1000) / opts.count),
    findings: findings.slice(0, 20),
  };
}

/** Fuzzes every target, `parallel` at a time. */
export async function fuzzAll(opts: FuzzOptions & { parallel?: number }): Promise<FuzzResult[]> {
  const names = Object.keys(TARGETS);
  const out: FuzzResult[] = [];
  let i = 0;
  await Promise.all(
    Array.from({ length: opts.parallel ?? 2 }, async () => {
      while (i < names.length) {
        const name = names[i++];
        out.push(await fuzzTarget(name, opts));
      }
    }),
  );
  return names.map((n) => out.find((r) => r.target === n)!);
}

if (import.meta.main) {
  // deno run -A scripts/reliability/fuzz.ts TARGET SEED COUNT: one target, its figures as JSON.
  const [target, seed, count] = Deno.args;
  console.log(
    JSON.stringify(await fuzzTarget(target, { seed: Number(seed), count: Number(count) }), null, 2),
  );
}
