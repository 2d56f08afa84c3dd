/**
 * Response actions of a rule (Saker's `actions:` key): what the agent does when the rule fires,
 * beyond alerting. The rules side only says *what* a rule asks for and checks that it can be
 * done for the rule's source; whether and how it is done (monitor or enforce, protections,
 * allowlist, rate limits) is the agent's response engine's business (src/agent/response).
 *
 * In a rules file:
 *
 * ```yaml
 * actions: [kill]                          # the process that triggered the alert
 * actions:
 *   mode: monitor                          # this rule only records what it would do
 *   run:
 *     - kill: tree                         # the process and its descendants
 *     - stop_container                     # or pause_container, through the runtime's API
 *     - exec: {command: "logger -t saker", timeout: 5s}   # the alert JSON on stdin
 * ```
 *
 * @example
 * ```ts
 * import { actionProblem, describeAction } from "./actions.ts";
 * describeAction({ kind: "kill", tree: true }); // "kill: tree"
 * actionProblem({ kind: "kill" }, "k8s_audit"); // "'kill' needs a process: ..."
 * ```
 * @module
 */

/** `monitor`: record what would be done; `enforce`: do it. */
export type ResponseMode = "monitor" | "enforce";

/** The modes, as written. */
export const RESPONSE_MODES: readonly ResponseMode[] = ["monitor", "enforce"];

/** What one action does. */
export type ActionKind = "kill" | "stop_container" | "pause_container" | "exec" | "deny";

/** The action names, as written in `actions:`. */
export const ACTION_KINDS: readonly ActionKind[] = [
  "kill",
  "stop_container",
  "pause_container",
  "exec",
  "deny",
];

/** One action of a rule. */
export interface ActionSpec {
  kind: ActionKind;
  /** `kill: tree`: the process and every descendant. */
  tree?: boolean;
  /** `exec`: the command line (run by /bin/sh -c). */
  command?: string;
  /** `exec`: ms before the command is killed (unset: the config's `response.exec.timeout`). */
  timeoutMs?: number;
}

/** A rule's `actions:` as read. */
export interface RuleActions {
  /** The rule's own mode (unset: the config decides). */
  mode?: ResponseMode;
  actions: readonly ActionSpec[];
}

/**
 * Fields read from the event when a rule with actions fires: the process and container the
 * actions aim at, and what the allowlist and protections look at.
 */
export const TARGET_FIELDS = [
  "proc.pid",
  "proc.name",
  "proc.exepath",
  "user.name",
  "user.uid",
  "container.id",
  "container.image.repository",
  "container.image",
] as const;

/** The process and container an alert's actions aim at. */
export interface ResponseTarget {
  /** Process id on the host (0: the event has no process). */
  pid: number;
  name: string;
  exepath: string;
  user: string;
  uid: number | undefined;
  /** Container id; "" on the host. */
  containerId: string;
  /** Image repository (or the full image), "" when unknown. */
  image: string;
  /** The probe stopped the process at this call (`deny`, the record's RECORD_DENIED flag). */
  denied?: boolean;
}

/** An action's spelling in `actions:` (and in audit alerts). */
export function describeAction(a: ActionSpec): string {
  if (a.kind === "kill") return a.tree ? "kill: tree" : "kill";
  return a.kind;
}

/** Why `action` cannot serve a rule of `source`, or undefined when it can. */
export function actionProblem(a: ActionSpec, source: string): string | undefined {
  if (a.kind === "exec") return undefined;
  if (source !== "syscall") {
    return `'${a.kind}' needs a process or container, which ${source} events do not have ` +
      `(only 'exec' serves rules of source ${source})`;
  }
  return undefined;
}

/** The keys a mapping `actions:` may carry. */
export const ACTIONS_KEYS = ["mode", "run"] as const;

/** The keys of an `exec` mapping. */
export const EXEC_KEYS = ["command", "timeout"] as const;
