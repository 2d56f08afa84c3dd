/**
 * Replay benchmark: Saker replays a capture of a few million events with Falco's stable rules;
 * sysdig 0.29 reads the same file with a filter of comparable work; both throughputs and their
 * ratio, measured side by side in one run.
 *
 * The capture: as root, `saker capture -w`'s path (live probe → ScapWriter, sysdig 0.29 event
 * format, so that sysdig reads every event) records a syscall storm of a C program (opens,
 * reads and writes of /etc and /tmp files, unlinks, renames, refused loopback connects, and a
 * fork+exec every so often) for a few seconds. Without root (no probe), the same kinds of
 * events are synthesized. The event count includes the enter events the sysdig 0.29 format
 * adds.
 *
 * Work compared:
 * - Saker: read + decode (gzip off) + state tracking + the 25 stable rules (first match), as
 *   `saker replay -r falco_rules.yaml` does, in this process (module load and rules compile
 *   reported apart);
 * - sysdig: `sysdig -r FILE -p %evt.num FILTER` (read + parse + its state tracking + a filter
 *   made of the conditions of several stable rules rewritten in sysdig 0.29's field language),
 *   wall time minus sysdig's start-up measured on a one-event file.
 * Best of three alternating runs each; throughput on wall time and on CPU time (this process's
 * for Saker, /usr/bin/time's for sysdig), whose ratio is steadier on a shared machine.
 *
 * Then the comparison of the issue's table (`sample_x2500`, see _replay_sample.ts): `saker
 * replay` and `sysdig -r` as processes of their own on libs' sample.scap repeated 2500 times,
 * one filter, start-up included, medians of alternating runs, peak RSS of each; Saker as
 * shipped (the bundle), the source tree beside it.
 * @module
 */
import { openLiveSource } from "../../src/sources/live.ts";
import { HANDLED_SYSCALLS } from "../../src/events/syscalls.ts";
import { openCaptureWriter, ScapWriter } from "../../src/capture/writer.ts";
import { replayCapture } from "../../src/pipeline/replay.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import process from "node:process";
import { referenceDir } from "../reference.ts";
import { replayVersusSysdig } from "./_replay_sample.ts";
import { C_CLOCK, compileC } from "./_outside.ts";

const SECONDS = Number(Deno.env.get("SAKER_BENCH_SECONDS") ?? 3);
const TARGET_EVENTS = Number(Deno.env.get("SAKER_BENCH_REPLAY_EVENTS") ?? 2_000_000);
const REFERENCE = referenceDir() ?? "<reference material absent: set SAKER_REFERENCE>";

