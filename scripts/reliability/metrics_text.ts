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

/** The sum of the samples of `name` (with `label` in their labels when given). */
export async function metricSum(port: number, name: string, label = ""): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (label && !line.includes(label)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
