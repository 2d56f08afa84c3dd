/**
 * `program_output`: alert lines written to the standard input of a shell command
 * (`sh -c PROGRAM`). With `keep_alive` one process receives every alert and is respawned when it
 * dies (and on SIGUSR1); without, a process is started per batch and waited for. The program's
 * own output goes to Saker's stderr, so it never mixes with alerts on stdout.
 *
 * When a kept-alive program dies, the lines it had not read yet are still in the pipe: the
 * output asks the kernel how many bytes are left unread (FIONREAD on a copy of our end of the
 * pipe that the output owns: Deno closes its own fd once a write fails, and that number may
 * then name another file) and sends those lines again to the next process, at once (not at the next alert); lines are
 * written one by one, so that a program dying partway through a batch counts the lines it read
 * as delivered and leaves the rest to the retry. A line the program read and then dropped (its
 * own buffering) cannot be seen from outside; a line partly read is sent again whole.
 *
 * @example
 * ```ts
 * const out = new ProgramOutput({ program: "jq -c . >> /var/log/alerts", keepAlive: true, json: true });
 * await out.write(batch); // lines the program had not read when it died go to the next one
 * ```
 * @module
 */
import { log, RateLimitedLog } from "../log.ts";
import { encodeLines } from "./lines.ts";
import { type AlertOutput, type FormattedAlert, OutputWriteError } from "./output.ts";
import { libc } from "../kernel/libc.ts";

/** Lines kept after they were written, for a pipe's capacity (64 KiB) and more. */
const KEEP_BYTES = 1 << 20;
/** ioctl request: bytes waiting in a pipe. */
const FIONREAD = 0x541b;

/** fcntl command: duplicate an fd, close-on-exec. */
const F_DUPFD_CLOEXEC = 1030;

/**
 * A copy (dup) of our end of the pipe that is `pid`'s standard input (found by the pipe's inode),
 * owned by the caller, who must close it before the program can see the end of its input.
 */
function stdinPipeFd(pid: number): number | undefined {
  try {
    const pipe = Deno.readLinkSync(`/proc/${pid}/fd/0`);
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) !== pipe) continue;
        const fd = libc().fcntl(Number(e.name), F_DUPFD_CLOEXEC, 3);
        // Still the same pipe once copied (the number was not closed and reused meanwhile).
        if (fd >= 0 && Deno.readLinkSync(`/proc/self/fd/${fd}`) === pipe) return fd;
        if (fd >= 0) libc().close(fd);
        return undefined;
      } catch { /* closed meanwhile */ }
    }
  } catch { /* the process is gone already */ }
  return undefined;
}

/** Bytes written to `fd` (a pipe) that its reader has not read; undefined when unknown. */
function unreadBytes(fd: number | undefined): number | undefined {
  if (fd === undefined) return undefined;
  const n = new Int32Array(1);
  return libc().ioctl(fd, BigInt(FIONREAD), new Uint8Array(n.buffer)) === 0 ? n[0] : undefined;
}

/** Closes a process's copy of the pipe's end (once). */
function release(r: Running): void {
  if (r.fd !== undefined) libc().close(r.fd);
  r.fd = undefined;
}

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
  /**
   * Our own copy of our end of the pipe to its stdin, for FIONREAD (kept-alive programs;
   * undefined when not found or released).
   */
  fd: number | undefined;
}

