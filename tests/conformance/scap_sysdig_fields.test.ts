/**
 * Saker's replay against sysdig 0.29 on every reference capture, event by event: for each
 * event sysdig prints, the same fields (process, parent, command line, fd, addresses, user)
 * printed by `saker replay -p` must agree.
 *
 * Differences are of two kinds:
 * - deliberate: listed in DELIBERATE with the reason; matched precisely per event;
 * - open: gaps in the state tracking or fields that sysdig 0.29 handles and Saker does not
 *   yet. They are counted per capture and field in OPEN; the test fails when a count grows or a
 *   new kind appears (a regression), and says when one shrinks (lower the count then).
 *
 * Run `UPDATE_SYSDIG_BASELINE=1 deno test -A tests/conformance/scap_sysdig_fields.test.ts` to
 * print the current open counts.
 */
import { assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, skipNote } from "../support/env.ts";
import { compareCapture, COMPARED_FIELDS, type Difference } from "./sysdig_compare.ts";

function hasSysdig(): boolean {
  try {
    return new Deno.Command("sysdig", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const SYSDIG = hasSysdig();
if (!SYSDIG) skipNote("sysdig is not installed: replay is not compared with sysdig");

const FD_NUM = COMPARED_FIELDS.indexOf("fd.num");

/** Differences that are intended, each with the reason. */
const DELIBERATE: { reason: string; match: (d: Difference) => boolean }[] = [
  {
    reason: "An exit event whose enter event precedes the capture: sysdig 0.29 takes the fd of " +
      "the thread's last enter event, which it initialises to 0, so it shows fd 0; Saker does " +
      "not guess an fd the event does not name.",
    match: (d) =>
      d.facts?.orphanExit === true && d.field.startsWith("fd.") && d.sysdigRow[FD_NUM] === "0",
  },
  {
    reason: "Users of container processes: sysdig 0.29 resolves every uid in the capture's one " +
      "user list (the host's); Saker, like current libsinsp, keeps users per container and the " +
      "capture's list belongs to the host, so a container's uid has no name unless the capture " +
      "carries the container's users.",
    match: (d) =>
      d.field === "user.name" && (d.facts?.container ?? "") !== "" && d.saker === "<NA>",
  },
  {
    reason: "Generic syscall events name the syscall from its code: codes newer than sysdig " +
      "0.29 print <unknown> there, and some syscalls were renamed since (sigreturn is now " +
      "rt_sigreturn).",
    match: (d) =>
      d.field === "evt.type" && d.facts?.generic === true &&
      (d.sysdig === "<unknown>" || (d.sysdig === "sigreturn" && d.saker === "rt_sigreturn")),
  },
];

/**
 * Open differences, per capture and field: current counts. Causes, by field:
 * - proc.name/exe/cmdline, user.name/uid, proc.pid: threads the capture never introduced
 *   (no process list entry, no clone): libsinsp makes a placeholder named <NA> with uid -1;
 *   the state store creates an unnamed thread with uid 0 (src/state).
 * - proc.pname: processes that appear through execve only: libsinsp takes the parent from the
 *   execve exit's ptid parameter (src/state).
 * - fd.*: fd association of events that name an fd but do not use it (mmap), fd.typechar of
 *   open enter events, l4proto of a socket before it connects, unix socket and unspecified
 *   address names (libsinsp fills in a local address from the interface list) (src/state,
 *   src/rules/fields/fd.ts).
 * - evt.type of generic events: the syscall name from the event's code (src/rules/fields).
 */
const OPEN: Record<string, Record<string, number>> = {
  "cat_write.scap": {
    "proc.pname": 85,
    "user.name": 85,
    "user.uid": 85,
    "fd.num": 20,
    "fd.typechar": 24,
    "fd.name": 14,
  },
  "connect_localhost.scap": {
    "proc.name": 4,
    "proc.cmdline": 4,
    "proc.exe": 4,
    "user.name": 4,
    "user.uid": 4,
    "fd.l4proto": 2,
  },
  "open-multiple-files.scap": {
    "fd.typechar": 13,
  },
  "ping_sendto.scap": {
    "proc.name": 20,
    "proc.cmdline": 20,
    "proc.exe": 20,
    "user.name": 20,
    "user.uid": 20,
  },
  "privileged.scap": {
    "proc.name": 1,
    "proc.cmdline": 1,
  },
  "run_as_user_0_container.scap": {
    "proc.pid": 535,
    "proc.name": 535,
    "proc.cmdline": 582,
    "proc.exe": 535,
    "user.name": 535,
    "user.uid": 535,
    "fd.cport": 24,
    "fd.num": 33,
    "fd.typechar": 40,
    "fd.name": 27,
  },
  "run_as_user_65534_container.scap": {
    "proc.name": 1,
    "proc.cmdline": 1,
    "proc.exe": 1,
    "user.name": 1,
    "user.uid": 2,
  },
  "write_tmp_test.scap": {
    "fd.typechar": 1,
  },
  "syscall.scap": {
    "proc.name": 12,
    "proc.cmdline": 12,
    "proc.exe": 12,
    "fd.typechar": 4,
    "user.name": 12,
    "user.uid": 12,
  },
  "curl_google.scap": {
    "proc.pname": 1221,
    "user.name": 1063,
    "user.uid": 1063,
    "fd.typechar": 270,
    "fd.num": 223,
    "fd.name": 191,
    "fd.l4proto": 12,
    "fd.sip": 1,
    "fd.sport": 1,
    "fd.cip": 1,
    "fd.cport": 1,
  },
  "sample.scap": {
    "proc.pid": 133,
    "proc.name": 133,
    "proc.cmdline": 133,
    "proc.exe": 133,
    "user.name": 133,
    "user.uid": 133,
    "fd.cport": 4,
  },
  "single_ipv6_conn.scap": {
    "proc.name": 28,
    "proc.cmdline": 28,
    "proc.exe": 28,
    "user.name": 28,
    "user.uid": 28,
    "fd.l4proto": 6,
    "fd.cport": 3,
    "fd.name": 2,
  },
  "test_ipv6_client.scap": {
    "proc.pname": 68,
    "user.name": 68,
    "user.uid": 68,
    "fd.typechar": 16,
    "fd.num": 14,
    "fd.name": 16,
    "fd.l4proto": 2,
    "fd.cip": 2,
    "fd.sip": 4,
    "fd.sport": 4,
  },
};

async function referenceCaptures(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ["falco-legacy-tests/trace_files", "falco-legacy-tests/trace_files/psp"]) {
    for await (const e of Deno.readDir(`${REFERENCE_DIR}/${dir}`)) {
      if (e.isFile && e.name.endsWith(".scap")) out.push(`${dir}/${e.name}`);
    }
  }
  for await (const e of Deno.readDir(`${REFERENCE_DIR}/libs-captures`)) {
    if (e.isFile && e.name.endsWith(".scap")) out.push(`libs-captures/${e.name}`);
  }
  return out.sort();
}

Deno.test({
  name: "replay vs sysdig 0.29: the same fields for every event of every reference capture",
  ignore: !SYSDIG || needsReference(),
  async fn() {
    const files = await referenceCaptures();
    assertEquals(files.length, 15);
    const counts: Record<string, Record<string, number>> = {};
    const deliberate = new Map<string, number>();
    let compared = 0;
    for (const f of files) {
      const res = await compareCapture(`${REFERENCE_DIR}/${f}`);
      compared += res.compared;
      const name = f.split("/").pop()!;
      for (const d of res.differences) {
        const why = DELIBERATE.find((x) => x.match(d));
        if (why) {
          deliberate.set(why.reason, (deliberate.get(why.reason) ?? 0) + 1);
          continue;
        }
        (counts[name] ??= {})[d.field] = (counts[name]?.[d.field] ?? 0) + 1;
      }
    }
    if (Deno.env.get("UPDATE_SYSDIG_BASELINE")) {
      console.log(JSON.stringify(counts, null, 2));
      return;
    }
    const regressions: string[] = [];
    const improvements: string[] = [];
    for (const [file, byField] of Object.entries(counts)) {
      for (const [field, n] of Object.entries(byField)) {
        const allowed = OPEN[file]?.[field] ?? 0;
        if (n > allowed) {
          regressions.push(`${file} ${field}: ${n} differences (allowed ${allowed})`);
        }
      }
    }
    for (const [file, byField] of Object.entries(OPEN)) {
      for (const [field, allowed] of Object.entries(byField)) {
        const n = counts[file]?.[field] ?? 0;
        if (n < allowed) improvements.push(`${file} ${field}: ${n} (was ${allowed})`);
      }
    }
    console.log(
      `replay vs sysdig: ${compared} events compared; deliberate differences: ` +
        [...deliberate.values()].reduce((a, b) => a + b, 0),
    );
    if (improvements.length > 0) {
      console.log(`fewer open differences, lower OPEN:\n  ${improvements.join("\n  ")}`);
    }
    assertEquals(regressions, []);
  },
});
