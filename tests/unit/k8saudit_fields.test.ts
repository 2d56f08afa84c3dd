/**
 * Kubernetes audit fields and conditions against the hand-written case table of
 * k8saudit_cases.ts: the extractors on records; the same cases looked up through the field
 * registry (each field registered, for k8s_audit rules only, with the table's value after the
 * registry's typing); and conditions compiled to JavaScript next to the reference evaluator. Also
 * the payload parsing and the registration against Falco's field list. Recorded audit events
 * read independently as JSON are compared with `saker replay` in
 * tests/live/k8saudit_files.test.ts.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { CONDITION_CASES, FIELD_CASES, podCreate } from "./k8saudit_cases.ts";
import { K8S_AUDIT_EXTRACTORS } from "../../src/k8saudit/extract.ts";
import {
  AuditEvent,
  parseAuditPayload,
  parseRfc3339,
  PLUGIN_EVENT_TYPE,
} from "../../src/k8saudit/audit_event.ts";
import { pointer } from "../../src/k8saudit/json.ts";
import { allFields, fieldUsableFor, lookupField } from "../../src/rules/fields/mod.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { evaluate } from "../../src/rules/interp.ts";
import type { FieldResult } from "../../src/rules/fields/registry.ts";

function event(rec: Record<string, unknown>): AuditEvent {
  const ts = parseRfc3339(String(rec.stageTimestamp ?? "2024-01-01T00:00:00Z"))!;
  return new AuditEvent(rec, ts, 1);
}

function split(field: string): [string, string | undefined] {
  const m = /^([^[]+)(?:\[(.*)\])?$/.exec(field)!;
  return [m[1], m[2]];
}

function norm(v: FieldResult): unknown {
  return Array.isArray(v) ? v.map(String) : v;
}

Deno.test("k8saudit cases: the extractors on records", () => {
  for (const c of FIELD_CASES) {
    const [name, arg] = split(c.field);
    if (!name.startsWith("ka.")) continue;
    assertEquals(K8S_AUDIT_EXTRACTORS[name](c.record(), arg), c.want, c.field);
  }
});

Deno.test("k8saudit cases: every case field is registered for k8s_audit, same value", () => {
  for (const c of FIELD_CASES) {
    const ref = lookupField(c.field);
    assert(ref, `${c.field} is registered`);
    assert(fieldUsableFor(ref.def, "k8s_audit"), `${c.field} is for k8s_audit rules`);
    assert(!fieldUsableFor(ref.def, "syscall") || c.field.startsWith("evt."), c.field);
    assertEquals(norm(ref.def.extract(event(c.record()), ref.arg)), c.want, c.field);
  }
});

Deno.test("k8saudit cases: generated rules agree with the reference evaluator", () => {
  const text = CONDITION_CASES.map((c, i) =>
    `- rule: case ${i}\n  desc: d\n  condition: ${JSON.stringify(c.condition)}\n` +
    `  output: "case ${i} %ka.user.name"\n  priority: INFO\n  source: k8s_audit\n`
  ).join("\n");
  const loaded = loadRulesText([{ name: "cases.yaml", text }]);
  assertEquals(loaded.results[0].errors.map((e) => e.message), []);
  const rs = compileRuleset(loaded, { source: "k8s_audit", ruleMatching: "all" });
  assertEquals(rs.rules.length, CONDITION_CASES.length);
  CONDITION_CASES.forEach((c, i) => {
    const ev = event(c.record());
    const hits: string[] = [];
    rs.evaluate(ev, (a) => hits.push(a.rule));
    assertEquals(hits.includes(`case ${i}`), c.want, `generated: ${c.condition}`);
    assertEquals(evaluate(rs.rules[i].checked, ev), c.want, `reference: ${c.condition}`);
  });
});

Deno.test("k8saudit: k8s_audit rules never see syscall events, syscall rules never audit", () => {
  const loaded = loadRulesText([{
    name: "r.yaml",
    text: `
- rule: any audit event
  desc: d
  condition: jevt.rawtime exists
  output: "audit %ka.verb"
  priority: INFO
  source: k8s_audit
- rule: any open
  desc: d
  condition: evt.type = openat
  output: "open"
  priority: INFO
`,
  }]);
  const audit = compileRuleset(loaded, { source: "k8s_audit" });
  const sys = compileRuleset(loaded, { source: "syscall" });
  assertEquals(audit.eventTypes, [PLUGIN_EVENT_TYPE]);
  const ev = event(podCreate());
  const got: string[] = [];
  audit.evaluate(ev, (a) => got.push(`${a.source}: ${a.output}`));
  sys.evaluate(ev, (a) => got.push(a.output));
  assertEquals(got, ["k8s_audit: audit create"]);
  // A ka field in a syscall rule is an unknown field.
  const bad = loadRulesText([{
    name: "b.yaml",
    text: "- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: INFO\n",
  }]);
  assert(bad.results[0].errors.some((e) => /nonexistent field ka\.verb/.test(e.message)));
});

Deno.test("k8saudit: payloads (Event, EventList, arrays) and what is refused", () => {
  const ev = (id: string, stamp: unknown = "2024-03-01T08:00:00Z") => ({
    kind: "Event",
    auditID: id,
    stageTimestamp: stamp,
  });
  const list = { kind: "EventList", items: [ev("a"), ev("b", "yesterday"), ev("c")] };
  const p = parseAuditPayload([list, ev("d"), [ev("e")], { kind: 0 }], { firstNum: 10 });
  assertEquals(p.events.map((e) => [e.num, e.record.auditID]), [
    [10, "a"],
    [11, "c"],
    [12, "d"],
    [13, "e"],
  ]);
  assertEquals(p.errors.map((e) => e.reason), ["bad_timestamp", "not_audit"]);
  assertEquals(p.events[0].type, PLUGIN_EVENT_TYPE);
  assertEquals(p.events[0].name, "pluginevent");
  // Above maxEventSize a record is refused (measured only when the payload could hold one).
  const big = { ...ev("f"), pad: "x".repeat(500) };
  assertEquals(parseAuditPayload(big, { maxEventBytes: 400 }).errors[0].reason, "too_large");
  assertEquals(
    parseAuditPayload(big, { maxEventBytes: 400, payloadBytes: 300 }).events.length,
    1,
  );
  assertEquals(parseAuditPayload({ kind: "EventList" }).errors[0].reason, "not_audit");
  assertEquals(parseAuditPayload("text").errors[0].reason, "not_audit");
});

Deno.test("k8saudit: RFC 3339 times to nanoseconds", () => {
  assertEquals(parseRfc3339("2024-03-01T08:00:00Z"), 1709280000000000000n);
  assertEquals(parseRfc3339("2024-03-01T08:00:00.5Z"), 1709280000500000000n);
  assertEquals(parseRfc3339("2024-03-01T08:00:00.123456789Z"), 1709280000123456789n);
  assertEquals(parseRfc3339("2024-03-01T10:00:00.000001+02:00"), 1709280000000001000n);
  assertEquals(parseRfc3339("2024-03-01T08:00:00.1234567891Z"), 1709280000123456789n);
  assertEquals(parseRfc3339("2024-13-01T08:00:00Z"), undefined);
  assertEquals(parseRfc3339("2024-03-01 08:00"), undefined);
});

Deno.test("k8saudit: JSON pointers", () => {
  const v = { "a/b": { "~x": [10, { y: null }] }, "": 1 };
  assertEquals(pointer(v, "/a~1b/~0x/0"), "10");
  assertEquals(pointer(v, "/a~1b/~0x/1/y"), "null");
  assertEquals(pointer(v, "/a~1b/~0x/2"), undefined);
  assertEquals(pointer(v, "/a~1b/~0x/-1"), undefined);
  assertEquals(pointer({ a: "s" }, ""), '{"a":"s"}');
});

Deno.test({
  name: "k8saudit: every field of Falco's k8saudit list is registered, typed and described",
  ignore: needsReference(),
  fn: async () => {
    const tsv = await Deno.readTextFile(`${REFERENCE_DIR}/fields-k8saudit.tsv`);
    const names = new Set<string>();
    for (const line of tsv.split("\n").filter((l) => l.trim())) {
      const [name, type, arg] = line.split("\t");
      names.add(name);
      const def = [...allFields()].find((f) => f.name === name);
      assert(def, `${name} is registered`);
      assertEquals(def.type, "charbuf", name);
      assertEquals(def.list === true, type.includes("(list)"), `${name} list`);
      const mode = arg === "None" ? undefined : arg.includes("Required") ? "required" : "optional";
      assertEquals(def.arg, mode, `${name} argument`);
      assert(def.desc.length > 10, name);
    }
    const ka = [...allFields()].filter((f) => f.name.startsWith("ka."));
    assertEquals(ka.map((f) => f.name).filter((n) => !names.has(n)), []);
    assertEquals(ka.length, names.size);
  },
});

Deno.test("k8saudit: list fields print as (a,b) and are JSON arrays in output_fields", () => {
  const loaded = loadRulesText([{
    name: "r.yaml",
    text: `
- rule: pod images
  desc: d
  condition: ka.verb = create
  output: "images=%ka.req.pod.containers.image first=%ka.req.pod.containers.image[0]
    ns=%ka.target.namespace sub=%ka.target.subresource"
  priority: INFO
  source: k8s_audit
`,
  }]);
  const rs = compileRuleset(loaded, { source: "k8s_audit" });
  const got: { output: string; fields: Record<string, unknown> }[] = [];
  rs.evaluate(event(podCreate()), (a) => got.push({ output: a.output, fields: a.outputFields }));
  assertEquals(
    got[0].output,
    "images=(registry.local:5000/shop/cart:2.1,docker.io/envoyproxy/envoy@sha256:abcd) " +
      "first=(registry.local:5000/shop/cart:2.1) ns=shop sub=<NA>",
  );
  assertEquals(got[0].fields, {
    "ka.req.pod.containers.image": [
      "registry.local:5000/shop/cart:2.1",
      "docker.io/envoyproxy/envoy@sha256:abcd",
    ],
    "ka.req.pod.containers.image[0]": ["registry.local:5000/shop/cart:2.1"],
    "ka.target.namespace": "shop",
    "ka.target.subresource": null,
  });
});