/** Pipes alert lines into a command. */
export class ProgramOutput implements AlertOutput {
  readonly name = "program";
  readonly #opts: ProgramOutputOptions;
  #running: Running | undefined;
  /** The lines last written to the running process (at most KEEP_BYTES of them). */
  #written: Uint8Array[] = [];
  #writtenBytes = 0;
  /** Lines a process that died had not read: sent first to the next one. */
  #unread: Uint8Array[] = [];
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
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
    const r: Running = {
      child,
      writer: child.stdin.getWriter(),
      exited: false,
      fd: this.#opts.keepAlive ? stdinPipeFd(child.pid) : undefined,
    };
    child.status.then((s) => {
      r.exited = true;
      if (this.#running === r) {
        this.#running = undefined;
        this.#unread.push(...this.#unreadTail(r, this.#written.length));
        this.#forgetWritten();
        notes.log("warning", "program-exit", "output program exited; respawning", {
          program: this.#opts.program,
          code: s.code,
          signal: s.signal ?? undefined,
        });
        // Lines it may not have read are sent to the next process now, not at the next alert.
        if (this.#opts.keepAlive && this.#unread.length > 0 && !this.#closed) {
          this.#serial(async () => void await this.#resend()).catch(() => {});
        }
      }
      release(r);
    });
    return r;
  }

  /** Runs `f` after whatever runs already (writes and re-sends never interleave). */
  #serial(f: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(f);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Starts a process if none runs, sending it first what the previous one had not read. */
  async #resend(): Promise<Running> {
    let r = this.#running;
    if (r && !r.exited) return r;
    r = this.#running = this.#spawn();
    const again = this.#unread;
    this.#unread = [];
    for (let i = 0; i < again.length; i++) {
      try {
        await this.#writeLine(r, again[i], 0);
      } catch (err) {
        // This one died too: what it had not read (written lines, then the rest) waits for the
        // next.
        this.#unread.push(...again.slice(i));
        throw err;
      }
    }
    return r;
  }

  /** The last of the `count` newest written lines that `r` has not (fully) read. */
  #unreadTail(r: Running, count: number): Uint8Array[] {
    const lines = this.#written;
    const first = lines.length - count;
    let left = unreadBytes(r.fd) ?? Infinity;
    let i = lines.length;
    while (i > first && left > 0) left -= lines[--i].length;
    return lines.slice(i);
  }

  #forgetWritten(): void {
    this.#written = [];
    this.#writtenBytes = 0;
  }

  write(batch: FormattedAlert[]): Promise<void> {
    return this.#serial(() => this.#write(batch));
  }

  async #write(batch: FormattedAlert[]): Promise<void> {
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
    const r = await this.#resend();
    const lines = batch.map((a) => encodeLines([a.line(this.#opts.json)]));
    for (let i = 0; i < lines.length; i++) await this.#writeLine(r, lines[i], i, lines.length - i);
  }

  /**
   * Writes one line; when the process is gone, throws an OutputWriteError saying how many lines
   * of the batch (the first `index`, but those it had not read) were delivered.
   */
  async #writeLine(r: Running, line: Uint8Array, index: number, left = 0): Promise<void> {
    try {
      await r.writer.write(line);
    } catch (err) {
      // Lines of this batch it had not read are retried by the queue; earlier ones are sent
      // again to the next process.
      const unread = this.#unreadTail(r, this.#written.length);
      const ofBatch = Math.min(index, unread.length);
      this.#unread.push(...unread.slice(0, unread.length - ofBatch));
      this.#forgetWritten();
      if (this.#running === r) this.#running = undefined;
      this.#stop(r);
      throw new OutputWriteError(
        `program exited: ${(err as Error).message} (${ofBatch + left} lines to send again)`,
        index - ofBatch,
      );
    }
    this.#written.push(line);
    this.#writtenBytes += line.length;
    while (this.#written.length > 1 && this.#writtenBytes > KEEP_BYTES) {
      this.#writtenBytes -= this.#written.shift()!.length;
    }
  }

  /** Closes the program's stdin and waits for it; kills it when it lingers past `graceMs`. */
  async #stop(r: Running, graceMs = 5000): Promise<void> {
    // Our copy of the pipe's end first: while it is open the program sees no end of input.
    release(r);
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
    this.#forgetWritten();
    if (r) await this.#stop(r);
    if (this.#opts.keepAlive) this.#running = this.#spawn();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    const r = this.#running;
    this.#running = undefined;
    if (r) await this.#stop(r);
  }
}
