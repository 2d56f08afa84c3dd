/**
 * Durations as people write them in config and rules files (`500ms`, `90s`, `15m`, `1h30m`,
 * `7d`, `2w`), in one place: the config checker, alert queries (`since=15m`), the rules'
 * `aggregate:` windows and sequence windows (`within: 60s`) all read them here.
 *
 * @example
 * ```ts
 * import { formatDuration, parseDuration } from "./duration.ts";
 * parseDuration("1h30m"); // 5400
 * formatDuration(5400); // "1h30m"
 * ```
 * @module
 */

const UNITS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses a duration like `90s`, `15m`, `1h30m`, `7d` into seconds; undefined if malformed. */
export function parseDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;
  let total = 0;
  let pos = 0;
  const t = s.trim();
  if (t === "") return undefined;
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

/**
 * A number of seconds as a short duration: `850ms`, `9.8s`, `2m5s`, `1h2m`, `3d4h`. Below a
 * minute one decimal is kept; above it, the two largest units.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "0s";
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) {
    const r = Math.round(seconds * 10) / 10;
    return r >= 60 ? "1m" : `${r}s`;
  }
  const total = Math.round(seconds);
  const parts: [number, string][] = [
    [Math.floor(total / 86400), "d"],
    [Math.floor((total % 86400) / 3600), "h"],
    [Math.floor((total % 3600) / 60), "m"],
    [total % 60, "s"],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return parts.slice(first, first + 2).filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`)
    .join("");
}
