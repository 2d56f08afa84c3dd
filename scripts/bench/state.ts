/**
 * State benchmark: enrichment cost per event (StateStore.update) on a realistic synthetic mix,
 * and the memory the tables take for 10k processes.
 *
 * The mix (per 100 events): 60 read/write/recvfrom/sendto on open fds, 12 syscalls that change
 * no state (futex, epoll_wait, getcwd, nanosleep), 10 openat + 10 close, 2 socket + connect +
 * close, 1 process lifecycle (clone, execve, exit) — over 200 seeded processes. Batches are
 * decoded fresh each round (as the pipeline does); decode-only time is measured in the same run
 * and subtracted, so `update_ns_per_event` is the state stage alone.
 * @module
 */
import { concatRecords, encodeLiveRecord } from "../../src/events/encode.ts";
import { decodeLiveBatch } from "../../src/events/event.ts";
import { currentExitId } from "../../src/events/table.ts";
import { StateStore } from "../../src/state/store.ts";
import { FD_TYPE } from "../../src/state/model.ts";

const PROCS = 200;
const AT_FDCWD = -100;
const O_RDONLY = 1;
const PROCEXIT = 186;

function id(name: string): number {
  const i = currentExitId(name);
  if (i === undefined) throw new Error(`no event ${name}`);
  return i;
}

function seededStore(procs: number, fdsPerProc: number): StateStore {
  const state = new StateStore();
  state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "systemd", exe: "/sbin/init", vpid: 1 });
  for (let i = 0; i < procs; i++) {
    const pid = 1000 + i;
    state.addThread({
      tid: pid,
      pid,
      ppid: 1,
      comm: `worker${i % 10}`,
      exe: "/usr/bin/worker",
      exepath: "/usr/bin/worker",
      args: ["--serve", "--port", String(8000 + i)],
      env: ["PATH=/usr/bin:/bin", "HOME=/srv", "LANG=C.UTF-8"],
      cwd: "/srv/app",
      cgroups: ["cpu=/system.slice/worker.service", "memory=/system.slice/worker.service"],
      vpid: pid,
      sid: pid,
      startTs: 1_700_000_000_000_000_000n,
    });
    for (let fd = 0; fd < fdsPerProc; fd++) {
      if (fd % 3 === 2) {
        state.addFd(pid, {
          num: fd,
          type: FD_TYPE.IPV4_SOCK,
          name: `10.0.0.${i % 250}:${40000 + fd}->10.0.1.1:443`,
          cip: `10.0.0.${i % 250}`,
          cport: 40000 + fd,
          sip: "10.0.1.1",
          sport: 443,
          role: 1,
          connected: true,
          l4proto: 2,
        });
      } else {
        state.addFd(pid, {
          num: fd,
          type: FD_TYPE.FILE,
          name: `/srv/app/data/file-${fd}.db`,
          nameraw: `data/file-${fd}.db`,
          ino: 100000 + fd,
        });
      }
    }
  }
  state.linkChildren();
  return state;
}

/** One round of the mix, as encoded records (decoded fresh each round). */
function mixRecords(round: number): Uint8Array[] {
  const recs: Uint8Array[] = [];
  const r = (name: string | number, tid: number, params: Record<string, unknown>) =>
    recs.push(
      encodeLiveRecord(typeof name === "number" ? name : id(name), { tid, pid: tid }, params),
    );
  for (let k = 0; k < 100; k++) {
    const pid = 1000 + ((k * 37 + round) % PROCS);
    if (k < 60) {
      const kind = k % 4;
      const fd = 3 + (k % 6);
      if (kind === 0) r("read", pid, { res: 512, data: "x", fd, size: 4096 });
      else if (kind === 1) r("write", pid, { res: 64, data: "y", fd, size: 64 });
      else if (kind === 2) r("recvfrom", pid, { res: 10, data: "z", fd: 5, size: 10 });
      else r("sendto", pid, { res: 10, data: "z", fd: 5, size: 10 });
    } else if (k < 72) {
      const kind = k % 4;
      if (kind === 0) r("futex", pid, { res: 0, addr: 1, op: 0, val: 0 });
      else if (kind === 1) r("epoll_wait", pid, { res: 1, maxevents: 16 });
      else if (kind === 2) r("getcwd", pid, { res: 0, path: "/srv/app" });
      else r("nanosleep", pid, { res: 0 });
    } else if (k < 92) {
      const fd = 20 + (k % 2);
      if (k % 2 === 0) {
        r("openat", pid, {
          fd,
          dirfd: AT_FDCWD,
          name: `data/cache-${k}.tmp`,
          flags: O_RDONLY,
          mode: 0,
          dev: 0x803,
          ino: 5000 + k,
        });
      } else {
        r("close", pid, { res: 0, fd: fd - 1 });
      }
    } else if (k < 98) {
      const fd = 30;
      const step = k % 3;
      if (step === 0) r("socket", pid, { fd, domain: 2, type: 1, proto: 0, flags: 0 });
      else if (step === 1) {
        r("connect", pid, {
          res: 0,
          tuple: { family: 2, sip: "10.0.0.5", sport: 50000 + k, dip: "10.0.1.9", dport: 80 },
          fd,
          addr: { family: 2, addr: "10.0.1.9", port: 80 },
        });
      } else r("close", pid, { res: 0, fd });
    } else if (k === 98) {
      const child = 200000 + round;
      recs.push(encodeLiveRecord(id("clone"), { tid: child, pid: child, ppid: pid }, {
        res: 0,
        exe: "/usr/bin/worker",
        args: ["--serve"],
        tid: child,
        pid: child,
        ptid: pid,
        cwd: "/srv/app",
        comm: "worker",
        flags: 0,
        uid: 0,
        gid: 0,
        vtid: child,
        vpid: child,
      }));
      recs.push(encodeLiveRecord(id("execve"), { tid: child, pid: child, ppid: pid }, {
        res: 0,
        exe: "sh",
        args: ["-c", "date"],
        tid: child,
        pid: child,
        ptid: pid,
        cwd: "/srv/app",
        comm: "sh",
        trusted_exepath: "/bin/sh",
        uid: 0,
        gid: 0,
      }));
      recs.push(encodeLiveRecord(PROCEXIT, { tid: child, pid: child, ppid: pid }, {
        status: 0,
        ret: 0,
        sig: 0,
        core: 0,
        reaper_tid: 1,
      }));
    } else {
      r("getcwd", pid, { res: 0, path: "/srv/app" });
    }
  }
  return recs;
}

