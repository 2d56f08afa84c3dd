/**
 * The decoder on bytes the real probe wrote (tests/fixtures/live_records.bin, recorded by
 * scripts/record_live_fixture.ts): a shell writes hello.txt, cat reads it, ln -sf replaces a link
 * to it, python connects to a closed port. No kernel needed.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { decodeLiveBatch, type Event } from "../../src/events/event.ts";
import { renderFlags } from "../../src/events/flags.ts";
import { formatArgs, formatEventLine } from "../../src/events/print.ts";
import type { SockAddr } from "../../src/events/params.ts";

const bytes = await Deno.readFile(new URL("../fixtures/live_records.bin", import.meta.url));
const events = decodeLiveBatch(bytes, 1_700_000_000_000_000_000n, 1);
const find = (pred: (e: Event) => boolean) => {
  const e = events.find(pred);
  if (!e) throw new Error("event not in the fixture");
  return e;
};

Deno.test("recorded: every record decodes with the table's parameter count", () => {
  assertEquals(events.length, 225);
  for (const e of events) {
    assertEquals(e.nparams, e.info.params.length, `${e.name} parameter count`);
    assert(e.tid > 0 && e.pid > 0 && e.cpu >= 0);
  }
  const nums = events.map((e) => e.num);
  assertEquals(nums, nums.map((_, i) => i + 1));
  // The fixture's commands made these system calls, and only these (the recorder's filter).
  assertEquals(
    new Set(events.map((e) => e.name)),
    new Set([
      "dup2",
      "fcntl",
      "chdir",
      "getcwd",
      "execve",
      "openat",
      "close",
      "mprotect",
      "vfork",
      "procexit",
      "symlinkat",
      "renameat",
      "epoll_create1",
      "socket",
      "connect",
    ]),
  );
});

/** `saker capture`'s line with the wall-clock part of the time (local time zone) masked. */
const line = (e: Event) => formatEventLine(e).replace(/^(\d+) \d\d:\d\d:\d\d\./, "$1 HH:MM:SS.");

Deno.test("recorded: capture lines, written out by hand from what the commands did", () => {
  const byNum = (n: number) => line(events[n - 1]);
  assertEquals(
    byNum(14),
    "14 HH:MM:SS.499460554 1 sh (tid=22416 pid=22416 ppid=22409) < openat fd=4 dirfd=-100(AT_FDCWD) name=hello.txt flags=262(O_TRUNC|O_CREAT|O_WRONLY) mode=0666 dev=FE00000 ino=2147403",
  );
  assertEquals(
    byNum(81),
    "81 HH:MM:SS.501156001 0 cat (tid=22418 pid=22418 ppid=22416) < openat fd=4 dirfd=-100(AT_FDCWD) name=hello.txt flags=1(O_RDONLY) mode=0 dev=FE00000 ino=2147403",
  );
  assertEquals(
    byNum(38),
    "38 HH:MM:SS.501009094 0 cat (tid=22418 pid=22418 ppid=22416) < openat fd=-2(ENOENT) dirfd=-100(AT_FDCWD) name=/usr/lib/locale/locale-archive flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev=0 ino=0",
  );
  assertEquals(
    byNum(85),
    "85 HH:MM:SS.501194353 0 cat (tid=22418 pid=22418 ppid=22416) > procexit status=0 ret=0 sig=0 core=0 reaper_tid=0",
  );
  assertEquals(
    byNum(141),
    "141 HH:MM:SS.502434838 0 ln (tid=22419 pid=22419 ppid=22416) < symlinkat res=-17(EEXIST) target=hello.txt linkdirfd=-100(AT_FDCWD) linkpath=link",
  );
  assertEquals(
    byNum(221),
    "221 HH:MM:SS.519573846 1 python3 (tid=22420 pid=22420 ppid=22416) < socket fd=4 domain=2(AF_INET) type=1 proto=0 flags=4096(O_CLOEXEC)",
  );
  assertEquals(
    byNum(222),
    "222 HH:MM:SS.519836651 1 python3 (tid=22420 pid=22420 ppid=22416) < connect res=-111(ECONNREFUSED) tuple=<NA> fd=4 addr=127.0.0.1:1",
  );
});

