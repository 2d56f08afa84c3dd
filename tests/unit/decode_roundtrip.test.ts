import { assertEquals } from "../support/assert.ts";
import { buildEvent, concatRecords, encodeLiveRecord } from "../../src/events/encode.ts";
import { decodeLiveBatch, decodeLiveRecords, type Event } from "../../src/events/event.ts";
import { currentExitId, EVENTS } from "../../src/events/table.ts";
import { renderFlags } from "../../src/events/flags.ts";
import { intAt, textAt } from "../../src/state/raw.ts";

Deno.test("decode: openat record round-trips every parameter", () => {
  const ev = buildEvent("openat", { tid: 4242, pid: 4240, ppid: 1, cpu: 1, comm: "cat", ts: 5n }, {
    fd: 3,
    dirfd: -100,
    name: "/etc/passwd",
    flags: 1 | (1 << 12), // PPM_O_RDONLY | PPM_O_CLOEXEC
    mode: 0o644,
    dev: 0x803,
    ino: 123456789012,
  }, 1_000_000_000n);
  assertEquals(ev.name, "openat");
  assertEquals(ev.dir, "<");
  assertEquals(ev.type, currentExitId("openat"));
  assertEquals([ev.tid, ev.pid, ev.ppid, ev.cpu, ev.comm], [4242, 4240, 1, 1, "cat"]);
  assertEquals(ev.ts, 1_000_000_005n);
  assertEquals(ev.res, 3);
  assertEquals(ev.arg("dirfd"), -100);
  assertEquals(ev.arg("name"), "/etc/passwd");
  assertEquals(ev.arg("mode"), 0o644);
  assertEquals(ev.arg("ino"), 123456789012);
  assertEquals(renderFlags("file_flags", ev.arg("flags") as number), "O_RDONLY|O_CLOEXEC");
});

Deno.test("decode: connect tuple and sockaddr, IPv4 and IPv6", () => {
  const ev = buildEvent("connect", { tid: 1 }, {
    res: -111,
    tuple: { family: 2, sip: "127.0.0.1", sport: 40000, dip: "10.0.0.1", dport: 443 },
    fd: 5,
    addr: { family: 10, addr: "::1", port: 8080 },
  });
  assertEquals(ev.res, -111);
  assertEquals(ev.arg("tuple"), {
    family: 2,
    sip: "127.0.0.1",
    sport: 40000,
    dip: "10.0.0.1",
    dport: 443,
  });
  assertEquals(ev.arg("addr"), { family: 10, addr: "::1", port: 8080 });
});

Deno.test("decode: a batch of records walks record lengths", () => {
  const recs = [
    encodeLiveRecord(currentExitId("close")!, { tid: 1 }, { res: 0, fd: 3 }),
    encodeLiveRecord(currentExitId("execve")!, { tid: 2 }, {
      res: 0,
      exe: "ls",
      args: ["-l", "/tmp"],
    }),
    encodeLiveRecord(currentExitId("close")!, { tid: 3 }, { res: -9, fd: 99 }),
  ];
  const evs = decodeLiveBatch(concatRecords(recs), 0n, 10);
  assertEquals(evs.map((e) => [e.num, e.name, e.tid]), [[10, "close", 1], [11, "execve", 2], [
    12,
    "close",
    3,
  ]]);
  const args = evs[1].paramBytes(EVENTS[evs[1].type].paramIndex.get("args")!);
  assertEquals(new TextDecoder().decode(args), "-l\0/tmp\0");
  assertEquals(evs[2].arg("fd"), 99);
});

Deno.test("decode: a drain decoded in slices gives the events of the whole, skipped frames too", () => {
  const recs = [];
  for (let i = 0; i < 7; i++) {
    recs.push(encodeLiveRecord(currentExitId("close")!, { tid: 100 + i }, { res: 0, fd: i }));
  }
  const buf = concatRecords(recs);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // The third frame is discarded (the ring header's DISCARD bit), as the probe may leave it.
  let frame = 0;
  for (let i = 0; i < 2; i++) frame += ((dv.getUint32(frame, true) & 0x3fff_ffff) + 15) & ~7;
  dv.setUint32(frame, dv.getUint32(frame, true) | 0x4000_0000, true);
  const whole = decodeLiveBatch(buf, 0n, 1, dv).map((e) => [e.num, e.tid, e.arg("fd")]);
  assertEquals(whole.map((w) => w[1]), [100, 101, 103, 104, 105, 106]);
  for (const size of [1, 2, 4, 100]) {
    const got: Event[] = [];
    let slices = 0;
    for (let at = 0; at < buf.byteLength; slices++) {
      const slice: Event[] = [];
      at = decodeLiveRecords(buf, dv, at, size, 0n, got.length + 1, slice);
      if (slice.length > size) throw new Error(`slice of ${slice.length} > ${size}`);
      got.push(...slice);
    }
    assertEquals(got.map((e) => [e.num, e.tid, e.arg("fd")]), whole, `slices of ${size}`);
    assertEquals(slices, Math.ceil(6 / size), `slices of ${size}`);
  }
});

Deno.test("decode: parameters read in place (all offsets in one pass) equal param()", () => {
  const events = [
    buildEvent("openat", { tid: 1 }, {
      fd: 3,
      dirfd: -100,
      name: "/etc/passwd",
      flags: 1,
      mode: 0o644,
      dev: 0x803,
      ino: 2 ** 40 + 7,
    }),
    buildEvent("openat", { tid: 1 }, { fd: -2, dirfd: 7, name: "rel/x", name_dir: "/srv" }),
    buildEvent("openat", { tid: 1 }, { fd: 4, dirfd: -100, name: "" }),
    buildEvent("open", { tid: 1 }, { fd: 5, name: "/tmp/a", flags: 3 }),
    buildEvent("execve", { tid: 1 }, { res: 0, exe: "/bin/ls", args: ["ls", "-l"], pid: 9 }),
  ];
  const offs = new Int32Array(64);
  for (const ev of events) {
    assertEquals(ev.paramOffsets(offs), true);
    assertEquals([...offs.subarray(0, ev.nparams + 1)], ev.offsets(), ev.name);
    for (let i = -1; i <= ev.nparams; i++) {
      const v = ev.param(i);
      assertEquals(intAt(ev, offs, i), typeof v === "number" ? v : undefined, `${ev.name} ${i}`);
      assertEquals(textAt(ev, offs, i), typeof v === "string" ? v : undefined, `${ev.name} ${i}`);
    }
  }
  assertEquals(events[0].paramOffsets(new Int32Array(4)), false);
});

Deno.test("decode: 64-bit integers on both sides of 32 bits", () => {
  const values = [0, 1, -1, -100, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 + 5, -5e9, 2 ** 52];
  for (const v of values) {
    const ev = buildEvent("openat", { tid: 1 }, { fd: v, dirfd: -v, name: "/x", ino: Math.abs(v) });
    assertEquals([ev.param(0), ev.param(1), ev.arg("ino")], [v, v === 0 ? 0 : -v, Math.abs(v)]);
  }
});
