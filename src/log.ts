/**
 * Structured logging to stderr, never mixed into alerts (which go to stdout and outputs).
 *
 * Lines look like `2026-11-22T08:00:00.000Z info probe attached programs=5` (text) or one JSON
 * object per line (`setLogFormat("json")`). The level comes from the config (`log_level`);
 * `setLogSinks` turns stderr off (`log_stderr: false`) or adds a sink such as syslog
 * (`log_syslog`), which gets each message without the time (syslog stamps its own).
 *
 * @example
 * ```ts
 * import { log, setLogLevel } from "./log.ts";
 * setLogLevel("debug");
 * log.info("probe attached", { programs: 5 });
 * ```
 * @module
 */

/** Log levels, most severe first. */
export type LogLevel = "error" | "warning" | "info" | "debug";

const RANK: Record<LogLevel, number> = { error: 0, warning: 1, info: 2, debug: 3 };
let threshold = RANK.info;
let format: "text" | "json" = "text";
const encoder = new TextEncoder();
let toStderr = true;
let sink: ((level: LogLevel, message: string) => void) | undefined;

/**
 * Where log lines go: stderr (default on), and `extra`, which receives each message (level,
 * text without the time) when set.
 */
export function setLogSinks(opts: {
  stderr: boolean;
  extra?: (level: LogLevel, message: string) => void;
}): void {
  toStderr = opts.stderr;
  sink = opts.extra;
}

/** Sets the most verbose level that is printed. */
export function setLogLevel(level: LogLevel): void {
  threshold = RANK[level];
}

/** True when messages of `level` are printed (skip building expensive messages otherwise). */
export function logEnabled(level: LogLevel): boolean {
  return RANK[level] <= threshold;
}

/** Chooses text or JSON lines. */
export function setLogFormat(f: "text" | "json"): void {
  format = f;
}

function fmtValue(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

function write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (RANK[level] > threshold) return;
  const time = new Date().toISOString();
  let line: string;
  let text = msg;
  if (format === "json") {
    line = JSON.stringify(
      { time, level, msg, ...fields },
      (_k, v) => typeof v === "bigint" ? v.toString() : v,
    );
  } else {
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined) text += ` ${k}=${fmtValue(v)}`;
      }
    }
    line = `${time} ${level} ${text}`;
  }
  if (sink) {
    try {
      sink(level, format === "json" ? line : text);
    } catch {
      // The sink reports its own trouble; logging goes on.
    }
  }
  if (!toStderr) return;
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nowhere left to report.
  }
}

/** The logger. */
export const log = {
  error: (msg: string, fields?: Record<string, unknown>): void => write("error", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>): void => write("warning", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>): void => write("info", msg, fields),
  debug: (msg: string, fields?: Record<string, unknown>): void => write("debug", msg, fields),
};

/**
 * A logger that prints at most one line per `intervalMs` per key and counts what it held back
 * (for per-event conditions such as a full output queue).
 */
export class RateLimitedLog {
  #last = new Map<string, number>();
  #suppressed = new Map<string, number>();
  constructor(readonly intervalMs = 10_000) {}

  /** Logs unless a line with the same key was printed within the interval. */
  log(level: LogLevel, key: string, msg: string, fields?: Record<string, unknown>): void {
    const now = Date.now();
    const last = this.#last.get(key) ?? -Infinity;
    if (now - last < this.intervalMs) {
      this.#suppressed.set(key, (this.#suppressed.get(key) ?? 0) + 1);
      return;
    }
    const suppressed = this.#suppressed.get(key) ?? 0;
    this.#suppressed.delete(key);
    this.#last.set(key, now);
    write(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
