/**
 * The syscalls the kernel delivers, chosen from the rules and base_syscalls as Falco chooses
 * them: the state set or a custom set, repair, `!name` removals, and the ignored I/O events.
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  IGNORED_EVENTS,
  repairSyscalls,
  selectSyscalls,
  STATE_SYSCALLS,
} from "../../src/events/syscalls.ts";

const none = { custom_set: [], repair: false, all: false };
const names = (s: ReturnType<typeof selectSyscalls>) =>
  s.names === "all" ? "all" : [...s.names].sort();

Deno.test("syscall selection: rules plus the state set, ignored I/O events left out", () => {
  const s = selectSyscalls(new Set(["openat", "write", "kill"]), none);
  const got = new Set(names(s));
  for (const n of STATE_SYSCALLS) assert(got.has(n), n);
  assert(got.has("kill") && !got.has("write"));
  assertEquals(s.ignored, ["write"]);
  const all = selectSyscalls(new Set(["openat", "write"]), { ...none, all: true });
  assert((all.names as Set<string>).has("write"));
  assertEquals(all.ignored, []);
});

Deno.test("syscall selection: the ignored events are data reads and writes", () => {
  for (const n of ["read", "write", "readv", "writev", "pread", "pwrite", "sendfile"]) {
    assert(IGNORED_EVENTS.includes(n), n);
  }
  for (const n of ["sendto", "recvmsg", "openat", "close", "execve"]) {
    assert(!IGNORED_EVENTS.includes(n), n);
  }
});

Deno.test("syscall selection: a custom set replaces the state set; ! removes", () => {
  const s = selectSyscalls(new Set(["openat"]), { ...none, custom_set: ["clone", "!openat"] });
  assertEquals(names(s), ["clone"]);
  const removed = selectSyscalls(new Set(["openat"]), { ...none, custom_set: ["!close"] });
  assert(!(removed.names as Set<string>).has("close"));
  assert((removed.names as Set<string>).has("execve"), "the state set stays otherwise");
  const unknown = selectSyscalls(new Set([]), { ...none, custom_set: ["nosuchcall"] });
  assertEquals(unknown.unknown, ["nosuchcall"]);
});

Deno.test("syscall selection: repair adds only what the selected calls need", () => {
  const proc = selectSyscalls(new Set(["execve"]), { ...none, repair: true });
  const p = new Set(names(proc));
  assert(p.has("clone") && p.has("execve") && p.has("setuid") && p.has("prctl"));
  assert(!p.has("close") && !p.has("socket") && !p.has("openat"), [...p].join(" "));
  const net = repairSyscalls(new Set(["connect"]));
  assert(net.has("socket") && net.has("close") && net.has("getsockopt") && !net.has("bind"));
  assert(repairSyscalls(new Set(["accept4"])).has("bind"));
  assert(repairSyscalls(new Set(["openat"])).has("close"));
  const custom = selectSyscalls(new Set(["openat"]), {
    custom_set: ["connect"],
    repair: true,
    all: false,
  });
  const c = new Set(names(custom));
  assert(c.has("connect") && c.has("socket") && c.has("close") && c.has("clone"));
  assert(!c.has("accept"), "the state set is not added back");
});

Deno.test("syscall selection: a rule on every event type captures everything", () => {
  assertEquals(selectSyscalls("all", none).names, "all");
});
