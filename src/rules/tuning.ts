/**
 * The tuning assistant's logic: from the stored alerts, exceptions in Falco's `exceptions:` syntax
 * that would remove the noisiest rules' repeated alerts, and the local rules file that adds them.
 *
 * For each rule (most occurrences first), candidate field sets are tried, most specific first: for
 * a rule about an object, the program and the object (`proc.exepath` + `fd.name`, + the server
 * address and port, + a path argument), then the program's name and the object; for a rule about
 * a process, the program and its parent, the container image and the program, their names. For each set, the stored alerts are counted per tuple of values
 * (the store does it in SQL; a summary counts for every occurrence it stands for, exact for the
 * aggregation key's fields). A tuple becomes an exception value when it repeats (`minCount`) and
 * is safe to except: a program in a world-writable temporary place (`/tmp`, `/var/tmp`,
 * `/dev/shm`, `/run/user`) or run from memory is where attackers drop their tools, so it is left
 * out and reported, as is one whose alerts do not carry its path (`proc.exepath`); values a
 * condition cannot hold (quotes, control characters) too. The set
 * whose values remove the most alerts wins (the more specific one on a tie). Every count is of
 * stored alerts, so "would have removed" is exact for what the store holds.
 *
 * The file appends each exception to its rule (`override: {exceptions: append}`), so it must be
 * loaded after the rules it tunes. A file written earlier is merged: its values stay, new ones
 * join them.
 *
 * @example
 * ```ts
 * import { proposeExceptions, tuningFileText } from "./tuning.ts";
 * const report = proposeExceptions(store, { since }, rules, { minCount: 3, maxValues: 50,
 *   maxRules: 20 });
 * const text = tuningFileText(report, undefined, "since 24h");
 * ```
 * @module
 */
import { parse as parseYaml } from "yaml";
import type { OutputFieldValue, Priority } from "./alert.ts";
import { mainObjectOf } from "./aggregation.ts";

/** Which stored alerts to read. */
export interface TuneQuery {
  /** Event time at or after, UTC ns. */
  since?: bigint;
  /** Only these rules. */
  rules?: string[];
}

/** What the tuner reads from the alert store (AlertStore provides it). */
export interface TuneData {
  /** Occurrences per rule, priority and source, most first. */
  ruleTotals(q: TuneQuery): { rule: string; priority: Priority; source: string; count: number }[];
  /**
   * Occurrences of one rule per tuple of output field values, most first, at most `limit`
   * tuples; only rows where the first `required` fields (default: all) have a value.
   */
  tupleCounts(
    q: TuneQuery,
    rule: string,
    fields: readonly string[],
    limit: number,
    required?: number,
  ): { values: OutputFieldValue[]; count: number }[];
}

/** What the tuner knows of a loaded rule. */
export interface TuneRule {
  name: string;
  source: string;
  /** Fields its condition reads (for its main object). */
  fields: readonly string[];
}

/** Tuning options. */
export interface TuneOptions {
  /** Least occurrences for a tuple to become an exception value. */
  minCount: number;
  /** Most values per exception. */
  maxValues: number;
  /** Most rules with a proposal, noisiest first. */
  maxRules: number;
}

/** One exception value: a tuple and the stored alerts it matches. */
export interface ProposedValue {
  values: string[];
  alerts: number;
}

/** A proposal for one rule. */
export interface Proposal {
  rule: string;
  priority: Priority;
  source: string;
  /** Stored alerts of the rule in the range. */
  alerts: number;
  /** How many of them the exception would have removed. */
  removed: number;
  exception: { name: string; fields: string[]; comps: string[]; values: ProposedValue[] };
  /** Alerts of tuples left out because their program sits in a temporary or writable place. */
  unsafe: number;
  /** Alerts of tuples seen fewer than `minCount` times. */
  rare: number;
}

/** What `saker tune` found. */
export interface TuneReport {
  /** Stored alerts in the range (of the rules asked for). */
  alerts: number;
  /** Stored alerts the proposals would have removed. */
  removed: number;
  proposals: Proposal[];
  /** Rules with alerts but no proposal, and why. */
  skipped: { rule: string; alerts: number; reason: string }[];
}

/** Program paths attackers drop their tools in: never excepted. */
const UNSAFE_PROGRAM = /^(\/tmp\/|\/var\/tmp\/|\/dev\/shm\/|\/run\/user\/|memfd:)|\(deleted\)$/;
const PROGRAM_FIELDS = new Set(["proc.exepath", "proc.pexepath", "proc.exe", "proc.pexe"]);

/**
 * Candidate field sets for a rule, most specific first. A rule about an object (a file, a
 * service, a path) is only ever excepted for a program and that object: the program alone would
 * silence it for every file it touches.
 */