const STORM_C = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
${C_CLOCK}
/* storm DIR SECONDS: file, network and process syscalls until SECONDS have passed. */
int main(int argc, char **argv) {
  const char *dir = argv[1];
  double end = now() + atof(argv[2]);
  char path[512], path2[512], buf[256];
  unsigned long i = 0;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  while (now() < end) {
    for (int k = 0; k < 64; k++, i++) {
      int fd = open("/etc/hostname", O_RDONLY);
      if (fd >= 0) { read(fd, buf, sizeof buf); close(fd); }
      snprintf(path, sizeof path, "%s/f%lu", dir, i % 64);
      fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
      if (fd >= 0) { write(fd, "x", 1); close(fd); }
      if (i % 8 == 0) {
        snprintf(path2, sizeof path2, "%s/g%lu", dir, i % 64);
        rename(path, path2);
        unlink(path2);
      }
      if (i % 32 == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        connect(s, (struct sockaddr *)&a, sizeof a);
        close(s);
      }
      if (i % 4096 == 0) {
        pid_t p = fork();
        if (p == 0) { execl("/bin/true", "true", (char *)0); _exit(1); }
        waitpid(p, 0, 0);
      }
    }
  }
  printf("%lu\\n", i);
  return 0;
}
`;

function buildStorm(dir: string): Promise<string> {
  return compileC(dir, "storm", STORM_C);
}

/** Records the storm live into `file`; returns the events written. */
async function recordStorm(dir: string, file: string): Promise<number> {
  const bin = await buildStorm(dir);
  // File churn on tmpfs when there is one (a disk journal would pace the storm).
  let work = `${dir}/work`;
  try {
    if ((await Deno.stat("/dev/shm")).isDirectory) {
      work = await Deno.makeTempDir({ dir: "/dev/shm" });
    }
  } catch { /* no /dev/shm */ }
  await Deno.mkdir(work, { recursive: true });
  const src = await openLiveSource({
    syscalls: new Set([...HANDLED_SYSCALLS]),
    ringBytes: 64 << 20,
  });
  const writer = await openCaptureWriter(file, { format: "sysdig029" });
  let events = 0;
  const consumer = (async () => {
    for await (const batch of src.readable) {
      await writer.writeBatch(batch);
      events += batch.length;
    }
  })();
  const deadline = Date.now() + 60_000;
  // Storm until the capture has about the target number of events (enter + exit).
  while (writer.stats.blocks < TARGET_EVENTS && Date.now() < deadline) {
    await new Deno.Command(bin, { args: [work, String(SECONDS)], stdout: "null" }).output();
  }
  if (!work.startsWith(dir)) await Deno.remove(work, { recursive: true });
  await src.close();
  await consumer;
  await writer.close();
  return writer.stats.blocks;
}

/** Synthesizes a storm-like capture (no probe); returns the events written. */
async function synthesize(file: string): Promise<number> {
  const w = await ScapWriter.create(file, { format: "sysdig029" });
  const base = 1_700_000_000_000_000_000n;
  let t = 0n;
  const h = () => ({ tid: 4242, pid: 4242, ppid: 1, cpu: 0, ts: t += 500n });
  const data = new TextEncoder().encode("x");
  while (w.stats.blocks < TARGET_EVENTS) {
    const batch: Event[] = [];
    for (let i = 0; i < 256; i++) {
      batch.push(
        buildEvent("openat", h(), { fd: 3, dirfd: -100, name: "/etc/hostname", flags: 1 }, base),
        buildEvent("close", h(), { res: 0, fd: 3 }, base),
        buildEvent("openat", h(), {
          fd: 4,
          dirfd: -100,
          name: `/tmp/bench/f${i % 64}`,
          flags: 2 | 4 | 8,
          mode: 0o644,
        }, base),
        buildEvent("write", h(), { res: 1, data, fd: 4, size: 1 }, base),
        buildEvent("close", h(), { res: 0, fd: 4 }, base),
      );
    }
    await w.writeBatch(batch);
  }
  await w.close();
  return w.stats.blocks;
}

/** A filter with the shape of several stable rules, in sysdig 0.29's language. */
export const SYSDIG_FILTER: string = [
  "(evt.type in (open,openat,openat2) and evt.dir=< and fd.typechar=f and evt.is_open_read=true " +
  "and fd.name in (/etc/shadow,/etc/sudoers,/etc/pam.conf) and not proc.name in (sshd,sudo,login))",
  "(evt.type in (open,openat,openat2) and evt.dir=< and evt.is_open_write=true and " +
  "(fd.name startswith /etc/ or fd.name startswith /bin/ or fd.name startswith /usr/bin/))",
  "(evt.type=execve and evt.dir=< and proc.name in (nc,ncat,netcat) and proc.args contains -e)",
  "(evt.type=connect and evt.dir=< and fd.typechar=4 and fd.sport in (4444,1337) and " +
  "not proc.name in (curl,wget))",
  "(evt.type in (unlinkat,unlink,rename,renameat,renameat2) and evt.dir=< and " +
  "(fd.name contains .bash_history or evt.arg.name contains .bash_history))",
  "(evt.type=execve and evt.dir=< and proc.pname in (nginx,httpd,apache2) and " +
  "proc.name in (sh,bash,dash))",
].join(" or ");

/** Runs sysdig on `file`: wall time and CPU time (user + system, from /usr/bin/time). */
async function timeSysdig(
  file: string,
): Promise<{ seconds: number; cpuSeconds: number; matched: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "cpu %U %S", "sysdig", "-r", file, "-p", "%evt.num", SYSDIG_FILTER],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`sysdig: ${err}`);
  const m = /cpu ([\d.]+) ([\d.]+)/.exec(err);
  const cpuSeconds = m ? Number(m[1]) + Number(m[2]) : NaN;
  const matched = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l).length;
  return { seconds, cpuSeconds, matched };
}

/** CPU time (user + system) of this process, seconds. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Bench entry point. */
export async function bench(): Promise<Record<string, unknown>> {
  try {
    await new Deno.Command("sysdig", { args: ["--version"], stdout: "null" }).output();
  } catch {
    return { skipped: "sysdig is not installed" };
  }
  const rulesFile = `${REFERENCE}/falco-rules/falco_rules.yaml`;
  try {
    await Deno.stat(rulesFile);
  } catch {
    return { skipped: `Falco's stable rules are not at ${rulesFile}` };
  }
  const dir = await Deno.makeTempDir({ prefix: "saker-bench-replay-" });
  try {
    const file = `${dir}/storm.scap`;
    let source = "live syscall storm";
    let written: number;
    try {
      if (Deno.uid() !== 0) throw new Error("not root");
      written = await recordStorm(dir, file);
    } catch (err) {
      source = `synthesized (${(err as Error).message})`;
      written = await synthesize(file);
    }
    const size = (await Deno.stat(file)).size;

    // Saker: rules compiled once, then the replay through the pipeline.
    const t0 = performance.now();
    const ruleset = compileRuleset(await loadRulesFiles([rulesFile]), { ruleMatching: "first" });
    const compileSeconds = (performance.now() - t0) / 1000;
    // Best of three alternating runs each: this machine is shared and noisy.
    const tiny = `${dir}/tiny.scap`;
    const w = await ScapWriter.create(tiny, { format: "sysdig029" });
    await w.writeBatch([buildEvent("close", { tid: 1 }, { res: 0, fd: 3 })]);
    await w.close();
    let startup = { wall: Infinity, cpu: Infinity };
    let sysBest = { wall: Infinity, cpu: Infinity };
    let matched = 0;
    let alerts = 0;
    let saker = { events: 0, seconds: Infinity, cpuSeconds: Infinity };
    for (let round = 0; round < 3; round++) {
      alerts = 0;
      const c0 = cpuNow();
      const r = await replayCapture(file, {
        evaluator: ruleset,
        onAlerts: (a) => alerts += a.length,
      });
      const cpu = cpuNow() - c0;
      saker = {
        events: r.events,
        seconds: Math.min(saker.seconds, r.seconds),
        cpuSeconds: Math.min(saker.cpuSeconds, cpu),
      };
      const t = await timeSysdig(tiny);
      startup = {
        wall: Math.min(startup.wall, t.seconds),
        cpu: Math.min(startup.cpu, t.cpuSeconds),
      };
      const s = await timeSysdig(file);
      sysBest = {
        wall: Math.min(sysBest.wall, s.seconds),
        cpu: Math.min(sysBest.cpu, s.cpuSeconds),
      };
      matched = s.matched;
    }
    const sysSeconds = Math.max(1e-9, sysBest.wall - startup.wall);
    const sysCpu = Math.max(1e-9, sysBest.cpu - startup.cpu);
    const sys = { matched };

    const sample = await replayVersusSysdig(dir).catch((e) => ({ error: String(e) }));
    const sakerRate = saker.events / saker.seconds;
    const sysdigRate = saker.events / sysSeconds;
    const sakerCpuRate = saker.events / saker.cpuSeconds;
    const sysdigCpuRate = saker.events / sysCpu;
    return {
      capture: { source, events: saker.events, written_blocks: written, bytes: size },
      saker: {
        events_per_s: Math.round(sakerRate),
        ns_per_event: Math.round(1e9 / sakerRate),
        cpu_ns_per_event: Math.round(1e9 / sakerCpuRate),
        seconds: Number(saker.seconds.toFixed(3)),
        rules: ruleset.rules.length,
        rules_compile_s: Number(compileSeconds.toFixed(3)),
        alerts,
      },
      sysdig: {
        events_per_s: Math.round(sysdigRate),
        ns_per_event: Math.round(1e9 / sysdigRate),
        cpu_ns_per_event: Math.round(1e9 / sysdigCpuRate),
        seconds: Number(sysSeconds.toFixed(3)),
        startup_s: Number(startup.wall.toFixed(3)),
        filter_matches: sys.matched,
      },
      // Wall-clock throughput ratio, and the same on CPU time (steadier on a shared machine).
      ratio_saker_over_sysdig: Number((sakerRate / sysdigRate).toFixed(2)),
      cpu_ratio_saker_over_sysdig: Number((sakerCpuRate / sysdigCpuRate).toFixed(2)),
      sample_x2500: sample,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) console.log(JSON.stringify(await bench(), null, 2));
