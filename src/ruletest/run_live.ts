/**
 * Live rule tests: `simulate` tests (a `saker simulate` action) and Falco's declarative
 * event-generator tests, run for real under a temporary agent (the kernel probe, live state,
 * the test's rules) that `saker test` starts in its own process for the tests of one rule set.
 *
 * Which alerts belong to a test: those of processes descending from `saker test` itself (every
 * host attack is its child), and of the containers the test made. When a test's attack is done,
 * `saker test` opens a marker file that a rule of its own catches; once that alert is back, every
 * event before it has been evaluated (events are evaluated in order; container events that wait
 * for their metadata get the metadata wait on top). While a test runs, each of its events is also
 * explained for the rules the test expects, so a live failure shows the nearest miss like any
 * other.
 *
 * @example
 * ```ts
 * import { TemporaryAgentRunner } from "./run_live.ts";
 * // const runner = new TemporaryAgentRunner(startAgent); // startAgent: from the command line
 * // await runner.unavailable(); // "needs root: ..." when not root
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type { Alert } from "../rules/alert.ts";
import type { Ruleset } from "../rules/ruleset.ts";
import type { Explanation } from "../rules/explain.ts";
import { ACTIONS } from "../simulate/catalog.ts";
import { runAction } from "../simulate/runner.ts";
import { ensurePodmanService } from "../simulate/podman_service.ts";
import type { LiveRunner } from "./runner.ts";
import type { TestCase } from "./spec.ts";
import type { EvtgenTest } from "./evtgen.ts";
import type { SeenAlert } from "./judge.ts";
import { NearestMiss, type RunOutput } from "./run_offline.ts";
import { ensureHostUsers, runEvtgenTest } from "./evtgen_run.ts";

/** What a temporary agent reports to the tests. */
export interface AgentHooks {
  /** Called for every event the agent's rules evaluated, with the alerts it raised. */
  onEvaluated(ev: Event, alerts: readonly Alert[]): void;
}

/** A running temporary agent. */
export interface TemporaryAgent {
  stop(): Promise<void>;
}

/** Starts an agent with `rulesFiles` (and nothing else: no outputs, no store, no API). */
export type StartAgent = (rulesFiles: string[], hooks: AgentHooks) => Promise<TemporaryAgent>;

/** Name of the rule that tells `saker test` every earlier event was evaluated. */
export const MARKER_RULE = "saker test: events evaluated up to here";

/** Event-generator tests running at once. */
const LIVE_CONCURRENCY = 4;

/**
 * Event-generator tests grouped so that tests which make the same path on the host run one after
 * another (one test's cleanup would remove a directory another is about to write in, or a file it
 * is using), and the others side by side. A test makes the first missing ancestor (or itself) of
 * each file, directory and executable path it names; `exists` tells what is there now.
 */
export function byMadePaths(
  tests: readonly TestCase[],
  exists: (path: string) => boolean,
): TestCase[][] {
  const groupOf = new Map<string, TestCase[]>();
  const groups: TestCase[][] = [];
  for (const t of tests) {
    const made = t.input.kind === "evtgen" && !t.input.test.context.container
      ? madePaths(t.input.test, exists)
      : [];
    // Every group this test touches joins one.
    const joined = [...new Set(made.map((p) => groupOf.get(p)).filter((g) => g !== undefined))];
    const group = joined[0] ?? [];
    if (joined.length === 0) groups.push(group);
    for (const other of joined.slice(1)) {
      group.push(...other);
      groups.splice(groups.indexOf(other), 1);
      for (const [k, g] of groupOf) if (g === other) groupOf.set(k, group);
    }
    group.push(t);
    for (const p of made) groupOf.set(p, group);
  }
  // Largest first, so a long group does not start last.
  return groups.sort((a, b) => b.length - a.length);
}

/** The paths a test's plan would create: the first missing ancestor-or-self of each it names. */
function madePaths(t: EvtgenTest, exists: (path: string) => boolean): string[] {
  const named = [
    ...t.resources.flatMap((r) => r.type === "fd" ? [r.filePath ?? r.dirPath ?? ""] : []),
    ...t.context.processes.map((p) => p.exePath ?? ""),
  ].filter((p) => p.startsWith("/"));
  return named.flatMap((path) => {
    const parts = path.split("/").filter((x) => x !== "");
    for (let i = 1; i <= parts.length; i++) {
      const prefix = "/" + parts.slice(0, i).join("/");
      if (!exists(prefix)) return [prefix];
    }
    return [];
  });
}

