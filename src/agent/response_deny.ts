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

/** A running rule that denies. */
export interface DenyRule {
  name: string;
  source: string;
  tags: readonly string[];
  /** The rule's own `mode:` of actions. */
  mode?: ResponseMode;
  plan: DenyPlan;
}

/** Where each path is denied (bit 1: host, bit 2: containers), per kind. */
export interface DenySets {
  exec: Map<string, number>;
  open: Map<string, number>;
}

/** The deny sets of the rules that enforce now. */
export function denySets(rules: readonly DenyRule[], c: Pick<ResponseConfig, "mode" | "rules">) {
  const sets: DenySets = { exec: new Map(), open: new Map() };
  for (const r of rules) {
    if (modeFor(r, r.mode, c) !== "enforce") continue;
    const where = (r.plan.host ? 1 : 0) | (r.plan.container ? 2 : 0);
    const set = sets[r.plan.kind];
    for (const p of r.plan.paths) set.set(p, (set.get(p) ?? 0) | where);
  }
  return sets;
}

/** What the agent itself needs: executables it runs, files it reads. */
export interface AgentNeeds {
  executables: readonly string[];
  files: readonly string[];
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
  const exes = [Deno.execPath(), "/bin/sh"];
  return {
    executables: [...new Set([...exes, ...exes.map(real)])],
    files: [...new Set([...files, ...files.map(real)])],
  };
}

/** One line per deny rule that would stop the agent's own work (empty: none). */
export function selfDenials(rules: readonly DenyRule[], needs: AgentNeeds): string[] {
  const out: string[] = [];
  for (const r of rules) {
    const own = r.plan.kind === "exec" ? needs.executables : needs.files;
    const hit = r.plan.paths.find((p) => own.includes(p));
    if (hit) {
      out.push(
        `rule '${r.name}': cannot deny ${hit}: ${
          r.plan.kind === "exec" ? "the agent runs it" : "the agent reads it"
        } (the agent would stop its own work)`,
      );
    }
  }
  return out;
}
