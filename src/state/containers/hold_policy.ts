/**
 * Which events wait for container metadata: those of a container whose metadata is pending
 * while the runtime can be expected to answer, until the answer comes or the wait runs out once
 * (a container that timed out does not make its later events wait again). Host processes and
 * containers already known never wait, and without a reachable runtime nothing waits.
 *
 * The pipeline's hold (pipeline/hold.ts) asks {@link ContainerHoldPolicy.keyOf} after each
 * event's state update; the answer is a map read for container events and one comparison for
 * host events.
 *
 * @example
 * ```ts
 * import { ContainerHoldPolicy } from "./hold_policy.ts";
 * const policy = new ContainerHoldPolicy(containerStore);
 * policy.keyOf(ev); // the container id while its metadata is pending, else undefined
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import { freezeEvent } from "../freeze.ts";
import type { ContainerStore } from "./runtime.ts";

/** Most timed-out containers remembered (older ones are forgotten together). */
const MAX_EXPIRED = 4096;

/** The hold policy of container metadata. */
export class ContainerHoldPolicy {
  readonly #store: ContainerStore;
  readonly #expired = new Set<string>();

  constructor(store: ContainerStore) {
    this.#store = store;
  }

  /** The container id of `ev` while its metadata is pending, else undefined. */
  keyOf(ev: Event): string | undefined {
    const id = ev.thread?.proc.containerId;
    if (id === undefined || id === "") return undefined;
    if (this.#store.status(id) !== "pending") return undefined;
    if (this.#expired.has(id) || !this.#store.reachable) return undefined;
    return id;
  }

  /** Copies the event's thread, process and ancestors (see state/freeze.ts). */
  freeze(ev: Event): void {
    freezeEvent(ev);
  }

  /** Calls `cb(id, complete)` when a container's metadata lookup settles. */
  onReady(cb: (key: string, ready: boolean) => void): void {
    this.#store.onSettled((id) => cb(id, this.#store.status(id) === "complete"));
  }

  /** Remembers that `key` waited the whole bound. */
  expired(key: string): void {
    if (this.#expired.size >= MAX_EXPIRED) this.#expired.clear();
    this.#expired.add(key);
  }
}
