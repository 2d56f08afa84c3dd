/**
 * The output contract: every alert channel (stdout, file, syslog, program, http, the alert store,
 * live SSE subscribers) implements {@link AlertOutput}. Outputs never see the pipeline directly:
 * each sits behind its own bounded queue and worker (see queue.ts), so a slow channel delays only
 * itself.
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import type { AlertFormatter } from "./format.ts";

/** An alert with its text and JSON forms, each computed at most once and shared by outputs. */
export class FormattedAlert {
  #text: string | undefined;
  #json: string | undefined;
  constructor(readonly alert: Alert, readonly formatter: AlertFormatter) {}

  /** The text line (no newline). */
  get text(): string {
    return this.#text ??= this.formatter.text(this.alert);
  }

  /** The JSON line (no newline). */
  get json(): string {
    return this.#json ??= this.formatter.json(this.alert);
  }

  /** The line an output writes when it follows `json_output`. */
  line(json: boolean): string {
    return json ? this.json : this.text;
  }
}

/** An alert channel. */
export interface AlertOutput {
  /** Short name used in metrics and logs (`stdout`, `file`, `http` ...). */
  readonly name: string;
  /**
   * Delivers a batch in order. Resolves once the batch is handed to the channel, optionally with
   * the number of alerts the receiver refused for good (they count as failed, not sent). On
   * failure it throws; an {@link OutputWriteError} says how many alerts of the batch already went
   * out and whether retrying can help. `signal` aborts a long wait (shutdown deadline).
   */
  write(batch: FormattedAlert[], signal: AbortSignal): Promise<number | void>;
  /** SIGUSR1: reopen files, respawn programs. Optional. */
  reopen?(): Promise<void>;
  /** Releases the channel after the last write. */
  close(): Promise<void>;
}

/** A failed write: `delivered` alerts of the batch made it; `permanent` means do not retry. */
export class OutputWriteError extends Error {
  constructor(message: string, readonly delivered = 0, readonly permanent = false) {
    super(message);
    this.name = "OutputWriteError";
  }
}
