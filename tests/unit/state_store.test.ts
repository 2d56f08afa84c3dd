import { assert, assertEquals } from "../support/assert.ts";
import {
  buildEvent,
  concatRecords,
  encodeLiveRecord,
  encodeParam,
  type EventHeader,
} from "../../src/events/encode.ts";
import {
  decodeLiveBatch,
  decodeScapEvent,
  type Event,
  LIVE_HEADER_SIZE,
  SCAP_HEADER_SIZE,
} from "../../src/events/event.ts";
import { currentExitId, eventIdsByName, EVENTS } from "../../src/events/table.ts";
import {
  PURGE_SLICE_MS,
  PURGE_SLICE_THREADS,
  PURGE_SWEEP_MS,
  StateStore,
} from "../../src/state/store.ts";
import { FD_TYPE } from "../../src/state/model.ts";
import { ContainerStore } from "../../src/state/containers/runtime.ts";
import { ProcFs, type ProcReader } from "../../src/state/seed.ts";
import "../../src/rules/fields/proc.ts";
import "../../src/rules/fields/thread.ts";
import "../../src/rules/fields/fd.ts";
import "../../src/rules/fields/user.ts";
import "../../src/rules/fields/container.ts";
import "../../src/rules/fields/k8s.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";

const AT_FDCWD = -100;
const PROCEXIT = 186;
const O_RDONLY = 1, O_CLOEXEC = 4096, O_DIRECTORY = 1024;
let clock = 1_000n;

/** Builds a live-format event for `name` (newest exit version) with a rising timestamp. */
function ev(name: string | number, header: EventHeader, params: Record<string, unknown>): Event {
  clock += 1000n;
  return buildEvent(name, { ts: clock, ...header }, params, 1_700_000_000_000_000_000n);
}

/** The id of an old (enter or exit) version of `name` with exactly these parameter names. */
function oldId(name: string, dir: ">" | "<", params: string[]): number {
  const id = eventIdsByName(name).find((i) =>
    EVENTS[i].dir === dir && EVENTS[i].params.map((p) => p.name).join(" ") === params.join(" ")
  );
  if (id === undefined) throw new Error(`no ${dir} ${name}(${params.join(",")})`);
  return id;
}

/** An event in the capture-file (scap) layout: no pid, no comm in the header. */
function scapEv(name: string | number, tid: number, params: Record<string, unknown>): Event {
  const type = typeof name === "number" ? name : currentExitId(name)!;
  const parts = EVENTS[type].params.map((p) => encodeParam(p.type, params[p.name]));
  const len = SCAP_HEADER_SIZE + 2 * parts.length + parts.reduce((a, p) => a + p.length, 0);
  const buf = new Uint8Array(len);
  const dv = new DataView(buf.buffer);
  clock += 1000n;
  dv.setBigUint64(0, clock, true);
  dv.setBigInt64(8, BigInt(tid), true);
  dv.setUint32(16, len, true);
  dv.setUint16(20, type, true);
  dv.setUint32(22, parts.length, true);
  let pos = SCAP_HEADER_SIZE + 2 * parts.length;
  parts.forEach((p, i) => {
    dv.setUint16(SCAP_HEADER_SIZE + 2 * i, p.length, true);
    buf.set(p, pos);
    pos += p.length;
  });
  return decodeScapEvent(buf, dv, 0, 0, 1);
}

/** The same event as an older capture would hold it: only its first `n` parameters. */
function firstParams(e: Event, n: number): Event {
  const lens = Array.from({ length: n }, (_, i) => e.paramLength(i));
  const data = lens.reduce((a, b) => a + b, 0);
  const len = LIVE_HEADER_SIZE + 2 * n + data;
  const out = new Uint8Array((len + 7) & ~7);
  out.set(e.buf.subarray(e.off, e.off + LIVE_HEADER_SIZE));
  const dv = new DataView(out.buffer);
  dv.setUint32(20, len, true);
  dv.setUint16(26, n, true);
  let pos = LIVE_HEADER_SIZE + 2 * n;
  lens.forEach((l, i) => {
    dv.setUint16(LIVE_HEADER_SIZE + 2 * i, l, true);
    out.set(e.paramBytes(i), pos);
    pos += l;
  });
  return decodeLiveBatch(concatRecords([out.subarray(0, len)]), e.tsBase, 1)[0];
}

/** Extracts a field (as a rule would) from an event. */
function field(e: Event, ref: string): unknown {
  const f = lookupField(ref);
  if (!f) throw new Error(`unknown field ${ref}`);
  return f.def.extract(e, f.arg);
}

function cloneChild(
  state: StateStore,
  parent: number,
  child: number,
  comm: string,
  extra: Record<string, unknown> = {},
): Event {
  const e = ev("clone", { tid: child, pid: child, ppid: parent, comm }, {
    res: 0,
    exe: comm,
    args: [],
    tid: child,
    pid: child,
    ptid: parent,
    cwd: "/",
    comm,
    flags: 0,
    uid: 0,
    gid: 0,
    vtid: child,
    vpid: child,
    ...extra,
  });
  state.update(e);
  return e;
}

function execve(
  state: StateStore,
  pid: number,
  exe: string,
  args: string[],
  extra: Record<string, unknown> = {},
): Event {
  const comm = exe.slice(exe.lastIndexOf("/") + 1);
  const e = ev("execve", { tid: pid, pid, comm }, {
    res: 0,
    exe: comm,
    args,
    tid: pid,
    pid,
    ptid: 1,
    cwd: "/root",
    comm,
    env: ["HOME=/root", "TERM=xterm"],
    tty: 34816,
    vpgid: pid,
    loginuid: 1000,
    flags: 0,
    cap_inheritable: 0,
    cap_permitted: 0x1ff,
    cap_effective: (1 << 21) | 1,
    uid: 0,
    gid: 0,
    trusted_exepath: exe,
    pgid: pid,
    filename: exe,
    ...extra,
  });
  state.update(e);
  return e;
}

