/**
 * The collector (`collector:` in the config, `saker collect`): reads the alerts other agents
 * published to a JetStream stream (their `nats_output`) into this agent's alert store and live
 * subscribers, so its API, SSE stream and dashboard show the fleet (`/alerts?hostname=node-1`).
 *
 * Why a durable pull consumer: the server remembers what the collector acknowledged, so a
 * collector restarted after a crash continues where it stopped, and alerts published while it
 * was away wait in the stream. A batch is stored in one transaction and acknowledged after the
 * commit; a message delivered again (the acknowledgement lost in a crash or a server restart) is
 * recognised by its `Nats-Msg-Id` (the sender's alert id, unique in the store) and not stored
 * twice. Collected alerts are not sent to this agent's outputs: they went to the senders' own.
 *
 * @example
 * ```ts
 * import { Collector } from "./collector.ts";
 * // const c = new Collector({ connection: { servers: ["nats://127.0.0.1:4222"] },
 * //   stream: "SAKER_ALERTS", subjects: "saker.alerts.>", durable: "saker-collector",
 * //   batch: 256, store, sinks: [live], formatter, registry });
 * // c.start(); ... await c.close();
 * ```
 * @module
 */
import {
  AckPolicy,
  connect,
  type Consumer,
  ConsumerEvents,
  DeliverPolicy,
  type JsMsg,
  type NatsConnection,
} from "nats";
import { log, RateLimitedLog } from "../log.ts";
import type { Counter, Registry } from "../metrics.ts";
import type { AlertStore } from "../outputs/alert_store.ts";
import type { AlertSink } from "../outputs/fanout.ts";
import type { AlertFormatter } from "../outputs/format.ts";
import { ensureStream, type NatsConnectionOptions, natsConnectOptions } from "../outputs/nats.ts";
import { FormattedAlert } from "../outputs/output.ts";
import { parseReceivedAlert } from "../outputs/received.ts";
import { sleep } from "../outputs/queue.ts";

/** Collector settings. */
export interface CollectorOptions {
  connection: NatsConnectionOptions;
  /** The stream (created when missing, taking `subjects`). */
  stream: string;
  /** Subjects read (the consumer's filter). */
  subjects: string;
  /** Durable consumer name. */
  durable: string;
  /** Most alerts fetched and stored at once. */
  batch: number;
  /** Longest wait for a batch to fill, ms (default 200): bounds the delay of a lone alert. */
  maxWaitMs?: number;
  store: AlertStore | undefined;
  /** Live subscribers (SSE). */
  sinks: AlertSink[];
  /** This agent's formatter (text of received alerts that carry no output). */
  formatter: AlertFormatter;
  registry: Registry;
}

const notes = new RateLimitedLog(10_000);

