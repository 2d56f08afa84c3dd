/**
 * Running `saker` as a user does, for end-to-end tests: a command to completion
 * ({@linkcode saker}), or a long-running one (`saker run`, `saker capture`) whose output the test
 * reads while it runs ({@linkcode SakerProcess}).
 *
 * @example
 * ```ts
 * const v = await saker(["version", "--json"]);
 * const agent = SakerProcess.start(["run", "-c", "config.yaml"]);
 * const api = await agent.running(); // the API's URL from the "saker running" log line
 * await agent.stop();
 * ```
 * @module
 */
import { REPO_ROOT } from "./env.ts";

/** The entry point the commands run. */
export const SAKER_MAIN = `${REPO_ROOT}src/main.ts`;

/** Options of a run. */
export interface SakerOptions {
  cwd?: string;
  /** Extra environment variables (added to the test's). */
  env?: Record<string, string>;
  /** Text written to stdin (stdin is empty otherwise). */
  stdin?: string;
  /** Command run before saker (e.g. `["unshare", "-m", ...]`): saker's argv is appended. */
  wrap?: string[];
}

/** What a finished command printed. */
export interface SakerResult {
  code: number;
  stdout: string;
  stderr: string;
}

function command(args: string[], opts: SakerOptions, piped: boolean): Deno.Command {
  const argv = [Deno.execPath(), "run", "-A", "--no-check", SAKER_MAIN, ...args];
  const full = [...(opts.wrap ?? []), ...argv];
  return new Deno.Command(full[0], {
    args: full.slice(1),
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: piped ? "piped" : "null",
    stderr: piped ? "piped" : "null",
  });
}

/** Runs `saker ARGS...` to completion. */
export async function saker(args: string[], opts: SakerOptions = {}): Promise<SakerResult> {
  const child = command(args, opts, true).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Reads a stream to its end as text; `text()` is what came so far, `done` resolves at the end. */
export function collectText(
  stream: ReadableStream<Uint8Array>,
): { text: () => string; done: Promise<void> } {
  let text = "";
  const done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void (text += s) }),
  );
  return { text: () => text, done };
}

/**
 * Polls `f` every 20 ms until it returns a value other than undefined or false. The pause is the
 * same after a slow look: a state that lasts only a moment after one (an agent answering again
 * after its event loop was blocked, unhealthy until the watchdog's next tick) is still seen.
 */
export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A running `saker` command. */
export class SakerProcess {
  readonly child: Deno.ChildProcess;
  readonly exited: Promise<Deno.CommandStatus>;
  #out: { text: () => string; done: Promise<void> };
  #err: { text: () => string; done: Promise<void> };
  #status: Deno.CommandStatus | undefined;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#out = collectText(child.stdout);
    this.#err = collectText(child.stderr);
    this.exited = child.status.then(async (s) => {
      await this.#out.done;
      await this.#err.done;
      this.#status = s;
      return s;
    });
  }

  /** Starts `saker ARGS...`. */
  static start(args: string[], opts: SakerOptions = {}): SakerProcess {
    return new SakerProcess(command(args, opts, true).spawn());
  }

  /** The process id (of the wrapper when one was given). */
  get pid(): number {
    return this.child.pid;
  }

  /** The exit status once the process has ended (and its output was read). */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** The process's resident memory in bytes (from /proc). */
  rss(): number {
    const status = Deno.readTextFileSync(`/proc/${this.child.pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
  }

  /** Everything printed on stdout so far. */
  stdout(): string {
    return this.#out.text();
  }

  /** Everything printed on stderr so far (the log). */
  stderr(): string {
    return this.#err.text();
  }

  /** The stdout lines that are JSON objects, parsed. */
  jsonLines(): Record<string, unknown>[] {
    return this.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  }

  /** Waits for `f` to hold; fails early (with the log) when the process exits first. */
  waitFor<T>(
    what: string,
    f: () => Promise<T | undefined | false> | T | undefined | false,
    timeoutMs = 30_000,
  ): Promise<T> {
    return waitFor(what, async () => {
      const v = await f();
      if ((v === undefined || v === false) && this.#status) {
        throw new Error(
          `saker exited (${this.#status.code}) while waiting for ${what}:\n${
            this.stderr().slice(-3000)
          }`,
        );
      }
      return v;
    }, timeoutMs).catch((err) => {
      throw new Error(`${(err as Error).message}\nlog:\n${this.stderr().slice(-3000)}`);
    });
  }

  /** Waits for the agent's `saker running` line; returns its API URL ("" without a server). */
  async running(timeoutMs = 60_000): Promise<string> {
    const line = await this.waitFor(
      "saker running",
      () => /^.*saker running.*$/m.exec(this.stderr())?.[0],
      timeoutMs,
    );
    return /api=(\S+)/.exec(line)?.[1] ?? "";
  }

  /** Sends a signal (ignored when the process has exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch { /* exited */ }
  }

  /** SIGTERM (then SIGKILL after `graceMs`); resolves with the exit status. */
  async stop(graceMs = 15_000): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    const t = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

/**
 * Starts `saker run -c DIR/config.yaml ARGS...` with `config` written there, from the
 * repository's root (so `rules_files: [rules]` is the default rules); see
 * {@linkcode SakerProcess.running} to wait for it.
 */
export async function sakerRun(
  dir: string,
  config: string,
  args: string[] = [],
  opts: SakerOptions = {},
): Promise<SakerProcess> {
  await Deno.writeTextFile(`${dir}/config.yaml`, config);
  return SakerProcess.start(["run", "-c", `${dir}/config.yaml`, ...args], {
    cwd: REPO_ROOT,
    ...opts,
  });
}

/** True when a TCP connection to `port` on loopback is accepted (something listens there). */
export async function tcpAnswers(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on loopback (bound, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** GET (or another request) on the agent's API with its bearer token, as JSON or text. */
export async function api(
  base: string,
  path: string,
  token?: string,
): Promise<{ status: number; text: string; json: () => unknown }> {
  const r = await fetch(`${base}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}

/** The value of the first metric line matching `re` in Prometheus text, or undefined. */
export function metricValue(text: string, re: RegExp): number | undefined {
  const line = text.split("\n").find((l) => re.test(l));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}
