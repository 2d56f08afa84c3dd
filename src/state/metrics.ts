/**
 * Exposes a StateStore's counters (and its container lookups') as Prometheus metrics, read at
 * render time: nothing is added to the per-event path.
 *
 * @example
 * ```ts
 * import { StateStore } from "./store.ts";
 * import { registerStateMetrics } from "./metrics.ts";
 * registerStateMetrics(new StateStore());
 * ```
 * @module
 */
import { metrics } from "../metrics.ts";
import type { StateStore } from "./store.ts";
import type { ContainerStore } from "./containers/runtime.ts";

/** Registers saker_state_* metrics for `store` (and saker_container_* for `containers`). */
export function registerStateMetrics(store: StateStore, containers?: ContainerStore): void {
  const counter = (name: string, help: string, read: () => number) => {
    metrics.counter(name, help).labels().collect = read;
  };
  const s = store.stats;
  counter(
    "saker_state_threads_dropped_total",
    "Threads not tracked because the thread table was full.",
    () => s.threadsDropped,
  );
  counter(
    "saker_state_thread_misses_total",
    "Events whose thread was unknown and could not be looked up.",
    () => s.threadMisses,
  );
  counter(
    "saker_state_threads_from_proc_total",
    "Threads read from /proc because events named them before the state knew them.",
    () => s.threadsFromProc,
  );
  counter(
    "saker_state_threads_purged_total",
    "Threads removed because they were gone from /proc (their exit event was lost).",
    () => s.threadsPurged,
  );
  counter(
    "saker_state_fd_misses_total",
    "Events naming an fd the state did not know.",
    () => s.fdMisses,
  );
  counter(
    "saker_state_fd_stale_total",
    "fd table entries dropped because the kernel showed the number names another file now.",
    () => s.fdStale,
  );
  if (containers) {
    const c = containers.stats;
    counter("saker_container_lookups_total", "Container metadata lookups.", () => c.lookups);
    counter(
      "saker_container_lookup_failures_total",
      "Container metadata lookups that got no answer.",
      () => c.failures,
    );
    counter(
      "saker_container_announced_total",
      "Containers a runtime event announced before any of their processes was seen.",
      () => c.announced,
    );
    const first = metrics.counter(
      "saker_container_first_events_total",
      "Containers by whether their metadata was complete when their first event was seen.",
      ["metadata"],
    );
    first.labels("ready").collect = () => c.readyAtFirstEvent;
    first.labels("pending").collect = () => c.lateForFirstEvent;
    const live = metrics.gauge(
      "saker_container_event_source_up",
      "1 while a runtime event source is connected (API stream or podman's event log).",
      ["source"],
    );
    for (const src of containers.sources) live.labels(src.name).collect = () => src.live ? 1 : 0;
  }
}
