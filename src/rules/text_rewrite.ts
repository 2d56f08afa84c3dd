/**
 * The two textual rewrites Falco applies to a condition before parsing it: list names replaced by
 * their items at delimiter boundaries, and exceptions appended as `and not (...)`. Both work on
 * text (as Falco's do), keeping each character's origin for error positions.
 *
 * @example
 * ```ts
 * quoteItem("/tmp/a b"); // "\"/tmp/a b\"": an item with a blank is quoted when a list is substituted
 * ```
 * @module
 */
import type { ExceptionInfo } from "./collector.ts";
import { isOperatorWithModifier, LIST_OPERATORS } from "./ast.ts";
import { LoadError } from "./result.ts";
import { MappedText } from "./source_text.ts";

/** Quotes an item holding a space, unless it is quoted already. */
export function quoteItem(e: string): string {
  if (e.includes(" ") && e[0] !== '"' && e[0] !== "'") return `"${e}"`;
  return e;
}

const BLANKS = " \t\n\r";
const DELIMS = BLANKS + "(),=";

/**
 * Replaces every occurrence of the list `name` standing between delimiters (blank, parenthesis,
 * comma, `=`, or the ends) with its items joined by ", ". Returns true when it replaced any.
 */
export function substituteList(cnd: MappedText, name: string, items: readonly string[]): boolean {
  let used = false;
  let start = cnd.text.indexOf(name);
  while (start >= 0) {
    const text = cnd.text;
    let end = start + name.length;
    if (
      (start === 0 || DELIMS.includes(text[start - 1])) &&
      (end >= text.length || DELIMS.includes(text[end]))
    ) {
      while (start > 0 && BLANKS.includes(text[start - 1])) start--;
      while (end < text.length && BLANKS.includes(text[end])) end++;
      const sub = items.map(quoteItem).join(", ");
      if (sub.length === 0) {
        if (start > 0 && text[start - 1] === ",") start--;
        else if (end < text.length && text[end] === ",") end++;
      }
      const replacement = (start > 0 ? " " : "") + sub + " ";
      cnd.splice(start, end, replacement);
      start += sub.length + 1;
      used = true;
    }
    start = cnd.text.indexOf(name, start + 1);
  }
  return used;
}

function isListOperator(op: string): boolean {
  return LIST_OPERATORS.includes(op) || isOperatorWithModifier(op);
}

/**
 * Appends the exceptions to a condition: `(cond) and not (e1) and not (e2) ...`. Returns the new
 * condition and the fields the exceptions use.
 */
export function applyExceptions(
  cond: MappedText,
  exceptions: readonly ExceptionInfo[],
): { cond: MappedText; fields: Set<string> } {
  const fields = new Set<string>();
  let out = MappedText.plain("(").concat(cond, ")");
  for (const ex of exceptions) {
    let icond = "";
    const f = ex.fields!;
    const comps = ex.comps!;
    if (!f.isList) {
      for (const val of ex.values) {
        if (val.isList) {
          throw new LoadError(
            "LOAD_ERR_VALIDATE",
            "Expected values array to contain a list of strings",
            ex.ctx,
          );
        }
        icond += icond === "" ? `(${f.item} ${comps.item} (` : ", ";
        fields.add(f.item);
        icond += quoteItem(val.item);
      }
      icond += icond === "" ? "" : "))";
    } else {
      icond = "(";
      for (const values of ex.values) {
        if (f.items.length !== values.items.length) {
          throw new LoadError(
            "LOAD_ERR_VALIDATE",
            "Fields and values lists must have equal length",
            ex.ctx,
          );
        }
        icond += icond === "(" ? "" : " or ";
        icond += "(";
        f.items.forEach((field, k) => {
          icond += k === 0 ? "" : " and ";
          const v = values.items[k];
          let istr: string;
          if (v.isList) {
            istr = "(" + v.items.map((x) => quoteItem(x.item)).join(", ") + ")";
          } else {
            istr = v.item;
            if (isListOperator(comps.items[k].item)) {
              if (istr[0] !== "(") istr = `(${istr})`;
            } else istr = quoteItem(istr);
          }
          icond += ` ${field.item} ${comps.items[k].item} ${istr}`;
          fields.add(field.item);
        });
        icond += ")";
      }
      icond += ")";
      if (icond === "()") icond = "";
    }
    if (icond !== "") out = out.concat(" and not " + icond);
  }
  return { cond: out, fields };
}
