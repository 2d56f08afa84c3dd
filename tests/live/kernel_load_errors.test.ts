/**
 * Loading failures give one clear line that says what is missing, and a non-zero exit.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { needsRoot, REPO_ROOT } from "../support/env.ts";
import { Probe, ProbeLoadError } from "../../src/kernel/probe.ts";
import { buildProbe } from "../../scripts/build_bpf.ts";

async function capture(env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}src/main.ts`, "capture", "-n", "1"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

Deno.test("load errors: a missing probe object names the build command", async () => {
  const r = await capture({ SAKER_PROBE: "/nonexistent/probe.bpf.o" });
  assertEquals(r.code, 1);
  assertEquals(r.stderr.split("\n").length, 1, r.stderr);
  assertMatch(
    r.stderr,
    /probe object \/nonexistent\/probe\.bpf\.o not found: build it with `deno task build:bpf`/,
  );
});

Deno.test("load errors: a corrupt object is refused with one line, no stack trace", async () => {
  const bad = await Deno.makeTempFile({ suffix: ".o" });
  await Deno.writeFile(bad, new TextEncoder().encode("\x7fELF this is not a BPF object"));
  try {
    const r = await capture({ SAKER_PROBE: bad });
    assertEquals(r.code, 1);
    assertEquals(r.stderr.split("\n").length, 1, r.stderr);
    assertMatch(r.stderr, /^saker capture: cannot open the probe object: /);
  } finally {
    await Deno.remove(bad);
  }
});

Deno.test({
  name: "load errors: a verifier rejection quotes the verifier, not a stack",
  ignore: needsRoot(),
  async fn() {
    const out = await Deno.makeTempFile({ suffix: ".bpf.o" });
    try {
      await buildProbe({ defines: ["SAKER_TEST_VERIFIER_REJECT"], out });
      const err = await Probe.load({ object: await Deno.readFile(out) }).then(
        (p) => {
          p.close();
          return undefined;
        },
        (e) => e,
      );
      assert(err instanceof ProbeLoadError, String(err));
      const msg = (err as Error).message;
      assertMatch(
        msg,
        /^cannot load the probe into the kernel: .+ — the kernel rejected the probe/,
      );
      assertMatch(msg, /memory access|invalid|out of bounds|unbounded/i);
      // The refused program by name (the test build breaks the close handler).
      assertMatch(msg, /\(program sx_close; log_level: debug/);
      assertEquals(msg.includes("\n"), false);
    } finally {
      await Deno.remove(out);
    }
  },
});

Deno.test("load errors: an out-of-range ring size is refused before the kernel sees it", async () => {
  const err = await Probe.load({ ringBytes: 2 ** 32 }).then(() => undefined, (e) => e);
  assert(err instanceof ProbeLoadError, String(err));
  assertMatch(
    (err as Error).message,
    /ring buffer size 4294967296 is out of range: 64 KiB to 1 GiB/,
  );
});
