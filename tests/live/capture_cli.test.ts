/**
 * `saker capture` as a user runs it, on the real kernel: the text line the README shows and the
 * `--json` object for an open the test makes itself, checked against what the test knows from
 * outside (its child's pid, its own pid as the parent, the file's inode and device from stat);
 * `-n` stops by itself after that many events; `--all` adds the system calls Saker does not
 * decode, as generic `syscall` events (`uname` here), which are absent without it.
 * (FILTER and `-w` read back are in capture_filter.test.ts and scap_write.test.ts.)
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { SakerProcess } from "../support/saker.ts";

const ignore = needsRoot();

/** A copy of `/usr/bin/NAME` called `as`, so its processes have that command name. */
async function renamed(dir: string, name: string, as: string): Promise<string> {
  const path = `${dir}/${as}`;
  await Deno.copyFile(`/usr/bin/${name}`, path);
  await Deno.chmod(path, 0o755);
  return path;
}

/**
 * Runs `saker capture ARGS` and, every 200 ms, `cmd` (recording each run's pid) until `done`
 * holds on the output or the capture exits by itself; then stops it with SIGINT.
 */
async function captureWhile(
  args: string[],
  cmd: string[],
  done: (stdout: string) => boolean,
): Promise<{ stdout: string; stderr: string; code: number; pids: number[]; selfExit: boolean }> {
  const cap = SakerProcess.start(["capture", "-M", "60", ...args]);
  let exited = false;
  cap.exited.then(() => exited = true);
  const pids: number[] = [];
  const end = Date.now() + 40_000;
  // The probe is attached once the capture logs that it started reading (or prints events).
  while (Date.now() < end && !exited && !done(cap.stdout())) {
    const child = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null", stderr: "null" })
      .spawn();
    await child.status;
    pids.push(child.pid);
    await new Promise((r) => setTimeout(r, 200));
  }
  const selfExit = exited;
  if (!exited) {
    await new Promise((r) => setTimeout(r, 300)); // what is in the ring is still read
    cap.kill("SIGINT");
  }
  const { code } = await cap.exited;
  return { stdout: cap.stdout(), stderr: cap.stderr(), code, pids, selfExit };
}

/** The kernel's encoding of a device number (MKDEV: major << 20 | minor), as the probe reads it. */
function kernelDev(dev: number): string {
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return ((major << 20) | minor).toString(16).toUpperCase();
}

/** Seconds between a local HH:MM:SS clock reading and now (across midnight too). */
function clockSkew(hms: string): number {
  const [h, m, s] = hms.split(":").map(Number);
  const now = new Date();
  const diff = Math.abs(
    h * 3600 + m * 60 + s -
      (now.getHours() * 3600 + now.getMinutes() * 60 + now.getSeconds()),
  );
  return Math.min(diff, 86400 - diff);
}

Deno.test({
  name: "saker capture: the text line of an open, as the README shows it, and --json",
  ignore,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-capcli-" }));
    try {
      const cat = await renamed(dir, "cat", "sakertxtcat");
      const file = `${dir}/known.txt`;
      await Deno.writeTextFile(file, "k\n");
      const st = await Deno.stat(file);
      const filter = "evt.type=openat and proc.name=sakertxtcat";
      const text = await captureWhile([filter], [cat, file], (o) => o.includes(file));
      assertEquals(text.code, 0, text.stderr);
      const lines = text.stdout.split("\n").filter((l) => l !== "");
      const mine = lines.filter((l) => l.includes(` name=${file} `));
      assert(mine.length >= 1, text.stdout);
      const m = new RegExp(
        "^(\\d+) (\\d\\d:\\d\\d:\\d\\d)\\.\\d{9} (\\d+) sakertxtcat \\(tid=(\\d+) pid=(\\d+) " +
          `ppid=(\\d+)\\) < openat fd=(\\d+) dirfd=-100\\(AT_FDCWD\\) name=${file} ` +
          "flags=1\\(O_RDONLY\\) mode=0 dev=([0-9A-F]+) ino=(\\d+)$",
      ).exec(mine[0]);
      assert(m, `line format: ${mine[0]}`);
      const [, num, hms, cpu, tid, pid, ppid, fd, dev, ino] = m;
      assert(Number(num) >= 1);
      assert(clockSkew(hms) <= 120, `time ${hms}`);
      assert(Number(cpu) < navigator.hardwareConcurrency, `cpu ${cpu}`);
      assert(text.pids.includes(Number(pid)), `pid ${pid} is one of the test's cat runs`);
      assertEquals(tid, pid);
      assertEquals(Number(ppid), Deno.pid);
      assert(Number(fd) >= 3);
      assertEquals(Number(ino), st.ino);
      assertEquals(dev, kernelDev(st.dev));
      // Every line is an openat of the renamed cat, in the same format.
      for (const l of lines) assertMatch(l, /^\d+ \d\d:\d\d:\d\d\.\d{9} \d+ sakertxtcat \(tid=/);

      const json = await captureWhile(["--json", filter], [cat, file], (o) => o.includes(file));
      assertEquals(json.code, 0, json.stderr);
      const evs = json.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
      const e = evs.find((x) => x.args.name === file);
      assert(e, json.stdout);
      assert(json.pids.includes(e.pid));
      assertEquals([e.tid, e.ppid, e.comm, e.type, e.dir], [
        e.pid,
        Deno.pid,
        "sakertxtcat",
        "openat",
        "<",
      ]);
      assertEquals(e.args.flags, { value: 1, names: "O_RDONLY" });
      assertEquals([e.args.dirfd, e.args.ino], [-100, st.ino]);
      assert(Math.abs(Date.parse(e.time) - Date.now()) < 120_000, e.time);
      assertMatch(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker capture -n N stops by itself after N events; --all adds generic syscall events",
  ignore,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-capcli-" }));
    try {
      const uname = await renamed(dir, "uname", "sakerallx");
      const counted = await captureWhile(["-n", "3", "proc.name=sakerallx"], [uname], () => false);
      assertEquals(counted.code, 0, counted.stderr);
      assert(counted.selfExit, "capture -n 3 did not stop by itself");
      assertEquals(counted.stdout.trim().split("\n").length, 3, counted.stdout);
      // uname(2) (x86_64 number 63) is not among the calls Saker decodes: only --all shows it,
      // as a generic syscall event with the native number.
      const UNAME = / < syscall ID=\d+ nativeID=63$/m;
      assert(!UNAME.test(counted.stdout), counted.stdout);
      const all = await captureWhile(
        ["--all", "proc.name=sakerallx"],
        [uname],
        (o) => UNAME.test(o),
      );
      assertEquals(all.code, 0, all.stderr);
      const generic = all.stdout.split("\n").find((l) => UNAME.test(l));
      assert(generic, all.stdout.slice(0, 3000));
      assertMatch(generic, /^\d+ \S+ \d+ sakerallx \(tid=\d+ pid=\d+ ppid=\d+\) < syscall /);
      // Without --all the same runs show no generic event at all.
      const plain = await captureWhile(
        ["proc.name=sakerallx"],
        [uname],
        (o) => o.split("\n").length > 40,
      );
      assertEquals(plain.code, 0, plain.stderr);
      assert(plain.stdout.length > 0, "events of the renamed uname");
      assert(!plain.stdout.includes(" < syscall "), "generic events without --all");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