function seeded(): StateStore {
  const state = new StateStore();
  state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "systemd", exe: "/sbin/init", vpid: 1 });
  state.addThread({
    tid: 100,
    pid: 100,
    ppid: 1,
    comm: "sshd",
    exe: "/usr/sbin/sshd",
    exepath: "/usr/sbin/sshd",
    args: ["-D"],
    cwd: "/",
    sid: 100,
    vpid: 100,
  });
  state.linkChildren();
  return state;
}

Deno.test("state: relative openat resolves against cwd; fd.name and fd.nameraw differ", () => {
  const state = seeded();
  state.addThread({ tid: 200, pid: 200, ppid: 100, comm: "cat", cwd: "/home/u/docs" });
  const open = ev("openat", { tid: 200, pid: 200 }, {
    fd: 3,
    dirfd: AT_FDCWD,
    name: "../../../etc//shadow",
    flags: O_RDONLY,
    mode: 0,
    dev: 0x803,
    ino: 42,
  });
  state.update(open);
  assertEquals(field(open, "fd.name"), "/etc/shadow");
  assertEquals(field(open, "fd.nameraw"), "../../../etc/shadow");
  assertEquals(field(open, "fd.directory"), "/etc");
  assertEquals(field(open, "fd.filename"), "shadow");
  assertEquals(field(open, "fd.typechar"), "f");
  assertEquals(field(open, "fd.type"), "file");
  assertEquals(field(open, "fd.num"), 3);
  assertEquals(field(open, "fd.ino"), 42);
  assertEquals(field(open, "proc.name"), "cat");
  // A read on the fd sees the same file.
  const read = ev("read", { tid: 200, pid: 200 }, { res: 10, data: "x", fd: 3, size: 10 });
  state.update(read);
  assertEquals(field(read, "fd.name"), "/etc/shadow");
  // A directory fd as dirfd.
  const dir = ev("openat", { tid: 200, pid: 200 }, {
    fd: 4,
    dirfd: AT_FDCWD,
    name: "/var/log",
    flags: O_RDONLY | O_DIRECTORY,
  });
  state.update(dir);
  assertEquals(field(dir, "fd.typechar"), "d");
  assertEquals(field(dir, "fd.directory"), "/var/log");
  const rel = ev("openat", { tid: 200, pid: 200 }, {
    fd: 5,
    dirfd: 4,
    name: "syslog",
    flags: O_RDONLY,
  });
  state.update(rel);
  assertEquals(field(rel, "fd.name"), "/var/log/syslog");
});

Deno.test("state: a failed open still names the path; fd.num is -1", () => {
  const state = seeded();
  const e = ev("openat", { tid: 100, pid: 100 }, {
    fd: -13,
    dirfd: AT_FDCWD,
    name: "secret",
    flags: O_RDONLY,
  });
  state.update(e);
  assertEquals(e.fdInfo, undefined);
  assertEquals(field(e, "fd.num"), -1);
  assertEquals(field(e, "fd.name"), "/secret");
  assertEquals(field(e, "fd.typechar"), "f");
  // Events without an fd have no fd fields.
  const x = ev("chdir", { tid: 100, pid: 100 }, { res: -2, path: "/nope" });
  state.update(x);
  assertEquals(field(x, "fd.name"), undefined);
});

Deno.test("state: close keeps the fd visible for its own event only", () => {
  const state = seeded();
  state.update(ev("openat", { tid: 100, pid: 100 }, {
    fd: 7,
    dirfd: AT_FDCWD,
    name: "/tmp/x",
    flags: O_RDONLY,
  }));
  const close = ev("close", { tid: 100, pid: 100 }, { res: 0, fd: 7 });
  state.update(close);
  assertEquals(field(close, "fd.name"), "/tmp/x");
  assert(state.procs.get(100)!.fds.has(7), "still there while the close is evaluated");
  const next = ev("getcwd", { tid: 100, pid: 100 }, { res: 0, path: "/" });
  state.update(next);
  assert(!state.procs.get(100)!.fds.has(7), "gone after the next event");
  const failed = ev("close", { tid: 100, pid: 100 }, { res: -9, fd: 3 });
  state.update(failed);
  assertEquals(failed.fdInfo, undefined);
});

Deno.test("state: the same file opened again after its close takes the closed fd's object", () => {
  const state = seeded();
  const open = (name: string, flags: number, ino: number, fd = 7, tid = 100) => {
    const e = ev("openat", { tid, pid: tid }, { fd, dirfd: AT_FDCWD, name, flags, dev: 5, ino });
    state.update(e);
    return e;
  };
  const close = (fd = 7, tid = 100) => {
    const e = ev("close", { tid, pid: tid }, { res: 0, fd });
    state.update(e);
    return e;
  };
  const first = open("/tmp/x", O_RDONLY, 42);
  const closed = close();
  const again = open("/tmp/x", O_RDONLY, 42);
  // Equal in every fact: one object, and both events still show what they showed.
  assert(again.fdInfo === first.fdInfo, "the closed fd serves the equal open");
  assertEquals(field(closed, "fd.name"), "/tmp/x");
  assertEquals(field(again, "fd.name"), "/tmp/x");
  assert(state.procs.get(100)!.fds.get(7) === again.fdInfo);
  // Any fact that differs makes a new fd; the closed one keeps its own facts.
  close();
  const other = open("/tmp/y", O_RDONLY, 43);
  assert(other.fdInfo !== first.fdInfo);
  assertEquals(first.fdInfo!.name, "/tmp/x");
  assertEquals(field(other, "fd.name"), "/tmp/y");
  close();
  const cloexec = open("/tmp/y", O_RDONLY | O_CLOEXEC, 43);
  assert(cloexec.fdInfo !== other.fdInfo, "other flags: a new fd");
  assertEquals(other.fdInfo!.openFlags & O_CLOEXEC, 0);
  close();
  const renumbered = open("/tmp/y", O_RDONLY | O_CLOEXEC, 43, 8);
  assert(renumbered.fdInfo !== cloexec.fdInfo, "another number: a new fd");
  assertEquals(field(renumbered, "fd.num"), 8);
  // Another process's close is not taken.
  close(8);
  cloneChild(state, 100, 101, "sshd");
  const child = open("/tmp/y", O_RDONLY | O_CLOEXEC, 43, 8, 101);
  assert(child.fdInfo !== renumbered.fdInfo, "the close was in another process");
  // An fd still open (not closed) is never taken.
  const second = open("/tmp/y", O_RDONLY | O_CLOEXEC, 43, 9, 101);
  assert(second.fdInfo !== child.fdInfo);
  assertEquals(state.procs.get(101)!.fds.get(8)?.name, "/tmp/y");
  assertEquals(state.procs.get(101)!.fds.get(9)?.num, 9);
});

