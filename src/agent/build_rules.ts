/**
 * The rules builder backed by Saker's rules engine: load the files (src/rules/loader.ts),
 * compile a Ruleset for the syscall source (src/rules/ruleset.ts), and one for each other
 * source (k8s_audit), with the config's priority, rule matching and rule selection, and apply
 * `append_output` to the alerts they raise.
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import type { Event } from "../events/event.ts";
import type { Evaluator } from "../pipeline/pipeline.ts";
import { compileRuleset, type RuleSelector, type Ruleset } from "../rules/ruleset.ts";
import { knownSources, loadRulesFiles, loadWarnings } from "../rules/loader.ts";
import { compileOutput, type OutputFormat, renderOutput } from "../rules/output_format.ts";
import { formatMessage } from "../rules/result.ts";
import {
  deriveKernelPredicates,
  fdStateReaders,
  formatPredicates,
  unmatchableEvents,
} from "../rules/kernel_filter.ts";
import type { AppendOutputEntry, RuleSelection } from "../config/spec.ts";
import { type BuiltRules, RulesError, type RulesOptions } from "./rules_builder.ts";

/** Turns the config's `rules:` entries into ruleset selectors. */
export function selectors(sel: RuleSelection[]): RuleSelector[] {
  const out: RuleSelector[] = [];
  for (const s of sel) {
    if (s.enable) out.push({ action: "enable", ...s.enable });
    if (s.disable) out.push({ action: "disable", ...s.disable });
  }
  return out;
}

interface CompiledAppend {
  match: AppendOutputEntry["match"];
  extra?: OutputFormat;
  fields: Array<{ name: string; format: OutputFormat; raw: boolean }>;
}

function compileAppend(entries: AppendOutputEntry[], source: string): CompiledAppend[] {
  const problems: string[] = [];
  const out: CompiledAppend[] = [];
  entries.forEach((e, i) => {
    if (e.match?.source && e.match.source !== source) return;
    try {
      const c: CompiledAppend = { match: e.match, fields: [] };
      if (e.extra_output) c.extra = compileOutput(e.extra_output, source);
      for (const f of e.extra_fields ?? []) {
        if (typeof f === "string") {
          c.fields.push({ name: f, format: compileOutput(`%${f}`, source), raw: true });
        } else {
          for (const [name, fmt] of Object.entries(f)) {
            c.fields.push({ name, format: compileOutput(fmt, source), raw: false });
          }
        }
      }
      out.push(c);
    } catch (err) {
      // An entry naming no source applies to the other sources only where its fields exist.
      if (source !== "syscall" && !e.match?.source) return;
      problems.push(`append_output[${i}]: ${(err as Error).message}`);
    }
  });
  if (problems.length > 0) throw new RulesError(problems);
  return out;
}

function matches(m: AppendOutputEntry["match"], a: Alert): boolean {
  if (!m) return true;
  if (m.rule !== undefined && m.rule !== a.rule) return false;
  if (m.source !== undefined && m.source !== a.source) return false;
  if (m.tags && !m.tags.every((t) => a.tags.includes(t))) return false;
  return true;
}

/** A ruleset whose alerts get the `append_output` additions. */
class AppendingEvaluator implements Evaluator {
  constructor(readonly ruleset: Ruleset, readonly appends: CompiledAppend[]) {}

  evaluate(ev: Event, emit: (a: Alert) => void): void {
    this.ruleset.evaluate(ev, (a) => emit(this.#extend(a, ev)));
  }

  #extend(a: Alert, ev: Event): Alert {
    let output = a.output;
    let fields = a.outputFields;
    for (const ap of this.appends) {
      if (!matches(ap.match, a)) continue;
      if (ap.extra) {
        const r = renderOutput(ap.extra, ev);
        output += " " + r.output;
        fields = { ...fields, ...r.fields };
      }
      for (const f of ap.fields) {
        const r = renderOutput(f.format, ev);
        fields = { ...fields, [f.name]: f.raw ? r.fields[f.name] ?? null : r.output };
      }
    }
    return output === a.output && fields === a.outputFields
      ? a
      : { ...a, output, outputFields: fields };
  }
}

/** Builds the syscall ruleset from rules files. Throws RulesError listing every error. */
export async function buildEngineRules(files: string[], opts: RulesOptions): Promise<BuiltRules> {
  const loaded = await loadRulesFiles(files);
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const r of loaded.results) {
    for (const m of r.errors) problems.push(formatMessage(m, loaded.contents));
  }
  for (const w of loadWarnings(loaded)) warnings.push(formatMessage(w.warning, loaded.contents));
  if (problems.length > 0) throw new RulesError(problems);
  const ruleset = compileRuleset(loaded, {
    minPriority: opts.priority,
    ruleMatching: opts.ruleMatching,
    select: selectors(opts.selection),
    source: "syscall",
  });
  const appends = compileAppend(opts.appendOutput, "syscall");
  // The other sources' rules (Kubernetes audit) get their own rulesets.
  const sources: BuiltRules["sources"] = {};
  for (const source of knownSources()) {
    if (source === "syscall") continue;
    const rs = compileRuleset(loaded, {
      minPriority: opts.priority,
      ruleMatching: opts.ruleMatching,
      select: selectors(opts.selection),
      source,
    });
    const extra = compileAppend(opts.appendOutput, source);
    sources[source] = {
      evaluator: extra.length > 0 ? new AppendingEvaluator(rs, extra) : rs,
      ruleCount: rs.rules.length,
    };
  }
  // Event types no rule can match whatever the event (a contradiction in every rule reading
  // them, e.g. Falco's `outbound` on sendto with `fd.l4proto=tcp`) are not captured for the rules.
  const predicates = deriveKernelPredicates(ruleset.rules);
  const syscalls = ruleset.syscalls();
  for (const name of unmatchableEvents(predicates)) syscalls.delete(name);
  return {
    evaluator: appends.length > 0 ? new AppendingEvaluator(ruleset, appends) : ruleset,
    syscalls,
    kernelPredicates: formatPredicates(predicates),
    fdStateReaders: fdStateReaders(ruleset.rules),
    ruleCount: ruleset.rules.length,
    warnings,
    files: [...loaded.contents.keys()],
    sources,
  };
}
