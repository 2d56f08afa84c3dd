/**
 * What `saker run` prints instead of running when given Falco's informational flags: `-L` and
 * `-l RULE` (the rules, as a two-column table or as Falco's JSON description with json_output),
 * `--list [SOURCE]` (the fields, in Falco's text, Markdown or JSON layout), `-i` (the events left
 * out unless `-A`) and `--support` (versions, system, config and rules files as one JSON object,
 * for a bug report).
 *
 * @example
 * ```ts
 * import { describeRulesText } from "./run_info.ts";
 * console.log(describeRulesText([{ name: "r", desc: "what it catches" }]));
 * ```
 * @module
 */
import type { Expr, FieldLike } from "../rules/ast.ts";
import type { CompiledRule } from "../rules/compiler.ts";
import type { CompiledSequence } from "../rules/sequence_compiler.ts";
import type { LoadedRules } from "../rules/loader.ts";
import { setNames, setSize } from "../rules/evttypes.ts";
import { fieldClasses, type FieldDef } from "../rules/fields/mod.ts";
import { IGNORED_EVENTS } from "../events/syscalls.ts";
import { ENGINE_VERSION, SAKER_VERSION, versions } from "../version.ts";

/** Words of `text` wrapped to `width` columns, continuation lines indented by `indent`. */
export function wrapText(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + word.length + 1 > width - indent) {
      lines.push(line);
      line = "";
    }
    line += (line ? " " : "") + word;
  }
  if (line) lines.push(line);
  return lines.join("\n" + " ".repeat(indent));
}

/** `-L`: Falco's two-column table of rule names and descriptions. */
export function describeRulesText(rules: readonly { name: string; desc: string }[]): string {
  const row = (l: string, r: string) => `${l.padEnd(50)} ${r}`;
  const out = [row("Rule", "Description"), row("----", "-----------")];
  for (const r of rules) out.push(row(r.name, wrapText(r.desc, 51, 110)));
  return out.join("\n");
}

function fieldName(f: FieldLike, into: Set<string>): void {
  if (f.kind === "field") into.add(f.arg !== undefined ? `${f.name}[${f.arg}]` : f.name);
  else {
    for (const a of f.args) {
      if (a.kind === "field" || a.kind === "transformer") fieldName(a, into);
      else if (a.kind === "tlist") {
        for (const i of a.items) if (i.kind !== "value") fieldName(i, into);
      }
    }
  }
}

/** Fields and operators a condition uses. */
function conditionParts(e: Expr, fields: Set<string>, ops: Set<string>): void {
  switch (e.kind) {
    case "and":
    case "or":
      for (const c of e.children) conditionParts(c, fields, ops);
      return;
    case "not":
      conditionParts(e.child, fields, ops);
      return;
    case "unary":
      fieldName(e.left, fields);
      ops.add(e.op);
      return;
    case "binary":
      fieldName(e.left, fields);
      ops.add(e.op);
      if (e.right.kind === "field" || e.right.kind === "transformer") fieldName(e.right, fields);
      return;
    case "id":
      return;
  }
}

/** One rule as Falco's `-L` JSON describes it (`info` and the `details` Saker knows). */
export function describeRuleJson(
  r: CompiledRule,
  outputOf: (r: CompiledRule) => string = (x) => x.outputText,
): Record<string, unknown> {
  const fields = new Set<string>();
  const ops = new Set<string>();
  conditionParts(r.ast, fields, ops);
  const events = setSize(r.eventTypes) > 100 ? [] : setNames(r.eventTypes);
  return {
    info: {
      name: r.name,
      condition: r.conditionText,
      priority: r.priority,
      output: r.outputText,
      description: r.desc,
      enabled: r.enabled,
      source: r.source,
      capture: r.capture,
      capture_duration: r.captureDuration,
      tags: r.tags,
    },
    details: {
      condition_fields: [...fields].sort(),
      condition_operators: [...ops].sort(),
      output_fields: r.output.fields,
      exception_fields: r.exceptionFields,
      events,
      condition_compiled: r.conditionText,
      output_compiled: outputOf(r),
    },
  };
}

