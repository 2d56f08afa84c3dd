/**
 * Every simulator action, in the order `saker simulate` runs them, and selection by name.
 *
 * @example
 * ```ts
 * selectActions(["write-below-etc", "reverse-*"]).map((a) => a.name);
 * ```
 * @module
 */

import type { Action } from "./action.ts";
import { CREDENTIAL_ACTIONS } from "./actions/credentials.ts";
import { FILESYSTEM_ACTIONS } from "./actions/filesystem.ts";
import { PROCESS_ACTIONS } from "./actions/process.ts";
import { NETWORK_ACTIONS } from "./actions/network.ts";
import { CONTAINER_ACTIONS } from "./actions/container.ts";
import { SYSTEM_FILE_ACTIONS } from "./actions/system_files.ts";
import { PRIVILEGE_ACTIONS } from "./actions/privilege.ts";
import { NETWORK_MORE_ACTIONS } from "./actions/network_more.ts";
import { CONTAINER_TOOL_ACTIONS } from "./actions/container_tools.ts";
import { SEQUENCE_ACTIONS } from "./actions/sequences.ts";

/** All actions: host ones first (fast), container ones, then the chains of sequence rules. */
export const ACTIONS: readonly Action[] = [
  ...CREDENTIAL_ACTIONS,
  ...FILESYSTEM_ACTIONS,
  ...SYSTEM_FILE_ACTIONS,
  ...PROCESS_ACTIONS,
  ...PRIVILEGE_ACTIONS,
  ...NETWORK_ACTIONS,
  ...NETWORK_MORE_ACTIONS,
  ...CONTAINER_ACTIONS,
  ...CONTAINER_TOOL_ACTIONS,
  ...SEQUENCE_ACTIONS,
];

/**
 * Selects actions by name. A pattern is an exact name or a glob with `*` (e.g. `container-*`).
 * Throws, naming the pattern, when one matches nothing.
 *
 * @example
 * ```ts
 * selectActions(["ptrace-*"]).map((a) => a.name); // ["ptrace-attach", "ptrace-anti-debug"]
 * ```
 */
export function selectActions(patterns: string[], from: readonly Action[] = ACTIONS): Action[] {
  if (patterns.length === 0) return [...from];
  const chosen = new Set<Action>();
  for (const p of patterns) {
    const re = new RegExp(`^${p.split("*").map(escapeRe).join(".*")}$`);
    const hits = from.filter((a) => re.test(a.name));
    if (hits.length === 0) throw new Error(`no simulator action matches '${p}' (see --list)`);
    for (const h of hits) chosen.add(h);
  }
  return from.filter((a) => chosen.has(a));
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}
