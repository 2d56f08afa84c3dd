/**
 * The checker: turns a macro-expanded condition into a typed tree the code generator can emit
 * directly. It resolves every field in the registry, checks each operator against the field's
 * type (Falco's rules: no `contains` on numbers, only `in`/`intersects`/`exists` on list fields
 * ...), and parses every constant once (numbers, booleans, addresses, networks, globs, regexes,
 * hex strings), failing with Falco's messages.
 * @module
 */
import type { BinaryCheck, Expr, FieldLike, ListExpr, Pos, ValueExpr } from "./ast.ts";
import {
  checkArg,
  type FieldDef,
  type FieldType,
  fieldUsableFor,
  lookupField,
} from "./fields/core.ts";
import {
  compileGlob,
  type IpNet,
  ipText,
  parseHex,
  parseIp,
  parseNet,
  PathPrefixSet,
} from "./ops.ts";
import { eventIdsByName } from "../events/table.ts";
import { isSyscallName } from "./syscall_names.ts";

/** How values of a type compare. */
export type Domain = "str" | "num" | "bool" | "ip" | "net" | "bytes";

/** A field as an operand. */
export interface FieldOperand {
  kind: "field";
  def: FieldDef;
  arg: string | undefined;
  type: FieldType;
  /** `name` or `name[arg]`: identifies the extraction for caching. */
  key: string;
  list: boolean;
  multi: boolean;
}

/** A transformer applied to operands. */
export interface TransformOperand {
  kind: "xform";
  name: string;
  args: Operand[];
  type: FieldType;
  key: string;
  list: boolean;
  multi: boolean;
}

/** A constant argument of a transformer. */
export interface ConstOperand {
  kind: "const";
  value: string;
  key: string;
  type: FieldType;
  list: boolean;
  multi: boolean;
}

/**
 * A value an earlier step of a sequence kept (`${name}` on the right of a check): slot `slot` of
 * the chain's captured values, typed as the field it was taken from.
 */
export interface CaptureOperand {
  kind: "capture";
  name: string;
  slot: number;
  key: string;
  type: FieldType;
  list: boolean;
  multi: boolean;
}

/** Something that yields a value for an event. */
export type Operand = FieldOperand | TransformOperand | ConstOperand | CaptureOperand;

/** `${name}`: a value written as a reference to a sequence capture. */
export const CAPTURE_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** A parsed constant of a check. */
export type CheckValue = string | number | bigint | boolean | Uint8Array | IpNet | RegExp;

/** One typed check. */
export interface CheckNode {
  k: "check";
  left: Operand;
  /** Base operator (`=` for `==`), without modifier. */
  op: string;
  mod: "oneof" | "anyof" | "allof" | undefined;
  domain: Domain;
  values: CheckValue[];
  /** Path prefixes for `pmatch`. */
  paths?: PathPrefixSet;
  right?: Operand;
  pos: Pos;
}

/** A typed boolean tree. */
export type Checked =
  | { k: "and" | "or"; c: Checked[] }
  | { k: "not"; c: Checked }
  | CheckNode;

/** A semantic error at a position of the condition. */
export class CheckError extends Error {
  readonly pos: Pos;
  /** Unknown field or event type: a rule with skip-if-unknown-filter is skipped instead. */
  readonly unknown: boolean;
  constructor(message: string, pos: Pos, unknown = false) {
    super(message);
    this.pos = pos;
    this.unknown = unknown;
  }
}

/** The comparison domain of a field type. */
export function domainOf(t: FieldType): Domain {
  switch (t) {
    case "charbuf":
    case "fspath":
    case "sockfamily":
    case "dyn":
      return "str";
    case "bool":
      return "bool";
    case "ipaddr":
      return "ip";
    case "ipnet":
      return "net";
    case "bytebuf":
      return "bytes";
    default:
      return "num";
  }
}

