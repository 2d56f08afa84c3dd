// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Small DOM and formatting helpers of the dashboard: element builders for HTML and SVG, the
 * priority table with its colours, time and number formats, and exact JSON (integers wider than
 * a double, such as nanosecond times, are kept as text).
 *
 * The page is plain JavaScript modules checked by TypeScript through JSDoc (`deno task check`):
 * no framework and no build step, so the files the agent embeds are the files that run.
 * @module
 */

/** Priorities, most severe first (Falco's names). */
export const PRIORITIES = [
  "Emergency",
  "Alert",
  "Critical",
  "Error",
  "Warning",
  "Notice",
  "Informational",
  "Debug",
];

/** A priority's CSS class suffix (`p-warning`). */
export function priorityClass(/** @type {string} */ p) {
  return `p-${p.toLowerCase()}`;
}

/** Chart colours of the priorities (the same hues as the CSS classes). */
export const PRIORITY_COLORS = /** @type {Record<string, string>} */ ({
  Emergency: "#7f1d1d",
  Alert: "#b91c1c",
  Critical: "#dc2626",
  Error: "#ea580c",
  Warning: "#d97706",
  Notice: "#2563eb",
  Informational: "#0891b2",
  Debug: "#6b7280",
});

/** Colours for series that are not priorities (rules, sources). */
export const SERIES_COLORS = [
  "#2563eb",
  "#d97706",
  "#059669",
  "#dc2626",
  "#7c3aed",
  "#0891b2",
  "#db2777",
  "#65a30d",
  "#9333ea",
  "#ea580c",
];

/**
 * @typedef {string | number | Node | null | undefined | false | any[]} Child
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attrs
 */

/** @param {Element} el @param {Attrs} attrs */
function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
}

/** @param {Element} el @param {Child[]} children */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/**
 * Builds an HTML element: `h("a", { href: "#/rules", class: "x", onclick: f }, "text")`.
 * Attributes starting with `on` are event listeners; text is never parsed as HTML.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {Child[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/**
 * Builds an SVG element.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {Child[]} children
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(
    "http://www.w3.org/2000/svg",
    tag,
  ));
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces the children of `el`. @param {Element} el @param {Child[]} children */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const pad = (/** @type {number} */ n, w = 2) => String(n).padStart(w, "0");

/**
 * A Falco time (RFC 3339 with nanoseconds) as local time: `14:03:12.123` today, with the date
 * on other days.
 * @param {string} iso
 */
export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${
    pad(d.getMilliseconds(), 3)
  }`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return t;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
}

/** A date as `2026-01-02 14:03` (local). @param {Date} d */
export function shortDate(d) {
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A count with thousands separators. @param {number} n */
export function count(n) {
  return n.toLocaleString("en-US", { maximumFractionDigits: 1 });
}

/** Bytes as KiB/MiB/GiB. @param {number} n */
export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Seconds as `3d 4h`, `2h 5m`, `42s`. @param {number} sec */
export function duration(sec) {
  const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600);
  const m = Math.floor(sec % 3600 / 60), ss = Math.floor(sec % 60);
  if (d > 0) return `${d}d ${hh}h`;
  if (hh > 0) return `${hh}h ${m}m`;
  if (m > 0) return `${m}m ${ss}s`;
  return `${ss}s`;
}

/**
 * Parses JSON keeping integers that a double cannot hold exactly (nanosecond times) as their
 * text, so nothing shown or copied differs from what the agent sent.
 * @param {string} text
 * @returns {any}
 */
export function parseExact(text) {
  // The reviver's third argument (the value's source text) exists in current browsers.
  return JSON.parse(
    text,
    /** @type {(this: any, k: string, v: any, ctx?: {source?: string}) => any} */ (
      (_k, v, ctx) =>
        typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v) && ctx?.source
          ? ctx.source
          : v
    ),
  );
}

/**
 * Indents JSON text without parsing its numbers, so it stays byte-exact apart from whitespace.
 * @param {string} text
 */
export function prettyJson(text) {
  let out = "", depth = 0, inString = false;
  const nl = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i];
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      if (text[i + 1] === close) {
        out += c + close;
        i++;
      } else {
        depth++;
        out += c + nl();
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out += nl() + c;
    } else if (c === ",") out += "," + nl();
    else if (c === ":") out += ": ";
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}
