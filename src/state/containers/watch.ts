/**
 * Learning about containers when they are created, before their first process runs: the
 * runtimes' own event streams. Two kinds of source, one interface:
 *
 * - {@link ApiEventStream}: the Docker-compatible `GET /events` of docker and of podman's
 *   `podman system service`, one JSON object per line, reconnected with back-off.
 * - {@link PodmanEventLog}: podman's own event log file (`events_logger = "file"`, the default
 *   where podman runs without systemd), tailed with inotify. Podman writes it from the process
 *   that runs the command, so it needs no service; its `create` line appears ~100-250 ms before
 *   the container's first process execs, while the API stream relays the same file and was
 *   measured to deliver anywhere from 300 ms before to 250 ms after that exec.
 *
 * Both report {@link RuntimeEvent}s with what the event itself carries (id, name, image,
 * labels): enough to start the full lookup at once, and the Kubernetes labels before any
 * lookup answers.
 *
 * @example
 * ```ts
 * import { ApiEventStream } from "./watch.ts";
 * const stream = new ApiEventStream("/run/podman/podman.sock");
 * stream.start((e) => console.log(e.action, e.id, e.name));
 * await stream.close();
 * ```
 * @module
 */
import { unixGet, unixStreamLines } from "./unix_http.ts";

/** A container lifecycle event as a runtime reports it. */
export interface RuntimeEvent {
  /** Full container id. */
  id: string;
  /** create, init, start, die, remove ... (podman's `died` is reported as `die`). */
  action: string;
  /** Runtime kind: podman or docker. */
  type: string;
  name: string;
  image: string;
  /** The container's labels (the event's attributes less the runtime's own keys). */
  labels: Record<string, string>;
  /** Which source reported it (for measurements). */
  source: string;
}

/** A source of {@link RuntimeEvent}s. */
export interface RuntimeEventSource {
  /** Name for logs and metrics, e.g. `api:/run/podman/podman.sock` or `podman-log`. */
  readonly name: string;
  /** True while connected: a container created now would be reported. */
  readonly live: boolean;
  /** Starts reporting to `onEvent` (reconnecting on its own until closed). */
  start(onEvent: (e: RuntimeEvent) => void): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? v as Json : {};
const s = (v: unknown): string => (typeof v === "string" ? v : "");

/** Attribute keys the runtimes add to an event beside the container's labels. */
const NOT_LABELS = new Set([
  "name",
  "image",
  "containerExitCode",
  "exitCode",
  "podId",
  "signal",
  "execID",
]);

function labelsOf(attrs: Json): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (!NOT_LABELS.has(k)) out[k] = String(v);
  return out;
}

const ID_RE = /^[0-9a-f]{64}$/;

/**
 * Parses one line of the Docker-compatible `/events` stream. Undefined for other kinds of
 * events (images, networks, volumes) and for lines that are not events.
 */
export function parseApiEvent(
  line: string,
  type: string,
  source = "api",
): RuntimeEvent | undefined {
  let j: Json;
  try {
    j = obj(JSON.parse(line));
  } catch {
    return undefined;
  }
  if ((s(j.Type) || "container") !== "container") return undefined;
  const actor = obj(j.Actor);
  const id = s(actor.ID) || s(j.id);
  if (!ID_RE.test(id)) return undefined;
  const attrs = obj(actor.Attributes);
  // Docker writes exec events as "exec_create: sh -c ...": the action is the first word.
  const action = (s(j.Action) || s(j.status)).split(":")[0];
  return {
    id,
    action,
    type,
    name: s(attrs.name),
    image: s(attrs.image) || s(j.from),
    labels: labelsOf(attrs),
    source,
  };
}

/** Parses one line of podman's event log file. Undefined for non-container lines. */
export function parsePodmanLogLine(line: string): RuntimeEvent | undefined {
  let j: Json;
  try {
    j = obj(JSON.parse(line));
  } catch {
    return undefined;
  }
  if (s(j.Type) !== "container") return undefined;
  const id = s(j.ID);
  if (!ID_RE.test(id)) return undefined;
  const status = s(j.Status);
  return {
    id,
    action: status === "died" ? "die" : status,
    type: "podman",
    name: s(j.Name),
    image: s(j.Image),
    labels: labelsOf(obj(j.Attributes)),
    source: "podman-log",
  };
}

/** Back-off between reconnections: 0.5 s doubling to 30 s, reset once connected. */
class Backoff {
  #ms = 500;
  next(): number {
    const ms = this.#ms;
    this.#ms = Math.min(this.#ms * 2, 30_000);
    return ms;
  }
  reset(): void {
    this.#ms = 500;
  }
}

function sleep(ms: number, signal: { closed: boolean; wake?: () => void }): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(res, ms);
    Deno.unrefTimer(t);
    signal.wake = () => {
      clearTimeout(t);
      res();
    };
  });
}

