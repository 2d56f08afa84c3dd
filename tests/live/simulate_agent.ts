/**
 * Support for the simulator's live tests: run the real agent (`saker run`, a subprocess with its
 * own config) and collect its JSON alerts; run `saker simulate` in a session of its own; tell
 * which alerts a run caused (same process group, or the containers it made).
 *
 * The agent also loads a marker rule: `sync()` opens a marker file and waits for its alert. The
 * kernel ring is read in order and the pipeline keeps that order, so once the marker's alert is
 * out, every event that happened before the open has been evaluated — a negative check ("no
 * other rule fired") made after `sync()` covers everything the workload did.
 *
 * @example
 * ```ts
 * const agent = await AgentRun.start(["rules/"]);
 * const run = await simulateInSession(["read-sensitive-file"]);
 * await agent.sync();
 * const mine = agent.alerts.filter((a) => causedBy(a, run, []));
 * await agent.stop();
 * ```
 * @module
 */
import { REPO_ROOT } from "../support/env.ts";
import type { ActionReport } from "../../src/simulate/action.ts";
export { ensurePodmanService } from "../../src/simulate/podman_service.ts";
import { type Priority, priorityRank } from "../../src/rules/alert.ts";

/** An alert as the agent prints it in JSON, with the time it arrived here. */
export interface ReceivedAlert {
  rule: string;
  priority: Priority;
  output: string;
  fields: Record<string, unknown>;
  /** Date.now() when the test read it. */
  receivedMs: number;
}

/** Name of the marker rule every AgentRun loads. */
export const MARKER_RULE = "saker test marker";

/** A running agent. */
export class AgentRun {
  readonly alerts: ReceivedAlert[] = [];
  /** The agent's HTTP API (`http://127.0.0.1:PORT`), when started with `{ api: true }`. */
  api: string | undefined;
  #child: Deno.ChildProcess;
  #stderr = "";
  #tmp: string;
  #markers = 0;
  #readers: Promise<void>[] = [];
  #ready: Promise<void>;