Deno.test("state: fork, exec and a three-level tree give ancestry fields", () => {
  const state = seeded();
  // sshd (100) -> bash (101) -> sh (102) -> curl (103)
  cloneChild(state, 100, 101, "sshd");
  execve(state, 101, "/bin/bash", ["-l"]);
  cloneChild(state, 101, 102, "bash");
  execve(state, 102, "/bin/sh", ["-c", "curl x"]);
  cloneChild(state, 102, 103, "sh");
  const e = execve(state, 103, "/usr/bin/curl", ["-s", "http://x"]);
  assertEquals(field(e, "proc.name"), "curl");
  assertEquals(field(e, "proc.exe"), "curl");
  assertEquals(field(e, "proc.exepath"), "/usr/bin/curl");
  assertEquals(field(e, "proc.args"), "-s http://x");
  assertEquals(field(e, "proc.args[1]"), "http://x");
  assertEquals(field(e, "proc.cmdline"), "curl -s http://x");
  assertEquals(field(e, "proc.pid"), 103);
  assertEquals(field(e, "proc.ppid"), 102);
  assertEquals(field(e, "proc.pname"), "sh");
  assertEquals(field(e, "proc.pcmdline"), "sh -c curl x");
  assertEquals(field(e, "proc.pexepath"), "/bin/sh");
  assertEquals(field(e, "proc.aname[0]"), "curl");
  assertEquals(field(e, "proc.aname[1]"), "sh");
  assertEquals(field(e, "proc.aname[2]"), "bash");
  assertEquals(field(e, "proc.aname[3]"), "sshd");
  assertEquals(field(e, "proc.aname[4]"), "systemd");
  assertEquals(field(e, "proc.aname[5]"), undefined);
  assertEquals(field(e, "proc.aname"), ["sh", "bash", "sshd", "systemd"]);
  assertEquals(field(e, "proc.apid[2]"), 101);
  assertEquals(field(e, "proc.aexepath[2]"), "/bin/bash");
  assertEquals(field(e, "proc.env[TERM]"), "xterm");
  assertEquals(field(e, "proc.env"), "HOME=/root TERM=xterm");
  assertEquals(field(e, "proc.tty"), 34816);
  // Each child starts in its parent's directory (sshd's "/"); an exec does not move it.
  assertEquals(field(e, "proc.cwd"), "/");
  assertEquals(field(e, "user.loginuid"), 1000);
  assertEquals(field(e, "thread.cap_effective"), "CAP_CHOWN CAP_SYS_ADMIN");
  assertEquals(field(e, "proc.sname"), "sshd", "session leader is sshd (sid 100)");
  assertEquals(typeof field(e, "proc.duration"), "bigint");
  assert((field(e, "proc.duration") as bigint) > 0n);
  assertEquals(field(e, "proc.loginshellid"), 101, "oldest shell: bash");
  // Children are linked, so the tree can be walked downwards too.
  assert(state.procs.get(102)!.children!.has(state.procs.get(103)!));
});

Deno.test("state: a child created from the parent's clone exit, then its own event", () => {
  const state = seeded();
  // Captures may hold the parent's event first (live, the child always comes first).
  const parentSide = scapEv("clone", 100, {
    res: 300,
    exe: "/usr/sbin/sshd",
    args: ["-D"],
    tid: 100,
    pid: 100,
    ptid: 1,
    cwd: "/",
    comm: "sshd",
    flags: 0,
    uid: 0,
    gid: 0,
  });
  assertEquals(parentSide.origin, "scap");
  state.update(parentSide);
  assertEquals(parentSide.thread?.tid, 100);
  assertEquals(state.threads.get(300)?.proc.ppid, 100);
  const child = scapEv("clone", 300, {
    res: 0,
    exe: "/usr/sbin/sshd",
    tid: 300,
    pid: 300,
    ptid: 100,
    comm: "sshd",
    flags: 0,
  });
  state.update(child);
  assertEquals(child.thread, state.threads.get(300));
  assertEquals(state.threads.size, 3, "no duplicate thread for the child");
  assertEquals(field(child, "proc.pname"), "sshd");
  // The other order: child first, then the parent's exit does nothing.
  cloneChild(state, 100, 301, "sshd");
  const before = state.threads.get(301);
  state.update(scapEv("clone", 100, { res: 301, flags: 0, comm: "sshd" }));
  assertEquals(state.threads.get(301), before);
  // A live parent-side event for a child never seen (a vfork child that already exited) adds
  // nothing: live children always announce themselves first.
  state.update(ev("vfork", { tid: 100, pid: 100 }, { res: 302, flags: 0, comm: "sshd" }));
  assert(!state.threads.has(302));
});

