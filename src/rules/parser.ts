/**
 * Parser of Falco's condition language: a scannerless recursive-descent parser with the same
 * grammar, precedence (`or` < `and` < `not`), tokens and error messages as libsinsp's, so that
 * rules behave and fail the same way.
 *
 * @example
 * ```ts
 * import { parseCondition } from "./parser.ts";
 * const ast = parseCondition("evt.type = open and not proc.name in (cat, ls)");
 * ast.kind; // "and"
 * ```
 * @module
 */
import type {
  BinaryCheck,
  Expr,
  FieldExpr,
  FieldLike,
  ListExpr,
  Pos,
  TransformerExpr,
  TransformerListExpr,
  ValueExpr,
} from "./ast.ts";

/** A syntax error, with the position where parsing stopped. */
export class ParseError extends Error {
  readonly pos: Pos;
  constructor(message: string, pos: Pos) {
    super(message);
    this.pos = pos;
  }
}

const RX_NOT_BLANK = /not[ \t\n\r\f\v]+/y;
// Falco writes these as [a-zA-Z]+[a-zA-Z0-9_]*; the same names, written so that a long name that
// does not match fails in linear time (two quantifiers over the same letters backtrack in
// quadratic time: a 64 KB name took seconds).
const RX_IDENTIFIER = /[a-zA-Z][a-zA-Z0-9_]*/y;
const RX_FIELD_NAME = /[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)+/y;
const RX_FIELD_ARG_BARE = /[^\][\"' \t\n\r\f\v]+/y;
const RX_HEX = /0[xX][0-9a-fA-F]+/y;
const RX_NUMBER = /[+\-]?[0-9]+\.?[0-9]*([eE][+\-][0-9]+)?/y;
const RX_BARE_STR = /[^()"' \t\n\r\f\v=,]+/y;

const UNARY_OPS = ["exists"];
const NUM_OPS = ["<=", "<", ">=", ">"];
// A trailing space marks operators that must be followed by a blank.
const STR_OPS = [
  "==",
  "=",
  "!=",
  "glob ",
  "iglob ",
  "contains ",
  "icontains ",
  "bcontains ",
  "startswith ",
  "bstartswith ",
  "endswith ",
  "regex ",
];
const MODIFIER_OPS = ["oneof ", "anyof ", "allof "];
const LIST_OPS = ["intersects", "in", "pmatch"];
const TRANSFORMER_OPENERS = [
  "tolower(",
  "toupper(",
  "b64(",
  "basename(",
  "len(",
  "join(",
  "concat(",
  "getopt(",
];

function quoteList(vals: readonly string[]): string {
  return vals.map((v) => `'${v.trim()}'`).join(", ");
}

const ALL_OPERATORS = [...UNARY_OPS, ...NUM_OPS, ...STR_OPS, ...LIST_OPS];
const TRANSFORMERS_WITH_VAL = ["val", ...TRANSFORMER_OPENERS.map((t) => t.slice(0, -1))];

/**
 * Removes the quotes of a quoted string and resolves its escapes (\\b \\f \\n \\r \\t \\\\ \\/
 * \\" \\' \\xHH; a quote escape must match the quote kind).
 */
export function unescapeQuoted(s: string): string {
  let out = "";
  const end = s.length - 1;
  for (let i = 1; i < end; i++) {
    const c = s[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = s[++i];
    switch (n) {
      case "b":
        out += "\b";
        break;
      case "f":
        out += "\f";
        break;
      case "n":
        out += "\n";
        break;
      case "r":
        out += "\r";
        break;
      case "t":
        out += "\t";
        break;
      case " ":
      case "\\":
        out += "\\";
        break;
      case "/":
        out += "/";
        break;
      case '"':
        if (s[0] !== '"') throw new Error(`invalid \\" escape in '-quoted string`);
        out += '"';
        break;
      case "'":
        if (s[0] !== "'") throw new Error(`invalid \\' escape in "-quoted string`);
        out += "'";
        break;
      case "x": {
        if (i + 2 >= end) throw new Error("truncated hex char escape sequence");
        const hex = s.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
          throw new Error(`invalid hex char escape sequence: ${hex}`);
        }
        out += String.fromCharCode(parseInt(hex, 16));
        i += 2;
        break;
      }
      default:
        throw new Error(`unsupported string escape sequence: \\${n}`);
    }
  }
  return out;
}

class Parser {
  readonly input: string;
  idx = 0;
  line = 1;
  col = 1;
  last = "";
  depth = 0;
  readonly maxDepth: number;

  constructor(input: string, maxDepth: number) {
    this.input = input;
    this.maxDepth = maxDepth;
  }

  pos(): Pos {
    return { idx: this.idx, line: this.line, col: this.col };
  }

  fail(msg: string): never {
    throw new ParseError(msg, this.pos());
  }

  enter(): void {
    if (++this.depth >= this.maxDepth) this.fail(`exceeded max depth limit of ${this.maxDepth}`);
  }

  advance(n: number): void {
    for (let i = 0; i < n; i++) {
      const c = this.input[this.idx++];
      this.col++;
      if (c === "\r" || c === "\n") {
        this.col = 1;
        this.line++;
      }
    }
  }

  save(): [number, number, number, string] {
    return [this.idx, this.line, this.col, this.last];
  }

  restore(s: [number, number, number, string]): void {
    [this.idx, this.line, this.col, this.last] = s;
  }

  blank(): boolean {
    let found = false;
    for (;;) {
      const c = this.input[this.idx];
      if (c === " " || c === "\t" || c === "\b" || c === "\r" || c === "\n") {
        found = true;
        this.advance(1);
      } else return found;
    }
  }

  str(s: string): boolean {
    if (this.input.startsWith(s, this.idx)) {
      this.last = s;
      this.advance(s.length);
      return true;
    }
    return false;
  }

  rx(re: RegExp): boolean {
    re.lastIndex = this.idx;
    const m = re.exec(this.input);
    if (!m || m[0].length === 0) return false;
    this.last = m[0];
    this.advance(m[0].length);
    return true;
  }

  strList(list: readonly string[]): boolean {
    return list.some((s) => this.str(s));
  }

  opList(list: readonly string[]): boolean {
    for (const op of list) {
      if (!op.endsWith(" ")) {
        if (this.str(op)) return true;
        continue;
      }
      const saved = this.save();
      if (this.str(op.trimEnd())) {
        if (this.blank()) return true;
        this.restore(saved);
      }
    }
    return false;
  }

  quoted(): boolean {
    const q = this.input[this.idx];
    if (q !== "'" && q !== '"') return false;
    let prev = "\\";
    for (let i = this.idx; i < this.input.length; i++) {
      const c = this.input[i];
      if (c === q && prev !== "\\") {
        const raw = this.input.slice(this.idx, i + 1);
        this.advance(raw.length);
        try {
          this.last = unescapeQuoted(raw);
        } catch (e) {
          this.fail((e as Error).message);
        }
        return true;
      }
      prev = c;
    }
    return false;
  }

  parse(): Expr {
    if (this.input.length === 0) this.fail("filter input string is empty");
    const res = this.or();
    if (this.idx !== this.input.length) {
      this.fail(`unexpected token after '${this.last}', expecting 'or', 'and'`);
    }
    return res;
  }

  or(): Expr {
    this.enter();
    const pos = this.pos();
    this.blank();
    const children = [this.and()];
    this.blank();
    while (this.str("or")) {
      if (!this.blank()) {
        if (this.str("(")) children.push(this.embedded());
        else this.fail("expected blank or '(' after 'or'");
      } else children.push(this.and());
      this.blank();
    }
    this.depth--;
    return children.length > 1 ? { kind: "or", children, pos } : children[0];
  }

  and(): Expr {
    this.enter();
    const pos = this.pos();
    this.blank();
    const children = [this.not()];
    this.blank();
    while (this.str("and")) {
      if (!this.blank()) {
        if (this.str("(")) children.push(this.embedded());
        else this.fail("expected blank or '(' after 'and'");
      } else children.push(this.not());
      this.blank();
    }
    this.depth--;
    return children.length > 1 ? { kind: "and", children, pos } : children[0];
  }

  not(): Expr {
    this.enter();
    const pos = this.pos();
    let negate = false;
    this.blank();
    while (this.rx(RX_NOT_BLANK)) negate = !negate;
    let child: Expr;
    if (this.str("not(")) {
      negate = !negate;
      child = this.embedded();
    } else child = this.check();
    this.depth--;
    return negate ? { kind: "not", child, pos } : child;
  }

  embedded(): Expr {
    this.enter();
    this.blank();
    const child = this.or();
    this.blank();
    if (!this.str(")")) this.fail("expected a ')' token");
    this.depth--;
    return child;
  }

  check(): Expr {
    this.enter();
    const pos = this.pos();
    this.blank();
    let res: Expr;
    if (this.str("(")) res = this.embedded();
    else if (this.rx(RX_FIELD_NAME)) res = this.condition(this.fieldRest(this.last, pos), pos);
    else if (this.strList(TRANSFORMER_OPENERS)) {
      this.blank();
      const left = this.transformerRest(this.last.slice(0, -1), pos);
      res = this.condition(left, pos);
    } else if (this.rx(RX_IDENTIFIER)) res = { kind: "id", name: this.last, pos };
    else this.fail("expected a '(' token, a field check, or an identifier");
    this.depth--;
    return res;
  }

  fieldRest(name: string, pos: Pos): FieldExpr {
    return { kind: "field", name, arg: this.optionalArg(), pos };
  }

  optionalArg(): string | undefined {
    if (!this.str("[")) return undefined;
    if (!this.quoted() && !this.rx(RX_FIELD_ARG_BARE)) {
      this.fail("expected a valid field argument: a quoted string or a bare string");
    }
    const arg = this.last;
    if (!this.str("]")) this.fail("expected a ']' token");
    return arg;
  }

  transformerRest(name: string, pos: Pos): TransformerExpr {
    this.enter();
    this.blank();
    const args: TransformerExpr["args"] = [];
    do {
      args.push(this.transformerArg());
      this.blank();
    } while (this.str(","));
    this.blank();
    if (!this.str(")")) this.fail("expected a ')' token closing the transformer");
    this.depth--;
    return { kind: "transformer", name, args, arg: this.optionalArg(), pos };
  }

  transformerArg(): FieldLike | ValueExpr | TransformerListExpr {
    this.enter();
    this.blank();
    const pos = this.pos();
    let res: FieldLike | ValueExpr | TransformerListExpr;
    if (this.rx(RX_HEX) || this.rx(RX_NUMBER)) res = { kind: "value", value: this.last, pos };
    else if (this.quoted()) res = { kind: "value", value: this.last, pos };
    else if (this.str("(")) res = this.transformerList(pos);
    else if (this.strList(TRANSFORMER_OPENERS)) {
      res = this.transformerRest(this.last.slice(0, -1), pos);
    } else if (this.rx(RX_FIELD_NAME)) res = this.fieldRest(this.last, pos);
    else {
      this.fail(
        "expected field transformer argument: " +
          "field, transformer, quoted string, number, or transformer list",
      );
    }
    this.depth--;
    return res;
  }

  transformerList(pos: Pos): TransformerListExpr {
    const items: (FieldLike | ValueExpr)[] = [];
    this.blank();
    if (this.str(")")) return { kind: "tlist", items, pos };
    items.push(this.transformerListArg(pos));
    this.blank();
    while (this.str(",")) {
      this.blank();
      items.push(this.transformerListArg(pos));
      this.blank();
    }
    if (!this.str(")")) this.fail("expected ')'");
    return { kind: "tlist", items, pos };
  }

  transformerListArg(pos: Pos): FieldLike | ValueExpr {
    if (this.rx(RX_FIELD_NAME)) return this.fieldRest(this.last, pos);
    if (this.strList(TRANSFORMER_OPENERS)) {
      this.blank();
      return this.transformerRest(this.last.slice(0, -1), pos);
    }
    if (this.quoted()) return { kind: "value", value: this.last, pos };
    if (this.rx(RX_HEX) || this.rx(RX_NUMBER)) return { kind: "value", value: this.last, pos };
    this.fail(
      "expected transformer list argument: field, transformer, quoted string, or number",
    );
  }

  condition(left: FieldLike, pos: Pos): Expr {
    this.enter();
    this.blank();
    if (this.opList(UNARY_OPS)) {
      this.depth--;
      return { kind: "unary", left, op: "exists", pos };
    }
    let op: string;
    let right: BinaryCheck["right"];
    this.blank();
    if (this.opList(NUM_OPS)) {
      op = this.last;
      right = this.numValueOrTransformer();
    } else if (this.opList(STR_OPS)) {
      op = this.last;
      const hadBlank = /^[a-z]/.test(op) || this.blank();
      const saved = this.save();
      if (hadBlank && this.opList(MODIFIER_OPS) && this.listFollows() && !this.keywordFollows()) {
        op = `${op.trim()} ${this.last.trim()}`;
        right = this.listValue();
      } else {
        this.restore(saved);
        right = this.strValueOrTransformer(false);
      }
    } else if (this.opList(LIST_OPS)) {
      op = this.last;
      right = this.listValueOrTransformer();
    } else {
      this.fail(`expected a valid check operator: one of ${quoteList(ALL_OPERATORS)}`);
    }
    this.depth--;
    return { kind: "binary", left, op: op.trim(), right, pos };
  }

  listFollows(): boolean {
    if (this.input[this.idx] === "(") return true;
    const saved = this.save();
    const ok = this.rx(RX_IDENTIFIER);
    this.restore(saved);
    return ok;
  }

  keywordFollows(): boolean {
    for (const kw of ["and", "or", "not"]) {
      if (this.input.startsWith(kw, this.idx)) {
        const next = this.input[this.idx + kw.length];
        if (next === undefined || !/[a-zA-Z0-9]/.test(next)) return true;
      }
    }
    return false;
  }

  numValueOrTransformer(): ValueExpr | FieldLike {
    this.enter();
    this.blank();
    const pos = this.pos();
    const t = this.transformerOrVal();
    let res: ValueExpr | FieldLike;
    if (t) res = t;
    else if (this.rx(RX_HEX) || this.rx(RX_NUMBER)) res = { kind: "value", value: this.last, pos };
    else {
      this.fail(
        "expected a number value or a field with a valid transformer: " +
          quoteList(TRANSFORMERS_WITH_VAL),
      );
    }
    this.depth--;
    return res;
  }

  strValueOrTransformer(noTransformer: boolean): ValueExpr | FieldLike {
    this.enter();
    this.blank();
    const pos = this.pos();
    if (!noTransformer) {
      const t = this.transformerOrVal();
      if (t) {
        this.depth--;
        return t;
      }
    }
    if (this.quoted() || this.rx(RX_BARE_STR)) {
      this.depth--;
      return { kind: "value", value: this.last, pos };
    }
    if (noTransformer) this.fail("expected a string value");
    this.fail(
      "expected a string value or a field with a valid transformer: " +
        quoteList(TRANSFORMERS_WITH_VAL),
    );
  }

  tryList(): ListExpr | undefined {
    const pos = this.pos();
    if (!this.str("(")) return undefined;
    const values: string[] = [];
    this.blank();
    let empty = false;
    let first: ValueExpr | FieldLike | undefined;
    const saved = this.save();
    try {
      first = this.strValueOrTransformer(true);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.restore(saved);
      empty = true;
    }
    if (!empty && first?.kind === "value") {
      values.push(first.value);
      this.blank();
      while (this.str(",")) {
        const v = this.strValueOrTransformer(true) as ValueExpr;
        values.push(v.value);
        this.blank();
      }
    }
    if (!this.str(")")) this.fail("expected a ')' token");
    return { kind: "list", values, pos };
  }

  listValue(): ListExpr | ValueExpr {
    this.enter();
    this.blank();
    const pos = this.pos();
    const l = this.tryList();
    let res: ListExpr | ValueExpr;
    if (l) res = l;
    else if (this.rx(RX_IDENTIFIER)) res = { kind: "value", value: this.last, pos };
    else this.fail("expected a list or an identifier");
    this.depth--;
    return res;
  }

  listValueOrTransformer(): ListExpr | ValueExpr | FieldLike {
    this.enter();
    this.blank();
    const pos = this.pos();
    let res: ListExpr | ValueExpr | FieldLike | undefined = this.tryList() ??
      this.transformerOrVal();
    if (!res) {
      if (this.rx(RX_IDENTIFIER)) res = { kind: "value", value: this.last, pos };
      else {
        this.fail(
          "expected a list, an identifier, or a field with a valid transformer: " +
            quoteList(TRANSFORMERS_WITH_VAL),
        );
      }
    }
    this.depth--;
    return res;
  }

  transformerOrVal(): FieldLike | undefined {
    this.blank();
    const pos = this.pos();
    if (this.str("val(")) {
      this.blank();
      const fieldPos = this.pos();
      if (!this.rx(RX_FIELD_NAME)) this.fail("expected a field within 'val' transformer");
      const field = this.fieldRest(this.last, fieldPos);
      this.blank();
      if (!this.str(")")) this.fail("expected a ')' token closing the transformer");
      return { kind: "transformer", name: "val", args: [field], arg: this.optionalArg(), pos };
    }
    if (this.strList(TRANSFORMER_OPENERS)) {
      this.blank();
      return this.transformerRest(this.last.slice(0, -1), pos);
    }
    return undefined;
  }
}

/**
 * Parses a condition. Throws {@link ParseError} (message and position as libsinsp reports them)
 * on a syntax error.
 */
export function parseCondition(input: string, maxDepth = 1000): Expr {
  return new Parser(input, maxDepth).parse();
}

/**
 * Parses a field or transformer at the start of `input` (output strings: `%proc.name)` reads
 * `proc.name`). Returns the expression and how many characters it used.
 */
export function parseFieldOrTransformer(
  input: string,
): { expr: FieldLike; length: number } {
  const p = new Parser(input, 1000);
  const pos = p.pos();
  if (p.rx(RX_FIELD_NAME)) {
    const expr = p.fieldRest(p.last, pos);
    return { expr, length: p.idx };
  }
  if (p.strList(TRANSFORMER_OPENERS)) {
    p.blank();
    const expr = p.transformerRest(p.last.slice(0, -1), pos);
    return { expr, length: p.idx };
  }
  throw new ParseError(`unexpected token after '${p.last}'`, p.pos());
}
