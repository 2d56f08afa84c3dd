/**
 * `http_output`: each alert POSTed to a URL (falcosidekick, a SIEM webhook), one alert per
 * request as Falco does, `Content-Type: application/json` with `json_output` and `text/plain`
 * otherwise. Connections are pooled and kept alive. A failed or timed-out request, a 408, 429 or
 * 5xx answer is retried by the output's queue with exponential backoff (the alert stays at the
 * head, later alerts queue up behind it); another 4xx answer refuses that alert for good (it is
 * counted as failed and logged), since sending it again cannot succeed.
 *
 * Delivery is at least once: a request that timed out may still have reached the receiver, so
 * every request names its alert with an `Idempotency-Key` header, and JSON bodies carry the same
 * id as `uuid` (the key falcosidekick uses), the same on every retry; receivers drop a key they
 * have seen. A receiver slower than `output_timeout` is given more time instead of the same
 * alert again and again: each timeout doubles the time allowed (up to 16 times
 * `output_timeout`), kept while answers stay slow and reset once an answer comes within
 * `output_timeout`. A `Retry-After` on a 429 or 503 answer sets the wait before the retry.
 *
 * TLS: the server certificate is checked against the system roots plus `ca_cert`, `ca_bundle` or
 * the PEM files of `ca_path`; `mtls` presents `client_cert` and `client_key`; `insecure` checks
 * nothing (as curl's `-k`; Deno's fetch has no such switch, so those requests go through
 * node:https).
 *
 * Falco's connection keys: `keep_alive` keeps the connection open and reuses it for the next
 * alert (otherwise each alert opens its own); `max_consecutive_timeouts` is how many timeouts in
 * a row one alert may meet before it is given up (counted as failed), so that a receiver that
 * accepts connections but never answers costs each alert a bounded time.
 *
 * @example
 * ```ts
 * const out = await HttpOutput.create({ url: "https://siem.example/alerts", json: true, userAgent: "saker" });
 * await out.write(batch, signal); // one POST per alert (Falco's form); a timeout doubles the next
 * ```
 * @module
 */
import { log, RateLimitedLog } from "../log.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";
import { OutputWriteError } from "./output.ts";
import { bulkBody, bulkOutcome, type HttpPreset, lokiBody } from "./http_presets.ts";

/** Options of the HTTP output. */
export interface HttpOutputOptions {
  url: string;
  /** `json_output`. */
  json: boolean;
  /** `User-Agent` header. */
  userAgent: string;
  /** Extra PEM CA certificate files or a directory of them. */
  caCert?: string;
  caBundle?: string;
  caPath?: string;
  /** Client certificate and key (PEM files) for mutual TLS. */
  clientCert?: string;
  clientKey?: string;
  /** Print the receiver's answers (to stderr, so they never mix with alerts). */
  echo?: boolean;
  /** gzip request bodies (`Content-Encoding: gzip`). */
  compress?: boolean;
  /** Per-request timeout in ms (`output_timeout`). */
  timeoutMs?: number;
  /** Extra request headers (e.g. an Authorization header for the receiver). */
  headers?: Record<string, string>;
  /** Accept any server certificate (`insecure`). */
  insecure?: boolean;
  /** Reuse the connection between alerts (`keep_alive`, default true). */
  keepAlive?: boolean;
  /** Timeouts in a row one alert may meet before it is given up (default: no limit). */
  maxConsecutiveTimeouts?: number;
  /** The receiver's format (http_presets.ts; default falco: one POST per alert). */
  preset?: HttpPreset;
  /** Elasticsearch / OpenSearch index of the `_bulk` preset. */
  index?: string;
}

const notes = new RateLimitedLog(10_000);

/** The system's default CA directory: Deno trusts the system roots without loading it. */
export const SYSTEM_CA_PATH = "/etc/ssl/certs";

/** Reads the CA certificates the options name (none when only the system roots are wanted). */
export async function loadCaCerts(
  opts: Pick<HttpOutputOptions, "caCert" | "caBundle" | "caPath">,
): Promise<string[]> {
  if (opts.caCert) return [await Deno.readTextFile(opts.caCert)];
  if (opts.caBundle) return [await Deno.readTextFile(opts.caBundle)];
  if (opts.caPath && opts.caPath.replace(/\/+$/, "") !== SYSTEM_CA_PATH) {
    const certs: string[] = [];
    for await (const e of Deno.readDir(opts.caPath)) {
      if (!/\.(pem|crt)$/.test(e.name)) continue;
      certs.push(await Deno.readTextFile(`${opts.caPath}/${e.name}`));
    }
    return certs;
  }
  return [];
}

