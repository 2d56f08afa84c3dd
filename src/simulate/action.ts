/**
 * Shapes shared by the simulator: an action (one attack behaviour aimed at one rule), the
 * context it runs in, and what it reports back.
 * @module
 */

import type { Workspace } from "./workspace.ts";

/** A field value an alert is expected to carry. */
export type FieldValue = string | number | boolean;

/** Where an action runs its attack. */
export type ActionKind = "host" | "container";

/** What an action needs from the machine; missing needs make it skip with a reason. */
export type ActionNeed = "root" | "gcc" | "podman" | "netns";

/**
 * How an action aimed at a sequence rule performs its chain (`saker simulate --variant`):
 * `chain` every step (the sequence fires once); `partial` every step but the last; `split` every
 * step, each where the sequence's key differs (another session, container or process tree);
 * `slow` every step, with a pause of `pauseMs` before the last (outside a shorter window).
 * The last three must not fire the sequence.
 */
export type ChainVariant = "chain" | "partial" | "split" | "slow";

/** Every chain variant. */
export const CHAIN_VARIANTS: readonly ChainVariant[] = ["chain", "partial", "split", "slow"];

/** Services an action can use; built lazily and shared by the actions of one run. */
export interface ActionContext {
  /** How to perform a chain (actions aimed at sequences); default "chain". */
  variant: ChainVariant;
  /** The pause of the `slow` variant, in ms. */
  pauseMs: number;
  /** Temporary directory and cleanup stack of this action (removed after it). */
  ws: Workspace;
  /** Path of the compiled helper (`saker-sim`) for the host. */
  helper(): Promise<string>;
  /** Name of the local busybox image with the static helper at /usr/local/bin/saker-sim. */
  image(): Promise<string>;
  /** Log a progress line (shown with --verbose). */
  log(msg: string): void;
}

/** What one action did. */
export interface ActionOutcome {
  /**
   * Field values the action produced, by Falco field name (fd.name, proc.name, ...): the
   * alert of the targeted rule must show these.
   */
  facts: Record<string, FieldValue>;
  /**
   * Facts that differ for one targeted rule (by rule name), over `facts`: an action whose
   * steps trigger several rules (mkdir, then mv) names each step's process.
   */
  factsFor?: Record<string, Record<string, FieldValue>>;
  /** Full id of the container the attack ran in, when it ran in one. */
  containerId?: string;
  /** Evidence that the system calls happened: the helper's `call ...` lines, command output. */
  evidence: string[];
}

/** Falco's rulesets beyond the stable one, as Falco's rules repository names them. */
export type FalcoRuleset = "incubating" | "sandbox";

/** A rule of Falco's incubating or sandbox ruleset an action triggers. */
export interface FalcoTarget {
  ruleset: FalcoRuleset;
  /** The rule's name, exactly as in the ruleset. */
  rule: string;
  /** Names of `facts` the alert must show: output fields of the rule the action controls. */
  expect: string[];
}

/** One simulated attack behaviour. */
export interface Action {
  /** Short kebab-case name used on the command line. */
  name: string;
  /** Saker default rule this action is aimed at, when there is one. */
  rule?: string;
  /** Falco stable rule (falco_rules.yaml) the same behaviour triggers, when there is one. */
  falcoRule?: string;
  /** MITRE ATT&CK technique id. */
  technique: string;
  /** One line: what the action does. */
  summary: string;
  kind: ActionKind;
  needs: ActionNeed[];
  /** Names of `facts` the Saker rule's alert must show. */
  expect: string[];
  /**
   * Names of `facts` the Falco rule's alert must show: the output fields Falco's own
   * end-to-end expectations list for that rule.
   */
  falcoExpect?: string[];
  /**
   * Rules of Falco's incubating and sandbox rulesets the behaviour triggers (each fires with
   * Falco's stable rules and its own ruleset loaded, as Falco loads them).
   */
  falcoTargets?: FalcoTarget[];
  /**
   * The action performs a sequence rule's chain and honours `ctx.variant` (the other actions
   * perform one behaviour and ignore it).
   */
  chain?: boolean;
  /**
   * Rules the action raises besides its target, by design: one step of a chain on its own (the
   * sequence adds the link between the steps), or the preparation of its lab (formatting the
   * disk a container mounts). Expected beside the targeted rule.
   */
  alongside?: string[];
  /** Performs the attack; throws when it could not. Cleanup goes on `ctx.ws`. */
  run(ctx: ActionContext): Promise<ActionOutcome>;
}

/** Result of running one action. */
export interface ActionReport {
  action: string;
  /** The chain variant performed (actions aimed at sequences). */
  variant?: ChainVariant;
  rule?: string;
  falcoRule?: string;
  falcoTargets?: FalcoTarget[];
  status: "ok" | "skipped" | "failed";
  /** Why it skipped or failed. */
  reason?: string;
  /** Wall-clock start and end, milliseconds since the epoch. */
  startMs: number;
  endMs: number;
  facts: Record<string, FieldValue>;
  factsFor?: Record<string, Record<string, FieldValue>>;
  expect: string[];
  falcoExpect?: string[];
  containerId?: string;
  evidence: string[];
}

/**
 * A target in Falco's incubating ruleset.
 *
 * @example
 * ```ts
 * incubating("Change thread namespace", "proc.name"); // { ruleset: "incubating", ... }
 * ```
 */
export function incubating(rule: string, ...expect: string[]): FalcoTarget {
  return { ruleset: "incubating", rule, expect };
}

/**
 * A target in Falco's sandbox ruleset.
 *
 * @example
 * ```ts
 * sandbox("Write below etc", "fd.name"); // { ruleset: "sandbox", ... }
 * ```
 */
export function sandbox(rule: string, ...expect: string[]): FalcoTarget {
  return { ruleset: "sandbox", rule, expect };
}
