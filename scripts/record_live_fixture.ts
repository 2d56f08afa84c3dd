/**
 * Records live probe records of a known scenario into tests/fixtures/live_records.bin (framed,
 * as a ring drain), for the decoder's unit tests that run without the kernel.
 *
 * Scenario (in /tmp/saker-fixture): a shell writes hello.txt, `cat` reads it, `ln -sf` replaces
 * the link to it made beforehand (a failed symlinkat, then a rename), and python connects to a
 * closed port on 127.0.0.1:1. Re-record with:
 * `deno run -A scripts/record_live_fixture.ts` (as root).
 *
 * The fixture is committed, so it must not carry the recording machine: the scenario runs from
 * `/` with an environment of its own (PATH and LANG only; python isolated, without site
 * packages), and the one fact that still comes from the machine, the cgroup each process is in,
 * is written as the root cgroup (`memory=/`) whatever it was.
 * @module
 */
import { openLiveSource } from "../src/sources/live.ts";
import { HANDLED_SYSCALLS } from "../src/events/syscalls.ts";
import { frameRecords } from "../src/events/frame.ts";
import { EVENTS } from "../src/events/table.ts";
import { LIVE_HEADER, LIVE_HEADER_SIZE } from "../src/events/event.ts";

/** The record with its `cgroups` parameter (if it has one) saying `/` for every controller. */
export function rootCgroups(record: Uint8Array): Uint8Array {
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const params = EVENTS[dv.getUint16(LIVE_HEADER.type, true)]?.params ?? [];
  const n = dv.getUint16(LIVE_HEADER.nparams, true);
  const at = params.findIndex((p) => p.name === "cgroups");
  if (at < 0 || at >= n) return record;
  const lens = Array.from({ length: n }, (_, i) => dv.getUint16(LIVE_HEADER_SIZE + 2 * i, true));
  const start = LIVE_HEADER_SIZE + 2 * n + lens.slice(0, at).reduce((a, b) => a + b, 0);
  const old = new TextDecoder().decode(record.subarray(start, start + lens[at]));
  const value = new TextEncoder().encode(old.replace(/=[^\0]*/g, "=/"));
  const out = new Uint8Array(record.length - lens[at] + value.length);
  out.set(record.subarray(0, start));
  out.set(value, start);
  out.set(record.subarray(start + lens[at]), start + value.length);
  const odv = new DataView(out.buffer);
  odv.setUint32(LIVE_HEADER.len, out.length, true);
  odv.setUint16(LIVE_HEADER_SIZE + 2 * at, value.length, true);
  return out;
}

if (import.meta.main) {
  const dir = "/tmp/saker-fixture";
  await Deno.mkdir(dir, { recursive: true });
  await Deno.remove(`${dir}/link`).catch(() => {});
  await Deno.symlink("hello.txt", `${dir}/link`);
  const src = await openLiveSource({ syscalls: new Set(HANDLED_SYSCALLS), pollMs: 2 });
  const script = `cd ${dir} && echo hello > hello.txt && cat hello.txt >/dev/null && ` +
    `ln -sf hello.txt link && /usr/bin/python3 -I -S -c "import socket; s=socket.socket(); s.connect_ex(('127.0.0.1', 1))"`;
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script],
    cwd: "/",
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
    stdout: "null",
  }).spawn();
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
        const len = ev.dv.getUint32(ev.off + LIVE_HEADER.len, true);
        records.push(rootCgroups(ev.buf.slice(ev.off, ev.off + len)));
      }
    }
  }
  reader.releaseLock();
  await src.close();
  const out = new URL("../tests/fixtures/live_records.bin", import.meta.url).pathname;
  await Deno.writeFile(out, frameRecords(records));
  console.log(`recorded ${records.length} records of pid ${pid} into ${out}`);
}