/** A fetch failure with its underlying cause (connection refused, certificate problem ...). */
export function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  const cause = e.cause instanceof Error ? e.cause.message : e.cause ? String(e.cause) : "";
  return cause && !e.message.includes(cause) ? `${e.message}: ${cause}` : e.message;
}

/** Whether an HTTP status is worth retrying. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A Retry-After header (seconds or an HTTP date) in ms from `now`; undefined when absent. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The JSON alert line with its id added as the last key (`uuid` sorts after Falco's keys). */
export function jsonWithId(json: string, id: string): string {
  return `${json.slice(0, -1)},"uuid":${JSON.stringify(id)}}`;
}

/** Largest time allowed for a request, as a multiple of `output_timeout`. */
const MAX_TIMEOUT_FACTOR = 16;

/** POSTs alerts to a URL. */
export class HttpOutput implements AlertOutput {
  readonly name = "http";
  readonly #opts: HttpOutputOptions;
  readonly #client: Deno.HttpClient | undefined;
  readonly #headers: Headers;
  /** With `insecure` and an https URL: requests through node:https without certificate checks. */
  readonly #insecure: InsecurePost | undefined;
  #timeouts = 0;
  readonly #baseTimeoutMs: number;
  /** Time allowed per request now: `output_timeout`, or more after timeouts. */
  #timeoutMs: number;

