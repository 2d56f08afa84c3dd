/**
 * `saker replay` against `sysdig -r` (0.29) on libs' sample.scap repeated many times (its event
 * blocks written again and again after one copy of its header, process, fd and user lists),
 * with one filter, each as the user runs it: a process of its own, start-up included, run under
 * /usr/bin/time (wall, CPU, peak RSS). Both print one line per matching event, so the match
 * counts are compared line for line.
 *
 * Saker runs in the form it ships in: the bundle (`deno task bundle`, made here into the
 * benchmark's directory), started as the image and the tarball's `saker.js` start it
 * (`deno run -A --no-config saker.js`); the source tree (`deno run -A src/main.ts`) is timed
 * beside it (`saker_source_*`). The bundle runs once before the timed runs, as sysdig does:
 * its first run writes Deno's code cache, and the file gets into the page cache.
 *
 * /usr/bin/time's wall clock (`%e`) counts in steps of 10 ms, coarse against runs of ~0.1 s, so
 * each run is also timed here by `performance.now()` from the spawn of /usr/bin/time to the
 * end of its output (`*_wall_ms`, `speed_ratio_ms`). Both tools are timed the same way, so the
 * ~1 ms of /usr/bin/time's own start is in both. `speed_ratio` stays the ratio of `%e`.
 *
 * @example
 * ```ts
 * const r = await replayVersusSysdig(await Deno.makeTempDir());
 * r.speed_ratio; // sysdig's time / Saker's time
 * ```
 * @module
 */
import { EVENT_BLOCKS } from "../../src/capture/format.ts";
import { bundle } from "../bundle.ts";
import { REFERENCE_DIR } from "./_outside.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const REPEAT = Number(Deno.env.get("SAKER_BENCH_REPLAY_REPEAT") ?? 2500);
const RUNS = Number(Deno.env.get("SAKER_BENCH_REPLAY_RUNS") ?? 3);

/** The filter of the comparison, valid in both filter languages. */
export const SAMPLE_FILTER =
  'evt.type in (write, read, ioctl, futex, nanosleep) and (proc.name contains "sys" or ' +
  'fd.name contains "/dev" or thread.tid > 3000)';

/** Writes `sample.scap` with its event blocks repeated `times` times; returns the event count. */
export async function repeatCapture(src: string, dst: string, times: number): Promise<number> {
  const bytes = await Deno.readFile(src);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  let firstEvent = -1;
  let events = 0;
  while (off < bytes.length) {
    const type = view.getUint32(off, true);
    const len = view.getUint32(off + 4, true);
    if (EVENT_BLOCKS.has(type)) {
      if (firstEvent < 0) firstEvent = off;
      events++;
    } else if (firstEvent >= 0) {
      throw new Error(`${src}: a block of type ${type} after the first event block`);
    }
    off += len;
  }
  const head = bytes.subarray(0, firstEvent);
  const body = bytes.subarray(firstEvent);
  const f = await Deno.open(dst, { write: true, create: true, truncate: true });
  try {
    await f.write(head);
    for (let i = 0; i < times; i++) {
      let w = 0;
      while (w < body.length) w += await f.write(body.subarray(w));
    }
  } finally {
    f.close();
  }
  return events * times;
}

interface Timed {
  wall_s: number;
  /** Wall time measured here (spawn to exit), in ms, 0.1 ms resolution. */
  wall_ms: number;
  cpu_s: number;
  max_rss_mb: number;
  lines: number;
}

async function timed(cmd: string[]): Promise<Timed> {
  const start = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %U %S %M", ...cmd],
    stdout: "piped",
    stderr: "piped",
    cwd: ROOT,
  }).output();
  const wallMs = performance.now() - start;
  const err = new TextDecoder().decode(out.stderr);
  const m = err.match(/TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/);
  if (!out.success || !m) throw new Error(`${cmd.join(" ")} failed: ${err.slice(-500)}`);
  let lines = 0;
  for (const b of out.stdout) if (b === 10) lines++;
  return {
    wall_s: Number(m[1]),
    wall_ms: Math.round(wallMs * 10) / 10,
    cpu_s: Math.round((Number(m[2]) + Number(m[3])) * 100) / 100,
    max_rss_mb: Math.round(Number(m[4]) / 1024),
    lines,
  };
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Runs the comparison (alternating, median of RUNS each) in `dir`. */
export async function replayVersusSysdig(dir: string): Promise<Record<string, unknown>> {
  const sample = `${REFERENCE_DIR}/libs-captures/sample.scap`;
  const file = `${dir}/sample_x${REPEAT}.scap`;
  const events = await repeatCapture(sample, file, REPEAT);
  const js = `${dir}/saker.js`;
  await bundle(js);
  const args = ["replay", file, "--no-rules", "-p", "%evt.num", SAMPLE_FILTER];
  const saker = [Deno.execPath(), "run", "-A", "--no-config", js, ...args];
  const source = [Deno.execPath(), "run", "-A", `${ROOT}/src/main.ts`, ...args];
  const sysdig = ["sysdig", "-r", file, "-p", "%evt.num", SAMPLE_FILTER];
  const s: Timed[] = [];
  const src: Timed[] = [];
  const d: Timed[] = [];
  try {
    await timed(saker);
    await timed(source);
    await timed(sysdig);
    for (let i = 0; i < RUNS; i++) {
      // Each tool first, second and last in turn.
      const order: [string[], Timed[]][] = [[saker, s], [sysdig, d], [source, src]];
      for (let k = 0; k < i % 3; k++) order.push(order.shift()!);
      for (const [cmd, out] of order) out.push(await timed(cmd));
    }
  } finally {
    await Deno.remove(file);
    await Deno.remove(js).catch(() => {});
  }
  const sw = med(s.map((t) => t.wall_s));
  const dw = med(d.map((t) => t.wall_s));
  const swMs = med(s.map((t) => t.wall_ms));
  const dwMs = med(d.map((t) => t.wall_ms));
  return {
    events,
    filter: SAMPLE_FILTER,
    saker_form: "bundle: deno run -A --no-config saker.js",
    saker_wall_s: sw,
    sysdig_wall_s: dw,
    speed_ratio: Math.round((dw / sw) * 100) / 100,
    saker_wall_ms: swMs,
    sysdig_wall_ms: dwMs,
    speed_ratio_ms: Math.round((dwMs / swMs) * 100) / 100,
    saker_wall_ms_runs: s.map((t) => t.wall_ms),
    saker_source_wall_ms: med(src.map((x) => x.wall_ms)),
    speed_ratio_source_ms: Math.round((dwMs / med(src.map((x) => x.wall_ms))) * 100) / 100,
    saker_source_wall_ms_runs: src.map((x) => x.wall_ms),
    sysdig_wall_ms_runs: d.map((t) => t.wall_ms),
    saker_cpu_s: med(s.map((t) => t.cpu_s)),
    sysdig_cpu_s: med(d.map((t) => t.cpu_s)),
    saker_matches: s[0].lines,
    sysdig_matches: d[0].lines,
    same_matches: [...s, ...src, ...d].every((x) => x.lines === d[0].lines),
    saker_max_rss_mb: Math.max(...s.map((t) => t.max_rss_mb)),
    sysdig_max_rss_mb: Math.max(...d.map((t) => t.max_rss_mb)),
  };
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir();
  console.log(JSON.stringify(await replayVersusSysdig(dir), null, 2));
  await Deno.remove(dir, { recursive: true });
}
