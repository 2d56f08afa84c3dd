/**
 * The capture recorder's settings (Falco's capture feature) from the config's `capture` section,
 * whose keys, checks and defaults live in the config table (spec.ts) like every other key.
 * `saker replay --capture PREFIX ...` builds the same section from its options and goes through
 * the same checks.
 *
 * @example
 * ```ts
 * import { captureSection } from "./capture_section.ts";
 * const s = captureSection({ enabled: true, path_prefix: "/tmp/cap", mode: "all_rules" });
 * s.defaultDurationMs; // 5000, the table's default
 * ```
 * @module
 */
import type { CaptureSettings } from "../pipeline/recorder.ts";
import { type Config, defaultConfig, SPEC } from "./spec.ts";
import { check, type Issue } from "./validate.ts";
import { formatPath } from "./overrides.ts";

/** The recorder's settings for a checked `capture` section. */
export function captureSettingsOf(c: Config["capture"]): CaptureSettings {
  return {
    enabled: c.enabled,
    pathPrefix: c.path_prefix,
    mode: c.mode,
    defaultDurationMs: c.default_duration,
    maxFileSizeMb: c.max_file_size_mb,
    preDurationMs: c.pre_duration,
    format: c.format,
  };
}

/**
 * Checks a `capture` section given outside a config file, fills the defaults and returns the
 * recorder's settings. Throws an Error whose message names each bad key and what it accepts.
 */
export function captureSection(raw: Record<string, unknown>): CaptureSettings {
  const issues: Issue[] = [];
  const checked = check(SPEC.fields.capture, raw, ["capture"], issues) as
    | Partial<Config["capture"]>
    | undefined;
  const errors = issues.filter((i) => i.severity === "error");
  if (errors.length > 0 || !checked) {
    throw new Error(errors.map((i) => `${formatPath(i.path)}: ${i.message}`).join("; "));
  }
  return captureSettingsOf({ ...defaultConfig().capture, ...checked });
}
