/**
 * The alert: what a matching rule produces, formatted once at evaluation time (the event's state
 * moves on afterwards) and shared by every output.
 *
 * @example
 * ```ts
 * parsePriority("warning"); // "Warning"
 * priorityRank("Critical") < priorityRank("Notice"); // true: more severe ranks first
 * ```
 * @module
 */

import type { ResponseMode, ResponseTarget, RuleActions } from "./actions.ts";

/** Rule priorities, most severe first, as Falco names them. */
export const PRIORITIES = [
  "Emergency",
  "Alert",
  "Critical",
  "Error",
  "Warning",
  "Notice",
  "Informational",
  "Debug",
] as const;

/** A rule priority. */
export type Priority = typeof PRIORITIES[number];

/**
 * A priority from its name in any case, with Falco's `info` for Informational (rules files,
 * the config, `--min-priority`, alert queries); undefined for anything else.
 */
export function parsePriority(name: string): Priority | undefined {
  const low = name.toLowerCase();
  if (low === "info") return "Informational";
  return PRIORITIES.find((p) => p.toLowerCase() === low);
}

/** Priority names as written (lowercase) plus `info`: what {@link parsePriority} accepts. */
export const PRIORITY_NAMES: readonly string[] = [
  ...PRIORITIES.map((p) => p.toLowerCase()),
  "info",
];

/** Severity rank of a priority: 0 for Emergency ... 7 for Debug. */
export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

/**
 * A value in `output_fields`: typed as Falco types it, null when the field was missing, an array
 * for Falco's list fields (ka.req.pod.containers.image), a bigint for integers beyond 2^53 (the
 * nanosecond times of internal alerts).
 */
export type OutputFieldValue = string | number | bigint | boolean | null | string[];

/** One alert. */
export interface Alert {
  /** Event time, UTC nanoseconds. */
  time: bigint;
  rule: string;
  priority: Priority;
  /** Event source: "syscall", "k8s_audit", "internal" ... */
  source: string;
  tags: string[];
  /** The rule's output with every %field resolved (missing values print <NA>). */
  output: string;
  /** Every field the output names, with its typed value. */
  outputFields: Record<string, OutputFieldValue>;
  /** Extra data for outputs that want it (event number, capture file ...). */
  extra?: Record<string, unknown>;
  /**
   * Set when the alert's rule aggregates (rules/aggregation.ts): the rule's settings and the
   * values of its key fields, in the order of `settings.key`.
   */
  grouping?: AlertGrouping;
  /** Set on a summary alert: the occurrences it stands for (outputs/aggregator.ts). */
  aggregate?: AggregateInfo;
  /**
   * Set when the alert's rule has actions (rules/actions.ts): what it asks for and whom at; the
   * response engine adds the outcomes before the alert is sent, so they are stored with it.
   */
  response?: AlertResponse;
}

/** The actions of an alert's rule, their target, and (once decided) their outcomes. */
export interface AlertResponse {
  readonly rule: RuleActions;
  readonly target: ResponseTarget;
  outcomes?: ActionOutcome[];
}

/**
 * What became of one action: `done` (enforced), `would` (monitor mode: what enforce would have
 * done), `refused` (a protection or the allowlist), `rate_limited`, `failed`, or `pending` (an
 * action that takes time: its audit alert carries the result).
 */
export interface ActionOutcome {
  action: string;
  mode: ResponseMode;
  result: "done" | "would" | "refused" | "rate_limited" | "failed" | "pending";
  /** Process id acted on (0: none). */
  pid: number;
  /** Container acted on ("" when none). */
  container: string;
  /** Why it was refused or failed, or what was done (the pids of a tree, an exit code). */
  detail?: string;
}

/** How the alerts of one rule are aggregated: the key fields and the windows. */
export interface AggregationSettings {
  /** Fields whose values, with the rule, make the key (rule-only when empty). */
  readonly key: readonly string[];
  /** A key's window closes after this many ms without a repeat. */
  readonly windowMs: number;
  /** ... and at the latest this long after it opened (a steady stream reports this often). */
  readonly maxWindowMs: number;
}

/** The aggregation key of one alert. */
export interface AlertGrouping {
  readonly settings: AggregationSettings;
  /** Typed values of `settings.key`, in order. */
  readonly values: readonly OutputFieldValue[];
  /** Set by the aggregator on the alert that opens a key's chain of windows (see aggregate). */
  group?: string;
}

/**
 * What a summary alert stands for: `count` occurrences of its rule (and key) between `first` and
 * `last` (event times, UTC ns), not sent one by one. The summary's own fields and output are the
 * last occurrence's.
 */
export interface AggregateInfo {
  /** Occurrences summarised (not sent one by one). */
  count: number;
  /** Event time of the first and the last of them, UTC ns. */
  first: bigint;
  last: bigint;
  /** Start of the window (UTC ns): the first occurrence sent, or the window's first. */
  since: bigint;
  /** Why they were held: an aggregation window, or an output's rate limit. */
  reason: "window" | "rate_limit";
  /** The key fields and their values (aggregation). */
  key?: Record<string, OutputFieldValue>;
  /** Up to a few distinct values of each output field that differed among the occurrences. */
  samples: Record<string, OutputFieldValue[]>;
  /** Fields that had more distinct values than the samples show. */
  more?: string[];
  /** Names the chain of windows of one key (the first alert sent and its summaries). */
  group?: string;
  /** The output whose rate limit held the alerts back (reason `rate_limit`). */
  output?: string;
}
