/**
 * Results of loading rules files: errors and warnings, each with a code (Falco's names, so that
 * tooling written for `falco -V` keeps working), a message and a context: the chain of items
 * the problem sits in (file → rule → condition → spot), with line and column.
 *
 * @example
 * ```ts
 * import { Context, LoadResult } from "./result.ts";
 * const res = new LoadResult("rules.yaml");
 * const ctx = Context.file("rules.yaml").child("rule", "my rule", 12, 2, 200);
 * res.error("LOAD_ERR_VALIDATE", "Undefined macro 'foo' used in filter.", ctx);
 * res.successful; // false
 * ```
 * @module
 */

/** Error codes, as Falco names them. */
export const ERROR_CODES = {
  LOAD_ERR_FILE_READ: "The file could not be read",
  LOAD_ERR_YAML_PARSE: "The content is not valid YAML",
  LOAD_ERR_YAML_VALIDATE: "The YAML has the wrong shape (missing key, wrong value type, ...)",
  LOAD_ERR_COMPILE_CONDITION: "A condition could not be compiled",
  LOAD_ERR_COMPILE_OUTPUT: "An output string could not be compiled",
  LOAD_ERR_VALIDATE: "A rule, macro, list or exception is inconsistent",
  LOAD_ERR_EXTENSION: "An extension item is invalid",
} as const;

/** Warning codes, as Falco names them. */
export const WARNING_CODES = {
  LOAD_UNKNOWN_SOURCE: "The rule's event source is not loaded; the rule is skipped",
  LOAD_UNSAFE_NA_CHECK: "A condition compares a field with <NA>; use 'exists' instead",
  LOAD_NO_EVTTYPE: "The condition does not restrict event types; it runs on every event",
  LOAD_UNKNOWN_FILTER: "Unknown field or event type; the rule is skipped",
  LOAD_UNUSED_MACRO: "A macro no rule or macro uses",
  LOAD_UNUSED_LIST: "A list no rule, macro or list uses",
  LOAD_UNKNOWN_ITEM: "An unknown top-level item; it is ignored",
  LOAD_DEPRECATED_ITEM: "A deprecated construct",
  LOAD_WARNING_EXTENSION: "A warning in an extension item",
  LOAD_APPEND_NO_VALUES: "An exception appended or overridden without values",
  LOAD_EXCEPTION_NAME_NOT_UNIQUE: "Two exceptions of one rule share a name",
  LOAD_INVALID_MACRO_NAME: "A macro name that conditions cannot refer to",
  LOAD_INVALID_LIST_NAME: "A list name that conditions cannot refer to",
  LOAD_COMPILE_CONDITION: "A condition compiled with a warning",
  LOAD_UNKNOWN_KEY: "An unknown key in an item; it is ignored",
} as const;

/**
 * Note codes: facts worth telling about a file that loads fine (Saker's own). A note never
 * changes the verdict and is shown by `saker validate` only.
 */
export const NOTE_CODES = {
  LOAD_SAKER_EXTENSION: "A key or item of Saker's rules language that Falco does not have",
} as const;

/** An error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
/** A warning code. */
export type WarningCode = keyof typeof WARNING_CODES;
/** A note code. */
export type NoteCode = keyof typeof NOTE_CODES;

/** Kinds of items a location can name (Falco's wording, used in JSON output). */
export type ItemType =
  | "value for"
  | "exceptions"
  | "exception"
  | "exception values"
  | "exception value"
  | "rules content"
  | "rules content item"
  | "required_engine_version"
  | "required plugin versions"
  | "required plugin versions entry"
  | "required plugin versions alternative"
  | "list"
  | "list item"
  | "macro"
  | "macro condition"
  | "rule"
  | "rule condition"
  | "condition expression"
  | "rule output"
  | "rule output expression"
  | "rule priority"
  | "overrides"
  | "extension item"
  | "sequence"
  | "threshold"
  | "sequence step"
  | "step condition"
  | "step capture";

