import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { openScapFile, type ScapItem, ScapReader } from "../../src/capture/reader.ts";
import { ScapEncoder, ScapWriter } from "../../src/capture/writer.ts";
import { planFor } from "../../src/capture/compat.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { currentExitId, EVENTS } from "../../src/events/table.ts";
import type { Event } from "../../src/events/event.ts";
import type { ScapHeader } from "../../src/capture/writer.ts";
import { emptyMetadata, type ScapMetadata } from "../../src/capture/metadata.ts";

const ignore = needsReference();
const REF = REFERENCE_DIR ?? "";

function memoryReader(bytes: Uint8Array): ScapReader {
  let off = 0;
  return new ScapReader({
    read(p) {
      if (off >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, bytes.length - off);
      p.set(bytes.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
    close() {},
  });
}

async function readAll(r: ScapReader): Promise<{ header: ScapMetadata; events: Event[] }> {
  const h = emptyMetadata();
  const events: Event[] = [];
  for await (const it of r.items() as AsyncGenerator<ScapItem>) {
    if (it.kind === "machine") h.machine = it.machine;
    else if (it.kind === "threads") h.threads.push(...it.threads);
    else if (it.kind === "fds") h.fds.push(...it.fds);
    else if (it.kind === "users") {
      h.users.push(...it.users);
      h.groups.push(...it.groups);
    } else if (it.kind === "interfaces") h.interfaces.push(...it.interfaces);
    else if (it.kind === "events") events.push(...it.events);
  }
  return { header: h, events };
}

const bigints = (_k: string, v: unknown) => typeof v === "bigint" ? `${v}n` : v;

Deno.test({
  name: "scap writer: every reference capture survives a read-write-read round trip",
  ignore,
  async fn() {
    for (const dir of ["falco-legacy-tests/trace_files", "libs-captures"]) {
      for (const e of Deno.readDirSync(`${REF}/${dir}`)) {
        if (!e.name.endsWith(".scap")) continue;
        const path = `${REF}/${dir}/${e.name}`;
        const a = await readAll((await openScapFile(path)).reader);
        const enc = new ScapEncoder("current");
        enc.header(a.header);
        for (const ev of a.events) enc.event(ev);
        const b = await readAll(memoryReader(enc.out.bytes().slice()));
        // Metadata: identical except fields the pre-0.10 process layout does not carry.
        const strip = (h: ScapHeader) =>
          JSON.stringify(
            {
              ...h,
              threads: [...(h.threads ?? [])].map((t) => ({
                ...t,
                pidnsInitStartTs: 0n,
                tty: 0,
                exeUpperLayer: false,
                exeLowerLayer: false,
                exeFromMemfd: false,
                exeIno: 0,
                exeInoCtime: 0n,
                exeInoMtime: 0n,
                pgid: -1,
              })),
            },
            bigints,
          );
        assertEquals(strip(b.header), strip(a.header), path);
        assertEquals(b.events.length, a.events.length, path);
        for (let i = 0; i < a.events.length; i++) {
          const x = a.events[i], y = b.events[i];
          assertEquals([y.type, y.tid, y.cpu, y.ts, y.nparams], [
            x.type,
            x.tid,
            x.cpu,
            x.ts,
            x.nparams,
          ]);
          for (let p = 0; p < x.nparams; p++) assertEquals(y.paramBytes(p), x.paramBytes(p));
        }
      }
    }
  },
});

Deno.test("scap writer: live events in the current format keep every parameter", async () => {
  const ev = buildEvent("openat", { tid: 42, pid: 40, cpu: 1, ts: 99n }, {
    fd: 3,
    dirfd: -100,
    name: "/etc/shadow",
    flags: 1,
    mode: 0,
    dev: 0x803,
    ino: 77,
  }, 1_700_000_000_000_000_000n);
  const enc = new ScapEncoder("current");
  enc.header({});
  enc.event(ev);
  const { events } = await readAll(memoryReader(enc.out.bytes().slice()));
  const back = events[0];
  assertEquals([back.type, back.tid, back.cpu, back.ts], [
    ev.type,
    42,
    1,
    1_700_000_000_000_000_099n,
  ]);
  assertEquals(back.origin, "scap");
  for (const name of ["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]) {
    assertEquals(back.arg(name), ev.arg(name), name);
  }
});

Deno.test("scap writer: sysdig 0.29 plans pair exit events with enter events of its table", () => {
  const close = planFor(currentExitId("close")!, true);
  assertEquals([close.enter?.id, close.main?.id], [4, 5]);
  // close exit keeps only res (sysdig 0.29's row), the enter takes fd by name.
  assertEquals(close.main!.ops.length, 1);
  assertEquals(close.enter!.ops.map((o) => EVENTS[currentExitId("close")!].params[o.src].name), [
    "fd",
  ]);

  // accept4 is newer than sysdig 0.29's table: written as its driver did, the accept pair.
  const accept4 = planFor(currentExitId("accept4")!, true);
  assertEquals(EVENTS[accept4.main!.id].name, "accept");
  assert(accept4.main!.id < 336 && accept4.enter!.id === accept4.main!.id - 1);

  // dup2 maps to dup, whose enter fd is the old fd.
  const dup2Id = currentExitId("dup2")!;
  const dup2 = planFor(dup2Id, true);
  assertEquals(EVENTS[dup2.enter!.id].name, "dup");
  assertEquals(EVENTS[dup2Id].params[dup2.enter!.ops[0].src].name, "oldfd");

  // fchownat was a generic syscall event in sysdig 0.29's driver.
  const fchownat = planFor(currentExitId("fchownat")!, true);
  assertEquals([fchownat.enter?.id, fchownat.main?.id], [0, 1]);

  // An enter event from an old capture is written as it is (by position).
  const openEnter = planFor(2, false);
  assertEquals([openEnter.enter, openEnter.main?.id, openEnter.main?.pad], [undefined, 2, false]);
});

Deno.test("scap writer: sysdig 0.29 format writes enter+exit pairs that read back", async () => {
  const base = 1_700_000_000_000_000_000n;
  const evs = [
    buildEvent("close", { tid: 7, ts: 10n }, { res: 0, fd: 5 }, base),
    buildEvent("dup2", { tid: 7, ts: 20n }, { res: 9, oldfd: 4, newfd: 9 }, base),
    buildEvent("clone", { tid: 8, ts: 30n }, { res: 0, exe: "sh", tid: 8, pid: 8, ptid: 7 }, base),
    buildEvent("fchownat", { tid: 7, ts: 40n }, { res: 0, dirfd: -100, pathname: "/x" }, base),
  ];
  const enc = new ScapEncoder("sysdig029");
  enc.header({});
  for (const e of evs) enc.event(e);
  const { events } = await readAll(memoryReader(enc.out.bytes().slice()));
  assertEquals(events.map((e) => `${e.dir}${e.name}`), [
    ">close",
    "<close",
    ">dup",
    "<dup",
    "<clone", // a child's clone exit has no enter event
    ">syscall",
    "<syscall",
  ]);
  assertEquals(events[0].arg("fd"), 5);
  assertEquals(events[1].nparams, 1);
  assertEquals(events[2].arg("fd"), 4);
  assertEquals(events[3].res, 9);
  assertEquals(events.map((e) => e.ts - base), [10n, 10n, 20n, 20n, 30n, 40n, 40n]);
  assertEquals(enc.stats, { events: 4, blocks: 7, unconverted: 0, bytes: 0 });
});

Deno.test("scap writer: files on disk, plain and gzip, read back the same", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const evs = [...Array(2000).keys()].map((i) =>
      buildEvent("openat", { tid: 100 + (i % 3), ts: BigInt(i) }, {
        fd: i % 50,
        dirfd: -100,
        name: `/tmp/file-${i}`,
        flags: 1,
      })
    );
    for (const gzip of [false, true]) {
      const path = `${dir}/x${gzip ? ".gz" : ""}.scap`;
      const w = await ScapWriter.create(path, { format: "current", gzip, flushBytes: 4096 });
      for (let i = 0; i < evs.length; i += 100) await w.writeBatch(evs.slice(i, i + 100));
      await w.close();
      const f = await openScapFile(path);
      assertEquals(f.gzip, gzip);
      const { events } = await readAll(f.reader);
      assertEquals(events.length, 2000);
      assertEquals(events[1999].arg("name"), "/tmp/file-1999");
      assertEquals(w.stats.events, 2000);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
