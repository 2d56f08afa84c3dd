/**
 * Building the configured outputs: the formatter, one bounded queue per enabled output, the
 * alert store, and the live subscribers, behind one fan-out.
 * @module
 */
import type { Config } from "../config/spec.ts";
import type { Registry } from "../metrics.ts";
import { AlertFanout } from "../outputs/fanout.ts";
import { FileOutput } from "../outputs/file.ts";
import { resolveGroup } from "../files.ts";
import { AlertFormatter } from "../outputs/format.ts";
import { HttpOutput } from "../outputs/http.ts";
import { ProgramOutput } from "../outputs/program.ts";
import { OutputQueue } from "../outputs/queue.ts";
import { type AlertStore, StoreOutput } from "../outputs/alert_store.ts";
import { StdoutOutput } from "../outputs/stdout.ts";
import { FACILITIES, SyslogOutput } from "../outputs/syslog.ts";
import { RemoteSyslogOutput } from "../outputs/syslog_remote.ts";
import type { AlertOutput } from "../outputs/output.ts";
import type { LiveAlerts } from "../server/live_alerts.ts";
import type { AlertAggregator } from "../outputs/aggregator.ts";
import type { NatsConnectionOptions } from "../outputs/nats.ts";

/** The host name in alerts: SAKER_HOSTNAME, else FALCO_HOSTNAME (Falco's), else the system's. */
export function alertHostname(env = Deno.env.toObject()): string {
  return env.SAKER_HOSTNAME || env.FALCO_HOSTNAME || Deno.hostname();
}

/** Config keys that shape alerts and outputs (a change rebuilds the outputs). */
export const OUTPUT_KEYS = [
  "json_output",
  "json_include_output_property",
  "json_include_message_property",
  "json_include_output_fields_property",
  "json_include_tags_property",
  "time_format_iso_8601",
  "buffered_outputs",
  "outputs_queue",
  "output_timeout",
  "stdout_output",
  "syslog_output",
  "remote_syslog_output",
  "file_output",
  "program_output",
  "http_output",
  "nats_output",
  "output_rate_limit",
] as const satisfies readonly (keyof Config)[];

/** Builds the formatter for `config`. */
export function formatterFor(config: Config, hostname: string): AlertFormatter {
  return new AlertFormatter({
    hostname,
    timeFormatIso8601: config.time_format_iso_8601,
    includeOutput: config.json_include_output_property,
    includeOutputFields: config.json_include_output_fields_property,
    includeTags: config.json_include_tags_property,
    includeMessage: config.json_include_message_property,
  });
}

/** The NATS connection settings of `nats_output` or `collector`. */
export function natsConnectionOf(
  n: Config["nats_output"] | Config["collector"],
): NatsConnectionOptions {
  return {
    servers: n.servers,
    token: n.token || undefined,
    user: n.user || undefined,
    password: n.password || undefined,
    credsFile: n.creds_file || undefined,
    tls: n.tls.enabled
      ? {
        caFile: n.tls.ca_cert || undefined,
        certFile: n.tls.client_cert || undefined,
        keyFile: n.tls.client_key || undefined,
      }
      : undefined,
  };
}