/** One step of a context: an item and where it is. Lines and columns count from 1. */
export interface Location {
  itemType: ItemType;
  itemName: string;
  /** File name the position refers to. */
  file: string;
  line: number;
  column: number;
  /** Character offset in the file. */
  offset: number;
}

/**
 * Where a message applies: a chain of locations from the file down to the spot. `text` and
 * `textOffset` optionally name a string (a condition built from several items) and a position in
 * it, used for the snippet when the spot cannot be mapped back into the file.
 */
export class Context {
  readonly locations: readonly Location[];
  readonly text: string | undefined;
  readonly textOffset: number;

  constructor(locations: readonly Location[], text?: string, textOffset = 0) {
    this.locations = locations;
    this.text = text;
    this.textOffset = textOffset;
  }

  /** The root context of a file. */
  static file(file: string): Context {
    return new Context([{
      itemType: "rules content",
      itemName: "",
      file,
      line: 1,
      column: 1,
      offset: 0,
    }]);
  }

  /** The file name of the root location. */
  get file(): string {
    return this.locations[0]?.file ?? "";
  }

  /** The innermost location. */
  get last(): Location {
    return this.locations[this.locations.length - 1];
  }

  /** A context one level deeper. */
  child(
    itemType: ItemType,
    itemName: string,
    line: number,
    column: number,
    offset: number,
    file = this.last.file,
  ): Context {
    return new Context(
      [...this.locations, { itemType, itemName, file, line, column, offset }],
      this.text,
      this.textOffset,
    );
  }

  /** The same context with a text (and offset) for the snippet. */
  withText(text: string, offset: number): Context {
    return new Context(this.locations, text, offset);
  }

  /** The first location naming an item of this type, if any. */
  find(itemType: ItemType): Location | undefined {
    return this.locations.find((l) => l.itemType === itemType);
  }
}

/** An error or warning. */
export interface LoadMessage {
  code: ErrorCode | WarningCode | NoteCode;
  message: string;
  context: Context;
}

/** The outcome of loading one rules file. */
export class LoadResult {
  /** File name. */
  readonly name: string;
  readonly errors: LoadMessage[] = [];
  readonly warnings: LoadMessage[] = [];
  /** Notes (Saker's extensions used ...): shown by validation, never a warning. */
  readonly notes: LoadMessage[] = [];

  constructor(name: string) {
    this.name = name;
  }

  /** True when there is no error. */
  get successful(): boolean {
    return this.errors.length === 0;
  }

  /** Records an error. */
  error(code: ErrorCode, message: string, context: Context): void {
    this.errors.push({ code, message, context });
  }

  /** Records a warning. */
  warning(code: WarningCode, message: string, context: Context): void {
    this.warnings.push({ code, message, context });
  }

  /** Records a note. */
  note(code: NoteCode, message: string, context: Context): void {
    this.notes.push({ code, message, context });
  }
}

/** An error carrying its code and context, thrown inside the loader and caught per item. */
export class LoadError extends Error {
  readonly code: ErrorCode;
  readonly context: Context;

  constructor(code: ErrorCode, message: string, context: Context) {
    super(message);
    this.code = code;
    this.context = context;
  }
}

/** File contents by name, for snippets. */
export type Contents = ReadonlyMap<string, string>;

/**
 * A snippet: the line holding the spot (cut to `width` characters around it) and a caret line
 * under the spot.
 */