  /** Use {@link HttpOutput.create} (it reads the certificate files). */
  constructor(opts: HttpOutputOptions, client?: Deno.HttpClient, insecure?: InsecurePost) {
    this.#opts = opts;
    this.#client = client;
    this.#insecure = insecure;
    this.#headers = new Headers({
      "content-type": opts.json ? "application/json" : "text/plain",
      "user-agent": opts.userAgent,
      ...opts.headers,
    });
    if (opts.compress) this.#headers.set("content-encoding", "gzip");
    this.#baseTimeoutMs = this.#timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** The time currently allowed per request, ms (grows while the receiver is slow). */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Builds the output, loading CA and client certificates. */
  static async create(opts: HttpOutputOptions): Promise<HttpOutput> {
    const caCerts = await loadCaCerts(opts);
    const clientOpts: Deno.CreateHttpClientOptions & { cert?: string; key?: string } = {};
    if (caCerts.length > 0) clientOpts.caCerts = caCerts;
    if (opts.clientCert && opts.clientKey) {
      clientOpts.cert = await Deno.readTextFile(opts.clientCert);
      clientOpts.key = await Deno.readTextFile(opts.clientKey);
    }
    if (opts.keepAlive === false) clientOpts.poolMaxIdlePerHost = 0;
    if (opts.insecure && opts.url.startsWith("https:")) {
      return new HttpOutput(
        opts,
        undefined,
        await insecurePost(clientOpts, opts.keepAlive ?? true),
      );
    }
    const client = Object.keys(clientOpts).length > 0
      ? Deno.createHttpClient(clientOpts as Deno.CreateHttpClientOptions)
      : undefined;
    return new HttpOutput(opts, client);
  }

  async #body(line: string): Promise<BodyInit> {
    if (!this.#opts.compress) return line;
    const gz = new Blob([line]).stream().pipeThrough(new CompressionStream("gzip"));
    return await new Response(gz).arrayBuffer();
  }

  /** One POST of `body` as `contentType`, within the request timeout. */
  async #post(body: string, contentType: string, signal: AbortSignal): Promise<Response> {
    const headers = new Headers(this.#headers);
    headers.set("content-type", contentType);
    const init = {
      method: "POST",
      headers,
      body: await this.#body(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.#opts.timeoutMs ?? 10_000)]),
    };
    return this.#insecure
      ? await this.#insecure(this.#opts.url, init)
      : await fetch(this.#opts.url, { ...init, client: this.#client });
  }

  /** A batch in one request (the `_bulk` and Loki presets). */
  async #writeBatch(batch: FormattedAlert[], signal: AbortSignal): Promise<number> {
    const url = this.#opts.url;
    const bulk = this.#opts.preset !== "loki";
    let res: Response;
    try {
      res = bulk
        ? await this.#post(
          bulkBody(batch, this.#opts.index ?? "saker-alerts"),
          "application/x-ndjson",
          signal,
        )
        : await this.#post(lokiBody(batch, this.#opts.json), "application/json", signal);
    } catch (err) {
      throw new OutputWriteError(`POST ${url}: ${describeFetchError(err)}`, 0);
    }
    if (retryableStatus(res.status)) {
      await res.body?.cancel();
      throw new OutputWriteError(`POST ${url}: HTTP ${res.status}`, 0);
    }
    if (!res.ok) {
      notes.log("error", "http-refused", "http output: receiver refused a batch", {
        url,
        status: res.status,
        answer: (await res.text()).slice(0, 300),
        alerts: batch.length,
      });
      return batch.length;
    }
    if (!bulk) {
      await res.body?.cancel();
      return 0;
    }
    const outcome = bulkOutcome(await res.json().catch(() => undefined), batch.length);
    if (outcome.refused > 0) {
      notes.log("error", "http-refused", "http output: the index refused alerts", {
        url,
        refused: outcome.refused,
        reason: outcome.reason,
      });
    }
    if (outcome.retryFrom !== undefined) {
      throw new OutputWriteError(`POST ${url}: the index asks to send again`, outcome.retryFrom);
    }
    return outcome.refused;
  }

  async write(batch: FormattedAlert[], signal: AbortSignal): Promise<number> {
    if (this.#opts.preset && this.#opts.preset !== "falco") {
      return await this.#writeBatch(batch, signal);
    }
    let refused = 0;
    for (let i = 0; i < batch.length; i++) {
      const fa = batch[i];
      const allowed = this.#timeoutMs;
      const timeout = AbortSignal.timeout(allowed);
      const headers = new Headers(this.#headers);
      headers.set("idempotency-key", fa.id);
      const init = {
        method: "POST",
        headers,
        body: await this.#body(this.#opts.json ? jsonWithId(fa.json, fa.id) : fa.text),
        signal: AbortSignal.any([signal, timeout]),
      };
      const started = performance.now();
      let res: Response;
      try {
        res = this.#insecure
          ? await this.#insecure(this.#opts.url, init)
          : await fetch(this.#opts.url, { ...init, client: this.#client });
      } catch (err) {
        if (!timeout.aborted) {
          throw new OutputWriteError(`POST ${this.#opts.url}: ${describeFetchError(err)}`, i);
        }
        this.#timeoutMs = Math.min(allowed * 2, this.#baseTimeoutMs * MAX_TIMEOUT_FACTOR);
        const max = this.#opts.maxConsecutiveTimeouts;
        if (max === undefined || ++this.#timeouts <= max) {
          throw new OutputWriteError(
            `POST ${this.#opts.url}: timed out (no answer within ${allowed} ms; ` +
              `the next attempt waits up to ${this.#timeoutMs} ms)`,
            i,
          );
        }
        this.#timeouts = 0;
        refused++;
        notes.log("error", "http-timeouts", "http output: alert given up after timeouts", {
          url: this.#opts.url,
          timeouts: max + 1,
          rule: batch[i].alert.rule,
        });
        continue;
      }
      this.#timeouts = 0;
      if (performance.now() - started <= this.#baseTimeoutMs) {
        this.#timeoutMs = this.#baseTimeoutMs;
      }
      if (this.#opts.echo) {
        const text = await res.text();
        log.info("http output answer", { status: res.status, body: text });
      } else {
        await res.body?.cancel();
      }
      if (res.ok) continue;
      if (retryableStatus(res.status)) {
        throw new OutputWriteError(
          `POST ${this.#opts.url}: HTTP ${res.status}`,
          i,
          false,
          retryAfterMs(res.headers.get("retry-after")),
        );
      }
      refused++;
      notes.log("error", "http-refused", "http output: receiver refused an alert", {
        url: this.#opts.url,
        status: res.status,
        rule: batch[i].alert.rule,
      });
    }
    return refused;
  }

  close(): Promise<void> {
    this.#client?.close();
    this.#insecure?.close();
    return Promise.resolve();
  }
}

/** A POST that checks no certificate, with its connection pool. */
type InsecurePost =
  & ((url: string, init: {
    method: string;
    headers: Headers;
    body: BodyInit;
    signal: AbortSignal;
  }) => Promise<Response>)
  & { close(): void };

/** POSTs through node:https with certificate checks off (`insecure`), keeping `tls` options. */
async function insecurePost(
  tls: { caCerts?: string[]; cert?: string; key?: string },
  keepAlive: boolean,
): Promise<InsecurePost> {
  const https = await import("node:https");
  const agent = new https.Agent({ keepAlive, rejectUnauthorized: false });
  const post = (url: string, init: Parameters<InsecurePost>[1]) =>
    new Promise<Response>((resolve, reject) => {
      new Response(init.body).arrayBuffer().then((body) => {
        const req = https.request(url, {
          method: init.method,
          headers: Object.fromEntries(init.headers),
          agent,
          rejectUnauthorized: false,
          cert: tls.cert,
          key: tls.key,
          signal: init.signal,
        }, (res) => {
          const chunks: Uint8Array<ArrayBuffer>[] = [];
          res.on("data", (c: Uint8Array<ArrayBuffer>) => chunks.push(c));
          res.on("end", () => resolve(new Response(new Blob(chunks), { status: res.statusCode })));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(new Uint8Array(body));
      }, reject);
    });
  return Object.assign(post, { close: () => agent.destroy() });
}
