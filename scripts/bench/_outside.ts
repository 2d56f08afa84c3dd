/**
 * Measuring Saker from outside, as a user sees it: the agent runs as its own `saker run`
 * process; workloads are C programs compiled at run time; CPU and memory come from /proc,
 * counters from the agent's /metrics, and alert latency from the time a system call was made to
 * the time its alert line arrives on the agent's stdout (both read on CLOCK_MONOTONIC, through
 * libc, in the workload and in this process).
 *
 * Shared by the workload benchmark (the cost table: slowdowns, CPU per event, latency, RSS) and
 * the agent benchmark (latency idle and under load).
 *
 * @example
 * ```ts
 * const tools = await buildTools();
 * const agent = await startAgentProcess({ rules: [FALCO_RULES] });
 * const lat = await alertLatency(agent, tools, { samples: 50 });
 * await agent.stop();
 * ```
 * @module
 */
import { libc } from "../../src/kernel/libc.ts";
import { AGENT_V8_FLAGS } from "../../src/agent/heap.ts";
import { referenceDir } from "../reference.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const REFERENCE = referenceDir() ?? "<reference material absent: set SAKER_REFERENCE>";

/** Falco's stable rules from the reference material (undefined when it is absent). */
export const FALCO_RULES: string | undefined = (() => {
  const p = `${REFERENCE}/falco-rules/falco_rules.yaml`;
  try {
    Deno.statSync(p);
    return p;
  } catch {
    return undefined;
  }
})();

/** The reference directory (libs' captures live below it). */
export const REFERENCE_DIR = REFERENCE;

/**
 * C helpers the benchmarks' workload programs share (after <time.h>): `now()`, the monotonic
 * clock in seconds, and `pace()`, which sleeps while `n` calls since `start` are ahead of
 * `rate` calls per second (rate 0: as fast as it goes), so a workload keeps a steady rate.
 */
export const C_CLOCK =
  `static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static inline void pace(double n, double rate, double start, double t) {
  if (rate <= 0) return;
  double ahead = n / rate - (t - start);
  if (ahead > 0) { struct timespec s = { (time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9) }; nanosleep(&s, 0); }
}`;

