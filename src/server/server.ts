/**
 * Serving the API app with Deno.serve, optionally over TLS from one PEM file holding the
 * certificate chain and the private key (Falco's `webserver.ssl_certificate` format).
 * @module
 */
import type { Hono } from "hono";
import { log } from "../log.ts";

/** Where and how to listen. */
export interface ServeOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM file with certificate(s) and private key; plain HTTP when absent. */
  tlsPemFile?: string;
}

/** A running server. */
export interface RunningServer {
  /** The address actually bound (the port is known here when 0 was asked for). */
  addr: Deno.NetAddr;
  /** https or http. */
  scheme: "http" | "https";
  /** Stops accepting, lets open requests finish (live streams are cut). */
  shutdown(): Promise<void>;
}

/** Splits a combined PEM into its certificate chain and its private key. */
export function splitPem(pem: string, file = "PEM"): { cert: string; key: string } {
  const blocks = pem.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
  const certs = blocks.filter((b) => b.startsWith("-----BEGIN CERTIFICATE-----"));
  const keys = blocks.filter((b) => /^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(b));
  if (certs.length === 0) throw new Error(`${file}: no CERTIFICATE block`);
  if (keys.length !== 1) {
    throw new Error(`${file}: expected one PRIVATE KEY block, found ${keys.length}`);
  }
  return { cert: certs.join("\n") + "\n", key: keys[0] + "\n" };
}

/** Starts serving `app`; resolves once listening. */
export async function serveApi(app: Hono, opts: ServeOptions): Promise<RunningServer> {
  let tls: { cert: string; key: string } | undefined;
  if (opts.tlsPemFile) {
    const pem = await Deno.readTextFile(opts.tlsPemFile);
    tls = splitPem(pem, opts.tlsPemFile);
  }
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    ...tls,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (err) => {
      log.error("http server error", { error: err });
      return new Response('{"error":"internal error"}', { status: 500 });
    },
  }, app.fetch);
  server.finished.catch(() => {});
  const addr = await Promise.race([
    listening.promise,
    server.finished.then(() => {
      throw new Error(`could not listen on ${opts.hostname}:${opts.port}`);
    }),
  ]);
  return {
    addr,
    scheme: tls ? "https" : "http",
    async shutdown() {
      await server.shutdown();
    },
  };
}
