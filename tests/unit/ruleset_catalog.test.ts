/**
 * The default rules (rules/*.yaml) and the simulator's catalogue agree, and the rules are
 * complete: every rule has a description, MITRE ATT&CK tags, a priority and an output; every
 * rule is the target of exactly one simulator action; every field an action expects on the
 * alert is in that rule's output; only standard Falco fields are used; every rule of Falco's
 * stable set is matched by an action.
 */
import { parse } from "yaml";
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { ACTIONS, selectActions } from "../../src/simulate/catalog.ts";

interface RuleItem {
  rule: string;
  desc?: string;
  condition?: string;
  output?: string;
  priority?: string;
  tags?: string[];
  enabled?: boolean;
}
type Item = Record<string, unknown>;

async function loadItems(dir: string): Promise<{ file: string; items: Item[] }[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".yaml")) files.push(e.name);
  files.sort();
  const out = [];
  for (const f of files) {
    out.push({ file: f, items: (parse(await Deno.readTextFile(`${dir}/${f}`)) ?? []) as Item[] });
  }
  return out;
}

const RULES_DIR = `${REPO_ROOT}rules`;
const files = await loadItems(RULES_DIR);
const rules: RuleItem[] = files.flatMap((f) =>
  f.items.filter((i) => "rule" in i) as unknown as RuleItem[]
);
/** Sequence rules, as rule items named by their `sequence` key (their steps' conditions). */
const sequences: (RuleItem & { source?: string })[] = files.flatMap((f) =>
  f.items.filter((i) => "sequence" in i).map((i) => ({
    ...i,
    rule: String(i.sequence),
    condition: ((i.steps ?? []) as Record<string, string>[])
      .map((s) => s.condition ?? s.not ?? "").join(" and "),
  })) as unknown as (RuleItem & { source?: string })[]
);
/** Threshold rules, as rule items named by their `threshold` key. */
const thresholds: (RuleItem & { source?: string })[] = files.flatMap((f) =>
  f.items.filter((i) => "threshold" in i).map((i) => ({ ...i, rule: String(i.threshold) }))
) as unknown as (RuleItem & { source?: string })[];
/** Rules, sequences and thresholds of system call events (a simulator action can trigger them). */
const syscallItems: RuleItem[] = [
  ...rules,
  ...sequences.filter((s) => !s.source),
  ...thresholds.filter((s) => !s.source),
];

/** Field names an output names with %field (argument brackets and %step[N]. included). */
function outputFields(output: string): string[] {
  return [
    ...output.matchAll(/%((?:step\[\d+\]\.)?[a-z0-9_]+(?:\.[a-z0-9_]+)+(?:\[[^\]]*\])?)/g),
  ].map((m) => m[1]);
}

const PRIORITIES = [
  "EMERGENCY",
  "ALERT",
  "CRITICAL",
  "ERROR",
  "WARNING",
  "NOTICE",
  "INFORMATIONAL",
  "INFO",
  "DEBUG",
];

Deno.test("ruleset: several theme files, every rule complete", () => {
  assert(files.length >= 5, `expected rules organised in several files, got ${files.length}`);
  assert(rules.length >= 40, `expected at least 40 rules, got ${rules.length}`);
  const names = new Set<string>();
  for (const r of syscallItems) {
    assert(!names.has(r.rule), `duplicate rule ${r.rule}`);
    names.add(r.rule);
    assert((r.desc ?? "").length > 60, `${r.rule}: desc too short`);
    assert(r.condition, `${r.rule}: no condition`);
    assert(r.output && r.output.includes("|"), `${r.rule}: output needs a message and fields`);
    assert(
      PRIORITIES.includes(String(r.priority).toUpperCase()),
      `${r.rule}: priority ${r.priority}`,
    );
    const techniques = (r.tags ?? []).filter((t) => /^T\d{4}(\.\d{3})?$/.test(t));
    assert(techniques.length > 0, `${r.rule}: no MITRE ATT&CK technique id in tags`);
    assert((r.tags ?? []).some((t) => t.startsWith("mitre_")), `${r.rule}: no MITRE tactic tag`);
    const fields = outputFields(r.output);
    for (const f of ["proc.name", "user.name"]) {
      assert(fields.includes(f), `${r.rule}: output lacks ${f}`);
    }
  }
});