/**
 * A sequence or threshold rule in the shape of `-L` JSON (beside Falco's `rules`, under
 * `sequences`): its keys, window, steps (or condition and count) and each step's events.
 */
export function describeSequenceJson(
  q: CompiledSequence,
  outputOf: (r: CompiledSequence) => string = (x) => x.outputText,
): Record<string, unknown> {
  const events = (s: CompiledSequence["steps"][number]) =>
    setSize(s.eventTypes) > 100 ? [] : setNames(s.eventTypes);
  const what = q.kind === "threshold"
    ? {
      condition: q.steps[0].conditionText,
      count: q.count,
      distinct: q.distinctText ?? null,
    }
    : {
      steps: q.steps.map((s) => ({
        [s.negated ? "not" : "condition"]: s.conditionText,
        capture: Object.fromEntries(s.captures.map((c) => [c.name, c.operand.key])),
      })),
    };
  return {
    info: {
      name: q.name,
      kind: q.kind,
      priority: q.priority,
      output: q.outputText,
      description: q.desc,
      enabled: q.enabled,
      source: q.source,
      tags: q.tags,
      by: q.byText,
      within: q.within,
      ...what,
    },
    details: {
      output_fields: q.output.fields,
      events: q.steps.map(events),
      output_compiled: outputOf(q),
    },
  };
}

/**
 * `-L` / `-l RULE` with json_output: Falco's JSON description of the loaded rules; `outputOf`
 * gives a rule's output with the config's `append_output` additions (`output_compiled`).
 */
export function describeRulesJson(
  loaded: LoadedRules,
  rule?: string,
  outputOf?: (r: CompiledRule | CompiledSequence) => string,
): Record<string, unknown> {
  const rules = loaded.rules.filter((r) => rule === undefined || r.name === rule);
  const describe = (r: CompiledRule) => describeRuleJson(r, outputOf);
  const sequences = (loaded.sequences ?? [])
    .filter((q) => rule === undefined || q.name === rule)
    .map((q) => describeSequenceJson(q, outputOf));
  if (rule !== undefined) {
    return sequences.length ? { rules: rules.map(describe), sequences } : {
      rules: rules.map(describe),
    };
  }
  return {
    required_engine_version: loaded.requiredEngineVersion ?? "0.0.0",
    required_plugin_versions: loaded.requiredPlugins.map((alts) => ({
      name: alts[0].name,
      version: alts[0].version,
      alternatives: alts.slice(1),
    })),
    rules: rules.map(describe),
    sequences,
    macros: loaded.macros.map((m) => ({ info: { name: m.name, condition: m.condition } })),
    lists: loaded.lists.map((l) => ({ info: { name: l.name, items: l.items } })),
  };
}

/** Event sources fields exist for. */
export function fieldSources(): string[] {
  const s = new Set(["syscall"]);
  for (const c of fieldClasses()) if (c.source && c.source !== "*") s.add(c.source);
  return [...s];
}

function argJson(f: FieldDef): unknown {
  if (!f.arg || f.arg === "none") return null;
  return { required: f.arg === "required", type: [f.numericArg ? "INDEX" : "KEY"] };
}

/**
 * `--list [SOURCE]`: the fields in Falco's layout (text, Markdown or JSON), every source when
 * `source` is "". Throws for an unknown source.
 */
