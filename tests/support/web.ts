/**
 * The dashboard's browser modules (web/*.js) for tests that run their logic in Deno. They are
 * imported by a computed address, so that the type checker of the tests does not follow them:
 * they are checked on their own against the browser's DOM library (`deno task check` checks
 * web/), which must not leak into the Deno programs of the tests.
 *
 * @example
 * ```ts
 * const { readEvents } = await webModule("api.js");
 * ```
 * @module
 */

// deno-lint-ignore no-explicit-any
type Untyped = Record<string, any>;

/** Imports `web/NAME`. */
export function webModule(name: string): Promise<Untyped> {
  return import(new URL(`../../web/${name}`, import.meta.url).href);
}
