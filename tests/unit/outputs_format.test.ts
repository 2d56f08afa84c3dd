import { assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import type { Alert } from "../../src/rules/alert.ts";
import {
  AlertFormatter,
  iso8601Nano,
  rfc3339Nano,
  timeOfDayNano,
} from "../../src/outputs/format.ts";

const utc = () => 0;

// The alert behind Falco's reference output files (cat_write.scap, rule open_from_cat).
function catAlert(time: bigint): Alert {
  return {
    time,
    rule: "open_from_cat",
    priority: "Warning",
    source: "syscall",
    tags: ["process", "filesystem", "testing"],
    output: "An open was seen (command=cat /dev/null)",
    outputFields: { "proc.cmdline": "cat /dev/null" },
  };
}

const TIMES = [
  1470327477881781397n,
  1470327477881785348n,
  1470327477881796705n,
  1470327477881799840n,
  1470327477882003104n,
  1470327477882008208n,
  1470327477882045694n,
  1470327477882054739n,
];

Deno.test("format: text lines equal Falco's reference output (ISO 8601)", {
  ignore: needsReference(),
}, async () => {
  const expected = (await Deno.readTextFile(
    `${REFERENCE_DIR}/falco-legacy-tests/output_files/single_rule_with_cat_write.txt`,
  )).trimEnd().split("\n");
  const f = new AlertFormatter({ hostname: "test-falco-hostname", timeFormatIso8601: true });
  assertEquals(TIMES.map((t) => f.text(catAlert(t))), expected);
});

Deno.test("format: JSON objects equal Falco's reference output", {
  ignore: needsReference(),
}, async () => {
  const lines = (await Deno.readTextFile(
    `${REFERENCE_DIR}/falco-legacy-tests/output_files/single_rule_with_cat_write.json`,
  )).trimEnd().split("\n");
  const f = new AlertFormatter({ hostname: "test-falco-hostname", timeFormatIso8601: true });
  for (let i = 0; i < TIMES.length; i++) {
    const ours = f.json(catAlert(TIMES[i]));
    assertEquals(JSON.parse(ours), JSON.parse(lines[i]));
    // The nanosecond time in output_fields is printed exactly, not through a double.
    assertEquals(ours.includes(`"evt.time.iso8601":${TIMES[i]}`), true, ours);
  }
});

Deno.test("format: JSON keys are sorted and typed; tags sorted and unique", () => {
  const f = new AlertFormatter({ hostname: "h", localOffsetMinutes: utc });
  const a: Alert = {
    time: 1700000000123456789n,
    rule: "R",
    priority: "Critical",
    source: "syscall",
    tags: ["b", "a", "b"],
    output: "x",
    outputFields: { "proc.pid": 42, "fd.name": null, "evt.is_io": true, "proc.name": "sh" },
  };
  assertEquals(
    f.json(a),
    `{"hostname":"h","output":"22:13:20.123456789: Critical x","output_fields":{` +
      `"evt.is_io":true,"evt.time":1700000000123456789,"fd.name":null,"proc.name":"sh",` +
      `"proc.pid":42},"priority":"Critical","rule":"R","source":"syscall","tags":["a","b"],` +
      `"time":"2023-11-14T22:13:20.123456789Z"}`,
  );
  const lean = new AlertFormatter({
    hostname: "h",
    localOffsetMinutes: utc,
    includeOutput: false,
    includeTags: false,
    includeOutputFields: false,
    includeMessage: true,
  });
  assertEquals(
    lean.json(a),
    `{"hostname":"h","message":"x","priority":"Critical","rule":"R","source":"syscall",` +
      `"time":"2023-11-14T22:13:20.123456789Z"}`,
  );
});

Deno.test("format: text escapes control characters and quotes, keeps UTF-8", () => {
  const f = new AlertFormatter({ hostname: "h", localOffsetMinutes: utc });
  const a: Alert = {
    time: 0n,
    rule: "R",
    priority: "Notice",
    source: "syscall",
    tags: [],
    output: 'cmd="a\nb" naïve\t\\',
    outputFields: {},
  };
  assertEquals(f.text(a), '00:00:00.000000000: Notice cmd=\\"a\\nb\\" naïve\\t\\\\');
  // JSON carries the raw output once, escaped by JSON itself.
  assertEquals(JSON.parse(f.json(a)).output, '00:00:00.000000000: Notice cmd="a\nb" naïve\t\\');
});

Deno.test("format: internal alerts follow Falco's message shape", () => {
  const f = new AlertFormatter({ hostname: "h", localOffsetMinutes: utc, timeFormatIso8601: true });
  const a: Alert = {
    time: 1_000_000_001n,
    rule: "Falco internal: syscall event drop",
    priority: "Debug",
    source: "internal",
    tags: [],
    output: "Falco internal: syscall event drop. 9 system calls dropped in last second.",
    outputFields: { n_evts: "100", n_drops: "9", ebpf_enabled: "1" },
  };
  assertEquals(
    f.text(a),
    "00:00:01.000000001: Debug Falco internal: syscall event drop. 9 system calls dropped in " +
      'last second. (ebpf_enabled="1" n_drops="9" n_evts="100")',
  );
  assertEquals(
    f.json(a),
    `{"hostname":"h","output":"Falco internal: syscall event drop. 9 system calls dropped in ` +
      `last second.","output_fields":{"ebpf_enabled":"1","n_drops":"9","n_evts":"100"},` +
      `"priority":"Debug","rule":"Falco internal: syscall event drop","source":"internal",` +
      `"time":"1970-01-01T00:00:01.000000001Z"}`,
  );
});

Deno.test("format: time helpers", () => {
  assertEquals(rfc3339Nano(1470327477881781397n), "2016-08-04T16:17:57.881781397Z");
  assertEquals(iso8601Nano(1470327477000000005n), "2016-08-04T16:17:57.000000005+0000");
  assertEquals(timeOfDayNano(1470327477881781397n, () => 120), "18:17:57.881781397");
  assertEquals(timeOfDayNano(1470327477881781397n, () => -17 * 60), "23:17:57.881781397");
});