Deno.test("state: threads share their process; CLONE_THREAD children join it", () => {
  const state = seeded();
  const CLONE_THREAD = 8192, CLONE_FILES = 1, CLONE_VM = 32768;
  const t = ev("clone", { tid: 150, pid: 100, ppid: 1, comm: "worker" }, {
    res: 0,
    tid: 150,
    pid: 100,
    ptid: 1,
    comm: "worker",
    flags: CLONE_THREAD | CLONE_FILES | CLONE_VM,
    vtid: 150,
    vpid: 100,
  });
  state.update(t);
  const th = state.threads.get(150)!;
  assertEquals(th.proc, state.procs.get(100));
  assertEquals(th.proc.threads, 2);
  assertEquals(field(t, "thread.tid"), 150);
  assertEquals(field(t, "thread.ismain"), false);
  assertEquals(field(t, "proc.nthreads"), 2);
  assertEquals(field(t, "proc.name"), "worker");
  // An fd opened by one thread is seen by the other.
  state.update(ev("openat", { tid: 150, pid: 100 }, {
    fd: 9,
    dirfd: AT_FDCWD,
    name: "/etc/hosts",
    flags: O_RDONLY,
  }));
  const r = ev("read", { tid: 100, pid: 100 }, { res: 1, fd: 9, size: 1 });
  state.update(r);
  assertEquals(field(r, "fd.name"), "/etc/hosts");
  // The thread exits: the process stays.
  state.update(ev(PROCEXIT, { tid: 150, pid: 100 }, { status: 0, ret: 0, sig: 0, core: 0 }));
  state.flush();
  assert(!state.threads.has(150));
  assertEquals(state.procs.get(100)?.threads, 1);
});

Deno.test("state: exit is deferred, children are re-parented to the reaper", () => {
  const state = seeded();
  cloneChild(state, 100, 400, "bash");
  cloneChild(state, 400, 401, "sleep");
  const exit = ev(PROCEXIT, { tid: 400, pid: 400 }, {
    status: 0,
    ret: 0,
    sig: 0,
    core: 0,
    reaper_tid: 1,
  });
  state.update(exit);
  assertEquals(field(exit, "proc.name"), "bash", "the exiting process is visible for its event");
  assert(state.procs.has(400));
  const next = ev("getcwd", { tid: 401, pid: 401 }, { res: 0, path: "/" });
  state.update(next);
  assert(!state.procs.has(400), "gone after its event");
  assertEquals(field(next, "proc.ppid"), 1);
  assertEquals(field(next, "proc.pname"), "systemd");
  assert(state.procs.get(1)!.children!.has(state.procs.get(401)!));
});

Deno.test("state: a subreaper adopts orphans when the exit names no reaper", () => {
  const state = seeded();
  cloneChild(state, 100, 500, "supervisor");
  state.update(ev("prctl", { tid: 500, pid: 500 }, {
    res: 0,
    option: 36, // PR_SET_CHILD_SUBREAPER
    arg2_int: 1,
  }));
  cloneChild(state, 500, 501, "mid");
  cloneChild(state, 501, 502, "leaf");
  state.update(ev(PROCEXIT, { tid: 501, pid: 501 }, { status: 0, ret: 0, sig: 0, core: 0 }));
  state.flush();
  assertEquals(state.procs.get(502)?.ppid, 500);
});

Deno.test("state: bounded table over 300k short-lived processes", () => {
  const state = seeded();
  const start = state.threads.size;
  // One batch of the three events a short-lived process makes (fork, open, exit), re-used with
  // the pid patched into each record header (offsets 8 and 12 after the 8-byte ring header).
  const records = [
    encodeLiveRecord(currentExitId("clone")!, { tid: 1, pid: 1, ppid: 100, comm: "sh" }, {
      res: 0,
      exe: "sh",
      args: ["-c", "true"],
      ptid: 100,
      cwd: "/",
      comm: "sh",
      flags: 0,
    }),
    encodeLiveRecord(currentExitId("openat")!, { tid: 1, pid: 1 }, {
      fd: 3,
      dirfd: AT_FDCWD,
      name: "/etc/ld.so.cache",
      flags: O_RDONLY,
    }),
    encodeLiveRecord(PROCEXIT, { tid: 1, pid: 1 }, { status: 0, ret: 0, sig: 0, core: 0 }),
  ];
  const batch = concatRecords(records);
  const dv = new DataView(batch.buffer);
  const offsets = decodeLiveBatch(batch, 0n, 1).map((e) => e.off);
  let pid = 1000;
  for (let i = 0; i < 300_000; i++) {
    pid = pid >= 4_000_000 ? 1000 : pid + 1;
    for (const off of offsets) {
      dv.setUint32(off + 8, pid, true);
      dv.setUint32(off + 12, pid, true);
    }
    for (const e of decodeLiveBatch(batch, 0n, 1)) state.update(e);
  }
  state.flush();
  assertEquals(state.threads.size, start);
  assertEquals(state.procs.size, start);
  assertEquals(state.procs.get(100)!.children?.size ?? 0, 0);
  assertEquals(state.stats.threadsCreated, 300_000);
  assertEquals(state.stats.threadsRemoved, 300_000);
});

