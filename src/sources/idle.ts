/**
 * A source that yields nothing until closed: the agent's main source when the system call
 * source is disabled (`saker run --disable-source syscall`, e.g. a Kubernetes audit receiver
 * without kernel access), so that the other sources run in their pipelines as usual.
 *
 * @example
 * ```ts
 * import { idleSource } from "./idle.ts";
 * const src = idleSource();
 * await src.close(); // the stream ends
 * ```
 * @module
 */
import type { EventBatch, EventSource } from "./source.ts";

/** A source with no events; its stream ends when it is closed. */
export function idleSource(name = "none"): EventSource {
  let controller!: ReadableStreamDefaultController<EventBatch>;
  const readable = new ReadableStream<EventBatch>({ start: (c) => void (controller = c) });
  let closed = false;
  return {
    source: name,
    readable,
    close() {
      if (!closed) {
        closed = true;
        controller.close();
      }
      return Promise.resolve();
    },
  };
}
