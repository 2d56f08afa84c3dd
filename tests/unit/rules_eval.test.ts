/**
 * Condition semantics: the shared case table through the generated code and through the
 * reference evaluator; both must give the expected answer for every case.
 */
import { assertEquals } from "../support/assert.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { evaluate } from "../../src/rules/interp.ts";
import { CASES, EVENTS_BY_NAME } from "./rules_cases.ts";

function ruleFor(cond: string) {
  const text = `- rule: r\n  desc: d\n  condition: ${JSON.stringify(cond)}\n  output: o\n` +
    `  priority: INFO\n  warn_evttypes: false\n`;
  const loaded = loadRulesText([{ name: "case.yaml", text }]);
  const errors = loaded.results.flatMap((r) => r.errors.map((e) => e.message));
  return { loaded, errors };
}

Deno.test("conditions: generated code and reference evaluator agree with the case table", () => {
  const failures: string[] = [];
  for (const c of CASES) {
    const { loaded, errors } = ruleFor(c.cond);
    if (errors.length > 0) {
      failures.push(`${c.cond}: ${errors.join("; ")}`);
      continue;
    }
    const rs = compileRuleset(loaded, { ruleMatching: "all" });
    const generated = rs.evaluate(EVENTS_BY_NAME[c.ev](), () => {}) === 1;
    const reference = loaded.rules[0].eventTypes[EVENTS_BY_NAME[c.ev]().type] === 1 &&
      evaluate(loaded.rules[0].checked, EVENTS_BY_NAME[c.ev]());
    if (generated !== c.want) failures.push(`generated: ${c.cond} on ${c.ev} gave ${generated}`);
    if (reference !== c.want) failures.push(`reference: ${c.cond} on ${c.ev} gave ${reference}`);
  }
  assertEquals(failures, []);
});

Deno.test("conditions: all cases in one rule set (remembered tests shared by rules) agree with the reference evaluator, on first and repeated values", () => {
  const valid = CASES.filter((c) => ruleFor(c.cond).errors.length === 0);
  const text = valid.map((c, i) =>
    `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(c.cond)}\n  output: o\n` +
    `  priority: INFO\n  warn_evttypes: false\n`
  ).join("");
  const loaded = loadRulesText([{ name: "cases.yaml", text }]);
  const rs = compileRuleset(loaded, { ruleMatching: "all" });
  const remembered = Object.values(EVENTS_BY_NAME).filter((make) =>
    rs.sourceFor(make().type)?.includes("new Map()")
  );
  assertEquals(remembered.length > 0, true, "some event type shares remembered tests");
  const failures: string[] = [];
  const entries = Object.entries(EVENTS_BY_NAME);
  // The events in order, then again in reverse: each value follows another one of its field
  // (the last value beside each remembered map must not answer for the next).
  for (const [name, make] of [...entries, ...entries.reverse()]) {
    const ev = make();
    const want = loaded.rules.filter((r) =>
      r.eventTypes[ev.type] === 1 && evaluate(r.checked, make())
    )
      .map((r) => r.name).sort();
    // Twice: the first evaluation computes the remembered masks, the second reads them.
    for (const round of [1, 2]) {
      const got: string[] = [];
      rs.evaluate(make(), (a) => got.push(a.rule));
      if (JSON.stringify(got.sort()) !== JSON.stringify(want)) {
        failures.push(`${name} (round ${round}): got ${got.join(",")}, want ${want.join(",")}`);
      }
    }
  }
  assertEquals(failures, []);
});

Deno.test("conditions: the README gives the case table's size", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  assertEquals(Number(/(\d+)-case table/.exec(readme)?.[1]), CASES.length);
});
