/**
 * `nats_output`: each alert published to NATS JetStream as Falco's JSON, on a subject built from a
 * template (`saker.alerts.{hostname}.{priority}`), so a fleet's alerts land in one stream that a
 * collector (or any JetStream consumer) reads.
 *
 * Why JetStream publishes rather than plain NATS: the server answers each publish with an
 * acknowledgement once the message is stored, so an alert counts as sent only when it is safe.
 * Each message carries the alert's stable id as `Nats-Msg-Id`; JetStream drops a message whose id
 * it has seen within the stream's duplicate window, so a publish retried after a lost answer, a
 * timeout or a reconnect never stores the alert twice.
 *
 * Delivery: the output's queue (queue.ts) holds alerts while the server is away, up to its
 * capacity (then drops and counts them); the client reconnects on its own, forever, and the queue
 * retries with backoff. A batch is published without waiting between messages; the first
 * unacknowledged alert and those after it are retried (their ids make the retry harmless).
 *
 * @example
 * ```ts
 * import { NatsOutput } from "./nats.ts";
 * const out = NatsOutput.create({
 *   servers: ["nats://127.0.0.1:4222"],
 *   subject: "saker.alerts.{hostname}.{priority}",
 *   stream: "SAKER_ALERTS",
 * });
 * // behind an OutputQueue; at shutdown: await out.close();
 * ```
 * @module
 */