Deno.test("ruleset: one simulator action per rule, and its expected fields are in the output", () => {
  const byRule = new Map(syscallItems.map((r) => [r.rule, r]));
  const targeted = new Map<string, string[]>();
  for (const a of ACTIONS) {
    if (a.rule === undefined) continue; // aimed at Falco's incubating or sandbox rules only
    const r = byRule.get(a.rule);
    assert(r, `action ${a.name} targets '${a.rule}', which is not a rule in rules/`);
    targeted.set(a.rule, [...(targeted.get(a.rule) ?? []), a.name]);
    const fields = outputFields(r.output ?? "");
    for (const f of a.expect) {
      assert(fields.includes(f), `${a.name}: expects ${f}, but '${a.rule}' does not output it`);
    }
  }
  for (const r of syscallItems) {
    assertEquals(targeted.get(r.rule)?.length ?? 0, 1, `rule '${r.rule}' needs exactly one action`);
  }
  // Sequences of other sources (Kubernetes audit) are complete too; live tests post their events.
  for (const q of sequences.filter((s) => s.source)) {
    assert((q.desc ?? "").length > 60, `${q.rule}: desc too short`);
    assert(q.output?.includes("|"), `${q.rule}: output needs a message and fields`);
    assert((q.tags ?? []).some((t) => /^T\d{4}/.test(t)), `${q.rule}: no technique id`);
  }
});

Deno.test("ruleset: action names are unique kebab-case; selection by glob", () => {
  const names = ACTIONS.map((a) => a.name);
  assertEquals(new Set(names).size, names.length);
  for (const n of names) assert(/^[a-z0-9]+(-[a-z0-9]+)*$/.test(n), `bad action name ${n}`);
  assertEquals(selectActions(["ptrace-*"]).map((a) => a.name), [
    "ptrace-attach",
    "ptrace-anti-debug",
  ]);
  let threw = false;
  try {
    selectActions(["no-such-action"]);
  } catch (err) {
    threw = (err as Error).message.includes("no-such-action");
  }
  assert(threw, "an unknown action name must be an error naming it");
});

/** Every field name a condition or output uses, without arguments. */
function fieldsUsed(text: string): string[] {
  const out = new Set<string>();
  for (
    const m of text.matchAll(/\b((?:proc|thread|fd|fs|evt|user|group|container|k8s)\.[a-z0-9_.]+)/g)
  ) {
    let f = m[1].replace(/\.$/, "");
    if (f.startsWith("evt.arg.") || f.startsWith("evt.rawarg.")) {
      f = f.split(".").slice(0, 2).join(".");
    }
    out.add(f);
  }
  return [...out];
}

Deno.test({
  name: "ruleset: only standard Falco fields (libsinsp, container plugin)",
  ignore: needsReference(),
  async fn() {
    const known = new Set<string>();
    for (const f of ["fields-libsinsp.tsv", "fields-container-plugin.tsv"]) {
      for (const line of (await Deno.readTextFile(`${REFERENCE_DIR}/${f}`)).split("\n")) {
        known.add(line.split("\t")[0]);
      }
    }
    const unknown: string[] = [];
    for (const { file, items } of files) {
      for (const it of items) {
        const steps = ((it.steps ?? []) as Record<string, unknown>[])
          .flatMap((s) => [s.condition, s.not, ...Object.values(s.capture ?? {})]);
        const text = [it.condition, it.output, ...steps]
          .filter((x) => typeof x === "string").join(" ");
        for (const f of fieldsUsed(text)) {
          // Dotted literals in conditions (host names, file names) are not fields.
          if (f.startsWith("k8s.") && !known.has(f) && /default|svc|local/.test(f)) continue;
          if (!known.has(f)) unknown.push(`${file}: ${f}`);
        }
      }
    }
    assertEquals(unknown, []);
  },
});

Deno.test({
  name: "ruleset: every rule of Falco's stable set has an action aimed at it",
  ignore: needsReference(),
  async fn() {
    const stable = (parse(
      await Deno.readTextFile(`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`),
    ) as Item[]).filter((i) => "rule" in i) as unknown as RuleItem[];
    const byName = new Map(stable.map((r) => [r.rule, r]));
    for (const a of ACTIONS) {
      if (!a.falcoRule) continue;
      const r = byName.get(a.falcoRule);
      assert(r, `${a.name}: '${a.falcoRule}' is not in falco_rules.yaml`);
      const fields = outputFields(r.output ?? "");
      for (const f of a.falcoExpect ?? []) {
        assert(fields.includes(f), `${a.name}: Falco's '${a.falcoRule}' does not output ${f}`);
      }
    }
    const aimed = new Set(ACTIONS.map((a) => a.falcoRule));
    // Falco matches the API server by its in-cluster DNS name, which only resolves inside a
    // Kubernetes cluster; Saker's action targets Saker's rule (which also knows port 6443).
    const unreachable = ["Contact K8S API Server From Container"];
    const missing = stable.map((r) => r.rule).filter((n) =>
      !aimed.has(n) && !unreachable.includes(n)
    );
    assertEquals(missing, []);
  },
});
