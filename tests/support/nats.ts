/**
 * Test support: a real nats-server with JetStream (Debian's, installed by scripts/setup.sh) on a
 * loopback port of its own, its store in the test's directory, stopped and started again on the
 * same port and store; and reading back every message a stream holds.
 *
 * @example
 * ```ts
 * const nats = await startNats(dir);
 * // ... publish to nats.url ...
 * const msgs = await streamMessages(nats.url, "SAKER_ALERTS");
 * await nats.stop();
 * ```
 * @module
 */
import { connect } from "nats";
import { type NatsConnectionOptions, natsConnectOptions } from "../../src/outputs/nats.ts";
import { skipNote } from "./env.ts";
import { waitFor } from "./agent_process.ts";
import { freePort, tcpAnswers } from "./saker.ts";

/** Debian's nats-server. */
export const NATS_SERVER = "/usr/sbin/nats-server";

/** True when nats-server is installed; otherwise notes the skip. */
export function haveNats(): boolean {
  try {
    return Deno.statSync(NATS_SERVER).isFile;
  } catch {
    skipNote("nats-server is not installed (scripts/setup.sh test installs it)");
    return false;
  }
}

/** Server settings. */
export interface NatsServerOptions {
  /** Required client token. */
  token?: string;
  /** Server certificate and key files (clients must use TLS). */
  tls?: { certFile: string; keyFile: string };
}

/** A running (or stopped) nats-server of the test. */
export interface NatsServer {
  /** Client URL (nats://127.0.0.1:PORT). */
  url: string;
  port: number;
  /** Stops the server (SIGKILL: a crash, or SIGTERM). */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts it again on the same port and store; resolves once it accepts connections. */
  start(): Promise<void>;
  /** The server's log. */
  log(): Promise<string>;
}

/** Starts nats-server with JetStream, its store and log under `dir`. */
export async function startNats(dir: string, opts: NatsServerOptions = {}): Promise<NatsServer> {
  const port = freePort();
  const conf = [
    `listen: "127.0.0.1:${port}"`,
    `jetstream { store_dir: "${dir}/nats-store" }`,
    opts.token ? `authorization { token: "${opts.token}" }` : "",
    opts.tls ? `tls { cert_file: "${opts.tls.certFile}"\n key_file: "${opts.tls.keyFile}" }` : "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/nats.conf`, conf + "\n");
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command(NATS_SERVER, {
      args: ["-c", `${dir}/nats.conf`, "-l", `${dir}/nats.log`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("nats-server to listen", () => tcpAnswers(port), 20_000);
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    start,
    stop: async (signal: Deno.Signal = "SIGTERM") => {
      if (!child) return;
      try {
        child.kill(signal);
      } catch { /* gone already */ }
      await child.status;
      child = undefined;
    },
    log: () => Deno.readTextFile(`${dir}/nats.log`).catch(() => ""),
  };
}

/** One stored message. */
export interface StoredMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  data: string;
}

/** Every message stream `stream` holds, in order. */
export async function streamMessages(
  url: string,
  stream: string,
  opts: Omit<NatsConnectionOptions, "servers"> = {},
): Promise<StoredMessage[]> {
  const nc = await connect({
    ...await natsConnectOptions({ servers: [url], ...opts }),
    waitOnFirstConnect: false,
    maxReconnectAttempts: 0,
  });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream);
    const out: StoredMessage[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      out.push({
        seq,
        subject: m.subject,
        msgId: m.header?.get("Nats-Msg-Id") || undefined,
        data: new TextDecoder().decode(m.data),
      });
    }
    return out;
  } finally {
    await nc.close();
  }
}
