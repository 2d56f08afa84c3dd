/**
 * `saker simulate [ACTION...]`: performs real attack behaviours, safely, so the rules that
 * should catch them can be seen to fire. `--list` shows each action and the rule it targets.
 *
 * Actions make real system calls (through a helper compiled with gcc), run real programs and
 * real podman containers, keep all traffic inside private network namespaces, and remove what
 * they create. Needs root for most actions.
 * @module
 */

import { selectActions } from "../simulate/catalog.ts";
import { runActions } from "../simulate/runner.ts";
import {
  type Action,
  type ActionReport,
  CHAIN_VARIANTS,
  type ChainVariant,
} from "../simulate/action.ts";
import { NOT_SIMULATED } from "../simulate/coverage.ts";
import { nodeParseArgs } from "./args.ts";

const HELP = `usage: saker simulate [options] [ACTION...]

Runs attack simulations (all of them when no ACTION is named). ACTION is a name from
--list or a glob such as 'container-*'.

options:
  -l, --list       list the actions, the rules each one targets (Saker's, Falco's stable,
                   incubating and sandbox rules) and the Falco rules none can trigger here
      --json       print JSON (the list, or one report per action)
  -v, --verbose    print each action's evidence (system calls made, program output)
      --gap MS     pause between actions (default and least: 3)
      --variant V  how actions aimed at sequence rules perform their chain: chain (all
                   steps, default), partial (all but the last), split (each step in
                   another session, container or process tree), slow (a pause before the
                   last step); only 'chain' may fire the sequence
      --pause MS   the pause of --variant slow (default 5000)
  -h, --help       this help`;

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      allowPositionals: true,
      options: {
        list: { type: "boolean", short: "l" },
        json: { type: "boolean" },
        verbose: { type: "boolean", short: "v" },
        gap: { type: "string" },
        variant: { type: "string" },
        pause: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`saker simulate: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let actions: Action[];
  try {
    actions = selectActions(positionals);
  } catch (err) {
    console.error(`saker simulate: ${(err as Error).message}`);
    return 2;
  }
  if (values.list) {
    console.log(
      values.json
        ? JSON.stringify({ actions: actions.map(listEntry), notSimulated: NOT_SIMULATED }, null, 2)
        : listTable(actions),
    );
    return 0;
  }
  const gapMs = values.gap === undefined ? 0 : Number(values.gap);
  if (!Number.isFinite(gapMs) || gapMs < 0) {
    console.error(`saker simulate: --gap must be a number of milliseconds, got '${values.gap}'`);
    return 2;
  }
  const variant = (values.variant ?? "chain") as ChainVariant;
  if (!CHAIN_VARIANTS.includes(variant)) {
    console.error(
      `saker simulate: --variant must be one of ${CHAIN_VARIANTS.join(", ")}, got '${variant}'`,
    );
    return 2;
  }
  const pauseMs = values.pause === undefined ? 5000 : Number(values.pause);
  if (!Number.isFinite(pauseMs) || pauseMs < 0) {
    console.error(
      `saker simulate: --pause must be a number of milliseconds, got '${values.pause}'`,
    );
    return 2;
  }
  const reports = await runActions(actions, {
    gapMs,
    variant,
    pauseMs,
    log: values.verbose ? (m) => console.error(m) : undefined,
    onReport: values.json ? undefined : (r) => console.log(reportLine(r, !!values.verbose)),
  });
  if (values.json) {
    console.log(JSON.stringify({ ...processIds(), reports }, null, 2));
  } else {
    const n = (s: ActionReport["status"]) => reports.filter((r) => r.status === s).length;
    console.log(`${n("ok")} ran, ${n("skipped")} skipped, ${n("failed")} failed`);
  }
  return reports.some((r) => r.status === "failed") ? 1 : 0;
}

function listEntry(a: Action) {
  return {
    name: a.name,
    kind: a.kind,
    rule: a.rule ?? null,
    falcoRule: a.falcoRule ?? null,
    falcoTargets: a.falcoTargets ?? [],
    technique: a.technique,
    summary: a.summary,
    needs: a.needs,
    expect: a.expect,
    falcoExpect: a.falcoExpect ?? [],
    chain: a.chain === true,
    alongside: a.alongside ?? [],
  };
}

function listTable(actions: Action[]): string {
  const w = Math.max(...actions.map((a) => a.name.length));
  const pad = "".padEnd(w + 13);
  const lines: string[] = [];
  for (const a of actions) {
    lines.push(`${a.name.padEnd(w)}  ${a.kind.padEnd(9)}  ${a.technique}: ${a.summary}`);
    if (a.rule) lines.push(`${pad}Saker: ${a.rule}`);
    if (a.falcoRule) lines.push(`${pad}Falco stable: ${a.falcoRule}`);
    for (const t of a.falcoTargets ?? []) lines.push(`${pad}Falco ${t.ruleset}: ${t.rule}`);
  }
  lines.push("", "Falco rules no action triggers here:");
  for (const n of NOT_SIMULATED) {
    lines.push(`  ${n.ruleset}: ${n.rule}`, `      ${n.reason}`);
  }
  return lines.join("\n");
}

function reportLine(r: ActionReport, verbose: boolean): string {
  const ms = r.endMs - r.startMs;
  const rules = [r.rule, r.falcoRule, ...(r.falcoTargets ?? []).map((t) => t.rule)]
    .filter((x) => x !== undefined);
  const variant = r.variant && r.variant !== "chain" ? ` [${r.variant}]` : "";
  const head = r.status === "ok"
    ? `ok      ${r.action}${variant} -> ${rules.join(", ")} (${ms} ms)`
    : `${r.status.padEnd(7)} ${r.action}: ${r.reason}`;
  if (!verbose || r.evidence.length === 0) return head;
  return [head, ...r.evidence.map((e) => `        | ${e}`)].join("\n");
}

/** This process's ids: alerts caused by the run share its process group and session. */
function processIds(): { pid: number; pgid?: number; sid?: number } {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid: Deno.pid, pgid: Number(rest[2]), sid: Number(rest[3]) };
  } catch {
    return { pid: Deno.pid };
  }
}
