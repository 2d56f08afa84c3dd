/**
 * A `saker run` child process for tests that drive the agent from outside: its stdout and stderr
 * collected, the API address read from its start-up line, stopped with SIGTERM.
 *
 * @example
 * ```ts
 * const run = await SakerProcess.start(dir, "webserver: {listen_port: 0}\n", ["--disable-source", "syscall"]);
 * await fetch(`${run.api}/healthz`);
 * await run.stop();
 * ```
 * @module
 */
import { REPO_ROOT } from "./env.ts";

function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = "";
  const done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void (text += s) }),
  ).catch(() => {});
  return { text: () => text, done };
}

/** Polls `f` every `everyMs` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A free TCP port on loopback (bound, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A running `saker run`. */
export class SakerProcess {
  readonly #out: { text: () => string; done: Promise<void> };
  readonly #err: { text: () => string; done: Promise<void> };
  /** Resolves with the exit status once the process ended and its output was read. */
  readonly exited: Promise<Deno.CommandStatus>;
  #status: Deno.CommandStatus | undefined;
  /** The API's base URL, once started (see {@link SakerProcess.started}). */
  api = "";

  private constructor(readonly child: Deno.ChildProcess, readonly dir: string) {
    this.#out = collect(child.stdout);
    this.#err = collect(child.stderr);
    this.exited = child.status.then(async (s) => {
      await this.#out.done;
      await this.#err.done;
      this.#status = s;
      return s;
    });
  }

  /** Spawns `saker run -c DIR/config.yaml ARGS` without waiting for it to start. */
  static async spawn(
    dir: string,
    config: string,
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<SakerProcess> {
    await Deno.writeTextFile(`${dir}/config.yaml`, config);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", "src/main.ts", "run", "-c", `${dir}/config.yaml`, ...args],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
      env,
    }).spawn();
    return new SakerProcess(child, dir);
  }

  /** Spawns and waits for the start-up line (throws with the log if it exits first). */
  static async start(
    dir: string,
    config: string,
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<SakerProcess> {
    const run = await SakerProcess.spawn(dir, config, args, env);
    await run.started();
    return run;
  }

  /** Waits for `saker running` and reads the API address from it. */
  async started(timeoutMs = 60_000): Promise<void> {
    this.api = await waitFor("saker to start", () => {
      if (this.#status) {
        throw new Error(`saker exited early (${this.#status.code}):\n${this.stderr}`);
      }
      const m = /saker running .*/.exec(this.stderr)?.[0];
      return m === undefined ? undefined : (/api=(\S+)/.exec(m)?.[1] ?? "");
    }, timeoutMs);
  }

  /** The exit status once ended. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  get stdout(): string {
    return this.#out.text();
  }

  get stderr(): string {
    return this.#err.text();
  }

  /** The process's resident memory in bytes (from /proc). */
  rss(): number {
    const status = Deno.readTextFileSync(`/proc/${this.child.pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
  }

  /** SIGTERM and wait; returns the exit code. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    if (!this.#status) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
    }
    return (await this.exited).code;
  }
}
