/**
 * Problems in rule test files, each with the spot it was written at (`file:line:column`), printed
 * as `saker validate` prints rules errors: the position, the message, the line and a caret.
 *
 * @example
 * ```ts
 * import { formatProblem, TestFileError } from "./problem.ts";
 * const err = new TestFileError("unknown key 'expct'", { file: "t.yaml", line: 2, col: 5 });
 * formatProblem(err, "tests:\n  - expct: none\n");
 * // t.yaml:2:5: error: unknown key 'expct'
 * //   |   - expct: none
 * //   |     ^
 * ```
 * @module
 */

/** Where something was written: file, line and column from 1. */
export interface Where {
  file: string;
  line: number;
  col: number;
}

/** A problem with a test file (bad key, unknown field, missing rules file ...). */
export class TestFileError extends Error {
  constructor(message: string, readonly at?: Where) {
    super(message);
  }
}

/** `file:line:column` of a spot. */
export function whereText(at: Where | undefined): string {
  return at ? `${at.file}:${at.line}:${at.col}` : "";
}

/** A problem as lines of text: position and message, then the line with a caret under it. */
export function formatProblem(err: TestFileError, text?: string): string {
  const at = err.at;
  const head = at ? `${whereText(at)}: error: ${err.message}` : `error: ${err.message}`;
  if (!at || text === undefined) return head;
  const line = text.split("\n")[at.line - 1];
  if (line === undefined) return head;
  return `${head}\n  | ${line.replace(/\t/g, " ")}\n  | ${" ".repeat(Math.max(0, at.col - 1))}^`;
}
