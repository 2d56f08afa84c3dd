/**
 * The decoder on bytes the real probe wrote (tests/fixtures/live_records.bin, recorded by
 * scripts/record_live_fixture.ts): a shell writes hello.txt, cat reads it, ln -s links it,
 * python connects to a closed port. No kernel needed.
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
  assert(events.length > 100, `${events.length} events`);
  for (const e of events) {
    assertEquals(e.nparams, e.info.params.length, `${e.name} parameter count`);
    assert(e.tid > 0 && e.pid > 0 && e.cpu >= 0);
    formatEventLine(e); // renders without throwing
  }
  const nums = events.map((e) => e.num);
  assertEquals(nums, nums.map((_, i) => i + 1));
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
