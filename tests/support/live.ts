/**
 * Live-kernel test support: a collector that runs the real probe, keeps the decoded events of
 * the processes a test starts, and waits for the ones it expects.
 *
 * @example
 * ```ts
 * const live = await LiveCollector.start();
 * const pid = await live.run(["cat", "/etc/hostname"]);
 * const evs = await live.waitFor(pid, (e) => e.name === "openat" && e.arg("name") === "/etc/hostname");
 * await live.stop();
 * ```
 * @module
 */
import { type LiveSource, openLiveSource } from "../../src/sources/live.ts";
import { HANDLED_SYSCALLS } from "../../src/events/syscalls.ts";
import type { Event } from "../../src/events/event.ts";

/** Collects live events in the background. */
export class LiveCollector {
  readonly source: LiveSource;
  #events: Event[] = [];
  #done: Promise<void>;
  #waiters = new Set<() => void>();

  private constructor(source: LiveSource) {
    this.source = source;
    this.#done = (async () => {
      for await (const batch of source.readable) {
        for (const ev of batch) this.#events.push(ev);
        if (this.#events.length > 2_000_000) this.#events.splice(0, 1_000_000);
        for (const w of this.#waiters) w();
      }
    })();
  }

  /** Loads the probe with every syscall Saker decodes (or `syscalls`). */
  static async start(
    syscalls: ReadonlySet<string> | "all" = new Set([...HANDLED_SYSCALLS, "truncate", "ftruncate"]),
  ) {
    const src = await openLiveSource({ syscalls, ringBytes: 32 << 20, pollMs: 2 });
    return new LiveCollector(src);
  }

  /** Every event collected so far. */
  get events(): readonly Event[] {
    return this.#events;
  }

  /** Forgets the events collected so far. */
  clear(): void {
    this.#events = [];
  }

  /**
   * Runs a command to completion (stdout/stderr captured) and returns its pid. `stdin` text is
   * written to it when given.
   */
  async run(
    cmd: string[],
    opts: { stdin?: string; cwd?: string; env?: Record<string, string> } = {},
  ) {
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: opts.stdin !== undefined ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      cwd: opts.cwd,
      env: opts.env,
    }).spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    const err = new TextDecoder().decode(out.stderr);
    return { pid: child.pid, code: out.code, stdout: text, stderr: err };
  }

  /** Events whose process (pid) or parent (ppid) is `pid`. */
  of(pid: number): Event[] {
    return this.#events.filter((e) => e.pid === pid || e.ppid === pid || e.tid === pid);
  }

  /**
   * Waits (up to `timeoutMs`) until `pred` holds for an event of `pid` (or its children);
   * returns the matching events. Throws with what was seen if none came.
   */
  async waitFor(pid: number, pred: (e: Event) => boolean, timeoutMs = 10_000): Promise<Event[]> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.of(pid).filter(pred);
      if (found.length > 0) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.of(pid).map((e) => e.name);
        throw new Error(`no matching event for pid ${pid}; saw ${seen.length}: ${seen.join(",")}`);
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(done);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 100));
        this.#waiters.add(done);
      });
    }
  }

  /** Detaches the probe and ends collection. */
  async stop(): Promise<void> {
    await this.source.close();
    await this.#done;
  }
}

/** This process's BPF fds with their kernel objects ("12 anon_inode:bpf-prog" ...), sorted. */
export function bpfFds(): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
      if (/bpf/.test(target)) out.push(`${e.name} ${target}`);
    } catch { /* closed meanwhile */ }
  }
  return out.sort();
}

function findPython(): string {
  // The real interpreter, not a version-manager shim that would exec a chain of scripts.
  for (const p of ["/usr/bin/python3", "/usr/local/bin/python3"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* absent */ }
  }
  const out = new Deno.Command("python3", {
    args: ["-c", "import sys; print(sys.executable)"],
    stdout: "piped",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).trim() || "python3";
}

/**
 * Path of the python3 interpreter the tests drive syscalls with: every test starts this one,
 * never `python3` from PATH, which on a developer's machine may be a version manager's shim
 * (more processes, other opens) and on a fresh machine the system's interpreter.
 */
export const PYTHON: string = findPython();

/** Runs a python3 script (its stdlib and ctypes reach every syscall). */
export function python(script: string): string[] {
  return [PYTHON, "-c", script];
}
