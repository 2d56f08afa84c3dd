/**
 * The condition syntax tree. The parser builds it, macro expansion replaces identifiers with
 * macro bodies, the checker resolves fields and values, event-type inference and code generation
 * walk it.
 * @module
 */

/** Where a condition character was written in a rules file. */
export interface Origin {
  file: string;
  line: number;
  column: number;
  offset: number;
}

/**
 * A position in a condition string: character index, and line and column from 1; `origin` is
 * the spot in the rules file, set after parsing when it is known (macro bodies keep theirs).
 */
export interface Pos {
  idx: number;
  line: number;
  col: number;
  origin?: Origin;
}

/** A field reference: `proc.name`, `proc.aname[2]`, `evt.arg.fd`. */
export interface FieldExpr {
  kind: "field";
  name: string;
  arg: string | undefined;
  pos: Pos;
}

/** A constant value (string as written, quotes removed). */
export interface ValueExpr {
  kind: "value";
  value: string;
  pos: Pos;
}

/** A parenthesised list of constant values. */
export interface ListExpr {
  kind: "list";
  values: string[];
  pos: Pos;
}

/** A transformer applied to arguments: `tolower(proc.name)`, `val(fd.name)`. */
export interface TransformerExpr {
  kind: "transformer";
  name: string;
  args: (FieldLike | ValueExpr | TransformerListExpr)[];
  arg: string | undefined;
  pos: Pos;
}

/** A parenthesised list of transformer arguments: `join(",", (proc.name, proc.pname))`. */
export interface TransformerListExpr {
  kind: "tlist";
  items: (FieldLike | ValueExpr)[];
  pos: Pos;
}

/** What can appear on the left of a check. */
export type FieldLike = FieldExpr | TransformerExpr;

/**
 * Macros an expanded node came from, outermost first (set by macro expansion, so that
 * explanations can say which macro a failing check belongs to).
 */
export interface FromMacros {
  macros?: string[];
}

/** `field exists`. */
export interface UnaryCheck extends FromMacros {
  kind: "unary";
  left: FieldLike;
  op: "exists";
  pos: Pos;
}

/** `field OP value`, `field in (list)`, `field = val(other.field)`. */
export interface BinaryCheck extends FromMacros {
  kind: "binary";
  left: FieldLike;
  /** Operator, with a modifier when present (`startswith oneof`). */
  op: string;
  right: ValueExpr | ListExpr | FieldLike;
  pos: Pos;
}

/** A macro reference (before expansion). */
export interface IdentifierExpr {
  kind: "id";
  name: string;
  pos: Pos;
}

/** `a and b and ...`. */
export interface AndExpr extends FromMacros {
  kind: "and";
  children: Expr[];
  pos: Pos;
}

/** `a or b or ...`. */
export interface OrExpr extends FromMacros {
  kind: "or";
  children: Expr[];
  pos: Pos;
}

/** `not a`. */
export interface NotExpr extends FromMacros {
  kind: "not";
  child: Expr;
  pos: Pos;
}

/** A boolean expression. */
export type Expr = AndExpr | OrExpr | NotExpr | UnaryCheck | BinaryCheck | IdentifierExpr;

/** Every check operator (without modifiers). */
export const OPERATORS = [
  "exists",
  "<=",
  "<",
  ">=",
  ">",
  "==",
  "=",
  "!=",
  "glob",
  "iglob",
  "contains",
  "icontains",
  "bcontains",
  "startswith",
  "bstartswith",
  "endswith",
  "regex",
  "intersects",
  "in",
  "pmatch",
] as const;

/** Operators taking a list on the right. */
export const LIST_OPERATORS: readonly string[] = ["intersects", "in", "pmatch"];

/** String operators that accept the oneof/anyof/allof modifiers. */
export const MODIFIABLE_OPERATORS: readonly string[] = [
  "==",
  "=",
  "!=",
  "glob",
  "iglob",
  "contains",
  "icontains",
  "bcontains",
  "startswith",
  "bstartswith",
  "endswith",
  "regex",
];

/** Modifiers of string operators. */
export const MODIFIERS: readonly string[] = ["oneof", "anyof", "allof"];

/** Transformers (without `val`). */
export const TRANSFORMERS: readonly string[] = [
  "tolower",
  "toupper",
  "b64",
  "basename",
  "len",
  "join",
  "concat",
  "getopt",
];

/** True when `op` is a string operator followed by a modifier (`startswith oneof`). */
export function isOperatorWithModifier(op: string): boolean {
  const [base, mod, extra] = op.trim().split(/\s+/);
  return extra === undefined && mod !== undefined && MODIFIABLE_OPERATORS.includes(base) &&
    MODIFIERS.includes(mod);
}

/** A deep copy of an expression (macro bodies are copied into every place they are used). */
export function cloneExpr<T extends Expr>(e: T): T {
  // Plain data only (strings, numbers, arrays, objects); a direct copy is many times faster than
  // structuredClone, which matters when long macro chains are expanded.
  return clonePlain(e);
}

function clonePlain<T>(v: T): T {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(clonePlain) as T;
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = clonePlain((v as Record<string, unknown>)[k]);
  return out as T;
}

/** Calls `fn` for every node of the boolean structure (not descending into checks). */
export function walkExpr(e: Expr, fn: (e: Expr) => void): void {
  fn(e);
  if (e.kind === "and" || e.kind === "or") { for (const c of e.children) walkExpr(c, fn); }
  else if (e.kind === "not") walkExpr(e.child, fn);
}

/** Every field reference inside a field-like expression (transformer arguments included). */
export function fieldsOf(f: FieldLike | ValueExpr | ListExpr | TransformerListExpr): FieldExpr[] {
  switch (f.kind) {
    case "field":
      return [f];
    case "transformer":
      return f.args.flatMap(fieldsOf);
    case "tlist":
      return f.items.flatMap(fieldsOf);
    default:
      return [];
  }
}
