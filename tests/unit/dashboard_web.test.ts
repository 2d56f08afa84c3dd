/**
 * The dashboard's pure logic, imported from the page's own modules (plain JavaScript that Deno
 * runs as the browser does): the priority table against the engine's, exact JSON, the server-sent
 * event parser on awkward chunkings, process ancestry from output fields, the text of a row, and
 * a MITRE name for every technique and tactic the shipped and reference rules tag.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { PRIORITIES } from "../../src/rules/alert.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { webModule } from "../support/web.ts";

const { parseExact, prettyJson, PRIORITIES: WEB_PRIORITIES, PRIORITY_COLORS } = await webModule(
  "dom.js",
);
const { readEvents } = await webModule("api.js");
const { ancestry } = await webModule("detail.js");
const { alertKey, outputText, whereText } = await webModule("alerts.js");
const { mitreName } = await webModule("mitre.js");
const { rangeStart } = await webModule("overview.js");
const { niceMax } = await webModule("chart.js");

Deno.test("web: the page's priorities are the engine's, each with a colour", () => {
  assertEquals(WEB_PRIORITIES, [...PRIORITIES]);
  assertEquals(Object.keys(PRIORITY_COLORS), [...PRIORITIES]);
});

Deno.test("web: JSON is shown and copied exactly (nanosecond integers kept)", () => {
  const text =
    '{"a":[],"b":{},"c":"x,\\"y\\":{[z]}","n":1796243843754000123,"f":1.5,"l":[1,{"k":null}]}';
  const pretty = prettyJson(text);
  assertEquals(pretty.replace(/\s+(?=(?:[^"\\]|\\.|"(?:[^"\\]|\\.)*")*$)/g, ""), text);
  assertEquals(JSON.parse(pretty), JSON.parse(text));
  assert(pretty.includes('"n": 1796243843754000123'), pretty);
  assert(pretty.includes('"c": "x,\\"y\\":{[z]}"'), pretty);
  assertEquals(pretty.split("\n")[1], '  "a": [],');
  const v = parseExact(text);
  assertEquals(v.n, "1796243843754000123");
  assertEquals(v.f, 1.5);
  assertEquals(v.l[0], 1);
});

function bodyOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

Deno.test("web: server-sent events parse whatever the chunking", async () => {
  const stream = ': subscribed\n\nevent: alert\nid: 1\ndata: {"a":1}\n\n' +
    "event: alert\r\ndata: line1\r\ndata: line2\r\n\r\n: keep-alive\n\ndata: plain\n\n" +
    "event: alert\ndata: é✓\n\n";
  const bytes = new TextEncoder().encode(stream);
  const want = [
    ["alert", '{"a":1}'],
    ["alert", "line1\nline2"],
    ["message", "plain"],
    ["alert", "é✓"],
  ];
  for (const size of [1, 2, 3, 7, 1000]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(ch);
        c.close();
      },
    });
    const got: string[][] = [];
    await readEvents(body, (e: string, d: string) => got.push([e, d]));
    assertEquals(got, want, `chunks of ${size} bytes`);
  }
  const got: string[][] = [];
  await readEvents(bodyOf(["data: x"]), (e: string, d: string) => got.push([e, d]));
  assertEquals(got, [], "an event is only complete at its blank line");
});

Deno.test("web: process ancestry as far as the fields carry it", () => {
  assertEquals(
    ancestry({
      "proc.name": "cat",
      "proc.pid": 42,
      "proc.cmdline": "cat /etc/shadow",
      "proc.exepath": "/usr/bin/cat",
      "proc.pname": "bash",
      "proc.ppid": 41,
      "proc.pcmdline": "bash -i",
      "proc.aname[2]": "sshd",
      "proc.aname[3]": "systemd",
      "proc.apid[3]": 1,
      "proc.aname[5]": null,
    }),
    [
      { level: 0, name: "cat", pid: 42, exe: "/usr/bin/cat", cmdline: "cat /etc/shadow" },
      { level: 1, name: "bash", pid: 41, exe: undefined, cmdline: "bash -i" },
      { level: 2, name: "sshd", pid: undefined, exe: undefined, cmdline: undefined },
      { level: 3, name: "systemd", pid: 1, exe: undefined, cmdline: undefined },
    ],
  );
  assertEquals(ancestry({ "k8s.ns.name": "x" }), []);
});

Deno.test("web: a row's output, container and process", () => {
  const a = {
    time: "2026-01-02T03:04:05.123456789Z",
    rule: "R",
    output: "03:04:05.123456789: Warning Sensitive file opened (file=/etc/shadow)",
    output_fields: { "container.id": "abc", "container.name": null, "proc.name": "cat" },
  };
  assertEquals(outputText(a), "Sensitive file opened (file=/etc/shadow)");
  assertEquals(
    outputText({ output: "Saker internal: reload rejected" }),
    "Saker internal: reload rejected",
  );
  assertEquals(whereText(a), { container: "abc", process: "cat" });
  assertEquals(alertKey(a), `${a.time}\u0000R\u0000${a.output}`);
});

Deno.test("web: chart scales end on round numbers in four steps", () => {
  const got = [0, 1, 3, 4, 5, 9, 13, 41, 99, 101, 1234].map((m) => niceMax(m));
  assertEquals(got, [4, 4, 4, 4, 8, 20, 20, 80, 200, 200, 2000]);
});

Deno.test("web: overview ranges end with the current bucket", () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);
  const since = rangeStart(now, 60, 60);
  assertEquals(new Date(since).toISOString(), "2026-01-02T02:05:00.000Z");
  assert(since + 60 * 60_000 > now);
});

Deno.test("web: every ATT&CK tag of the shipped and reference rules has its name", async () => {
  const files = [`${REPO_ROOT}rules`];
  if (REFERENCE_DIR) {
    for (const e of Deno.readDirSync(`${REFERENCE_DIR}/falco-rules`)) {
      if (e.name.endsWith(".yaml")) files.push(`${REFERENCE_DIR}/falco-rules/${e.name}`);
    }
  }
  const missing = new Set<string>();
  let tags = 0;
  for (const f of files) {
    const loaded = await loadRulesFiles([f]);
    for (const r of loaded.rules) {
      for (const t of r.tags) {
        if (!/^(T\d{4}(\.\d{3})?|mitre_\w+)$/i.test(t)) continue;
        tags++;
        if (!mitreName(t)) missing.add(t);
      }
    }
  }
  assert(tags > 50, `${tags} ATT&CK tags seen`);
  assertEquals([...missing], []);
  assertEquals(mitreName("T1059.004"), "Command and Scripting Interpreter: Unix Shell");
  assertEquals(mitreName("mitre_execution"), "TA0002 Execution");
  assertEquals(mitreName("container"), undefined);
});
