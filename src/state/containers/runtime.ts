/**
 * Container metadata from the runtime's Docker-compatible API (docker, and podman's
 * `podman system service`), over its unix socket. Lookups run in the background: the event path
 * asks {@link ContainerStore.get}, which only reads a cache, and {@link ContainerStore.request},
 * which starts a lookup at most once per container (retried with back-off when the runtime
 * does not answer). A slow or absent runtime therefore never stalls the pipeline; fields stay
 * undefined until the answer arrives.
 * @module
 */
import type { ContainerInfo, ContainerMount } from "../model.ts";
import type { ContainerSource } from "../store.ts";
import { splitImage } from "./image.ts";

/** Sockets tried, in order, when none are configured. */
export const DEFAULT_SOCKETS: readonly string[] = [
  "/run/podman/podman.sock",
  "/var/run/docker.sock",
  "/run/docker.sock",
];

/** Options of a {@link ContainerStore}. */
export interface ContainerStoreOptions {
  /** Unix sockets serving the Docker-compatible API. */
  sockets?: readonly string[];
  /** Per-request timeout, ms (default 2000). */
  timeoutMs?: number;
  /** Delay before retrying a failed lookup, ms (doubles each time; default 1000). */
  retryMs?: number;
  /** Attempts per container before giving up (default 5). */
  maxAttempts?: number;
  /** Most containers cached (default 4096); the oldest are forgotten first. */
  maxEntries?: number;
  /** After giving up on a container, how long until a new sighting asks again, ms (60000). */
  reaskMs?: number;
}

/** Counters of a {@link ContainerStore}. */
export interface ContainerStats {
  lookups: number;
  found: number;
  failures: number;
  /** Lookups abandoned after every attempt failed. */
  givenUp: number;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? v as Json : {};
const s = (v: unknown): string => (typeof v === "string" ? v : "");

/** Maps a Docker-compatible `GET /containers/ID/json` answer to {@link ContainerInfo}. */
export function fromInspect(body: Json, type: string): ContainerInfo {
  const config = obj(body.Config);
  const host = obj(body.HostConfig);
  const state = obj(body.State);
  const net = obj(body.NetworkSettings);
  const image = s(config.Image) || s(body.ImageName);
  const split = splitImage(image);
  const mounts: ContainerMount[] = Array.isArray(body.Mounts)
    ? (body.Mounts as unknown[]).map((m) => {
      const o = obj(m);
      return {
        source: s(o.Source),
        dest: s(o.Destination),
        mode: s(o.Mode),
        rw: Boolean(o.RW),
        propagation: s(o.Propagation),
      };
    })
    : [];
  let ip = s(net.IPAddress);
  if (!ip) {
    for (const n of Object.values(obj(net.Networks))) {
      ip = s(obj(n).IPAddress);
      if (ip) break;
    }
  }
  const started = Date.parse(s(state.StartedAt) || s(body.Created));
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(config.Labels))) labels[k] = String(v);
  return {
    id: s(body.Id),
    type,
    name: s(body.Name).replace(/^\//, ""),
    image,
    imageId: s(body.Image).replace(/^sha256:/, "").slice(0, 12),
    imageRepository: split.repository,
    imageTag: split.tag,
    imageDigest: split.digest,
    privileged: Boolean(host.Privileged),
    mounts,
    labels,
    startTs: Number.isFinite(started) && started > 0 ? BigInt(started) * 1_000_000n : undefined,
    ip,
    hostPid: s(host.PidMode) === "host",
    hostNetwork: s(host.NetworkMode) === "host",
    hostIpc: s(host.IpcMode) === "host",
  };
}

/** A response: status code and body text. */
export interface HttpAnswer {
  status: number;
  body: string;
}

