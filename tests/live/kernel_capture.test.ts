/**
 * Live capture: the real probe on the real kernel. Each test does the real thing in a child
 * process (coreutils or python3 reaching syscalls through its stdlib and ctypes) and checks the
 * decoded arguments and results. Needs root; skips visibly otherwise.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { LiveCollector, PYTHON, python } from "../support/live.ts";
import { renderFlags } from "../../src/events/flags.ts";
import type { SockAddr, SockTuple } from "../../src/events/params.ts";
import type { Event } from "../../src/events/event.ts";

const ignore = needsRoot();
let live: LiveCollector;
let dir: string;

const flagsOf = (e: Event, name = "flags", table = "file_flags") =>
  renderFlags(table, e.arg(name) as number);

Deno.test({
  name: "capture: probe loads and attaches",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    live = await LiveCollector.start();
    dir = await Deno.makeTempDir({ prefix: "saker-capture-" });
    assert(live.source.probe.syscalls().size > 60, "kernel filter holds the handled syscalls");
  },
});

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `capture: ${name}`, ignore, sanitizeOps: false, sanitizeResources: false, fn });

t("cat a file: execve with args and exe path, openat O_RDONLY, close", async () => {
  const file = `${dir}/hello.txt`;
  await Deno.writeTextFile(file, "hi\n");
  const { pid } = await live.run(["cat", file]);
  const [exec] = await live.waitFor(pid, (e) => e.name === "execve" && e.res === 0);
  assertEquals(exec.arg("trusted_exepath"), "/usr/bin/cat");
  assertEquals(new TextDecoder().decode(exec.arg("args") as Uint8Array), `${file}\0`);
  assertEquals(exec.arg("cwd"), Deno.cwd());
  assertEquals(exec.arg("uid"), 0);
  assertEquals(exec.arg("sid"), Number((await Deno.readTextFile("/proc/self/stat")).split(" ")[5]));
  assertEquals(exec.comm, "cat");
  const [open] = await live.waitFor(pid, (e) => e.name === "openat" && e.arg("name") === file);
  assert((open.res ?? -1) >= 0, "open succeeded");
  assertEquals(open.arg("dirfd"), -100);
  assertEquals(flagsOf(open), "O_RDONLY");
  assert((open.arg("ino") as number) > 0, "inode recorded");
  assertEquals(open.arg("ino"), (await Deno.stat(file)).ino);
  await live.waitFor(pid, (e) => e.name === "close" && e.arg("fd") === open.res);
  await live.waitFor(pid, (e) => e.name === "procexit" && e.arg("status") === 0);
});

t("write below a temp dir: openat O_WRONLY|O_CREAT|O_TRUNC with mode; rename; unlink", async () => {
  const file = `${dir}/out.txt`;
  const { pid } = await live.run(python(
    `import os\nfd=os.open(${JSON.stringify(file)}, os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o640)\n` +
      `os.write(fd, b"x"); os.close(fd)\nos.rename(${JSON.stringify(file)}, ${
        JSON.stringify(file + ".2")
      })\nos.unlink(${JSON.stringify(file + ".2")})\nos.mkdir(${
        JSON.stringify(dir + "/d")
      }, 0o700); os.rmdir(${JSON.stringify(dir + "/d")})`,
  ));
  const [open] = await live.waitFor(pid, (e) => e.name === "openat" && e.arg("name") === file);
  assertEquals(flagsOf(open), "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC");
  // mode is scap-encoded: rw-r----- = IRUSR|IWUSR|IRGRP
  assertEquals(renderFlags("chmod_mode", open.arg("mode") as number), "S_IRGRP|S_IWUSR|S_IRUSR");
  const [ren] = await live.waitFor(pid, (e) => e.name === "rename");
  assertEquals([ren.res, ren.arg("oldpath"), ren.arg("newpath")], [0, file, file + ".2"]);
  const [unl] = await live.waitFor(pid, (e) => e.name === "unlink");
  assertEquals([unl.res, unl.arg("path")], [0, file + ".2"]);
  const [mk] = await live.waitFor(pid, (e) => e.name === "mkdir");
  assertEquals([mk.res, mk.arg("path"), mk.arg("mode")], [0, dir + "/d", 0o700]);
  await live.waitFor(pid, (e) => e.name === "rmdir" && e.arg("path") === dir + "/d");
});

t("symlink and hardlink (ln -s, ln)", async () => {
  const target = `${dir}/target`;
  await Deno.writeTextFile(target, "t");
  const s = await live.run(["ln", "-s", "/etc/shadow", `${dir}/sym`]);
  const [sym] = await live.waitFor(s.pid, (e) => e.name === "symlinkat");
  assertEquals([sym.res, sym.arg("target"), sym.arg("linkdirfd"), sym.arg("linkpath")], [
    0,
    "/etc/shadow",
    -100,
    `${dir}/sym`,
  ]);
  const h = await live.run(["ln", target, `${dir}/hard`]);
  const [hard] = await live.waitFor(h.pid, (e) => e.name === "linkat");
  assertEquals([hard.res, hard.arg("oldpath"), hard.arg("newpath")], [0, target, `${dir}/hard`]);
});

t("chmod, chown, truncate (generic event)", async () => {
  const f = `${dir}/perm`;
  await Deno.writeTextFile(f, "abc");
  const { pid } = await live.run(python(
    `import os\nos.chmod(${JSON.stringify(f)}, 0o4755)\nos.chown(${
      JSON.stringify(f)
    }, 1, 2)\nos.truncate(${JSON.stringify(f)}, 1)`,
  ));
  const [ch] = await live.waitFor(pid, (e) => e.name === "fchmodat" || e.name === "chmod");
  assertEquals(
    renderFlags("chmod_mode", ch.arg("mode") as number),
    "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID",
  );
  const [own] = await live.waitFor(pid, (e) => e.name === "fchownat" || e.name === "chown");
  assertEquals([own.res, own.arg("uid"), own.arg("gid")], [0, 1, 2]);
  // truncate has no dedicated event: it arrives as the generic syscall event.
  const [gen] = await live.waitFor(pid, (e) => e.name === "syscall" && e.arg("nativeID") === 76);
  assert((gen.arg("ID") as number) > 0);
});

t("connect to a local listener, socket, accept4, and dup2 of the socket onto stdout", async () => {
  // A port below the ephemeral range (no outgoing connection takes it meanwhile), tried until
  // one is free here: a fixed or random one may be in use on the machine. The listener prints it.
  const server = new Deno.Command(PYTHON, {
    args: [
      "-c",
      `import socket, random\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n` +
      `while True:\n  port=random.randint(20000, 32000)\n  try:\n    s.bind(("127.0.0.1", port)); break\n` +
      `  except OSError: pass\ns.listen(1)\nprint(port, flush=True)\nc,a=s.accept()\nc.recv(10)`,
    ],
    stdout: "piped",
  }).spawn();
  const reader = server.stdout.getReader();
  let ready = "";
  while (!ready.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the listener ended before printing its port: ${ready}`);
    ready += new TextDecoder().decode(value);
  }
  const port = Number(ready.trim());
  const { pid } = await live.run(python(
    `import socket, os\ns=socket.create_connection(("127.0.0.1", ${port}))\nos.dup2(s.fileno(), 1)\nos.write(2, b"")\ns.send(b"x")`,
  ));
  await server.status;
  reader.releaseLock();
  await server.stdout.cancel();
  const [sock] = await live.waitFor(pid, (e) => e.name === "socket" && e.arg("domain") === 2);
  assert((sock.res ?? -1) >= 0);
  const [conn] = await live.waitFor(pid, (e) => e.name === "connect");
  assertEquals(conn.res, 0);
  assertEquals(conn.arg("addr") as SockAddr, { family: 2, addr: "127.0.0.1", port });
  const tuple = conn.arg("tuple") as SockTuple;
  assertEquals([tuple.sip, tuple.dip, tuple.dport], ["127.0.0.1", "127.0.0.1", port]);
  assert(tuple.sport > 0);
  const [dup] = await live.waitFor(
    pid,
    (e) =>
      (e.name === "dup2" || e.name === "dup3") && e.arg("newfd") === 1 &&
      e.arg("oldfd") === conn.arg("fd"),
  );
  assertEquals([dup.res, dup.arg("oldfd"), dup.arg("newfd")], [1, conn.arg("fd"), 1]);
  const [acc] = await live.waitFor(server.pid, (e) => e.name === "accept4" || e.name === "accept");
  const at = acc.arg("tuple") as SockTuple;
  assertEquals(
    [at.sip, at.sport, at.dport],
    ["127.0.0.1", tuple.sport, port],
    "inbound tuple: client first",
  );
  const [bind] = await live.waitFor(server.pid, (e) => e.name === "bind" && e.res === 0);
  assertEquals(bind.arg("addr"), { family: 2, addr: "127.0.0.1", port });
  await live.waitFor(server.pid, (e) => e.name === "listen" && e.arg("backlog") === 1);
});

t("UDP sendto with a destination address and recvfrom", async () => {
  // Port 0: the kernel picks a free one, which the script prints.
  const { pid, stdout } = await live.run(python(
    `import socket\nr=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nr.bind(("127.0.0.1", 0))\n` +
      `port=r.getsockname()[1]\nprint(port)\n` +
      `s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b"hello", ("127.0.0.1", port))\nr.recvfrom(100)`,
  ));
  const port = Number(stdout.trim());
  const [send] = await live.waitFor(pid, (e) => e.name === "sendto");
  assertEquals(send.res, 5);
  const st = send.arg("tuple") as SockTuple;
  assertEquals([st.dip, st.dport], ["127.0.0.1", port]);
  const [recv] = await live.waitFor(pid, (e) => e.name === "recvfrom");
  const rt = recv.arg("tuple") as SockTuple;
  assertEquals([recv.res, rt.sip, rt.sport, rt.dport], [5, "127.0.0.1", st.sport, port]);
});

t("ptrace attach to a child", async () => {
  const { pid, stdout } = await live.run(python(
    `import ctypes, os, time, signal\nlibc=ctypes.CDLL(None, use_errno=True)\npid=os.fork()\nif pid==0:\n  time.sleep(5); os._exit(0)\n` +
      `r=libc.ptrace(16, pid, 0, 0)\nos.waitpid(pid, 0)\nlibc.ptrace(17, pid, 0, 0)\nos.kill(pid, signal.SIGKILL)\nprint(pid)`,
  ));
  const child = Number(stdout.trim());
  const [att] = await live.waitFor(pid, (e) => e.name === "ptrace" && e.tid === pid);
  assertEquals(renderFlags("ptrace_requests", att.arg("request") as number), "PTRACE_ATTACH");
  assertEquals([att.res, att.arg("pid")], [0, child]);
  const [kill] = await live.waitFor(pid, (e) => e.name === "kill");
  assertEquals([kill.arg("pid"), kill.arg("sig")], [child, 9]);
});

t("exec from a memfd: the exe is flagged as memfd", async () => {
  const { pid } = await live.run(python(
    `import os\nfd=os.memfd_create("saker-test", 0)\nos.write(fd, open("/usr/bin/true","rb").read())\nos.execv(f"/proc/self/fd/{fd}", ["fileless"])`,
  ));
  const [mfd] = await live.waitFor(pid, (e) => e.name === "memfd_create");
  assertEquals([mfd.arg("name"), (mfd.res ?? -1) >= 0], ["saker-test", true]);
  const [exec] = await live.waitFor(
    pid,
    (e) => e.name === "execve" && e.res === 0 && e.comm !== "python3",
  );
  const flags = exec.arg("flags") as number;
  assertEquals(
    renderFlags("execve_flags", flags).includes("EXE_FROM_MEMFD"),
    true,
    renderFlags("execve_flags", flags),
  );
  assertEquals(
    exec.arg("trusted_exepath"),
    "/memfd:saker-test (deleted)",
    "as /proc/PID/exe shows it",
  );
  assertEquals(exec.arg("exe"), "fileless");
});

t("unshare and setns: namespace flags in scap form", async () => {
  const { pid } = await live.run(python(
    `import ctypes, os\nlibc=ctypes.CDLL(None)\nfd=os.open("/proc/self/ns/uts", os.O_RDONLY)\nprint(libc.unshare(0x04000000))\nprint(libc.setns(fd, 0x04000000))`,
  ));
  const [un] = await live.waitFor(pid, (e) => e.name === "unshare");
  assertEquals([un.res, renderFlags("clone_flags", un.arg("flags") as number)], [
    0,
    "CLONE_NEWUTS",
  ]);
  const [ns] = await live.waitFor(pid, (e) => e.name === "setns");
  assertEquals([ns.res, renderFlags("clone_flags", ns.arg("nstype") as number)], [
    0,
    "CLONE_NEWUTS",
  ]);
});

t("setuid in a forked child, and the child's clone event", async () => {
  const { pid, stdout } = await live.run(python(
    `import os\npid=os.fork()\nif pid==0:\n  os.setgid(65534); os.setuid(65534); os._exit(3)\nos.waitpid(pid,0)\nprint(pid)`,
  ));
  const child = Number(stdout.trim());
  const parentSide = await live.waitFor(
    pid,
    (e) => (e.name === "clone" || e.name === "clone3" || e.name === "fork") && e.res === child,
  );
  assertEquals(parentSide[0].tid, pid);
  const [childSide] = await live.waitFor(
    pid,
    (e) => e.tid === child && e.name.startsWith("clone") && e.res === 0,
  );
  assertEquals([childSide.arg("pid"), childSide.arg("ptid"), childSide.ppid], [child, pid, pid]);
  const [su] = await live.waitFor(pid, (e) => e.name === "setuid" && e.tid === child);
  assertEquals([su.res, su.arg("uid")], [0, 65534]);
  const [sg] = await live.waitFor(pid, (e) => e.name === "setgid" && e.tid === child);
  assertEquals([sg.res, sg.arg("gid")], [0, 65534]);
  const [exit] = await live.waitFor(pid, (e) => e.name === "procexit" && e.tid === child);
  assertEquals([exit.arg("ret"), exit.arg("sig")], [3, 0]);
});

t("loading a kernel module fails and is recorded (init_module, finit_module)", async () => {
  const { pid } = await live.run(python(
    `import ctypes, os\nlibc=ctypes.CDLL(None)\nimg=b"\\x7fELF" + b"\\0"*60\nlibc.syscall(175, img, len(img), b"p=1")\nfd=os.open("/dev/null", os.O_RDONLY)\nlibc.syscall(313, fd, b"", 0)`,
  ));
  const [im] = await live.waitFor(pid, (e) => e.name === "init_module");
  assert((im.res ?? 0) < 0, "init_module failed");
  assertEquals([im.arg("length"), im.arg("uargs")], [64, "p=1"]);
  assertEquals(new TextDecoder().decode((im.arg("img") as Uint8Array).subarray(1, 4)), "ELF");
  const [fm] = await live.waitFor(pid, (e) => e.name === "finit_module");
  assert((fm.res ?? 0) < 0, "finit_module failed");
});

t(
  "failed execve keeps the filename and argv; prctl, chdir, fchdir, kill, bpf, mprotect",
  async () => {
    const { pid } = await live.run(python(
      `import os, ctypes, mmap\nlibc=ctypes.CDLL(None)\nlibc.prctl(15, b"renamed", 0, 0, 0)\nos.chdir("/tmp")\nfd=os.open("/", os.O_RDONLY)\nos.fchdir(fd)\n` +
        `libc.syscall(321, 9999, 0, 0)\nm=mmap.mmap(-1, 4096)\nbuf=ctypes.c_char.from_buffer(m)\nlibc.mprotect(ctypes.addressof(buf), 4096, 1)\ndel buf\n` +
        `os.kill(os.getpid(), 0)\ntry:\n  os.execv("/nonexistent/bin", ["ghost", "-x"])\nexcept OSError: pass`,
    ));
    const [pr] = await live.waitFor(pid, (e) => e.name === "prctl");
    assertEquals([
      pr.res,
      renderFlags("prctl_options", pr.arg("option") as number),
      pr.arg("arg2_str"),
    ], [
      0,
      "PR_SET_NAME",
      "renamed",
    ]);
    await live.waitFor(pid, (e) => e.name === "chdir" && e.arg("path") === "/tmp" && e.res === 0);
    await live.waitFor(pid, (e) => e.name === "fchdir" && e.res === 0);
    const [bpf] = await live.waitFor(pid, (e) => e.name === "bpf");
    assertEquals(bpf.arg("cmd"), 9999);
    const [mp] = await live.waitFor(pid, (e) => e.name === "mprotect" && e.arg("length") === 4096);
    assertEquals([mp.res, renderFlags("prot_flags", mp.arg("prot") as number), mp.arg("length")], [
      0,
      "PROT_READ",
      4096,
    ]);
    await live.waitFor(pid, (e) => e.name === "kill" && e.arg("sig") === 0);
    const [ex] = await live.waitFor(pid, (e) => e.name === "execve" && (e.res ?? 0) < 0);
    assertEquals([ex.res, ex.arg("filename"), ex.arg("exe")], [-2, "/nonexistent/bin", "ghost"]);
    assertEquals(new TextDecoder().decode(ex.arg("args") as Uint8Array), "-x\0");
    assertEquals(ex.comm, "renamed", "comm follows PR_SET_NAME");
  },
);

t(
  "fd creators and process groups state tracking needs: fcntl dup, eventfd, pidfd, setsid, getcwd",
  async () => {
    const { pid, stdout } = await live.run(python(
      `import os, fcntl, signal\nfd=os.eventfd(5, os.EFD_CLOEXEC)\nd=fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)\n` +
        `p=os.pidfd_open(os.getpid())\nos.getcwd()\nos.closerange(d, d+1)\nc=os.fork()\nif c==0:\n  os.setsid(); os._exit(0)\nos.waitpid(c,0)\nprint(d, p, c)`,
    ));
    const [d, pfd, child] = stdout.trim().split(" ").map(Number);
    const [efd] = await live.waitFor(pid, (e) => e.name === "eventfd2");
    assertEquals([renderFlags("file_flags", efd.arg("flags") as number), efd.arg("initval")], [
      "O_CLOEXEC",
      5,
    ]);
    const [dup] = await live.waitFor(pid, (e) => e.name === "fcntl" && e.res === d);
    assertEquals([
      renderFlags("fcntl_commands", dup.arg("cmd") as number),
      dup.arg("fd"),
      dup.arg("arg"),
    ], [
      "F_DUPFD_CLOEXEC",
      efd.res,
      100,
    ]);
    const [po] = await live.waitFor(pid, (e) => e.name === "pidfd_open");
    assertEquals([po.res, po.arg("pid")], [pfd, pid]);
    await live.waitFor(pid, (e) => e.name === "getcwd" && e.arg("path") === Deno.cwd());
    await live.waitFor(
      pid,
      (e) => e.name === "close_range" || (e.name === "close" && e.arg("fd") === d),
    );
    const [sid] = await live.waitFor(pid, (e) => e.name === "setsid" && e.tid === child);
    assertEquals(sid.res, child);
  },
);

t("procexit names the reaper: a child subreaper adopts orphans, not pid 1", async () => {
  // The grandchild exits once it is adopted (its parent changed), and the subreaper waits for it:
  // no sleep decides the order, however busy the machine.
  const { pid, stdout } = await live.run(python(
    // The grandchild compares its parent with the middle's pid, read in the middle: there the
    // result of the first fork is 0.
    `import os, ctypes, time\nlibc=ctypes.CDLL(None)\nlibc.prctl(36, 1, 0, 0, 0)\nm=os.fork()\nif m==0:\n` +
      `  me=os.getpid()\n  g=os.fork()\n  if g==0:\n    while os.getppid() == me: time.sleep(0.01)\n` +
      `    os._exit(0)\n  os._exit(0)\n` +
      `os.waitpid(m,0)\nos.wait()\nprint(m)`,
  ));
  const middle = Number(stdout.trim());
  const [exit] = await live.waitFor(pid, (e) => e.name === "procexit" && e.tid === middle);
  assertEquals(
    exit.arg("reaper_tid"),
    pid,
    "PR_SET_CHILD_SUBREAPER parent inherits the grandchild",
  );
  const [leaf] = await live.waitFor(
    pid,
    (e) => e.name === "procexit" && e.ppid === pid && e.tid !== middle,
  );
  assertEquals(leaf.arg("reaper_tid"), 0, "no children, no reaper");
});

t("events of the agent itself are dropped in the kernel", async () => {
  const marker = `${dir}/agent-own-${Date.now()}`;
  await Deno.writeTextFile(marker, "x");
  const { pid } = await live.run(["cat", marker]);
  await live.waitFor(pid, (e) => e.name === "openat" && e.arg("name") === marker);
  assertEquals(live.events.filter((e) => e.pid === Deno.pid).length, 0);
});

Deno.test({
  name: "capture: detach",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = live.source.stats();
    await live.stop();
    await Deno.remove(dir, { recursive: true });
    assertEquals(s.drops, 0, "no kernel drops during the tests");
    assert(s.received > 0);
  },
});