const DOMAIN_OPS: Record<Domain, { ops: string[]; what: string }> = {
  num: { ops: ["=", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"], what: "numeric" },
  bool: { ops: ["=", "!=", "in", "intersects", "exists"], what: "numeric" },
  str: {
    ops: [
      "=",
      "!=",
      "<",
      "<=",
      ">",
      ">=",
      "contains",
      "in",
      "exists",
      "icontains",
      "startswith",
      "glob",
      "pmatch",
      "endswith",
      "intersects",
      "iglob",
      "regex",
    ],
    what: "string",
  },
  bytes: {
    ops: [
      "=",
      "!=",
      "contains",
      "in",
      "exists",
      "startswith",
      "endswith",
      "intersects",
      "bcontains",
      "bstartswith",
    ],
    what: "buffer",
  },
  ip: { ops: ["=", "!=", "in", "exists", "intersects"], what: "ip address and network" },
  net: { ops: ["=", "!=", "in", "exists", "intersects"], what: "ip address and network" },
};

const SIGNED_RANGES: Partial<Record<FieldType, [bigint, bigint]>> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
};

let services: Map<string, number> | undefined;

function servicePort(name: string): number | undefined {
  if (!services) {
    services = new Map();
    try {
      for (const line of Deno.readTextFileSync("/etc/services").split("\n")) {
        const m = /^([^\s#]+)\s+(\d+)\//.exec(line);
        if (m && !services.has(m[1])) services.set(m[1], Number(m[2]));
      }
    } catch { /* no services database: numeric ports only */ }
  }
  return services.get(name);
}

/** Parses a number as Falco does for the field type (decimal or 0x hex, range-checked). */
export function parseNumber(s: string, t: FieldType): number | bigint {
  const text = s.trim();
  let n: bigint;
  if (/^[+-]?\d+$/.test(text)) n = BigInt(text);
  else if (/^0[xX][0-9a-fA-F]+$/.test(text)) n = BigInt(text);
  else throw new Error(`${s} is not a valid number`);
  const r = SIGNED_RANGES[t];
  if (r && (n < r[0] || n > r[1])) throw new Error(`${s} is not a valid number`);
  if (t === "uint64" || t === "reltime" || t === "abstime") {
    if (n < 0n) n = BigInt.asUintN(64, n);
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  return Number(n);
}

/** Parses one constant for a check on a field of `type` with operator `op`. */
export function parseValue(v: string, type: FieldType, domain: Domain, op: string): CheckValue {
  switch (domain) {
    case "num":
      if (type === "port" && !/^\d+$/.test(v)) {
        const p = servicePort(v);
        if (p === undefined) throw new Error(`unrecognized protocol ${v}`);
        return p;
      }
      return parseNumber(v, type);
    case "bool":
      if (v === "true") return true;
      if (v === "false") return false;
      throw new Error(`filter error: unrecognized boolean value ${v}`);
    case "ip": {
      const b = parseIp(v);
      if (!b) throw new Error(`unrecognized IP${v.includes(".") ? "v4" : "v6"} address ${v}`);
      return ipText(b);
    }
    case "net": {
      if (!v.includes("/")) throw new Error(`unrecognized IP network ${v}`);
      const n = parseNet(v);
      if (!n) throw new Error(`unrecognized IP address ${v}`);
      return n;
    }
    case "bytes": {
      if (op === "bcontains" || op === "bstartswith") {
        const b = parseHex(v);
        if (!b) {
          throw new Error(
            "filter error: bcontains and bstartswith operator support hex strings only",
          );
        }
        return b;
      }
      return new TextEncoder().encode(v);
    }
    default:
      if (v.includes("\0")) {
        throw new Error("filter error: filter value cannot contain a NUL byte (\\x00)");
      }
      if (op === "glob" || op === "iglob") return compileGlob(v, op === "iglob");
      if (op === "regex") {
        try {
          return new RegExp(`^(?:${v})$`, "u");
        } catch (e) {
          throw new Error(`invalid regex pattern: ${(e as Error).message}`);
        }
      }
      if (op === "icontains") return v.toLowerCase();
      return v;
  }
}

const STRING_TYPES: readonly FieldType[] = ["charbuf", "fspath"];

/** Resolves fields, types and constants of an expanded condition. */
export class Checker {
  readonly source: string;
  /**
   * In a sequence step: the values earlier steps captured, by name (`${name}` refers to one).
   * Absent elsewhere, where `${name}` is plain text as in Falco.
   */
  readonly captures: ReadonlyMap<string, CaptureOperand> | undefined;

  constructor(source: string, captures?: ReadonlyMap<string, CaptureOperand>) {
    this.source = source;
    this.captures = captures;
  }

  field(name: string, arg: string | undefined, pos: Pos): FieldOperand {
    const text = arg === undefined ? name : `${name}[${arg}]`;
    const ref = lookupField(text);
    if (!ref || !fieldUsableFor(ref.def, this.source)) {
      throw new CheckError(`filter_check called with nonexistent field ${text}`, pos, true);
    }
    const argErr = checkArg(ref);
    if (argErr) throw new CheckError(argErr, pos);
    let type = ref.def.type;
    if (ref.def.typeFor && ref.arg !== undefined) {
      const t = ref.def.typeFor(ref.arg);
      if (!t) throw new CheckError(`unknown event argument ${ref.arg}`, pos, true);
      type = t;
    }
    return {
      kind: "field",
      def: ref.def,
      arg: ref.arg,
      type,
      key: ref.arg === undefined ? ref.def.name : `${ref.def.name}[${ref.arg}]`,
      list: ref.def.list === true,
      multi: ref.def.multi === true,
    };
  }

  operand(f: FieldLike | ValueExpr | import("./ast.ts").TransformerListExpr): Operand {
    if (f.kind === "field") return this.field(f.name, f.arg, f.pos);
    if (f.kind === "value") {
      return {
        kind: "const",
        value: f.value,
        key: JSON.stringify(f.value),
        type: "charbuf",
        list: false,
        multi: false,
      };
    }
    if (f.kind === "tlist") {
      const args = f.items.map((i) => this.operand(i));
      return {
        kind: "xform",
        name: "list",
        args,
        type: "charbuf",
        key: `(${args.map((a) => a.key).join(",")})`,
        list: true,
        multi: false,
      };
    }
    return this.transformer(f);
  }

  transformer(t: import("./ast.ts").TransformerExpr): Operand {
    const args = t.args.map((a) => this.operand(a));
    if (t.name === "val") {
      if (t.arg !== undefined) {
        throw new CheckError(
          "filter error: transformer 'val' does not support field arguments",
          t.pos,
        );
      }
      return args[0];
    }
    if (t.arg !== undefined && args.length === 1) {
      throw new CheckError(
        `filter error: transformer '${t.name}' does not support field arguments`,
        t.pos,
      );
    }
    const key = `${t.name}(${args.map((a) => a.key).join(",")})`;
    const a0 = args[0];
    const unsupported = (): never => {
      throw new CheckError(
        `can't add field transformer: type '${a0.type}' is not supported by '${t.name}' transformer`,
        t.pos,
      );
    };
    let type: FieldType = "charbuf";
    let list = false;
    switch (t.name) {
      case "tolower":
      case "toupper":
      case "basename":
        if (args.length !== 1) {
          throw new CheckError(`transformer '${t.name}' takes one argument`, t.pos);
        }
        if (!STRING_TYPES.includes(a0.type)) unsupported();
        list = a0.list;
        break;
      case "b64":
        if (args.length !== 1) throw new CheckError("transformer 'b64' takes one argument", t.pos);
        if (!STRING_TYPES.includes(a0.type) && a0.type !== "bytebuf") unsupported();
        type = a0.type === "bytebuf" ? "charbuf" : a0.type;
        list = a0.list;
        break;
      case "len":
        if (args.length !== 1) throw new CheckError("transformer 'len' takes one argument", t.pos);
        if (!STRING_TYPES.includes(a0.type) && a0.type !== "bytebuf" && !a0.list) unsupported();
        type = "uint64";
        break;
      case "concat":
        if (args.length < 2) {
          throw new CheckError("transformer 'concat' takes at least two arguments", t.pos);
        }
        break;
      case "join":
        if (args.length !== 2 || args[0].kind !== "const") {
          throw new CheckError("transformer 'join' takes a separator string and a list", t.pos);
        }
        break;
      default:
        throw new CheckError(`transformer '${t.name}' is not supported`, t.pos);
    }
    return { kind: "xform", name: t.name, args, type, key, list, multi: a0.multi };
  }

  check(e: Expr): Checked {
    switch (e.kind) {
      case "and":
      case "or":
        return { k: e.kind, c: e.children.map((c) => this.check(c)) };
      case "not":
        return { k: "not", c: this.check(e.child) };
      case "id":
        throw new CheckError(`filter error: unexpected identifier '${e.name}'`, e.pos);
      case "unary": {
        const left = this.operand(e.left);
        return {
          k: "check",
          left,
          op: "exists",
          mod: undefined,
          domain: domainOf(left.type),
          values: [],
          pos: e.pos,
        };
      }
      case "binary":
        return this.binary(e);
    }
  }

  binary(e: BinaryCheck): CheckNode {
    const left = this.operand(e.left);
    const [rawOp, rawMod] = e.op.split(" ");
    const op = rawOp === "==" ? "=" : rawOp;
    const mod = rawMod as CheckNode["mod"];
    const domain = domainOf(left.type);
    const spec = DOMAIN_OPS[domain];
    if (!spec.ops.includes(op)) {
      const text = mod && (domain === "ip" || domain === "net")
        ? `'${op}' with modifier not supported for ip address and network filters`
        : `'${op}' operator not supported for ${spec.what} filters`;
      throw new CheckError(`filter error: ${text}`, e.pos);
    }
    const node: CheckNode = { k: "check", left, op, mod, domain, values: [], pos: e.pos };
    const r = e.right;
    if (r.kind === "field" || r.kind === "transformer") {
      if (op === "pmatch" || op === "regex") {
        throw new CheckError(`operator '${op}' doesn't support right-hand side fields`, r.pos);
      }
      if (domain === "net") {
        throw new CheckError("field type 'IPNET' doesn't support right-hand side fields", r.pos);
      }
      const right = this.operand(r);
      if (right.kind === "field" && right.def.noRhs) {
        throw new CheckError(
          `field '${right.key}' can't be used as a right-hand side field`,
          r.pos,
        );
      }
      if (left.kind === "field" && left.def.noRhs) {
        throw new CheckError(`field '${left.key}' doesn't support right-hand side fields`, r.pos);
      }
      if (domainOf(right.type) !== domain && !(domain === "str" && right.type === "charbuf")) {
        throw new CheckError(
          `field '${left.key}' of type '${left.type}' can't be compared with field ` +
            `'${right.key}' of type '${right.type}'`,
          r.pos,
        );
      }
      node.right = right;
      return node;
    }
    const raw = r.kind === "list" ? (r as ListExpr).values : [(r as ValueExpr).value];
    if (this.captures && raw.some((v) => v.includes("${"))) {
      return this.captureCheck(node, raw, r.kind === "list", r.pos);
    }
    const isEvtType = left.kind === "field" && !left.arg &&
      (left.def.name === "evt.type" || left.def.name === "syscall.type");
    for (const v of raw) {
      if (isEvtType && eventIdsByName(v).length === 0 && !isSyscallName(v)) {
        throw new CheckError(`unknown event type ${v}`, r.pos, true);
      }
      try {
        node.values.push(parseValue(v, left.type, domain, op));
      } catch (err) {
        throw new CheckError((err as Error).message, r.pos);
      }
    }
    if (op === "pmatch") node.paths = new PathPrefixSet(node.values as string[]);
    return node;
  }

  /** `field OP ${name}`: the check compares with a captured value, as with a right-hand field. */
  captureCheck(node: CheckNode, raw: string[], isList: boolean, pos: Pos): CheckNode {
    const m = CAPTURE_REF.exec(raw[0]);
    if (isList || raw.length !== 1 || !m) {
      throw new CheckError(
        "a captured value stands alone on the right of a check, as in 'fd.name = ${path}'",
        pos,
      );
    }
    const cap = this.captures!.get(m[1]);
    if (!cap) {
      const known = [...this.captures!.keys()];
      throw new CheckError(
        `'\${${m[1]}}' is captured by no earlier step` +
          (known.length ? ` (captured before this step: ${known.join(", ")})` : ""),
        pos,
      );
    }
    const { op, domain, left } = node;
    if (op === "pmatch" || op === "regex" || op === "in" || op === "intersects" || node.mod) {
      throw new CheckError(
        `operator '${op}${node.mod ? " " + node.mod : ""}' cannot compare with a captured value`,
        pos,
      );
    }
    if (domain === "net") {
      throw new CheckError("field type 'IPNET' cannot compare with a captured value", pos);
    }
    if (domainOf(cap.type) !== domain && !(domain === "str" && cap.type === "charbuf")) {
      throw new CheckError(
        `field '${left.key}' of type '${left.type}' can't be compared with '\${${cap.name}}' ` +
          `of type '${cap.type}'`,
        pos,
      );
    }
    node.right = cap;
    return node;
  }
}