/** The configured channel outputs (not yet behind queues). Throws naming the config key. */
export async function channelOutputs(
  config: Config,
  registry?: Registry,
): Promise<AlertOutput[]> {
  const json = config.json_output;
  const buffered = config.buffered_outputs;
  const out: AlertOutput[] = [];
  if (config.stdout_output.enabled) out.push(new StdoutOutput({ json, buffered }));
  if (config.file_output.enabled) {
    const f = config.file_output;
    out.push(
      new FileOutput({
        filename: f.filename,
        keepAlive: f.keep_alive,
        json,
        buffered,
        group: fileGroup(config),
      }),
    );
  }
  if (config.syslog_output.enabled) {
    const s = config.syslog_output;
    out.push(new SyslogOutput({ json, path: s.path, facility: s.facility }));
  }
  if (config.remote_syslog_output.enabled) {
    const r = config.remote_syslog_output;
    try {
      const [, host, port] = /^\[?(.*?)\]?:(\d+)$/.exec(r.address)!;
      const read = (f: string) => f ? Deno.readTextFile(f) : Promise.resolve(undefined);
      const ca = await read(r.ca_cert);
      out.push(
        new RemoteSyslogOutput({
          host,
          port: Number(port),
          tls: r.transport === "tls",
          caCerts: ca ? [ca] : undefined,
          cert: await read(r.client_cert),
          key: await read(r.client_key),
          facility: FACILITIES[r.facility],
          appName: r.app_name,
          sdId: r.sd_id,
          json,
        }),
      );
    } catch (err) {
      throw new Error(`remote_syslog_output: ${(err as Error).message}`);
    }
  }
  if (config.program_output.enabled) {
    const p = config.program_output;
    out.push(new ProgramOutput({ program: p.program, keepAlive: p.keep_alive, json }));
  }
  if (config.http_output.enabled) {
    const h = config.http_output;
    try {
      out.push(
        await HttpOutput.create({
          url: h.url.replace(/^(["'])(.*)\1$/, "$2"),
          json,
          userAgent: h.user_agent,
          caCert: h.ca_cert || undefined,
          caBundle: h.ca_bundle || undefined,
          caPath: h.ca_path || undefined,
          clientCert: h.mtls ? h.client_cert : undefined,
          clientKey: h.mtls ? h.client_key : undefined,
          echo: h.echo,
          compress: h.compress_uploads,
          timeoutMs: config.output_timeout,
          headers: h.headers,
          insecure: h.insecure,
          keepAlive: h.keep_alive,
          maxConsecutiveTimeouts: h.max_consecutive_timeouts,
          preset: h.preset,
          index: h.index,
        }),
      );
    } catch (err) {
      throw new Error(`http_output: ${(err as Error).message}`);
    }
  }
  if (config.nats_output.enabled) {
    const n = config.nats_output;
    // The NATS client loads only when a NATS output is configured.
    const { NatsOutput } = await import("../outputs/nats.ts");
    try {
      out.push(NatsOutput.create({
        ...natsConnectionOf(n),
        subject: n.subject,
        stream: n.stream,
        ackTimeoutMs: n.ack_timeout,
        duplicateWindowMs: n.duplicate_window * 1000,
        registry,
      }));
    } catch (err) {
      throw new Error(`nats_output: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * Puts outputs, the store and live subscribers behind one fan-out, with the agent's aggregator
 * and, when `output_rate_limit.enabled`, a rate limit per output (the store's included).
 */
export function buildFanout(
  config: Config,
  outputs: AlertOutput[],
  store: AlertStore | undefined,
  live: LiveAlerts,
  hostname: string,
  registry: Registry,
  aggregator?: AlertAggregator,
): AlertFanout {
  const all = [...outputs];
  // The agent owns the store (it outlives output rebuilds); the queue only writes to it.
  if (store) all.push(new StoreOutput(store, { closeStore: false }));
  const queues = all.map((o) =>
    new OutputQueue(o, { capacity: config.outputs_queue.capacity, registry })
  );
  const r = config.output_rate_limit;
  return new AlertFanout(formatterFor(config, hostname), queues, [live], registry, {
    aggregator,
    throttle: r.enabled
      ? {
        rate: r.rate,
        maxBurst: r.max_burst,
        summaryIntervalMs: r.summary_interval * 1000,
        samples: config.aggregation.samples,
      }
      : undefined,
  });
}

/** The group of `file_group` as a group id (undefined: none), for files holding alerts or events. */
export function fileGroup(config: Config): number | undefined {
  return config.file_group === "" ? undefined : resolveGroup(config.file_group);
}
