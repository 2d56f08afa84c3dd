/**
 * The contract every event source fulfils (live ring, capture file, webhook): a readable stream
 * of batches. A batch is (a slice of) one ring drain or one block of a file, never a single event.
 *
 * @example
 * ```ts
 * for await (const batch of source.readable) for (const ev of batch) handle(ev);
 * await source.close();
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";

/** A batch of events in time order. */
export type EventBatch = Event[];

/** An event source. */
export interface EventSource {
  /** Event source name as rules see it ("syscall", "k8s_audit"). */
  readonly source: string;
  /** Batches of events; closes when the source ends (end of file, stop requested). */
  readonly readable: ReadableStream<EventBatch>;
  /**
   * The next batch, or null at the end (throws what ended the source early): offered by sources
   * that can be pulled directly (a capture file), so that a pipeline calls its stages itself, one
   * batch after the other, without a stream hop per batch. A source is read through either
   * `readable` or `next`, never both.
   */
  next?(): Promise<EventBatch | null>;
  /** Stops producing events; the stream then closes. */
  close(): Promise<void>;
}
