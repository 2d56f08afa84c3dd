/**
 * Kernel predicates on the real kernel.
 *
 * Audit: the probe loaded with `predicateAudit` marks (instead of dropping) every record its
 * predicates would drop; a python workload opens files by absolute, relative (working directory
 * and directory fd), dotted, doubled-slash and over-long paths, reads watched files, writes log
 * files, connects and sends over TCP, UDP, IPv6 and unix sockets. Every event goes through the
 * real state store and the rules: no marked event may raise an alert, and the probe may drop only
 * what the rules' predicates (evaluated in user space on the same event) drop. The same raw path
 * opened again with other flags and results, and another path of the same length, flags and
 * result, are decided anew each time, also right after each other. Run with Saker's
 * rules and, when the reference material is there, Falco's stable rules.
 *
 * Path cache: the probe keeps the values of an open's path tests by raw path, directory and
 * epochs. With the audit probe, repeated opens must be decided as the path is now after what can
 * change the answer: the working directory renamed into a watched directory, the same relative
 * path in another working directory or through a directory fd, and predicates reloaded (twice,
 * so that the same program generation comes back with other sets).
 *
 * Storm: `saker run` with Falco's stable rules (or a one-rule file without the reference
 * material) while a process opens and closes a file no rule names 50 000 times: the opens are
 * dropped in the kernel (saker_kernel_filtered_total), the closes are not even captured (no rule
 * reads fd history of files), almost nothing reaches user space, and a watched file read right
 * after still alerts.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { startSaker, waitFor } from "../support/agent_process.ts";
import { PYTHON } from "../support/live.ts";
import { openLiveSource } from "../../src/sources/live.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { deriveKernelPredicates, predicateKeeps } from "../../src/rules/kernel_filter.ts";
import { kernelPrograms } from "../../src/rules/kernel_program.ts";
import { StateStore } from "../../src/state/store.ts";
import { ProcFs, seedFromProc } from "../../src/state/seed.ts";
import { type Event, RECORD_PRED_DROP } from "../../src/events/event.ts";
import { selectSyscalls } from "../../src/events/syscalls.ts";
import { kernelDirOf } from "../../src/state/resolve.ts";
import "../../src/rules/fields/mod.ts";

const ignore = needsRoot();

const WORKLOAD = `
import os, socket, sys
T = sys.argv[1]
quiet = T + "/quiet.txt"
open(quiet, "w").write("x")
os.makedirs(T + "/sub/deeper", exist_ok=True)
for i in range(2000):
    os.close(os.open(quiet, os.O_RDONLY))
def tryopen(p, flags=os.O_RDONLY, **kw):
    try:
        os.close(os.open(p, flags, **kw))
    except OSError:
        pass
os.chdir(T)
for p in ["quiet.txt", "./quiet.txt", "sub/../quiet.txt", "sub//deeper", ".hidden", "missing",
          "sub/deeper/../../quiet.txt", "/" + "a" * 300, T + "/" + "b" * 300, "", "/"]:
    tryopen(p)
d = os.open(T + "/sub", os.O_RDONLY | os.O_DIRECTORY)
for p in ["deeper", "x.txt", "../quiet.txt", "./deeper/"]:
    tryopen(p, os.O_RDONLY | os.O_CREAT, dir_fd=d)
os.close(d)
for p in ["/etc/shadow", "/etc/sudoers", "/etc/pam.conf", "/etc/ssh/sshd_config", "/etc/passwd",
          "/root/.ssh/id_rsa", "/root/.aws/credentials", "/etc/../etc/shadow", "/etc//shadow",
          "/etc/sudoers.d", "/etc/pam.d/common-auth", "/etc/ld.so.preload"]:
    tryopen(p)
os.chdir("/etc")
tryopen("shadow")
tryopen("./shadow")
os.chdir(T)
e = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
tryopen("shadow", dir_fd=e)
tryopen("../etc/shadow", dir_fd=e)
os.close(e)
for n in ["out.log", "syslog", "auth.log", "release_agent"]:
    tryopen(T + "/" + n, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
# One raw path again and again with other flags and results (the probe's memo of the last
# open's decision must tell them apart): auth.log read (dropped) and written (kept); id_rsa
# through "../" written while it exists (dropped) and while it does not (a failed open: kept);
# and another path of the same length, flags and result just before (auth.lox written: dropped).
open(T + "/auth.lox", "w").close()
for i in range(20):
    tryopen(T + "/auth.log")
    tryopen(T + "/auth.lox", os.O_WRONLY)
    tryopen(T + "/auth.log", os.O_WRONLY)
    if i % 2:
        open(T + "/id_rsa", "w").close()
    elif os.path.exists(T + "/id_rsa"):
        os.unlink(T + "/id_rsa")
    tryopen(T + "/sub/../id_rsa", os.O_WRONLY)
    tryopen(T + "/sub/../id_rsa", os.O_WRONLY)
# The same raw path right after itself, with nothing opened in between: auth.log read (dropped),
# then written (kept); read and written while it does not exist (failed: dropped), then written
# while it does (kept). The file goes and comes by unlink and mknod, which open nothing.
for i in range(10):
    tryopen(T + "/auth.log")
    tryopen(T + "/auth.log", os.O_WRONLY)
    os.unlink(T + "/auth.log")
    tryopen(T + "/auth.log")
    tryopen(T + "/auth.log", os.O_WRONLY)
    os.mknod(T + "/auth.log")
    tryopen(T + "/auth.log", os.O_WRONLY)
s = socket.socket(); s.connect_ex(("127.0.0.1", 1)); s.close()
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
s = socket.socket(); s.connect(l.getsockname()); s.sendall(b"x"); s.close(); l.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.1", 9)); u.sendto(b"x", ("10.1.2.3", 9)); u.connect(("10.1.2.3", 53))
u.send(b"x"); u.close()
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); v.sendto(b"x", ("::1", 9)); v.close()
w = socket.socket(socket.AF_UNIX); w.connect_ex("/run/saker-none.sock"); w.close()
n = socket.socket(); n.setblocking(False); n.connect_ex(("192.0.2.1", 80)); n.close()
n = socket.socket(socket.AF_INET6); n.setblocking(False); n.connect_ex(("2001:db8::1", 22)); n.close()
`;

/** Runs the workload under the audit probe; returns what the rules and the probe said. */
async function audit(rulesPaths: string[]) {
  const loaded = await loadRulesFiles(rulesPaths);
  const rs = compileRuleset(loaded, { ruleMatching: "all" });
  const preds = deriveKernelPredicates(loaded.rules);
  // Programs on everything the rules have a predicate for (audit mode drops nothing, so state
  // still sees every event).
  const { filter, applied } = kernelPrograms(preds, new Set());
  const names = selectSyscalls(rs.syscalls(), { custom_set: [], repair: false, all: false }).names;
  const src = await openLiveSource({
    syscalls: names,
    withState: true,
    predicateAudit: true,
    ringBytes: 32 << 20,
  });
  src.setKernelFilter(names, filter);
  const proc = new ProcFs("/proc");
  const state = new StateStore({ proc });
  seedFromProc(state, proc);
  const dir = await Deno.makeTempDir({ prefix: "saker-pred-" });
  const failures: string[] = [];
  const marked = new Map<string, number>();
  const alerts: string[] = [];
  let events = 0;
  let pid = -1;
  let exited = false;
  const reader = src.readable.getReader();
  const consume = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const ev of value) {
        state.update(ev);
        if (ev.pid !== pid) continue;
        events++;
        if (ev.name === "procexit") exited = true;
        const drop = (ev.flags & RECORD_PRED_DROP) !== 0;
        const hits: string[] = [];
        rs.evaluate(ev, (a) => hits.push(a.rule));
        alerts.push(...hits.map((h) => `${h}: ${describe(ev)}`));
        if (!drop) continue;
        marked.set(ev.name, (marked.get(ev.name) ?? 0) + 1);
        if (hits.length > 0) failures.push(`dropped but alerts (${hits}): ${describe(ev)}`);
        const p = preds.get(ev.type);
        if (p === undefined || predicateKeeps(p, ev)) {
          failures.push(`the probe drops what the rules' predicate keeps: ${describe(ev)}`);
        }
      }
    }
  })();
  try {
    const child = new Deno.Command(PYTHON, {
      args: ["-c", WORKLOAD, dir],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    pid = child.pid;
    const out = await child.output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    await waitFor("the workload's exit event", () => exited, 15_000);
  } finally {
    await src.close();
    await consume.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
  return { failures, marked, alerts, events, applied };
}

function describe(ev: Event): string {
  const name = ev.arg("name");
  return `${ev.name} res=${ev.res}${typeof name === "string" ? ` name=${name.slice(0, 60)}` : ""}` +
    ` fd.name=${String(ev.fdInfo?.name ?? "").slice(0, 60)}`;
}

Deno.test({
  name: "kernel predicates (audit): Saker's rules; no event the probe would drop raises an alert",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await audit([`${REPO_ROOT}rules`]);
    assertEquals(r.failures.slice(0, 20), []);
    assert(r.applied.includes("openat"), r.applied.join());
    assert((r.marked.get("openat") ?? 0) >= 2000, `quiet opens marked: ${r.marked.get("openat")}`);
    assert(
      r.alerts.some((a) => a.includes("name=/etc/shadow")),
      `reading /etc/shadow alerts:\n${r.alerts.join("\n")}`,
    );
    console.log(`events ${r.events}, marked ${JSON.stringify(Object.fromEntries(r.marked))}`);
  },
});

Deno.test({
  name: "kernel predicates (audit): Falco's stable rules; no event the probe would drop alerts",
  ignore: ignore || REFERENCE_DIR === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await audit([`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`]);
    assertEquals(r.failures.slice(0, 20), []);
    assert((r.marked.get("openat") ?? 0) >= 2000, `quiet opens marked: ${r.marked.get("openat")}`);
    assert(
      r.alerts.some((a) => a.startsWith("Read sensitive file untrusted")),
      `reading /etc/shadow alerts:\n${r.alerts.join("\n")}`,
    );
    console.log(`events ${r.events}, marked ${JSON.stringify(Object.fromEntries(r.marked))}`);
  },
});

