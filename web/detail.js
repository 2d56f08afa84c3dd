// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * One alert in full: what happened, its tags with the MITRE ATT&CK names, the process and its
 * ancestors as far as the alert's fields carry them, the container and image, every output
 * field, and the exact JSON with a copy button.
 * @module
 */
import { AuthError, getJson, getText } from "./api.js";
import { fill, h, parseExact, prettyJson, priorityClass } from "./dom.js";
import { mitreName } from "./mitre.js";
import { listLink, outputText, RAW_TEXT } from "./alerts.js";

/**
 * The process chain an alert carries, the alert's process first: `proc.*` for it, `proc.p*` for
 * its parent, `proc.a*[N]` for the ancestor N levels up.
 * @param {Record<string, unknown>} f
 * @returns {{ level: number, name?: unknown, pid?: unknown, exe?: unknown, cmdline?: unknown }[]}
 */
export function ancestry(f) {
  const has = (/** @type {string} */ k) => f[k] !== undefined && f[k] !== null;
  const pick = (/** @type {string[]} */ ...keys) => {
    for (const k of keys) if (has(k)) return f[k];
    return undefined;
  };
  const out = [];
  const self = {
    level: 0,
    name: pick("proc.name"),
    pid: pick("proc.pid", "proc.vpid"),
    exe: pick("proc.exepath", "proc.exe"),
    cmdline: pick("proc.cmdline"),
  };
  const parent = {
    level: 1,
    name: pick("proc.pname", "proc.aname[1]"),
    pid: pick("proc.ppid", "proc.apid[1]"),
    exe: pick("proc.pexepath", "proc.pexe", "proc.aexepath[1]"),
    cmdline: pick("proc.pcmdline", "proc.acmdline[1]"),
  };
  for (const p of [self, parent]) {
    if (p.name !== undefined || p.pid !== undefined || p.cmdline !== undefined) out.push(p);
  }
  for (let n = 2; n <= 16; n++) {
    const a = {
      level: n,
      name: pick(`proc.aname[${n}]`),
      pid: pick(`proc.apid[${n}]`),
      exe: pick(`proc.aexepath[${n}]`, `proc.aexe[${n}]`),
      cmdline: pick(`proc.acmdline[${n}]`),
    };
    if (a.name === undefined && a.pid === undefined) continue;
    out.push(a);
  }
  return out;
}

const CONTAINER_FIELDS = [
  ["container.name", "Name"],
  ["container.id", "Id"],
  ["container.image.repository", "Image"],
  ["container.image.tag", "Tag"],
  ["container.image", "Image reference"],
  ["container.image.digest", "Digest"],
  ["container.privileged", "Privileged"],
  ["k8s.ns.name", "Kubernetes namespace"],
  ["k8s.pod.name", "Pod"],
];

/**
 * @param {string} term
 * @param {unknown} value
 */
function pair(term, value) {
  return [h("dt", {}, term), h("dd", {}, value === null ? "<NA>" : String(value))];
}

/**
 * Copies `text`, with the older selection method where the Clipboard API is unavailable (pages
 * served over plain HTTP to another host).
 * @param {string} text
 */
