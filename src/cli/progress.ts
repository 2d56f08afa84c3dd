/**
 * A one-line progress bar for long replays, drawn on a terminal's stderr and redrawn at most a
 * few times per second; nothing is drawn when stderr is not a terminal.
 *
 * @example
 * ```ts
 * progressLine(50e6, 100e6, 120_000, 2); // "[###############---------------]  50% 120k events 60k/s"
 * ```
 * @module
 */

/** The text of the progress line (pure, for tests). */
export function progressLine(
  bytes: number,
  size: number,
  events: number,
  seconds: number,
  width = 30,
): string {
  const frac = size > 0 ? Math.min(1, bytes / size) : 0;
  const filled = Math.round(frac * width);
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  const rate = seconds > 0 ? events / seconds : 0;
  return `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${compact(events)} events ` +
    `${compact(rate)}/s`;
}

function compact(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return String(Math.round(n));
}

/** Draws progress on stderr when it is a terminal. */
export class ProgressBar {
  readonly enabled: boolean;
  #start = performance.now();
  #last = 0;
  #drawn = false;
  #enc = new TextEncoder();

  constructor(enabled = Deno.stderr.isTerminal()) {
    this.enabled = enabled;
  }

  /** Redraws if enough time passed since the last draw. */
  update(bytes: number, size: number, events: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.#last < 200) return;
    this.#last = now;
    const line = progressLine(bytes, size, events, (now - this.#start) / 1000);
    Deno.stderr.writeSync(this.#enc.encode(`\r${line}\x1b[K`));
    this.#drawn = true;
  }

  /** Clears the line. */
  done(): void {
    if (this.enabled && this.#drawn) Deno.stderr.writeSync(this.#enc.encode("\r\x1b[K"));
  }
}
