/**
 * The response engine's decisions, without I/O: the mode an action runs in, whether its target is
 * protected or allowlisted, and the rate limits. Kept apart from the engine (response.ts), which
 * reads /proc, sends signals and calls the container runtime, so that every rule of safety is
 * tested on plain values.
 *
 * - Mode: the config's `response.mode` is a ceiling: `monitor` there means monitor for every
 *   rule, whatever the rule says, so turning enforcement off is one key. Under `enforce`, a rule's
 *   own `mode:` applies, then the config's `response.rules` entries that match it (the operator
 *   has the last word).
 * - Protections: pid 1 (and 0), kernel threads, the agent itself and its parent are never acted
 *   on, nor a container the agent runs in; the allowlist adds executables, users and images.
 * - Rate limits: at most `per_rule` actions per rule and `per_target` per process or container
 *   within `period`, counted in monitor mode too (monitor tells what enforce would do).
 *
 * @example
 * ```ts
 * import { modeFor, protection } from "./response_policy.ts";
 * modeFor({ name: "r", source: "syscall", tags: [] }, "enforce", { mode: "monitor", rules: [] });
 * // "monitor"
 * protection({ pid: 1, kernelThread: false }, { pid: 4000, ppid: 3999 }); // "pid 1"
 * ```
 * @module
 */
import type { ResponseMode } from "../rules/actions.ts";
import { groupMatches } from "../rules/aggregation.ts";
import { compileGlob } from "../rules/ops.ts";
import type { ResponseConfig } from "../config/spec.ts";

/** The rule facts a mode entry matches. */
export interface RuleFacts {
  name: string;
  source: string;
  tags: readonly string[];
}

/** The mode an action of `rule` runs in (see the module's description). */
export function modeFor(
  rule: RuleFacts,
  own: ResponseMode | undefined,
  c: Pick<ResponseConfig, "mode" | "rules">,
): ResponseMode {
  if (c.mode === "monitor") return "monitor";
  let mode: ResponseMode = own ?? "enforce";
  for (const e of c.rules) {
    if (e.mode && groupMatches(e.match, rule)) mode = e.mode;
  }
  return mode;
}

/** What is known of a process about to be acted on. */
export interface ProcessFacts {
  pid: number;
  /** The kernel's PF_KTHREAD flag (or pid 2's children). */
  kernelThread: boolean;
}

/** Who the agent is: never acted on, nor its parent. */
export interface Self {
  pid: number;
  ppid: number;
  /** The container the agent runs in ("" on the host). */
  containerId?: string;
}

/** Why a process must not be acted on, or undefined. */
export function protection(p: ProcessFacts, self: Self): string | undefined {
  if (p.pid <= 0) return "no process";
  if (p.pid === 1) return "pid 1";
  if (p.kernelThread) return "kernel thread";
  if (p.pid === self.pid) return "the agent itself";
  if (p.pid === self.ppid) return "the agent's parent";
  return undefined;
}

/** Why a container must not be acted on, or undefined. */
export function containerProtection(id: string, self: Self): string | undefined {
  if (id === "") return "not in a container";
  // Alerts name containers by the short id (12 characters), the agent knows its full one.
  if (self.containerId && self.containerId.startsWith(id)) return "the agent's own container";
  return undefined;
}

/** The allowlist, compiled. */
export class Allowlist {
  readonly #exes: RegExp[];
  readonly #users: Set<string>;
  readonly #images: RegExp[];

  constructor(a: ResponseConfig["allowlist"]) {
    this.#exes = a.exe_paths.map(globOrExact);
    this.#users = new Set(a.users);
    this.#images = a.images.map(globOrExact);
  }

  /** Which entry keeps the target out of reach, or undefined. */
  match(t: { exepath: string; user: string; uid: number | undefined; image: string }) {
    if (t.exepath && this.#exes.some((r) => r.test(t.exepath))) {
      return `allowlisted executable ${t.exepath}`;
    }
    if (t.user && this.#users.has(t.user)) return `allowlisted user ${t.user}`;
    if (t.uid !== undefined && this.#users.has(String(t.uid))) return `allowlisted uid ${t.uid}`;
    if (t.image && this.#images.some((r) => r.test(t.image))) return `allowlisted image ${t.image}`;
    return undefined;
  }
}

function globOrExact(p: string): RegExp {
  return p.includes("*")
    ? compileGlob(p)
    : new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

/**
 * Counts actions per key in fixed windows of `periodMs`: `take(key)` is true while the key has
 * had fewer than `max` actions in its current window. Keys whose window ended are forgotten as
 * new ones come, so a storm of distinct targets does not grow the table without bound.
 */
export class ActionLimiter {
  #max: number;
  #periodMs: number;
  readonly #windows = new Map<string, { start: number; count: number }>();
  readonly #now: () => number;
  /** Most keys remembered (past it the oldest go). */
  static readonly MAX_KEYS = 10_000;

  constructor(max: number, periodMs: number, now: () => number = Date.now) {
    this.#max = max;
    this.#periodMs = periodMs;
    this.#now = now;
  }

  /** New limits; the counts so far stay. */
  configure(max: number, periodMs: number): void {
    this.#max = max;
    this.#periodMs = periodMs;
  }

  /** Whether `key` may act now (and counts it when so). */
  take(key: string): boolean {
    const now = this.#now();
    let w = this.#windows.get(key);
    if (!w || now - w.start >= this.#periodMs) {
      if (w) this.#windows.delete(key);
      w = { start: now, count: 0 };
      if (this.#windows.size >= ActionLimiter.MAX_KEYS) {
        const oldest = this.#windows.keys().next().value!;
        this.#windows.delete(oldest);
      }
      this.#windows.set(key, w);
    }
    if (w.count >= this.#max) return false;
    w.count++;
    return true;
  }

  /** Whether `key` could act now, without counting. */
  peek(key: string): boolean {
    const w = this.#windows.get(key);
    return !w || this.#now() - w.start >= this.#periodMs || w.count < this.#max;
  }
}
