/**
 * Releasing what start-up leaves behind. Building the rules (YAML, syntax trees, compiled
 * conditions) and seeding the state from /proc leave garbage that V8 collects only when its
 * heuristics say so, which an agent that then sits idle may never do: its heap stays at twice
 * what is live, and those pages count in its resident memory. A full collection right after
 * start-up and after each reload returns them: measured on `saker run` with Falco's stable rules,
 * heap 35 -> 16 MB and resident memory 106 -> 85 MB, for one pause of a few ms while events wait
 * in the ring.
 *
 * V8 offers the collection only with `--expose-gc`; the flag is set at run time (node:v8) and a
 * fresh context (node:vm) carries the `gc` function, so no launcher needs a V8 flag.
 *
 * Two more kinds of memory stay resident after start-up without being used: malloc's heap, where
 * glibc keeps what start-up freed (V8's compiler zones, libbpf's parsed kernel BTF, module
 * loading) as holes it reuses but never returns, and the pages of the executable that only
 * start-up ran (the module loader, the YAML parser's and the rules compiler's first runs, libbpf
 * loading). After the collection, {@link releaseMemory} hands both back (malloc_trim,
 * MADV_PAGEOUT): with Falco's stable rules, resident memory idle went from ~112 to ~96 MB (7-9 MB
 * of malloc heap, 6-12 MB of the executable's pages). The call takes a few ms; the executable's
 * pages the agent still runs are read in again on their next use, once.
 *
 * MADV_PAGEOUT leaves alone every page another process maps too: with other Deno processes on
 * the machine (a benchmark's runner, tests, a second Deno program) most of the executable's
 * pages stayed in the agent's resident set, 35-44 MB of them, and its idle figure moved with
 * what else ran (93-112 MB). The clean pages left after it are then unmapped from the agent alone
 * (MADV_DONTNEED: they stay in the page cache for the others, so a page the agent runs again
 * costs a minor fault, no read): the executable's resident pages went 37-44 -> 23-25 MB (the
 * agent's working set) and resident memory idle 101-112 -> 85 MB, in alternating runs beside
 * other Deno processes.
 *
 * @example
 * ```ts
 * import { collectGarbageSoon } from "./heap.ts";
 * collectGarbageSoon(); // after the rules are built and the state is seeded
 * ```
 * @module
 */
import { log } from "../log.ts";
import { libc } from "../kernel/libc.ts";

/**
 * V8 flags the agent's launchers pass: deno.json's `run` task on the command line, the systemd
 * unit and the DaemonSet as DENO_V8_FLAGS, the compiled program built in (`deno compile
 * --v8-flags`: a compiled program does not read DENO_V8_FLAGS), and the benchmarks. They bound V8's young generation
 * to two 4 MiB semi-spaces. By default V8 sizes it from the machine's memory (two 32 MiB halves
 * with 24 GB) and grows it whenever events arrive fast: under a full-speed open storm the V8 heap
 * reached ~95 MB, most of the agent's peak. The bound cannot be set at run time (V8 sizes its
 * heap when it starts), so it belongs to the launcher; the commands other than `saker run` keep
 * V8's default when started from the source tree or the bundle, and have the bound too in the
 * compiled program (replay of libs' sample capture repeated 2500 times took the same time with
 * and without it).
 */
export const AGENT_V8_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

let gc: (() => void) | null | undefined;

/** The `gc` function of V8's --expose-gc (null when it cannot be had). */
async function gcFunction(): Promise<(() => void) | null> {
  if (gc !== undefined) return gc;
  try {
    const v8 = await import("node:v8");
    const vm = await import("node:vm");
    v8.setFlagsFromString("--expose-gc");
    const fn = vm.runInNewContext("gc");
    gc = typeof fn === "function" ? fn as () => void : null;
  } catch (err) {
    log.debug("full garbage collection not available", { error: err });
    gc = null;
  }
  return gc;
}

/** Runs a full garbage collection now; false when V8 does not offer one. */
export async function collectGarbage(): Promise<boolean> {
  const fn = await gcFunction();
  if (!fn) return false;
  fn();
  return true;
}

/** What {@link releaseMemory} handed back, in bytes of resident memory (negative: it grew). */
export interface Released {
  /** malloc_trim: freed malloc memory glibc kept. */
  malloc: number;
  /** The executable's read-only pages: paged out (this process alone maps them) or unmapped. */
  code: number;
}

const MADV_DONTNEED = 4;
const MADV_PAGEOUT = 21;

/** Resident anonymous and file-backed memory of this process, in bytes. */
function residentBytes(): { anon: number; file: number } {
  const s = Deno.readTextFileSync("/proc/self/status");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") };
}

/**
 * Read-only mappings of the running executable that hold only the file's pages (none copied on
 * write, e.g. by relocation), as [start, length] pairs: dropping such a page from the mapping
 * loses nothing, the next access maps it again from the page cache.
 */
function executableMappings(): [bigint, bigint][] {
  const exe = Deno.readLinkSync("/proc/self/exe");
  const out: [bigint, bigint][] = [];
  let current: [bigint, bigint] | undefined;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s+(.*)$/.exec(line);
    if (m) {
      current = undefined;
      if (m[4] !== exe || m[3][1] === "w") continue;
      const start = BigInt(`0x${m[1]}`);
      current = [start, BigInt(`0x${m[2]}`) - start];
      continue;
    }
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anon && current) {
      if (anon[1] === "0") out.push(current);
      current = undefined;
    }
  }
  return out;
}

/**
 * Hands memory the agent holds but no longer uses back to the system: malloc's free pages
 * (malloc_trim; glibc keeps what start-up freed) and the executable's pages only start-up read
 * (MADV_PAGEOUT: the kernel drops those no other process maps; then MADV_DONTNEED unmaps those
 * left, which others map, from this process; the few the agent still runs are mapped again on
 * their next use). Both are no-ops where the call is missing (another libc, a kernel before 5.4,
 * no FFI permission).
 */
export function releaseMemory(): Released {
  const before = residentBytes();
  try {
    libc().malloc_trim(0n);
  } catch (err) {
    log.debug("malloc_trim not available", { error: err });
  }
  const trimmed = residentBytes();
  try {
    // Read first: MADV_PAGEOUT leaves the mappings as they are, the check still holds after it.
    const clean = executableMappings();
    for (const [start, len] of clean) {
      libc().madvise(Deno.UnsafePointer.create(start), len, MADV_PAGEOUT);
    }
    for (const [start, len] of clean) {
      libc().madvise(Deno.UnsafePointer.create(start), len, MADV_DONTNEED);
    }
  } catch (err) {
    log.debug("releasing the executable's pages not possible", { error: err });
  }
  const after = residentBytes();
  return { malloc: before.anon - trimmed.anon, code: trimmed.file - after.file };
}

/**
 * Runs a full garbage collection `delayMs` from now (default 1 s: the first batches have run and
 * what start-up awaited has settled), without keeping the process alive for it.
 */
export function collectGarbageSoon(delayMs = 1000): void {
  const t = setTimeout(async () => {
    await collectGarbage();
    const t0 = performance.now();
    const released = releaseMemory();
    log.debug("memory released after a full collection", {
      malloc_bytes: released.malloc,
      code_bytes: released.code,
      ms: Math.round(performance.now() - t0),
    });
  }, delayMs);
  Deno.unrefTimer(t);
}
