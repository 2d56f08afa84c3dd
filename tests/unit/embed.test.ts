/**
 * The embedded form of Saker's run-time files (scripts/embed.ts, src/assets.ts): every file
 * comes back byte for byte from its gzip and base64 form, the table of them is built only when
 * a command first reads an asset, and compressible files take less room than their base64.
 * The generated module runs in a Deno process of its own, as in the bundle and the binary
 * (the registration is process-wide).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { assetsModule } from "../../scripts/embed.ts";

Deno.test("embed: files come back byte for byte, the table is built at the first read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-embed-" });
  try {
    const random = crypto.getRandomValues(new Uint8Array(50_000));
    const rules = await Deno.readFile(`${REPO_ROOT}rules/20_filesystem.yaml`);
    const files = new Map<string, Uint8Array>([
      ["probe.bpf.o", random],
      ["rules/20_filesystem.yaml", rules],
      ["web/empty.txt", new Uint8Array()],
    ]);
    const stamp = {
      version: "0.0.0",
      commit: "c",
      probeSha256: "p",
      builtAt: "2026-01-01T00:00:00.000Z",
      form: "bundle",
    };
    const module = await assetsModule(files, stamp);
    // Compressed: the rules file's base64 alone would be 4/3 of its size.
    const rulesLine = module.split("\n").find((l) => l.includes('"rules/20_filesystem.yaml"'))!;
    assert(rulesLine.length < rules.length / 2, `${rulesLine.length} >= ${rules.length / 2}`);
    await Deno.writeTextFile(`${dir}/assets.gen.ts`, module);
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      [
        `import { listAssets, readAsset, useEmbedded, buildStamp } from "${REPO_ROOT}src/assets.ts";`,
        `import { files, STAMP } from "./assets.gen.ts";`,
        "let calls = 0;",
        "useEmbedded(() => (calls++, files()), STAMP);",
        "const before = calls;",
        "const stamp = buildStamp();",
        "const out: Record<string, number[]> = {};",
        "for (const n of listAssets('rules/').concat(listAssets('web/'), ['probe.bpf.o'])) {",
        "  out[n] = [...readAsset(n)!];",
        "}",
        "console.log(JSON.stringify({ before, calls, stamp, out, missing: readAsset('nope') }));",
      ].join("\n"),
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", `${dir}/main.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(r.success, new TextDecoder().decode(r.stderr));
    const got = JSON.parse(new TextDecoder().decode(r.stdout));
    assertEquals(got.before, 0, "the table was built before any asset was read");
    assertEquals(got.calls, 1, "the table is built once");
    assertEquals(got.stamp, stamp);
    assertEquals(got.missing, undefined);
    assertEquals(Object.keys(got.out).sort(), [...files.keys()].sort());
    for (const [name, bytes] of files) {
      assertEquals(new Uint8Array(got.out[name]), bytes, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
