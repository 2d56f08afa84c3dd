/**
 * The live event source: the probe's ring buffer, drained in batches and decoded into events.
 *
 * The probe submits records without waking the reader, except the first record after its CPU
 * has not woken it for `wakeupMs`. While records flow this source polls: every wake-up of the
 * process costs about the same whatever it finds, so the pause after a drain is sized to gather
 * about `batchEvents` events at the rate they have been arriving, between `pollMs` and
 * `maxDelayMs` (and short enough that the ring stays at most a quarter full). Once the ring has
 * been empty for longer than `wakeupMs` since records last came, every new record wakes the
 * reader, so it blocks on the ring (epoll, on a thread of its own) instead of polling: an idle
 * agent costs nothing, and a record waits at most about `maxDelayMs` (busy) or the wake-up time
 * (idle) before user space has it. Backpressure never reaches the kernel: if the pipeline falls
 * behind, the ring fills and the probe counts drops per CPU (saker_kernel_drops_total), it
 * never blocks a traced process.
 *
 * A drain is decoded and handed on in slices of `sliceEvents` events, one slice per pull: every
 * event of a batch stays alive until the whole batch has been evaluated, and each young-generation
 * collection meanwhile copies all of them. With drains of tens of thousands of events that
 * copying cost more than everything else done per event; slices of a thousand cost one stream
 * hop (well under 1 ns per event) and keep the live set small.
 *
 * The ring is the only queue: a drain happens when the pipeline asks for its next slice (the
 * stream keeps none in advance), and a drain is at most 1 MiB (~10k events), so that what has not
 * been evaluated yet waits in the ring, where an overflow is counted, rather than in memory.
 *
 * @example
 * ```ts
 * import { openLiveSource } from "./live.ts";
 * const src = await openLiveSource({ syscalls: new Set(["openat", "execve"]) });
 * for await (const batch of src.readable) {
 *   for (const ev of batch) console.log(ev.name, ev.comm);
 * }
 * ```
 * @module
 */
import { decodeLiveRecords, type Event, liveDecodeStats } from "../events/event.ts";
import {
  type DenyAllow,
  type DenySet,
  Probe,
  type ProbeCounters,
  type ProbeOptions,
} from "../kernel/probe.ts";
import type { KernelPrograms } from "../kernel/predicates.ts";
import { bootEpochNs } from "../kernel/libc.ts";
import { syscallFilterFor } from "../events/syscalls.ts";
import { metrics, stageSeconds } from "../metrics.ts";
import type { EventSource } from "./source.ts";

/** Options of the live source. */
export interface LiveSourceOptions extends Omit<ProbeOptions, "object"> {
  /**
   * Event names (syscalls) the rules need, or "all" for every syscall. What state tracking needs
   * is added unless `withState` is false.
   */
  syscalls: ReadonlySet<string> | "all";
  /** Add the syscalls state tracking needs (default true). */
  withState?: boolean;
  /**
   * Shortest pause after a drain that found events, in ms (default 2). Fewer, larger drains keep
   * the agent cheap; the ring buffers the gap (16 MiB holds ~100k events).
   */
  pollMs?: number;
  /**
   * Longest pause while records flow, in ms (default 5, as kernel.max_delay): it bounds how late
   * a record is seen under load.
   */
  maxDelayMs?: number;
  /** The probe's wake-up budget in ms (default: half of `maxDelayMs`; see the module doc). */
  wakeupMs?: number;
  /** Events a drain aims to carry when they come slowly (default 8192). */
  batchEvents?: number;
  /** Largest drain in bytes (default 1 MiB). */
  maxBatchBytes?: number;
  /**
   * Most events per batch handed on (default 1024): a drain is decoded and passed on in slices
   * of this many events, so that few events are alive at once (see the module doc).
   */
  sliceEvents?: number;
  /** The probe object bytes (default: the built object). */
  object?: Uint8Array;
}

/** Counts of the live source. */
export interface LiveSourceStats extends ProbeCounters {
  /** Events decoded and handed to the pipeline. */
  received: number;
  batches: number;
}

