/**
 * YAML parsing that stops at the first error. The YAML library goes on after an error and makes
 * an error object for each further problem (several microseconds each): a hostile file of a few
 * hundred kilobytes holds hundreds of thousands of them and took seconds to parse, a few
 * megabytes took minutes. Rules files and config files report their first YAML error only, so
 * parsing ends there.
 *
 * @example
 * ```ts
 * import { parseYamlDocuments } from "./yaml.ts";
 * const { docs, error } = parseYamlDocuments("a: [1, 2", { schema: "failsafe" });
 * error?.code; // "MISSING_CHAR" (and docs is empty)
 * ```
 * @module
 */
import { Composer, type Document, type DocumentOptions, LineCounter, Parser } from "yaml";
import type { ParseOptions, SchemaOptions } from "yaml";

/** Options of {@link parseYamlDocuments}: the library's, and a line counter to fill. */
export type YamlOptions = ParseOptions & DocumentOptions & SchemaOptions & {
  lineCounter?: LineCounter;
};

/** The first problem of a YAML text: where (a character offset) and what. */
export interface YamlProblem {
  offset: number;
  message: string;
}

/** The composer's error hook (an instance field of the library's Composer, version-pinned). */
interface ComposerHooks {
  onError: (source: unknown, code: string, message: string, warning?: boolean) => void;
  errors: { pos: [number, number]; message: string }[];
}

const STOP = Symbol("first YAML error");

/**
 * The documents of a YAML text, or the first error (with the documents complete before it).
 * Warnings do not stop the parse. Nesting deeper than the parser's stack is an error at the
 * most deeply nested spot.
 */
export function parseYamlDocuments(
  text: string,
  options: YamlOptions = {},
): { docs: Document.Parsed[]; error?: YamlProblem } {
  const parser = new Parser(options.lineCounter?.addNewLine);
  const composer = new Composer(options);
  const hooks = composer as unknown as ComposerHooks;
  const report = hooks.onError;
  hooks.onError = (source, code, message, warning) => {
    report(source, code, message, warning);
    if (!warning) throw STOP;
  };
  const docs: Document.Parsed[] = [];
  const problem = (e: { pos: [number, number]; message: string }) => ({
    offset: e.pos[0],
    message: e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, ""),
  });
  try {
    for (const doc of composer.compose(parser.parse(text))) {
      if (doc.errors.length > 0) return { docs, error: problem(doc.errors[0]) };
      docs.push(doc);
    }
  } catch (err) {
    if (err instanceof RangeError) {
      // The parser recurses once per nesting level and runs out of stack on deep nesting.
      return {
        docs,
        error: { offset: deepestOffset(text), message: "nested too deeply to parse" },
      };
    }
    if (err !== STOP) throw err;
    return { docs, error: problem(hooks.errors[0]) };
  }
  return { docs };
}

/**
 * Offset of the most deeply nested spot of a YAML text, roughly: per line, indentation plus
 * block sequence dashes and open flow brackets. Only used to point at the place a parser could
 * not descend into.
 */
export function deepestOffset(text: string): number {
  let best = 0, bestDepth = -1, flow = 0, lineStart = 0;
  while (lineStart <= text.length) {
    let end = text.indexOf("\n", lineStart);
    if (end < 0) end = text.length;
    let i = lineStart;
    let depth = flow;
    while (i < end && (text[i] === " " || text[i] === "-" || text[i] === "\t")) {
      if (text[i] === "-") depth++;
      depth++;
      i++;
    }
    for (let j = i; j < end; j++) {
      const ch = text[j];
      if (ch === "[" || ch === "{") flow++;
      else if ((ch === "]" || ch === "}") && flow > 0) flow--;
      if (flow + (i - lineStart) > depth) depth = flow + (i - lineStart);
    }
    if (depth > bestDepth) {
      bestDepth = depth;
      best = i;
    }
    lineStart = end + 1;
  }
  return best;
}