Deno.test("state: connect names the socket client->server and sets name_changed once", () => {
  const state = seeded();
  const sock = ev("socket", { tid: 100, pid: 100 }, {
    fd: 5,
    domain: 2,
    type: 1,
    proto: 0,
    flags: 0,
  });
  state.update(sock);
  assertEquals(field(sock, "fd.typechar"), "4");
  assertEquals(field(sock, "fd.l4proto"), "tcp");
  assertEquals(field(sock, "fd.sip"), undefined, "no role yet");
  const conn = ev("connect", { tid: 100, pid: 100 }, {
    res: 0,
    tuple: { family: 2, sip: "10.0.0.2", sport: 40108, dip: "10.0.0.1", dport: 443 },
    fd: 5,
    addr: { family: 2, addr: "10.0.0.1", port: 443 },
  });
  state.update(conn);
  assertEquals(field(conn, "fd.name"), "10.0.0.2:40108->10.0.0.1:443");
  assertEquals(field(conn, "fd.cip"), "10.0.0.2");
  assertEquals(field(conn, "fd.cport"), 40108);
  assertEquals(field(conn, "fd.sip"), "10.0.0.1");
  assertEquals(field(conn, "fd.sport"), 443);
  assertEquals(field(conn, "fd.lip"), "10.0.0.2");
  assertEquals(field(conn, "fd.rip"), "10.0.0.1");
  assertEquals(field(conn, "fd.lport"), 40108);
  assertEquals(field(conn, "fd.rport"), 443);
  assertEquals(field(conn, "fd.is_server"), false);
  assertEquals(field(conn, "fd.connected"), true);
  assertEquals(field(conn, "fd.sockfamily"), "ip");
  assertEquals(field(conn, "fd.name_changed"), true);
  assertEquals(field(conn, "fd.ip"), ["10.0.0.2", "10.0.0.1"]);
  assertEquals(field(conn, "fd.sproto"), "443");
  const send = ev("sendto", { tid: 100, pid: 100 }, { res: 5, data: "hello", fd: 5, size: 5 });
  state.update(send);
  assertEquals(field(send, "fd.name_changed"), false);
  // IPv4-mapped IPv6 connections read as IPv4.
  state.update(ev("socket", { tid: 100, pid: 100 }, { fd: 6, domain: 10, type: 1, proto: 0 }));
  const c6 = ev("connect", { tid: 100, pid: 100 }, {
    res: -115,
    tuple: { family: 10, sip: "::ffff:10.0.0.2", sport: 5000, dip: "::ffff:10.0.0.9", dport: 80 },
    fd: 6,
  });
  state.update(c6);
  assertEquals(field(c6, "fd.name"), "10.0.0.2:5000->10.0.0.9:80");
  assertEquals(field(c6, "fd.typechar"), "4");
  const s6 = ev("socket", { tid: 100, pid: 100 }, { fd: 7, domain: 10, type: 1, proto: 0 });
  state.update(s6);
  const c7 = ev("connect", { tid: 100, pid: 100 }, {
    res: 0,
    tuple: { family: 10, sip: "2001:db8::2", sport: 5001, dip: "2001:db8::1", dport: 443 },
    fd: 7,
  });
  state.update(c7);
  assertEquals(field(c7, "fd.name"), "2001:db8::2:5001->2001:db8::1:443");
  assertEquals(field(c7, "fd.type"), "ipv6");
});

Deno.test("state: bind, listen and accept make the server side", () => {
  const state = seeded();
  state.update(ev("socket", { tid: 100, pid: 100 }, { fd: 3, domain: 2, type: 1, proto: 6 }));
  const bind = ev("bind", { tid: 100, pid: 100 }, {
    res: 0,
    addr: { family: 2, addr: "0.0.0.0", port: 8080 },
    fd: 3,
  });
  state.update(bind);
  assertEquals(field(bind, "fd.name"), "0.0.0.0:8080");
  assertEquals(field(bind, "fd.is_server"), true);
  assertEquals(field(bind, "fd.sport"), 8080);
  state.update(ev("listen", { tid: 100, pid: 100 }, { res: 0, fd: 3, backlog: 10 }));
  const acc = ev("accept4", { tid: 100, pid: 100 }, {
    fd: 4,
    tuple: { family: 2, sip: "192.168.1.7", sport: 51000, dip: "192.168.1.1", dport: 8080 },
    queuepct: 0,
    flags: 0,
  });
  state.update(acc);
  assertEquals(field(acc, "fd.num"), 4);
  assertEquals(field(acc, "fd.name"), "192.168.1.7:51000->192.168.1.1:8080");
  assertEquals(field(acc, "fd.is_server"), true);
  assertEquals(field(acc, "fd.lip"), "192.168.1.1");
  assertEquals(field(acc, "fd.rip"), "192.168.1.7");
  assertEquals(field(acc, "fd.lport"), 8080);
  assertEquals(field(acc, "fd.rport"), 51000);
  assertEquals(field(acc, "fd.cnet"), "192.168.1.7");
});

Deno.test("state: dup2 of a socket onto stdout shows in proc.stdout.* and fd fields", () => {
  const state = seeded();
  state.addFd(100, { num: 1, type: FD_TYPE.FILE, name: "/dev/pts/0" });
  state.update(ev("socket", { tid: 100, pid: 100 }, { fd: 3, domain: 2, type: 1, proto: 0 }));
  state.update(ev("connect", { tid: 100, pid: 100 }, {
    res: 0,
    tuple: { family: 2, sip: "10.1.1.1", sport: 4444, dip: "10.9.9.9", dport: 4444 },
    fd: 3,
  }));
  const dup = ev("dup2", { tid: 100, pid: 100 }, { res: 1, oldfd: 3, newfd: 1 });
  state.update(dup);
  assertEquals(field(dup, "fd.type"), "ipv4");
  assertEquals(field(dup, "fd.num"), 3);
  assertEquals(field(dup, "proc.stdout.type"), "ipv4");
  assertEquals(field(dup, "proc.stdout.name"), "10.1.1.1:4444->10.9.9.9:4444");
  assertEquals(field(dup, "fd.types[1]"), ["ipv4"]);
  assertEquals((field(dup, "fd.types") as string[]).sort(), ["ipv4"]);
});

Deno.test("state: chdir and fchdir move the cwd used by relative opens", () => {
  const state = seeded();
  state.update(ev("chdir", { tid: 100, pid: 100 }, { res: 0, path: "/var/www" }));
  state.update(ev("chdir", { tid: 100, pid: 100 }, { res: 0, path: "../lib/./x" }));
  assertEquals(state.procs.get(100)!.cwd, "/var/lib/x");
  state.update(ev("chdir", { tid: 100, pid: 100 }, { res: -2, path: "/nowhere" }));
  assertEquals(state.procs.get(100)!.cwd, "/var/lib/x");
  state.update(ev("openat", { tid: 100, pid: 100 }, {
    fd: 8,
    dirfd: AT_FDCWD,
    name: "/opt/app",
    flags: O_RDONLY | O_DIRECTORY,
  }));
  state.update(ev("fchdir", { tid: 100, pid: 100 }, { res: 0, fd: 8 }));
  const open = ev("openat", { tid: 100, pid: 100 }, {
    fd: 9,
    dirfd: AT_FDCWD,
    name: "conf/app.yaml",
    flags: O_RDONLY,
  });
  state.update(open);
  assertEquals(field(open, "fd.name"), "/opt/app/conf/app.yaml");
  assertEquals(field(open, "proc.cwd"), "/opt/app/");
});

