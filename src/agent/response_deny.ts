/**
 * The probe's deny sets from the running rules: each rule with a `deny` action (its plan from
 * rules/deny.ts) in enforce mode (response_policy.ts) adds its paths, for the host, containers or
 * both. Rebuilt at every reload and config change and written to the probe in one step, so a
 * rule's deny starts and stops with the ruleset that carries it.
 *
 * Also the check that a deny rule would not stop the agent's own work: the agent's executable
 * and the shell it runs `exec` actions and program outputs with are never denied, nor its rules
 * and config files (a rules file denied to editors could not be fixed).
 *
 * And the config's allowlist as the probe applies it (the probe kills before user space sees the
 * call, so the allowlist must be in the kernel too): executables by exact path (and its real
 * path) or, for a pattern with `*`, by the path prefix before the first wildcard; users as
 * effective uids (names resolved in the host's passwd file). Images are not visible to the probe:
 * a rule that could deny in containers is refused while images are allowlisted, unless it only
 * records (monitor).
 *
 * @example
 * ```ts
 * import { denySets } from "./response_deny.ts";
 * const sets = denySets(rules.deny ?? [], config.response);
 * source.setDeny?.(sets); // { exec: Map { "/usr/bin/nc" => 3 }, open: Map {} }
 * ```
 * @module
 */
import type { DenyPlan } from "../rules/deny.ts";
import type { ResponseMode } from "../rules/actions.ts";
import type { ResponseConfig } from "../config/spec.ts";
import { modeFor } from "./response_policy.ts";
import { DENY_COMM, type DenyAllow, denyEntry } from "../kernel/probe.ts";

/** A running rule that denies. */
export interface DenyRule {
  name: string;
  source: string;
  tags: readonly string[];
  /** The rule's own `mode:` of actions. */
  mode?: ResponseMode;
  plan: DenyPlan;
}

/**
 * Where each path is denied (bit 1: host, bit 2: containers), per kind, and what the probe
 * never denies (the allowlist as it can apply it).
 */
export interface DenySets {
  exec: Map<string, number>;
  open: Map<string, number>;
  allow: DenyAllow;
}

/** An empty allowlist. */
export const NO_ALLOW: DenyAllow = { exact: [], prefixes: [], uids: [] };

/** The deny sets of the rules that enforce now, with the allowlist the probe applies. */
export function denySets(
  rules: readonly DenyRule[],
  c: Pick<ResponseConfig, "mode" | "rules">,
  allow: DenyAllow = NO_ALLOW,
): DenySets {
  const sets: DenySets = { exec: new Map(), open: new Map(), allow };
  for (const r of rules) {
    if (modeFor(r, r.mode, c) !== "enforce") continue;
    const where = (r.plan.host ? 1 : 0) | (r.plan.container ? 2 : 0);
    const set = sets[r.plan.kind];
    const comms = r.plan.comms.length > 0 ? r.plan.comms : [""];
    const paths = r.plan.paths.length > 0 ? r.plan.paths : [""];
    for (const c of comms) {
      for (const p of paths) {
        const e = denyEntry(p, c);
        set.set(e, (set.get(e) ?? 0) | where);
      }
    }
  }
  return sets;
}

/** What the agent itself needs: executables it runs (and their process names), files it reads. */
export interface AgentNeeds {
  executables: readonly string[];
  /** The process names (comm) its executables run as. */
  names: readonly string[];
  files: readonly string[];
}

/** The process name (comm) an executable runs as: its file name, cut to the kernel's 15 bytes. */
export function commOf(path: string): string {
  const base = new TextEncoder().encode(path.slice(path.lastIndexOf("/") + 1));
  return new TextDecoder().decode(base.subarray(0, DENY_COMM - 1));
}

/** The agent's own needs on this machine (its executable, the shell, their real paths). */
export function agentNeeds(files: readonly string[]): AgentNeeds {
  const real = (p: string) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return p;
    }
  };
  const exes = [...new Set([Deno.execPath(), "/bin/sh"].flatMap((p) => [p, real(p)]))];
  return {
    executables: exes,
    names: [...new Set(exes.map(commOf))],
    files: [...new Set([...files, ...files.map(real)])],
  };
}

