/**
 * Fuzzing every parser that takes outside input (targets.ts), with a seed: each target's inputs
 * run in a worker process that says which input it is on, so that an input running longer than
 * the hang limit (5 s of CPU time, so that a busy machine does not make hangs; or 5 min in all)
 * is found, the worker is killed and the run goes on with the next input;
 * an uncaught exception, or a worker that dies (out of memory), counts as a crash. A sample
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
import { parseWorkerLine, streamOf, type WorkerLine } from "./fuzz_worker.ts";

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

/** CPU time (user + system) a process used so far, ms; 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** Heap limit of a worker process, MB: a runaway input is a crash, not a swapping machine. */
const WORKER_HEAP_MB = 1024;

/**
 * Runs inputs [from, to) in a worker process; resolves when done, or at a hang (the worker is
 * killed) or its death (a crash of the input it was on).
 */
async function runWorker(
  target: string,
  seed: number,
  from: number,
  to: number,
  hangMs: number,
  findings: Finding[],
): Promise<{ next: number; slowestMs: number; slowestIndex: number; ms: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-check",
      `--v8-flags=--max-old-space-size=${WORKER_HEAP_MB}`,
      new URL("./fuzz_worker.ts", import.meta.url).pathname,
      target,
      String(seed),
      String(from),
      String(to),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let current = from, lastSeen = Date.now(), cpuAtLast = cpuMs(child.pid), hung = false;
  let done: WorkerLine | undefined;
  // A hang is an input that used `hangMs` of CPU (so that a busy machine does not make one), or
  // that made no progress for sixty times as long in all (blocked).
  const watch = setInterval(() => {
    const wall = Date.now() - lastSeen;
    if (wall < hangMs) return;
    if (cpuMs(child.pid) - cpuAtLast < hangMs && wall < 60 * hangMs) return;
    hung = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 250);
  let rest = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stdout) {
    lastSeen = Date.now();
    cpuAtLast = cpuMs(child.pid);
    rest += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const m = parseWorkerLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
      if (m?.kind === "at") current = m.index;
      else if (m?.kind === "crash") {
        findings.push({ kind: "crash", index: m.index, error: m.error });
      } else if (m?.kind === "done") done = m;
    }
  }
  const status = await child.status;
  clearInterval(watch);
  if (done?.kind === "done") {
    return { next: to, slowestMs: done.slowestMs, slowestIndex: done.slowestIndex, ms: done.ms };
  }
  findings.push(
    hung ? { kind: "hang", index: current, error: `no progress for ${hangMs} ms` } : {
      kind: "crash",
      index: current,
      error: `worker died (exit ${status.code}, ${status.signal ?? "no signal"})`,
    },
  );
  return { next: current + 1, slowestMs: hung ? hangMs : 0, slowestIndex: current, ms: 0 };
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
