// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The alert list: stored alerts newest first, live ones added on top as they happen (within a
 * second: the stream is followed as soon as the view opens), filters kept in the URL, paging
 * back through the store. Pausing freezes the list (and so the scroll position) and counts what
 * arrives meanwhile; while running, a reader scrolled down the list keeps their place too.
 * @module
 */
import { AuthError, followStream, getJson } from "./api.js";
import { fill, h, parseExact, PRIORITIES, priorityClass, shortTime } from "./dom.js";

/** The URL parameters the list is filtered by (the API's filter parameters). */
export const FILTER_KEYS = [
  "since",
  "priority",
  "rule",
  "source",
  "tag",
  "container",
  "process",
  "q",
];

/** Time ranges offered by the form (any duration works in the URL). */
const SINCE = [["", "any time"], ["15m", "last 15 min"], ["1h", "last hour"], [
  "1d",
  "last day",
], ["7d", "last week"]];

/** The JSON text each live alert arrived as (exact, for the detail's raw view). */
export const RAW_TEXT = /** @type {WeakMap<object, string>} */ (new WeakMap());

const PAGE = 100;
const MAX_ROWS = 5000;

/**
 * @typedef {object} ViewContext
 * @property {(hash: string, replace?: boolean) => void} navigate
 * @property {(err: Error) => void} onAuth
 * @property {Map<string, any>} liveAlerts  alerts not yet found in the store, by key
 */

/** An alert's identity across the store and the stream. @param {any} a */
export function alertKey(a) {
  return `${a.time}\u0000${a.rule}\u0000${a.output}`;
}

const PREFIX = new RegExp(`^\\S+: (?:${PRIORITIES.join("|")}) `);

/** The output without the time and priority that start it. @param {any} a */
export function outputText(a) {
  return String(a.output ?? "").replace(PREFIX, "");
}

/** Where an alert happened: container (or host) and process. @param {any} a */
export function whereText(a) {
  const f = a.output_fields ?? {};
  const id = f["container.id"];
  const container = f["container.name"] ?? (id === undefined ? undefined : id);
  const proc = f["proc.name"];
  const pid = f["proc.pid"];
  return {
    container: container === undefined || container === null ? "" : String(container),
    process: proc === undefined || proc === null
      ? ""
      : pid === undefined || pid === null
      ? String(proc)
      : `${proc} (${pid})`,
  };
}

/** The link of a filtered list. @param {Record<string, string>} filter */
export function listLink(filter) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) p.set(k, v);
  return `#/alerts?${p}`;
}

/**
 * @param {URLSearchParams} params
 * @param {(next: URLSearchParams) => void} apply
 * @param {string[]} ruleNames
 */