export async function copy(text) {
  if (navigator.clipboard && globalThis.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h("textarea", { readonly: true, class: "offscreen" });
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/**
 * Renders the alert's detail.
 * @param {HTMLElement} root
 * @param {any} a  the alert (output_fields parsed exactly)
 * @param {string} raw  its JSON text as the agent sent it
 */
function render(root, a, raw) {
  const f = /** @type {Record<string, unknown>} */ (a.output_fields ?? {});
  const chain = ancestry(f);
  const container = CONTAINER_FIELDS.filter(([k]) => f[k] !== undefined);
  const pretty = prettyJson(raw);
  const copied = h("span", { class: "copied", id: "copied", role: "status" });
  const copyButton = h("button", { type: "button", id: "copy-json" }, "Copy JSON");
  copyButton.addEventListener("click", () => {
    copy(pretty).then(
      () => copied.textContent = "Copied",
      (err) => copied.textContent = `Copy failed: ${err.message}`,
    );
  });
  fill(
    root,
    h(
      "article",
      { class: `detail ${priorityClass(a.priority)}`, id: "alert-detail", "data-id": a.id },
      h(
        "header",
        {},
        h("span", { class: "prio" }, a.priority),
        h(
          "h2",
          {},
          h("a", { href: listLink({ rule: a.rule }), title: "Alerts of this rule" }, a.rule),
        ),
      ),
      h(
        "dl",
        { class: "facts" },
        pair("Time", a.time),
        pair("Host", a.hostname),
        pair("Source", a.source),
        a.id === undefined ? null : pair("Alert id", a.id),
      ),
      h("p", { class: "output" }, outputText(a)),
      h(
        "section",
        { id: "tags" },
        h("h3", {}, "Tags"),
        (a.tags ?? []).length === 0 ? h("p", { class: "note" }, "No tags.") : h(
          "ul",
          { class: "tags" },
          (a.tags ?? []).map((/** @type {string} */ t) => {
            const name = mitreName(t);
            return h(
              "li",
              {},
              h("a", { href: listLink({ tag: t }), class: "tag" }, t),
              name ? h("span", { class: "mitre" }, name) : null,
            );
          }),
        ),
      ),
      h(
        "section",
        { id: "ancestry" },
        h("h3", {}, "Process"),
        chain.length === 0 ? h("p", { class: "note" }, "The alert names no process.") : h(
          "ol",
          { class: "chain" },
          chain.map((p) =>
            h(
              "li",
              { "data-level": p.level },
              h(
                "span",
                { class: "who" },
                p.level === 0 ? "process" : p.level === 1 ? "parent" : `ancestor ${p.level}`,
              ),
              h("strong", {}, p.name === undefined ? "?" : String(p.name)),
              p.pid === undefined ? null : h("span", { class: "pid" }, `pid ${p.pid}`),
              p.exe === undefined ? null : h("code", {}, String(p.exe)),
              p.cmdline === undefined ? null : h("code", { class: "cmd" }, String(p.cmdline)),
            )
          ),
        ),
      ),
      h(
        "section",
        { id: "container" },
        h("h3", {}, "Container"),
        container.length === 0
          ? h("p", { class: "note" }, "The alert names no container.")
          : h("dl", { class: "facts" }, container.map(([k, label]) => pair(label, f[k]))),
      ),
      h(
        "section",
        { id: "fields" },
        h("h3", {}, "Output fields"),
        h(
          "div",
          { class: "scroll" },
          h(
            "table",
            { class: "fields" },
            h(
              "tbody",
              {},
              Object.keys(f).sort().map((k) =>
                h(
                  "tr",
                  {},
                  h("th", { scope: "row" }, k),
                  h(
                    "td",
                    {},
                    f[k] === null
                      ? "<NA>"
                      : typeof f[k] === "object"
                      ? JSON.stringify(f[k])
                      : String(f[k]),
                  ),
                )
              ),
            ),
          ),
        ),
      ),
      h(
        "section",
        { id: "raw" },
        h("h3", {}, "JSON ", copyButton, " ", copied),
        h("pre", { class: "json", id: "raw-json" }, pretty),
      ),
    ),
  );
}

/**
 * Renders the detail of `#/alert/ID` (from the store) or `#/alert/live?key=K` (an alert that
 * came live and is looked up in the store, shown from memory while not stored yet).
 * @param {HTMLElement} root
 * @param {string} id
 * @param {URLSearchParams} params
 * @param {import("./alerts.js").ViewContext} ctx
 */
export function detailView(root, id, params, ctx) {
  let stopped = false;
  fill(root, h("p", { class: "note" }, "Loading…"));
  const fail = (/** @type {Error} */ err) => {
    if (err instanceof AuthError) return ctx.onAuth(err);
    fill(root, h("p", { class: "error" }, `Could not load the alert: ${err.message}`));
  };
  if (id !== "live") {
    getText(`/alerts/${encodeURIComponent(id)}`).then((raw) => {
      if (!stopped) render(root, parseExact(raw), raw);
    }).catch(fail);
    return () => stopped = true;
  }
  const key = params.get("key") ?? "";
  const a = ctx.liveAlerts.get(key);
  if (!a) {
    fill(root, h("p", { class: "error" }, "This live alert is no longer in memory."));
    return () => stopped = true;
  }
  render(root, a, RAW_TEXT.get(a) ?? JSON.stringify(a));
  // Find it in the store, so that the address can be shared.
  const q = new URLSearchParams({ since: a.time, rule: a.rule, limit: "20" });
  const find = (/** @type {number} */ tries) =>
    getJson(`/alerts?${q}`).then((page) => {
      if (stopped) return;
      const hit = page.alerts.find((/** @type {any} */ x) =>
        x.time === a.time && x.output === a.output
      );
      if (hit) ctx.navigate(`#/alert/${hit.id}`, true);
      else if (tries > 0) setTimeout(() => find(tries - 1), 500);
    }).catch(() => {/* store disabled: the detail stays as it is */});
  find(4);
  return () => stopped = true;
}
