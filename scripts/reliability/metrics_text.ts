/**
 * Reading one figure from a running agent's /metrics: the sum of a family's samples, optionally
 * only those whose labels contain some text (`output="http"`).
 *
 * @example
 * ```ts
 * import { metricSum } from "./metrics_text.ts";
 * await metricSum(8765, "saker_output_dropped_total", 'output="http"');
 * ```
 * @module
 */

/**
 * The sum of the samples of `name` (with `label` in their labels when given). Up to `attempts`
 * requests, 100 ms apart: under a connection flood the agent closes the oldest connections that
 * have not sent a request yet to make room, and a new one can be among them.
 */
export async function metricSum(
  port: number,
  name: string,
  label = "",
  attempts = 1,
): Promise<number> {
  let text = "";
  for (let i = 1;; i++) {
    try {
      text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      break;
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (label && !line.includes(label)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
