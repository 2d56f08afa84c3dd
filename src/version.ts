/** Saker's version and the versions of what it is built on. @module */

/** Saker's own version. */
export const SAKER_VERSION = "0.1.0";

/** Falco rules engine version Saker implements (for `required_engine_version`). */
export const ENGINE_VERSION = "0.50.0";

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
