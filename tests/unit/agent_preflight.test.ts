/**
 * The preflight checks' pure parts: which capabilities an effective set lacks (CAP_SYS_ADMIN
 * standing in for BPF and PERFMON, as the kernel allows), fields of /proc/self/status, the host
 * root from SAKER_HOST_ROOT, and the one-line messages naming the keys that fix them.
 */
import { assertEquals, assertMatch } from "../support/assert.ts";
import {
  capabilityProblem,
  hostRootFrom,
  hostRootProblem,
  missingCapabilities,
  onHost,
  seccompHint,
  statusField,
} from "../../src/agent/preflight.ts";

const bit = (...bits: number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n).toString(16);

Deno.test("preflight: missing capabilities from CapEff", () => {
  const cases: [string, string[]][] = [
    ["000001ffffffffff", []], // full root
    [bit(39, 38, 19, 2), []], // exactly the agent's four
    [bit(39, 19, 2), ["PERFMON"]],
    [bit(21, 19, 2), []], // CAP_SYS_ADMIN stands in for BPF and PERFMON
    [bit(21), ["SYS_PTRACE", "DAC_READ_SEARCH"]],
    ["0", ["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"]],
  ];
  for (const [eff, missing] of cases) assertEquals(missingCapabilities(eff), missing, eff);
});

Deno.test("preflight: status fields and the capability line", () => {
  const status = `Name:\tsaker\nCapEff:\t${bit(39, 19, 2)}\nSeccomp:\t2\n`;
  assertEquals(statusField(status, "Seccomp"), "2");
  assertEquals(statusField(status, "NoSuch"), undefined);
  const line = capabilityProblem(status)!;
  assertMatch(
    line,
    /^missing capability CAP_PERFMON \(attach the probe to tracepoints\): add PERFMON/,
  );
  assertMatch(line, /securityContext\.capabilities\.add.*AmbientCapabilities=/);
  assertEquals(capabilityProblem(`CapEff:\t${bit(39, 38, 19, 2)}\n`), undefined);
  assertMatch(seccompHint(status)!, /seccompProfile\.type: Unconfined/);
  assertEquals(seccompHint("Seccomp:\t0\n"), undefined);
});

Deno.test("preflight: host root", () => {
  assertEquals(hostRootFrom(undefined), "/");
  assertEquals(hostRootFrom(""), "/");
  assertEquals(hostRootFrom("/host/"), "/host");
  assertEquals(onHost("/", "/proc"), "/proc");
  assertEquals(onHost("/host", "/run/podman/podman.sock"), "/host/run/podman/podman.sock");
  assertEquals(hostRootProblem("/"), undefined);
  assertMatch(hostRootProblem("/nonexistent-host-root")!, /is not mounted: .*hostPath/);
  const dir = Deno.makeTempDirSync({ prefix: "saker-hostroot-" });
  try {
    assertMatch(hostRootProblem(dir)!, /has no .*\/proc: mount the host's \/ there read-only/);
    // A host root whose /proc is this one: same PID namespace, nothing to say.
    Deno.symlinkSync("/proc", `${dir}/proc`);
    assertEquals(hostRootProblem(dir), undefined);
    assertMatch(hostRootProblem(dir, 999_999_999)!, /not in the host's PID namespace.*hostPID/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