function filterForm(params, apply, ruleNames) {
  const opt = (/** @type {string} */ v, /** @type {string} */ text, /** @type {string} */ cur) =>
    h("option", { value: v, selected: v === cur }, text);
  const since = params.get("since") ?? "";
  const sinceOptions = SINCE.some(([v]) => v === since) ? SINCE : [...SINCE, [since, since]];
  const prio = (params.get("priority") ?? "").toLowerCase();
  const text = (/** @type {string} */ name, /** @type {string} */ label, extra = {}) =>
    h(
      "label",
      {},
      label,
      h("input", {
        name,
        value: params.get(name) ?? "",
        type: name === "q" ? "search" : "text",
        autocomplete: "off",
        ...extra,
      }),
    );
  const source = params.get("source") ?? "";
  const active = FILTER_KEYS.filter((k) => params.get(k)).length;
  const form = h(
    "form",
    { class: "filters", role: "search" },
    h(
      "label",
      {},
      "Time",
      h("select", { name: "since" }, sinceOptions.map(([v, t]) => opt(v, t, since))),
    ),
    h(
      "label",
      {},
      "Priority at least",
      h(
        "select",
        { name: "priority" },
        opt("", "any", prio),
        PRIORITIES.map((p) => opt(p.toLowerCase(), p, prio)),
      ),
    ),
    text("rule", "Rule", { list: "rule-names" }),
    h(
      "label",
      {},
      "Source",
      h(
        "select",
        { name: "source" },
        [["", "any"], ["syscall", "syscall"], ["k8s_audit", "k8s_audit"], [
          "internal",
          "internal",
        ]]
          .map(([v, t]) => opt(v, t, source)),
      ),
    ),
    text("tag", "Tag"),
    text("container", "Container"),
    text("process", "Process name"),
    text("q", "Text"),
    h("datalist", { id: "rule-names" }, ruleNames.map((n) => h("option", { value: n }))),
    h("button", { type: "submit" }, "Apply"),
    h("button", { type: "reset" }, "Clear"),
  );
  const current = () => {
    const next = new URLSearchParams();
    const data = new FormData(form);
    for (const k of FILTER_KEYS) {
      const v = String(data.get(k) ?? "").trim();
      if (v) next.set(k, v);
    }
    return next;
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply(current());
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    apply(new URLSearchParams());
  });
  for (const sel of form.querySelectorAll("select")) {
    sel.addEventListener("change", () => apply(current()));
  }
  for (const inp of form.querySelectorAll("input")) {
    inp.addEventListener("change", () => apply(current()));
  }
  // Open on wide screens; on a phone the list comes first unless filters are set.
  const wide = globalThis.matchMedia("(min-width: 641px)").matches;
  return h(
    "details",
    { class: "filter-box", open: wide || active > 0 },
    h("summary", {}, active > 0 ? `Filters (${active})` : "Filters"),
    form,
  );
}

/**
 * One alert row.
 * @param {any} a
 * @param {ViewContext} ctx
 */
function row(a, ctx) {
  const where = whereText(a);
  const key = alertKey(a);
  const open = (/** @type {Event} */ e) => {
    e.preventDefault();
    if (a.id !== undefined) ctx.navigate(`#/alert/${a.id}`);
    else {
      ctx.liveAlerts.set(key, a);
      ctx.navigate(`#/alert/live?key=${encodeURIComponent(key)}`);
    }
  };
  return h(
    "li",
    {
      class: `alert ${priorityClass(a.priority)}`,
      "data-rule": a.rule,
      "data-priority": a.priority,
      "data-id": a.id,
      "data-time": a.time,
    },
    h(
      "div",
      { class: "meta" },
      h("span", { class: "prio" }, a.priority),
      h("time", { datetime: a.time, title: a.time }, shortTime(a.time)),
      h(
        "a",
        { class: "rule", href: a.id === undefined ? "#/alerts" : `#/alert/${a.id}`, onclick: open },
        a.rule,
      ),
    ),
    h(
      "div",
      { class: "where" },
      a.hostname ? h("span", { class: "host", title: "host" }, a.hostname) : null,
      where.container
        ? h("span", { class: "container", title: "container" }, where.container)
        : null,
      where.process ? h("span", { class: "process", title: "process" }, where.process) : null,
    ),
    h("div", { class: "output" }, outputText(a)),
  );
}

/**
 * Renders the alert list into `root`; returns what stops it.
 * @param {HTMLElement} root
 * @param {URLSearchParams} params
 * @param {ViewContext} ctx
 */
