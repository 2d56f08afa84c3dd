/**
 * Container metadata, learnt as early as the runtimes tell it: the runtimes' event streams
 * (watch.ts) announce a container at `create`, before its first process runs, and the full
 * record is fetched from the Docker-compatible API (docker, podman's `podman system service`)
 * at once. A container first seen in an event before any announcement is looked up then.
 *
 * Nothing here blocks the event path: {@link ContainerStore.get} and
 * {@link ContainerStore.status} read a cache, {@link ContainerStore.request} starts a lookup at
 * most once per container (retried quickly, then with back-off).
 *
 * Podman answers an inspect only once it holds the container's lock, which `podman run` keeps
 * while it starts the container and again while `--rm` removes it: a container that lives a
 * fraction of a second is often gone before the answer, which is then "no such container". So
 * while a container is pending, its sightings and lookups also read its OCI bundle
 * (`config.json`, which podman writes before the container runs; reading it takes no lock); a
 * container the runtime no longer knows is then complete with what the bundle and the runtime's
 * events told (privileged, host namespaces, name, image, labels) instead of unknown.
 *
 * What the pipeline does with a container whose metadata is still pending (hold its events a
 * bounded time) is the pipeline's business; {@link ContainerStore.onSettled} tells it when to go
 * on.
 *
 * @example
 * ```ts
 * import { ContainerStore } from "./runtime.ts";
 * const store = new ContainerStore({ sockets: ["/run/podman/podman.sock"] });
 * store.start(); // follow the runtimes' events
 * store.request("ab".repeat(32), "podman", 4242);
 * store.status("ab".repeat(32)); // "pending", then "complete"
 * await store.close();
 * ```
 * @module
 */
import type { ContainerInfo } from "../model.ts";
import type { ContainerSource } from "../store.ts";
import { fromBundle, fromInspect } from "./inspect.ts";
import { splitImage } from "./image.ts";
import { DEFAULT_SOCKETS } from "./paths.ts";
import { unixGet } from "./unix_http.ts";
import type { RuntimeEvent, RuntimeEventSource } from "./watch.ts";

/** Options of a {@link ContainerStore}. */
export interface ContainerStoreOptions {
  /** Unix sockets serving the Docker-compatible API. */
  sockets?: readonly string[];
  /** Sources of runtime events, started by {@link ContainerStore.start} (default none). */
  events?: readonly RuntimeEventSource[];
  /** Per-request timeout, ms (default 2000). */
  timeoutMs?: number;
  /** Delay before the first retry of a failed lookup, ms (doubles each time; default 50). */
  retryMs?: number;
  /** Attempts per container before giving up (default 8: about 6 s with the default delay). */
  maxAttempts?: number;
  /** Most containers cached (default 4096); the oldest are forgotten first. */
  maxEntries?: number;
  /** After giving up on a container, how long until a new sighting asks again, ms (60000). */
  reaskMs?: number;
  /**
   * Directories of podman's containers by id (`ID/userdata/config.json`, the OCI bundle), read
   * while a container's metadata is pending (default none).
   */
  bundleDirs?: readonly string[];
}

/** Counters of a {@link ContainerStore}. */
export interface ContainerStats {
  lookups: number;
  found: number;
  failures: number;
  /** Lookups abandoned after every attempt failed. */
  givenUp: number;
  /** Containers gone before the runtime answered, completed from their OCI bundle. */
  fromBundle: number;
  /** Containers announced by a runtime event before any of their processes was seen. */
  announced: number;
  /** Containers whose metadata was complete when their first event was seen, or not. */
  readyAtFirstEvent: number;
  lateForFirstEvent: number;
}

/**
 * Where a container's metadata stands: `complete` (the runtime answered), `pending` (a lookup
 * is under way), `failed` (every attempt failed; fields stay as far as known).
 */
export type MetadataStatus = "complete" | "pending" | "failed";

interface Entry {
  info: ContainerInfo;
  status: MetadataStatus;
  /** Lookup attempts made for the current status. */
  attempts: number;
  /** A lookup is running or scheduled. */
  busy: boolean;
  /** Date.now() when a runtime event announced it / when a process of it was first seen. */
  announcedAt: number;
  seenAt: number;
  /** Date.now() when the status last became complete or failed. */
  settledAt: number;
  /** The source that announced it first. */
  announcedBy: string;
  /** What its OCI bundle said, once read (see the module's header). */
  bundle?: Partial<ContainerInfo>;
  /** A read of the bundle is under way. */
  bundleReading: boolean;
}

/** How long a lookup success keeps the API counted as reachable without an event stream, ms. */
const REACHABLE_MS = 5 * 60_000;

