/**
 * Load on the API while the agent detects (a real `saker run` with the probe; root): 1,000
 * clients sending their request headers a byte at a time and 1,000 clients connecting and
 * sending nothing, each reconnecting when the agent closes it, for a while; meanwhile a client in
 * a process of its own (api_probe.ts: the attackers' process stalls under them) asks `/healthz`
 * every 50 ms and a trigger process opens /etc/shadow, each open's alert timed from the system
 * call to its line on the agent's stdout (read by the attackers' process: a stall there delays
 * the stamp, so detection delay is an upper bound).
 *
 * Figures, before and during the attack: API latency (p50, p90, p99, max) and failed requests,
 * detection delay (p50, p99, missed alerts), the agent's RSS, its growth and how much of it came
 * in the attack's last third (a leak keeps growing; heap sizing levels off), and the connections
 * the agent closed to make room (evicted) or refused.
 *
 * @example
 * ```ts
 * import { runLoad } from "./load.ts";
 * const figures = await runLoad({ slow: 1000, idle: 1000, seconds: 15 });
 * ```
 * @module
 */
import {
  type AgentProcess,
  alertLatency,
  buildTools,
  latencySummary,
  percentile,
  startAgentProcess,
  type Tools,
} from "../bench/_outside.ts";
import { metricSum } from "./metrics_text.ts";
import { probeApiApart } from "./api_probe.ts";

/** Options of {@link runLoad}. */
export interface LoadOptions {
  slow: number;
  idle: number;
  /** How long the attack lasts. */
  seconds: number;
  /** Alerts timed before and during the attack. */
  samples?: number;
  /** `webserver.max_connections` (default: the config's). */
  maxConnections?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keeps `n` connections open (reopening closed ones) until `stop`; `drip` bytes every 200 ms. */
function holdConnections(port: number, n: number, drip: boolean) {
  let on = true;
  let opened = 0;
  const enc = new TextEncoder();
  const one = async () => {
    while (on) {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        await sleep(100);
        continue;
      }
      opened++;
      const closed = conn.read(new Uint8Array(1024)).then(() => true, () => true);
      try {
        if (drip) await conn.write(enc.encode("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "));
        while (on) {
          const r = await Promise.race([closed, sleep(200).then(() => false)]);
          if (r) break;
          if (drip) await conn.write(enc.encode("a"));
        }
      } catch { /* closed by the agent */ }
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const all = Array.from({ length: n }, one);
  return {
    opened: () => opened,
    stop: async () => {
      on = false;
      await Promise.allSettled(all);
    },
  };
}

function apiSummary(r: { ms: number[]; failed: number }) {
  const s = [...r.ms].sort((a, b) => a - b);
  const q = (p: number) => Math.round(percentile(s, p) * 10) / 10;
  return {
    requests: s.length + r.failed,
    failed: r.failed,
    p50_ms: q(50),
    p90_ms: q(90),
    p99_ms: q(99),
    max_ms: q(100),
  };
}

async function detect(agent: AgentProcess, tools: Tools, samples: number) {
  const { ns, missed } = await alertLatency(agent, tools, {
    samples,
    minGapMs: 50,
    maxGapMs: 150,
    rule: "Sensitive file read by untrusted program",
  });
  return latencySummary(ns, missed);
}

/** Runs the load scenario; needs root (probe). */
export async function runLoad(opts: LoadOptions): Promise<Record<string, unknown>> {
  const samples = opts.samples ?? 40;
  const tools = await buildTools();
  const agent = await startAgentProcess({
    overrides: [
      "stdout_output.enabled=true",
      // Every alert on its own (each one is timed): no aggregation, no rate limit.
      "aggregation.enabled=false",
      "output_rate_limit.enabled=false",
      ...(opts.maxConnections ? [`webserver.max_connections=${opts.maxConnections}`] : []),
    ],
  });
  try {
    await sleep(1000);
    const apiBefore = probeApiApart(agent.port, 3000);
    const detectBefore = await detect(agent, tools, samples);
    const before = { api: apiSummary(await apiBefore), detection: detectBefore };
    const rssBefore = agent.rss().now;
    let rssTop = rssBefore;
    const attackStart = Date.now();
    // The highest RSS in the first two thirds of the attack and in the last third: memory that
    // grows with the connections served (a leak) keeps rising in the last third; the heap and
    // allocator sizing that a flood of short connections causes levels off before.
    const rssThirds = [rssBefore, 0];
    const sampler = setInterval(() => {
      try {
        const now = agent.rss().now;
        rssTop = Math.max(rssTop, now);
        const late = Date.now() - attackStart > (opts.seconds * 2000) / 3 ? 1 : 0;
        rssThirds[late] = Math.max(rssThirds[late], now);
      } catch { /* gone */ }
    }, 100);
    const slow = holdConnections(agent.port, opts.slow, true);
    const idle = holdConnections(agent.port, opts.idle, false);
    await sleep(1000);
    const apiDuring = probeApiApart(agent.port, opts.seconds * 1000 - 1000);
    const detectDuring = await detect(agent, tools, samples);
    const during = { api: apiSummary(await apiDuring), detection: detectDuring };
    // Read while the attack goes on: a request on a new connection can be closed to make room
    // (the cap's policy), so each read tries again.
    const read = (name: string, label = "") => metricSum(agent.port, name, label, 20);
    const connections = await read("saker_api_connections");
    const closed = "saker_api_connections_closed_total";
    const evicted = await read(closed, 'reason="evicted"');
    const refused = await read(closed, 'reason="refused"');
    await slow.stop();
    await idle.stop();
    clearInterval(sampler);
    await sleep(1000);
    return {
      attackers: { slow: opts.slow, idle: opts.idle, seconds: opts.seconds },
      max_connections: opts.maxConnections ?? "default",
      connections_opened: slow.opened() + idle.opened(),
      connections_open_at_end: connections,
      connections_evicted: evicted,
      connections_refused: refused,
      before,
      during,
      rss_before_mb: Math.round(rssBefore / 1e6),
      rss_max_mb: Math.round(rssTop / 1e6),
      rss_growth_mb: Math.round((rssTop - rssBefore) / 1e6),
      rss_max_first_two_thirds_mb: Math.round(rssThirds[0] / 1e6),
      rss_growth_last_third_mb: Math.round(Math.max(0, rssThirds[1] - rssThirds[0]) / 1e6),
      rss_after_mb: Math.round(agent.rss().now / 1e6),
    };
  } finally {
    await agent.stop();
    await tools.remove();
  }
}
