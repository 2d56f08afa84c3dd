/**
 * What Falco's `append_output` adds to rule outputs, applied when a ruleset is built (as Falco
 * applies it when rules compile), so that an alert costs nothing more than its own output:
 *
 * - `extra_output` (a format with %fields) is appended to the output of every matching rule, and
 *   its fields join `output_fields`;
 * - `suggested_output` appends the suggested fields of the rule's source (the container and
 *   Kubernetes fields Falco's container plugin suggests, then the config's static fields) as
 *   `container_id=%container.id ... static_env=%static.env`; unlike Falco, a field the output
 *   already names is not appended a second time;
 * - `extra_fields` add `output_fields` entries without touching the text: a field name gives its
 *   typed value, `{name: format}` the formatted text.
 *
 * An entry applies to a rule when its `match` does: the same source, every tag listed, the same
 * rule name (each when given). Entries apply in order.
 *
 * @example
 * ```ts
 * import { additionsFor } from "./output_additions.ts";
 * const a = additionsFor(
 *   { name: "r", source: "syscall", tags: ["shell"], outputText: "shell %proc.name" },
 *   [{ suggested: true }, { format: "on CPU %evt.cpu", match: { tags: ["shell"] } }],
 * );
 * a.outputText; // "shell %proc.name container_id=%container.id ... on CPU %evt.cpu"
 * ```
 * @module
 */
import { compileOutput, type OutputFormat } from "./output_format.ts";
import { suggestedFields } from "./fields/core.ts";
import { staticFieldNames } from "./fields/static.ts";

/** One `append_output` entry. */
export interface OutputAddition {
  match?: { source?: string; tags?: readonly string[]; rule?: string };
  /** Appended to the output (`extra_output`). */
  format?: string;
  /** Append the source's suggested fields (`suggested_output`). */
  suggested?: boolean;
  /** `extra_fields`: a field name (raw, typed) or a name with a format (formatted text). */
  fields?: ReadonlyArray<{ name: string; format: string; raw: boolean }>;
}

/** The rule facts an addition matches on. */
export interface AdditionTarget {
  name: string;
  source: string;
  tags: readonly string[];
  outputText: string;
}

/** An `extra_fields` entry compiled for one source. */
export interface ExtraField {
  name: string;
  format: OutputFormat;
  /** The field's typed value (a field name) rather than formatted text. */
  raw: boolean;
}

/** Whether an addition applies to a rule. */
export function additionMatches(a: OutputAddition, r: AdditionTarget): boolean {
  const m = a.match;
  if (!m) return true;
  if (m.source !== undefined && m.source !== "" && m.source !== r.source) return false;
  if (m.rule !== undefined && m.rule !== "" && m.rule !== r.name) return false;
  return (m.tags ?? []).every((t) => r.tags.includes(t));
}

/** The `%field` format of a suggested field: `container_id=%container.id`. */
export function suggestedFormat(field: string): string {
  return `${field.replaceAll(".", "_")}=%${field}`;
}

/** The `%field` tokens of an output text. */
const named = (text: string) => new Set(text.match(/%[\w.]+/g) ?? []);

/**
 * The output text of a rule with the additions that match it, and the extra fields it gets (not
 * compiled: see {@link compileExtraFields}).
 */
export function additionsFor(
  r: AdditionTarget,
  additions: readonly OutputAddition[],
): { outputText: string; fields: { name: string; format: string; raw: boolean }[] } {
  let text = r.outputText;
  const fields: { name: string; format: string; raw: boolean }[] = [];
  for (const a of additions) {
    if (!additionMatches(a, r)) continue;
    if (a.format) text += ` ${a.format}`;
    if (a.suggested) {
      const present = named(text);
      for (const f of [...suggestedFields(r.source).map((d) => d.name), ...staticFieldNames()]) {
        if (!present.has(`%${f}`)) text += ` ${suggestedFormat(f)}`;
      }
    }
    for (const f of a.fields ?? []) {
      const at = fields.findIndex((x) => x.name === f.name);
      if (at >= 0) fields.splice(at, 1);
      fields.push({ ...f });
    }
  }
  return { outputText: text, fields };
}

/** Compiles extra fields for rules of `source`; throws OutputError for an unknown field. */
export function compileExtraFields(
  fields: readonly { name: string; format: string; raw: boolean }[],
  source: string,
): ExtraField[] {
  return fields.map((f) => ({ name: f.name, format: compileOutput(f.format, source), raw: f.raw }));
}

/**
 * The additions that apply to rules of `source`, each checked by compiling its formats for that
 * source. An entry for another source is left out; an entry naming no source applies to the
 * other sources only where its fields exist (the extra fields of system call events mean nothing
 * to an audit event); any other entry that does not compile is a problem, by index.
 */
export function additionsForSource(
  additions: readonly OutputAddition[],
  source: string,
): { usable: OutputAddition[]; problems: { index: number; message: string }[] } {
  const usable: OutputAddition[] = [];
  const problems: { index: number; message: string }[] = [];
  additions.forEach((a, index) => {
    if (a.match?.source && a.match.source !== source) return;
    try {
      if (a.format) compileOutput(a.format, source);
      for (const f of a.fields ?? []) compileOutput(f.format, source);
      usable.push(a);
    } catch (err) {
      if (source !== "syscall" && !a.match?.source) return;
      problems.push({ index, message: (err as Error).message });
    }
  });
  return { usable, problems };
}
