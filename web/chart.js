// @ts-check
/// <reference lib="dom" />
/**
 * A stacked bar chart in plain SVG (no charting library): one bar per time bucket, one colour
 * per series, a y scale with round steps, a few time labels, and a native tooltip on each bar
 * segment. It scales with its container through the viewBox.
 * @module
 */
import { count, h, s, shortDate } from "./dom.js";

/**
 * @typedef {object} Series
 * @property {string} key
 * @property {number[]} counts  one per bucket
 * @property {string} color
 */

/** A round upper bound for the y axis: four steps of 1, 2 or 5 times a power of ten. */
export function niceMax(/** @type {number} */ max) {
  const raw = Math.max(max, 1) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return Math.max(4, 4 * m * mag);
  return 40 * mag;
}

/** A bucket's label: time of day within a day, date and time beyond. */
function label(/** @type {Date} */ d, /** @type {number} */ rangeMs) {
  if (rangeMs <= 86_400_000) {
    return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }
  return shortDate(d);
}

/**
 * Draws the chart.
 * @param {Series[]} series
 * @param {{ since: Date, stepSeconds: number, title: string }} opts
 * @returns {HTMLElement}
 */
export function stackedBars(series, opts) {
  const n = series[0]?.counts.length ?? 0;
  const W = 720, H = 170, left = 40, bottom = 22, top = 8;
  const plotW = W - left - 8, plotH = H - top - bottom;
  const sums = Array.from({ length: n }, (_, i) => series.reduce((t, x) => t + x.counts[i], 0));
  const max = niceMax(Math.max(0, ...sums));
  const barW = n > 0 ? plotW / n : plotW;
  const gap = barW > 4 ? 1 : 0;
  const y = (/** @type {number} */ v) => top + plotH - (v / max) * plotH;
  const rangeMs = n * opts.stepSeconds * 1000;

  /** @type {SVGElement[]} */
  const grid = [];
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    grid.push(
      s("line", { x1: left, x2: W - 8, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: left - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" }, count(v)),
    );
  }
  /** @type {SVGElement[]} */
  const bars = [];
  for (let i = 0; i < n; i++) {
    let acc = 0;
    const start = new Date(opts.since.getTime() + i * opts.stepSeconds * 1000);
    for (const ser of series) {
      const v = ser.counts[i];
      if (v === 0) continue;
      const y0 = y(acc), y1 = y(acc + v);
      acc += v;
      bars.push(
        s(
          "rect",
          {
            x: left + i * barW + gap / 2,
            y: y1,
            width: Math.max(barW - gap, 0.5),
            height: Math.max(y0 - y1, 0.5),
            fill: ser.color,
            "data-key": ser.key,
          },
          s("title", {}, `${label(start, rangeMs)} · ${ser.key}: ${count(v)}`),
        ),
      );
    }
  }
  /** @type {SVGElement[]} */
  const ticks = [];
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += every) {
    const d = new Date(opts.since.getTime() + i * opts.stepSeconds * 1000);
    ticks.push(
      s("text", { x: left + i * barW, y: H - 6, class: "axis" }, label(d, rangeMs)),
    );
  }
  const svg = s(
    "svg",
    {
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-label": opts.title,
      class: "chart",
    },
    grid,
    bars,
    ticks,
  );
  const legend = h(
    "ul",
    { class: "legend" },
    series.filter((x) => x.counts.some((c) => c > 0)).map((x) =>
      h(
        "li",
        {},
        s(
          "svg",
          { viewBox: "0 0 10 10", class: "swatch" },
          s("rect", {
            width: 10,
            height: 10,
            fill: x.color,
          }),
        ),
        x.key,
      )
    ),
  );
  return h("figure", { class: "chart-box" }, h("figcaption", {}, opts.title), svg, legend);
}
