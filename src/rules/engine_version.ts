/**
 * The rules engine version Saker answers `required_engine_version` with: the Falco engine version
 * whose rules language Saker implements. Old files give a bare number N, meaning 0.N.0.
 *
 * @example
 * ```ts
 * parseEngineVersion("17"); // [0, 17, 0]
 * versionCompatible(ENGINE_VERSION, [0, 26, 0]); // true: same major, not older
 * ```
 * @module
 */
import { ENGINE_VERSION } from "../version.ts";

/** Engine version (semver), named once in version.ts. */
export { ENGINE_VERSION };

/** Parses `N` (as 0.N.0) or `x.y.z`; undefined when neither. */
export function parseEngineVersion(v: string): [number, number, number] | undefined {
  const s = v.trim();
  if (/^[0-9]+$/.test(s)) return [0, Number(s), 0];
  const m = /^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.-]+)?$/.exec(s);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** True when `have` satisfies a requirement of `need` (same major, not older). */
export function versionCompatible(have: string, need: readonly number[]): boolean {
  const h = parseEngineVersion(have);
  if (!h) return false;
  if (h[0] !== need[0]) return false;
  if (h[1] !== need[1]) return h[1] > need[1];
  return h[2] >= need[2];
}
