/**
 * A private two-namespace network for actions that connect "out": a client namespace and a
 * server namespace joined by a veth pair, with a TCP listener in the server namespace. Nothing
 * is added to the host's own network namespace, so no packet can leave the machine; the
 * addresses can look public (documentation ranges, the cloud metadata address) because they
 * only exist inside the pair.
 * @module
 */

import { mustRun, runCommand } from "./command.ts";
import type { Workspace } from "./workspace.ts";

/** Addresses of one lab. */
export interface NetLabOptions {
  /** Client side address with prefix, e.g. "203.0.113.1/24". */
  client: string;
  /** Server side address with prefix, e.g. "203.0.113.10/24". */
  server: string;
  /** TCP ports the listener serves on the server address. */
  ports: number[];
  /** Bytes (hex) the listener sends to each connection before reading. */
  payload?: string;
}

/** A running lab; torn down by the workspace's cleanup. */
export interface NetLab {
  /** Client namespace name (`ip netns exec NAME ...`). */
  clientNs: string;
  /** Path of the client namespace, for `podman run --network ns:PATH`. */
  clientNsPath: string;
  serverNs: string;
  /** Server address without prefix. */
  serverIp: string;
}

let counter = 0;

/**
 * Arguments of `ip` that run `argv` in network namespace `ns` (a lab's client or server side).
 *
 * @example
 * ```ts
 * await runCommand("ip", inNamespace(lab.clientNs, helper, "connect", lab.serverIp, "80", "tcp"));
 * ```
 */
export function inNamespace(ns: string, ...argv: string[]): string[] {
  return ["netns", "exec", ns, ...argv];
}

/** Creates the namespaces, the veth pair and the listeners; registers their teardown. */
export async function createNetLab(
  ws: Workspace,
  helper: string,
  opts: NetLabOptions,
): Promise<NetLab> {
  // Interface names have 15 characters at most: "ssim" + pid (7 digits at most) + letter + side.
  const tag = `${Deno.pid}${String.fromCharCode(97 + (counter++ % 26))}`;
  const clientNs = `ssim${tag}c`;
  const serverNs = `ssim${tag}s`;
  const vethC = `ssim${tag}a`;
  const vethS = `ssim${tag}b`;
  const ip = (...args: string[]) => mustRun("ip", args);
  for (const ns of [clientNs, serverNs]) {
    await runCommand("ip", ["netns", "del", ns]); // left over from a killed run
    ws.defer(async () => {
      await runCommand("ip", ["netns", "del", ns]);
    });
    await ip("netns", "add", ns);
    await ip("-n", ns, "link", "set", "lo", "up");
  }
  await ip(
    "-n",
    clientNs,
    "link",
    "add",
    vethC,
    "type",
    "veth",
    "peer",
    "name",
    vethS,
    "netns",
    serverNs,
  );
  await ip("-n", clientNs, "addr", "add", opts.client, "dev", vethC);
  await ip("-n", serverNs, "addr", "add", opts.server, "dev", vethS);
  await ip("-n", clientNs, "link", "set", vethC, "up");
  await ip("-n", serverNs, "link", "set", vethS, "up");
  const serverIp = opts.server.split("/")[0];
  for (const port of opts.ports) {
    const listener = await startListener(ws, helper, serverNs, serverIp, port, opts.payload);
    await waitReachable(helper, clientNs, serverIp, port, listener);
  }
  return { clientNs, clientNsPath: `/run/netns/${clientNs}`, serverNs, serverIp };
}

/** A listener process of the lab, and what became of it. */
interface Listener {
  /** How it ended ("exited with 1", "was killed by SIGKILL"), once it has. */
  ended?: string;
}

/**
 * Connects from the client side until the listener answers (the veth pair may need a moment);
 * throws when the listener has ended, or after 5 s.
 */
async function waitReachable(
  helper: string,
  ns: string,
  ip: string,
  port: number,
  listener: Listener,
): Promise<void> {
  const deadline = Date.now() + 5_000;
  let last = "";
  while (Date.now() < deadline) {
    const r = await runCommand("ip", inNamespace(ns, helper, "connect", ip, String(port), "tcp"));
    if (/= 0$/m.test(r.stdout.split("\n")[0] ?? "")) return;
    last = (r.stdout + r.stderr).trim();
    if (listener.ended !== undefined) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(
    `lab server ${ip}:${port} is not reachable from ${ns}: ${last} (its listener ${
      listener.ended ?? "is running"
    })`,
  );
}

async function startListener(
  ws: Workspace,
  helper: string,
  ns: string,
  ip: string,
  port: number,
  payload?: string,
): Promise<Listener> {
  const child = new Deno.Command("ip", {
    args: inNamespace(ns, helper, "listen", ip, String(port), "60", ...(payload ? [payload] : [])),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Its stdout is read to the end, never closed: a write to a pipe nobody reads would end the
  // listener with SIGPIPE (it once did, right after "listening", when the line came in two
  // pieces and the first one was taken for the whole).
  let drained: Promise<void> = Promise.resolve();
  ws.defer(async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already ended */ }
    await child.stderr.cancel().catch(() => {});
    await child.status;
    await drained;
  });
  // Wait for the whole "listening" line so a client never races the bind.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 10_000;
  while (!seen.includes("listening\n")) {
    if (Date.now() > deadline) throw new Error(`listener on ${ip}:${port} did not start`);
    const { value, done } = await reader.read();
    if (done) {
      const err = await new Response(child.stderr).text();
      throw new Error(`listener on ${ip}:${port} exited: ${err.trim()}`);
    }
    seen += value;
  }
  drained = (async () => {
    while (!(await reader.read()).done) { /* nothing more is expected */ }
  })().catch(() => {});
  const listener: Listener = {};
  child.status.then((st) => {
    listener.ended = st.signal ? `was killed by ${st.signal}` : `exited with ${st.code}`;
  });
  return listener;
}
