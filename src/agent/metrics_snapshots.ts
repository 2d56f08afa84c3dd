/**
 * Falco's periodic metrics snapshots (`metrics.enabled`): every `interval`, one snapshot per
 * event source, sent as Falco's internal alert "Falco internal: metrics snapshot" (priority
 * Informational, source internal) through every output when `output_rule` is set, and appended
 * to `output_file` as one JSON line `{"output_fields":{...},"sample":N}` when a file is named.
 * The fields are Falco's (falco_metrics.ts); readings are taken off the event path, on a timer.
 *
 * @example
 * ```ts
 * import { MetricsSnapshots } from "./metrics_snapshots.ts";
 * // const s = new MetricsSnapshots({ intervalMs: 60_000, outputRule: true, outputFile: "",
 * //   reader, composer, sources: () => ["syscall"], publish: (a) => fanout.publish(a) });
 * // s.start(); ... await s.stop();
 * ```
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import { INTERNAL_SOURCE, jsonValue } from "../outputs/format.ts";
import { log } from "../log.ts";
import { SNAPSHOT_MESSAGE, SNAPSHOT_RULE, type SnapshotComposer } from "./falco_metrics.ts";
import type { FalcoReader } from "./falco_reading.ts";

/** Options of the snapshots. */
export interface SnapshotOptions {
  intervalMs: number;
  /** Send each snapshot as an internal alert. */
  outputRule: boolean;
  /** Append each snapshot to this file ("" = none). */
  outputFile: string;
  reader: FalcoReader;
  composer: SnapshotComposer;
  /** The event sources to snapshot. */
  sources: () => string[];
  publish: (a: Alert) => void;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One line of the metrics file: keys sorted, integers exact. */
export function snapshotLine(sample: number, fields: Record<string, unknown>): string {
  const keys = Object.keys(fields).sort(byCodePoint);
  const body = keys.map((k) => `${JSON.stringify(k)}:${jsonValue(fields[k])}`).join(",");
  return `{"output_fields":{${body}},"sample":${sample}}`;
}

/** Takes and sends the snapshots. */
export class MetricsSnapshots {
  #timer: ReturnType<typeof setInterval> | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** Snapshot rounds taken (Falco's `sample`). */
  samples = 0;

  constructor(readonly options: SnapshotOptions) {}

  /** Starts the timer. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.takeNow(), this.options.intervalMs);
  }

  /** Takes one round of snapshots now (one per source). */
  takeNow(): void {
    const o = this.options;
    this.samples++;
    const reading = o.reader.read();
    const lines: string[] = [];
    for (const source of o.sources()) {
      const fields = o.composer.compose(reading, source);
      if (o.outputRule) {
        o.publish({
          time: reading.nowNs,
          rule: SNAPSHOT_RULE,
          priority: "Informational",
          source: INTERNAL_SOURCE,
          tags: [],
          output: SNAPSHOT_MESSAGE,
          outputFields: fields,
        });
      }
      if (o.outputFile) lines.push(snapshotLine(this.samples, fields));
    }
    if (lines.length > 0) {
      const text = lines.join("\n") + "\n";
      this.#writing = this.#writing.then(() =>
        Deno.writeTextFile(o.outputFile, text, { append: true, create: true }).catch((err) =>
          log.error("metrics snapshot not written", { file: o.outputFile, error: err })
        )
      );
    }
  }

  /** Stops the timer and waits for pending file writes. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }
}
