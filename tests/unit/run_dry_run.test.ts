/**
 * `saker run --dry-run` reports the kernel predicates derived from the rules and which rules need
 * fd history, and leaves out of the syscall set what no rule can match.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";

async function dryRun(rules: string): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}src/main.ts`, "run", "--dry-run", "-r", rules]
      .concat(["-o", "alert_store.enabled=false", "-o", "log_level=error"]),
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout) };
}

Deno.test({
  name: "saker run --dry-run: kernel predicates of Falco's stable rules",
  ignore: needsReference(),
  fn: async () => {
    const { code, out } = await dryRun(`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`);
    assertEquals(code, 0);
    const lines = out.split("\n");
    assert(lines.includes("  sendto: drop all (no rule can match)"), out);
    assert(lines.some((l) => l.startsWith("  openat: keep when (")), out);
    assert(lines.some((l) => l.startsWith('  execve: keep all (rule "')), out);
    const syscalls = lines.find((l) => l.startsWith("syscalls: "))!;
    assert(syscalls.includes(" openat ") && !syscalls.includes("sendto"), syscalls);
    // Only sockets' fd history is read: closes and pipes stay in the kernel, opens are tested
    // there against the rules' paths.
    assert(!syscalls.includes(" close ") && !syscalls.includes(" pipe"), syscalls);
    assert(lines.includes("kernel predicates applied in the probe to: open openat openat2"), out);
    assert(lines.includes("  not applied: connect: state tracking needs every event"), out);
    assert(
      lines.includes(
        "fd history kept: sockets (the other fd calls stay in the kernel); needed by:",
      ),
      out,
    );
  },
});

Deno.test("saker run --dry-run: a rule set needing no fd history says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/r.yaml`,
      "- rule: shell\n  desc: d\n  condition: evt.type = execve and proc.name = sh\n" +
        "  output: shell %proc.cmdline\n  priority: WARNING\n",
    );
    const { code, out } = await dryRun(`${dir}/r.yaml`);
    assertEquals(code, 0);
    // The command name is not decided in the kernel; execve is state's anyway.
    assert(out.includes('\n  execve: keep all (rule "shell")\n'), out);
    assert(
      out.includes(
        "\nfd history kept: none (the other fd calls stay in the kernel); needed by: no rule\n",
      ),
      out,
    );
    const syscalls = out.split("\n").find((l) => l.startsWith("syscalls: "))!;
    assert(!/ (openat|close|socket|dup2) /.test(syscalls), syscalls);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