export function listFields(
  source: string,
  format: "text" | "markdown" | "json",
  namesOnly: boolean,
): string {
  const sources = fieldSources();
  if (source !== "" && !sources.includes(source)) {
    throw new Error(
      `value for --list must be a valid source type (${sources.join(", ")}), got '${source}'`,
    );
  }
  const classes = fieldClasses()
    .map((c) => {
      const src = c.source === "*" ? sources : [c.source ?? "syscall"];
      return { ...c, sources: src, fields: c.fields.filter((f) => !f.deprecated) };
    })
    .filter((c) => c.fields.length > 0 && (source === "" || c.sources.includes(source)));
  if (namesOnly) {
    const names = classes.flatMap((c) => c.fields.map((f) => f.name));
    return format === "json" ? JSON.stringify({ fieldnames: names }, null, 2) : names.join("\n");
  }
  const type = (f: FieldDef) => {
    const t = f.type.toUpperCase();
    return f.list ? `LIST(${t})` : t;
  };
  if (format === "json") {
    return JSON.stringify(
      {
        fieldclasses: classes.map((c) => ({
          name: c.name,
          desc: c.desc,
          event_sources: c.sources,
          fields: c.fields.map((f) => ({
            name: f.name,
            type: f.type.toUpperCase(),
            desc: f.desc,
            is_list: f.list === true,
            argument: argJson(f),
          })),
        })),
      },
      null,
      2,
    );
  }
  const out: string[] = [];
  for (const c of classes) {
    if (format === "markdown") {
      out.push(
        `## Field Class: ${c.name}`,
        "",
        c.desc,
        "",
        `Event Sources: ${c.sources.join(" ")}`,
      );
      out.push("", "Name | Type | Description", ":----|:-----|:-----------");
      for (const f of c.fields) out.push(`\`${f.name}\` | ${type(f)} | ${f.desc}`);
      out.push("");
      continue;
    }
    out.push("-------------------------------");
    out.push(`${"Field Class:".padEnd(30)}${c.name}`);
    out.push(`${"Description:".padEnd(30)}${wrapText(c.desc, 30, 110)}`);
    out.push(`${"Event Sources:".padEnd(30)}${c.sources.join(" ")}`, "");
    for (const f of c.fields) {
      const name = f.name.length >= 30 ? `${f.name}\n${" ".repeat(30)}` : f.name.padEnd(30);
      out.push(`${name}${wrapText(f.desc, 30, 110)}`);
    }
    out.push("");
  }
  return out.join("\n");
}

/** `-i`: the events Falco (and Saker) leave out unless every event is asked for. */
export function ignoredEventsText(): string {
  return ["Ignored syscall(s):", ...IGNORED_EVENTS.map((n) => `- ${n}`), ""].join("\n");
}

/** Config keys whose values are secrets: a support dump shows that they are set, not what. */
const SECRET_KEYS = [["webserver", "auth_token"], ["http_output", "headers"]] as const;

function redact(config: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(config);
  for (const [section, key] of SECRET_KEYS) {
    const s = copy[section] as Record<string, unknown> | undefined;
    if (!s || s[key] === undefined || s[key] === "") continue;
    s[key] = typeof s[key] === "string"
      ? "<redacted>"
      : Object.fromEntries(Object.keys(s[key] as object).map((k) => [k, "<redacted>"]));
  }
  return copy;
}

/** A command line with the values of `-o` options setting secrets redacted. */
export function redactCommandLine(args: readonly string[]): string {
  const secret = (kv: string) =>
    SECRET_KEYS.some(([section, key]) => kv.startsWith(`${section}.${key}`));
  return args.map((a, i) => {
    if (args[i - 1] === "-o" && secret(a)) return `${a.split("=")[0]}=<redacted>`;
    if (a.startsWith("-o") && secret(a.slice(2))) return `-o${a.slice(2).split("=")[0]}=<redacted>`;
    return a;
  }).join(" ");
}

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return fallback;
  }
}

/**
 * `--support`: Falco's support object (system, version, engine, command line, the config in
 * effect, every rules file with its content); secrets (the API token, HTTP headers) are
 * redacted in the config and the command line.
 */
export function supportJson(
  config: Record<string, unknown>,
  cmdline: readonly string[],
  rulesFiles: ReadonlyMap<string, string>,
): Record<string, unknown> {
  return {
    system_info: {
      sysname: Deno.build.os === "linux" ? "Linux" : Deno.build.os,
      nodename: Deno.hostname(),
      release: Deno.osRelease(),
      version: readOr("/proc/sys/kernel/version", ""),
      machine: Deno.build.arch,
    },
    version: SAKER_VERSION,
    engine_info: { ...versions(), engine_version: ENGINE_VERSION },
    cmdline: redactCommandLine(cmdline),
    config: redact(config),
    rules_files: [...rulesFiles].map(([name, content]) => ({ name, variants: [{ content }] })),
  };
}
