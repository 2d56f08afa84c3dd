/** `saker validate`, `saker rules list` and `saker fields` run in-process on temp files. */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { main as validate } from "../../src/cli/validate.ts";
import { main as rules } from "../../src/cli/rules.ts";
import { main as fields } from "../../src/cli/fields.ts";

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log, err = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await fn(), out: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = err;
  }
}

const GOOD = `- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: "%proc.name"\n` +
  `  priority: INFO\n  tags: [t]\n`;
const BAD = `- rule: r\n  desc: d\n  condition: evt.type = openat and proc.nam = x\n  output: o\n` +
  `  priority: INFO\n`;

Deno.test("saker validate: Ok / Invalid, snippet with caret, --json, exit codes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/good.yaml`, GOOD);
    await Deno.writeTextFile(`${dir}/bad.yaml`, BAD);
    const ok = await capture(() => validate([`${dir}/good.yaml`]));
    assertEquals(ok.code, 0);
    assertEquals(ok.out, `${dir}/good.yaml: Ok`);
    const bad = await capture(() => validate([`${dir}/bad.yaml`]));
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.out, `${dir}/bad.yaml: Invalid`);
    assertStringIncludes(bad.out, `${dir}/bad.yaml:3:36: error LOAD_ERR_COMPILE_CONDITION`);
    assertStringIncludes(bad.out, "nonexistent field proc.nam");
    assertStringIncludes(bad.out, "|                                    ^");
    const json = await capture(() => validate(["--json", `${dir}/good.yaml`, `${dir}/bad.yaml`]));
    const parsed = JSON.parse(json.out);
    assertEquals(parsed.falco_load_results.map((r: { successful: boolean }) => r.successful), [
      true,
      false,
    ]);
    assertEquals(parsed.falco_load_results[1].errors[0].code, "LOAD_ERR_COMPILE_CONDITION");
    const missing = await capture(() => validate([`${dir}/none.yaml`]));
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.out, "LOAD_ERR_FILE_READ");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saker rules list and saker fields", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/good.yaml`, GOOD);
    const list = await capture(() => rules(["list", "-r", `${dir}/good.yaml`]));
    assertEquals(list.code, 0);
    assertStringIncludes(list.out, "events: openat");
    const listJson = await capture(() => rules(["list", "--json", "-r", `${dir}/good.yaml`]));
    assertEquals(JSON.parse(listJson.out).tags, ["t"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const f = await capture(() => fields(["--json"]));
  const all = JSON.parse(f.out) as { name: string }[];
  for (const name of ["evt.type", "evt.arg", "proc.name", "fd.name", "user.name"]) {
    assert(all.some((x) => x.name === name), name);
  }
  const md = await capture(() => fields(["--markdown"]));
  assertStringIncludes(md.out, "| `evt.type` | charbuf |");
});