/** Compiles C `source` with gcc -O2 into DIR/NAME (the source beside it); returns its path. */
export async function compileC(dir: string, name: string, source: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/${name}.c`, source);
  const r = await new Deno.Command("gcc", {
    args: ["-O2", "-o", `${dir}/${name}`, `${dir}/${name}.c`],
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  return `${dir}/${name}`;
}

const TOOLS_C = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
${C_CLOCK}
static long long mono_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
/* tools storm SECONDS RATE PATH: open+close of PATH (RATE syscalls/s, 0 = as fast as possible);
     prints the syscalls made per second.
   tools trigger COUNT MIN_MS MAX_MS PATH: COUNT times, after a random pause, opens PATH for
     reading and closes it; prints the CLOCK_MONOTONIC time (ns) taken right before each open. */
int main(int argc, char **argv) {
  if (strcmp(argv[1], "storm") == 0) {
    double secs = atof(argv[2]), rate = atof(argv[3]);
    const char *path = argv[4];
    double start = now(), end = start + secs;
    unsigned long n = 0;
    while (1) {
      for (int i = 0; i < 64; i++) { int fd = open(path, O_RDONLY); close(fd); n += 2; }
      double t = now();
      if (t >= end) break;
      pace(n, rate, start, t);
    }
    printf("%.0f\\n", n / (now() - start));
    return 0;
  }
  prctl(PR_SET_NAME, "saker-lat", 0, 0, 0);
  int count = atoi(argv[2]);
  double lo = atof(argv[3]), hi = atof(argv[4]);
  const char *path = argv[5];
  srand(getpid());
  for (int i = 0; i < count; i++) {
    double ms = lo + (hi - lo) * (rand() / (double)RAND_MAX);
    struct timespec s = { (long)(ms / 1000), (long)((ms - 1000 * (long)(ms / 1000)) * 1e6) };
    nanosleep(&s, 0);
    long long t = mono_ns();
    int fd = open(path, O_RDONLY);
    if (fd >= 0) close(fd);
    printf("%lld\\n", t);
    fflush(stdout);
  }
  return 0;
}
`;

/** Compiled workload programs and a scratch directory. */
export interface Tools {
  dir: string;
  bin: string;
  /** A file no rule cares about (open+close storms use it). */
  quietFile: string;
  remove(): Promise<void>;
}

/** Compiles the workload program into a fresh temp directory. */
export async function buildTools(): Promise<Tools> {
  const dir = await Deno.makeTempDir({ prefix: "saker-bench-outside-" });
  // Named as the trigger calls itself: proc.name is the name a program was executed under (as
  // libsinsp keeps it; a later prctl(PR_SET_NAME) does not change it), so alerts name it.
  await compileC(dir, "saker-lat", TOOLS_C);
  const quietFile = `${dir}/quiet.txt`;
  await Deno.writeTextFile(quietFile, "x\n");
  return {
    dir,
    bin: `${dir}/saker-lat`,
    quietFile,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Runs an open+close storm of one file; returns syscalls per second. */
export async function storm(tools: Tools, seconds: number, rate = 0): Promise<number> {
  const out = await new Deno.Command(tools.bin, {
    args: ["storm", String(seconds), String(rate), tools.quietFile],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** Starts an open+close storm in the background; `stop` ends it early. */
export function startStorm(tools: Tools, seconds: number, rate = 0) {
  const child = new Deno.Command(tools.bin, {
    args: ["storm", String(seconds), String(rate), tools.quietFile],
    stdout: "null",
  }).spawn();
  return {
    pid: child.pid,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

/** CLOCK_MONOTONIC in ns, the clock the trigger program stamps its opens with. */
export function monoNs(): number {
  const buf = new BigInt64Array(2);
  libc().clock_gettime(1, new Uint8Array(buf.buffer));
  return Number(buf[0]) * 1e9 + Number(buf[1]);
}

/** A running `saker run` process. */
export interface AgentProcess {
  pid: number;
  port: number;
  /** Calls `fn` for every stdout line, stamped with CLOCK_MONOTONIC at arrival. */
  onLine(fn: ((line: string, ns: number) => void) | undefined): void;
  /** One counter or gauge from /metrics (summed over labels). */
  metric(name: string): Promise<number>;
  /** user + system CPU time of the agent process so far, in ns (every thread, ended ones too). */
  cpuNs(): number;
  /** Run time so far of each live thread, in ns, by thread id (with the thread's name). */
  threadNs(): Map<string, { name: string; ns: number }>;
  /** Resident set size now and at its peak, in bytes. */
  rss(): { now: number; peak: number };
  stop(): Promise<void>;
}

const TICK_NS = 1e9 / 100; // USER_HZ

/** Options of {@link startAgentProcess}. */
export interface AgentOptions {
  /** Rules files (default: Saker's rules/). */
  rules?: string[];
  /** Extra `-o key=value` overrides. */
  overrides?: string[];
  /** V8 flags (default: the ones the agent's launchers pass, AGENT_V8_FLAGS). */
  v8Flags?: readonly string[];
  /** Extra environment (e.g. SAKER_PROBE: another probe object). */
  env?: Record<string, string>;
}

let nextPort = 18700 + (Deno.pid % 200);

/**
 * Starts `saker run` with the repository's config.yaml, alerts as JSON on stdout, the alert
 * store and aggregation off and the web server on a loopback port of its own; resolves once
 * /healthz answers.
 */
export async function startAgentProcess(opts: AgentOptions = {}): Promise<AgentProcess> {
  const port = nextPort++;
  const args = ["run", "-A"];
  const v8Flags = opts.v8Flags ?? AGENT_V8_FLAGS;
  if (v8Flags.length) args.push(`--v8-flags=${v8Flags.join(",")}`);
  args.push(`${ROOT}/src/main.ts`, "run", "-c", `${ROOT}/config.yaml`);
  for (const r of opts.rules ?? [`${ROOT}/rules`]) args.push("-r", r);
  const overrides = [
    "json_output=true",
    "alert_store.enabled=false",
    "watch_config_files=false",
    "webserver.listen_address=127.0.0.1",
    `webserver.listen_port=${port}`,
    "log_level=warning",
    // Every alert counts (latency pairs each trigger with its alert): aggregation would send
    // the first of a kind and count the repeats.
    "aggregation.enabled=false",
    ...(opts.overrides ?? []),
  ];
  for (const o of overrides) args.push("-o", o);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let sink: ((line: string, ns: number) => void) | undefined;
  const stderr: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>, each: (l: string, ns: number) => void) => {
    const dec = new TextDecoder();
    let rest = "";
    for await (const chunk of s) {
      const ns = monoNs();
      rest += dec.decode(chunk, { stream: true });
      let i;
      while ((i = rest.indexOf("\n")) >= 0) {
        each(rest.slice(0, i), ns);
        rest = rest.slice(i + 1);
      }
    }
  };
  const out = pump(child.stdout, (l, ns) => sink?.(l, ns));
  const err = pump(child.stderr, (l) => {
    if (stderr.length < 200) stderr.push(l);
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const exited = await Promise.race([child.status, new Promise((r) => setTimeout(r, 200))]);
    if (exited) {
      await Promise.allSettled([out, err]);
      throw new Error(`saker run exited: ${stderr.slice(-10).join("\n")}`);
    }
    try {
      const r = await fetch(`${base}/healthz`);
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`saker run did not start: ${stderr.slice(-10).join("\n")}`);
    }
  }
  const acct = cpuAccount(child.pid);
  // Threads that ended took their schedstat with them; /proc/PID/stat keeps their time (in
  // ticks) in the process totals, so the difference with the live threads' ticks is added.
  const exitedNs = () => {
    const stat = Deno.readTextFileSync(`/proc/${child.pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    let live = 0;
    for (const t of Deno.readDirSync(`/proc/${child.pid}/task`)) {
      try {
        const s = Deno.readTextFileSync(`/proc/${child.pid}/task/${t.name}/stat`);
        const g = s.slice(s.lastIndexOf(")") + 2).split(" ");
        live += Number(g[11]) + Number(g[12]);
      } catch { /* thread gone */ }
    }
    return Math.max(0, Number(f[11]) + Number(f[12]) - live) * TICK_NS;
  };
  const status = (key: string) => {
    const m = Deno.readTextFileSync(`/proc/${child.pid}/status`).match(
      new RegExp(`^${key}:\\s+(\\d+) kB`, "m"),
    );
    return m ? Number(m[1]) * 1024 : 0;
  };
  return {
    pid: child.pid,
    port,
    onLine(fn) {
      sink = fn;
    },
    async metric(name) {
      const text = await (await fetch(`${base}/metrics`)).text();
      let sum = 0;
      for (const line of text.split("\n")) {
        if (line.startsWith(name) && (line[name.length] === " " || line[name.length] === "{")) {
          sum += Number(line.slice(line.lastIndexOf(" ") + 1));
        }
      }
      return sum;
    },
    cpuNs() {
      const counted = acct?.ns();
      if (counted !== undefined) return counted;
      // Every thread's run time in ns (schedstat), not the 10 ms ticks of /proc/PID/stat.
      let ns = 0;
      for (const t of Deno.readDirSync(`/proc/${child.pid}/task`)) {
        try {
          ns += Number(
            Deno.readTextFileSync(`/proc/${child.pid}/task/${t.name}/schedstat`)
              .split(" ")[0],
          );
        } catch { /* thread gone */ }
      }
      return ns + exitedNs();
    },
    threadNs() {
      const out = new Map<string, { name: string; ns: number }>();
      for (const t of Deno.readDirSync(`/proc/${child.pid}/task`)) {
        try {
          const dir = `/proc/${child.pid}/task/${t.name}`;
          const ns = Number(Deno.readTextFileSync(`${dir}/schedstat`).split(" ")[0]);
          out.set(t.name, { name: Deno.readTextFileSync(`${dir}/comm`).trim(), ns });
        } catch { /* thread gone */ }
      }
      return out;
    },
    rss: () => ({ now: status("VmRSS"), peak: status("VmHWM") }),
    async stop() {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(t);
      acct?.remove();
      await Promise.allSettled([out, err]);
    },
  };
}

/**
 * Where cgroup v1's CPU accounting controller is mounted on its own, or undefined. Mounted
 * together with the `cpu` controller (`cpu,cpuacct`, as many distributions do), a group of its
 * own would also be a scheduling group of its own and change how the agent shares the CPUs with
 * the workload it is measured against: not used then.
 */
const CPUACCT = (() => {
  try {
    for (const line of Deno.readTextFileSync("/proc/mounts").split("\n")) {
      const [, dir, type, options] = line.split(" ");
      if (type !== "cgroup") continue;
      const controllers = options.split(",");
      if (controllers.includes("cpuacct")) {
        return controllers.includes("cpu") ? undefined : dir;
      }
    }
  } catch { /* no /proc/mounts */ }
  return undefined;
})();

/**
 * A CPU accounting group of its own for process `pid` (cgroup v1's cpuacct, see {@link CPUACCT}), whose
 * `cpuacct.usage` is the CPU time in ns of every thread the process runs in it, those that have
 * ended included, so that a figure over a window is exact. Undefined where the controller is not
 * mounted or the group cannot be made (then `cpuNs` adds the ended threads' time from the
 * process's ticks, which can be off by a tick either way).
 */
function cpuAccount(pid: number): { ns(): number | undefined; remove(): void } | undefined {
  if (CPUACCT === undefined) return undefined;
  const dir = `${CPUACCT}/saker-bench-${pid}`;
  try {
    Deno.mkdirSync(dir);
    Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(pid));
  } catch {
    try {
      Deno.removeSync(dir);
    } catch { /* never made */ }
    return undefined;
  }
  return {
    ns() {
      try {
        return Number(Deno.readTextFileSync(`${dir}/cpuacct.usage`).trim());
      } catch {
        return undefined;
      }
    },
    remove() {
      try {
        Deno.removeSync(dir); // empty once the process has exited
      } catch { /* still in use: left for the system */ }
    },
  };
}

/** The agent's cost while idle (see {@link measureIdle}). */
export interface IdleCost {
  /** user + system CPU of the agent, in percent of one core. */
  cpu_percent_of_core: number;
  /** Events it received per second meanwhile (other processes on the machine). */
  events_per_s: number;
  /** CPU by thread kind, in ms per second: main (the JS thread), V8's workers, the rest (tokio's
   * workers and blocking pool: FFI calls such as the ring's wait, file I/O). */
  ms_per_s_by_thread: { main: number; v8_workers: number; other: number };
}

/** Length of the idle window: long enough that a wake-up every few seconds shows. */
export const IDLE_WINDOW_MS = 10_000;

/**
 * The agent's CPU over `ms` with no load of the benchmark's own, split by thread; the events it
 * received meanwhile tell how idle the machine was.
 */
export async function measureIdle(agent: AgentProcess, ms = IDLE_WINDOW_MS): Promise<IdleCost> {
  const received = () => agent.metric("saker_events_received_total");
  const e0 = await received();
  const c0 = agent.cpuNs();
  const t0 = agent.threadNs();
  const start = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c1 = agent.cpuNs();
  const t1 = agent.threadNs();
  const secs = (performance.now() - start) / 1000;
  const events = (await received()) - e0;
  const split = { main: 0, v8_workers: 0, other: 0 };
  for (const [tid, t] of t1) {
    const d = t.ns - (t0.get(tid)?.ns ?? 0);
    const kind = tid === String(agent.pid)
      ? "main"
      : t.name.startsWith("V8 ")
      ? "v8_workers"
      : "other";
    split[kind] += d;
  }
  const r = (v: number, k = 100) => Math.round(v * k) / k;
  return {
    cpu_percent_of_core: r((c1 - c0) / 1e7 / secs),
    events_per_s: Math.round(events / secs),
    ms_per_s_by_thread: {
      main: r(split.main / 1e6 / secs),
      v8_workers: r(split.v8_workers / 1e6 / secs),
      other: r(split.other / 1e6 / secs),
    },
  };
}

/** Latency figures in milliseconds. */
export interface Latency {
  samples: number;
  missed: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Percentile (nearest rank) of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Summarises latency samples in ns. */
export function latencySummary(ns: number[], missed: number): Latency {
  const ms = ns.map((v) => v / 1e6).sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 100) / 100;
  return {
    samples: ms.length,
    missed,
    p50_ms: r(percentile(ms, 50)),
    p99_ms: r(percentile(ms, 99)),
    max_ms: r(ms[ms.length - 1] ?? NaN),
  };
}

/** Options of {@link alertLatency}. */
export interface LatencyOptions {
  samples: number;
  /** Pause between triggers, random in [min, max] ms (samples every phase of the poll cycle). */
  minGapMs?: number;
  maxGapMs?: number;
  /** A file whose read raises an alert with the loaded rules. */
  watchedFile?: string;
  /** Rule the alert must come from (any rule when absent). */
  rule?: string;
}

/**
 * System call → alert line latency: a trigger process opens a watched file (after a random
 * pause, `samples` times); each alert line on the agent's stdout naming the trigger is paired
 * with the open it reports, in order. Returns the raw samples in ns and how many opens got no
 * alert within 2 s after the last one.
 */
export async function alertLatency(
  agent: AgentProcess,
  tools: Tools,
  opts: LatencyOptions,
): Promise<{ ns: number[]; missed: number }> {
  const arrivals: number[] = [];
  agent.onLine((line, ns) => {
    if (!line.startsWith("{")) return;
    try {
      const a = JSON.parse(line);
      if (a.output_fields?.["proc.name"] !== "saker-lat") return;
      if (opts.rule && a.rule !== opts.rule) return;
      arrivals.push(ns);
    } catch { /* not an alert */ }
  });
  const out = await new Deno.Command(tools.bin, {
    args: [
      "trigger",
      String(opts.samples),
      String(opts.minGapMs ?? 20),
      String(opts.maxGapMs ?? 80),
      opts.watchedFile ?? "/etc/shadow",
    ],
    stdout: "piped",
  }).output();
  const sent = new TextDecoder().decode(out.stdout).trim().split("\n").map(Number);
  const until = Date.now() + 2000;
  while (arrivals.length < sent.length && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  agent.onLine(undefined);
  const ns: number[] = [];
  for (let i = 0; i < Math.min(sent.length, arrivals.length); i++) ns.push(arrivals[i] - sent[i]);
  return { ns, missed: sent.length - ns.length };
}

/** The median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Where a process's resident memory is, in MB, from /proc/PID/smaps: anonymous memory (the V8
 * heap, malloc arenas, drain chunks), BPF maps mapped in (the ring buffer), the deno binary and
 * other files.
 */
export function rssBreakdown(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = "other";
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1];
      if (name === "" || name === "[heap]") kind = "anonymous";
      else if (name.startsWith("anon_inode:bpf")) kind = "bpf_maps";
      else if (name.endsWith("/deno")) kind = "deno_binary";
      else if (name.startsWith("[")) kind = "kernel_mappings";
      else kind = "files_and_libraries";
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) out[kind] = (out[kind] ?? 0) + Number(m[1]) / 1024;
  }
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] * 10) / 10;
  return out;
}
