/**
 * The state-semantics case table (state_semantics_cases.ts) through the state store, with the
 * events the probe would record: a small model of the kernel's view of each process
 * (credentials, capabilities, names, argv in memory, directory with symbolic links resolved,
 * session, group, terminal, cgroups, fds) makes each step's events, and the fields rules read
 * are compared with libsinsp's values at the checked steps.
 */
import { assert } from "../support/assert.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { eventIdsByName } from "../../src/events/table.ts";
import { flagValue } from "../../src/events/flags.ts";
import { StateStore } from "../../src/state/store.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";
import {
  type Checks,
  type Facts,
  mismatch,
  SEMANTICS_CASES,
  type Step,
} from "./state_semantics_cases.ts";
import { CAP_NAMES } from "../../src/state/caps.ts";

const ALL_CAPS = (1n << 41n) - 1n;
const FACTS: Facts = {
  DIR: "/srv/case",
  COMM: "python3",
  EXEPATH: "/usr/bin/python3",
  LOGINUID: "-1",
  CGROUP: "/",
  NEWCG: "/saker-case",
};
const AT_FDCWD = -100;
const EPERM = -1;
const TTY = 34816;

/** What the kernel knows of one process (the probe reads these). */
interface KernelProc {
  pid: number;
  ppid: number;
  comm: string;
  argv: string[];
  exepath: string;
  cwd: string;
  euid: number;
  egid: number;
  caps: bigint;
  bounding: bigint;
  loginuid: number;
  sid: number;
  pgid: number;
  tty: number;
  vpid: number;
  /** The next child is the first process of a new pid namespace. */
  newPidNs: boolean;
  cgroups: string[];
  fds: Map<number, string>;
  lastFd: number;
}

/** Runs a case's steps as events through a state store and checks fields. */
class Model {
  readonly state = new StateStore();
  readonly failures: string[] = [];
  #clock = 1_000n;
  #nextPid = 200;
  #links: Record<string, string>;

  constructor(links: Record<string, string>) {
    this.#links = links;
  }

