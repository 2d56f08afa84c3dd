/**
 * Proves one of Falco's extra rulesets (incubating or sandbox) live: one agent with Falco's
 * stable rules and that ruleset loaded unchanged (as Falco loads them; the ruleset's rules that
 * are disabled by default and that an action targets are switched on with Falco's `rules:`
 * selection in the config, not by editing the file), every action aimed at the ruleset run in
 * one `saker simulate` session, and then the benign workload. For each action: every rule it
 * targets must fire within 2 s of its end, caused by it, with the output fields it controls,
 * and no rule it does not target may fire at Warning or above. The benign workload's alerts
 * are counted per rule (false positives). The README's table row for the ruleset must give
 * this run's counts ({@linkcode readmeRowProblems}).
 * @module
 */
import { assert } from "../support/assert.ts";
import { REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { ACTIONS } from "../../src/simulate/catalog.ts";
import type { FalcoRuleset } from "../../src/simulate/action.ts";
import { NOT_SIMULATED } from "../../src/simulate/coverage.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import { buildImage } from "../../src/simulate/podman.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import {
  AgentRun,
  causedBy,
  ensurePodmanService,
  type ReceivedAlert,
  sameValue,
  simulateInSession,
  warningOrAbove,
} from "./simulate_agent.ts";
import { runBenign } from "./benign_support.ts";

const ALERT_WITHIN_MS = 2000;

/** The ruleset files, as Falco's rules repository names them. */
export const RULESET_FILES: Record<FalcoRuleset, string> = {
  incubating: "falco-incubating_rules.yaml",
  sandbox: "falco-sandbox_rules.yaml",
};

/** What the proof found, for the test's report. */
export interface RulesetProof {
  loaded: number;
  proven: string[];
  failures: string[];
  benign: ReceivedAlert[];
  /** Alerts of the container runtime's own work while the actions ran. */
  runtime: ReceivedAlert[];
  lines: string[];
}

/** Programs of the container runtime (podman with runc) and its network plugins. */
const RUNTIME_EXE =
  /^(\/usr\/(s?bin\/(podman|conmon|runc|catatonit)|lib\/cni\/|libexec\/podman\/)|\/memfd:runc_cloned)/;

/** True when the alert's process is the container runtime's. */
function byRuntime(a: ReceivedAlert): boolean {
  return RUNTIME_EXE.test(String(a.fields["proc.exepath"] ?? ""));
}

/** The time of the event behind an alert, in ms since the epoch. */
function eventMs(a: ReceivedAlert): number {
  return Number(a.fields["evt.rawtime"] ?? 0) / 1e6;
}

/** Runs the proof for `ruleset` (the caller checks root, podman and the reference). */
export async function proveRuleset(ruleset: FalcoRuleset): Promise<RulesetProof> {
  const stable = `${REFERENCE_DIR}/falco-rules/falco_rules.yaml`;
  const file = `${REFERENCE_DIR}/falco-rules/${RULESET_FILES[ruleset]}`;
  const loadedSet = await loadRulesFiles([stable, file]);
  const own = (await loadRulesFiles([file])).rules;
  const actions = ACTIONS.filter((a) => a.falcoTargets?.some((t) => t.ruleset === ruleset));
  const targeted = new Set(
    actions.flatMap((a) => a.falcoTargets!.filter((t) => t.ruleset === ruleset).map((t) => t.rule)),
  );
  const disabled = own.filter((r) => !r.enabled && targeted.has(r.name)).map((r) => r.name);
  const extra = [
    // Falco's default: rules on I/O payloads (evt.buffer) see the first 80 bytes.
    "falco_libs:",
    "  snaplen: 80",
    ...(disabled.length === 0 ? [] : [
      "rules:",
      ...disabled.map((r) => `  - enable:\n      rule: ${JSON.stringify(r)}`),
    ]),
  ].join("\n");

  const image = await buildImage(await buildHelper());
  const stopPodman = await ensurePodmanService();
  const agent = await AgentRun.start([stable, file], extra);
  const lines: string[] = [];
  const failures: string[] = [];
  const proven = new Set<string>();
  let benign: ReceivedAlert[] = [];
  const runtimeNoise: ReceivedAlert[] = [];
  try {
    const run = await simulateInSession(actions.map((a) => a.name));
    // Every event of the actions evaluated (the marker alert after them is back); container
    // events held for their metadata get a moment more.
    await agent.sync();
    await new Promise((res) => setTimeout(res, 1000));
    const reports = run.reports;
    reports.forEach((r, i) => {
      const action = actions.find((a) => a.name === r.action)!;
      const until = reports[i + 1]?.startMs ?? Number.MAX_SAFE_INTEGER;
      const containers = r.containerId ? [r.containerId] : [];
      // The action's alerts: caused by its processes or container, from events between its
      // start and the next action's (its cleanup included).
      // A process that left the run's session (setsid) is known by its parent's pid.
      const ppid = r.facts["proc.ppid"];
      const inWindow = agent.alerts.filter((a) =>
        eventMs(a) >= r.startMs && eventMs(a) < until &&
        (causedBy(a, run, containers) ||
          (ppid !== undefined && sameValue(a.fields["proc.ppid"], ppid)))
      );
      // The container runtime's own work (podman, conmon, runc and the CNI plugins preparing
      // a container) is not the action's: Falco's rules flag some of it too (the sandbox's
      // drift and /etc rules on every container start); it is reported, not judged.
      const runtime = inWindow.filter(byRuntime);
      const mine = inWindow.filter((a) => !byRuntime(a));
      if (runtime.length > 0) {
        runtimeNoise.push(...runtime);
      }
      if (r.status !== "ok") {
        failures.push(`${r.action}: ${r.status}: ${r.reason}`);
        lines.push(`${r.action.padEnd(34)} ${r.status.toUpperCase()} (${r.reason})`);
        return;
      }
      const targets = action.falcoTargets!.filter((t) => t.ruleset === ruleset);
      for (const t of targets) {
        const facts = { ...r.facts, ...r.factsFor?.[t.rule] };
        const hit = mine.find((a) =>
          a.rule === t.rule && t.expect.every((k) => sameValue(a.fields[k], facts[k]))
        );
        const late = hit && hit.receivedMs > r.endMs + ALERT_WITHIN_MS;
        if (hit && !late) {
          proven.add(t.rule);
          lines.push(
            `${t.rule.padEnd(70)} fired ${Math.max(0, hit.receivedMs - r.endMs)} ms (${r.action})`,
          );
          continue;
        }
        const near = mine.filter((a) => a.rule === t.rule);
        const why = late
          ? `${hit!.receivedMs - r.endMs} ms after the action`
          : near.length
          ? `fields differ: ${JSON.stringify(near[0].fields)} vs ${JSON.stringify(facts)}`
          : `no alert (the action raised: ${
            JSON.stringify([...new Set(mine.map((a) => a.rule))])
          })`;
        failures.push(`${r.action} -> ${t.rule}: ${why}`);
        lines.push(`${t.rule.padEnd(70)} MISSING (${r.action}: ${why.slice(0, 300)})`);
      }
      const allowed = new Set([
        ...targets.map((t) => t.rule),
        ...(action.falcoRule ? [action.falcoRule] : []),
      ]);
      const others = mine.filter((a) => !allowed.has(a.rule) && warningOrAbove(a.priority));
      if (others.length > 0) {
        const names = [...new Set(others.map((a) => `${a.rule} (${a.priority})`))];
        const detail = others.map((a) =>
          `${a.rule} at +${(eventMs(a) - r.startMs).toFixed(1)} ms (action took ${
            r.endMs - r.startMs
          } ms): ${a.output.slice(0, 240)}`
        );
        failures.push(`${r.action}: other rules at Warning or above:\n  ${detail.join("\n  ")}`);
        lines.push(`${"".padEnd(70)} others: ${names.join(", ")} (${r.action})`);
      }
    });
    if (runtimeNoise.length > 0) {
      lines.push(
        "",
        `the container runtime's own work during the actions: ${runtimeNoise.length} alerts`,
        ...countByRule(runtimeNoise).map((l) => `  ${l}`),
      );
    }
    const b = await runBenign(agent, image);
    benign = b.alerts;
    lines.push(
      "",
      `benign workload (${b.seconds.toFixed(1)} s): ${b.alerts.length} alerts, ` +
        `${b.alerts.filter((a) => warningOrAbove(a.priority)).length} at Warning or above`,
      ...countByRule(b.alerts).map((l) => `  ${l}`),
    );
  } finally {
    await agent.stop();
    await stopPodman();
  }
  const notHere = NOT_SIMULATED.filter((n) => n.ruleset === ruleset);
  lines.unshift(
    `Falco stable + ${ruleset}: ${own.length} rules in the ruleset (${loadedSet.rules.length} ` +
      `loaded with the stable ones), ${proven.size} proven live, ${notHere.length} not ` +
      `triggerable here${disabled.length ? `; enabled for the test: ${disabled.join(", ")}` : ""}`,
  );
  assert(own.length > 20, `${RULESET_FILES[ruleset]} loaded only ${own.length} rules`);
  failures.push(
    ...readmeRowProblems(await Deno.readTextFile(`${REPO_ROOT}README.md`), ruleset, {
      rules: own.length,
      disabledByDefault: own.filter((r) => !r.enabled).length,
      loaded: loadedSet.rules.length,
      proven: proven.size,
      provenAfterEnable: disabled.filter((r) => proven.has(r)).length,
      notHere: notHere.map((n) => n.rule),
    }),
  );
  return {
    loaded: own.length,
    proven: [...proven],
    failures,
    benign,
    runtime: runtimeNoise,
    lines,
  };
}

/**
 * Counts alerts by rule, most frequent first: `rule (priority): n`, then an example's output
 * (with its process) on the next line.
 */
export function countByRule(alerts: ReceivedAlert[]): string[] {
  const n = new Map<string, { count: number; example: ReceivedAlert }>();
  for (const a of alerts) {
    const k = `${a.rule} (${a.priority})`;
    const e = n.get(k);
    if (e) e.count++;
    else n.set(k, { count: 1, example: a });
  }
  return [...n].sort((a, b) => b[1].count - a[1].count).flatMap(([k, v]) => [
    `${k}: ${v.count}`,
    `    e.g. ${v.example.output.slice(v.example.output.indexOf(": ") + 2, 320)}`,
  ]);
}

/** A proof's counts, as the README's table states them. */
export interface RulesetCounts {
  /** Rules in the ruleset's file. */
  rules: number;
  disabledByDefault: number;
  /** Rules loaded with the stable file. */
  loaded: number;
  proven: number;
  /** Proven rules the test switched on with `rules: - enable:`. */
  provenAfterEnable: number;
  /** Rules no action triggers here. */
  notHere: string[];
}

/**
 * Compares the README's table row for `ruleset` (in the section on Falco's incubating and
 * sandbox rules) with a run's counts; returns what differs, empty when the row is right.
 *
 * @example
 * ```ts
 * readmeRowProblems(readme, "incubating", counts); // [] when the README states these counts
 * ```
 */
export function readmeRowProblems(
  readme: string,
  ruleset: FalcoRuleset,
  counts: RulesetCounts,
): string[] {
  const row = readme.split("\n").find((l) => l.startsWith(`| \`${RULESET_FILES[ruleset]}\``));
  if (!row) return [`README: no table row for ${RULESET_FILES[ruleset]}`];
  const cells = row.split("|").slice(2, -1).map((c) => c.trim());
  const want = [
    `${counts.rules}, ${
      counts.disabledByDefault === 0
        ? "all enabled"
        : `${counts.disabledByDefault} disabled by default`
    }`,
    String(counts.loaded),
    `${counts.proven}${
      counts.provenAfterEnable === 0
        ? ""
        : ` (${counts.provenAfterEnable} of them after \`rules: - enable:\`)`
    }`,
  ];
  const problems = want.flatMap((w, i) =>
    cells[i] === w
      ? []
      : [`README ${ruleset} row, column ${i + 2}: '${cells[i]}', this run: '${w}'`]
  );
  const reasons = cells[3] ?? "";
  const named = reasons.split("; ").filter((r) => r !== "").map((r) => r.split(":")[0]);
  if (named.join("\n") !== counts.notHere.join("\n")) {
    problems.push(
      `README ${ruleset} row names as not triggerable: ${JSON.stringify(named)}, ` +
        `the simulator's list: ${JSON.stringify(counts.notHere)}`,
    );
  }
  return problems;
}
