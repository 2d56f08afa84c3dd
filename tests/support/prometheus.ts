/**
 * Test support: Debian's prometheus scraping an agent every second, on a loopback port of its own
 * with its data under the test's directory; ready once it has scraped the agent twice.
 *
 * @example
 * ```ts
 * const prom = await startPrometheus(dir, "127.0.0.1:8765");
 * const r = await prom.query("saker_alerts_total");
 * await prom.stop();
 * ```
 * @module
 */
import { skipNote } from "./env.ts";
import { waitFor } from "./agent_process.ts";
import { freePort } from "./saker.ts";

/** Debian's prometheus. */
export const PROMETHEUS = "/usr/bin/prometheus";

/** True when prometheus is installed; otherwise notes the skip. */
export function havePrometheus(): boolean {
  try {
    return Deno.statSync(PROMETHEUS).isFile;
  } catch {
    skipNote("prometheus is not installed (scripts/setup.sh test installs it)");
    return false;
  }
}

/** One series of an instant query. */
export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

/** A running prometheus. */
export interface Prometheus {
  query(expr: string): Promise<PromResult[]>;
  stop(): Promise<void>;
}

/** Starts prometheus scraping `target` (host:port) as job `saker`; waits for two scrapes. */
export async function startPrometheus(dir: string, target: string): Promise<Prometheus> {
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: saker
    static_configs: [{targets: ["${target}"]}]
`,
  );
  const child = new Deno.Command(PROMETHEUS, {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/prom-data`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const api = `http://127.0.0.1:${port}`;
  const query = async (expr: string): Promise<PromResult[]> => {
    const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await r.json();
    if (body.status !== "success") throw new Error(`${expr}: ${JSON.stringify(body)}`);
    return body.data.result;
  };
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  };
  try {
    await waitFor("two scrapes", async () => {
      try {
        const up = await query('sum_over_time(up{job="saker"}[1m])');
        return up.length > 0 && Number(up[0].value[1]) >= 2;
      } catch {
        return false;
      }
    }, 60_000);
    // A scrape after the caller's last change, so that queries see the final values.
    await new Promise((r) => setTimeout(r, 1500));
  } catch (err) {
    await stop();
    throw err;
  }
  return { query, stop };
}
