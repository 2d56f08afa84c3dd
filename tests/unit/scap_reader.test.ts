import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import {
  type ByteSource,
  openScapFile,
  PrefetchFileSource,
  type ScapItem,
  ScapReader,
  StreamByteSource,
} from "../../src/capture/reader.ts";
import { ScapFormatError } from "../../src/capture/errors.ts";
import { BLOCK } from "../../src/capture/format.ts";
import type { Event } from "../../src/events/event.ts";
import { ScapEncoder } from "../../src/capture/writer.ts";
import { buildEvent } from "../../src/events/encode.ts";

const ignore = needsReference();
const REF = REFERENCE_DIR ?? "";
const TRACES = `${REF}/falco-legacy-tests/trace_files`;

/** Every capture of the reference material. */
function referenceCaptures(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.name.endsWith(".scap")) out.push(p);
    }
  };
  walk(`${REF}/falco-legacy-tests/trace_files`);
  walk(`${REF}/libs-captures`);
  return out.sort();
}

/** A byte source over memory that hands out at most `chunk` bytes per read. */
function memorySource(bytes: Uint8Array, chunk = 1 << 16): ByteSource {
  let off = 0;
  return {
    read(p) {
      if (off >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, chunk, bytes.length - off);
      p.set(bytes.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
    close() {},
  };
}

async function collect(reader: ScapReader): Promise<{ items: ScapItem[]; events: Event[] }> {
  const items: ScapItem[] = [];
  const events: Event[] = [];
  for await (const it of reader.items()) {
    items.push(it);
    if (it.kind === "events") events.push(...it.events);
  }
  return { items, events };
}

async function gunzip(path: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  if (bytes[0] !== 0x1f) return bytes;
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Offsets and types of every block of an uncompressed capture. */
function blocks(bytes: Uint8Array): { off: number; type: number; len: number }[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  for (let off = 0; off + 8 <= bytes.length;) {
    const len = dv.getUint32(off + 4, true);
    out.push({ off, type: dv.getUint32(off, true), len });
    off += len;
  }
  return out;
}

Deno.test({
  name: "scap reader: every reference capture reads to its end, metadata first",
  ignore,
  async fn() {
    const files = referenceCaptures();
    assertEquals(files.length, 15);
    for (const path of files) {
      const { reader } = await openScapFile(path);
      const { items, events } = await collect(reader);
      assertEquals(items[0].kind, "section", path);
      assert(items.some((i) => i.kind === "machine"), `${path}: machine info`);
      const threads = items.flatMap((i) => i.kind === "threads" ? i.threads : []);
      assert(threads.length > 0, `${path}: process list`);
      assert(events.length > 100, `${path}: events`);
      assertEquals(reader.stats.events, events.length);
      // Numbering is dense from 1 and timestamps are UTC nanoseconds of the capture's era
      // (container metadata events written at the start carry 0).
      events.forEach((e, i) => assertEquals(e.num, i + 1));
      const syscalls = events.filter((e) => e.name !== "container");
      assert(syscalls.every((e) => e.ts > 1_400_000_000_000_000_000n), path);
    }
  },
});

Deno.test({
  name: "scap reader: v1 event blocks get their parameter count from the lengths",
  ignore,
  async fn() {
    const { reader } = await openScapFile(`${TRACES}/cat_write.scap`);
    const { items, events } = await collect(reader);
    const execve = events[130];
    assertEquals([execve.num, execve.name, execve.dir, execve.tid], [131, "execve", "<", 20072]);
    assertEquals(execve.nparams, 16); // an old execve version: fewer than the table's newest
    assertEquals(execve.arg("exe"), "cat");
    assertEquals(execve.res, 0);
    const openEnter = events[139];
    assertEquals([openEnter.name, openEnter.dir, openEnter.nparams], ["open", ">", 0]);
    const openExit = events[140];
    assertEquals(openExit.arg("name"), "/etc/ld.so.cache");
    assertEquals(openExit.res, 3);
    // Process list v6: sid present, exepath absent.
    const threads = items.flatMap((i) => i.kind === "threads" ? i.threads : []);
    const bash = threads.find((t) => t.tid === 11310)!;
    assertEquals([bash.comm, bash.exepath, bash.vpgid], ["bash", "", -1]);
    assert(bash.sid > 0);
  },
});

Deno.test({
  name: "scap reader: v9 process list, v2 fd, interface and user lists",
  ignore,
  async fn() {
    const { reader } = await openScapFile(`${REF}/libs-captures/sample.scap`);
    const { items } = await collect(reader);
    const threads = items.flatMap((i) => i.kind === "threads" ? i.threads : []);
    const sysdig = threads.find((t) => t.comm === "sysdig")!;
    assertEquals(sysdig.args, ["-w", "sample.scap"]);
    assert(sysdig.exepath.endsWith("sysdig"), sysdig.exepath);
    assert(sysdig.capEffective !== 0n, "capabilities of a root process");
    const fds = items.flatMap((i) => i.kind === "fds" ? i.fds : []);
    const server = fds.find((f) => f.typechar === "4" && f.isServer && f.sport === 53)!;
    assertEquals([server.sip, server.l4proto], ["127.0.0.53", "udp"]);
    const users = items.find((i) => i.kind === "users");
    assert(users?.kind === "users" && users.users.some((u) => u.name === "root" && u.uid === 0));
    const ifaces = items.find((i) => i.kind === "interfaces");
    assert(ifaces?.kind === "interfaces" && ifaces.interfaces.some((i) => i.addr === "127.0.0.1"));
  },
});

Deno.test({
  name: "scap reader: gzip and plain, any read chunking, give the same events",
  ignore,
  async fn() {
    const path = `${TRACES}/connect_localhost.scap`;
    const plain = await gunzip(path);
    const a = await collect((await openScapFile(path)).reader);
    const b = await collect(new ScapReader(memorySource(plain, 7), { batchSize: 50 }));
    assertEquals(a.events.length, b.events.length);
    for (let i = 0; i < a.events.length; i++) {
      const x = a.events[i], y = b.events[i];
      assertEquals([x.num, x.type, x.tid, x.cpu, x.ts], [y.num, y.type, y.tid, y.cpu, y.ts]);
      for (let p = 0; p < x.nparams; p++) assertEquals(x.paramBytes(p), y.paramBytes(p));
    }
    const sizes = b.items.flatMap((i) => i.kind === "events" ? [i.events.length] : []);
    assert(sizes.every((n) => n <= 50) && sizes.some((n) => n === 50), `batches ${sizes}`);
  },
});

Deno.test({
  name: "scap reader: a truncated file yields every event before the cut, then names the block",
  ignore,
  async fn() {
    const bytes = await gunzip(`${REF}/libs-captures/sample.scap`);
    const all = blocks(bytes);
    const evBlocks = all.filter((b) => b.type === BLOCK.EVENT_V2);
    // Cut in the middle of the 300th event block.
    const cut = evBlocks[299];
    const reader = new ScapReader(memorySource(bytes.subarray(0, cut.off + 20), 4096));
    const seen: Event[] = [];
    const err = await assertRejects(async () => {
      for await (const it of reader.items()) if (it.kind === "events") seen.push(...it.events);
    });
    assert(err instanceof ScapFormatError);
    assertEquals(seen.length, 299);
    assertEquals((err as ScapFormatError).offset, cut.off);
    assertEquals((err as ScapFormatError).blockType, BLOCK.EVENT_V2);
    assert(/truncated/.test((err as Error).message) && /event block/.test((err as Error).message));

    // A cut inside the process list: nothing but the metadata before it.
    const procs = all.find((b) => b.type === BLOCK.PROCS_V9)!;
    const r2 = new ScapReader(memorySource(bytes.subarray(0, procs.off + 100)));
    const kinds: string[] = [];
    const err2 = await assertRejects(async () => {
      for await (const it of r2.items()) kinds.push(it.kind);
    });
    assert(err2 instanceof ScapFormatError);
    assertEquals(kinds, ["section", "machine", "interfaces", "users"]);
    assert(/process list v9 block \(type 0x215\) at byte offset \d+/.test((err2 as Error).message));
    assertEquals((err2 as ScapFormatError).offset, procs.off);
  },
});

Deno.test({
  name: "scap reader: corrupt blocks are reported with offset and type after the good ones",
  ignore,
  async fn() {
    const bytes = await gunzip(`${REF}/libs-captures/sample.scap`);
    const evBlocks = blocks(bytes).filter((b) => b.type === BLOCK.EVENT_V2);
    const target = evBlocks[10];
    // 1. Trailer does not match the header length.
    const t1 = bytes.slice();
    new DataView(t1.buffer).setUint32(target.off + target.len - 4, 12345, true);
    // 2. The event claims more bytes than its block holds.
    const t2 = bytes.slice();
    new DataView(t2.buffer).setUint32(target.off + 10 + 16, 60000, true);
    // 3. Parameter lengths overrun the event.
    const t3 = bytes.slice();
    new DataView(t3.buffer).setUint16(target.off + 10 + 26, 50000, true);
    // 4. A block length smaller than a header.
    const t4 = bytes.slice();
    new DataView(t4.buffer).setUint32(target.off + 4, 4, true);
    const cases: [Uint8Array, RegExp][] = [
      [t1, /does not match its trailer/],
      [t2, /exceeds its block/],
      [t3, /overrun|do not fit/],
      [t4, /corrupt event block length 4/],
    ];
    for (const [data, re] of cases) {
      const seen: Event[] = [];
      const err = await assertRejects(async () => {
        for await (const it of new ScapReader(memorySource(data)).items()) {
          if (it.kind === "events") seen.push(...it.events);
        }
      });
      assert(err instanceof ScapFormatError);
      assertEquals(seen.length, 10, String(re));
      assert(re.test((err as Error).message), (err as Error).message);
      assertEquals((err as ScapFormatError).offset, target.off);
    }
  },
});

Deno.test("scap reader: not a capture, empty file", async () => {
  const text = new TextEncoder().encode("hello world, this is not a capture at all");
  await assertRejects(
    () => collect(new ScapReader(memorySource(text))),
    "not a scap capture",
  );
  await assertRejects(
    () => collect(new ScapReader(memorySource(new Uint8Array(0)))),
    "empty capture",
  );
});

Deno.test("scap reader: memory stays bounded on a large file (events view fixed-size buffers)", async () => {
  // About 40 MB of events: far more than any read buffer.
  const enc = new ScapEncoder("current", 64 << 20);
  enc.header({});
  const data = new Uint8Array(300);
  for (let i = 0; i < 120_000; i++) {
    enc.event(
      buildEvent("write", { tid: 1000 + (i % 7), ts: BigInt(i) }, {
        res: 300,
        data,
        fd: 1,
        size: 300,
      }),
    );
  }
  const bytes = enc.out.bytes();
  assert(bytes.length > 40_000_000);
  const reader = new ScapReader(memorySource(bytes, 1 << 16), { batchSize: 1000 });
  const buffers = new Set<ArrayBufferLike>();
  let n = 0, maxBatch = 0;
  for await (const it of reader.items()) {
    if (it.kind !== "events") continue;
    maxBatch = Math.max(maxBatch, it.events.length);
    for (const e of it.events) {
      buffers.add(e.buf.buffer);
      assert(e.buf.buffer.byteLength <= 2 << 20, "read buffers stay small");
    }
    n += it.events.length;
  }
  assertEquals(n, 120_000);
  assertEquals(maxBatch, 1000);
  // The buffers are replaced as the file goes on (none holds the whole file).
  assert(buffers.size >= 20, `${buffers.size} buffers`);
});

Deno.test("scap reader: flags blocks mark state-only events", async () => {
  const { EVENT_STATE_ONLY } = await import("../../src/capture/reader.ts");
  const enc = new ScapEncoder("current");
  enc.header({});
  const a = buildEvent("close", { tid: 5 }, { res: 0, fd: 3 });
  const b = buildEvent("close", { tid: 5, flags: EVENT_STATE_ONLY }, { res: 0, fd: 4 });
  enc.event(a);
  enc.event(b);
  const bytes = enc.out.bytes().slice();
  const types = blocks(bytes).map((x) => x.type);
  assertEquals(types.slice(-2), [BLOCK.EVENT_V2, BLOCK.EVENT_FLAGS_V2]);
  const { events } = await collect(new ScapReader(memorySource(bytes)));
  assertEquals(events.map((e) => (e.flags & EVENT_STATE_ONLY) !== 0), [false, true]);
  assertEquals(events.map((e) => e.arg("fd")), [3, 4]);
});

Deno.test("scap reader: a stream source (as for stdin or a pipe) reads the same", async () => {
  const enc = new ScapEncoder("current");
  enc.header({});
  for (let i = 0; i < 10; i++) {
    enc.event(buildEvent("openat", { tid: 9 }, { fd: i, dirfd: -100, name: `/f${i}` }));
  }
  const bytes = enc.out.bytes().slice();
  const stream = new Blob([bytes]).stream();
  const { events } = await collect(new ScapReader(new StreamByteSource(stream)));
  assertEquals(events.map((e) => e.arg("name")), [...Array(10).keys()].map((i) => `/f${i}`));
});

Deno.test({
  name:
    "scap reader: the read-ahead file source (chunks taken without a copy, blocks across chunks and larger than the headroom put together) reads every reference capture as a memory source does",
  ignore,
  async fn() {
    /** Everything an event shows, from its own bytes. */
    const show = (e: Event) => {
      const params = [];
      for (let i = 0; i < e.nparams; i++) params.push([...e.paramBytes(i)].join(","));
      return `${e.num} ${e.name}${e.dir} ${e.tid} ${e.ts} ${e.cpu} ${e.flags} ${params.join("|")}`;
    };
    for (const path of referenceCaptures()) {
      const bytes = await gunzip(path);
      const want = await collect(new ScapReader(memorySource(bytes, 1 << 16)));
      const plain = await Deno.makeTempFile({ suffix: ".scap" });
      try {
        await Deno.writeFile(plain, bytes);
        // Chunks smaller than blocks, smaller than the process lists, and a few per file.
        for (const size of [4096, 30_000, 100_000]) {
          const src = new PrefetchFileSource(await Deno.open(plain), size);
          const got = await collect(new ScapReader(src, { batchSize: 100 }));
          assertEquals(got.events.length, want.events.length, `${path} chunk ${size}`);
          assertEquals(got.events.map(show), want.events.map(show), `${path} chunk ${size}`);
          const meta = (r: typeof want) =>
            JSON.stringify(
              r.items.filter((i) => i.kind !== "events"),
              (_k, v) => typeof v === "bigint" ? v.toString() : v,
            );
          assertEquals(meta(got), meta(want), `${path} chunk ${size}`);
        }
      } finally {
        await Deno.remove(plain);
      }
    }
  },
});

Deno.test("scap reader: events share a layout per cpu and flags; a setter changes only its own event", async () => {
  const enc = new ScapEncoder("current");
  enc.header({});
  for (let i = 0; i < 4; i++) {
    enc.event(buildEvent("close", { tid: 5, cpu: 1, ts: BigInt(1000 + i) }, { res: 0, fd: 3 }));
  }
  const { events } = await collect(new ScapReader(memorySource(enc.out.bytes().slice())));
  assertEquals(events.map((e) => e.cpu), [1, 1, 1, 1]);
  events[1].cpu = 7;
  events[2].flags = 1;
  events[3].tsOff = events[0].tsOff;
  assertEquals(events.map((e) => [e.cpu, e.flags, e.ts]), [
    [1, 0, 1000n],
    [7, 0, 1001n],
    [1, 1, 1002n],
    [1, 0, 1000n], // its timestamp is now read where the first event's is
  ]);
  assertEquals(events[0].origin, "scap");
  assertEquals(events[1].origin, "scap");
});

Deno.test("scap reader: a batch spans at most maxBatchSpanNs of the events it holds (skipped ones aside)", async () => {
  const enc = new ScapEncoder("current");
  enc.header({});
  // A close every 100 ns, with an ignored nanosleep between each two.
  for (let i = 0; i < 100; i++) {
    enc.event(buildEvent("close", { tid: 5, ts: BigInt(i * 100) }, { res: 0, fd: 3 }));
    enc.event(buildEvent("nanosleep", { tid: 5, ts: BigInt(i * 100 + 50) }, { res: 0 }));
  }
  const bytes = enc.out.bytes().slice();
  const { keptEventTypes } = await import("../../src/pipeline/replay.ts");
  for (const keepTypes of [undefined, keptEventTypes(new Set(["close"]))]) {
    const reader = new ScapReader(memorySource(bytes), { maxBatchSpanNs: 1000, keepTypes });
    const { items } = await collect(reader);
    const batches = items.flatMap((i) => i.kind === "events" ? [i.events] : []);
    for (const b of batches) {
      assert(b[b.length - 1].ts - b[0].ts < 1000n, `a batch spans ${b[0].ts}..${b.at(-1)!.ts}`);
    }
    const closes = batches.flat().filter((e) => e.name === "close").length;
    assertEquals(closes, 100);
    assert(batches.length >= 10, `${batches.length} batches`);
  }
});

/**
 * A chunk source as small as the contract of ByteSource.chunk allows: chunks of `size` bytes
 * in three buffers taken in turn, each rewritten as soon as two more chunks were asked for.
 */
function rotatingSource(bytes: Uint8Array, size: number, head = 1 << 16): ByteSource {
  const bufs = [0, 1, 2].map(() => new Uint8Array(head + size));
  let off = 0, turn = 0;
  return {
    read: () => Promise.reject(new Error("chunks only")),
    chunk() {
      if (off >= bytes.length) return Promise.resolve(null);
      const n = Math.min(size, bytes.length - off);
      const buf = bufs[turn++ % 3];
      buf.fill(0xee);
      buf.set(bytes.subarray(off, off + n), head);
      off += n;
      return Promise.resolve(buf.subarray(head, head + n));
    },
    close() {},
  };
}

/** What a consumer sees of an event while its batch is current. */
function snapshot(e: Event): string {
  const params = [];
  for (let i = 0; i < e.nparams; i++) params.push(String(e.param(i)));
  return `${e.num} ${e.name}${e.dir} ${e.tid} ${e.cpu} ${e.ts} ${params.join(",")}`;
}

/** Snapshots of every event, each taken while its batch is current; distinct event objects. */
async function snapshots(reader: ScapReader): Promise<{ seen: string[]; objects: number }> {
  const seen: string[] = [];
  const objects = new Set<Event>();
  for await (const it of reader.items()) {
    if (it.kind !== "events") continue;
    for (const e of it.events) {
      seen.push(snapshot(e));
      objects.add(e);
    }
  }
  return { seen, objects: objects.size };
}

Deno.test({
  name:
    "scap reader: transient events read the same as copied ones, through read buffers that move and chunks that rotate",
  ignore,
  async fn() {
    const all = new Uint8Array(512).fill(1);
    const some = new Uint8Array(512);
    const { eventIdsByName } = await import("../../src/events/table.ts");
    for (const n of ["read", "write", "nanosleep", "futex", "switch"]) {
      for (const id of eventIdsByName(n)) some[id] = 1;
    }
    let transientSeen = 0;
    for (const path of referenceCaptures()) {
      const bytes = await gunzip(path);
      const want = await snapshots(new ScapReader(memorySource(bytes, 4096), { batchSize: 7 }));
      for (const transientTypes of [all, some]) {
        // Small reads: the read buffer's bytes move to its start at every fill.
        const moved = await snapshots(
          new ScapReader(memorySource(bytes, 4096), { batchSize: 7, transientTypes }),
        );
        assertEquals(moved.seen, want.seen, path);
        // Chunks of 512 bytes rewritten as soon as the contract allows.
        const rewritten = await snapshots(
          new ScapReader(rotatingSource(bytes, 512), { batchSize: 7, transientTypes }),
        );
        assertEquals(rewritten.seen, want.seen, path);
        // Chunks taken without a copy, three buffers in turn.
        const tmp = await Deno.makeTempFile();
        try {
          await Deno.writeFile(tmp, bytes);
          const src = new PrefetchFileSource(await Deno.open(tmp), 8192);
          const rotated = await snapshots(new ScapReader(src, { batchSize: 7, transientTypes }));
          assertEquals(rotated.seen, want.seen, path);
          // Event objects are used again from batch to batch: every event being transient, no
          // more objects than a batch holds, short batches at the ends of chunks included.
          if (transientTypes === all) {
            assert(rotated.objects <= 7, `${path}: ${rotated.objects} objects`);
            assert(rewritten.objects <= 7, `${path}: ${rewritten.objects} objects`);
          }
          transientSeen += want.objects - rotated.objects;
        } finally {
          await Deno.remove(tmp);
        }
      }
    }
    assert(transientSeen > 10_000, `${transientSeen} events reused`);
  },
});