export function candidateFields(r: TuneRule): string[][] {
  if (r.source === "k8s_audit") {
    return [
      ["ka.user.name", "ka.target.resource", "ka.target.namespace", "ka.target.name"],
      ["ka.user.name", "ka.target.resource", "ka.target.namespace"],
    ];
  }
  const main = mainObjectOf(r);
  if (main.length > 0 && main[0] !== "proc.pexepath") {
    return [["proc.exepath", ...main], ["proc.name", ...main]];
  }
  return [
    ["proc.exepath", "proc.pexepath"],
    ["container.image.repository", "proc.exepath"],
    ["proc.name", "proc.pname"],
  ];
}

/** The text of a value as an exception holds it; undefined when it cannot be one. */
function valueText(v: OutputFieldValue): string | undefined {
  if (v === null || Array.isArray(v)) return undefined;
  const s = String(v);
  // deno-lint-ignore no-control-regex
  if (s === "" || s === "<NA>" || /["\\\x00-\x1f]/.test(s)) return undefined;
  return s;
}

/** The exception's name for a field set. */
export function exceptionName(fields: readonly string[]): string {
  return "saker_tune_" + fields.map((f) => f.replace(/[^A-Za-z0-9]+/g, "_")).join("_");
}

/** Finds, for the noisiest rules, the exceptions that would remove their repeated alerts. */
export function proposeExceptions(
  data: TuneData,
  q: TuneQuery,
  rules: ReadonlyMap<string, TuneRule>,
  opts: TuneOptions,
): TuneReport {
  const totals = data.ruleTotals(q).filter((t) => t.source !== "internal");
  const report: TuneReport = { alerts: 0, removed: 0, proposals: [], skipped: [] };
  for (const t of totals) {
    report.alerts += t.count;
    const rule = rules.get(t.rule);
    const skip = (reason: string) => report.skipped.push({ rule: t.rule, alerts: t.count, reason });
    if (!rule) {
      skip("not among the loaded rules");
      continue;
    }
    if (report.proposals.length >= opts.maxRules) {
      skip(`beyond the ${opts.maxRules} noisiest rules`);
      continue;
    }
    let best: Proposal | undefined;
    for (const fields of candidateFields(rule)) {
      const p = proposalFor(data, q, t, fields, opts);
      if (p.removed > (best?.removed ?? 0)) best = p;
    }
    if (!best) {
      skip(`no program and object repeats ${opts.minCount} times or more`);
      continue;
    }
    report.proposals.push(best);
    report.removed += best.removed;
  }
  return report;
}

function proposalFor(
  data: TuneData,
  q: TuneQuery,
  t: { rule: string; priority: Priority; source: string; count: number },
  fields: string[],
  opts: TuneOptions,
): Proposal {
  // Counted with the program's path beside the fields: a tuple is unsafe when any alert it
  // would silence came from a program in a writable place (`proc.name = loot` silences
  // /tmp/.x/loot as well as a loot elsewhere).
  const guards = t.source === "syscall" ? ["proc.exepath", "proc.pexepath"] : [];
  const rows = data.tupleCounts(
    q,
    t.rule,
    [...fields, ...guards],
    opts.maxValues * 20,
    fields.length,
  );
  const tuples = new Map<
    string,
    { texts: (string | undefined)[]; count: number; unsafe: boolean }
  >();
  for (const row of rows) {
    const texts = row.values.slice(0, fields.length).map(valueText);
    const key = JSON.stringify(texts);
    let tuple = tuples.get(key);
    if (!tuple) tuples.set(key, tuple = { texts, count: 0, unsafe: false });
    tuple.count += row.count;
    const programs = [
      ...texts.filter((_, i) => PROGRAM_FIELDS.has(fields[i])),
      ...row.values.slice(fields.length),
    ];
    if (programs.some((p) => typeof p === "string" && UNSAFE_PROGRAM.test(p))) tuple.unsafe = true;
    // Excepting a program by name is safe only when the alerts say where it ran from.
    if (guards.length > 0 && row.values[fields.length] === null) tuple.unsafe = true;
  }
  const values: ProposedValue[] = [];
  let unsafe = 0, rare = 0, removed = 0;
  for (const row of [...tuples.values()].sort((a, b) => b.count - a.count)) {
    const texts = row.texts;
    if (texts.some((x) => x === undefined)) continue;
    if (row.unsafe) {
      unsafe += row.count;
      continue;
    }
    if (row.count < opts.minCount) {
      rare += row.count;
      continue;
    }
    if (values.length >= opts.maxValues) continue;
    values.push({ values: texts as string[], alerts: row.count });
    removed += row.count;
  }
  return {
    rule: t.rule,
    priority: t.priority,
    source: t.source,
    alerts: t.count,
    removed,
    exception: {
      name: exceptionName(fields),
      fields,
      comps: fields.map(() => "="),
      values,
    },
    unsafe,
    rare,
  };
}

/** Exceptions of an earlier tuning file, by rule and exception name. */
export type TuningFile = Map<string, Map<string, { fields: string[]; values: string[][] }>>;

/**
 * Reads a tuning file written earlier. Throws when it holds anything `saker tune` does not write
 * (the file is rewritten whole, so nothing else may live in it).
 */
export function parseTuningFile(text: string, name: string): TuningFile {
  const out: TuningFile = new Map();
  const doc = parseYaml(text) ?? [];
  if (!Array.isArray(doc)) throw new Error(`${name}: not a rules file (a list of items)`);
  for (const item of doc) {
    const ok = item && typeof item === "object" && typeof item.rule === "string" &&
      Array.isArray(item.exceptions) &&
      Object.keys(item).every((k) => ["rule", "exceptions", "override"].includes(k)) &&
      item.exceptions.every((e: { name?: unknown }) =>
        typeof e?.name === "string" && e.name.startsWith("saker_tune_")
      );
    if (!ok) {
      throw new Error(
        `${name}: holds items saker tune did not write; write the proposals to another file (-w)`,
      );
    }
    let rule = out.get(item.rule);
    if (!rule) out.set(item.rule, rule = new Map());
    for (const e of item.exceptions) {
      const fields = (e.fields ?? []).map(String);
      const values = (e.values ?? []).map((v: unknown[]) => v.map(String));
      const prev = rule.get(e.name);
      if (prev) prev.values.push(...values);
      else rule.set(e.name, { fields, values });
    }
  }
  return out;
}

/** A value as a YAML scalar: plain when YAML reads it back as the same string, else quoted. */
function yamlScalar(s: string): string {
  const word = /^(\/[A-Za-z0-9_./@+~-]*|[A-Za-z_][A-Za-z0-9_./@+~-]*)$/.test(s);
  return word && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s) ? s : JSON.stringify(s);
}

/**
 * The condition text of a value: quoted when it holds anything beyond a path-like word, since
 * exception values are spliced into the rule's condition.
 */
function conditionValue(s: string): string {
  return /^[A-Za-z0-9_./@+~:-]+$/.test(s) ? s : `"${s}"`;
}

/**
 * The tuning file: the report's exceptions, merged with an earlier file's, each value with the
 * stored alerts it matched as a comment. `what` says where the counts come from.
 */
export function tuningFileText(
  report: TuneReport,
  earlier: TuningFile | undefined,
  what: string,
): string {
  type Entry = { fields: string[]; values: { values: string[]; note: string }[] };
  const byRule = new Map<string, Map<string, Entry>>();
  for (const [rule, exs] of earlier ?? []) {
    const m = new Map<string, Entry>();
    for (const [name, e] of exs) {
      m.set(name, {
        fields: e.fields,
        values: e.values.map((v) => ({ values: v, note: "earlier" })),
      });
    }
    byRule.set(rule, m);
  }
  for (const p of report.proposals) {
    let m = byRule.get(p.rule);
    if (!m) byRule.set(p.rule, m = new Map());
    let e = m.get(p.exception.name);
    if (!e) m.set(p.exception.name, e = { fields: p.exception.fields, values: [] });
    for (const v of p.exception.values) {
      const cond = v.values.map(conditionValue);
      const key = JSON.stringify(cond);
      const same = e.values.find((x) => JSON.stringify(x.values) === key);
      const note = `${v.alerts} alert${v.alerts === 1 ? "" : "s"}`;
      if (same) same.note = note;
      else e.values.push({ values: cond, note });
    }
  }
  const lines = [
    "# Exceptions proposed by `saker tune` from the alert store,",
    `# ${what}.`,
    "# Each value lists the stored alerts it matched. Review before keeping: an exception",
    "# silences its rule for that program and object for good. Load this file after the rules it",
    "# tunes (it appends to them); `saker validate` checks it, and the agent reloads it when it",
    "# changes. Running `saker tune` again merges its new proposals into this file.",
  ];
  for (const [rule, exs] of byRule) {
    lines.push("", `- rule: ${yamlScalar(rule)}`, "  exceptions:");
    for (const [name, e] of exs) {
      lines.push(
        `    - name: ${name}`,
        `      fields: [${e.fields.join(", ")}]`,
        `      comps: [${e.fields.map(() => "=").join(", ")}]`,
        "      values:",
      );
      for (const v of e.values) {
        lines.push(`        - [${v.values.map(yamlScalar).join(", ")}] # ${v.note}`);
      }
    }
    lines.push("  override:", "    exceptions: append");
  }
  if (byRule.size === 0) lines.push("", "[]");
  return lines.join("\n") + "\n";
}
