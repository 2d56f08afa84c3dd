/**
 * `saker explain`: for one event, every rule of its event type and why it matched or not (the
 * checks that decided it, with their fields' values). The event is written as field values (as
 * in rule tests, built through a synthetic world's real state store; several `--event`s build
 * state in order and the last is explained), or picked from a capture file or a Kubernetes audit
 * file by its event number.
 *
 * @example
 * ```sh
 * saker explain -r rules --event '{evt.type: openat, fd.name: /etc/shadow, proc.name: passwd}'
 * saker explain -r rules --event 'evt.type=openat fd.name=/etc/shadow proc.name=cat'
 * saker explain -r falco_rules.yaml --capture trace.scap --evt-num 4711
 * ```
 * @module
 */
import { parse as parseYaml } from "yaml";
import { loadRulesFiles } from "../rules/loader.ts";
import { compileRuleset } from "../rules/ruleset.ts";
import type { CompiledRule } from "../rules/compiler.ts";
import type { Event } from "../events/event.ts";
import {
  explainEvent,
  explainRule,
  type Explanation,
  formatExplanation,
} from "../rules/explain.ts";
import { replayCapture } from "../pipeline/replay.ts";
import { replayAuditFile } from "../pipeline/replay_sources.ts";
import { K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { EVENTS } from "../events/table.ts";
import { lookupField } from "../rules/fields/mod.ts";
import { ConfigError, loadConfig } from "../config/load.ts";
import { DEFAULT_RULES } from "../assets.ts";
import { defaultConfigFile } from "./run.ts";
import { type FieldEntry, SyntheticWorld, type SynthValue } from "../ruletest/synth.ts";
import { TestFileError } from "../ruletest/problem.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker explain [-r RULES]... (--event FIELDS... | --capture FILE --evt-num N |
                     --audit FILE --evt-num N) [--rule NAME]... [--json]

