/**
 * The agent's view of the rules engine: build an evaluator from rules files with the config's
 * rule settings, and say which syscalls it needs. Building never touches the running ruleset,
 * so a reload can build next to it and swap only on success.
 * @module
 */
import type { Priority } from "../rules/alert.ts";
import type { RuleEntry } from "../rules/ruleset.ts";
import type { Evaluator } from "../pipeline/pipeline.ts";
import type {
  AggregationConfig,
  AppendOutputEntry,
  ResponseConfig,
  RuleSelection,
} from "../config/spec.ts";
import type { FdHistory } from "../events/syscalls.ts";
import type { KernelPredicate } from "../rules/kernel_filter.ts";
import type { DenyRule } from "./response_deny.ts";
import type { SequenceStore } from "../rules/sequence_engine.ts";

/** Rule settings from the config. */
export interface RulesOptions {
  /** Lowest priority loaded. */
  priority: Priority;
  ruleMatching: "first" | "all";
  /** `rules:` enable/disable entries. */
  selection: RuleSelection[];
  /** `append_output` entries. */
  appendOutput: AppendOutputEntry[];
  /** `static_fields`: the values of the `static.*` fields. */
  staticFields?: Readonly<Record<string, string>>;
  /** `buffer_format_base64`: data buffers print as base64. */
  bufferFormatBase64?: boolean;
  /** `aggregation`: which alerts count as repeats of one another, per rule. */
  aggregation?: AggregationConfig;
  /**
   * The plugins loaded, for the rules files' `required_plugin_versions` (absent: not checked).
   */
  plugins?: readonly { name: string; version: string }[];
  /**
   * The config's response modes and allowlist: a `deny` rule that enforces must not be able to
   * stop a process the allowlist spares and the probe cannot tell (an allowlisted image).
   */
  response?: Pick<ResponseConfig, "mode" | "rules" | "allowlist">;
  /** The config files in use (a `deny` rule must not stop the agent reading them). */
  configFiles?: readonly string[];
  /** `sequences.max_partial_matches`: bound of each sequence's (or threshold's) table. */
  maxPartialMatches?: number;
  /**
   * The sequence tables of the rules being replaced, by source: a reload keeps the chains in
   * progress of every sequence it leaves unchanged.
   */
  sequenceStores?: ReadonlyMap<string, SequenceStore>;
}

/** A built ruleset. */
export interface BuiltRules {
  evaluator: Evaluator;
  /** Event names the rules can match (drives the kernel filter), or "all". */
  syscalls: ReadonlySet<string> | "all";
  /** Enabled rules. */
  ruleCount: number;
  /** Warnings, one line each (file:line:column: message). */
  warnings: string[];
  /** Every file read (to watch). */
  files: string[];
  /** The kernel predicates derived from the rules, one line per event type (for --dry-run). */
  kernelPredicates?: string[];
  /** Rules that need fd state from earlier events, one line each (for --dry-run). */
  fdStateReaders?: string[];
  /** Every rule loaded, of every source, in load order, running or not (`enabled`). */
  catalog?: RuleEntry[];
  /**
   * How much fd history the rules need (src/rules/state_needs.ts); absent: `all`, as Falco.
   * It decides which fd lifecycle calls the kernel delivers for state tracking.
   */
  fdHistory?: FdHistory;
  /** The kernel predicates by event id (src/rules/kernel_filter.ts). */
  predicates?: ReadonlyMap<number, KernelPredicate>;
  /** Rules, sequences and thresholds whose alerts are aggregated, of every source (--dry-run). */
  aggregating?: number;
  /** The running syscall rules with a `deny` action (what the probe's deny sets come from). */
  deny?: DenyRule[];
  /** The rules of other event sources (k8s_audit ...), by source name. */
  sources?: Record<string, { evaluator: Evaluator; ruleCount: number }>;
  /** Where each source's sequences and thresholds keep their chains and counts. */
  sequenceStores?: ReadonlyMap<string, SequenceStore>;
}

/** The rules could not be built; `problems` has one line per error. */
export class RulesError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? `invalid rules: ${problems[0]}`
        : `invalid rules (${problems.length} errors):\n  ${problems.join("\n  ")}`,
    );
    this.name = "RulesError";
  }
}

/** Builds rules from files; throws RulesError when any file has errors. */
export type RulesBuilder = (files: string[], opts: RulesOptions) => Promise<BuiltRules>;