  private constructor(child: Deno.ChildProcess, tmp: string) {
    this.#child = child;
    this.#tmp = tmp;
    let markReady!: () => void;
    let fail!: (e: Error) => void;
    this.#ready = new Promise<void>((res, rej) => {
      markReady = res;
      fail = rej;
    });
    this.#readers.push((async () => {
      for await (const line of lines(child.stdout)) {
        if (!line.startsWith("{")) continue;
        try {
          const a = JSON.parse(line);
          this.alerts.push({
            rule: a.rule,
            priority: a.priority,
            output: a.output,
            fields: a.output_fields ?? {},
            receivedMs: Date.now(),
          });
        } catch { /* not an alert */ }
      }
    })());
    this.#readers.push((async () => {
      for await (const line of lines(child.stderr)) {
        this.#stderr += line + "\n";
        if (line.includes("saker running")) {
          this.api = /api=(http\S+)/.exec(line)?.[1];
          markReady();
        }
      }
      fail(new Error(`agent exited before it was ready:\n${this.#stderr.slice(-3000)}`));
    })());
  }

  /**
   * Starts `saker run` with `rules` and JSON alerts on stdout, every matching rule reported
   * (rule_matching: all), and the process group and container of each alert appended as
   * fields so tests can tell which alerts their own processes caused. With `api`, the HTTP API
   * serves on a free loopback port (see `api`), the Kubernetes audit webhook included.
   */
  static async start(
    rules: string[],
    extraConfig = "",
    opts: { api?: boolean } = {},
  ): Promise<AgentRun> {
    const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-sim-agent-" }));
    const config = `${tmp}/config.yaml`;
    await Deno.writeTextFile(
      `${tmp}/marker.yaml`,
      `- rule: ${MARKER_RULE}\n  desc: the test opened a marker file (see sync())\n` +
        `  condition: evt.type in (open, openat, openat2) and fd.name startswith ${tmp}/marker-\n` +
        `  output: "marker %fd.name"\n  priority: DEBUG\n  tags: [test]\n`,
    );
    await Deno.writeTextFile(
      config,
      [
        "rules_files:",
        ...[...rules, `${tmp}/marker.yaml`].map((r) => `  - ${JSON.stringify(r)}`),
        "priority: debug",
        "rule_matching: all",
        "watch_config_files: false",
        "json_output: true",
        "json_include_output_fields_property: true",
        "stdout_output:",
        "  enabled: true",
        "alert_store:",
        "  enabled: false",
        "webserver:",
        `  enabled: ${opts.api === true}`,
        "  listen_address: 127.0.0.1",
        "  listen_port: 0",
        "append_output:",
        "  - match:",
        "      source: syscall",
        "    extra_fields: [proc.pgid, proc.sid, proc.ppid, proc.exepath, container.id,",
        "      container.name, container.image.repository, evt.rawtime]",
        "log_level: info",
        extraConfig,
      ].join("\n") + "\n",
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}src/main.ts`, "run", "-c", config],
      cwd: tmp,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const run = new AgentRun(child, tmp);
    const timeout = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 120_000);
    try {
      await run.#ready;
    } finally {
      clearTimeout(timeout);
    }
    return run;
  }

  /** The agent's log so far (stderr). */
  get log(): string {
    return this.#stderr;
  }

  /** Waits until an alert satisfying `pred` arrived, or `deadlineMs` (epoch ms) passed. */
  async waitFor(
    pred: (a: ReceivedAlert) => boolean,
    deadlineMs: number,
  ): Promise<ReceivedAlert | undefined> {
    for (;;) {
      const hit = this.alerts.find(pred);
      if (hit || Date.now() >= deadlineMs) return hit;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Makes a new marker file and returns its path: any process opening it raises the marker
   * rule's alert (a canary that proves the agent sees a workload).
   */
  async newMarker(): Promise<string> {
    const path = `${this.#tmp}/marker-${++this.#markers}`;
    await Deno.writeTextFile(path, "m");
    return path;
  }

  /**
   * Opens a new marker file and waits (up to `timeoutMs`) for the marker rule's alert on it:
   * when this returns, every event before the open has been evaluated and its alerts received.
   * Throws when the marker alert does not come.
   */
  async sync(timeoutMs = 15_000): Promise<void> {
    const path = await this.newMarker();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await Deno.readTextFile(path);
      const hit = await this.waitFor(
        (a) => a.rule === MARKER_RULE && a.fields["fd.name"] === path,
        Math.min(deadline, Date.now() + 1000),
      );
      if (hit) return;
    }
    throw new Error(`no marker alert for ${path} within ${timeoutMs} ms`);
  }

  /** Stops the agent (SIGINT, then SIGKILL after 15 s) and removes its files. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGINT");
    } catch { /* gone */ }
    const t = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    await this.#child.status;
    clearTimeout(t);
    await Promise.all(this.#readers);
    await Deno.remove(this.#tmp, { recursive: true });
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}

/** What one `saker simulate` run printed: its process group and one report per action. */
export interface SimulateRun {
  pgid: number;
  sid: number;
  reports: ActionReport[];
}

/**
 * Runs `saker simulate --json FLAG... ACTION...` in a new session (setsid), so every process it
 * starts shares a process group no other activity on the machine has; `flags` are simulate's own
 * (`--variant partial`, `--gap 500` ...).
 */
export async function simulateInSession(
  names: string[],
  flags: string[] = [],
): Promise<SimulateRun> {
  const out = await new Deno.Command("setsid", {
    args: [
      "-w",
      Deno.execPath(),
      "run",
      "-A",
      `${REPO_ROOT}src/main.ts`,
      "simulate",
      "--json",
      ...flags,
      ...names,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  try {
    const j = JSON.parse(text);
    return { pgid: j.pgid, sid: j.sid, reports: j.reports };
  } catch {
    throw new Error(
      `simulate printed no JSON (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** True when `alert` was caused by the run: same process group, or one of its containers. */
export function causedBy(
  alert: ReceivedAlert,
  run: { pgid: number },
  containers: string[],
): boolean {
  const f = alert.fields;
  if (Number(f["proc.pgid"]) === run.pgid) return true;
  const cid = String(f["container.id"] ?? "");
  return cid !== "" && cid !== "host" && containers.some((c) => c.startsWith(cid));
}

/** True for priorities Warning and above. */
export function warningOrAbove(p: Priority): boolean {
  return priorityRank(p) <= priorityRank("Warning");
}

/** Compares an expected fact with an output field value (numbers and strings alike). */
export function sameValue(actual: unknown, expected: unknown): boolean {
  if (actual === expected) return true;
  return actual !== null && actual !== undefined && String(actual) === String(expected);
}