Prints, for one event, each rule of its event type and why it matched or not: the checks that
decided it, each with the value its field had.

  -r PATH          rules file or directory (repeatable; default: the rules saker run loads)
  -c FILE          config whose rules_files are the default rules
  --event FIELDS   the event as field values: '{evt.type: openat, fd.name: /etc/shadow}' or
                   'evt.type=openat fd.name=/etc/shadow proc.name=cat'; repeat to build state
                   with earlier events (the last one is explained)
  --capture FILE   a capture file; with --evt-num N, the event numbered N (after the state of
                   the events before it)
  --audit FILE     a Kubernetes audit file (JSON lines or JSON); with --evt-num N
  --rule NAME      explain only this rule (repeatable)
  --json           print JSON
  -h, --help       this text`;

/** `k=v k2="v 2"` or a YAML flow mapping, as field entries. */
export function parseEventFields(text: string): FieldEntry[] {
  const t = text.trim();
  if (t.startsWith("{")) {
    const v = parseYaml(t);
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new TestFileError(`--event: '${text}' is not a mapping of fields`);
    }
    return Object.entries(v).map(([key, value]) => ({ key, value: value as SynthValue }));
  }
  const out: FieldEntry[] = [];
  const re = /([^\s=,]+)=("([^"]*)"|'([^']*)'|[^\s,]*)/g;
  let rest = t;
  for (const m of t.matchAll(re)) {
    const raw = m[3] ?? m[4] ?? m[2];
    const num = /^-?\d+$/.test(raw) && m[3] === undefined && m[4] === undefined;
    out.push({
      key: m[1],
      value: num ? Number(raw) : raw === "true" ? true : raw === "false" ? false : raw,
      raw,
    });
    rest = rest.replace(m[0], "");
  }
  if (rest.replace(/[\s,]/g, "") !== "" || out.length === 0) {
    throw new TestFileError(`--event: cannot read '${text}' (field=value ... or {field: value})`);
  }
  return out;
}

async function defaultRules(config?: string): Promise<string[]> {
  const file = config ?? defaultConfigFile();
  if (!file) return [DEFAULT_RULES];
  const loaded = await loadConfig({ file });
  return loaded.config.rules_files.length > 0 ? loaded.config.rules_files : [DEFAULT_RULES];
}

function describe(ev: Event): string {
  const th = ev.thread;
  const parts = [`#${ev.num}`, EVENTS[ev.type]?.name ?? String(ev.type)];
  for (const name of ["ka.verb", "ka.uri"]) {
    const ref = lookupField(name);
    const v = ev.thread === undefined && ref ? ref.def.extract(ev, ref.arg) : undefined;
    if (v !== undefined) parts.push(`${name}=${v}`);
  }
  if (th) parts.push(`proc.name=${th.proc.comm}`, `proc.pid=${th.proc.pid}`);
  if (ev.fdInfo) parts.push(`fd.name=${ev.fdInfo.name}`);
  return parts.join(" ");
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      options: {
        r: { type: "string", multiple: true },
        c: { type: "string" },
        event: { type: "string", multiple: true },
        capture: { type: "string" },
        audit: { type: "string" },
        "evt-num": { type: "string" },
        rule: { type: "string", multiple: true },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`saker explain: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const inputs = [v.event ? "event" : "", v.capture ? "capture" : "", v.audit ? "audit" : ""]
    .filter(Boolean);
  if (inputs.length !== 1) {
    console.error(`saker explain: give one of --event, --capture or --audit\n\n${USAGE}`);
    return 2;
  }
  const num = v["evt-num"] === undefined ? undefined : Number(v["evt-num"]);
  if ((v.capture || v.audit) && (num === undefined || !Number.isInteger(num) || num < 1)) {
    console.error("saker explain: --capture and --audit need --evt-num N (a number from 1)");
    return 2;
  }
  let files: string[];
  try {
    files = v.r ?? await defaultRules(v.c);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`saker explain: config: ${p}`);
      return 2;
    }
    throw err;
  }
  const loaded = await loadRulesFiles(files);
  const errors = loaded.results.flatMap((r) =>
    r.errors.map((e) => `${r.name}: ${e.code}: ${e.message}`)
  );
  if (errors.length > 0) {
    for (const e of errors) console.error(`saker explain: ${e}`);
    return 1;
  }
  const source = v.audit ? K8S_AUDIT_SOURCE : "syscall";
  const ruleset = compileRuleset(loaded, { source, ruleMatching: "all" });
  let rules: readonly CompiledRule[] = ruleset.rules;
  if (v.rule) {
    const missing = v.rule.filter((n) => !rules.some((r) => r.name === n));
    if (missing.length > 0) {
      console.error(
        `saker explain: no rule named ${missing.map((m) => `'${m}'`).join(", ")} (${source})`,
      );
      return 2;
    }
    rules = rules.filter((r) => v.rule!.includes(r.name));
  }
  let explained: { event: string; rules: Explanation[] } | undefined;
  const explain = (ev: Event) => {
    explained = { event: describe(ev), rules: explainEvent(rules, ev) };
    // A rule named with --rule but not of this event type still gets its line.
    if (v.rule) {
      for (const r of rules) {
        if (!explained.rules.some((x) => x.rule === r.name)) {
          explained.rules.push(explainRule(r, ev));
        }
      }
    }
  };
  try {
    if (v.event) {
      const world = new SyntheticWorld();
      let last: Event | undefined;
      for (const text of v.event) {
        const entries = parseEventFields(text);
        const evs = world.events(entries);
        last = evs[evs.length - 1];
        const problems = world.verify(last, entries);
        if (problems.length > 0) throw problems[0];
      }
      explain(last!);
    } else if (v.capture) {
      await replayCapture(v.capture, {
        filter: (ev) => ev.num === num,
        evaluator: { evaluate: (ev) => explain(ev) },
      });
    } else {
      await replayAuditFile(v.audit!, {
        filter: (ev) => ev.num === num,
        evaluator: { evaluate: (ev) => explain(ev) },
      });
    }
  } catch (err) {
    if (err instanceof TestFileError) {
      console.error(`saker explain: ${err.message}`);
      return 2;
    }
    console.error(`saker explain: ${(err as Error).message}`);
    return 1;
  }
  if (!explained) {
    console.error(`saker explain: no event numbered ${num} in ${v.capture ?? v.audit}`);
    return 1;
  }
  if (v.json) {
    console.log(JSON.stringify(explained, (_k, x) => (x === Infinity ? null : x), 2));
    return 0;
  }
  console.log(`event ${explained.event}`);
  if (explained.rules.length === 0) {
    console.log("  no rule handles this event's type");
  }
  for (const x of explained.rules) for (const l of formatExplanation(x, "  ")) console.log(l);
  const n = explained.rules.filter((x) => x.matched).length;
  console.log(`${n} of ${explained.rules.length} rules matched`);
  return 0;
}
