/**
 * The output contract: every alert channel (stdout, file, syslog, program, http, the alert store,
 * live SSE subscribers) implements {@link AlertOutput}. Outputs never see the pipeline directly:
 * each sits behind its own bounded queue and worker (see queue.ts), so a slow channel delays only
 * itself.
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import type { AlertFormatter } from "./format.ts";

/**
 * An alert received from another agent (the collector): its id and its forms as that agent wrote
 * them, kept as they are rather than formatted again here.
 */
export interface ReceivedForms {
  /** The sending agent's alert id. */
  id: string;
  /** The agent's host name. */
  hostname: string;
  /** The JSON line as received. */
  json: string;
  /** The `output` property (time and priority prefix included). */
  output: string;
  /** The `output_fields` object as JSON text. */
  fieldsJson: string;
}

/** An alert with its text and JSON forms, each computed at most once and shared by outputs. */
export class FormattedAlert {
  #text: string | undefined;
  #json: string | undefined;
  #id: string | undefined;
  /**
   * `received` is set for an alert another agent raised (its forms are kept); otherwise the
   * formatter writes them.
   */
  constructor(
    readonly alert: Alert,
    readonly formatter: AlertFormatter,
    readonly received?: ReceivedForms,
  ) {
    if (received) {
      this.#json = received.json;
      this.#id = received.id;
    }
  }

  /**
   * A stable id of this alert (a random UUID, or the sender's for a received one): every retry of
   * a network output carries the same id, so receivers de-duplicate at-least-once delivery.
   */
  get id(): string {
    return this.#id ??= crypto.randomUUID();
  }

  /** The host name the alert comes from. */
  get hostname(): string {
    return this.received?.hostname ?? this.formatter.hostname;
  }

  /** The text line (no newline). */
  get text(): string {
    return this.#text ??= this.received?.output ?? this.formatter.text(this.alert);
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

/**
 * A failed write: `delivered` alerts of the batch made it; `permanent` means do not retry;
 * `retryAfterMs` is how long the receiver asked to be left alone (HTTP Retry-After).
 */
export class OutputWriteError extends Error {
  constructor(
    message: string,
    readonly delivered = 0,
    readonly permanent = false,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "OutputWriteError";
  }
}
