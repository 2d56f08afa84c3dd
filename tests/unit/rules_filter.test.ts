/** Event filters (`saker capture FILTER`, `saker replay FILE FILTER`): matching and event types. */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { compileFilter, compileWithPluginFields, FilterError } from "../../src/rules/filter.ts";
import { buildSyscallFieldRegistry } from "../../src/rules/fields/core.ts";
import { FIELDS } from "../../src/rules/fields/mod.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";

const open = (name: string) =>
  buildEvent("openat", { tid: 7, pid: 7, comm: "cat" }, {
    fd: 3,
    dirfd: -100,
    name,
    flags: 1,
    mode: 0,
  });

Deno.test("filter: matches on event fields and names the event types it can match", () => {
  const f = compileFilter("evt.type in (open, openat) and evt.arg.name startswith /etc");
  assertEquals(f.eventNames, new Set(["open", "openat"]));
  assert(f.matches(open("/etc/passwd")));
  assert(!f.matches(open("/tmp/x")));
});

Deno.test("filter: a condition naming no event type matches every type", () => {
  assertEquals(compileFilter("evt.arg.name startswith /etc").eventNames, "all");
  assertEquals(compileFilter("not evt.type = openat").eventNames instanceof Set, true);
});

Deno.test("filter: an invalid condition or unknown field is a FilterError with the reason", () => {
  const e1 = assertThrows(() => compileFilter("evt.type = "), "LOAD_ERR_COMPILE_CONDITION");
  assert(e1 instanceof FilterError);
  const e2 = assertThrows(() => compileFilter("proc.nmae = cat"), "proc.nmae");
  assert(e2 instanceof FilterError);
});

Deno.test("filter: fields of another source (ka.* for k8s_audit)", async () => {
  assert(
    (await compileWithPluginFields(
      () => compileFilter("ka.verb = create", "k8s_audit"),
      () => import("../../src/rules/fields/mod.ts"),
    )).matches,
  );
  assert(assertThrows(() => compileFilter("ka.verb = create")) instanceof FilterError);
});

Deno.test("filter: a filter of system call fields compiles the same without the plugins' fields", () => {
  // compileWithPluginFields tries the system call registry first: no field the plugins add may
  // resolve there (not by name, not as a dotted argument of a system call field), so a condition
  // that compiles without them means what it means with them.
  const core = buildSyscallFieldRegistry();
  const coreNames = new Set([...core.all()].map((f) => f.name));
  const added = [...FIELDS.all()].filter((f) => !coreNames.has(f.name));
  assert(added.length > 100, `plugins' fields: ${added.length}`);
  for (const f of added) assertEquals(core.lookup(f.name), undefined, f.name);
  for (const f of coreNames) assert(FIELDS.lookup(f)?.def === core.lookup(f)?.def, f);
});

Deno.test("filter: the plugins' fields load when a filter names one", async () => {
  // A process of its own: this file loads every field already.
  const filter = new URL("../../src/rules/filter.ts", import.meta.url).href;
  const mod = new URL("../../src/rules/fields/mod.ts", import.meta.url).href;
  const code = `
    import { compileFilter, compileWithPluginFields } from "${filter}";
    const load = () => import("${mod}");
    const out = [];
    try { compileFilter("ka.verb = create", "k8s_audit"); out.push("compiled"); }
    catch (e) { out.push(e.message); }
    const f = await compileWithPluginFields(() => compileFilter("ka.verb = create", "k8s_audit"), load);
    out.push(typeof f.matches);
    try { await compileWithPluginFields(() => compileFilter("ka.verb = create"), load); }
    catch (e) { out.push(e.message); }
    console.log(JSON.stringify(out));`;
  const r = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stderr: "inherit" })
    .output();
  assert(r.success);
  assertEquals(JSON.parse(new TextDecoder().decode(r.stdout)), [
    "unknown source k8s_audit",
    "function",
    "LOAD_ERR_COMPILE_CONDITION: filter_check called with nonexistent field ka.verb",
  ]);
});

Deno.test("filter: a count-only ruleset counts its matches and emits nothing; its matcher agrees", () => {
  const text = ["a", "b"].map((r) =>
    `- rule: ${r}\n  desc: d\n  condition: evt.type = openat and evt.arg.name startswith /etc\n` +
    `  output: "%evt.num %fd.name"\n  priority: WARNING\n`
  ).join("");
  const loaded = loadRulesText([{ name: "f.yaml", text }]);
  for (const ruleMatching of ["first", "all"] as const) {
    const full = compileRuleset(loaded, { ruleMatching });
    const counting = compileRuleset(loaded, { ruleMatching, countOnly: true });
    const matcher = counting.matcher();
    for (const ev of [open("/etc/passwd"), open("/tmp/x")]) {
      const alerts: unknown[] = [];
      const n = full.evaluate(ev, (a) => alerts.push(a));
      assertEquals(alerts.length, n);
      assertEquals(counting.evaluate(ev, () => assert(false, "count-only emitted")), n);
      assertEquals(matcher(ev), n > 0);
    }
    assertEquals([...full.matches], ruleMatching === "first" ? [1, 0] : [1, 1]);
    // Counted by evaluate and by the matcher alike.
    assertEquals([...counting.matches], [...full.matches].map((n) => 2 * n));
  }
});
