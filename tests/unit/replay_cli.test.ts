/**
 * `saker replay` as a user runs it: alerts as text and JSON, -p printing with a filter, the
 * exit status and message of a truncated capture (after replaying everything before the cut),
 * usage errors, and the progress line.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { progressLine } from "../../src/cli/progress.ts";
import { disabledRuleNames } from "../../src/cli/replay_rules.ts";

const TRACE = `${REFERENCE_DIR}/falco-legacy-tests/trace_files/cat_write.scap`;
const RULE = `
- rule: cat opens
  desc: cat opens a file
  condition: evt.type = open and evt.dir = < and proc.name = cat
  output: "cat opened %fd.name (parent %proc.pname)"
  priority: WARNING
  tags: [test]
`;

async function replay(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}src/main.ts`, "replay", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { TZ: "UTC" },
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test({
  name: "saker replay: alerts as text and JSON, events printed with -p and a filter",
  ignore: needsReference(),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/r.yaml`, RULE);
      const text = await replay([TRACE, "-r", `${dir}/r.yaml`, "--no-progress"]);
      assertEquals(text.code, 0, text.err);
      const lines = text.out.trim().split("\n");
      assertEquals(lines.length, 4);
      assertEquals(lines[3], "16:17:57.882054739: Warning cat opened /dev/null (parent bash)");
      assertMatch(text.err, /345 events, 4 alerts/);

      const json = await replay([TRACE, "-r", `${dir}/r.yaml`, "--json", "--no-progress"]);
      const first = JSON.parse(json.out.split("\n")[0]);
      assertEquals([first.rule, first.priority, first.tags], ["cat opens", "Warning", ["test"]]);
      assertEquals(first.output_fields["fd.name"], "/etc/ld.so.cache");

      const printed = await replay([
        TRACE,
        "-p",
        "%evt.num %evt.type %proc.name %fd.name",
        "--no-progress",
        "evt.type = close and proc.name = cat",
      ]);
      assertEquals(printed.code, 0, printed.err);
      const rows = printed.out.trim().split("\n");
      assert(rows.length > 0 && rows.every((r) => /^\d+ close cat( |$)/.test(r)), printed.out);
      assertStringIncludes(printed.out, "147 close cat /etc/ld.so.cache");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker replay: a truncated capture replays up to the cut, then exits 1 naming the block",
  ignore: needsReference(),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const full = await Deno.readFile(`${REFERENCE_DIR}/libs-captures/sample.scap`);
      await Deno.writeFile(`${dir}/cut.scap`, full.subarray(0, full.length - 5000));
      const r = await replay([`${dir}/cut.scap`, "--no-rules", "-p", "%evt.num", "--no-progress"]);
      assertEquals(r.code, 1);
      const nums = r.out.trim().split("\n").map(Number);
      assert(nums.length > 400 && nums.length < 572, `${nums.length} events printed`);
      assertMatch(
        r.err,
        /cut\.scap: truncated file: block of \d+ bytes has only \d+ in event block \(type 0x216\) at byte offset \d+/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("saker replay: usage errors exit 2 with a reason", async () => {
  const none = await replay([]);
  assertEquals(none.code, 2);
  assertStringIncludes(none.err, "a capture file is needed");
  const badField = await replay(["x.scap", "-p", "%proc.nosuchfield"]);
  assertEquals(badField.code, 2);
  assertStringIncludes(badField.err, "invalid -p format");
  const missing = await replay(["/nonexistent/file.scap", "--no-rules"]);
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.err, "no such file");
});

Deno.test("saker replay: -D patterns are regexes over rule names, as Falco's", () => {
  const names = ["open_from_cat", "exec_from_cat", "access_from_cat", "Write below etc"];
  assertEquals(disabledRuleNames(names, ["open.*"]), ["open_from_cat"]);
  assertEquals(disabledRuleNames(names, ["_from_"]), names.slice(0, 3));
  assertEquals(disabledRuleNames(names, ["^Write", "exec"]), ["exec_from_cat", "Write below etc"]);
});

Deno.test("progress line: bar, percentage, counts and rate", () => {
  assertEquals(
    progressLine(50, 100, 1_500_000, 2, 10),
    "[#####-----]  50% 1.5M events 750k/s",
  );
  assertEquals(progressLine(0, 0, 12, 0, 4), "[----]   0% 12 events 0/s");
});
