/**
 * The alert: what a matching rule produces, formatted once at evaluation time (the event's state
 * moves on afterwards) and shared by every output.
 * @module
 */

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
}
