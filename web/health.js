// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The agent's health, read every two seconds from GET /status (the same numbers as /metrics):
 * events per second, kernel drops, output queues and failures, rules loaded and the last
 * reload, memory.
 * @module
 */
import { AuthError, getJson } from "./api.js";
import { bytes, count, duration, fill, h, shortTime } from "./dom.js";

/**
 * @param {string} label
 * @param {string} value
 * @param {string} id
 * @param {string} [cls]
 * @param {string} [sub]
 */
function card(label, value, id, cls = "", sub = "") {
  return h(
    "div",
    { class: `card ${cls}`, id },
    h("span", { class: "label" }, label),
    h("span", { class: "value" }, value),
    sub ? h("span", { class: "sub" }, sub) : null,
  );
}

/** @param {HTMLElement} root @param {any} st */
function render(root, st) {
  const ev = st.events;
  const lr = st.rules.last_reload;
  const reloads = Object.entries(st.rules.reloads ?? {}).map(([k, v]) => `${v} ${k}`).join(", ");
  const failing = st.outputs.some((/** @type {any} */ o) => o.failed > 0 || o.dropped > 0);
  fill(
    root,
    h(
      "p",
      { class: `health-line ${st.health.ok ? "ok" : "bad"}`, id: "health-state" },
      st.health.ok ? "Healthy" : `Unhealthy: ${st.health.reason ?? "unknown"}`,
      ` · up ${duration(st.uptime_seconds)}`,
    ),
    h(
      "div",
      { class: "cards" },
      card(
        "Events per second",
        ev.per_second === null ? "…" : count(ev.per_second),
        "events-rate",
      ),
      card(
        "Events processed",
        count(ev.processed),
        "events-processed",
        "",
        `${count(ev.received)} received from the kernel`,
      ),
      card(
        "Kernel drops",
        count(ev.kernel_drops),
        "kernel-drops",
        ev.kernel_drops > 0 ? "warn" : "",
      ),
      card(
        "Rules loaded",
        count(st.rules.loaded),
        "rules-loaded",
        "",
        reloads ? `reloads: ${reloads}` : "",
      ),
      card(
        "Last reload",
        lr ? lr.result : "none",
        "last-reload",
        lr && lr.result !== "ok" ? "warn" : "",
        lr
          ? `${shortTime(lr.time)}${lr.reason ? ` (${lr.reason})` : ""}${
            lr.error ? `: ${lr.error}` : ""
          }`
          : "since start",
      ),
      card(
        "Memory (RSS)",
        bytes(st.memory.rss_bytes),
        "memory",
        "",
        `heap ${bytes(st.memory.heap_used_bytes)}`,
      ),
      card(
        "Alerts",
        count(st.alerts.total),
        "alerts-total",
        "",
        `${count(st.alerts.stored)} stored`,
      ),
      card(
        "Evaluation errors",
        count(ev.evaluation_errors),
        "eval-errors",
        ev.evaluation_errors > 0 ? "warn" : "",
      ),
      card(
        "Live clients",
        count(st.live_clients),
        "live-clients",
        "",
        `${count(st.live_dropped)} alerts dropped to slow clients`,
      ),
    ),
    h(
      "section",
      { id: "outputs" },
      h("h3", {}, "Outputs", failing ? h("span", { class: "warn-text" }, " · failures") : null),
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "grid" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Output", "Queue", "Sent", "Failed", "Dropped", "Retries"].map((t) =>
                h("th", { scope: "col" }, t)
              ),
            ),
          ),
          h(
            "tbody",
            {},
            st.outputs.map((/** @type {any} */ o) =>
              h(
                "tr",
                { "data-output": o.name },
                h("th", { scope: "row" }, o.name),
                h("td", {}, `${count(o.queue_depth)} / ${count(o.queue_capacity)}`),
                h("td", {}, count(o.sent)),
                h("td", { class: o.failed > 0 ? "warn-text" : "" }, count(o.failed)),
                h("td", { class: o.dropped > 0 ? "warn-text" : "" }, count(o.dropped)),
                h("td", {}, count(o.retries)),
              )
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * Renders the health view into `root`, refreshed every 2 s; returns what stops it.
 * @param {HTMLElement} root
 * @param {{ onAuth(err: Error): void }} ctx
 */
export function healthView(root, ctx) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  fill(root, h("p", { class: "note" }, "Loading…"));
  const tick = async () => {
    try {
      const st = await getJson("/status");
      if (stopped) return;
      render(root, st);
    } catch (err) {
      if (err instanceof AuthError) return ctx.onAuth(err);
      if (!stopped) {
        fill(root, h("p", { class: "error" }, `No status: ${/** @type {Error} */ (err).message}`));
      }
    }
    if (!stopped) timer = setTimeout(tick, 2000);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