/** Reads alerts from JetStream into the store. */
export class Collector {
  readonly #opts: CollectorOptions;
  readonly #stop = new AbortController();
  readonly #received: Counter;
  readonly #stored: Counter;
  readonly #duplicates: Counter;
  readonly #invalid: Counter;
  readonly #connected;
  #nc: NatsConnection | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: CollectorOptions) {
    this.#opts = opts;
    const r = opts.registry;
    this.#received = r.counter(
      "saker_collector_received_total",
      "Alerts the collector read from JetStream (redeliveries included).",
    ).labels();
    this.#stored = r.counter(
      "saker_collector_stored_total",
      "Alerts the collector stored (each alert once).",
    ).labels();
    this.#duplicates = r.counter(
      "saker_collector_duplicates_total",
      "Alerts read again after a lost acknowledgement, recognised by id and not stored twice.",
    ).labels();
    this.#invalid = r.counter(
      "saker_collector_invalid_total",
      "Messages that were not alerts in Falco's JSON (acknowledged and left out).",
    ).labels();
    this.#connected = r.gauge(
      "saker_collector_connected",
      "1 while the collector is connected to a NATS server.",
    ).labels();
  }

  /** Starts reading (connecting in the background; alerts wait in the stream meanwhile). */
  start(): void {
    this.#running ??= this.#run().catch((err) => log.error("collector failed", { error: err }));
  }

  async #run(): Promise<void> {
    const o = this.#opts;
    const signal = this.#stop.signal;
    const connecting = connect(
      await natsConnectOptions({ name: "saker-collector", ...o.connection }),
    );
    const aborted = new Promise<undefined>((r) =>
      signal.addEventListener("abort", () => r(undefined), { once: true })
    );
    const nc = await Promise.race([connecting, aborted]);
    if (!nc) {
      connecting.then((c) => c.close(), () => {});
      return;
    }
    this.#nc = nc;
    this.#connected.set(1);
    log.info("collector connected", { server: nc.getServer(), stream: o.stream });
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") this.#connected.set(0);
        if (s.type === "reconnect") this.#connected.set(1);
        if (s.type === "disconnect" || s.type === "reconnect") {
          log.info(`collector ${s.type}`, { server: String(s.data) });
        }
      }
    })().catch(() => {});
    const maxWait = o.maxWaitMs ?? 200;
    while (!signal.aborted) {
      let pending: JsMsg[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      // A lone alert waits at most maxWaitMs for others to share its transaction.
      const flush = () => {
        clearTimeout(timer);
        timer = undefined;
        const batch = pending;
        pending = [];
        if (batch.length > 0) this.#take(batch);
      };
      try {
        const consumer = await this.#consumer(nc);
        const msgs = await consumer.consume({ max_messages: o.batch * 2 });
        const stop = () => msgs.stop();
        signal.addEventListener("abort", stop, { once: true });
        // A consumer or stream deleted on the server: start again (they are made anew).
        (async () => {
          for await (const st of await msgs.status()) {
            if (
              st.type === ConsumerEvents.ConsumerDeleted ||
              st.type === ConsumerEvents.ConsumerNotFound ||
              st.type === ConsumerEvents.StreamNotFound
            ) {
              log.info("collector: consumer gone; making it again", { event: st.type });
              msgs.stop();
            }
          }
        })().catch(() => {});
        try {
          for await (const m of msgs) {
            pending.push(m);
            if (pending.length >= o.batch) flush();
            else timer ??= setTimeout(flush, maxWait);
          }
        } finally {
          signal.removeEventListener("abort", stop);
          flush();
        }
      } catch (err) {
        flush();
        if (signal.aborted) break;
        notes.log("warning", "collector", "collector: reading the stream failed; retrying", {
          error: (err as Error).message,
        });
      }
      await sleep(500, signal);
    }
  }

  /** The durable consumer, created (with the stream) when missing. */
  async #consumer(nc: NatsConnection): Promise<Consumer> {
    const o = this.#opts;
    const jsm = await nc.jetstreamManager({ timeout: 5000 });
    await ensureStream(jsm, o.stream, o.subjects, 120_000);
    try {
      await jsm.consumers.info(o.stream, o.durable);
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
      await jsm.consumers.add(o.stream, {
        durable_name: o.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: o.subjects,
        ack_wait: 30_000_000_000,
        max_ack_pending: 20_000,
      });
      log.info("collector: durable consumer created", { stream: o.stream, durable: o.durable });
    }
    return await nc.jetstream().consumers.get(o.stream, o.durable);
  }

  /** Stores a batch (each alert once), tells live subscribers, then acknowledges. */
  #take(msgs: JsMsg[]): void {
    const o = this.#opts;
    this.#received.inc(msgs.length);
    const fresh: FormattedAlert[] = [];
    const ids = new Set<string>();
    for (const m of msgs) {
      const id = m.headers?.get("Nats-Msg-Id") || `${m.info.stream}:${m.seq}`;
      try {
        const r = parseReceivedAlert(new TextDecoder().decode(m.data), id);
        if (ids.has(id) || o.store?.hasAlertId(id)) {
          this.#duplicates.inc();
          continue;
        }
        ids.add(id);
        fresh.push(new FormattedAlert(r.alert, o.formatter, r.forms));
      } catch (err) {
        this.#invalid.inc();
        notes.log("warning", "collector-invalid", "collector: message left out", {
          subject: m.subject,
          error: (err as Error).message,
        });
      }
    }
    if (fresh.length > 0) {
      const stored = o.store ? o.store.insert(fresh) : fresh.length;
      this.#stored.inc(stored);
      for (const fa of fresh) for (const s of o.sinks) s.push(fa);
    }
    for (const m of msgs) m.ack();
  }

  /** Stops reading and closes the connection (unacknowledged alerts stay in the stream). */
  async close(): Promise<void> {
    this.#stop.abort();
    // Reading ends at the abort; a read stuck on a server that is away is closed below.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#running, new Promise((r) => timer = setTimeout(r, 3000))]);
    clearTimeout(timer);
    this.#connected.set(0);
    try {
      await this.#nc?.close();
    } catch { /* closing anyway */ }
  }
}