export function snippet(ctx: Context, contents: Contents, width = 160): string {
  const loc = ctx.last;
  let src = contents.get(loc.file);
  let pos = loc.offset;
  if (ctx.text !== undefined && (src === undefined || loc.itemType === "condition expression")) {
    if (src === undefined || loc.offset < 0) {
      src = ctx.text;
      pos = ctx.textOffset;
    }
  }
  if (src === undefined || src.length === 0) return "<no context available>\n";
  pos = Math.max(0, Math.min(pos, src.length - 1));
  while (pos > 0 && src[pos] === "\n") pos--;
  let from = pos;
  while (from > 0 && src[from - 1] !== "\n" && pos - from < width / 2) from--;
  let to = pos;
  while (to < src.length - 1 && src[to + 1] !== "\n" && to - pos < width / 2) to++;
  let line = src.slice(from, to + 1);
  let caret = pos - from;
  if (from > 0 && src[from - 1] !== "\n") {
    line = "..." + line.slice(3);
  }
  if (to < src.length - 1 && src[to + 1] !== "\n") line = line.slice(0, -3) + "...";
  line = line.replace(/\t/g, " ");
  if (caret > line.length) caret = line.length;
  return `${line}\n${" ".repeat(caret)}^\n`;
}

function locationText(l: Location): string {
  const name = l.itemName ? ` '${l.itemName}'` : "";
  return `${l.itemType}${name} (${l.file}:${l.line}:${l.column})`;
}

/** One message as text: where, snippet, code and message. */
export function formatMessage(m: LoadMessage, contents: Contents): string {
  const kind = m.code in ERROR_CODES ? "error" : m.code in NOTE_CODES ? "note" : "warning";
  const last = m.context.last;
  const lines = [`${last.file}:${last.line}:${last.column}: ${kind} ${m.code}: ${m.message}`];
  const chain = m.context.locations.slice(1).map(locationText);
  if (chain.length > 0) lines.push(`  in ${chain.join(" > ")}`);
  for (const l of snippet(m.context, contents).trimEnd().split("\n")) lines.push(`  | ${l}`);
  return lines.join("\n");
}

/** `FILE: Ok`, `FILE: Ok, with warnings` or `FILE: Invalid`. */
export function summaryLine(r: LoadResult): string {
  if (!r.successful) return `${r.name}: Invalid`;
  return r.warnings.length > 0 ? `${r.name}: Ok, with warnings` : `${r.name}: Ok`;
}

/** A result as text: the summary line, then every error, warning and note with its snippet. */
export function formatResult(r: LoadResult, contents: Contents): string {
  const parts = [summaryLine(r)];
  for (const m of r.errors) parts.push(formatMessage(m, contents));
  for (const m of r.warnings) parts.push(formatMessage(m, contents));
  for (const m of r.notes) parts.push(formatMessage(m, contents));
  return parts.join("\n");
}

/** JSON shape of a message (the same keys as Falco's validation output). */
export interface MessageJson {
  code: string;
  codedesc: string;
  message: string;
  context: {
    locations: {
      item_type: string;
      item_name: string;
      position: { name: string; line: number; column: number; offset: number };
    }[];
    snippet: string;
  };
}

/** A message as JSON. */
export function messageJson(m: LoadMessage, contents: Contents): MessageJson {
  const desc = (ERROR_CODES as Record<string, string>)[m.code] ??
    (WARNING_CODES as Record<string, string>)[m.code] ??
    (NOTE_CODES as Record<string, string>)[m.code] ?? "";
  return {
    code: m.code,
    codedesc: desc,
    message: m.message,
    context: {
      locations: m.context.locations.map((l) => ({
        item_type: l.itemType,
        item_name: l.itemName,
        position: { name: l.file, line: l.line, column: l.column, offset: l.offset },
      })),
      snippet: snippet(m.context, contents),
    },
  };
}

/**
 * A result as JSON (Falco's `falco_load_results` entry shape; `notes` only when the file has
 * some, so a plain Falco file gives Falco's shape exactly).
 */
export function resultJson(r: LoadResult, contents: Contents): {
  name: string;
  successful: boolean;
  errors: MessageJson[];
  warnings: MessageJson[];
  notes?: MessageJson[];
} {
  const out: ReturnType<typeof resultJson> = {
    name: r.name,
    successful: r.successful,
    errors: r.errors.map((m) => messageJson(m, contents)),
    warnings: r.warnings.map((m) => messageJson(m, contents)),
  };
  if (r.notes.length > 0) out.notes = r.notes.map((m) => messageJson(m, contents));
  return out;
}