/** The live source: an EventSource plus control of the kernel filter. */
export interface LiveSource extends EventSource {
  /** Changes the syscalls the kernel lets through (e.g. after a rules reload). */
  setSyscalls(names: ReadonlySet<string> | "all"): void;
  /**
   * Changes the syscalls and the kernel predicates together (none: every event of those
   * syscalls); see {@link Probe.setFilter}.
   */
  setKernelFilter(names: ReadonlySet<string> | "all", programs: KernelPrograms | undefined): void;
  /**
   * Replaces the probe's deny sets (response `deny`: executables and files) and the allowlist it
   * applies to them (written first: a new entry is never denied before its exemption is in).
   */
  setDeny(sets: { exec: DenySet; open: DenySet; allow: DenyAllow }): void;
  /** Counters of the source and the probe. */
  stats(): LiveSourceStats;
  /** The loaded probe. */
  readonly probe: Probe;
}

/**
 * Longest run of back-to-back drains (a ring filling faster than the pipeline empties it) before
 * the reader lets the event loop turn once: outputs write, the API answers, timers fire, and
 * drain chunks whose events were collected are reported free.
 */
const TURN_MS = 20;

/** Loads the probe and starts reading. Throws ProbeLoadError with a one-line fix hint. */
export async function openLiveSource(opts: LiveSourceOptions): Promise<LiveSource> {
  const wakeupMs = opts.wakeupMs ?? (opts.maxDelayMs ?? 5) / 2;
  const probe = await Probe.load({ ...opts, wakeupNs: Math.round(wakeupMs * 1e6) });
  const withState = opts.withState ?? true;
  const filter = (names: ReadonlySet<string> | "all") =>
    syscallFilterFor(names === "all" ? "all" : names, withState);
  probe.setSyscalls(filter(opts.syscalls));

  const pollMs = opts.pollMs ?? 2;
  const maxDelayMs = Math.max(pollMs, opts.maxDelayMs ?? 5);
  const batchEvents = opts.batchEvents ?? 8192;
  const maxBytes = opts.maxBatchBytes ?? 1 << 20;
  const sliceEvents = Math.max(1, opts.sliceEvents ?? 1024);
  const quarterRing = probe.ring.size / 4;
  let tsBase = bootEpochNs();
  let tsBaseAt = performance.now();
  let received = 0;
  let batches = 0;
  let num = 1;
  let closed = false;
  let lastDrainAt = performance.now();
  let lastDataAt = lastDrainAt;
  let lastWasFull = false;
  let pause = pollMs; // after the last drain
  let eventsPerMs = 0; // recent arrival rate
  let bytesPerMs = 0;
  let wake: (() => void) | undefined;
  // When the event loop last turned here (a timer or the ring's wait): back-to-back drains are
  // one promise after the other, which lets no timer, I/O or finalization task run meanwhile.
  let lastTurnAt = performance.now();
  /** The drain being handed on in slices: its bytes, and where the next slice starts. */
  let rest: { bytes: Uint8Array; view: DataView; at: number; tsBase: bigint } | undefined;
  /** Decodes the next slice of `rest`; an empty array when its remaining records were skipped. */
  const nextSlice = (): Event[] => {
    const r = rest!;
    const events: Event[] = [];
    const t0 = performance.now();
    r.at = decodeLiveRecords(r.bytes, r.view, r.at, sliceEvents, r.tsBase, num, events);
    decodeSeconds.inc((performance.now() - t0) / 1000);
    if (r.at >= r.bytes.length) rest = undefined;
    num += events.length;
    received += events.length;
    receivedMetric.inc(events.length);
    return events;
  };
  /** Sleeps `ms`, or until close(). */
  const nap = async (ms: number) => {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, ms);
    });
    wake = undefined;
    lastTurnAt = performance.now();
  };

  const ringReadSeconds = stageSeconds(metrics, "syscall", "ring_read");
  const decodeSeconds = stageSeconds(metrics, "syscall", "decode");
  const receivedMetric = metrics.counter(
    "saker_events_received_total",
    "Events read from the kernel ring buffer.",
  );
  metrics.counter(
    "saker_events_malformed_total",
    "Records from the kernel skipped because their layout did not fit their size.",
  ).labels().collect = () => liveDecodeStats.malformed;
  const drops = metrics.counter(
    "saker_kernel_drops_total",
    "Events the probe could not submit because the ring buffer was full, per CPU.",
    ["cpu"],
  );
  let countersCache: ProbeCounters | undefined;
  let countersAt = 0;
  const counters = () => {
    if (!countersCache || performance.now() - countersAt > 200) {
      countersCache = probe.counters();
      countersAt = performance.now();
    }
    return countersCache;
  };
  for (let cpu = 0; cpu < probe.cpus; cpu++) {
    drops.labels(String(cpu)).collect = () => counters().dropsPerCpu[cpu] ?? 0;
  }
  metrics.counter(
    "saker_kernel_filtered_total",
    "Events the probe dropped because no loaded rule could match them (kernel predicates).",
  ).labels().collect = () => counters().filtered;
  metrics.counter(
    "saker_kernel_denied_total",
    "Calls the probe stopped for response deny (SIGKILL sent), counted in the kernel: every " +
      "denial, its record kept or lost.",
  ).labels().collect = () => counters().denied;

  const buffers = metrics.counter(
    "saker_ring_drain_buffers_total",
    "Buffers ring drains were copied into: a chunk allocated, a chunk reused once its events " +
      "were collected, or a buffer of the drain's own (every chunk still in use).",
    ["kind"],
  );
  const bufferStat = (k: keyof ReturnType<typeof probe.ring.bufferStats>) => () =>
    probe.ring.bufferStats()[k];
  buffers.labels("chunk_allocated").collect = bufferStat("chunksAllocated");
  buffers.labels("chunk_reused").collect = bufferStat("chunksReused");
  buffers.labels("own").collect = bufferStat("ownBuffers");

  let detached = false;
  const detach = () => {
    closed = true;
    wake?.();
    if (!detached) {
      detached = true;
      probe.close();
    }
  };

  const readable = new ReadableStream<Event[]>({
    pull: async (controller) => {
      // The rest of the last drain first (already taken from the ring, so kept even on close).
      while (rest !== undefined) {
        const events = nextSlice();
        if (events.length > 0) {
          controller.enqueue(events);
          return;
        }
      }
      while (!closed) {
        // Keep drains `pause` apart while events flow: fewer, larger batches. A drain that hit
        // the size cap means the ring is filling fast: drain again at once.
        const since = performance.now() - lastDrainAt;
        if (since < pause && !lastWasFull) await nap(pause - since);
        else if (performance.now() - lastTurnAt >= TURN_MS) await nap(0);
        if (closed) break;
        const t0 = performance.now();
        const d = probe.ring.drain(maxBytes);
        const now = performance.now();
        ringReadSeconds.inc((now - t0) / 1000);
        const span = Math.max(1, now - lastDrainAt);
        lastDrainAt = now;
        lastWasFull = d !== null && d.bytes.length >= maxBytes / 2;
        if (d) {
          lastDataAt = now;
          eventsPerMs = (eventsPerMs + d.records / span) / 2;
          bytesPerMs = (bytesPerMs + d.bytes.length / span) / 2;
          pause = Math.min(batchEvents / eventsPerMs, quarterRing / bytesPerMs);
          pause = Math.max(pollMs, Math.min(maxDelayMs, pause));
          if (lastDrainAt - tsBaseAt > 10_000) {
            tsBase = bootEpochNs(); // follow clock adjustments
            tsBaseAt = lastDrainAt;
          }
          batches++;
          rest = { bytes: d.bytes, view: d.view, at: 0, tsBase };
          while (rest !== undefined) {
            const events = nextSlice();
            if (events.length > 0) {
              controller.enqueue(events);
              return;
            }
          }
          continue;
        }
        eventsPerMs = bytesPerMs = 0;
        pause = 0;
        if (wakeupMs > 0 && now - lastDataAt > wakeupMs + 1) {
          // Every CPU's last wake-up is now older than the budget, so the next record on any
          // CPU wakes the ring: block on it, with no timeout (close() ends the wait), so that an
          // idle agent has no wake-up of its own.
          await probe.ring.wait(-1);
          lastTurnAt = performance.now();
        } else {
          // A record that came soon after a wake-up woke no one: look once more when the budget
          // has passed (a single timer, so that a lone record costs two wake-ups in all).
          await nap(Math.max(1, Math.min(maxDelayMs, wakeupMs + 2 - (now - lastDataAt))));
        }
      }
      controller.close();
    },
    // A reader that stops reading (a `break` out of `for await`) cancels the stream: the probe is
    // detached then, as on close().
    cancel: () => detach(),
  }, { highWaterMark: 0 });

  return {
    source: "syscall",
    readable,
    probe,
    setSyscalls(names) {
      probe.setSyscalls(filter(names));
    },
    setKernelFilter(names, programs) {
      probe.setFilter(filter(names), programs);
    },
    setDeny(sets) {
      probe.setDenyAllow(sets.allow);
      probe.setDeny("exec", sets.exec);
      probe.setDeny("open", sets.open);
    },
    stats() {
      return { ...probe.counters(), received, batches };
    },
    close() {
      detach();
      return Promise.resolve();
    },
  };
}
