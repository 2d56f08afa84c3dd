/**
 * Saker's version and the versions of what it is built on (Deno, V8, TypeScript, the rules
 * engine version it answers `required_engine_version` with), for `saker version` and /versions.
 *
 * @example
 * ```ts
 * versions().saker_version; // "0.1.0"
 * ```
 * @module
 */

/** Saker's own version. */
export const SAKER_VERSION = "0.1.0";

/**
 * The Falco rules engine version whose rules language Saker implements: what rules files'
 * `required_engine_version` is checked against, and what `saker version` and `/versions` report.
 */
export const ENGINE_VERSION = "0.63.0";

/** Versions reported by `saker version` and GET /versions. */
export function versions(): Record<string, string> {
  return {
    saker_version: SAKER_VERSION,
    engine_version: ENGINE_VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
  };
}
