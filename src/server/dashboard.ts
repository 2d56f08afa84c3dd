/**
 * The alert dashboard's files, served at `/` (the page) and `/ui/NAME` (its scripts and style)
 * from the `web/` assets that Saker carries (src/assets.ts: read from the source tree in a
 * checkout, embedded in the bundle and the binary), so one program serves it with nothing else
 * installed. The files hold no data and no secret, so they are served without the token; every
 * piece of data the page shows comes from the token-guarded API, and the page asks for the token
 * (kept in the browser's session storage, sent as a header, never put in a URL).
 *
 * A strict Content-Security-Policy allows only this origin: no inline scripts, no external
 * fonts, scripts or connections.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { isDashboardPath, mountDashboard } from "./dashboard.ts";
 * const app = new Hono();
 * mountDashboard(app);
 * isDashboardPath("/ui/app.js"); // true
 * ```
 * @module
 */
import type { Hono } from "hono";
import { listAssets, readAsset } from "../assets.ts";

/** Where the dashboard's files are among the assets. */
export const WEB_ASSETS = "web/";
/** URL prefix of the dashboard's scripts and style. */
export const UI_PREFIX = "/ui/";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  json: "application/json",
};

/** The Content-Security-Policy of the page. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** True for the paths the dashboard serves without a token (the page and its files). */
export function isDashboardPath(path: string): boolean {
  return path === "/" || path.startsWith(UI_PREFIX);
}

function serveAsset(name: string): Response | undefined {
  const bytes = readAsset(`${WEB_ASSETS}${name}`);
  if (!bytes) return undefined;
  const ext = name.slice(name.lastIndexOf(".") + 1);
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      // Small files: always revalidated, so an upgraded agent serves its own page at once.
      "cache-control": "no-cache",
    },
  });
}

/** The dashboard's file names (below `web/`). */
export function dashboardFiles(): string[] {
  return listAssets(WEB_ASSETS).map((n) => n.slice(WEB_ASSETS.length));
}

/** Adds `/` and `/ui/*` to the API app. */
export function mountDashboard(app: Hono): void {
  const files = new Set(dashboardFiles());
  app.get(
    "/",
    () => serveAsset("index.html") ?? new Response("dashboard missing", { status: 500 }),
  );
  app.get(`${UI_PREFIX}*`, (c) => {
    const name = c.req.path.slice(UI_PREFIX.length);
    // Only files that exist among the assets: no path is ever built from the request.
    if (!files.has(name) || name === "index.html") return c.notFound();
    return serveAsset(name) ?? c.notFound();
  });
}
