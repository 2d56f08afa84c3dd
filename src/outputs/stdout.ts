/**
 * `stdout_output`: alert lines on standard output (logs go to stderr, never here).
 *
 * @example
 * ```ts
 * const out = new StdoutOutput({ json: true, buffered: false });
 * await out.write([formatted]); // one JSON line per alert on stdout
 * ```
 * @module
 */
import { type ByteWriter, encodeLines, LineBuffer, writeAll } from "./lines.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";

/** Options of the stdout output. */
export interface StdoutOptions {
  /** `json_output`. */
  json: boolean;
  /** `buffered_outputs`. */
  buffered?: boolean;
  /** Where to write (default Deno.stdout; tests pass a file). */
  writer?: ByteWriter;
}

/** Writes alert lines to standard output. */
export class StdoutOutput implements AlertOutput {
  readonly name = "stdout";
  readonly #json: boolean;
  readonly #writer: ByteWriter;
  readonly #buffer: LineBuffer | undefined;

  constructor(opts: StdoutOptions) {
    this.#json = opts.json;
    this.#writer = opts.writer ?? Deno.stdout;
    this.#buffer = opts.buffered ? new LineBuffer((b) => writeAll(this.#writer, b)) : undefined;
  }

  async write(batch: FormattedAlert[]): Promise<void> {
    const lines = batch.map((a) => a.line(this.#json));
    if (this.#buffer) await this.#buffer.add(lines);
    else await writeAll(this.#writer, encodeLines(lines));
  }

  async close(): Promise<void> {
    await this.#buffer?.flush();
  }
}