function indexOfCrlf(b: Uint8Array, from: number, double: boolean): number {
  for (let i = from; i + 1 < b.length; i++) {
    if (b[i] !== 13 || b[i + 1] !== 10) continue;
    if (!double) return i;
    if (b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** Decodes an HTTP/1.x response (plain or chunked body). */
export function parseHttpResponse(raw: Uint8Array): HttpAnswer {
  const headEnd = indexOfCrlf(raw, 0, true);
  if (headEnd < 0) throw new Error("truncated HTTP response");
  const latin1 = new TextDecoder("latin1");
  const head = latin1.decode(raw.subarray(0, headEnd));
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? 0);
  let body = raw.subarray(headEnd + 4);
  if (/^transfer-encoding:\s*chunked/im.test(head)) {
    const parts: Uint8Array[] = [];
    let pos = 0;
    for (;;) {
      const lineEnd = indexOfCrlf(body, pos, false);
      if (lineEnd < 0) break;
      const size = parseInt(latin1.decode(body.subarray(pos, lineEnd)), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) {
      joined.set(p, off);
      off += p.length;
    }
    body = joined;
  }
  return { status, body: new TextDecoder().decode(body) };
}

/** GET `path` from an HTTP server on a unix socket (HTTP/1.0, connection closed after). */
export async function unixGet(
  socket: string,
  path: string,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }, timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`));
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(16384);
    let total = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      total += n;
      if (total > 8 << 20) throw new Error("answer too large");
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return parseHttpResponse(all);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

interface Pending {
  type: string;
  attempts: number;
}

/** Cached, asynchronously fetched container metadata. */
export class ContainerStore implements ContainerSource {
  readonly stats: ContainerStats = { lookups: 0, found: 0, failures: 0, givenUp: 0 };
  #cache = new Map<string, ContainerInfo>();
  #pending = new Map<string, Pending>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #inflight = new Set<Promise<void>>();
  #sockets: readonly string[];
  #timeoutMs: number;
  #retryMs: number;
  #maxAttempts: number;
  #maxEntries: number;
  #closed = false;
  #gaveUpAt = new Map<string, number>();
  #reaskMs: number;

  constructor(opts: ContainerStoreOptions = {}) {
    this.#sockets = opts.sockets ?? DEFAULT_SOCKETS;
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#maxAttempts = opts.maxAttempts ?? 5;
    this.#maxEntries = opts.maxEntries ?? 4096;
    this.#reaskMs = opts.reaskMs ?? 60_000;
  }

  get(id: string): ContainerInfo | undefined {
    return this.#cache.get(id);
  }

  set(info: ContainerInfo): void {
    if (this.#cache.size >= this.#maxEntries && !this.#cache.has(info.id)) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(info.id, info);
  }

  request(id: string, type: string, _pid: number): void {
    if (this.#closed || this.#pending.has(id)) return;
    const known = this.#cache.get(id);
    if (known !== undefined) {
      // A container whose runtime never answered is asked again now and then (the runtime's
      // API may have started after the agent).
      const gaveUp = this.#gaveUpAt.get(id);
      if (gaveUp === undefined || Date.now() - gaveUp < this.#reaskMs) return;
      this.#gaveUpAt.delete(id);
    }
    this.#pending.set(id, { type, attempts: 0 });
    this.#start(id);
  }

  #start(id: string): void {
    const p = this.#lookup(id).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  async #lookup(id: string): Promise<void> {
    const pending = this.#pending.get(id);
    if (!pending || this.#closed) return;
    pending.attempts++;
    this.stats.lookups++;
    for (const socket of this.#sockets) {
      try {
        const answer = await unixGet(socket, `/containers/${id}/json`, this.#timeoutMs);
        if (answer.status !== 200) continue;
        const type = pending.type === "docker" && socket.includes("podman")
          ? "podman"
          : pending.type;
        this.set(fromInspect(JSON.parse(answer.body), type));
        this.#pending.delete(id);
        this.stats.found++;
        return;
      } catch {
        // Socket absent or runtime not answering: try the next one.
      }
    }
    this.stats.failures++;
    if (pending.attempts >= this.#maxAttempts || this.#closed) {
      this.#pending.delete(id);
      this.stats.givenUp++;
      // Remember that nothing is known, so fields stay <NA> without a lookup per sighting.
      this.set({ id, type: pending.type });
      if (this.#gaveUpAt.size > this.#maxEntries) this.#gaveUpAt.clear();
      this.#gaveUpAt.set(id, Date.now());
      return;
    }
    const delay = this.#retryMs * 2 ** (pending.attempts - 1);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.#start(id);
    }, delay);
    Deno.unrefTimer(t);
    this.#timers.add(t);
  }

  /** Forgets a container (e.g. when it is gone), so a later sighting looks it up again. */
  forget(id: string): void {
    this.#cache.delete(id);
    this.#pending.delete(id);
  }

  /** Resolves when no lookup is running (tests; shutdown). */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Stops retries and waits for running lookups. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.settled();
  }
}
