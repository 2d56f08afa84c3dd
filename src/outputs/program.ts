/**
 * `program_output`: alert lines written to the standard input of a shell command
 * (`sh -c PROGRAM`). With `keep_alive` one process receives every alert and is respawned when it
 * dies (and on SIGUSR1); without, a process is started per batch and waited for. The program's
 * own output goes to Saker's stderr, so it never mixes with alerts on stdout.
 * @module
 */
import { log, RateLimitedLog } from "../log.ts";
import { encodeLines } from "./lines.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";

/** Options of the program output. */
export interface ProgramOutputOptions {
  program: string;
  /** `program_output.keep_alive`. */
  keepAlive?: boolean;
  /** `json_output`. */
  json: boolean;
}

const notes = new RateLimitedLog(10_000);

interface Running {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  exited: boolean;
}

/** Pipes alert lines into a command. */
export class ProgramOutput implements AlertOutput {
  readonly name = "program";
  readonly #opts: ProgramOutputOptions;
  #running: Running | undefined;
  /** Times a process was started (first start included). */
  spawned = 0;

  constructor(opts: ProgramOutputOptions) {
    this.#opts = opts;
  }

  #spawn(): Running {
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", this.#opts.program],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.spawned++;
    // Forward the program's stdout to our stderr, never to the alert stream.
    child.stdout.pipeTo(
      new WritableStream({ write: (chunk) => void Deno.stderr.write(chunk).catch(() => {}) }),
    ).catch(() => {});
    const r: Running = { child, writer: child.stdin.getWriter(), exited: false };
    child.status.then((s) => {
      r.exited = true;
      if (this.#running === r) {
        this.#running = undefined;
        notes.log("warning", "program-exit", "output program exited; respawning on next alert", {
          program: this.#opts.program,
          code: s.code,
          signal: s.signal ?? undefined,
        });
      }
    });
    return r;
  }

  async write(batch: FormattedAlert[]): Promise<void> {
    const bytes = encodeLines(batch.map((a) => a.line(this.#opts.json)));
    if (!this.#opts.keepAlive) {
      const r = this.#spawn();
      try {
        await r.writer.write(bytes);
        await r.writer.close();
      } finally {
        const s = await r.child.status;
        if (!s.success) log.debug("output program failed", { code: s.code });
      }
      return;
    }
    if (!this.#running || this.#running.exited) this.#running = this.#spawn();
    const r = this.#running;
    try {
      await r.writer.write(bytes);
    } catch (err) {
      // The process died under us: the next attempt respawns it and sends the batch again.
      if (this.#running === r) this.#running = undefined;
      this.#stop(r);
      throw err;
    }
  }

  /** Closes the program's stdin and waits for it; kills it when it lingers past `graceMs`. */
  async #stop(r: Running, graceMs = 5000): Promise<void> {
    r.writer.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      r.child.status.then(() => true),
      new Promise<boolean>((res) => timer = setTimeout(() => res(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        r.child.kill("SIGTERM");
      } catch { /* gone meanwhile */ }
      await r.child.status;
    }
  }

  async reopen(): Promise<void> {
    const r = this.#running;
    this.#running = undefined;
    if (r) await this.#stop(r);
    if (this.#opts.keepAlive) this.#running = this.#spawn();
  }

  async close(): Promise<void> {
    const r = this.#running;
    this.#running = undefined;
    if (r) await this.#stop(r);
  }
}
