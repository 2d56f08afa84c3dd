// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Tuning (GET /tune): for the noisiest rules, the exception `saker tune` proposes from the alert
 * store, each value with the stored alerts it matched and how many the exception would have
 * removed, what was left out and why, and the local rules file that adds them all (to copy; the
 * page writes nothing). The time range and the least count live in the address
 * (`#/tune?since=7d&min_count=5`).
 * @module
 */
import { AuthError, getJson } from "./api.js";
import { count, fill, h, priorityClass } from "./dom.js";
import { listLink } from "./alerts.js";
import { copy } from "./detail.js";

/** `n alerts`, singular for one. @param {number} n */
export function alertsText(n) {
  return `${count(n)} alert${n === 1 ? "" : "s"}`;
}

/** Ranges offered, as `since` values of the API. */
export const TUNE_RANGES = ["1h", "24h", "7d", "30d"];

/**
 * The share of `n` in `of`, as the page prints it.
 * @param {number} n @param {number} of
 */
export function percent(n, of) {
  return of === 0 ? "0%" : `${(100 * n / of).toFixed(1)}%`;
}

/**
 * The one-line summary of a report.
 * @param {{ alerts: number, removed: number, proposals: any[], since: string }} r
 */
export function tuneSummary(r) {
  if (r.alerts === 0) return "No stored alerts in this range.";
  return `${count(r.alerts)} stored alerts since ${r.since.replace("T", " ").slice(0, 19)} UTC; ` +
    `the ${r.proposals.length} proposed exception${r.proposals.length === 1 ? "" : "s"} ` +
    `would have removed ${count(r.removed)} (${percent(r.removed, r.alerts)}).`;
}

/**
 * @param {HTMLElement} root
 * @param {URLSearchParams} params
 * @param {{ navigate(hash: string, replace?: boolean): void, onAuth(err: Error): void }} ctx
 */
export function tuneView(root, params, ctx) {
  let stopped = false;
  const sinceValue = params.get("since") ?? "24h";
  const since = h(
    "select",
    { name: "since" },
    TUNE_RANGES.map((r) => h("option", { value: r, selected: r === sinceValue }, `last ${r}`)),
  );
  const minCount = h("input", {
    type: "number",
    name: "min_count",
    min: 1,
    value: params.get("min_count") ?? "3",
  });
  const summary = h("p", { class: "note", id: "tune-summary" }, "Loading…");
  const list = h("div", { id: "tune-proposals" });
  const fileText = h("pre", { class: "json", id: "tune-file" });
  const copied = h("span", { class: "note", role: "status" });
  const copyButton = h("button", { type: "button", id: "copy-tune-file" }, "Copy the file");
  copyButton.addEventListener("click", () => {
    copy(fileText.textContent ?? "").then(
      () => copied.textContent = "copied",
      (err) => copied.textContent = `not copied: ${err.message}`,
    );
  });
  const form = h(
    "form",
    { class: "filters" },
    h("label", {}, "Alerts of", since),
    h("label", {}, "Least alerts per value", minCount),
  );
  fill(
    root,
    form,
    summary,
    list,
    h(
      "section",
      { class: "tune-file" },
      h("h3", {}, "Rules file ", copyButton, " ", copied),
      h(
        "p",
        { class: "note" },
        "Review it, then keep it among the agent's rules files after the rules it tunes (e.g. " +
          "/etc/saker/rules.d/saker_tuning.yaml); the agent reloads it. `saker tune` writes " +
          "and merges it for you.",
      ),
      fileText,
    ),
  );
  const load = () => {
    const p = new URLSearchParams({ since: since.value, min_count: minCount.value || "3" });
    const hash = `#/tune?${p}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    summary.textContent = "Loading…";
    getJson(`/tune?${p}`).then((r) => {
      if (stopped) return;
      summary.textContent = tuneSummary(r);
      fill(list, r.proposals.map(proposalCard), skippedList(r.skipped));
      fileText.textContent = r.file_text;
    }).catch((err) => {
      if (err instanceof AuthError) return ctx.onAuth(err);
      summary.textContent = `Could not load the proposals: ${err.message}`;
    });
  };
  since.addEventListener("change", load);
  minCount.addEventListener("change", load);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  load();
  return () => {
    stopped = true;
  };
}

/** One rule's proposal. @param {any} p */
function proposalCard(p) {
  const left = [];
  if (p.left_out.unsafe_programs > 0) {
    left.push(
      `${alertsText(p.left_out.unsafe_programs)} of programs in /tmp, /dev/shm or other ` +
        "writable places are never excepted",
    );
  }
  if (p.left_out.rare > 0) {
    left.push(`${alertsText(p.left_out.rare)} of programs and objects seen rarely stay`);
  }
  return h(
    "section",
    { class: "proposal", "data-rule": p.rule },
    h(
      "h3",
      {},
      h("a", { href: listLink({ rule: p.rule }) }, p.rule),
      " ",
      h("span", { class: `prio-text ${priorityClass(p.priority)}` }, p.priority),
    ),
    h(
      "p",
      { class: "removes" },
      `${alertsText(p.alerts)}; the exception would have removed ${count(p.removed)} ` +
        `(${percent(p.removed, p.alerts)}).`,
    ),
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
            [...p.exception.fields, "Alerts"].map((f) => h("th", { scope: "col" }, f)),
          ),
        ),
        h(
          "tbody",
          {},
          p.exception.values.map((/** @type {any} */ v) =>
            h(
              "tr",
              {},
              v.values.map((/** @type {string} */ x) => h("td", {}, x)),
              h("td", { class: "n" }, count(v.alerts)),
            )
          ),
        ),
      ),
    ),
    left.length ? h("p", { class: "note" }, left.join("; ") + ".") : null,
  );
}

/** Rules with alerts and no proposal. @param {any[]} skipped */
function skippedList(skipped) {
  if (skipped.length === 0) return null;
  return h(
    "details",
    { class: "skipped" },
    h("summary", {}, `${skipped.length} more rules with alerts and no proposal`),
    h(
      "ul",
      {},
      skipped.map((s) => h("li", {}, `${s.rule}: ${alertsText(s.alerts)} (${s.reason})`)),
    ),
  );
}
