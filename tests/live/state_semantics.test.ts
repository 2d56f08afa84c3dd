/**
 * The state-semantics case table (tests/unit/state_semantics_cases.ts) with the real kernel:
 * each scenario's system calls are made by a Python program under the live probe, the events
 * go through the state store (seeded from /proc) in order, and the fields rules read at the
 * checked calls must hold libsinsp's values, also where the kernel's own view differs.
 */
import { assert } from "../support/assert.ts";
import { needsRoot, skipNote } from "../support/env.ts";
import { PYTHON } from "../support/live.ts";
import { type LiveSource, openLiveSource } from "../../src/sources/live.ts";
import type { Event } from "../../src/events/event.ts";
import { StateStore } from "../../src/state/store.ts";
import { ProcFs, seedFromProc } from "../../src/state/seed.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";
import {
  type Checks,
  type Facts,
  mismatch,
  SEMANTICS_CASES,
  type SemanticsCase,
  type Step,
} from "../unit/state_semantics_cases.ts";

const ignore = needsRoot();
const CGROUP_ROOT = "/sys/fs/cgroup/pids";
/** Whether the cgroup cases can run: they move a process between cgroup v1 pids groups. */
const HAVE_PIDS_V1 = (() => {
  try {
    return Deno.statSync(CGROUP_ROOT).isDirectory;
  } catch {
    return false;
  }
})();
const NS_FLAGS = { CLONE_NEWNS: 0x20000, CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000 };

/** One event of a scenario's processes, with the fields read right after its update. */
interface Seen {
  pid: number;
  type: string;
  res: number;
  args: Record<string, unknown>;
  fields: Record<string, unknown>;
}

function fieldValue(e: Event, ref: string): unknown {
  const f = lookupField(ref);
  if (!f) throw new Error(`unknown field ${ref}`);
  return f.def.extract(e, f.arg);
}

/** Every field a case checks. */
function checkedFields(steps: Step[], out = new Set<string>()): Set<string> {
  for (const s of steps) {
    if ("check" in s && s.check) { for (const f of Object.keys(s.check)) out.add(f); }
    if ((s.op === "fork" || s.op === "exec") && s.steps) checkedFields(s.steps, out);
  }
  return out;
}

/** The live probe feeding a state store; records the events of the processes it follows. */
class Recorder {
  readonly state: StateStore;
  #source: LiveSource;
  #done: Promise<void>;
  #pids = new Set<number>();
  #fields: string[] = [];
  seen: Seen[] = [];

