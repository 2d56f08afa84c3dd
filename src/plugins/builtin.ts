/**
 * The plugins Saker carries, besides Kubernetes audit (whose inputs live in src/sources) and
 * json (whose fields live with the Kubernetes audit fields): each is a {@link Plugin} that a
 * config's `plugins:` entry loads by name (Falco's `library_path: libcloudtrail.so` included), and
 * whose fields are always known to `saker validate` and `saker fields`.
 *
 * @example
 * ```ts
 * import { BUILTIN_PLUGINS } from "./builtin.ts";
 * BUILTIN_PLUGINS.map((p) => p.name); // ["cloudtrail", ...]
 * ```
 * @module
 */
import type { Plugin } from "./api.ts";
import { cloudtrailPlugin } from "./cloudtrail.ts";
import { githubPlugin } from "./github.ts";
import { oktaPlugin } from "./okta.ts";
import { gcpauditPlugin } from "./gcpaudit.ts";

/** The built-in source plugins, by name. */
export const BUILTIN_PLUGINS: readonly Plugin[] = [
  cloudtrailPlugin,
  githubPlugin,
  oktaPlugin,
  gcpauditPlugin,
];
