// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard's entry: the navigation, the views by address (`#/alerts?filters`,
 * `#/overview?range=day`, `#/alert/ID`, `#/health`, `#/rules`, `#/tune`), and the sign-in form shown
 * when the API asks for a token. The token lives in this tab's session storage only.
 * @module
 */
import { AuthError, getJson, getToken, setToken } from "./api.js";
import { fill, h } from "./dom.js";
import { alertsView } from "./alerts.js";
import { overviewView } from "./overview.js";
import { detailView } from "./detail.js";
import { healthView } from "./health.js";
import { rulesView } from "./rules.js";
import { tuneView } from "./tune.js";

const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
const hostLabel = /** @type {HTMLElement} */ (document.getElementById("host"));
const signOut = /** @type {HTMLButtonElement} */ (document.getElementById("sign-out"));

/** @type {(() => void) | undefined} */
let stopView;
let signingIn = false;

/** @type {import("./alerts.js").ViewContext} */
const ctx = {
  navigate(hash, replace = false) {
    if (replace) location.replace(hash);
    else location.hash = hash;
  },
  onAuth(err) {
    showSignIn(err);
  },
  liveAlerts: new Map(),
};

/** The current address: view name, its argument and parameters. */
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const q = hash.indexOf("?");
  const path = q < 0 ? hash : hash.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
  const [view, arg] = path.split("/");
  return { view: view || "alerts", arg: arg ?? "", params };
}

function render() {
  if (signingIn) return;
  stopView?.();
  stopView = undefined;
  const r = route();
  for (const a of nav.querySelectorAll("a")) {
    const on = a.dataset.view === (r.view === "alert" ? "alerts" : r.view);
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `Saker · ${r.view}`;
  switch (r.view) {
    case "overview":
      stopView = overviewView(main, r.params, ctx);
      break;
    case "alert":
      stopView = detailView(main, r.arg, r.params, ctx);
      break;
    case "health":
      stopView = healthView(main, ctx);
      break;
    case "rules":
      stopView = rulesView(main, r.params, ctx);
      break;
    case "tune":
      stopView = tuneView(main, r.params, ctx);
      break;
    default:
      stopView = alertsView(main, r.params, ctx);
  }
}

/** Shows the sign-in form in place of the view. @param {Error} [err] */
function showSignIn(err) {
  stopView?.();
  stopView = undefined;
  signingIn = true;
  signOut.hidden = true;
  const had = getToken() !== "";
  const input = h("input", {
    type: "password",
    name: "token",
    id: "token",
    autocomplete: "current-password",
    required: true,
    autofocus: true,
  });
  const message = h(
    "p",
    { class: had ? "error" : "note", id: "sign-in-message", role: "alert" },
    had
      ? `The agent refused this token (${err?.message ?? "unauthorized"}).`
      : "This agent requires its API token (webserver.auth_token).",
  );
  const form = h(
    "form",
    { class: "sign-in", id: "sign-in" },
    h("h2", {}, "Sign in"),
    message,
    h("label", {}, "API token", input),
    h("button", { type: "submit" }, "Sign in"),
    h(
      "p",
      { class: "note" },
      "The token is kept in this tab's session storage until the tab closes, and sent only " +
        "as a request header to this agent.",
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    await start();
  });
  fill(main, form);
  input.focus();
}

/** Checks the token against the API, then shows the view (or the sign-in form). */
async function start() {
  try {
    const v = await getJson("/versions");
    signingIn = false;
    signOut.hidden = getToken() === "";
    hostLabel.textContent = v.saker_version ? `v${v.saker_version}` : "";
    render();
  } catch (err) {
    if (err instanceof AuthError) showSignIn(err);
    else fill(main, h("p", { class: "error" }, `The agent does not answer: ${String(err)}`));
  }
}

signOut.addEventListener("click", () => {
  setToken("");
  showSignIn();
});
globalThis.addEventListener("hashchange", render);
start();
