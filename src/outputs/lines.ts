/**
 * Line writing shared by the stdout, file and program outputs: one write call per batch, or with
 * `buffered_outputs` lines held back until 64 KiB are pending or a second has passed (fewer
 * system calls when a consumer does not need each alert at once).
 *
 * @example
 * ```ts
 * await writeAll(Deno.stdout, encodeLines(["a", "b"])); // "a\nb\n", however short each write
 * const held = new LineBuffer((bytes) => writeAll(file, bytes)); // buffered_outputs
 * ```
 * @module
 */

const encoder = new TextEncoder();

/** Something bytes can be written to (Deno.FsFile, Deno.stdout, a child's stdin writer). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

/** Writes all of `bytes`, looping over partial writes. */
export async function writeAll(w: ByteWriter, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await w.write(bytes.subarray(off));
}

/** Joins lines with a newline after each one, encoded. */
export function encodeLines(lines: string[]): Uint8Array {
  return encoder.encode(lines.length === 1 ? lines[0] + "\n" : lines.join("\n") + "\n");
}

/** Held-back lines of a buffered output. */
export class LineBuffer {
  #pending: string[] = [];
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * `flushTo` writes what is pending; `limitBytes` and `delayMs` bound how much and how long
   * lines wait.
   */
  constructor(
    private readonly flushTo: (bytes: Uint8Array) => Promise<void>,
    private readonly limitBytes = 64 * 1024,
    private readonly delayMs = 1000,
  ) {}

  /** Adds lines; writes when the byte limit is reached, otherwise arms the timer. */
  async add(lines: string[]): Promise<void> {
    for (const l of lines) {
      this.#pending.push(l);
      this.#bytes += l.length + 1;
    }
    if (this.#bytes >= this.limitBytes) return await this.flush();
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush().catch(() => {/* the next flush reports it */});
      }, this.delayMs);
    }
  }

  /** Writes what is pending now. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
    this.#bytes = 0;
    await this.flushTo(encodeLines(lines));
  }
}
