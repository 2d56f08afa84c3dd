/**
 * `saker collect`: a collector without the kernel probe. It runs the agent with the system call
 * source off and the `collector` section on, so the alerts every node publishes to JetStream
 * (`nats_output`) land in this agent's alert store, and its API, SSE stream and dashboard show the
 * fleet (`GET /alerts?hostname=NODE`). Needs no capabilities. Flags besides its own are those of
 * `saker run` (`-c`, `-o`, `-M` ...).
 *
 * @example
 * ```ts
 * import { main } from "./collect.ts";
 * await main(["--server", "nats://nats.example:4222", "-o", "webserver.listen_address=0.0.0.0"]);
 * ```
 * @module
 */
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker collect [--server URL]... [--stream NAME] [--durable NAME] [run options]

Reads the alerts other agents publish to NATS JetStream (their nats_output) into this agent's
alert store, without the kernel probe: GET /alerts, /alerts/stream and the dashboard show every
host (filter with hostname=NODE). Settings come from the config's collector section; these flags
set its keys:

  --server URL      a NATS server (collector.servers); repeatable
  --stream NAME     the stream (collector.stream)
  --durable NAME    the durable consumer (collector.durable)

Other options are saker run's: -c FILE, -o KEY=VALUE, -M SECONDS ...`;

/** Runs `saker collect ARGS`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      options: {
        server: { type: "string", multiple: true },
        stream: { type: "string" },
        durable: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
  } catch (err) {
    console.error(`saker collect: ${(err as Error).message}`);
    return 2;
  }
  if (parsed.values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const own = new Set(["server", "stream", "durable"]);
  // Everything that is not one of collect's own flags goes to saker run as written.
  const rest: string[] = [];
  const tokens = parsed.tokens ?? [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === "option" && own.has(t.name)) continue;
    if (t.kind === "option") {
      rest.push(t.rawName);
      if (t.value !== undefined) rest.push(t.value);
    } else if (t.kind === "positional") rest.push(t.value);
  }
  const o = (kv: string) => ["-o", kv];
  const servers = (parsed.values.server ?? []) as string[];
  const flags = [
    "--disable-source",
    "syscall",
    ...o("collector.enabled=true"),
    ...servers.flatMap((s, i) =>
      o(i === 0 ? `collector.servers[0]=${s}` : `collector.servers[]=${s}`)
    ),
    ...(parsed.values.stream ? o(`collector.stream=${parsed.values.stream}`) : []),
    ...(parsed.values.durable ? o(`collector.durable=${parsed.values.durable}`) : []),
  ];
  const { main: run } = await import("./run.ts");
  return await run([...flags, ...rest]);
}
