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
import type { ParseOptions, SchemaOptions, YAMLParseError } from "yaml";

/** Options of {@link parseYamlDocuments}: the library's, and a line counter to fill. */
export type YamlOptions = ParseOptions & DocumentOptions & SchemaOptions & {
  lineCounter?: LineCounter;
};

/** The composer's error hook (an instance field of the library's Composer, version-pinned). */
interface ComposerHooks {
  onError: (source: unknown, code: string, message: string, warning?: boolean) => void;
  errors: YAMLParseError[];
}

const STOP = Symbol("first YAML error");

/**
 * The documents of a YAML text, or the first error (with the documents complete before it).
 * Warnings do not stop the parse.
 */
export function parseYamlDocuments(
  text: string,
  options: YamlOptions = {},
): { docs: Document.Parsed[]; error?: YAMLParseError } {
  const parser = new Parser(options.lineCounter?.addNewLine);
  const composer = new Composer(options);
  const hooks = composer as unknown as ComposerHooks;
  const report = hooks.onError;
  hooks.onError = (source, code, message, warning) => {
    report(source, code, message, warning);
    if (!warning) throw STOP;
  };
  const docs: Document.Parsed[] = [];
  try {
    for (const doc of composer.compose(parser.parse(text))) {
      if (doc.errors.length > 0) return { docs, error: doc.errors[0] };
      docs.push(doc);
    }
  } catch (err) {
    if (err !== STOP) throw err;
    return { docs, error: hooks.errors[0] };
  }
  return { docs };
}
