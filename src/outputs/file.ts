/**
 * `file_output`: alert lines appended to a file. With `keep_alive` the file stays open and
 * SIGUSR1 reopens it (after logrotate moved it away); without, it is opened for each batch, so a
 * rotated file is picked up at once. A file it creates is private (src/files.ts): 0600, or 0640
 * with a group allowed to read it. On a full disk the lines that fit are delivered and the rest
 * is retried once there is room again.
 *
 * @example
 * ```ts
 * const out = new FileOutput({ filename: "/var/log/saker/alerts.json", json: true, keepAlive: true });
 * await out.write(batch); // appended; SIGUSR1 makes it reopen the file
 * ```
 * @module
 */
import { encodeLines, LineBuffer, writeAll } from "./lines.ts";
import { openPrivate } from "../files.ts";
import { type AlertOutput, type FormattedAlert, OutputWriteError } from "./output.ts";

/** Options of the file output. */
export interface FileOutputOptions {
  filename: string;
  /** `file_output.keep_alive`. */
  keepAlive?: boolean;
  /** `json_output`. */
  json: boolean;
  /** `buffered_outputs` (only with keep_alive; otherwise every batch is written at once). */
  buffered?: boolean;
  /** A group allowed to read a file this output creates (mode 0640); default: owner only. */
  group?: number;
}

/** Appends alert lines to a file. */
export class FileOutput implements AlertOutput {
  readonly name = "file";
  readonly #opts: FileOutputOptions;
  #file: Deno.FsFile | undefined;
  readonly #buffer: LineBuffer | undefined;

  constructor(opts: FileOutputOptions) {
    this.#opts = opts;
    this.#buffer = opts.buffered && opts.keepAlive
      ? new LineBuffer((b) => this.#append(b))
      : undefined;
  }

  async #open(): Promise<Deno.FsFile> {
    return await Promise.resolve(
      this.#file ??= openPrivate(this.#opts.filename, { append: true, group: this.#opts.group }),
    );
  }

  async #append(bytes: Uint8Array): Promise<void> {
    const f = await this.#open();
    try {
      await writeAll(f, bytes);
    } catch (err) {
      this.#closeFile();
      throw err;
    }
    if (!this.#opts.keepAlive) this.#closeFile();
  }

  #closeFile(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
  }

  async write(batch: FormattedAlert[]): Promise<void> {
    const lines = batch.map((a) => a.line(this.#opts.json));
    if (this.#buffer) return await this.#buffer.add(lines);
    const bytes = encodeLines(lines);
    const f = await this.#open();
    let off = 0;
    try {
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
    } catch (err) {
      // A full disk takes part of a batch: the whole lines written are delivered, a torn last
      // line is cut off again, and only the rest is retried (a batch larger than the room left
      // would otherwise never go through, and its first lines would be written twice).
      let whole = 0, end = 0;
      for (let i = 0; i < off; i++) if (bytes[i] === 10) whole++, end = i + 1;
      if (off > end) {
        try {
          await f.truncate((await f.stat()).size - (off - end));
        } catch { /* the torn line stays; the retry writes the line whole after it */ }
      }
      this.#closeFile();
      throw new OutputWriteError((err as Error).message, whole);
    }
    if (!this.#opts.keepAlive) this.#closeFile();
  }

  async reopen(): Promise<void> {
    await this.#buffer?.flush();
    this.#closeFile();
    if (this.#opts.keepAlive) await this.#open();
  }

  async close(): Promise<void> {
    await this.#buffer?.flush();
    this.#closeFile();
  }
}
