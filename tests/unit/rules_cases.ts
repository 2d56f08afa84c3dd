/**
 * One case table for condition semantics, run against both evaluators (generated code and the
 * reference evaluator): every operator and modifier, transformers, val(), field arguments,
 * CIDR, and Falco's missing-value rule (a field that cannot be extracted makes every check
 * false, `!=` included).
 * @module
 */
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { eventIdsByName, EVENTS } from "../../src/events/table.ts";
import { FD_TYPE, FdInfo, L4, ProcessInfo, ROLE, ThreadInfo } from "../../src/state/model.ts";
import type { StateView } from "../../src/state/model.ts";

/** A condition, the event it runs on, and whether it must match. */
export interface ConditionCase {
  cond: string;
  ev: keyof typeof EVENTS_BY_NAME;
  want: boolean;
}

function threads(): Map<number, ThreadInfo> {
  const procs = new Map<number, ProcessInfo>();
  const view: StateView = {
    process: (pid) => procs.get(pid),
    container: () => undefined,
    user: (uid) => ({ id: uid, name: uid === 0 ? "root" : "alice", home: "/", shell: "/bin/sh" }),
    group: (gid) => ({ id: gid, name: "users", home: "", shell: "" }),
    env: () => ["HOME=/home/alice", "PATH=/bin"],
  };
  const mk = (pid: number, ppid: number, comm: string, args: string[]) => {
    const p = new ProcessInfo(pid, view);
    p.ppid = ppid;
    p.comm = comm;
    p.exe = comm;
    p.exepath = `/usr/bin/${comm}`;
    p.args = args;
    procs.set(pid, p);
    const t = new ThreadInfo(pid, p);
    t.comm = comm;
    t.uid = 1000;
    return t;
  };
  mk(1, 0, "systemd", []);
  mk(10, 1, "sshd", []);
  mk(20, 10, "bash", []);
  const out = new Map<number, ThreadInfo>();
  out.set(30, mk(30, 20, "Cat", ["/etc/passwd"]));
  out.set(40, mk(40, 20, "curl", ["-s", "http://example.com"]));
  return out;
}

const T = threads();

function openEvent(): Event {
  const ev = buildEvent("openat", { tid: 30, pid: 30 }, {
    fd: 3,
    dirfd: -100,
    name: "/etc/passwd",
    flags: 1 | 8192 * 0,
    mode: 0,
  });
  ev.thread = T.get(30);
  const fd = new FdInfo(3, FD_TYPE.FILE, "/etc/passwd");
  ev.fdInfo = fd;
  ev.fdNum = 3;
  return ev;
}

function connectEvent(): Event {
  const ev = buildEvent("connect", { tid: 40, pid: 40 }, {
    res: 0,
    tuple: { family: 2, sip: "10.1.2.3", sport: 40000, dip: "192.168.7.9", dport: 443 },
    fd: 4,
    addr: { family: 2, addr: "192.168.7.9", port: 443 },
  });
  ev.thread = T.get(40);
  const fd = new FdInfo(4, FD_TYPE.IPV4_SOCK, "10.1.2.3:40000->192.168.7.9:443");
  fd.l4proto = L4.TCP;
  fd.family = 2;
  fd.cip = "10.1.2.3";
  fd.cport = 40000;
  fd.sip = "192.168.7.9";
  fd.sport = 443;
  fd.role = ROLE.CLIENT;
  fd.connected = true;
  ev.fdInfo = fd;
  ev.fdNum = 4;
  return ev;
}

function failedOpen(): Event {
  const ev = buildEvent("openat", { tid: 30, pid: 30 }, {
    fd: -2,
    dirfd: -100,
    name: "/nope",
    flags: 1,
    mode: 0,
  });
  ev.thread = T.get(30);
  return ev;
}

function stateless(): Event {
  // No thread attached: every proc.* field is missing.
  return buildEvent("openat", { tid: 99 }, { fd: 3, dirfd: -100, name: "/tmp/x", flags: 2 });
}

function enterOpen(): Event {
  const id = eventIdsByName("openat").find((i) => EVENTS[i].dir === ">" && !EVENTS[i].old)!;
  return buildEvent(id, { tid: 30 }, { dirfd: -100, name: "/etc/passwd", flags: 1, mode: 0 });
}

function writeEvent(): Event {
  const ev = buildEvent("write", { tid: 30, pid: 30 }, {
    res: 5,
    data: new TextEncoder().encode("hello\x00\x01world"),
    fd: 3,
    size: 12,
  });
  ev.thread = T.get(30);
  return ev;
}