Deno.test("state: credentials, capabilities and thread names follow their syscalls", () => {
  const state = seeded();
  const th = state.threads.get(100)!;
  state.update(ev("setresuid", { tid: 100, pid: 100 }, { res: 0, ruid: -1, euid: 33, suid: -1 }));
  assertEquals(th.uid, 33);
  state.update(ev("setuid", { tid: 100, pid: 100 }, { res: -1, uid: 0 }));
  assertEquals(th.uid, 33, "failed setuid changes nothing");
  state.update(ev("setgid", { tid: 100, pid: 100 }, { res: 0, gid: 44 }));
  assertEquals(th.gid, 44);
  const cap = ev("capset", { tid: 100, pid: 100 }, {
    res: 0,
    cap_inheritable: 0,
    cap_permitted: 1 << 12,
    cap_effective: 1 << 12,
  });
  state.update(cap);
  assertEquals(field(cap, "thread.cap_effective"), "CAP_NET_ADMIN");
  assertEquals(field(cap, "thread.cap_inheritable"), "");
  const name = ev("prctl", { tid: 100, pid: 100 }, {
    res: 0,
    option: 15,
    arg2_str: "renamed-process-x",
  });
  state.update(name);
  assertEquals(field(name, "proc.name"), "sshd", "a process does not rename itself for rules");
  // A child forked afterwards carries the kernel's (new) name.
  const child = cloneChild(state, 100, 110, "renamed-proces");
  assertEquals(field(child, "proc.name"), "renamed-proces");
  assertEquals(field(child, "proc.pname"), "sshd");
  state.update(ev("unshare", { tid: 100, pid: 100 }, { res: 0, flags: 1048576 }));
  assertEquals(th.capEffective, (1n << 41n) - 1n);
});

Deno.test("state: exec closes close-on-exec fds and marks memfd programs", () => {
  const state = seeded();
  cloneChild(state, 100, 600, "loader");
  state.update(ev("openat", { tid: 600, pid: 600 }, {
    fd: 3,
    dirfd: AT_FDCWD,
    name: "/etc/passwd",
    flags: O_RDONLY | O_CLOEXEC,
  }));
  const mfd = ev("memfd_create", { tid: 600, pid: 600 }, { fd: 4, name: "payload", flags: 0 });
  state.update(mfd);
  assertEquals(field(mfd, "fd.typechar"), "m");
  assertEquals(field(mfd, "fd.name"), "payload");
  const exec = execve(state, 600, "/memfd:payload (deleted)", [], {
    flags: 4,
    trusted_exepath: "/memfd:payload (deleted)",
  });
  assertEquals(field(exec, "proc.is_exe_from_memfd"), true);
  const fds = state.procs.get(600)!.fds;
  assert(!fds.has(3), "O_CLOEXEC fd closed by exec");
  assert(fds.has(4));
});

Deno.test("state: pipes, socketpairs and simple fds", () => {
  const state = seeded();
  const p = ev("pipe2", { tid: 100, pid: 100 }, { res: 0, fd1: 5, fd2: 6, ino: 777, flags: 0 });
  state.update(p);
  assertEquals(field(p, "fd.type"), "pipe");
  assertEquals(state.procs.get(100)!.fds.get(6)?.ino, 777);
  const sp = ev("socketpair", { tid: 100, pid: 100 }, {
    res: 0,
    fd1: 7,
    fd2: 8,
    source: 0xffff1000,
    peer: 0xffff2000,
    domain: 1,
    type: 1,
    proto: 0,
  });
  state.update(sp);
  assertEquals(field(sp, "fd.typechar"), "u");
  assertEquals(state.procs.get(100)!.fds.get(8)?.type, FD_TYPE.UNIX_SOCK);
  const efd = ev("eventfd2", { tid: 100, pid: 100 }, { res: 9, flags: 0, initval: 0 });
  state.update(efd);
  assertEquals(field(efd, "fd.typechar"), "e");
  const ep = ev("epoll_create1", { tid: 100, pid: 100 }, { res: 10, flags: 0 });
  state.update(ep);
  assertEquals(field(ep, "fd.type"), "eventpoll");
  state.update(ev("close_range", { tid: 100, pid: 100 }, { res: 0, first: 5, last: 8, flags: 0 }));
  const fds = state.procs.get(100)!.fds;
  assertEquals([5, 6, 7, 8].map((n) => fds.has(n)), [false, false, false, false]);
  assert(fds.has(9));
});