export function alertsView(root, params, ctx) {
  const filter = new URLSearchParams();
  for (const k of FILTER_KEYS) for (const v of params.getAll(k)) if (v) filter.append(k, v);
  const apply = (/** @type {URLSearchParams} */ next) => ctx.navigate(`#/alerts?${next}`);
  const formSlot = h("div", {}, filterForm(params, apply, []));
  const list = h("ol", { class: "alerts", id: "alert-list", "aria-live": "polite" });
  const liveState = h("span", { class: "live-state", id: "live-state" }, "connecting");
  const counter = h("button", {
    class: "new-count",
    id: "new-count",
    type: "button",
    hidden: true,
  });
  const pause = h("button", { type: "button", id: "pause", "aria-pressed": "false" }, "Pause");
  const note = h("p", { class: "note", id: "list-note" });
  const more = h("button", { type: "button", id: "older", hidden: true }, "Older alerts");
  fill(
    root,
    formSlot,
    h("div", { class: "live-bar" }, liveState, pause, counter),
    note,
    list,
    more,
  );

  getJson("/rules").then((r) => {
    const names = [...new Set(r.rules.map((/** @type {any} */ x) => String(x.name)))].sort();
    fill(formSlot, filterForm(params, apply, /** @type {string[]} */ (names)));
  }).catch(() => {/* the list works without suggestions */});

  const seen = new Set();
  /** @type {any[]} */
  let pending = [];
  /** @type {any[] | undefined} */
  let early = [];
  let paused = false;
  /** @type {number | undefined} */
  let next;
  let stopped = false;

  const showCounter = () => {
    counter.hidden = pending.length === 0;
    counter.textContent = `${pending.length} new ${pending.length === 1 ? "alert" : "alerts"}`;
  };

  /** Adds alerts (oldest first) on top, keeping the reader's place when scrolled down. */
  const addOnTop = (/** @type {any[]} */ alerts) => {
    const fresh = alerts.filter((a) => !seen.has(alertKey(a)));
    if (fresh.length === 0) return;
    const listTop = list.getBoundingClientRect().top + globalThis.scrollY;
    const keepPlace = globalThis.scrollY > listTop;
    const before = list.offsetHeight;
    const frag = document.createDocumentFragment();
    for (const a of fresh.reverse()) {
      seen.add(alertKey(a));
      frag.appendChild(row(a, ctx));
    }
    list.prepend(frag);
    while (list.children.length > MAX_ROWS) list.lastElementChild?.remove();
    if (keepPlace) globalThis.scrollBy(0, list.offsetHeight - before);
    note.textContent = "";
  };

  const arrive = (/** @type {any} */ a) => {
    if (early) {
      early.push(a);
      return;
    }
    if (paused) {
      pending.push(a);
      showCounter();
    } else addOnTop([a]);
  };

  const resume = () => {
    paused = false;
    pause.textContent = "Pause";
    pause.setAttribute("aria-pressed", "false");
    const p = pending;
    pending = [];
    showCounter();
    addOnTop(p);
  };
  pause.addEventListener("click", () => {
    if (paused) resume();
    else {
      paused = true;
      pause.textContent = "Resume";
      pause.setAttribute("aria-pressed", "true");
    }
  });
  counter.addEventListener("click", () => {
    resume();
    list.scrollIntoView({ block: "start" });
  });

  const stream = followStream(`/alerts/stream?${filter}`, {
    onAlert: (text) => {
      const a = parseExact(text);
      RAW_TEXT.set(a, text);
      arrive(a);
    },
    onState: (state, detail) => {
      liveState.textContent = state === "open" ? "live" : state;
      liveState.className = `live-state ${state}`;
      if (detail) liveState.title = detail;
    },
    onAuth: (err) => ctx.onAuth(err),
  });

  const appendPage = (/** @type {any[]} */ alerts) => {
    const frag = document.createDocumentFragment();
    for (const a of alerts) {
      const k = alertKey(a);
      if (seen.has(k)) continue;
      seen.add(k);
      frag.appendChild(row(a, ctx));
    }
    list.appendChild(frag);
  };

  const loadPage = async () => {
    const q = new URLSearchParams(filter);
    q.set("limit", String(PAGE));
    if (next !== undefined) q.set("before", String(next));
    more.disabled = true;
    try {
      const page = await getJson(`/alerts?${q}`);
      if (stopped) return;
      appendPage(page.alerts);
      next = page.next;
      more.hidden = next === undefined;
    } catch (err) {
      if (err instanceof AuthError) return ctx.onAuth(err);
      note.textContent = `Stored alerts unavailable: ${/** @type {Error} */ (err).message}. ` +
        "Live alerts still arrive.";
    } finally {
      more.disabled = false;
    }
    if (early) {
      const e = early;
      early = undefined;
      addOnTop(e);
    }
    if (list.children.length === 0 && !note.textContent) {
      note.textContent = "No alerts match yet; new ones appear here as they happen.";
    }
  };
  more.addEventListener("click", () => loadPage());
  loadPage();

  return () => {
    stopped = true;
    stream.close();
  };
}
