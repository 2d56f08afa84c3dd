/**
 * The contract every event source fulfils (live ring, capture file, webhook): a readable stream
 * of batches. A batch is (a slice of) one ring drain or one block of a file, never a single event.
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
  /** Stops producing events; the stream then closes. */
  close(): Promise<void>;
}
