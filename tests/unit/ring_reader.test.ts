/**
 * The ring reader over a ring laid out as the kernel lays out a BPF ring buffer map (consumer
 * page, producer page, data area), here in a memfd that this test writes as the producer: drains
 * return every committed record in order, wrapped runs whole, and the reader allocates at most
 * MAX_CHUNKS drain chunks: when every chunk is still held (drains kept), a drain gets a buffer of
 * its own, and no kept drain ever sees its bytes overwritten.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { MAX_CHUNKS, type RingDrain, RingReader } from "../../src/kernel/ring.ts";
import { forEachFramedRecord, HDR } from "../../src/events/frame.ts";
import { pageSize } from "../../src/kernel/libc.ts";

const fdLib = Deno.dlopen("libc.so.6", {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
});

/** A producer writing records into a memfd laid out as a BPF ring buffer map. */
function fakeRing(size: number) {
  const page = pageSize();
  const fd = fdLib.symbols.memfd_create(new TextEncoder().encode("ring\0"), 0);
  assert(fd >= 0, "memfd_create");
  assertEquals(fdLib.symbols.ftruncate(fd, BigInt(2 * page + size)), 0);
  const len = 2 * page + size;
  const p = fdLib.symbols.mmap(null, BigInt(len), 3, 1, fd, 0n)!;
  const mem = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, len));
  const cons = new BigUint64Array(mem.buffer, 0, 1);
  const prod = new BigUint64Array(mem.buffer, page, 1);
  const data = mem.subarray(2 * page);
  return {
    fd,
    /** Writes one record (header and body, wrapping as the kernel does); false when full. */
    write(body: Uint8Array): boolean {
      const need = (body.length + HDR + 7) & ~7;
      const p0 = prod[0];
      if (Number(p0 - cons[0]) + need > size) return false;
      const hdr = new Uint8Array(HDR);
      new DataView(hdr.buffer).setUint32(0, body.length, true);
      const rec = new Uint8Array(need);
      rec.set(hdr);
      rec.set(body, HDR);
      for (let i = 0; i < need; i++) data[(Number(p0) + i) & (size - 1)] = rec[i];
      prod[0] = p0 + BigInt(need);
      return true;
    },
    close() {
      fdLib.symbols.munmap(p, BigInt(len));
      fdLib.symbols.close(fd);
    },
  };
}

/** Record `n`: its number in the first 4 bytes, then bytes derived from it (60-200 bytes). */
function record(n: number): Uint8Array {
  const b = new Uint8Array(60 + (n * 37) % 141);
  new DataView(b.buffer).setUint32(0, n, true);
  for (let i = 4; i < b.length; i++) b[i] = (n + i) & 0xff;
  return b;
}

Deno.test("ring reader: kept drains keep their bytes; chunks bounded, then buffers of their own", () => {
  const size = 1 << 16;
  const ring = fakeRing(size);
  const reader = new RingReader(ring.fd, size);
  const kept: RingDrain[] = [];
  let next = 0;
  let seen = 0;
  try {
    // Enough drains to fill every chunk many times over (4 MiB each), all of them kept.
    for (let i = 0; i < 1000 && reader.bufferStats().ownBuffers < 20; i++) {
      while (ring.write(record(next))) next++;
      const d = reader.drain(size);
      assert(d !== null, "a full ring drains");
      kept.push(d);
      forEachFramedRecord(d.bytes, (off, len) => {
        assertEquals(d.view.getUint32(off, true), seen, "records in order");
        assertEquals(len, record(seen).length);
        seen++;
      });
      assertEquals(reader.drain(size), null, "the drain took every record");
    }
    assertEquals(seen, next);
    const stats = reader.bufferStats();
    assertEquals(stats.chunksAllocated, MAX_CHUNKS, JSON.stringify(stats));
    assertEquals(stats.chunksReused, 0, "no chunk is reused while its drains are held");
    // Every kept drain still holds the records it was given.
    let n = 0;
    for (const d of kept) {
      forEachFramedRecord(d.bytes, (off, len) => {
        assertEquals(d.bytes.subarray(off, off + len), record(n), `record ${n} intact`);
        n++;
      });
    }
    assertEquals(n, next);
  } finally {
    reader.close();
    ring.close();
  }
});
