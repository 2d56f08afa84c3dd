/**
 * `remote_syslog_output`: alerts to a remote syslog server or SIEM (rsyslog, syslog-ng, Splunk's
 * and others' syslog inputs) over TCP or TLS, as RFC 5424 messages with octet-counting framing
 * (RFC 6587 for TCP, RFC 5425 for TLS): `LEN <PRI>1 TIMESTAMP HOST saker PID alert [SD] MSG`.
 *
 * Why RFC 5424 with structured data: the receiver gets the rule, priority, source and tags as
 * named parameters (`[saker@32473 rule="..." priority="Warning" source="syscall" tags="a,b"]`)
 * without parsing the message, and the timestamp is the event's, with microseconds and a zone.
 * Octet counting frames a message by its length, so a JSON message or an output with a newline
 * stays one message. The severity follows the priority (Emergency 0 ... Debug 7), as the local
 * syslog output's.
 *
 * Delivery: one connection, opened on the first alert and again after an error; a failed write
 * throws with the number of alerts written, so the output's queue retries the rest with backoff
 * (holding alerts while the server is away, dropping and counting beyond its capacity).
 *
 * @example
 * ```ts
 * import { rfc5424 } from "./syslog_remote.ts";
 * // rfc5424(formattedAlert, { facility: 16, appName: "saker", sdId: "saker@32473", json: false })
 * // "<132>1 2026-01-02T03:04:05.123456Z node-1 saker 4242 alert [saker@32473 rule=...] ..."
 * ```
 * @module
 */
import { priorityRank } from "../rules/alert.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";
import { OutputWriteError } from "./output.ts";

/** How a message is built. */
export interface Rfc5424Options {
  /** Facility code (syslog.ts FACILITIES). */
  facility: number;
  /** APP-NAME. */
  appName: string;
  /** SD-ID of the alert's structured data element (name@enterprise-number). */
  sdId: string;
  /** Message: the JSON alert rather than the text line. */
  json: boolean;
  /** PROCID (default: this process's id). */
  pid?: number;
}

/** An SD-PARAM value escaped as RFC 5424 says: `"`, `\` and `]` take a backslash. */
export function sdEscape(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty. */
function headerField(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return s === "" ? "-" : s;
}

/** RFC 3339 time with microseconds (RFC 5424 allows six fractional digits), UTC. */
export function rfc5424Time(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const us = Number((ns / 1000n) % 1_000_000n);
  return new Date(ms).toISOString().slice(0, 19) + "." + String(us).padStart(6, "0") + "Z";
}

/** One alert as an RFC 5424 message (without framing). */
export function rfc5424(fa: FormattedAlert, o: Rfc5424Options): string {
  const a = fa.alert;
  const pri = o.facility * 8 + priorityRank(a.priority);
  const sd = `[${o.sdId} rule="${sdEscape(a.rule)}" priority="${a.priority}" ` +
    `source="${sdEscape(a.source)}" tags="${sdEscape(a.tags.join(","))}"]`;
  return `<${pri}>1 ${rfc5424Time(a.time)} ${headerField(fa.hostname, 255)} ` +
    `${headerField(o.appName, 48)} ${o.pid ?? Deno.pid} alert ${sd} ${fa.line(o.json)}`;
}

/** Octet-counting framing: the message's length in bytes, a space, the message. */
export function octetCounted(msg: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(`${msg.length} `);
  const out = new Uint8Array(head.length + msg.length);
  out.set(head);
  out.set(msg, head.length);
  return out;
}

/** Options of the remote syslog output. */
export interface RemoteSyslogOptions extends Omit<Rfc5424Options, "pid"> {
  /** Server host name or address. */
  host: string;
  port: number;
  /** TLS (RFC 5425) rather than plain TCP. */
  tls: boolean;
  /** PEM CA certificates checking the server (besides the system's). */
  caCerts?: string[];
  /** PEM client certificate and key (mutual TLS). */
  cert?: string;
  key?: string;
  /** Longest wait to connect, ms (default 5000). */
  connectTimeoutMs?: number;
}

/** Sends alerts to a remote syslog server. */
export class RemoteSyslogOutput implements AlertOutput {
  readonly name = "remote_syslog";
  readonly #opts: RemoteSyslogOptions;
  readonly #enc = new TextEncoder();
  #conn: Deno.Conn | undefined;

  constructor(opts: RemoteSyslogOptions) {
    this.#opts = opts;
  }

  async #connect(signal: AbortSignal): Promise<Deno.Conn> {
    if (this.#conn) return this.#conn;
    const o = this.#opts;
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(o.connectTimeoutMs ?? 5000)]);
    const tcp = await Deno.connect({ hostname: o.host, port: o.port, signal: timeout });
    if (!o.tls) return this.#watch(tcp);
    try {
      const opts: Deno.StartTlsOptions & { cert?: string; key?: string } = {
        hostname: o.host,
        caCerts: o.caCerts,
      };
      if (o.cert && o.key) {
        opts.cert = o.cert;
        opts.key = o.key;
      }
      const tls = await Deno.startTls(tcp, opts as Deno.StartTlsOptions);
      await tls.handshake();
      return this.#watch(tls);
    } catch (err) {
      tcp.close();
      throw err;
    }
  }

  /**
   * Uses `conn` until the server closes it: a syslog server never writes, so a read that ends
   * means the server went away, and the next alert opens a new connection instead of being
   * written into a socket nobody reads.
   */
  #watch(conn: Deno.Conn): Deno.Conn {
    this.#conn = conn;
    (async () => {
      const buf = new Uint8Array(256);
      while (await conn.read(buf) !== null) { /* nothing is expected */ }
    })().catch(() => {}).finally(() => {
      // Closed by the server, or reset: either way the connection is gone.
      if (this.#conn === conn) this.#drop();
    });
    return conn;
  }

  #drop(): void {
    try {
      this.#conn?.close();
    } catch { /* closed already */ }
    this.#conn = undefined;
  }

  async write(batch: FormattedAlert[], signal: AbortSignal): Promise<void> {
    const o = this.#opts;
    let conn: Deno.Conn;
    try {
      conn = await this.#connect(signal);
    } catch (err) {
      throw new OutputWriteError(
        `syslog ${o.tls ? "tls" : "tcp"}://${o.host}:${o.port}: ${(err as Error).message}`,
        0,
      );
    }
    // A connection kept from earlier batches may have been closed by the server without this
    // side knowing yet: when its first write fails, one new connection is tried at once.
    let fresh = false;
    for (let i = 0; i < batch.length; i++) {
      const frame = octetCounted(this.#enc.encode(rfc5424(batch[i], o)));
      try {
        let off = 0;
        while (off < frame.length) off += await conn.write(frame.subarray(off));
        fresh = true;
      } catch (err) {
        const why = this.#conn === conn
          ? (err as Error).message
          : "the server closed the connection";
        this.#drop();
        if (!fresh) {
          fresh = true;
          try {
            conn = await this.#connect(signal);
            i--;
            continue;
          } catch { /* reported below */ }
        }
        throw new OutputWriteError(`syslog ${o.host}:${o.port}: ${why}`, i);
      }
    }
  }

  close(): Promise<void> {
    this.#drop();
    return Promise.resolve();
  }
}
