/**
 * The capture-file event source: a `.scap` file (Falco's, sysdig's or Saker's, plain or gzip)
 * as a stream of event batches, one run of event blocks per batch.
 *
 * Before the first batch of events reaches the pipeline, the file's own process, fd and user
 * lists are seeded into the state (when a seeding target is given), as libsinsp does when it
 * opens a capture; the same happens again if a later section brings new lists. The lists are
 * also kept as plain data ({@link ScapSource.metadata}).
 *
 * A truncated or corrupt file ends the stream with a {@link ScapFormatError} after every event
 * before the bad block has been delivered.
 *
 * @example
 * ```ts
 * import { openScapSource } from "./scap.ts";
 * const src = await openScapSource("trace.scap");
 * for await (const batch of src.readable) console.log(batch.length);
 * ```
 * @module
 */
import type { EventBatch, EventSource } from "./source.ts";
import { openScapFile, type ScapFile, type ScapItem } from "../capture/reader.ts";
import { emptyMetadata, type ScapMetadata } from "../capture/metadata.ts";
import { type SeedCounts, seedState, type StateSeedTarget } from "../capture/seed.ts";

export { ScapFormatError } from "../capture/errors.ts";

/** Options of {@link openScapSource}. */
export interface ScapSourceOptions {
  /**
   * Events per batch (default 256: a batch's events are decoded, tracked and evaluated while
   * they are in the CPU's caches, and few are still alive when the young heap is collected;
   * sample.scap x2500 replays in ~25 % less time and ~30 MB less peak memory than with 4096).
   */
  batchSize?: number;
  /** State to seed from the file's process, fd and user lists. */
  state?: StateSeedTarget;
  /** Called as the file is read: file bytes consumed (compressed for gzip) and file size. */
  onProgress?: (bytes: number, size: number) => void;
  /** Event ids to decode (see ScapReaderOptions.keepTypes); default every one. */
  keepTypes?: Uint8Array;
  /**
   * Event ids whose events live only until the next batch is asked for (see
   * ScapReaderOptions.transientTypes). Batches are then pulled through `next()` only: a stream
   * reads ahead of its consumer.
   */
  transientTypes?: Uint8Array;
}

/** A capture file as an event source. */
export interface ScapSource extends EventSource {
  /** The file's metadata as read so far (complete once the first events arrive). */
  readonly metadata: ScapMetadata;
  /** Size of the file on disk. */
  readonly size: number;
  /** What seeding added (undefined until seeded, or without a target). */
  readonly seeded: SeedCounts | undefined;
  /** Reader counters: events read (`received`, as live sources say), bytes, unknown events. */
  stats(): {
    received: number;
    bytes: number;
    events: number;
    unknownEvents: number;
    unknownBlocks: number;
    skipped: number;
  };
}

/** Opens a capture file as an event source. */
export async function openScapSource(
  path: string,
  options: ScapSourceOptions = {},
): Promise<ScapSource> {
  const file: ScapFile = await openScapFile(path, {
    batchSize: options.batchSize ?? 256,
    keepTypes: options.keepTypes,
    transientTypes: options.transientTypes,
  });
  const items = file.reader.items();
  let metadata = emptyMetadata();
  let pendingSeed = false;
  let seeded: SeedCounts | undefined;
  let sectionSeen = false;

  const apply = (it: ScapItem) => {
    switch (it.kind) {
      case "section":
        // A new section starts over (merged captures): its lists replace the previous ones.
        if (sectionSeen) metadata = emptyMetadata();
        sectionSeen = true;
        break;
      case "machine":
        metadata.machine = it.machine;
        break;
      case "threads":
        metadata.threads.push(...it.threads);
        pendingSeed = true;
        break;
      case "fds":
        metadata.fds.push(...it.fds);
        pendingSeed = true;
        break;
      case "interfaces":
        metadata.interfaces.push(...it.interfaces);
        break;
      case "users":
        metadata.users.push(...it.users);
        metadata.groups.push(...it.groups);
        pendingSeed = true;
        break;
      case "events":
        break;
    }
  };

  const seed = () => {
    pendingSeed = false;
    if (!options.state) return;
    seeded = seedState(
      options.state,
      metadata.threads,
      metadata.fds,
      metadata.users,
      metadata.groups,
    );
  };

  let closed = false;
  let ended = false;
  /** The next batch of events, null at the end; metadata on the way is applied first. */
  const next = async (): Promise<EventBatch | null> => {
    while (!ended) {
      const r = await items.next();
      options.onProgress?.(file.fileBytes(), file.size);
      if (r.done || closed) break;
      const it = r.value;
      if (it.kind !== "events") {
        apply(it);
        continue;
      }
      if (pendingSeed) seed();
      return it.events;
    }
    if (!ended) {
      ended = true;
      if (pendingSeed) seed();
    }
    return null;
  };

  // The stream is made when first asked for: made, it starts pulling at once, and a pipeline
  // that pulls batches through next() never asks for it.
  let readable: ReadableStream<EventBatch> | undefined;
  const stream = () =>
    new ReadableStream<EventBatch>({
      async pull(controller) {
        let batch: EventBatch | null;
        try {
          batch = await next();
        } catch (err) {
          controller.error(err);
          return;
        }
        if (batch === null) controller.close();
        else controller.enqueue(batch);
      },
      async cancel() {
        closed = true;
        await items.return(undefined);
      },
    }, { highWaterMark: 1 });

  return {
    source: "syscall",
    get readable() {
      if (options.transientTypes) {
        throw new Error("a capture source of transient events is read through next()");
      }
      return readable ??= stream();
    },
    next,
    get metadata() {
      return metadata;
    },
    size: file.size,
    get seeded() {
      return seeded;
    },
    stats() {
      const s = file.reader.stats;
      return {
        received: s.events,
        bytes: s.bytes,
        events: s.events,
        unknownEvents: s.unknownEvents,
        unknownBlocks: s.unknownBlocks,
        skipped: s.skipped,
      };
    },
    close() {
      closed = true;
      file.reader.close();
      return Promise.resolve();
    },
  };
}