/** Cached, asynchronously fetched container metadata. */
export class ContainerStore implements ContainerSource {
  readonly stats: ContainerStats = {
    lookups: 0,
    found: 0,
    failures: 0,
    givenUp: 0,
    fromBundle: 0,
    announced: 0,
    readyAtFirstEvent: 0,
    lateForFirstEvent: 0,
  };
  #entries = new Map<string, Entry>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #inflight = new Set<Promise<void>>();
  #listeners: Array<(id: string) => void> = [];
  #sockets: readonly string[];
  #events: readonly RuntimeEventSource[];
  #timeoutMs: number;
  #retryMs: number;
  #maxAttempts: number;
  #maxEntries: number;
  #reaskMs: number;
  #bundleDirs: readonly string[];
  #closed = false;
  #lastFoundAt = 0;
  #lastFailedAt = 0;

  constructor(opts: ContainerStoreOptions = {}) {
    this.#sockets = opts.sockets ?? DEFAULT_SOCKETS;
    this.#events = opts.events ?? [];
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#retryMs = opts.retryMs ?? 50;
    this.#maxAttempts = opts.maxAttempts ?? 8;
    this.#maxEntries = opts.maxEntries ?? 4096;
    this.#reaskMs = opts.reaskMs ?? 60_000;
    this.#bundleDirs = opts.bundleDirs ?? [];
  }