Deno.test("recorded: every line carries its header and each parameter in table order", () => {
  const head =
    /^(\d+) HH:MM:SS\.(\d{9}) (\d+) (\S+) \(tid=(\d+) pid=(\d+) ppid=(\d+)\) ([<>]) (\w+) (.*)$/s;
  for (const e of events) {
    const l = line(e);
    const m = head.exec(l);
    assert(m, l);
    assertEquals(
      [m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]],
      [e.num, e.ts % 1_000_000_000n, e.cpu, e.comm, e.tid, e.pid, e.ppid, e.dir, e.name].map((x) =>
        x === e.ts % 1_000_000_000n ? String(x).padStart(9, "0") : String(x)
      ),
      l,
    );
    let at = 0;
    // The printed line shows the scap layout; the facts Saker's probe adds are checked below.
    for (const p of e.info.params.slice(0, e.info.scapParamCount)) {
      const i = m[10].indexOf(`${p.name}=`, at);
      assert(i >= at, `${e.name}: ${p.name}= missing or out of order in ${l.slice(0, 300)}`);
      at = i + p.name.length + 1;
    }
  }
});

Deno.test("recorded: shell execve and the redirect's openat", () => {
  const sh = find((e) => e.name === "execve" && e.comm === "sh");
  assertEquals(sh.res, 0);
  assertEquals(sh.arg("exe"), "/bin/sh");
  assert(
    String(new TextDecoder().decode(sh.arg("args") as Uint8Array)).startsWith(
      "-c\0cd /tmp/saker-fixture",
    ),
  );
  const w = find((e) => e.name === "openat" && e.arg("name") === "hello.txt" && e.comm === "sh");
  assertEquals(renderFlags("file_flags", w.arg("flags") as number), "O_TRUNC|O_CREAT|O_WRONLY");
  assertEquals(renderFlags("chmod_mode", w.arg("mode") as number).split("|").length, 6); // 0666
  assertEquals(w.arg("dirfd"), -100);
  // Facts the probe adds: the directory a relative path was resolved against, the working
  // directory after chdir.
  assertEquals(w.arg("name_dir"), "/tmp/saker-fixture");
  const cd = find((e) => e.name === "chdir" && e.comm === "sh");
  assertEquals([cd.arg("path"), cd.arg("cwd")], ["/tmp/saker-fixture", "/tmp/saker-fixture"]);
});

Deno.test("recorded: cat reads the file; the vfork child record comes first", () => {
  const child = find((e) => e.name === "vfork" && e.res === 0);
  const parent = find((e) => e.name === "vfork" && e.res === child.tid);
  assert(child.num < parent.num, "child's record precedes the parent's return");
  assertEquals([child.arg("tid"), child.arg("ptid")], [child.tid, parent.pid]);
  const cat = find((e) => e.name === "execve" && e.comm === "cat");
  assertEquals(cat.arg("cwd"), "/tmp/saker-fixture");
  assertEquals(cat.arg("trusted_exepath"), "/usr/bin/cat");
  const r = find((e) => e.name === "openat" && e.comm === "cat" && e.arg("name") === "hello.txt");
  assertEquals(renderFlags("file_flags", r.arg("flags") as number), "O_RDONLY");
  assert((r.res ?? -1) >= 3);
  const exit = find((e) => e.name === "procexit" && e.tid === cat.tid);
  assertEquals([exit.arg("status"), exit.arg("ret"), exit.dir], [0, 0, ">"]);
});

Deno.test("recorded: symlinkat and a refused connect", () => {
  const s = find((e) => e.name === "symlinkat");
  // ln -sf over an existing link: the first attempt fails with EEXIST.
  assertEquals(
    formatArgs(s),
    "res=-17(EEXIST) target=hello.txt linkdirfd=-100(AT_FDCWD) linkpath=link",
  );
  const sock = find((e) => e.name === "socket" && e.comm === "python3");
  assertEquals(renderFlags("socket_families", sock.arg("domain") as number), "AF_INET");
  const c = find((e) => e.name === "connect");
  assertEquals(c.res, -111);
  // The connect names its socket by inode, the one the socket record created.
  assert((sock.arg("ino") as number) > 0);
  assertEquals(c.arg("fd_ino"), sock.arg("ino"));
  assertEquals(c.arg("addr") as SockAddr, { family: 2, addr: "127.0.0.1", port: 1 });
  assertEquals(c.arg("tuple"), null, "no tuple for a refused connection");
  assertEquals(
    formatArgs(c),
    `res=-111(ECONNREFUSED) tuple=<NA> fd=${c.arg("fd")} addr=127.0.0.1:1`,
  );
});

Deno.test("recorded: timestamps increase and carry the boot epoch", () => {
  let last = 0n;
  for (const e of events.filter((e) => e.cpu === events[0].cpu)) {
    assert(e.ts >= last, "per-CPU order");
    last = e.ts;
  }
  assert(events[0].ts > 1_700_000_000_000_000_000n);
});