function timeIt(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/**
 * Enrichment cost per event: the state update of a mixed live batch (seeded table, warmed up),
 * as the median of decoding plus update minus decoding alone, over 64 batches 40 times.
 */
export function enrichment(): Record<string, unknown> {
  const ROUNDS = 64;
  const batches = Array.from({ length: ROUNDS }, (_, i) => concatRecords(mixRecords(i)));
  const events = batches.reduce((n, b) => n + decodeLiveBatch(b, 0n, 1).length, 0);
  const state = seededStore(PROCS, 12);
  for (let w = 0; w < 5; w++) {
    for (const b of batches) for (const ev of decodeLiveBatch(b, 0n, 1)) state.update(ev);
  }
  // Per batch, decoding alone and decoding plus update back to back; medians over all pairs.
  const dec: number[] = [], upd: number[] = [];
  for (let rep = 0; rep < 40; rep++) {
    for (const b of batches) {
      const d = timeIt(() => decodeLiveBatch(b, 0n, 1));
      const f = timeIt(() => {
        for (const ev of decodeLiveBatch(b, 0n, 1)) state.update(ev);
      });
      dec.push(d);
      upd.push(f - d);
    }
  }
  state.flush();
  const perBatch = events / ROUNDS;
  return {
    events_per_batch: perBatch,
    decode_ns_per_event: +(median(dec) * 1e6 / perBatch).toFixed(1),
    update_ns_per_event: +(median(upd) * 1e6 / perBatch).toFixed(1),
    threads_after: state.threads.size,
    processes_after: state.procs.size,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * ns per event of `update` alone on a batch of one kind: each repetition times decoding alone
 * and decoding plus update back to back; the median of the differences resists the noise of a
 * shared machine.
 */
function perKind(state: StateStore, records: Uint8Array[]): number {
  const batch = concatRecords(records);
  const n = decodeLiveBatch(batch, 0n, 1).length;
  for (let w = 0; w < 50; w++) for (const ev of decodeLiveBatch(batch, 0n, 1)) state.update(ev);
  const diffs: number[] = [];
  for (let r = 0; r < 301; r++) {
    const dec = timeIt(() => {
      for (let k = 0; k < 4; k++) decodeLiveBatch(batch, 0n, 1);
    });
    const full = timeIt(() => {
      for (let k = 0; k < 4; k++) for (const ev of decodeLiveBatch(batch, 0n, 1)) state.update(ev);
    });
    diffs.push((full - dec) * 1e6 / (4 * n));
  }
  return +median(diffs).toFixed(1);
}

/**
 * ns per event of `update` for events that change nothing, on decoded events reused (these
 * events decode no parameters in `update`, so reuse hides nothing).
 */
function noChange(state: StateStore): number {
  const evs = decodeLiveBatch(
    concatRecords(Array.from({ length: 1000 }, (_, k) => {
      const pid = 1000 + (k % PROCS);
      const kind = k % 3;
      return encodeLiveRecord(id(kind === 0 ? "read" : kind === 1 ? "write" : "futex"), {
        tid: pid,
        pid,
      }, { res: 1, fd: 3 + (k % 6), size: 1, addr: 1, op: 0, val: 0 });
    })),
    0n,
    1,
  );
  for (let w = 0; w < 200; w++) for (const ev of evs) state.update(ev);
  const samples: number[] = [];
  for (let r = 0; r < 301; r++) {
    samples.push(
      timeIt(() => {
        for (const ev of evs) state.update(ev);
      }) * 1e6 / evs.length,
    );
  }
  return +median(samples).toFixed(1);
}

function kinds(): Record<string, number> {
  const state = seededStore(PROCS, 12);
  const pid = (k: number) => 1000 + (k % PROCS);
  const make = (f: (k: number) => Uint8Array) => Array.from({ length: 99 }, (_, k) => f(k));
  return {
    no_change_reused_events: noChange(state),
    read_write: perKind(
      state,
      make((k) =>
        encodeLiveRecord(id(k % 2 ? "read" : "write"), { tid: pid(k), pid: pid(k) }, {
          res: 1,
          fd: 3 + (k % 6),
          size: 1,
        })
      ),
    ),
    openat_close: perKind(
      state,
      make((k) =>
        k % 2 === 0
          ? encodeLiveRecord(id("openat"), { tid: pid(k), pid: pid(k) }, {
            fd: 20,
            dirfd: AT_FDCWD,
            name: "data/cache.tmp",
            flags: O_RDONLY,
            dev: 0x803,
            ino: 77,
          })
          : encodeLiveRecord(id("close"), { tid: pid(k - 1), pid: pid(k - 1) }, { res: 0, fd: 20 })
      ),
    ),
    socket_connect_close: perKind(
      state,
      make((k) => {
        const p = pid(Math.floor(k / 3));
        const step = k % 3;
        if (step === 0) {
          return encodeLiveRecord(id("socket"), { tid: p, pid: p }, {
            fd: 30,
            domain: 2,
            type: 1,
            proto: 0,
          });
        }
        if (step === 1) {
          return encodeLiveRecord(id("connect"), { tid: p, pid: p }, {
            res: 0,
            tuple: { family: 2, sip: "10.0.0.5", sport: 50000 + k, dip: "10.0.1.9", dport: 80 },
            fd: 30,
          });
        }
        return encodeLiveRecord(id("close"), { tid: p, pid: p }, { res: 0, fd: 30 });
      }),
    ),
    clone_execve_exit: perKind(
      state,
      make((k) => {
        const child = 300000 + Math.floor(k / 3);
        const h = { tid: child, pid: child, ppid: 1000 };
        if (k % 3 === 0) {
          return encodeLiveRecord(id("clone"), h, {
            res: 0,
            exe: "w",
            args: ["a"],
            tid: child,
            pid: child,
            ptid: 1000,
            cwd: "/",
            comm: "w",
            flags: 0,
          });
        }
        if (k % 3 === 1) {
          return encodeLiveRecord(id("execve"), h, {
            res: 0,
            exe: "sh",
            args: ["-c", "x"],
            comm: "sh",
            trusted_exepath: "/bin/sh",
            cwd: "/",
          });
        }
        return encodeLiveRecord(PROCEXIT, h, { status: 0, ret: 0, sig: 0, core: 0, reaper_tid: 1 });
      }),
    ),
  };
}

function memory(): Record<string, unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc?.();
    return Deno.memoryUsage().heapUsed;
  };
  const before = heap();
  const state = seededStore(10_000, 12);
  const after = heap();
  const bytes = after - before;
  // Keep the store alive until measured.
  const threads = state.threads.size;
  return {
    processes: 10_000,
    fds_per_process: 12,
    threads,
    heap_bytes: bytes,
    bytes_per_process: Math.round(bytes / 10_000),
    gc_exposed: gc !== undefined,
  };
}

/**
 * The memory measurement in a process of its own started with --expose-gc, so that garbage is
 * collected before each reading (without it the numbers include whatever awaits collection).
 */
async function memoryWithGc(): Promise<Record<string, unknown>> {
  if ((globalThis as { gc?: () => void }).gc) return memory();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", new URL(import.meta.url).pathname, "--memory"],
    stdout: "piped",
  }).output();
  return out.success ? JSON.parse(new TextDecoder().decode(out.stdout)) : memory();
}

/** Runs the state benchmark. */
export async function bench(): Promise<Record<string, unknown>> {
  return {
    enrichment: enrichment(),
    update_ns_per_event_by_kind: kinds(),
    memory_10k_processes: await memoryWithGc(),
  };
}

if (import.meta.main) {
  console.log(
    JSON.stringify(Deno.args.includes("--memory") ? memory() : await bench(), null, 2),
  );
}
