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

/** Severity rank of a priority: 0 for Emergency ... 7 for Debug. */
export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

/**
 * A value in `output_fields`: typed as Falco types it, null when the field was missing, an array
 * for Falco's list fields (ka.req.pod.containers.image).
 */
export type OutputFieldValue = string | number | boolean | null | string[];

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