/** A rules file watching reads below `dir` (fd.name startswith), compiled to probe programs. */
async function watchPrograms(tmp: string, name: string, dir: string) {
  const path = `${tmp}/${name}.yaml`;
  await Deno.writeTextFile(
    path,
    `- rule: cache watch ${name}
  desc: reads below a directory
  condition: evt.type in (open, openat) and evt.is_open_read = true and fd.name startswith ${dir}/
  output: "read %fd.name"
  priority: WARNING
`,
  );
  const loaded = await loadRulesFiles([path]);
  compileRuleset(loaded, {});
  return kernelPrograms(deriveKernelPredicates(loaded.rules), new Set()).filter;
}

Deno.test({
  name: "kernel predicates: the path cache decides as the path is now, after a rename of the " +
    "working directory, in another directory and after reloads",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "saker-pcache-" });
    const T = `${tmp}/t`;
    await Deno.mkdir(`${T}/a`, { recursive: true });
    await Deno.mkdir(`${T}/other`);
    for (const f of [`${T}/a/f`, `${T}/other/f`, `${T}/q.txt`]) await Deno.writeTextFile(f, "x");
    const watched = await watchPrograms(tmp, "watched", `${T}/watched`);
    const quiet = await watchPrograms(tmp, "none", `${tmp}/nothing`);
    const qwatch = await watchPrograms(tmp, "q", T);
    const src = await openLiveSource({
      syscalls: new Set(["openat"]),
      withState: false,
      predicateAudit: true,
    });
    // Per phase (a python process under one set of programs): each open of the test's files,
    // named as the kernel resolved it (the record's directory of a relative path; user space
    // keeps naming a relative path after the working directory as chdir gave it, as libsinsp
    // does), and whether the probe would have dropped it.
    const seen: { phase: number; path: string; dropped: boolean }[] = [];
    let current = { phase: -1, pid: -1, exited: false };
    const reader = src.readable.getReader();
    const consume = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const ev of value) {
          if (ev.pid !== current.pid) continue;
          if (ev.name === "procexit") current.exited = true;
          if (ev.name !== "openat" || (ev.res ?? -1) < 0) continue;
          const i = ev.info.paramIndex.get("name")!;
          const raw = String(ev.param(i));
          const path = raw.startsWith("/") ? raw : `${kernelDirOf(ev, i)}/${raw}`;
          if (!path.startsWith(`${T}/`)) continue;
          seen.push({
            phase: current.phase,
            path: path.slice(T.length + 1),
            dropped: (ev.flags & RECORD_PRED_DROP) !== 0,
          });
        }
      }
    })();
    const phase = async (n: number, programs: typeof watched, script: string) => {
      src.setKernelFilter(new Set(["openat"]), programs);
      const child = new Deno.Command(PYTHON, {
        args: ["-c", `import os\nT = ${JSON.stringify(T)}\n${script}`],
        stderr: "piped",
      }).spawn();
      current = { phase: n, pid: child.pid, exited: false };
      const out = await child.output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      await waitFor(`phase ${n}'s exit`, () => current.exited, 15_000);
    };
    const opens = (path: string, extra = "") =>
      `for i in range(3): os.close(os.open(${JSON.stringify(path)}, os.O_RDONLY${extra}))\n`;
    try {
      // 0: "f" in the working directory, which is then renamed into the watched directory; the
      // same relative path in another directory, through a directory fd, and from above.
      await phase(
        0,
        watched,
        `os.chdir(T + "/a")\n${opens("f")}os.rename(T + "/a", T + "/watched")\n${opens("f")}` +
          `os.chdir(T + "/other")\n${opens("f")}d = os.open(T + "/watched", os.O_RDONLY)\n` +
          opens("f", ", dir_fd=d") + `os.chdir(T)\n${opens("watched/f")}${opens("q.txt")}`,
      );
      // 1-4: the same absolute path under programs that drop it, keep it, drop it, keep it (the
      // program generation alternates: 3 runs where 1 ran, 4 where 2 ran).
      await phase(1, quiet, opens(`${T}/q.txt`));
      await phase(2, qwatch, opens(`${T}/q.txt`));
      await phase(3, watched, opens(`${T}/q.txt`));
      await phase(4, qwatch, opens(`${T}/q.txt`));
    } finally {
      await src.close();
      await consume.catch(() => {});
      await Deno.remove(tmp, { recursive: true });
    }
    const tally: Record<string, number> = {};
    for (const s of seen) {
      const k = `${s.phase} ${s.path} ${s.dropped ? "dropped" : "kept"}`;
      tally[k] = (tally[k] ?? 0) + 1;
    }
    assertEquals(tally, {
      "0 a/f dropped": 3,
      "0 watched dropped": 1, // the directory fd
      "0 watched/f kept": 9,
      "0 other/f dropped": 3,
      "0 q.txt dropped": 3,
      "1 q.txt dropped": 3,
      "2 q.txt kept": 3,
      "3 q.txt dropped": 3,
      "4 q.txt kept": 3,
    });
  },
});

