/**
 * Runs actions one after another: checks what each needs, gives it a workspace, records what
 * it did and when, and always cleans up.
 * @module
 */

import type { Action, ActionContext, ActionNeed, ActionReport, ChainVariant } from "./action.ts";
import { Workspace } from "./workspace.ts";
import { buildHelper } from "./helper.ts";
import { buildImage } from "./podman.ts";
import { which } from "./command.ts";

/**
 * The least pause between two actions, ms. A report's window runs from its `startMs` to the next
 * action's, and `Date.now()` counts whole milliseconds: without a pause, an event of one action's
 * cleanup in the same millisecond as the next start would fall in the next action's window.
 */
export const MIN_GAP_MS = 3;

/** Options of {@linkcode runActions}. */
export interface RunnerOptions {
  /** Progress lines go here (default: nowhere). */
  log?: (msg: string) => void;
  /** Called after each action, e.g. to print its line at once. */
  onReport?: (r: ActionReport) => void;
  /** Pause between actions, so their alerts do not interleave (default and least: MIN_GAP_MS). */
  gapMs?: number;
  /** How actions aimed at sequences perform their chain (default "chain"). */
  variant?: ChainVariant;
  /** The pause before a chain's last step in the `slow` variant, ms (default 5000). */
  pauseMs?: number;
}

async function missingNeed(need: ActionNeed): Promise<string | undefined> {
  switch (need) {
    case "root":
      return Deno.uid() === 0 ? undefined : "needs root";
    case "gcc":
      return (await which("gcc")) || (await which("cc")) ? undefined : "needs gcc";
    case "podman":
      return (await which("podman")) ? undefined : "needs podman";
    case "netns":
      return (await which("ip")) ? undefined : "needs iproute2 (ip)";
  }
}

/**
 * Why `action` cannot run on this machine (the first need that is missing), or undefined when it
 * can.
 *
 * @example
 * ```ts
 * const why = await unmetNeed(action); // "needs podman" on a machine without it
 * ```
 */
export async function unmetNeed(action: Action): Promise<string | undefined> {
  for (const need of action.needs) {
    const why = await missingNeed(need);
    if (why) return why;
  }
  return undefined;
}

/** Runs one action and reports what happened; never throws. */
export async function runAction(action: Action, opts: RunnerOptions = {}): Promise<ActionReport> {
  const log = opts.log ?? (() => {});
  const variant = action.chain ? opts.variant ?? "chain" : undefined;
  const base = {
    action: action.name,
    ...(variant ? { variant } : {}),
    rule: action.rule,
    falcoRule: action.falcoRule,
    falcoTargets: action.falcoTargets,
    expect: action.expect,
    falcoExpect: action.falcoExpect,
    facts: {},
    evidence: [] as string[],
  };
  const why = await unmetNeed(action);
  if (why) {
    const now = Date.now();
    return { ...base, status: "skipped", reason: why, startMs: now, endMs: now };
  }
  const ws = await Workspace.open(`saker-sim-${action.name}-`);
  const ctx: ActionContext = {
    variant: variant ?? "chain",
    pauseMs: opts.pauseMs ?? 5000,
    ws,
    helper: async () => (await buildHelper()).host,
    image: async () => await buildImage(await buildHelper()),
    log: (m) => log(`${action.name}: ${m}`),
  };
  // Build what the action needs before the clock starts: the report's window is the attack.
  try {
    if (action.needs.includes("gcc")) await ctx.helper();
    if (action.kind === "container") await ctx.image();
  } catch (err) {
    await ws.close();
    const now = Date.now();
    return { ...base, status: "failed", reason: errorText(err), startMs: now, endMs: now };
  }
  const startMs = Date.now();
  let report: ActionReport;
  try {
    const out = await action.run(ctx);
    report = {
      ...base,
      status: "ok",
      startMs,
      endMs: Date.now(),
      facts: out.facts,
      factsFor: out.factsFor,
      containerId: out.containerId,
      evidence: out.evidence,
    };
  } catch (err) {
    report = { ...base, status: "failed", reason: errorText(err), startMs, endMs: Date.now() };
  }
  const cleanupErrors = await ws.close();
  if (cleanupErrors.length > 0) {
    report.evidence.push(...cleanupErrors.map((e) => `cleanup: ${e}`));
    if (report.status === "ok") {
      report.status = "failed";
      report.reason = `cleanup failed: ${cleanupErrors[0]}`;
    }
  }
  return report;
}

/** Runs actions in order; returns one report per action. */
export async function runActions(
  actions: readonly Action[],
  opts: RunnerOptions = {},
): Promise<ActionReport[]> {
  const reports: ActionReport[] = [];
  for (const [i, a] of actions.entries()) {
    const gapMs = Math.max(opts.gapMs ?? 0, MIN_GAP_MS);
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    const r = await runAction(a, opts);
    reports.push(r);
    opts.onReport?.(r);
  }
  return reports;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