/** Event builders by name (fresh events each time). */
export const EVENTS_BY_NAME = {
  open: openEvent,
  connect: connectEvent,
  failed: failedOpen,
  stateless,
  enter: enterOpen,
  write: writeEvent,
};

/** The table. */
export const CASES: ConditionCase[] = [
  // equality and order on strings and numbers
  { cond: "evt.arg.name = /etc/passwd", ev: "open", want: true },
  { cond: "evt.arg.name == /etc/passwd", ev: "open", want: true },
  { cond: "evt.arg.name != /etc/passwd", ev: "open", want: false },
  { cond: "evt.rawres = 3", ev: "open", want: true },
  { cond: "evt.rawres < 4 and evt.rawres > 2", ev: "open", want: true },
  { cond: "evt.rawres <= 2", ev: "open", want: false },
  { cond: "evt.rawres >= 0x3", ev: "open", want: true },
  { cond: "evt.rawres != 3", ev: "open", want: false },
  { cond: "evt.rawres in (1, 2, 3)", ev: "open", want: true },
  { cond: "evt.rawres intersects (7, 3)", ev: "open", want: true },
  { cond: "evt.rawarg.flags = 1", ev: "open", want: true },
  // string operators
  { cond: "evt.arg.name contains /pass", ev: "open", want: true },
  { cond: "evt.arg.name contains shadow", ev: "open", want: false },
  { cond: "evt.arg.name icontains /PASS", ev: "open", want: true },
  { cond: "evt.arg.name startswith /etc/", ev: "open", want: true },
  { cond: "evt.arg.name endswith passwd", ev: "open", want: true },
  { cond: "evt.arg.name endswith shadow", ev: "open", want: false },
  { cond: "evt.arg.name glob '/etc/*'", ev: "open", want: true },
  { cond: "evt.arg.name glob '/etc/p?wd'", ev: "open", want: false },
  { cond: "evt.arg.name glob '/etc/p?sswd'", ev: "open", want: true },
  { cond: "evt.arg.name glob '/etc/[op]asswd'", ev: "open", want: true },
  { cond: "evt.arg.name iglob '/ETC/*WD'", ev: "open", want: true },
  { cond: "evt.arg.name regex '/etc/pa.*'", ev: "open", want: true },
  { cond: "evt.arg.name regex 'etc'", ev: "open", want: false },
  { cond: "evt.arg.name in (/etc/shadow, /etc/passwd)", ev: "open", want: true },
  { cond: "evt.arg.name in (a, b, c, d, e, f, /etc/passwd)", ev: "open", want: true },
  { cond: "evt.arg.name in (a, b, c, d, e, f)", ev: "open", want: false },
  { cond: "evt.arg.name intersects (/etc/passwd)", ev: "open", want: true },
  { cond: "evt.arg.name pmatch (/etc)", ev: "open", want: true },
  { cond: "evt.arg.name pmatch (/et)", ev: "open", want: false },
  { cond: "evt.arg.name pmatch (/usr, /e*)", ev: "open", want: true },
  { cond: "evt.arg.name exists", ev: "open", want: true },
  {
    cond: "evt.arg.name = '/etc/passwd' and evt.arg.name = \"/etc/passwd\"",
    ev: "open",
    want: true,
  },
  // modifiers
  { cond: "evt.arg.name startswith oneof (/etc, /usr)", ev: "open", want: true },
  { cond: "evt.arg.name startswith oneof (/etc, /et)", ev: "open", want: false },
  { cond: "evt.arg.name contains anyof (foo, pass)", ev: "open", want: true },
  { cond: "evt.arg.name contains allof (etc, pass)", ev: "open", want: true },
  { cond: "evt.arg.name contains allof (etc, shadow)", ev: "open", want: false },
  { cond: "evt.arg.name != allof (/a, /b)", ev: "open", want: true },
  // flags rendered by name
  { cond: "evt.arg.flags contains O_RDONLY", ev: "open", want: true },
  { cond: "evt.arg.flags = O_RDONLY", ev: "open", want: true },
  { cond: "evt.res = SUCCESS", ev: "open", want: true },
  { cond: "evt.res = ENOENT", ev: "failed", want: true },
  { cond: "evt.failed = true", ev: "failed", want: true },
  { cond: "evt.failed = false", ev: "open", want: true },
  { cond: "evt.is_open_read = true and evt.is_open_write = false", ev: "open", want: true },
  // event type folding, enter events and inference-related syntax
  { cond: "evt.type = openat", ev: "open", want: true },
  { cond: "evt.type in (open, openat, openat2)", ev: "enter", want: true },
  { cond: "evt.type != openat", ev: "open", want: false },
  { cond: "not evt.type = execve", ev: "open", want: true },
  { cond: "evt.dir = <", ev: "open", want: true },
  { cond: "evt.category = file", ev: "open", want: true },
  { cond: "syscall.type = openat", ev: "open", want: true },
  // precedence: not > and > or
  { cond: "evt.rawres = 9 and evt.rawres = 3 or evt.rawres = 3", ev: "open", want: true },
  { cond: "evt.rawres = 9 and (evt.rawres = 3 or evt.rawres = 3)", ev: "open", want: false },
  { cond: "not evt.rawres = 9 and evt.rawres = 3", ev: "open", want: true },
  { cond: "not (evt.rawres = 3 or evt.rawres = 9)", ev: "open", want: false },
  { cond: "not not evt.rawres = 3", ev: "open", want: true },
  // transformers and val()
  { cond: "tolower(proc.name) = cat", ev: "open", want: true },
  { cond: "toupper(proc.name) = CAT", ev: "open", want: true },
  { cond: "proc.name = cat", ev: "open", want: false },
  { cond: "basename(evt.arg.name) = passwd", ev: "open", want: true },
  { cond: "len(evt.arg.name) = 11", ev: "open", want: true },
  { cond: "len(evt.arg.name) > 20", ev: "open", want: false },
  { cond: "b64(proc.pname) exists", ev: "open", want: true },
  { cond: "evt.arg.name = val(fd.name)", ev: "open", want: true },
  { cond: "proc.name = val(proc.pname)", ev: "open", want: false },
  { cond: "basename(evt.arg.name) = basename(fd.name)", ev: "open", want: true },
  // field arguments
  { cond: "proc.aname[1] = bash", ev: "open", want: true },
  { cond: "proc.aname[2] = sshd", ev: "open", want: true },
  { cond: "proc.aname = systemd", ev: "open", want: true },
  { cond: "proc.aname = nginx", ev: "open", want: false },
  { cond: "proc.aname in (nginx, sshd)", ev: "open", want: true },
  { cond: "proc.args[0] = /etc/passwd", ev: "open", want: true },
  { cond: "evt.arg[2] = /etc/passwd", ev: "open", want: true },
  { cond: "evt.arg.fd = '<f>/etc/passwd'", ev: "open", want: true },
  { cond: "evt.arg.dirfd = AT_FDCWD", ev: "open", want: true },
  // addresses and networks
  { cond: "fd.sip = 192.168.7.9", ev: "connect", want: true },
  { cond: "fd.sip = 192.168.7.10", ev: "connect", want: false },
  { cond: "fd.sip in (1.1.1.1, 192.168.7.9)", ev: "connect", want: true },
  { cond: "fd.snet = 192.168.0.0/16", ev: "connect", want: true },
  { cond: "fd.snet = 10.0.0.0/8", ev: "connect", want: false },
  { cond: "fd.snet != 10.0.0.0/8", ev: "connect", want: true },
  { cond: 'fd.net in ("127.0.0.1/24", "10.0.0.0/8")', ev: "connect", want: true },
  { cond: "fd.sport = 443 and fd.sport in (80, 443)", ev: "connect", want: true },
  { cond: "fd.sport = https", ev: "connect", want: true },
  { cond: "fd.l4proto = tcp", ev: "connect", want: true },
  // byte buffers
  { cond: "evt.buffer contains hello", ev: "write", want: true },
  { cond: "evt.buffer bcontains 0001", ev: "write", want: true },
  { cond: "evt.buffer bcontains 0102", ev: "write", want: false },
  { cond: "evt.buffer bstartswith 68656c", ev: "write", want: true },
  { cond: "evt.buffer startswith hello", ev: "write", want: true },
  // missing values: every check on a missing field is false, != included
  { cond: "proc.name = cat", ev: "stateless", want: false },
  { cond: "proc.name != cat", ev: "stateless", want: false },
  { cond: "proc.name in (cat)", ev: "stateless", want: false },
  { cond: "proc.name contains c", ev: "stateless", want: false },
  { cond: "proc.name exists", ev: "stateless", want: false },
  { cond: "not proc.name = cat", ev: "stateless", want: true },
  { cond: "not proc.name != cat", ev: "stateless", want: true },
  { cond: "tolower(proc.name) != cat", ev: "stateless", want: false },
  { cond: "proc.aname = bash", ev: "stateless", want: false },
  { cond: "evt.rawres != 5", ev: "enter", want: false },
  { cond: "evt.res != SUCCESS", ev: "enter", want: false },
  { cond: "evt.arg.name = val(proc.name)", ev: "stateless", want: false },
];
