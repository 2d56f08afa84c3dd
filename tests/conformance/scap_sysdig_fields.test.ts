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
 * - proc.pid, user.uid: threads the capture never introduced (no process list entry, no
 *   clone): sysdig 0.29 shows no pid; the state store takes the tid as the pid (src/state).
 *   privileged.scap: sysdig 0.29 makes a pseudo-thread for a container metadata event (tid
 *   -1); the state store tracks no thread for it.
 * - fd.*: fd association of events that name an fd but do not use it (mmap), fd.typechar of
 *   open enter events, l4proto of a socket before it connects, unix socket and unspecified
 *   address names (libsinsp fills in a local address from the interface list) (src/state,
 *   src/rules/fields/fd.ts).
 * - evt.type of generic events: the syscall name from the event's code (src/rules/fields).
 */
const OPEN: Record<string, Record<string, number>> = {
  "cat_write.scap": {
    "fd.num": 20,
    "fd.typechar": 20,
    "fd.name": 14,
  },
  "connect_localhost.scap": {
    "fd.l4proto": 2,
  },
  "privileged.scap": {
    "proc.pid": 1,
    "proc.name": 1,
    "proc.cmdline": 1,
    "proc.exe": 1,
    "user.name": 1,
    "user.uid": 1,
  },
  "run_as_user_0_container.scap": {
    "proc.pid": 172,
    "user.uid": 172,
    "proc.cmdline": 47,
    "fd.cport": 24,
    "fd.num": 32,
    "fd.typechar": 32,
    "fd.name": 27,
  },
  "curl_google.scap": {
    "fd.num": 221,
    "fd.typechar": 221,
    "fd.name": 191,
    "fd.l4proto": 12,
    "proc.pname": 158,
    "fd.sip": 1,
    "fd.sport": 1,
    "fd.cip": 1,
    "fd.cport": 1,
  },
  "sample.scap": {
    "proc.pid": 23,
    "user.uid": 23,
    "fd.cport": 4,
  },
  "single_ipv6_conn.scap": {
    "fd.l4proto": 6,
    "fd.cport": 3,
    "fd.name": 2,
  },
  "test_ipv6_client.scap": {
    "fd.num": 14,
    "fd.typechar": 14,
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