  private constructor(source: LiveSource, state: StateStore) {
    this.#source = source;
    this.state = state;
    this.#done = (async () => {
      for await (const batch of source.readable) {
        for (const ev of batch) {
          state.update(ev);
          if (!this.#pids.has(ev.pid) && !(this.#pids.has(ev.ppid) && ev.name === "clone")) {
            continue;
          }
          this.#pids.add(ev.pid);
          const args: Record<string, unknown> = {};
          for (const p of ev.info.params) args[p.name] = ev.arg(p.name);
          const fields: Record<string, unknown> = {};
          for (const f of this.#fields) fields[f] = fieldValue(ev, f);
          this.seen.push({
            pid: ev.pid,
            type: ev.name,
            res: Number(ev.arg("res") ?? 0),
            args,
            fields,
          });
        }
      }
    })();
  }

  static async start(): Promise<Recorder> {
    const source = await openLiveSource({
      syscalls: new Set([
        "unshare",
        "setresuid",
        "setuid",
        "setgid",
        "chdir",
        "openat",
        "rename",
        "renameat",
        "renameat2",
        "dup2",
        "dup3",
        "fcntl",
        "close",
        "prctl",
        "setsid",
        "setpgid",
      ]),
      ringBytes: 32 << 20,
      pollMs: 2,
      maxDelayMs: 10,
    });
    const reader = new ProcFs();
    const state = new StateStore({ proc: reader });
    seedFromProc(state, reader);
    return new Recorder(source, state);
  }

  /** Follows `pid` and the processes it forks, snapshotting `fields` at each of their events. */
  follow(pid: number, fields: string[]): void {
    this.#pids = new Set([pid]);
    this.#fields = fields;
    this.seen = [];
  }

  /** Waits until the followed process's exit event arrived. */
  async exited(pid: number, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.seen.some((s) => s.pid === pid && s.type === "procexit")) {
      if (Date.now() > end) throw new Error(`no exit event of ${pid}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    await this.#source.close();
    await this.#done;
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario as a Python program.

const PRELUDE = [
  "import ctypes, fcntl, os, sys, termios",
  "libc = ctypes.CDLL(None, use_errno=True)",
  "def devnull():",
  "    os.close(os.open('/dev/null', os.O_RDONLY))",
  "def rewrite_argv(old, new):",
  "    st = open('/proc/self/stat').read()",
  "    arg_start = int(st[st.rindex(')') + 2:].split()[45])",
  "    off = open('/proc/self/cmdline', 'rb').read().index(old.encode())",
  "    with open('/proc/self/mem', 'r+b', buffering=0) as m:",
  "        m.seek(arg_start + off)",
  "        m.write(new.encode())",
  "last = -1",
];

function py(steps: Step[], facts: Facts, indent = ""): string[] {
  const q = (s: string) => JSON.stringify(fillText(s, facts));
  const out: string[] = [];
  const line = (s: string) => out.push(indent + s);
  for (const s of steps) {
    switch (s.op) {
      case "unshare":
        line(`assert (libc.unshare(${NS_FLAGS[s.flags]}) == 0) == ${s.ok ? "True" : "False"}`);
        break;
      case "setresuid":
        line(`os.setresuid(${s.ruid}, ${s.euid}, ${s.suid})`);
        break;
      case "setuid":
        line(`os.setuid(${s.uid})`);
        break;
      case "setgid":
        line(`os.setgid(${s.gid})`);
        break;
      case "loginuid":
        line(`open('/proc/self/loginuid', 'w').write('${s.uid}')`);
        line("devnull()");
        break;
      case "chdir":
        line(`os.chdir(${q(s.path)})`);
        break;
      case "open":
        line(
          s.tmpfile
            ? `last = os.open(${q(s.path)}, os.O_WRONLY | os.O_TMPFILE, 0o600)`
            : s.write
            ? `last = os.open(${q(s.path)}, os.O_WRONLY | os.O_CREAT, 0o644)`
            : `last = os.open(${q(s.path)}, os.O_RDONLY)`,
        );
        break;
      case "rename":
        line(`os.rename(${q(s.from)}, ${q(s.to)})`);
        break;
      case "dup2":
        line(`os.dup2(last, ${s.newfd})`);
        break;
      case "dupfd":
        line(`assert fcntl.fcntl(last, fcntl.F_DUPFD, ${s.min}) == ${s.fd}`);
        break;
      case "close":
        line(`os.close(${s.fd})`);
        break;
      case "prctl_name":
        line(`assert libc.prctl(15, ${JSON.stringify(s.name)}.encode(), 0, 0, 0) == 0`);
        break;
      case "argv":
        line(`rewrite_argv(${q(s.from)}, ${q(s.to)})`);
        break;
      case "setsid":
        line("os.setsid()");
        break;
      case "setpgid":
        line("os.setpgid(0, 0)");
        break;
      case "ctty":
        line("ptm, pts = os.openpty()");
        line("os.set_inheritable(ptm, True)");
        line("fcntl.ioctl(pts, termios.TIOCSCTTY, 0)");
        break;
      case "cgroup":
        line(`open(${q(`${CGROUP_ROOT}$NEWCG/cgroup.procs`)}, 'w').write(str(os.getpid()))`);
        line("devnull()");
        break;
      case "fork":
        line("pid = os.fork()");
        line("if pid == 0:");
        line("    try:");
        line("        pass");
        out.push(...py(s.steps, facts, indent + "        "));
        line("    except BaseException as e:");
        line("        print('child failed:', repr(e), file=sys.stderr, flush=True)");
        line("        os._exit(1)");
        line("    os._exit(0)");
        line("assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, 'child failed'");
        break;
      case "exec":
        if (s.steps) {
          const code = [...PRELUDE, ...py(s.steps, facts)].join("\n");
          line(`os.execv(sys.executable, [sys.executable, '-c', ${JSON.stringify(code)}])`);
        } else {
          const path = fillText(s.path, facts);
          const argv = [path.slice(path.lastIndexOf("/") + 1), ...s.args];
          line(`os.execv(${JSON.stringify(path)}, ${JSON.stringify(argv)})`);
        }
        break;
    }
  }
  return out;
}

function fillText(t: string, facts: Facts): string {
  return t.replaceAll("$DIR", facts.DIR).replaceAll("$EXEPATH", facts.EXEPATH).replaceAll(
    "$NEWCG",
    facts.NEWCG,
  );
}

// ---------------------------------------------------------------------------------------------
// Matching the recorded events to the steps.

const CLONES = new Set(["clone", "clone3", "fork", "vfork"]);

class Matcher {
  failures: string[] = [];
  #cursor = new Map<number, number>();

  constructor(readonly seen: Seen[], readonly facts: Facts) {}

  /** The next event of `pid` satisfying `pred`, after the previous match in that process. */
  next(pid: number, what: string, pred: (s: Seen) => boolean): Seen | undefined {
    const from = this.#cursor.get(pid) ?? 0;
    for (let i = from; i < this.seen.length; i++) {
      const s = this.seen[i];
      if (s.pid === pid && pred(s)) {
        this.#cursor.set(pid, i + 1);
        return s;
      }
    }
    this.failures.push(`${what}: no such event of process ${pid}`);
    return undefined;
  }

  check(label: string, s: Seen | undefined, checks: Checks | undefined): void {
    if (!s) return;
    for (const [ref, want] of Object.entries(checks ?? {})) {
      const why = mismatch(ref, s.fields[ref], want, this.facts);
      if (why) this.failures.push(`${label}: ${why}`);
    }
  }

  run(pid: number, steps: Step[], label: string): void {
    steps.forEach((s, i) => this.step(pid, s, `${label}.${i}:${s.op}`));
  }

  step(pid: number, s: Step, label: string): void {
    const type = (...t: string[]) => (e: Seen) => t.includes(e.type);
    const openOf = (path: string) => (e: Seen) =>
      e.type === "openat" && e.args.name === fillText(path, this.facts);
    switch (s.op) {
      case "unshare":
      case "setresuid":
      case "setuid":
      case "setgid":
      case "chdir":
      case "setsid":
      case "setpgid":
        return this.check(label, this.next(pid, label, type(s.op)), s.check);
      case "prctl_name":
        return this.check(label, this.next(pid, label, (e) => e.type === "prctl"), s.check);
      case "loginuid":
      case "cgroup": {
        this.next(pid, label, (e) => e.type === "openat" && String(e.args.name).startsWith("/"));
        return this.check(label, this.next(pid, label, openOf("/dev/null")), s.check);
      }
      case "open":
        return this.check(label, this.next(pid, label, openOf(s.path)), s.check);
      case "rename":
        return this.check(
          label,
          this.next(pid, label, type("rename", "renameat", "renameat2")),
          s.check,
        );
      case "dup2":
        return this.check(
          label,
          this.next(
            pid,
            label,
            (e) => (e.type === "dup2" || e.type === "dup3") && e.res === s.newfd,
          ),
          s.check,
        );
      case "dupfd":
        return this.check(
          label,
          this.next(pid, label, (e) => e.type === "fcntl" && e.res === s.fd),
          s.check,
        );
      case "close":
        return this.check(
          label,
          this.next(pid, label, (e) => e.type === "close" && Number(e.args.fd) === s.fd),
          s.check,
        );
      case "argv":
      case "ctty":
        return;
      case "fork": {
        const parent = this.next(pid, label, (e) => CLONES.has(e.type) && e.res > 0);
        if (!parent) return;
        const child = parent.res;
        this.check(label, this.next(child, `${label} (child)`, (e) => CLONES.has(e.type)), s.check);
        return this.run(child, s.steps, `${label}>${child}`);
      }
      case "exec": {
        const e = this.next(pid, label, (e) => e.type === "execve" && e.res === 0);
        this.check(label, e, s.check);
        if (s.steps) this.run(pid, s.steps, label);
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

let rec: Recorder | undefined;
let dir = "";

async function facts(c: SemanticsCase): Promise<Facts> {
  const exepath = await Deno.realPath(PYTHON);
  const comm = exepath.slice(exepath.lastIndexOf("/") + 1).slice(0, 15);
  const login = Number((await Deno.readTextFile("/proc/self/loginuid")).trim());
  const cg = (await Deno.readTextFile("/proc/self/cgroup")).split("\n")
    .map((l) => l.split(":")).find((f) => f[1] === "pids")?.[2] ?? "";
  return {
    DIR: `${dir}/${c.name.split(":")[0].replaceAll(" ", "-")}`,
    COMM: comm,
    EXEPATH: exepath,
    LOGINUID: String(login >= 0xffffffff ? -1 : login),
    CGROUP: cg,
    NEWCG: `/saker-semantics-${Deno.pid}`,
  };
}

Deno.test({
  name: "state semantics (live): probe loads, state seeded",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-semantics-" }));
    rec = await Recorder.start();
    assert(rec.state.procs.size > 5, "seeded from /proc");
  },
});

for (const c of SEMANTICS_CASES) {
  const usesCgroup = JSON.stringify(c.steps).includes('"cgroup"');
  Deno.test({
    name: `state semantics (live): ${c.name}`,
    // Skipped visibly, with its reason recorded, where the machine has no cgroup v1 pids
    // hierarchy (it counted as passed before).
    ignore: ignore ||
      (usesCgroup && !HAVE_PIDS_V1 &&
        skipNote(`no cgroup v1 pids hierarchy at ${CGROUP_ROOT}: the cgroup cases are skipped`)),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      assert(rec, "recorder started");
      const f = await facts(c);
      await Deno.mkdir(f.DIR, { recursive: true });
      for (const d of c.dirs ?? []) await Deno.mkdir(`${f.DIR}/${d}`);
      for (const [link, target] of Object.entries(c.links ?? {})) {
        await Deno.symlink(`${f.DIR}/${target}`, `${f.DIR}/${link}`);
      }
      // An earlier run killed before its cleanup may have left the group (same pid): reused.
      if (usesCgroup) await Deno.mkdir(`${CGROUP_ROOT}${f.NEWCG}`, { recursive: true });
      try {
        const code = [...PRELUDE, "sys.stdin.readline()", ...py(c.steps, f)].join("\n");
        const caps = (c.dropCaps ?? []).map((n) => `-${n.slice(4).toLowerCase()}`).join(",");
        const cmd = [
          ...(caps ? ["setpriv", `--bounding-set=${caps}`] : []),
          f.EXEPATH,
          "-c",
          code,
          ...(c.title ? [c.title] : []),
        ];
        const child = new Deno.Command(cmd[0], {
          args: cmd.slice(1),
          cwd: f.DIR,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        rec.follow(child.pid, [...checkedFields(c.steps)]);
        // The program waits for this line, so none of its calls happen before it is followed.
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode("go\n"));
        await w.close();
        const out = await child.output();
        assert(
          out.success,
          `scenario program failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
        );
        await rec.exited(child.pid);
        const m = new Matcher(rec.seen, f);
        // The scenario starts with the program: the calls before its exec are the spawner's.
        m.next(
          child.pid,
          "start",
          (e) => e.type === "execve" && e.res === 0 && e.args.exe === f.EXEPATH,
        );
        m.run(child.pid, c.steps, "main");
        if (m.failures.length > 0 && Deno.env.get("SAKER_DEBUG_SEMANTICS")) {
          console.log(
            rec.seen.map((e) =>
              `${e.pid} ${e.type} ${e.res} ${
                JSON.stringify(e.args, (_k, v) => typeof v === "bigint" ? String(v) : v).slice(
                  0,
                  160,
                )
              }`
            ).join("\n"),
          );
        }
        assert(m.failures.length === 0, m.failures.join("\n"));
      } finally {
        if (usesCgroup) await Deno.remove(`${CGROUP_ROOT}${f.NEWCG}`).catch(() => {});
      }
    },
  });
}

Deno.test({
  name: "state semantics (live): probe detached, files removed",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await rec?.stop();
    if (dir) await Deno.remove(dir, { recursive: true });
  },
});