Deno.test("state: old capture events (enter + exit, old versions) by parameter name", () => {
  const state = seeded();
  // openat: old enter carries the path, old exit only the fd.
  const enter = ev(oldId("openat", ">", ["dirfd", "name", "flags", "mode"]), { tid: 100 }, {
    dirfd: AT_FDCWD,
    name: "/etc/hostname",
    flags: O_RDONLY,
    mode: 0,
  });
  state.update(enter);
  const exit = ev(oldId("openat", "<", ["fd"]), { tid: 100 }, { fd: 4 });
  state.update(exit);
  assertEquals(field(exit, "fd.name"), "/etc/hostname");
  // close: enter names the fd, exit has only the result.
  const closeEnter = ev(oldId("close", ">", ["fd"]), { tid: 100 }, { fd: 4 });
  state.update(closeEnter);
  assertEquals(field(closeEnter, "fd.name"), "/etc/hostname");
  state.update(ev(oldId("read", ">", ["fd", "size"]), { tid: 100 }, { fd: 4, size: 1 }));
  // Old captures wrote read exits with two parameters (res, data) under the same id.
  const rx = firstParams(ev("read", { tid: 100 }, { res: 1, data: "x", fd: 99, size: 1 }), 2);
  assertEquals(rx.nparams, 2);
  state.update(rx);
  assertEquals(field(rx, "fd.num"), 4, "old read exit takes the fd from its enter event");
  assertEquals(field(rx, "fd.name"), "/etc/hostname");
  // clone, oldest version, in the child (no pid in the header of scap events).
  const cloneOld = oldId("clone", "<", [
    "res",
    "exe",
    "args",
    "tid",
    "pid",
    "ptid",
    "cwd",
    "fdlimit",
    "flags",
    "uid",
    "gid",
  ]);
  const child = ev(cloneOld, { tid: 700, pid: 0 }, {
    res: 0,
    exe: "/bin/bash",
    args: ["-c", "ls"],
    tid: 700,
    pid: 700,
    ptid: 100,
    cwd: "/tmp",
    fdlimit: 1024,
    flags: 0,
    uid: 0,
    gid: 0,
  });
  state.update(child);
  assertEquals(field(child, "proc.pid"), 700);
  assertEquals(field(child, "proc.pname"), "sshd");
  assertEquals(field(child, "proc.cwd"), "/", "the parent's tracked directory, as libsinsp");
  // execve, oldest version: no comm parameter, derived from exe.
  const execOld = oldId("execve", "<", [
    "res",
    "exe",
    "args",
    "tid",
    "pid",
    "ptid",
    "cwd",
    "fdlimit",
  ]);
  const ex = ev(execOld, { tid: 700, pid: 0 }, {
    res: 0,
    exe: "/bin/ls",
    args: ["-l"],
    tid: 700,
    pid: 700,
    ptid: 100,
    cwd: "/tmp",
    fdlimit: 1024,
  });
  state.update(ex);
  assertEquals(field(ex, "proc.name"), "ls");
  assertEquals(field(ex, "proc.cmdline"), "ls -l");
});

Deno.test("state: container id from cgroups, metadata and k8s fields from labels", () => {
  const containers = new ContainerStore({ sockets: [] });
  const state = new StateStore({ containers });
  state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "init" });
  const id = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";
  state.addThread({
    tid: 800,
    pid: 800,
    ppid: 1,
    comm: "nginx",
    cgroups: ["cpu=/kubepods/besteffort/pod1234/" + id],
    pidnsInitStartTs: 123n,
  });
  const e = ev("getcwd", { tid: 800, pid: 800 }, { res: 0, path: "/" });
  state.update(e);
  assertEquals(field(e, "container.id"), "3ad7b26ded6d");
  assertEquals(field(e, "container.full_id"), id);
  assertEquals(field(e, "container.name"), undefined, "unknown until the runtime answers");
  assertEquals(field(e, "container.start_ts"), 123n);
  containers.set({
    id,
    type: "containerd",
    name: "k8s_nginx",
    image: "registry.k8s.io/nginx:1.25",
    imageRepository: "registry.k8s.io/nginx",
    imageTag: "1.25",
    privileged: true,
    mounts: [
      {
        source: "/var/run/docker.sock",
        dest: "/var/run/docker.sock",
        mode: "",
        rw: true,
        propagation: "rprivate",
      },
      { source: "/proc", dest: "/host/proc", mode: "ro", rw: false, propagation: "rprivate" },
    ],
    labels: {
      "io.kubernetes.pod.name": "web-1",
      "io.kubernetes.pod.namespace": "prod",
      "io.kubernetes.pod.uid": "uid-1",
      "app": "web",
    },
  });
  assertEquals(field(e, "container.name"), "k8s_nginx");
  assertEquals(field(e, "container.image.repository"), "registry.k8s.io/nginx");
  assertEquals(field(e, "container.privileged"), true);
  assertEquals(field(e, "container.mount.dest[/var/run/docker.sock]"), "/var/run/docker.sock");
  assertEquals(field(e, "container.mount.dest[/proc*]"), "/host/proc");
  assertEquals(field(e, "container.mount.dest[/etc]"), "<NA>");
  assertEquals(field(e, "container.mount.source[/host/*]"), "/proc");
  assertEquals(field(e, "container.label[app]"), "web");
  assertEquals(field(e, "k8s.pod.name"), "web-1");
  assertEquals(field(e, "k8s.ns.name"), "prod");
  assertEquals(field(e, "k8s.pod.label.app"), "web");
  assertEquals(field(e, "k8s.pod.labels"), "app:web");
  const host = ev("getcwd", { tid: 1, pid: 1 }, { res: 0, path: "/" });
  state.update(host);
  assertEquals(field(host, "container.id"), "host");
  assertEquals(field(host, "container.name"), "host");
  assertEquals(field(host, "k8s.pod.name"), undefined);
});

Deno.test("state: unknown threads come from the event header when not live", () => {
  const state = new StateStore();
  const e = ev("read", { tid: 4321, pid: 4320, ppid: 1, comm: "mystery" }, {
    res: 0,
    fd: 0,
    size: 1,
  });
  state.update(e);
  assertEquals(field(e, "proc.name"), "mystery");
  assertEquals(field(e, "proc.pid"), 4320);
  assertEquals(field(e, "thread.tid"), 4321);
  assertEquals(state.stats.fdMisses, 1);
});

Deno.test("state: threads whose exit was lost are purged against /proc, a slice at a time", async () => {
  // A pid that surely exited: a child that has been waited for.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const state = new StateStore({ proc: new ProcFs() });
  state.addThread({ tid: gone.pid, pid: gone.pid, ppid: 1, comm: "lost" });
  state.addThread({ tid: Deno.pid, pid: Deno.pid, ppid: 1, comm: "me" });
  const batch = concatRecords([
    encodeLiveRecord(currentExitId("getcwd")!, { tid: Deno.pid, pid: Deno.pid }, { res: 0 }),
  ]);
  for (let i = 0; i < 70_000 * 2; i++) state.update(decodeLiveBatch(batch, 0n, 1)[0]);
  assert(!state.threads.has(gone.pid), "the lost thread is purged");
  assert(state.threads.has(Deno.pid), "a live thread stays");
  assertEquals(state.stats.threadsPurged, 1);
});

