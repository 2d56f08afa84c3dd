/**
 * The command-line option parser gives what node:util's parseArgs gives for the same options,
 * and refuses what it refuses.
 */
import { assertEquals, assertThrows } from "../support/assert.ts";
import { parseArgs as nodeParseArgs } from "node:util";
import { parseArgs } from "../../src/cli/args.ts";

const OPTIONS = {
  rules: { type: "string", short: "r", multiple: true },
  print: { type: "string", short: "p" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  "no-rules": { type: "boolean" },
  "min-priority": { type: "string" },
} as const;

Deno.test("cli args: the same values and positionals as node's parseArgs", () => {
  const cases = [
    [],
    ["trace.scap"],
    ["trace.scap", "-r", "a.yaml", "--rules", "b.yaml", "-rc.yaml", "--rules=d.yaml"],
    ["-p", "%evt.num %proc.name", "trace.scap", "evt.type = open and proc.name = cat"],
    ["--print=%evt.num", "--json", "-h", "--no-rules", "x"],
    ["--min-priority", "warning", "x", "--", "--json", "-r"],
    ["-", "x"],
    ["-hp", "%fd.name", "x"],
  ];
  for (const args of cases) {
    const want = nodeParseArgs({ args, options: OPTIONS, allowPositionals: true });
    const got = parseArgs({ args, options: OPTIONS, allowPositionals: true });
    assertEquals({ ...got.values }, { ...want.values }, args.join(" "));
    assertEquals(got.positionals, want.positionals, args.join(" "));
  }
});

Deno.test("cli args: unknown options, missing values and values given to flags are refused", () => {
  for (const args of [["--nope"], ["-x"], ["-r"], ["--print"], ["--json=yes"]]) {
    assertThrows(() => nodeParseArgs({ args, options: OPTIONS, allowPositionals: true }));
    const e = assertThrows(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
    assertEquals(e instanceof TypeError, true, args.join(" "));
  }
  assertThrows(() => parseArgs({ args: ["x"], options: OPTIONS }), "Unexpected");
});
