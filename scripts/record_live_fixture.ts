/**
 * Records live probe records of a known scenario into tests/fixtures/live_records.bin (framed,
 * as a ring drain), for the decoder's unit tests that run without the kernel.
 *
 * Scenario (in /tmp/saker-fixture): a shell writes hello.txt, `cat` reads it, `ln -s` links it,
 * and python connects to a closed port on 127.0.0.1:1. Re-record with:
 * `deno run -A scripts/record_live_fixture.ts` (as root).
 * @module
 */
import { openLiveSource } from "../src/sources/live.ts";
import { HANDLED_SYSCALLS } from "../src/events/syscalls.ts";
import { frameRecords } from "../src/events/frame.ts";

const dir = "/tmp/saker-fixture";
await Deno.mkdir(dir, { recursive: true });
const src = await openLiveSource({ syscalls: new Set(HANDLED_SYSCALLS), pollMs: 2 });
const script = `cd ${dir} && echo hello > hello.txt && cat hello.txt >/dev/null && ` +
  `ln -sf hello.txt link && /usr/bin/python3 -c "import socket; s=socket.socket(); s.connect_ex(('127.0.0.1', 1))"`;
const child = new Deno.Command("/bin/sh", { args: ["-c", script], stdout: "null" }).spawn();
const pid = child.pid;
await child.status;
const records: Uint8Array[] = [];
const reader = src.readable.getReader();
const deadline = Date.now() + 1500;
while (Date.now() < deadline) {
  const { value } = await Promise.race([
    reader.read(),
    new Promise<{ value: undefined }>((r) => setTimeout(() => r({ value: undefined }), 200)),
  ]);
  for (const ev of value ?? []) {
    if (ev.pid === pid || ev.ppid === pid) {
      const len = ev.dv.getUint32(ev.off + 20, true);
      records.push(ev.buf.slice(ev.off, ev.off + len));
    }
  }
}
reader.releaseLock();
await src.close();
const out = new URL("../tests/fixtures/live_records.bin", import.meta.url).pathname;
await Deno.writeFile(out, frameRecords(records));
console.log(`recorded ${records.length} records of pid ${pid} into ${out}`);
