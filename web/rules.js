// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The loaded rules (GET /rules): priority, source, tags, whether each runs, and its alerts in the
 * store (linking to them) and since the agent started; searchable and sortable by alerts.
 * @module
 */
import { AuthError, getJson } from "./api.js";
import { count, fill, h, priorityClass } from "./dom.js";
import { listLink } from "./alerts.js";

/**
 * @param {HTMLElement} root
 * @param {URLSearchParams} params
 * @param {{ navigate(hash: string, replace?: boolean): void, onAuth(err: Error): void }} ctx
 */
export function rulesView(root, params, ctx) {
  let stopped = false;
  const search = h("input", {
    type: "search",
    name: "q",
    placeholder: "name or tag",
    value: params.get("q") ?? "",
    autocomplete: "off",
  });
  const order = h(
    "select",
    { name: "order" },
    h("option", { value: "" }, "load order"),
    h("option", { value: "alerts", selected: params.get("order") === "alerts" }, "most alerts"),
  );
  const only = h("input", {
    type: "checkbox",
    name: "enabled",
    checked: params.get("enabled") === "1",
  });
  const summary = h("p", { class: "note", id: "rules-summary" });
  const body = h("tbody", {});
  fill(
    root,
    h(
      "form",
      { class: "filters" },
      h("label", {}, "Search", search),
      h("label", {}, "Order", order),
      h("label", { class: "check" }, only, "running only"),
    ),
    summary,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "grid rules", id: "rules-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Rule", "Priority", "Source", "Tags", "Running", "Alerts", "Since start"].map((t) =>
              h("th", { scope: "col" }, t)
            ),
          ),
        ),
        body,
      ),
    ),
  );
  /** @type {any[]} */
  let rules = [];
  const show = () => {
    const q = search.value.trim().toLowerCase();
    let list = rules.filter((r) =>
      (!only.checked || r.enabled) &&
      (!q || r.name.toLowerCase().includes(q) ||
        r.tags.some((/** @type {string} */ t) => t.toLowerCase().includes(q)))
    );
    if (order.value === "alerts") list = [...list].sort((a, b) => b.alerts - a.alerts);
    const running = rules.filter((r) => r.enabled).length;
    summary.textContent = `${count(rules.length)} rules loaded, ${count(running)} running; ` +
      `${count(list.length)} shown.`;
    fill(
      body,
      list.map((r) =>
        h(
          "tr",
          { "data-rule": r.name, class: r.enabled ? "" : "off" },
          h("th", { scope: "row", title: r.description }, r.name),
          h("td", {}, h("span", { class: `prio-text ${priorityClass(r.priority)}` }, r.priority)),
          h("td", {}, r.source),
          h("td", { class: "tags" }, r.tags.join(" ")),
          h("td", {}, r.enabled ? "yes" : "no"),
          h(
            "td",
            { class: "n" },
            r.alerts > 0 ? h("a", { href: listLink({ rule: r.name }) }, count(r.alerts)) : "0",
          ),
          h("td", { class: "n" }, count(r.alerts_since_start)),
        )
      ),
    );
    const p = new URLSearchParams();
    if (q) p.set("q", search.value.trim());
    if (order.value) p.set("order", order.value);
    if (only.checked) p.set("enabled", "1");
    const hash = `#/rules${p.size ? `?${p}` : ""}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
  };
  search.addEventListener("input", show);
  order.addEventListener("change", show);
  only.addEventListener("change", show);
  root.querySelector("form")?.addEventListener("submit", (e) => e.preventDefault());
  getJson("/rules").then((r) => {
    if (stopped) return;
    rules = r.rules;
    show();
  }).catch((err) => {
    if (err instanceof AuthError) return ctx.onAuth(err);
    summary.textContent = `Could not load the rules: ${err.message}`;
  });
  return () => {
    stopped = true;
  };
}
