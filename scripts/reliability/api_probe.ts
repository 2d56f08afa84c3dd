/**
 * The API prober of the reliability load: GET /healthz every 50 ms for a while, each request
 * timed, in a process of its own. The load's attackers (hundreds of connections reopened as fast
 * as the agent closes them) run in the process that starts the agent, and that process's own
 * event loop stalls under them: a prober there measured 0.8 to 1.6 s for some requests while one
 * in another process, at the same moments, never waited more than ~70 ms. Here the figure is the
 * agent's API, not the attacker's host.
 *
 * Prints `{"ms": [...], "failed": N}` on stdout.
 *
 * @example
 * ```sh
 * deno run -A scripts/reliability/api_probe.ts 8765 5000   # port, milliseconds
 * ```
 * @module
 */

/** Latencies of the answered requests (ms) and how many failed or were not 200. */
export interface ProbeResult {
  ms: number[];
  failed: number;
}

/** GET /healthz on loopback `port` every 50 ms for `ms` milliseconds. */
export async function probeApi(port: number, ms: number): Promise<ProbeResult> {
  const out: number[] = [];
  let failed = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t0 = performance.now();
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, {
        signal: AbortSignal.timeout(5000),
      });
      await r.body?.cancel();
      if (r.ok) out.push(performance.now() - t0);
      else failed++;
    } catch {
      failed++;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ms: out, failed };
}

/** Runs {@link probeApi} in a process of its own (see the module doc). */
export async function probeApiApart(port: number, ms: number): Promise<ProbeResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, String(port), String(ms)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the API prober exited with ${out.code}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as ProbeResult;
}

if (import.meta.main) {
  const [port, ms] = Deno.args.map(Number);
  if (!(port > 0) || !(ms > 0)) {
    console.error("usage: api_probe.ts PORT MILLISECONDS");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await probeApi(port, ms)));
}
