/**
 * What `saker replay` needs for inputs other than a plain capture file: telling a Kubernetes
 * audit file or a plugin's log file (CloudTrail, Okta, GCP audit) by its content, the plugins
 * Saker carries, every plugin's field (importing src/rules/fields/mod.ts registers them), and
 * the replays of audit files and plugin sources.
 * A module of its own, loaded by src/cli/replay.ts through loadCliModule when the file is not a
 * plain capture, `--plugin` is given, or a filter or format names a field beyond the system call
 * ones: a filter over a capture file starts without the plugins' modules.
 *
 * @example
 * ```ts
 * import { BUILTIN_PLUGINS, isAuditInput } from "./replay_inputs.ts";
 * await isAuditInput("audit.jsonl"); // true for Kubernetes audit events
 * BUILTIN_PLUGINS.map((p) => p.name); // ["cloudtrail", ...]
 * ```
 * @module
 */
export { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
export { looksLikeJson } from "../plugins/files.ts";
export { isAuditInput } from "../sources/k8saudit_file.ts";
export { wakeSource } from "../rules/fields/mod.ts";
export { replayAuditFile, replayPlugin } from "../pipeline/replay_sources.ts";