/** How long a container event may wait for its container's metadata (the agent's default). */
const METADATA_WAIT_MS = 700;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the events of one origin (a test's process tree, a container) raised. */
interface Bucket {
  near: NearestMiss;
  alerts: SeenAlert[];
  events: number;
}

/**
 * Alerts and explanations of the running tests, kept by where their events came from: `p:PID`
 * for the process tree under a test's root process, `c:ID` for a container, `self` for other
 * descendants of this process (the one simulate test running).
 */
class Session {
  #active = 0;
  #buckets = new Map<string, Bucket>();
  #roots = new Set<number>();
  #ignored = new Set<number>();
  #watch = new Map<string, number>();
  #markers = new Map<string, () => void>();

  constructor(readonly ruleset: Ruleset) {}

  /** Waits until the marker alert for `path` arrives (false on timeout). */
  marker(path: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#markers.delete(path);
        resolve(false);
      }, timeoutMs);
      this.#markers.set(path, () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** A test starts: its expected rules are explained on the events seen from now. */
  begin(watch: string[]): void {
    this.#active++;
    for (const r of watch) this.#watch.set(r, (this.#watch.get(r) ?? 0) + 1);
  }

  /** A test's processes descend from `pid`. */
  root(pid: number): void {
    this.#roots.add(pid);
  }

  /** The events of process `pid` (the marker's) belong to no test. */
  ignore(pid: number): void {
    this.#ignored.add(pid);
    if (this.#ignored.size > 64) this.#ignored.delete(this.#ignored.values().next().value!);
  }

  /** What a test caused: the events of `keys` (its root, its containers, or `self`). */
  end(watch: string[], keys: string[]): RunOutput {
    this.#active--;
    for (const r of watch) {
      const n = (this.#watch.get(r) ?? 1) - 1;
      if (n > 0) this.#watch.set(r, n);
      else this.#watch.delete(r);
    }
    const why = new Map<string, Explanation>();
    const evaluated = new Set<string>();
    const alerts: SeenAlert[] = [];
    let events = 0;
    for (const key of keys) {
      const b = this.#buckets.get(key);
      this.#buckets.delete(key);
      if (key.startsWith("p:")) this.#roots.delete(Number(key.slice(2)));
      if (!b) continue;
      events += b.events;
      alerts.push(...b.alerts);
      for (const r of b.near.evaluated) evaluated.add(r);
      for (const [rule, x] of b.near.why) {
        if (!watch.includes(rule)) continue;
        const best = why.get(rule);
        if (!best || x.progress >= best.progress) why.set(rule, x);
      }
    }
    // Events of containers no test claims (other work on the machine) go between tests.
    if (this.#active === 0) this.#buckets.clear();
    return { alerts, why, evaluated, events };
  }

  seen(ev: Event, alerts: readonly Alert[]): void {
    for (const a of alerts) {
      if (a.rule !== MARKER_RULE) continue;
      const path = String(a.outputFields["fd.name"]);
      const done = this.#markers.get(path);
      if (done) {
        this.#markers.delete(path);
        done();
      }
    }
    if (this.#active === 0) return;
    const key = this.#keyOf(ev);
    if (key === undefined) return;
    let b = this.#buckets.get(key);
    if (!b) {
      b = { near: new NearestMiss(this.ruleset, [...this.#watch.keys()]), alerts: [], events: 0 };
      this.#buckets.set(key, b);
    }
    const fired = new Set<string>();
    for (const a of alerts) {
      if (a.rule === MARKER_RULE) continue;
      fired.add(a.rule);
      b.alerts.push({
        rule: a.rule,
        priority: a.priority,
        output: a.output,
        outputFields: a.outputFields,
      });
    }
    b.near.see(ev, fired);
    b.events++;
  }

  #keyOf(ev: Event): string | undefined {
    let p = ev.thread?.proc;
    if (!p) return undefined;
    if (p.containerId !== "") return `c:${p.containerId}`;
    if (this.#ignored.has(p.pid)) return undefined;
    for (let i = 0; p && i < 64; i++) {
      if (this.#roots.has(p.pid)) return `p:${p.pid}`;
      if (p.pid === Deno.pid) return "self";
      if (p.ppid <= 1) return undefined;
      p = p.state.process(p.ppid);
    }
    return undefined;
  }
}

function needsContainers(t: TestCase): boolean {
  if (t.input.kind === "evtgen") return !!t.input.test.context.container;
  if (t.input.kind === "simulate") {
    const name = t.input.action;
    return ACTIONS.find((a) => a.name === name)?.kind === "container";
  }
  return false;
}

/** Runs live tests under a temporary agent started through `start`. */
export class TemporaryAgentRunner implements LiveRunner {
  constructor(readonly start: StartAgent) {}

  unavailable(): Promise<string | undefined> {
    if (Deno.uid() !== 0) {
      return Promise.resolve("needs root: live tests run a temporary agent and real attacks");
    }
    try {
      Deno.statSync("/sys/kernel/btf/vmlinux");
    } catch {
      return Promise.resolve("needs a kernel with BTF (/sys/kernel/btf/vmlinux)");
    }
    return Promise.resolve(undefined);
  }

  async run(
    tests: TestCase[],
    rules: { files: string[]; ruleset: Ruleset },
    report: Parameters<LiveRunner["run"]>[2],
  ): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "saker-test-marker-" });
    await Deno.chmod(dir, 0o755);
    const markerRules = `${dir}/marker.yaml`;
    await Deno.writeTextFile(
      markerRules,
      `- rule: ${JSON.stringify(MARKER_RULE)}\n  desc: saker test's marker\n` +
        `  condition: evt.type in (open, openat, openat2) and fd.name startswith ${dir}/m\n` +
        "  output: marker %fd.name\n  priority: EMERGENCY\n",
    );
    const session = new Session(rules.ruleset);
    let n = 0;
    /** Opens a marker file (a child process does, so the probe sees it) and waits for it. */
    const settle = async (timeoutMs: number) => {
      const path = `${dir}/m${n++}`;
      await Deno.writeTextFile(path, "");
      const back = session.marker(path, timeoutMs);
      const cat = new Deno.Command("cat", { args: [path], stdout: "null", stderr: "null" }).spawn();
      session.ignore(cat.pid);
      await cat.status;
      return await back;
    };
    const stopPodman = tests.some(needsContainers) ? await ensurePodmanService() : async () => {};
    let dropUsers = async () => {};
    let agent: TemporaryAgent | undefined;
    try {
      try {
        dropUsers = await ensureHostUsers(
          tests.flatMap((t) => (t.input.kind === "evtgen" ? [t.input.test] : [])),
        );
        agent = await this.start([...rules.files, markerRules], {
          onEvaluated: (ev, alerts) => session.seen(ev, alerts),
        });
        if (!(await settle(60_000))) throw new Error("the temporary agent saw no event in 60 s");
      } catch (err) {
        for (const t of tests) {
          report(t, { error: `live tests could not start: ${(err as Error).message}` }, 0);
        }
        return;
      }
      /** Runs one test: its attack, then the marker, then its alerts. */
      const one = async (t: TestCase) => {
        const t0 = performance.now();
        const watch = t.expect.rules.map((r) => r.rule);
        session.begin(watch);
        let keys: string[] = [];
        try {
          const out = await this.#runInput(t, (pid) => session.root(pid));
          if ("skip" in out) {
            session.end(watch, out.keys);
            report(t, { skip: out.skip }, performance.now() - t0);
            return;
          }
          keys = out.keys;
        } catch (err) {
          session.end(watch, []);
          report(t, { error: (err as Error).message }, performance.now() - t0);
          return;
        }
        if (!(await settle(15_000))) {
          session.end(watch, keys);
          report(
            t,
            { error: "the temporary agent did not catch up within 15 s" },
            performance.now() - t0,
          );
          return;
        }
        if (keys.some((k) => k.startsWith("c:"))) await sleep(METADATA_WAIT_MS);
        report(t, session.end(watch, keys), performance.now() - t0);
      };
      // Event-generator tests have a root process (or a container) of their own, so several
      // run at once; simulate actions run from this process, one at a time.
      const groups = byMadePaths(tests.filter((t) => t.input.kind === "evtgen"), pathExists);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(LIVE_CONCURRENCY, groups.length) }, async () => {
          while (next < groups.length) for (const t of groups[next++]) await one(t);
        }),
      );
      for (const t of tests.filter((t) => t.input.kind !== "evtgen")) await one(t);
    } finally {
      await agent?.stop();
      await dropUsers();
      await stopPodman();
      await Deno.remove(dir, { recursive: true });
    }
  }

  /**
   * Runs the attack of a test; returns the origins of its events (`root` learns a test's root
   * process as it starts), or why it was skipped.
   */
  async #runInput(
    t: TestCase,
    root: (pid: number) => void,
  ): Promise<{ keys: string[] } | { skip: string; keys: string[] }> {
    if (t.input.kind === "simulate") {
      const name = t.input.action;
      const action = ACTIONS.find((a) => a.name === name);
      if (!action) throw new Error(`no simulator action named '${name}' (saker simulate --list)`);
      const r = await runAction(action);
      if (r.status === "skipped") return { skip: `${name}: ${r.reason}`, keys: ["self"] };
      if (r.status === "failed") throw new Error(`${name} failed: ${r.reason}`);
      return { keys: ["self", ...(r.containerId ? [`c:${r.containerId}`] : [])] };
    }
    if (t.input.kind === "evtgen") {
      let pid = -1;
      const r = await runEvtgenTest(t.input.test, (p) => {
        pid = p;
        root(p);
      });
      return {
        keys: [...(pid > 0 ? [`p:${pid}`] : []), ...(r.containerId ? [`c:${r.containerId}`] : [])],
      };
    }
    throw new Error(`not a live test: ${t.input.kind}`);
  }
}

function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
