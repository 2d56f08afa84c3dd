/** The condition parser: precedence, every operator, transformers, arguments, and errors. */
import { assertEquals, assertThrows } from "../support/assert.ts";
import { parseCondition, type ParseError } from "../../src/rules/parser.ts";
import type { Expr } from "../../src/rules/ast.ts";

function shape(e: Expr): unknown {
  switch (e.kind) {
    case "and":
    case "or":
      return [e.kind, ...e.children.map(shape)];
    case "not":
      return ["not", shape(e.child)];
    case "id":
      return e.name;
    case "unary":
      return [e.op];
    case "binary":
      return [e.op, e.right.kind === "list" ? e.right.values : e.right.kind];
  }
}

Deno.test("parser: not binds tighter than and, and tighter than or", () => {
  assertEquals(shape(parseCondition("a or b and not c")), ["or", "a", ["and", "b", ["not", "c"]]]);
  assertEquals(shape(parseCondition("not (a or b) and c")), [
    "and",
    ["not", ["or", "a", "b"]],
    "c",
  ]);
  assertEquals(shape(parseCondition("not not a")), "a");
  assertEquals(shape(parseCondition("a and(b)or(c)")), ["or", ["and", "a", "b"], "c"]);
});

Deno.test("parser: every operator and modifier", () => {
  const ops = [
    "=",
    "==",
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
  for (const op of ops) assertEquals(shape(parseCondition(`proc.name ${op} x`)), [op, "value"]);
  for (const op of ["<", "<=", ">", ">="]) {
    assertEquals(shape(parseCondition(`proc.pid ${op} 3`)), [op, "value"]);
  }
  for (const op of ["in", "intersects", "pmatch"]) {
    assertEquals(shape(parseCondition(`proc.name ${op} (a, "b c")`)), [op, ["a", "b c"]]);
  }
  assertEquals(shape(parseCondition("proc.name exists")), ["exists"]);
  assertEquals(shape(parseCondition("proc.name startswith oneof (a, b)")), ["startswith oneof", [
    "a",
    "b",
  ]]);
  assertEquals(shape(parseCondition("proc.name = anyof (a)")), ["= anyof", ["a"]]);
  // a modifier word followed by a keyword is a plain value
  assertEquals(shape(parseCondition("proc.name = oneof and x")), ["and", ["=", "value"], "x"]);
});

Deno.test("parser: transformers, val(), field arguments, quoted strings", () => {
  const e = parseCondition("tolower(basename(fd.name)) = val(proc.aname[2])") as Extract<
    Expr,
    { kind: "binary" }
  >;
  assertEquals(e.left.kind === "transformer" && e.left.name, "tolower");
  assertEquals(e.right.kind === "transformer" && e.right.name, "val");
  const a = parseCondition('proc.env["HOME"] = "a\\"b" and evt.arg.fd = 3') as Extract<
    Expr,
    { kind: "and" }
  >;
  const c0 = a.children[0] as Extract<Expr, { kind: "binary" }>;
  assertEquals(c0.left.kind === "field" && c0.left.arg, "HOME");
  assertEquals(c0.right.kind === "value" && c0.right.value, 'a"b');
});

Deno.test("parser: errors carry Falco's messages and the position", () => {
  const err = (s: string) => {
    try {
      parseCondition(s);
    } catch (e) {
      return [(e as ParseError).message, (e as ParseError).pos.col];
    }
    return undefined;
  };
  assertEquals(err("evt.type=open foo"), [
    "unexpected token after 'open', expecting 'or', 'and'",
    15,
  ]);
  assertEquals(err("(a"), ["expected a ')' token", 3]);
  assertEquals(
    err("proc.name like x")?.[0],
    "expected a valid check operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch'",
  );
  assertEquals(err("a andb")?.[0], "expected blank or '(' after 'and'");
  assertEquals(err(""), ["filter input string is empty", 1]);
  assertThrows(() => parseCondition("proc.name = 'x\\q'"), "unsupported string escape");
});