/** One line per deny rule that would stop the agent's own work (empty: none). */
export function selfDenials(rules: readonly DenyRule[], needs: AgentNeeds): string[] {
  const out: string[] = [];
  for (const r of rules) {
    const own = r.plan.kind === "exec" ? needs.executables : needs.files;
    // An exec is matched on its path, its name, or both; an open on the file alone matters here.
    const named = r.plan.kind === "exec" && r.plan.comms.length > 0;
    const hit = r.plan.paths.length === 0
      ? needs.executables.find((p) => r.plan.comms.includes(commOf(p)))
      : r.plan.paths.find((p) => own.includes(p) && (!named || r.plan.comms.includes(commOf(p))));
    if (hit) {
      out.push(
        `rule '${r.name}': cannot deny ${hit}${named ? ` (named ${commOf(hit)})` : ""}: ${
          r.plan.kind === "exec" ? "the agent runs it" : "the agent reads it"
        } (the agent would stop its own work)`,
      );
    }
  }
  return out;
}

/** The allowlist as the probe applies it, and one note per entry it applies otherwise. */
export interface DenyAllowPlan {
  allow: DenyAllow;
  /** Entries the probe cannot apply as written (for a warning at load). */
  notes: string[];
}

const GLOB_CHARS = /[*?[\\]/;

/**
 * The probe's allowlist from the config's: exact executable paths (with `real`, their real
 * paths too: the probe sees paths with symbolic links followed); a pattern with `*` as the prefix
 * before its first wildcard (exact for `PREFIX*`, wider otherwise: noted); users by uid, names
 * through `uidOf` (the host's passwd file; a name it does not know is noted: the probe cannot
 * exempt it).
 */
export function denyAllowlist(
  a: ResponseConfig["allowlist"],
  uidOf: (name: string) => number | undefined,
  real: (path: string) => string = (p) => p,
): DenyAllowPlan {
  const exact = new Set<string>();
  const prefixes = new Set<string>();
  const uids = new Set<number>();
  const notes: string[] = [];
  for (const p of a.exe_paths) {
    if (!p.includes("*")) {
      exact.add(p);
      exact.add(real(p));
      continue;
    }
    const prefix = p.slice(0, p.search(GLOB_CHARS));
    prefixes.add(prefix);
    if (prefix + "*" !== p) {
      notes.push(
        `response.allowlist.exe_paths: ${p}: the probe matches path prefixes only; deny spares ` +
          `every executable whose path starts with '${prefix}'`,
      );
    }
  }
  for (const u of a.users) {
    if (/^\d+$/.test(u)) {
      uids.add(Number(u));
      continue;
    }
    const uid = uidOf(u);
    if (uid === undefined) {
      notes.push(
        `response.allowlist.users: ${u} is not in the host's passwd file: the probe cannot ` +
          `spare it from deny (give its uid)`,
      );
    } else uids.add(uid);
  }
  return { allow: { exact: [...exact], prefixes: [...prefixes], uids: [...uids] }, notes };
}

/**
 * One line per deny rule refused because images are allowlisted: the probe cannot see a
 * container's image, so a rule that enforces and could deny in a container might stop an
 * allowlisted container's process.
 */
export function imageDenials(
  rules: readonly DenyRule[],
  c: Pick<ResponseConfig, "mode" | "rules" | "allowlist">,
): string[] {
  if (c.allowlist.images.length === 0) return [];
  return rules.filter((r) => r.plan.container && modeFor(r, r.mode, c) === "enforce").map((r) =>
    `rule '${r.name}': cannot deny in containers while response.allowlist.images is set: the ` +
    `probe cannot see a container's image, so it could stop an allowlisted container's process; ` +
    `add 'container.id = host' to the condition (deny on the host only), give the rule ` +
    `'mode: monitor', or empty response.allowlist.images`
  );
}