import {
  connect,
  type ConnectionOptions,
  credsAuthenticator,
  headers as natsHeaders,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from "nats";
import type { PeerCertificate } from "node:tls";
import { log, RateLimitedLog } from "../log.ts";
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";
import { OutputWriteError } from "./output.ts";
import { alertSubject, subjectWildcard } from "./nats_subject.ts";

/** How to reach and authenticate to NATS servers (shared by the output and the collector). */
export interface NatsConnectionOptions {
  /** Server URLs (`nats://host:4222`, `tls://host:4222`) or `host:port`. */
  servers: string[];
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /** Authentication token. */
  token?: string;
  /** User and password. */
  user?: string;
  password?: string;
  /** A `.creds` file (JWT and NKey seed) for decentralised auth. */
  credsFile?: string;
  /** TLS: required when set; CA file to check the server, client certificate and key files. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** The nats client's options for `o`: reconnecting forever, starting while the server is away. */
export async function natsConnectOptions(o: NatsConnectionOptions): Promise<ConnectionOptions> {
  const opts: ConnectionOptions = {
    servers: o.servers,
    name: o.name ?? "saker",
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    noAsyncTraces: true,
  };
  if (o.token) opts.token = o.token;
  if (o.user) {
    opts.user = o.user;
    opts.pass = o.password ?? "";
  }
  if (o.credsFile) opts.authenticator = credsAuthenticator(await Deno.readFile(o.credsFile));
  if (o.tls) {
    const t: NonNullable<ConnectionOptions["tls"]> = {};
    if (o.tls.caFile) t.ca = await Deno.readTextFile(o.tls.caFile);
    if (o.tls.certFile) t.cert = await Deno.readTextFile(o.tls.certFile);
    if (o.tls.keyFile) t.key = await Deno.readTextFile(o.tls.keyFile);
    // The client's TLS layer does not pass the server's address on (it checks "localhost"):
    // the certificate must name one of the configured servers.
    const hosts = o.servers.map(serverHost);
    // Loaded where used, not at the top: see NODE_MODULES_AT_USE in scripts/bundle.ts.
    const { checkServerIdentity } = process.getBuiltinModule("node:tls");
    const check = (_: string, cert: PeerCertificate) => {
      let first: Error | undefined;
      for (const h of hosts) {
        const e = checkServerIdentity(h, cert);
        if (!e) return undefined;
        first ??= e;
      }
      return first;
    };
    opts.tls = Object.assign(t, { checkServerIdentity: check });
  }
  return opts;
}

/** The host name or address of a server URL (`nats://h:4222`, `tls://h:4222`, `h:4222`). */
function serverHost(s: string): string {
  const url = /^\w+:\/\//.test(s) ? s : `nats://${s}`;
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return s;
  }
}

/**
 * Makes sure JetStream has stream `name` (file storage, de-duplication over `duplicateWindowMs`)
 * taking `subject`; an existing stream is left as it is.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subject: string,
  duplicateWindowMs: number,
): Promise<void> {
  try {
    await jsm.streams.info(name);
    return;
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: duplicateWindowMs * 1_000_000,
    });
  } catch (err) {
    // Another client (a node, the collector) made it meanwhile: use theirs.
    if (/already in use/i.test((err as Error).message)) return;
    throw err;
  }
  log.info("nats: stream created", { stream: name, subjects: subject });
}

/** Options of the NATS output. */
export interface NatsOutputOptions extends NatsConnectionOptions {
  /** Subject template (see {@link alertSubject}). */
  subject: string;
  /** Stream created when missing ("" : the stream is managed elsewhere). */
  stream?: string;
  /** Longest wait for the server's acknowledgement of a publish, ms (default 5000). */
  ackTimeoutMs?: number;
  /** The stream's de-duplication window when the output creates it, ms (default 2 minutes). */
  duplicateWindowMs?: number;
  /** Metrics registry (default: the process-wide one). */
  registry?: Registry;
}

const notes = new RateLimitedLog(10_000);

/** Publishes alerts to JetStream. */
export class NatsOutput implements AlertOutput {
  readonly name = "nats";
  readonly #opts: NatsOutputOptions;
  readonly #enc = new TextEncoder();
  readonly #duplicates: Counter;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #connecting: Promise<void> | undefined;
  #streamReady = false;
  #closed = false;

  private constructor(opts: NatsOutputOptions) {
    this.#opts = opts;
    this.#duplicates = (opts.registry ?? globalMetrics).counter(
      "saker_nats_duplicates_total",
      "Alerts JetStream already held (a retried publish it de-duplicated by Nats-Msg-Id).",
    ).labels();
  }

  /** The output; it connects in the background (alerts queue until the server answers). */
  static create(opts: NatsOutputOptions): NatsOutput {
    const out = new NatsOutput(opts);
    out.#connect().catch(() => {});
    return out;
  }

  /** Connects once (the client reconnects by itself afterwards). */
  #connect(): Promise<void> {
    return this.#connecting ??= (async () => {
      const nc = await connect(await natsConnectOptions({ name: "saker-output", ...this.#opts }));
      if (this.#closed) {
        await nc.close();
        return;
      }
      this.#nc = nc;
      this.#js = nc.jetstream();
      log.info("nats output connected", { server: nc.getServer() });
      (async () => {
        for await (const s of nc.status()) {
          if (s.type === "disconnect" || s.type === "reconnect") {
            log.info(`nats output ${s.type}`, { server: String(s.data) });
          }
        }
      })().catch(() => {});
    })().catch((err) => {
      this.#connecting = undefined;
      throw err;
    });
  }

  async #ready(signal: AbortSignal): Promise<JetStreamClient> {
    const timeout = this.#opts.ackTimeoutMs ?? 5000;
    const stop = AbortSignal.any([signal, AbortSignal.timeout(timeout)]);
    const gaveUp = new Promise<never>((_, reject) => {
      const fail = () => reject(new Error("no answer from the NATS servers"));
      if (stop.aborted) fail();
      else stop.addEventListener("abort", fail, { once: true });
    });
    gaveUp.catch(() => {});
    await Promise.race([this.#connect(), gaveUp]);
    if (!this.#streamReady && this.#opts.stream) {
      await Promise.race([
        this.#nc!.jetstreamManager({ timeout }).then((jsm) =>
          ensureStream(
            jsm,
            this.#opts.stream!,
            subjectWildcard(this.#opts.subject),
            this.#opts.duplicateWindowMs ?? 120_000,
          )
        ),
        gaveUp,
      ]);
    }
    this.#streamReady = true;
    return this.#js!;
  }

  async write(batch: FormattedAlert[], signal: AbortSignal): Promise<void> {
    let js: JetStreamClient;
    try {
      js = await this.#ready(signal);
    } catch (err) {
      throw new OutputWriteError(`nats: ${(err as Error).message}`, 0);
    }
    const timeout = this.#opts.ackTimeoutMs ?? 5000;
    const acks = batch.map((fa) => {
      const h = natsHeaders();
      h.set("Content-Type", "application/json");
      return js.publish(alertSubject(this.#opts.subject, fa), this.#enc.encode(fa.json), {
        msgID: fa.id,
        timeout,
        headers: h,
      });
    });
    const results = await Promise.allSettled(acks);
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r.status === "rejected") {
        throw new OutputWriteError(`nats: publish: ${(r.reason as Error).message}`, i);
      }
      if (r.value.duplicate) this.#duplicates.inc();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const nc = this.#nc;
    if (!nc) return;
    try {
      // Draining waits for the server; a server that is away must not hold the shutdown.
      const drained = nc.drain();
      const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 2000));
      if (await Promise.race([drained, timer]) === "timeout") await nc.close();
    } catch (err) {
      notes.log("warning", "nats-close", "nats output: close", { error: err });
    }
  }
}