  /** Starts following the runtimes' events. */
  start(): void {
    for (const source of this.#events) source.start((e) => this.#onRuntimeEvent(e));
  }

  /** The event sources and whether each is connected (for /metrics). */
  get sources(): ReadonlyArray<{ name: string; live: boolean }> {
    return this.#events;
  }

  get(id: string): ContainerInfo | undefined {
    return this.#entries.get(id)?.info;
  }

  /** Where the metadata of `id` stands; undefined for a container never seen nor announced. */
  status(id: string): MetadataStatus | undefined {
    return this.#entries.get(id)?.status;
  }

  /**
   * True when a lookup can be expected to answer: an API event stream is connected, or a
   * lookup succeeded lately and none failed since. Waiting for metadata makes sense only then.
   */
  get reachable(): boolean {
    for (const s of this.#events) if (s.live && s.name.startsWith("api:")) return true;
    return this.#lastFoundAt > this.#lastFailedAt &&
      Date.now() - this.#lastFoundAt < REACHABLE_MS;
  }

  /** Calls `cb(id)` whenever a container's lookup settles (complete or failed). */
  onSettled(cb: (id: string) => void): () => void {
    this.#listeners.push(cb);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== cb);
    };
  }

  set(info: ContainerInfo): void {
    const e = this.#entry(info.id, info.type);
    e.info = info;
    this.#settle(e, "complete");
  }

  request(id: string, type: string, _pid: number): void {
    const known = this.#entries.get(id);
    if (known !== undefined && known.seenAt === 0) {
      known.seenAt = Date.now();
      if (known.status === "complete") this.stats.readyAtFirstEvent++;
      else this.stats.lateForFirstEvent++;
    }
    if (this.#closed) return;
    if (known === undefined) {
      const e = this.#entry(id, type);
      e.seenAt = Date.now();
      this.stats.lateForFirstEvent++;
      this.#readBundle(e);
      this.#lookup(e);
      return;
    }
    if (known.status === "pending") this.#readBundle(known);
    if (known.status === "failed" && !known.busy && Date.now() - known.settledAt >= this.#reaskMs) {
      // The runtime's API may have started after the agent: ask again now and then.
      known.status = "pending";
      known.attempts = 0;
      this.#lookup(known);
    }
  }

  #onRuntimeEvent(ev: RuntimeEvent): void {
    if (this.#closed) return;
    switch (ev.action) {
      case "create":
      case "init":
      case "start":
      case "restart":
        break;
      default:
        return;
    }
    let e = this.#entries.get(ev.id);
    if (e === undefined) {
      e = this.#entry(ev.id, ev.type);
      e.announcedAt = Date.now();
      e.announcedBy = ev.source;
      this.stats.announced++;
    }
    if (e.status !== "complete") {
      // What the event carries, until the full record arrives.
      const info = e.info;
      if (ev.name) info.name ??= ev.name;
      if (ev.image) info.image ??= ev.image;
      if (Object.keys(ev.labels).length > 0) info.labels ??= ev.labels;
      if (!e.busy) {
        if (e.status === "failed") {
          e.status = "pending";
          e.attempts = 0;
        }
        this.#lookup(e);
      }
    } else if (ev.action !== "create" && !e.info.ip && !e.info.hostNetwork && !e.busy) {
      // Looked up at create: the network (and its address) is set up at init.
      this.#lookup(e);
    }
  }

  #entry(id: string, type: string): Entry {
    let e = this.#entries.get(id);
    if (e !== undefined) return e;
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    e = {
      info: { id, type },
      status: "pending",
      attempts: 0,
      busy: false,
      announcedAt: 0,
      seenAt: 0,
      settledAt: 0,
      announcedBy: "",
      bundleReading: false,
    };
    this.#entries.set(id, e);
    return e;
  }

  #settle(e: Entry, status: MetadataStatus): void {
    const was = e.status;
    e.status = status;
    e.settledAt = Date.now();
    if (was !== "pending") return;
    for (const l of this.#listeners) l(e.info.id);
  }

  /**
   * Reads the container's OCI bundle unless it was read (see the module's header): podman writes
   * it after announcing the container, so each sighting and lookup of a pending one tries.
   */
  #readBundle(e: Entry): void {
    if (e.bundle !== undefined || e.bundleReading || this.#bundleDirs.length === 0) return;
    e.bundleReading = true;
    const p = (async () => {
      for (const dir of this.#bundleDirs) {
        try {
          const text = await Deno.readTextFile(`${dir}/${e.info.id}/userdata/config.json`);
          e.bundle = fromBundle(JSON.parse(text));
          if (e.bundle !== undefined) return;
        } catch {
          // Not this runtime's, or already removed.
        }
      }
    })().finally(() => {
      e.bundleReading = false;
      this.#inflight.delete(p);
    });
    this.#inflight.add(p);
  }

  #lookup(e: Entry): void {
    e.busy = true;
    const p = this.#attempt(e).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  async #attempt(e: Entry): Promise<void> {
    if (this.#closed) {
      e.busy = false;
      return;
    }
    const id = e.info.id;
    e.attempts++;
    this.stats.lookups++;
    if (e.status === "pending") this.#readBundle(e);
    let gone = false;
    for (const socket of this.#sockets) {
      try {
        const answer = await unixGet(socket, `/containers/${id}/json`, this.#timeoutMs);
        gone ||= answer.status === 404;
        if (answer.status !== 200) continue;
        const type = e.info.type === "docker" && socket.includes("podman") ? "podman" : e.info.type;
        const info = fromInspect(JSON.parse(answer.body), type);
        if (info.id !== id) continue;
        e.busy = false;
        e.info = info;
        this.stats.found++;
        this.#lastFoundAt = Date.now();
        if (this.#entries.get(id) === e) this.#settle(e, "complete");
        return;
      } catch {
        // Socket absent or runtime not answering: try the next one.
      }
    }
    if (gone && e.bundle !== undefined && e.status !== "complete") {
      // Removed before the runtime answered: what its bundle and events told is all there is.
      e.busy = false;
      const image = e.info.image ?? "";
      const split = splitImage(image);
      e.info = {
        ...e.info,
        ...e.bundle,
        imageRepository: image ? split.repository : undefined,
        imageTag: image ? split.tag : undefined,
      };
      this.stats.fromBundle++;
      if (this.#entries.get(id) === e) this.#settle(e, "complete");
      return;
    }
    this.stats.failures++;
    this.#lastFailedAt = Date.now();
    if (e.status === "complete") {
      e.busy = false; // a refresh that failed keeps what is known
      return;
    }
    if (e.attempts >= this.#maxAttempts || this.#closed) {
      e.busy = false;
      this.stats.givenUp++;
      this.#settle(e, "failed");
      return;
    }
    const delay = this.#retryMs * 2 ** (e.attempts - 1);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      const p = this.#attempt(e).finally(() => this.#inflight.delete(p));
      this.#inflight.add(p);
    }, delay);
    Deno.unrefTimer(t);
    this.#timers.add(t);
  }

  /**
   * Timings of a container, ms: from its announcement by a runtime event and from its first
   * event to its metadata being settled (for measurements; undefined parts unknown).
   */
  timing(id: string): { announcedBy: string; announcedToSeen?: number; seenToSettled?: number } {
    const e = this.#entries.get(id);
    if (!e) return { announcedBy: "" };
    return {
      announcedBy: e.announcedBy,
      announcedToSeen: e.announcedAt && e.seenAt ? e.seenAt - e.announcedAt : undefined,
      seenToSettled: e.seenAt && e.settledAt ? e.settledAt - e.seenAt : undefined,
    };
  }

  /** Forgets a container (e.g. when it is gone), so a later sighting looks it up again. */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  /** Resolves when no lookup is running (tests; shutdown). */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Stops retries and event sources, and waits for running lookups. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(this.#events.map((s) => s.close()));
    await this.settled();
  }
}