/** The value of a metric without labels in a Prometheus text. */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

Deno.test({
  name: "kernel predicates: a storm of opens no rule cares about stays in the kernel, " +
    "a watched file still alerts",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-storm-" });
    const watched = `${dir}/watched.txt`;
    const quiet = `${dir}/quiet.txt`;
    await Deno.writeTextFile(watched, "w\n");
    await Deno.writeTextFile(quiet, "q\n");
    await Deno.writeTextFile(
      `${dir}/watch.yaml`,
      `- rule: saker storm watched file
  desc: reads of the watched file
  condition: evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.name = ${watched}
  output: "watched file read by %proc.name (file=%fd.name)"
  priority: WARNING
`,
    );
    const stable = REFERENCE_DIR ? `${REFERENCE_DIR}/falco-rules/falco_rules.yaml, ` : "";
    const run = await startSaker(
      dir,
      `rules_files: [${stable}${dir}/watch.yaml]\nstdout_output: {enabled: true}\n`,
    );
    try {
      const metrics = async () => await (await fetch(`${run.api}/metrics`)).text();
      const before = await metrics();
      const n = 50_000;
      const storm = await new Deno.Command(PYTHON, {
        args: [
          "-c",
          `import os\nfor i in range(${n}):\n    os.close(os.open(${
            JSON.stringify(quiet)
          }, os.O_RDONLY))\n` +
          `os.close(os.open(${JSON.stringify(watched)}, os.O_RDONLY))`,
        ],
      }).output();
      assert(storm.success);
      const line = await waitFor(
        "the watched file's alert",
        () => run.stdout().split("\n").find((l) => l.includes(`file=${watched}`)),
        20_000,
      );
      assert(line.includes("watched file read by python3"), line);
      // The agent reads the probe's counters at most every 200 ms: a storm the probe drops
      // quickly can be over before the next read.
      const dropped = (text: string) =>
        metric(text, "saker_kernel_filtered_total") - metric(before, "saker_kernel_filtered_total");
      const after = await waitFor("the storm in saker_kernel_filtered_total", async () => {
        const text = await metrics();
        return dropped(text) >= n ? text : undefined;
      }, 5_000).catch(metrics);
      const filtered = dropped(after);
      const received = metric(after, "saker_events_received_total") -
        metric(before, "saker_events_received_total");
      console.log(
        `storm of ${n} opens+closes: ${filtered} dropped in the kernel, ${received} ` +
          `events reached user space`,
      );
      assert(filtered >= n, `the storm's opens were dropped in the kernel (${filtered})`);
      assert(received < n / 10, `few events reached user space (${received})`);
    } finally {
      await run.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