/** The Docker-compatible `/events` stream of one runtime socket. */
export class ApiEventStream implements RuntimeEventSource {
  readonly name: string;
  #socket: string;
  #live = false;
  #closed = { closed: false, wake: undefined as (() => void) | undefined };
  #stream: { close(): void } | undefined;
  #loop: Promise<void> | undefined;

  constructor(socket: string) {
    this.#socket = socket;
    this.name = `api:${socket}`;
  }

  get live(): boolean {
    return this.#live;
  }

  start(onEvent: (e: RuntimeEvent) => void): void {
    if (this.#loop) return;
    const filter = encodeURIComponent(JSON.stringify({ type: ["container"] }));
    this.#loop = (async () => {
      const backoff = new Backoff();
      // Which runtime serves the socket decides container.type; /version tells (podman's
      // compatible API names itself in Components).
      let type = this.#socket.includes("podman") ? "podman" : "docker";
      while (!this.#closed.closed) {
        const stream = unixStreamLines(
          this.#socket,
          `/events?filters=${filter}`,
          (line) => {
            const e = parseApiEvent(line, type, this.name);
            if (e) onEvent(e);
          },
        );
        this.#stream = stream;
        try {
          const code = await stream.status;
          if (code === 200) {
            this.#live = true;
            backoff.reset();
            type = await runtimeKind(this.#socket, type);
          }
          await stream.done;
        } catch {
          // refused or absent: retried below
        }
        this.#live = false;
        if (!this.#closed.closed) await sleep(backoff.next(), this.#closed);
      }
    })();
  }

  async close(): Promise<void> {
    this.#closed.closed = true;
    this.#closed.wake?.();
    this.#stream?.close();
    await this.#loop;
  }
}

/** podman or docker, from the socket's `/version` answer (the guess when it does not say). */
async function runtimeKind(socket: string, guess: string): Promise<string> {
  try {
    const v = await unixGet(socket, "/version", 2000);
    if (v.status !== 200) return guess;
    return /podman/i.test(v.body) ? "podman" : "docker";
  } catch {
    return guess;
  }
}

/**
 * Podman's event log file, followed from its end as it grows (a truncated or replaced file is
 * read again from its start). Where the file does not exist the source checks again now and
 * then, so a podman installed or first run after the agent starts is picked up.
 */
export class PodmanEventLog implements RuntimeEventSource {
  readonly name = "podman-log";
  #path: string;
  #live = false;
  #closed = { closed: false, wake: undefined as (() => void) | undefined };
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  get live(): boolean {
    return this.#live;
  }

  start(onEvent: (e: RuntimeEvent) => void): void {
    if (this.#loop) return;
    this.#loop = (async () => {
      const backoff = new Backoff();
      while (!this.#closed.closed) {
        try {
          await this.#follow(onEvent, backoff);
        } catch {
          // file or directory gone: looked for again below
        }
        this.#live = false;
        if (!this.#closed.closed) await sleep(backoff.next(), this.#closed);
      }
    })();
  }

  async #follow(onEvent: (e: RuntimeEvent) => void, backoff: Backoff): Promise<void> {
    const dir = this.#path.slice(0, this.#path.lastIndexOf("/")) || "/";
    const watcher = Deno.watchFs(dir, { recursive: false });
    this.#watcher = watcher;
    let file: Deno.FsFile | undefined;
    let pos = 0;
    let rest = "";
    const decoder = new TextDecoder();
    const buf = new Uint8Array(65536);
    const open = async (fromEnd: boolean): Promise<void> => {
      file?.close();
      file = undefined;
      try {
        file = await Deno.open(this.#path);
      } catch {
        return;
      }
      pos = fromEnd ? (await file.stat()).size : 0;
      await file.seek(pos, Deno.SeekMode.Start);
      rest = "";
    };
    const readNew = async (): Promise<void> => {
      if (!file) await open(false);
      if (!file) return;
      const size = (await file.stat()).size;
      if (size < pos) await open(false); // truncated or replaced
      if (!file) return;
      for (;;) {
        const n = await file.read(buf);
        if (n === null || n === 0) break;
        pos += n;
        rest += decoder.decode(buf.subarray(0, n), { stream: true });
        let nl;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          const e = parsePodmanLogLine(line);
          if (e) onEvent(e);
        }
      }
    };
    try {
      await open(true);
      this.#live = true;
      backoff.reset();
      for await (const change of watcher) {
        if (this.#closed.closed) break;
        if (!change.paths.some((p) => p === this.#path)) continue;
        if (change.kind === "remove" || change.kind === "rename") {
          await open(false);
          continue;
        }
        await readNew();
      }
    } finally {
      file?.close();
      try {
        watcher.close();
      } catch {
        // closed by close()
      }
    }
  }

  async close(): Promise<void> {
    this.#closed.closed = true;
    this.#closed.wake?.();
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    await this.#loop;
  }
}
