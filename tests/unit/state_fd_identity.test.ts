/**
 * State with fd history kept for sockets only (StateStore.fdIdentity): the kernel leaves out
 * closes and most fd creators, so an fd number may name another file than the table says. Records
 * that read an fd carry its inode; a table entry naming another inode is dropped, one naming the
 * same inode stays (with its history). The directory a relative path was resolved against comes
 * from the record where the working directory is unknown or a directory fd is unseen, and the
 * working directory from chdir/fchdir records where the path does not say.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { buildEvent, type EventHeader } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { StateStore } from "../../src/state/store.ts";
import { FD_TYPE } from "../../src/state/model.ts";

let clock = 1_000n;
function ev(name: string, header: EventHeader, params: Record<string, unknown>): Event {
  clock += 1000n;
  return buildEvent(name, { ts: clock, ...header }, params, 1_700_000_000_000_000_000n);
}

const H = { tid: 50, pid: 50 };

function store(identity: boolean): StateStore {
  const s = new StateStore();
  s.fdIdentity = identity;
  s.addThread({ tid: 50, pid: 50, ppid: 1, comm: "nc", exe: "nc", cwd: "/home/u" });
  s.linkChildren();
  return s;
}

function socketAt(s: StateStore, fd: number, ino: number): void {
  s.update(ev("socket", H, { fd, domain: 2, type: 1, proto: 0, ino }));
  s.update(ev("connect", H, {
    res: 0,
    fd,
    tuple: { family: 2, sip: "10.0.0.5", sport: 40000, dip: "10.9.9.9", dport: 4444 },
    fd_ino: ino,
  }));
}

Deno.test("fd identity: a dup of the same socket keeps its history", () => {
  const s = store(true);
  socketAt(s, 3, 111);
  const d = ev("dup2", H, { res: 0, oldfd: 3, newfd: 0, fd_ino: 111 });
  s.update(d);
  assertEquals(d.fdInfo?.name, "10.0.0.5:40000->10.9.9.9:4444");
  assertEquals(s.procs.get(50)!.fds.get(0)?.type, FD_TYPE.IPV4_SOCK);
  assertEquals(s.stats.fdStale, 0);
});

Deno.test("fd identity: a number reused by another file (its close not seen) is dropped", () => {
  const s = store(true);
  socketAt(s, 3, 111);
  // The socket was closed and 3 reopened as a file: neither call was captured.
  const d = ev("dup2", H, { res: 0, oldfd: 3, newfd: 0, fd_ino: 999 });
  s.update(d);
  assertEquals(d.fdInfo, undefined);
  assertEquals(s.procs.get(50)!.fds.get(3), undefined);
  assertEquals(s.procs.get(50)!.fds.get(0), undefined, "nothing copied to stdin");
  assertEquals(s.stats.fdStale, 1);
  // Without identity checks (fd history kept whole), the table is trusted as before.
  const t = store(false);
  socketAt(t, 3, 111);
  const e = ev("dup2", H, { res: 0, oldfd: 3, newfd: 0, fd_ino: 999 });
  t.update(e);
  assert(e.fdInfo !== undefined);
});

Deno.test("fd identity: execve keeps standard fds only if they are still the same files", () => {
  const s = store(true);
  socketAt(s, 0, 111);
  socketAt(s, 1, 222);
  const exec = (stdin: number, stdout: number) =>
    ev("execve", H, {
      res: 0,
      exe: "/bin/sh",
      args: new Uint8Array(0),
      tid: 50,
      pid: 50,
      ptid: 1,
      cwd: "/home/u",
      comm: "sh",
      stdin_ino: stdin,
      stdout_ino: stdout,
      stderr_ino: 0,
    });
  s.update(exec(111, 333));
  const fds = s.procs.get(50)!.fds;
  assertEquals(fds.get(0)?.type, FD_TYPE.IPV4_SOCK, "stdin is still the socket");
  assertEquals(fds.get(1), undefined, "stdout names another file now");
});

Deno.test("paths: the working directory as written; the kernel's directory where it is unknown", () => {
  const s = store(true);
  // A known working directory keeps the path as the process wrote it (Falco's names go through
  // symbolic links as written), even where the kernel resolved it elsewhere.
  const o = ev("openat", H, {
    fd: 4,
    dirfd: -100,
    name: "../etc/shadow",
    flags: 1,
    mode: 0,
    name_dir: "/srv/app",
  });
  s.update(o);
  assertEquals(o.fdInfo?.name, "/home/etc/shadow");
  // A directory fd the table never saw.
  const p = ev("openat", H, {
    fd: 5,
    dirfd: 9,
    name: "passwd",
    flags: 1,
    mode: 0,
    name_dir: "/etc",
  });
  s.update(p);
  assertEquals(p.fdInfo?.name, "/etc/passwd");
  s.update(ev("chdir", H, { res: 0, path: "link", cwd: "/real/target" }));
  assertEquals(s.procs.get(50)!.cwd, "/home/u/link");
  s.update(ev("fchdir", H, { res: 0, fd: 12, cwd: "/opt" }));
  assertEquals(s.procs.get(50)!.cwd, "/opt");
  // A thread whose working directory is unknown takes the kernel's.
  s.addThread({ tid: 60, pid: 60, ppid: 1, comm: "sh", exe: "sh", cwd: "" });
  const q = ev("openat", { tid: 60, pid: 60 }, {
    fd: 3,
    dirfd: -100,
    name: "notes",
    flags: 1,
    mode: 0,
    name_dir: "/srv/app",
  });
  s.update(q);
  assertEquals(q.fdInfo?.name, "/srv/app/notes");
  s.update(ev("chdir", { tid: 60, pid: 60 }, { res: 0, path: "data", cwd: "/srv/app/data" }));
  assertEquals(s.procs.get(60)!.cwd, "/srv/app/data");
});