  /** The kernel's path: symbolic links resolved (the model knows only the case's links). */
  resolve(path: string): string {
    for (const [link, target] of Object.entries(this.#links)) {
      if (path === link || path.startsWith(link + "/")) return target + path.slice(link.length);
    }
    return path;
  }

  abs(p: KernelProc, path: string): string {
    return path.startsWith("/") ? path : `${p.cwd}/${path}`;
  }

  event(p: KernelProc, name: string, params: Record<string, unknown>): Event {
    this.#clock += 1000n;
    // procexit has only an enter event; take its newest version.
    const id = name === "procexit" ? eventIdsByName(name).at(-1) : undefined;
    const e = buildEvent(id ?? name, {
      ts: this.#clock,
      tid: p.pid,
      pid: p.pid,
      ppid: p.ppid,
      comm: p.comm,
    }, params);
    this.state.update(e);
    return e;
  }

  check(label: string, e: Event, checks: Checks | undefined): void {
    for (const [ref, want] of Object.entries(checks ?? {})) {
      const f = lookupField(ref);
      if (!f) throw new Error(`unknown field ${ref}`);
      const why = mismatch(ref, f.def.extract(e, f.arg), want, FACTS);
      if (why) this.failures.push(`${label}: ${why}`);
    }
  }

  cloneEvent(p: KernelProc, res: number, child: KernelProc): Record<string, unknown> {
    return {
      res,
      exe: p.argv[0],
      args: p.argv.slice(1),
      tid: child.pid,
      pid: child.pid,
      ptid: p.pid,
      cwd: p.cwd,
      fdlimit: 1024,
      comm: p.comm,
      cgroups: p.cgroups,
      flags: 0,
      uid: p.euid,
      gid: p.egid,
      vtid: child.vpid,
      vpid: child.vpid,
    };
  }

  run(p: KernelProc, steps: Step[], label: string): void {
    steps.forEach((s, i) => this.step(p, s, `${label}.${i}:${s.op}`));
  }

  step(p: KernelProc, s: Step, label: string): void {
    const fill = (t: string) =>
      t.replaceAll("$DIR", FACTS.DIR).replaceAll("$EXEPATH", FACTS.EXEPATH);
    const devNull = () =>
      this.event(p, "openat", {
        fd: 9,
        dirfd: AT_FDCWD,
        name: "/dev/null",
        flags: flagValue("file_flags", "O_RDONLY"),
      });
    switch (s.op) {
      case "unshare": {
        const flag = flagValue("clone_flags", s.flags)!;
        if (s.ok && s.flags === "CLONE_NEWUSER") p.caps = ALL_CAPS;
        if (s.ok && s.flags === "CLONE_NEWPID") p.newPidNs = true;
        return this.check(
          label,
          this.event(p, "unshare", { res: s.ok ? 0 : EPERM, flags: flag }),
          s.check,
        );
      }
      case "setresuid": {
        if (s.euid !== -1) p.euid = s.euid;
        if (p.euid !== 0) p.caps = 0n;
        const e = this.event(p, "setresuid", { res: 0, ruid: s.ruid, euid: s.euid, suid: s.suid });
        return this.check(label, e, s.check);
      }
      case "setuid": {
        p.euid = s.uid;
        if (s.uid !== 0) p.caps = 0n; // every uid changes: the kernel clears the capabilities
        return this.check(label, this.event(p, "setuid", { res: 0, uid: s.uid }), s.check);
      }
      case "setgid":
        p.egid = s.gid;
        return this.check(label, this.event(p, "setgid", { res: 0, gid: s.gid }), s.check);
      case "loginuid": {
        this.event(p, "openat", {
          fd: 8,
          dirfd: AT_FDCWD,
          name: "/proc/self/loginuid",
          flags: flagValue("file_flags", "O_WRONLY"),
        });
        p.loginuid = s.uid;
        return this.check(label, devNull(), s.check);
      }
      case "chdir": {
        const path = fill(s.path);
        p.cwd = this.resolve(this.abs(p, path));
        return this.check(label, this.event(p, "chdir", { res: 0, path }), s.check);
      }
      case "open": {
        const path = fill(s.path);
        const fd = 3 + p.fds.size;
        p.fds.set(fd, this.resolve(this.abs(p, path)));
        p.lastFd = fd;
        const flag = (n: string) => flagValue("file_flags", n)!;
        // The probe encodes O_TMPFILE as scap does: its own bit plus O_DIRECTORY's.
        const flags = s.tmpfile
          ? flag("O_WRONLY") | flag("O_TMPFILE") | flag("O_DIRECTORY")
          : s.write
          ? flag("O_WRONLY") | flag("O_CREAT")
          : flag("O_RDONLY");
        const e = this.event(p, "openat", { fd, dirfd: AT_FDCWD, name: path, flags, mode: 0o644 });
        return this.check(label, e, s.check);
      }
      case "rename": {
        const e = this.event(p, "rename", { res: 0, oldpath: fill(s.from), newpath: fill(s.to) });
        for (const [n, path] of p.fds) if (path === fill(s.from)) p.fds.set(n, fill(s.to));
        return this.check(label, e, s.check);
      }
      case "dup2": {
        p.fds.set(s.newfd, p.fds.get(p.lastFd)!);
        const e = this.event(p, "dup2", { res: s.newfd, oldfd: p.lastFd, newfd: s.newfd });
        return this.check(label, e, s.check);
      }
      case "dupfd": {
        p.fds.set(s.fd, p.fds.get(p.lastFd)!);
        const cmd = flagValue("fcntl_commands", "F_DUPFD");
        const e = this.event(p, "fcntl", { res: s.fd, fd: p.lastFd, cmd, arg: s.min });
        return this.check(label, e, s.check);
      }
      case "close": {
        p.fds.delete(s.fd);
        return this.check(label, this.event(p, "close", { res: 0, fd: s.fd }), s.check);
      }
      case "prctl_name": {
        const option = flagValue("prctl_options", "PR_SET_NAME");
        p.comm = s.name.slice(0, 15);
        const e = this.event(p, "prctl", { res: 0, option, arg2_str: s.name, arg2_int: 0 });
        return this.check(label, e, s.check);
      }
      case "argv":
        p.argv = p.argv.map((a) => (a === s.from ? s.to : a));
        return;
      case "setsid": {
        p.sid = p.pid;
        p.pgid = p.pid;
        p.tty = 0;
        return this.check(label, this.event(p, "setsid", { res: p.pid }), s.check);
      }
      case "setpgid": {
        p.pgid = p.pid;
        return this.check(label, this.event(p, "setpgid", { res: 0, pid: 0, pgid: 0 }), s.check);
      }
      case "ctty":
        p.tty = TTY;
        return;
      case "cgroup":
        this.event(p, "openat", {
          fd: 8,
          dirfd: AT_FDCWD,
          name: `/sys/fs/cgroup/pids${FACTS.NEWCG}/cgroup.procs`,
          flags: flagValue("file_flags", "O_WRONLY"),
        });
        p.cgroups = p.cgroups.map((c) => (c.startsWith("pids=") ? `pids=${FACTS.NEWCG}` : c));
        return this.check(label, devNull(), s.check);
      case "fork": {
        const pid = this.#nextPid++;
        const child: KernelProc = {
          ...p,
          pid,
          ppid: p.pid,
          vpid: p.newPidNs ? 1 : pid,
          newPidNs: false,
          argv: [...p.argv],
          fds: new Map(p.fds),
        };
        const e = this.event(child, "clone", this.cloneEvent(p, 0, child));
        this.check(label, e, s.check);
        this.event(p, "clone", this.cloneEvent(p, pid, child));
        this.run(child, s.steps, label);
        this.event(child, "procexit", { status: 0, ret: 0, sig: 0, core: 0, reaper_tid: 0 });
        return;
      }
      case "exec": {
        const path = fill(s.path);
        p.exepath = path;
        p.comm = path.slice(path.lastIndexOf("/") + 1).slice(0, 15);
        p.argv = [p.comm, ...s.args];
        p.caps = p.euid === 0 ? ALL_CAPS & p.bounding : 0n;
        const e = this.event(p, "execve", {
          res: 0,
          exe: p.argv[0],
          args: s.args,
          tid: p.pid,
          pid: p.pid,
          ptid: p.ppid,
          cwd: p.cwd,
          fdlimit: 1024,
          comm: p.comm,
          cgroups: p.cgroups,
          env: ["PATH=/usr/bin"],
          tty: p.tty,
          vpgid: p.pgid,
          loginuid: p.loginuid >>> 0,
          flags: 0,
          cap_inheritable: 0,
          cap_permitted: p.caps,
          cap_effective: p.caps,
          uid: p.euid,
          trusted_exepath: path,
          pgid: p.pgid,
          gid: p.egid,
          filename: path,
          sid: p.sid,
          ruid: p.euid,
          rgid: p.egid,
          vpid: p.vpid,
          vtid: p.vpid,
        });
        this.check(label, e, s.check);
        if (s.steps) this.run(p, s.steps, label);
        return;
      }
    }
  }
}

for (const c of SEMANTICS_CASES) {
  Deno.test(`state semantics (events): ${c.name}`, () => {
    const links = Object.fromEntries(
      Object.entries(c.links ?? {}).map(([l, t]) => [`${FACTS.DIR}/${l}`, `${FACTS.DIR}/${t}`]),
    );
    const model = new Model(links);
    const dropped = (c.dropCaps ?? []).reduce(
      (m, n) => m | (1n << BigInt(CAP_NAMES.indexOf(n))),
      0n,
    );
    const bounding = ALL_CAPS & ~dropped;
    const main: KernelProc = {
      pid: 100,
      ppid: 1,
      comm: FACTS.COMM,
      argv: [FACTS.COMM, "-c", "...", ...(c.title ? [c.title] : [])],
      exepath: FACTS.EXEPATH,
      cwd: FACTS.DIR,
      euid: 0,
      egid: 0,
      caps: bounding,
      bounding,
      loginuid: 0xffffffff,
      sid: 50,
      pgid: 60,
      tty: 0,
      vpid: 100,
      newPidNs: false,
      cgroups: [`pids=${FACTS.CGROUP}`, "memory=/"],
      fds: new Map(),
      lastFd: -1,
    };
    // Seeded as /proc shows the process when the agent starts.
    model.state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "init", exe: "/sbin/init", vpid: 1 });
    model.state.addThread({
      tid: main.pid,
      pid: main.pid,
      ppid: 1,
      comm: main.comm,
      exe: main.argv[0],
      exepath: main.exepath,
      args: main.argv.slice(1),
      cwd: main.cwd,
      uid: 0,
      gid: 0,
      capInheritable: 0n,
      capPermitted: main.caps,
      capEffective: main.caps,
      loginuid: main.loginuid,
      sid: main.sid,
      vpgid: main.pgid,
      pgid: main.pgid,
      tty: 0,
      vpid: main.vpid,
      cgroups: main.cgroups,
    });
    model.state.linkChildren();
    model.run(main, c.steps, "main");
    assert(model.failures.length === 0, model.failures.join("\n"));
  });
}
