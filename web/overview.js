// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The overview: alerts per priority and per rule over the last hour, day or week as stacked bar
 * charts, the count of each priority, and the top rules, containers and processes; every entry
 * links to the alert list filtered to it over the same time.
 * @module
 */
import { AuthError, getJson } from "./api.js";
import { stackedBars } from "./chart.js";
import {
  count,
  fill,
  h,
  PRIORITIES,
  PRIORITY_COLORS,
  priorityClass,
  SERIES_COLORS,
} from "./dom.js";
import { listLink } from "./alerts.js";

/** The ranges: bucket size and count. */
export const RANGES =
  /** @type {Record<string, { step: number, buckets: number, since: string, label: string }>} */ ({
    hour: { step: 60, buckets: 60, since: "1h", label: "Last hour" },
    day: { step: 1800, buckets: 48, since: "1d", label: "Last day" },
    week: { step: 4 * 3600, buckets: 42, since: "7d", label: "Last week" },
  });

/**
 * The first bucket's start: whole steps, the current (partial) bucket last.
 * @param {number} nowMs @param {number} step seconds @param {number} buckets
 */
export function rangeStart(nowMs, step, buckets) {
  const end = Math.ceil(nowMs / 1000 / step) * step;
  return (end - step * buckets) * 1000;
}

/**
 * @param {string} title
 * @param {{ value: string, count: number }[]} entries
 * @param {(value: string) => string} link
 * @param {string} id
 */
function topList(title, entries, link, id) {
  const max = Math.max(1, ...entries.map((e) => e.count));
  return h(
    "section",
    { class: "top", id },
    h("h3", {}, title),
    entries.length === 0 ? h("p", { class: "note" }, "None in this range.") : h(
      "ol",
      {},
      entries.map((e) =>
        h(
          "li",
          {},
          h("a", { href: link(e.value), title: e.value }, e.value),
          h("span", { class: "n" }, count(e.count)),
          h("meter", { min: 0, max, value: e.count }),
        )
      ),
    ),
  );
}

/**
 * Renders the overview into `root`; returns what stops it.
 * @param {HTMLElement} root
 * @param {URLSearchParams} params
 * @param {{ navigate(hash: string): void, onAuth(err: Error): void }} ctx
 */
export function overviewView(root, params, ctx) {
  const rangeName = RANGES[params.get("range") ?? ""] ? String(params.get("range")) : "hour";
  const range = RANGES[rangeName];
  const body = h("div", { class: "overview-body" }, h("p", { class: "note" }, "Loading…"));
  fill(
    root,
    h(
      "nav",
      { class: "ranges", "aria-label": "time range" },
      Object.entries(RANGES).map(([name, r]) =>
        h("a", {
          href: `#/overview?range=${name}`,
          class: name === rangeName ? "active" : "",
          "aria-current": name === rangeName ? "page" : undefined,
        }, r.label)
      ),
    ),
    body,
  );
  let stopped = false;
  const sinceMs = rangeStart(Date.now(), range.step, range.buckets);
  const since = new Date(sinceMs).toISOString();
  const until = new Date(sinceMs + range.step * range.buckets * 1000).toISOString();
  const span = `since=${since}&until=${until}`;
  const link = (/** @type {Record<string, string>} */ f) => listLink({ since, ...f });

  (async () => {
    const [byPrio, byRule, rules, containers, processes] = await Promise.all([
      getJson(`/alerts/counts?${span}&step=${range.step}s&by=priority`),
      getJson(`/alerts/counts?${span}&step=${range.step}s&by=rule&series=8`),
      getJson(`/alerts/top?${span}&by=rule&limit=10`),
      getJson(`/alerts/top?${span}&by=container&limit=10`),
      getJson(`/alerts/top?${span}&by=process&limit=10`),
    ]);
    if (stopped) return;
    const start = new Date(sinceMs);
    /** @type {Record<string, number>} */
    const perPrio = {};
    for (const s of byPrio.series) perPrio[s.key] = s.total;
    const prioSeries = PRIORITIES.map((p) => ({
      key: p,
      color: PRIORITY_COLORS[p],
      counts: byPrio.series.find((/** @type {any} */ s) => s.key === p)?.counts ??
        new Array(range.buckets).fill(0),
    }));
    const ruleSeries = byRule.series.map((/** @type {any} */ s, /** @type {number} */ i) => ({
      key: s.key,
      counts: s.counts,
      color: SERIES_COLORS[i % SERIES_COLORS.length],
    }));
    if (byRule.other) {
      ruleSeries.push({
        key: `${byRule.other.keys} other rules`,
        counts: byRule.other.counts,
        color: "#9ca3af",
      });
    }
    fill(
      body,
      h(
        "section",
        { class: "totals", id: "totals", "data-since": since, "data-until": until },
        h(
          "a",
          { class: "total", href: link({}), "data-priority": "all" },
          h("span", { class: "n", id: "total-count" }, count(byPrio.total)),
          h("span", {}, "alerts"),
        ),
        PRIORITIES.filter((p) => perPrio[p]).map((p) =>
          h(
            "a",
            {
              class: `total ${priorityClass(p)}`,
              href: link({ priority: p.toLowerCase() }),
              title: `Show ${p} and more severe`,
              "data-priority": p,
            },
            h("span", { class: "n" }, count(perPrio[p])),
            h("span", {}, p),
          )
        ),
      ),
      stackedBars(prioSeries, {
        since: start,
        stepSeconds: range.step,
        title: "Alerts per priority",
      }),
      stackedBars(ruleSeries, { since: start, stepSeconds: range.step, title: "Alerts per rule" }),
      h(
        "div",
        { class: "tops" },
        topList("Top rules", rules.entries, (v) => link({ rule: v }), "top-rules"),
        topList(
          "Top containers",
          containers.entries,
          (v) => link({ container: v }),
          "top-containers",
        ),
        topList(
          "Top processes",
          processes.entries,
          (v) => link({ process: v }),
          "top-processes",
        ),
      ),
    );
  })().catch((err) => {
    if (err instanceof AuthError) return ctx.onAuth(err);
    fill(body, h("p", { class: "error" }, `Could not load the overview: ${err.message}`));
  });
  return () => {
    stopped = true;
  };
}
