import { assert, assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { CaptureRecorder, type CaptureSettings } from "../../src/pipeline/recorder.ts";
import { captureSection, captureSettingsOf } from "../../src/config/capture_section.ts";
import { defaultConfig } from "../../src/config/spec.ts";

const DEFAULT_CAPTURE: CaptureSettings = captureSettingsOf(defaultConfig().capture);
import { openScapFile } from "../../src/capture/reader.ts";
import { replayCapture } from "../../src/pipeline/replay.ts";
import { Registry } from "../../src/metrics.ts";

const RULES = `
- rule: shadow read
  desc: reads of /etc/shadow
  condition: evt.type = openat and evt.arg.name = /etc/shadow
  output: "shadow opened (%evt.arg.name)"
  priority: WARNING
  capture: true
  capture_duration: 100
- rule: tmp write
  desc: files created under /tmp
  condition: evt.type = openat and evt.arg.name startswith /tmp/
  output: "tmp file %evt.arg.name"
  priority: NOTICE
`;

const MS = 1_000_000n;

/** An openat of `name` at `ms` milliseconds. */
function open(ms: number, name: string, num: number): Event {
  const ev = buildEvent("openat", { tid: 7, pid: 7, ts: BigInt(ms) * MS }, {
    fd: 3,
    dirfd: -100,
    name,
    flags: 1,
  });
  ev.num = num;
  return ev;
}

async function eventsOf(path: string): Promise<Event[]> {
  const f = await openScapFile(path);
  const out: Event[] = [];
  for await (const it of f.reader.items()) if (it.kind === "events") out.push(...it.events);
  return out;
}

/** Runs batches through a real ruleset wrapped by the recorder. */
async function record(
  batches: Event[][],
  settings: Partial<typeof DEFAULT_CAPTURE>,
): Promise<{ files: string[]; alerts: Alert[]; dir: string }> {
  const dir = await Deno.makeTempDir();
  const rec = new CaptureRecorder(
    { ...DEFAULT_CAPTURE, enabled: true, pathPrefix: `${dir}/cap`, ...settings },
    { registry: new Registry() },
  );
  const rules = rec.wrap(compileRuleset(loadRulesText([{ name: "r.yaml", text: RULES }]), {
    ruleMatching: "all",
  }));
  const alerts: Alert[] = [];
  for (const b of batches) {
    for (const ev of b) rules.evaluate(ev, (a) => alerts.push(a));
    rec.afterBatch(b);
  }
  await rec.close();
  return { files: rec.files, alerts, dir };
}

Deno.test("capture recorder: events before and after the alert, within the windows", async () => {
  // One event every 10 ms from 0 to 990 ms, in batches of 10; /etc/shadow at 500 ms.
  const evs: Event[] = [];
  for (let i = 0; i < 100; i++) evs.push(open(i * 10, i === 50 ? "/etc/shadow" : `/f${i}`, i + 1));
  const batches = [...Array(10).keys()].map((b) => evs.slice(b * 10, b * 10 + 10));
  const { files, alerts, dir } = await record(batches, { preDurationMs: 50 });
  try {
    assertEquals(alerts.map((a) => a.rule), ["shadow read"]);
    assertEquals(files.length, 1);
    assert(
      files[0].endsWith(
        `_${"500000000".padStart(20, "0")}_${"51".padStart(20, "0")}_shadow-read.scap`,
      ),
      files[0],
    );
    const got = await eventsOf(files[0]);
    // 50 ms before (450..490) and 100 ms after (500..600): 16 events, in order.
    assertEquals(got.map((e) => Number(e.ts / MS)), [...Array(16).keys()].map((i) => 450 + i * 10));
    assertEquals(got.find((e) => e.arg("name") === "/etc/shadow")?.ts, 500n * MS);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("capture recorder: a second alert extends the capture; rules mode ignores others", async () => {
  const evs: Event[] = [];
  for (let i = 0; i < 60; i++) {
    const name = i === 10 || i === 18 ? "/etc/shadow" : i === 40 ? "/tmp/x" : `/f${i}`;
    evs.push(open(i * 10, name, i + 1));
  }
  const { files, alerts, dir } = await record([evs.slice(0, 30), evs.slice(30)], {
    preDurationMs: 0,
  });
  try {
    assertEquals(alerts.map((a) => a.rule), ["shadow read", "shadow read", "tmp write"]);
    assertEquals(files.length, 1);
    const got = await eventsOf(files[0]);
    // From 100 ms to 180 + 100 ms: the second alert moved the end.
    assertEquals(Number(got[0].ts / MS), 100);
    assertEquals(Number(got.at(-1)!.ts / MS), 280);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // all_rules: the /tmp rule starts a capture too (default duration).
  const all = await record([evs.slice(0, 30), evs.slice(30)], {
    preDurationMs: 0,
    mode: "all_rules",
    defaultDurationMs: 30,
  });
  try {
    assertEquals(all.files.length, 2);
    assert(all.files[1].endsWith("_tmp-write.scap"));
    const got = await eventsOf(all.files[1]);
    assertEquals(got.map((e) => Number(e.ts / MS)), [400, 410, 420, 430]);
  } finally {
    await Deno.remove(all.dir, { recursive: true });
  }
});

Deno.test("capture recorder: the size cap stops a capture", async () => {
  // The /tmp rule sets no duration of its own: the default (long) one applies.
  const big = "/tmp/start";
  const evs: Event[] = [];
  for (let i = 0; i < 4000; i++) {
    evs.push(open(i, i === 0 ? big : `/data/${"x".repeat(400)}/${i}`, i + 1));
  }
  const batches = [...Array(40).keys()].map((b) => evs.slice(b * 100, b * 100 + 100));
  const { files, dir } = await record(batches, {
    preDurationMs: 0,
    mode: "all_rules",
    defaultDurationMs: 100_000,
    maxFileSizeMb: 0.5,
  });
  try {
    assertEquals(files.length, 1);
    const size = (await Deno.stat(files[0])).size;
    // The cap applies per batch: at most one batch (about 50 KB here) past 512 KiB.
    assert(size >= 512 * 1024 && size < 512 * 1024 + 60_000, `${size} bytes`);
    const got = await eventsOf(files[0]);
    assert(got.length < 4000 && got.length % 100 === 0, `${got.length} events`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: capture settings without the recorder class are refused before the file opens", async () => {
  await assertRejects(
    () =>
      replayCapture("/nonexistent/never-opened.scap", {
        capture: { ...DEFAULT_CAPTURE, enabled: true, pathPrefix: "/nonexistent/c" },
      }),
    "capture settings need opts.recorderClass",
  );
});

Deno.test("capture settings: Falco's keys, Saker's extensions, clear errors", () => {
  const s = captureSection({
    enabled: true,
    path_prefix: "/var/tmp/c",
    mode: "all_rules",
    default_duration: 2000,
    max_file_size_mb: 10,
    pre_duration: 0,
    format: "sysdig029",
  });
  assertEquals(s, {
    enabled: true,
    pathPrefix: "/var/tmp/c",
    mode: "all_rules",
    defaultDurationMs: 2000,
    maxFileSizeMb: 10,
    preDurationMs: 0,
    format: "sysdig029",
  });
  assertEquals(captureSection({}), captureSettingsOf(defaultConfig().capture));
  assertEquals(captureSection({}).defaultDurationMs, 5000);
  assertThrows(() => captureSection({ mode: "some" }), "capture.mode: expected one of rules");
  assertThrows(() => captureSection({ default_duration: -1 }), "capture.default_duration");
  assertThrows(() => captureSection({ pre_duraton: 1 }), "did you mean pre_duration?");
});

Deno.test({
  name: "capture recorder: a replay saves a capture that replays to the same alert",
  ignore: needsReference(),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const rules = compileRuleset(loadRulesText([{
        name: "r.yaml",
        text: `
- rule: cat opens
  desc: cat opens a file
  condition: evt.type = open and evt.dir = < and proc.name = cat and fd.name = /dev/null
  output: "cat opened %fd.name (%proc.cmdline, parent %proc.pname)"
  priority: WARNING
  capture: true
`,
      }]));
      const trace = `${REFERENCE_DIR}/falco-legacy-tests/trace_files/cat_write.scap`;
      const alerts: string[] = [];
      const res = await replayCapture(trace, {
        evaluator: rules,
        onAlerts: (a) => alerts.push(...a.map((x) => x.output)),
        capture: { ...DEFAULT_CAPTURE, enabled: true, pathPrefix: `${dir}/c` },
        recorderClass: CaptureRecorder,
      });
      assertEquals(alerts.length, 1);
      assertEquals(res.captures.length, 1);
      // The capture carries the process list: replaying it alone gives the same alert.
      const again: string[] = [];
      await replayCapture(res.captures[0], {
        evaluator: rules,
        onAlerts: (a) => again.push(...a.map((x) => x.output)),
      });
      assertEquals(again, alerts);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "capture recorder in the agent: capture.enabled in the config saves a file on alert",
  ignore: needsReference(),
  async fn() {
    const { Agent } = await import("../../src/agent/agent.ts");
    const { loadConfig } = await import("../../src/config/load.ts");
    const { buildEngineRules } = await import("../../src/agent/build_rules.ts");
    const { StateStore } = await import("../../src/state/store.ts");
    const { openScapSource } = await import("../../src/sources/scap.ts");
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${dir}/rules.yaml`,
        `
- rule: cat writes null
  desc: cat opens /dev/null
  condition: evt.type = open and evt.dir = < and proc.name = cat and fd.name = /dev/null
  output: "cat opened %fd.name"
  priority: WARNING
  capture: true
  capture_duration: 2000
`,
      );
      await Deno.writeTextFile(
        `${dir}/config.yaml`,
        `rules_files: [${dir}/rules.yaml]
stdout_output: {enabled: false}
file_output: {enabled: true, filename: ${dir}/alerts.txt}
alert_store: {enabled: false}
webserver: {enabled: false}
watch_config_files: false
capture: {enabled: true, path_prefix: ${dir}/cap, pre_duration: 0}
`,
      );
      const { config } = await loadConfig({ file: `${dir}/config.yaml`, env: {} });
      const state = new StateStore();
      const trace = `${REFERENCE_DIR}/falco-legacy-tests/trace_files/cat_write.scap`;
      const agent = await Agent.start(config, {
        openSource: async () => await openScapSource(trace, { state }),
        buildRules: buildEngineRules,
        makeState: () => ({ state }),
        registry: new Registry(),
        hostname: "capture-test",
        signals: false,
      });
      assertEquals(await agent.done, 0);
      const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
        n.endsWith(".scap")
      );
      assertEquals(files.length, 1);
      assert(files[0].startsWith("cap_01470327477882054739_"), files[0]);
      const evs = await eventsOf(`${dir}/${files[0]}`);
      assertEquals(evs[0].ts, 1470327477882054739n);
      assert(evs.length > 10);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
