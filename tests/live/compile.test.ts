/**
 * `deno task compile` builds one binary with the probe and rules embedded. It needs Deno's
 * denort runtime (downloaded, or DENORT_BIN); machines without either skip visibly.
 */
import { assertEquals, assertMatch } from "../support/assert.ts";
import { IS_ROOT, REPO_ROOT, skipNote } from "../support/env.ts";

const denort = Deno.env.get("DENORT_BIN");
const ignore = !denort;
if (ignore) skipNote("DENORT_BIN is not set: the single-binary test needs a denort runtime");

Deno.test({
  name: "compile: the binary runs version and loads its embedded probe",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-compile-" });
    try {
      const out = `${dir}/saker`;
      const build = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${REPO_ROOT}scripts/compile.ts`, "--output", out],
      }).output();
      assertEquals(build.code, 0, new TextDecoder().decode(build.stderr));
      const v = await new Deno.Command(out, { args: ["version"], cwd: dir, stdout: "piped" })
        .output();
      assertMatch(new TextDecoder().decode(v.stdout), /saker_version: /);
      if (IS_ROOT) {
        // Run from an empty directory: the probe object must come from inside the binary.
        const c = await new Deno.Command(out, {
          args: ["capture", "-n", "1", "-M", "5"],
          cwd: dir,
          stdout: "piped",
        }).output();
        assertEquals(c.code, 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