Deno.test("state: the purge checks each idle thread at most once a sweep, slices paced by time", () => {
  // A /proc of our own: which threads exist, and every check counted.
  const gone = new Set<number>();
  let checks = 0;
  const proc: ProcReader = {
    root: "/proc",
    thread: () => undefined,
    fds: () => [],
    threadExists: (_pid, tid) => {
      checks++;
      return !gone.has(tid);
    },
    environ: () => undefined,
  };
  let now = 1_000_000;
  const state = new StateStore({ proc, userFiles: false, now: () => now });
  const idle = PURGE_SLICE_THREADS + 36;
  for (let tid = 1000; tid < 1000 + idle; tid++) {
    state.addThread({ tid, pid: tid, ppid: 1, comm: "idle" });
  }
  state.addThread({ tid: Deno.pid, pid: Deno.pid, ppid: 1, comm: "me" });
  const batch = concatRecords([
    encodeLiveRecord(currentExitId("getcwd")!, { tid: Deno.pid, pid: Deno.pid }, { res: 0 }),
  ]);
  /** Events up to the next slice's turn (one every 65536 events). */
  const slice = () => {
    do state.update(decodeLiveBatch(batch, 0n, 1)[0]); while ((state.seq & 0xffff) !== 0);
  };
  slice();
  assertEquals(checks, PURGE_SLICE_THREADS, "a slice checks its share of the idle threads");
  slice();
  assertEquals(checks, PURGE_SLICE_THREADS, "no slice sooner than the pace allows");
  now += PURGE_SLICE_MS;
  slice();
  assertEquals(checks, idle, "the next slice ends the sweep: the busy thread is not checked");
  gone.add(1000);
  while (now < 1_000_000 + PURGE_SWEEP_MS - PURGE_SLICE_MS) {
    now += PURGE_SLICE_MS;
    slice();
  }
  assertEquals(checks, idle, "no thread is checked twice within a sweep's interval");
  assert(state.threads.has(1000), "so a lost exit waits for the next sweep");
  now += PURGE_SLICE_MS;
  slice();
  assertEquals(checks, idle + PURGE_SLICE_THREADS, "the next sweep starts after the interval");
  assert(!state.threads.has(1000), "and purges the thread whose exit was lost");
  assertEquals(state.stats.threadsPurged, 1);
  assert(state.threads.has(1001), "a thread that still exists stays");
});

Deno.test("state: useradded and groupadded, again the same (kept, not rebuilt) and changed (replaced); paramIs compares bytes to text", () => {
  const s = new StateStore();
  // Meta events have only an enter version.
  const [USERADDED] = eventIdsByName("useradded");
  const [GROUPADDED] = eventIdsByName("groupadded");
  const user = (home: string, name = "alice") =>
    ev(USERADDED, { tid: 1 }, {
      uid: 1001,
      gid: 1001,
      name,
      home,
      shell: "/bin/sh",
      container_id: "",
    });
  const first = user("/home/alice");
  s.update(first);
  const entry = s.users.added("user", 1001);
  assertEquals(entry?.name, "alice");
  const again = user("/home/alice");
  assert(again.paramIs(again.info.paramIndex.get("home")!, "/home/alice"));
  assert(!again.paramIs(again.info.paramIndex.get("home")!, "/home/alicf"));
  assert(!again.paramIs(again.info.paramIndex.get("home")!, "/home/alice/"));
  s.update(again);
  assert(s.users.added("user", 1001) === entry, "the same entry again is kept");
  s.update(user("/srv/alice"));
  assertEquals(s.users.added("user", 1001)?.home, "/srv/alice");
  const accented = user("/home/élise", "élise");
  assert(accented.paramIs(accented.info.paramIndex.get("name")!, "élise"));
  s.update(accented);
  assertEquals(s.users.added("user", 1001)?.name, "élise");
  s.update(user("/home/élise", "élise"));
  assertEquals(s.users.added("user", 1001)?.name, "élise");
  s.update(ev(USERADDED, { tid: 1 }, {
    uid: 1001,
    gid: 1001,
    name: "bob",
    home: "/home/bob",
    shell: "/bin/sh",
    container_id: "abc123def456",
  }));
  assertEquals(s.users.added("user", 1001, "abc123def456")?.name, "bob");
  assertEquals(s.users.added("user", 1001)?.name, "élise", "the host's entry stays");
  for (const name of ["staff", "staff", "wheel"]) {
    s.update(ev(GROUPADDED, { tid: 1 }, { gid: 50, name, container_id: "" }));
    assertEquals(s.users.added("group", 50)?.name, name);
  }
});

Deno.test("state: a thread keeps the enter event of a state-changing call until its exit, no other", () => {
  const s = new StateStore();
  s.addThread({ tid: 10, pid: 10, ppid: 1, comm: "sh", exe: "sh", cwd: "/root" });
  const enterOf = (name: string) =>
    EVENTS.find((e) => e.name === name && e.dir === ">" && e.params.length > 0)!.id;
  const open = buildEvent(enterOf("openat"), { tid: 10, pid: 10 }, {
    dirfd: -100,
    name: "a",
    flags: 1,
    mode: 0,
  });
  s.update(open);
  assert(s.threads.get(10)!.lastEnter === open, "openat's exit handler reads its enter");
  // A call whose events change no state: its enter is never read back, and it ends the last.
  const sleep = buildEvent(enterOf("nanosleep"), { tid: 10, pid: 10 }, { interval: 1n });
  assert(sleep.nparams > 0);
  s.update(sleep);
  assertEquals(s.threads.get(10)!.lastEnter, undefined);
  s.update(open);
  s.update(buildEvent("openat", { tid: 10, pid: 10 }, { fd: 3, dirfd: -100, name: "a", flags: 1 }));
  assertEquals(s.threads.get(10)!.lastEnter, undefined, "the exit ends it");
});
