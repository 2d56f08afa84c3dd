/**
 * The state kept current by live kernel events: the real probe's events go through
 * StateStore.update in order (after seeding from /proc), and fields extracted at the moment of
 * an event are compared with what the process itself reads from /proc and its sockets.
 * Scenarios: a three-level process tree, a renamed binary, a program executed from a memfd, a
 * loopback connection (both ends), a socket dup2'ed onto stdout, a chdir then relative opens.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { ensureStateImage, havePodman, STATE_IMAGE as IMAGE } from "../support/podman_image.ts";
import { bpfFds, PYTHON } from "../support/live.ts";
import { type LiveSource, openLiveSource } from "../../src/sources/live.ts";
import type { Event } from "../../src/events/event.ts";
import { StateStore } from "../../src/state/store.ts";
import { ProcFs, seedFromProc } from "../../src/state/seed.ts";
import { ContainerStore } from "../../src/state/containers/runtime.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";

const ignore = needsRoot();

function field(e: Event, ref: string): unknown {
  const f = lookupField(ref);
  if (!f) throw new Error(`unknown field ${ref}`);
  return f.def.extract(e, f.arg);
}

interface Watch {
  pred: (e: Event) => boolean;
  fields: string[];
  hits: Record<string, unknown>[];
}

/** Live events → state, with field snapshots taken at chosen events. */
class Harness {
  readonly state: StateStore;
  readonly source: LiveSource;
  readonly #watches = new Set<Watch>();
  readonly #done: Promise<void>;
  events = 0;

  private constructor(source: LiveSource, state: StateStore) {
    this.source = source;
    this.state = state;
    this.#done = (async () => {
      for await (const batch of source.readable) {
        for (const ev of batch) {
          state.update(ev);
          this.events++;
          for (const w of this.#watches) {
            if (!w.pred(ev)) continue;
            const snap: Record<string, unknown> = { "evt.type": ev.name };
            for (const f of w.fields) snap[f] = field(ev, f);
            w.hits.push(snap);
          }
        }
      }
    })();
  }

  static async start(containers?: ContainerStore): Promise<Harness> {
    const source = await openLiveSource({
      syscalls: new Set(["read", "write", "getcwd"]),
      ringBytes: 32 << 20,
      pollMs: 2,
      maxDelayMs: 10,
    });
    const reader = new ProcFs();
    const state = new StateStore({ proc: reader, containers });
    seedFromProc(state, reader);
    return new Harness(source, state);
  }

  /** Snapshots `fields` at every event matching `pred` from now on. */
  watch(pred: (e: Event) => boolean, fields: string[]): Watch {
    const w = { pred, fields, hits: [] };
    this.#watches.add(w);
    return w;
  }

  /** Waits until `w` has at least `n` hits. */
  async hits(w: Watch, n = 1, ms = 10_000): Promise<Record<string, unknown>[]> {
    const end = Date.now() + ms;
    while (w.hits.length < n) {
      if (Date.now() > end) throw new Error(`only ${w.hits.length} of ${n} events seen`);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#watches.delete(w);
    return w.hits;
  }

  async stop(): Promise<void> {
    await this.source.close();
    await this.#done;
  }
}

/** Runs a command to completion; returns its stdout. */
async function run(cmd: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const openOf = (path: string) => (e: Event) =>
  (e.name === "openat" || e.name === "open") && e.dir === "<" &&
  typeof e.arg("name") === "string" && (e.arg("name") as string).endsWith(path);

let h: Harness;
let dir: string;
let service: Deno.ChildProcess | undefined;
let containers: ContainerStore;
/** This process's BPF objects before the harness loaded its probe (other tests' may be open). */
let bpfBefore: string[] = [];
const podman = !ignore && havePodman();

const t = (name: string, fn: () => Promise<void>, skip = false) =>
  Deno.test({
    name: `state events: ${name}`,
    ignore: ignore || skip,
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });

t("probe loads, state seeded", async () => {
  dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-state-ev-" }));
  // podman's Docker-compatible API on a socket of our own, for container metadata.
  if (podman) {
    service = new Deno.Command("podman", {
      args: ["system", "service", "--time=0", `unix://${dir}/podman.sock`],
      stdout: "null",
      stderr: "null",
    }).spawn();
  }
  containers = new ContainerStore({ sockets: [`${dir}/podman.sock`], retryMs: 200 });
  bpfBefore = bpfFds();
  h = await Harness.start(containers);
  // Every process /proc lists now is in the table (a process may end in between: re-checked).
  // One started after the seed comes in by its events, which may still be on their way on a busy
  // machine: those missing are looked at again for up to 5 s.
  const alive = (pid: number) => {
    try {
      return Deno.statSync(`/proc/${pid}`).isDirectory;
    } catch {
      return false;
    }
  };
  let missing = [...Deno.readDirSync("/proc")].map((e) => Number(e.name))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
  const settled = Date.now() + 5000;
  for (;;) {
    missing = missing.filter((pid) => !h.state.procs.has(pid) && alive(pid));
    if (missing.length <= 3 || Date.now() > settled) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert(missing.length <= 3, `processes of /proc missing from the table: ${missing}`);
  assert(h.state.procs.has(1), "init is in the table");
  assert(bpfFds().length > bpfBefore.length, "the probe's programs, maps and links are open");
});

t("three-level process tree: ancestry fields match /proc", async () => {
  const marker = `${dir}/tree-marker`;
  await Deno.writeTextFile(marker, "x");
  const w = h.watch(openOf("tree-marker"), [
    "proc.name",
    "proc.pid",
    "proc.ppid",
    "proc.pname",
    "proc.aname[2]",
    "proc.apid[2]",
    "proc.aname[3]",
    "proc.exepath",
    "proc.cmdline",
    "proc.pcmdline",
    "proc.cwd",
    "proc.sid",
    "proc.tty",
    "user.uid",
    "thread.tid",
    "fd.name",
  ]);
  const script = "import os, json\n" +
    "def st(p):\n" +
    "  s = open(f'/proc/{p}/stat').read(); r = s[s.rindex(')') + 2:].split()\n" +
    "  return s[s.index('(') + 1:s.rindex(')')], int(r[1]), int(r[3]), int(r[4])\n" +
    "me = os.getpid(); c0, p1, sid, tty = st(me); c1, p2, _, _ = st(p1); c2, p3, _, _ = st(p2)\n" +
    "c3 = st(p3)[0]\n" +
    "print(json.dumps(dict(pid=me, comm=c0, p1=p1, c1=c1, p2=p2, c2=c2, p3=p3, c3=c3, sid=sid, tty=tty, " +
    "exe=os.readlink('/proc/self/exe'), cwd=os.getcwd(), uid=os.geteuid())), flush=True)\n" +
    `open(${JSON.stringify(marker)}).read()\n`;
  // test -> sh -> sh -> python3 (the "; true" keeps each shell from exec'ing its command)
  const inner = `"${PYTHON}" -c '${script.replaceAll("'", "'\\''")}'; true`;
  const out = await run(["sh", "-c", `sh -c '${inner.replaceAll("'", "'\\''")}'; true`], dir);
  const facts = JSON.parse(out);
  const [hit] = await h.hits(w);
  assertEquals(hit["proc.pid"], facts.pid);
  assertEquals(hit["thread.tid"], facts.pid);
  assertEquals(hit["proc.name"], facts.comm);
  assertEquals(hit["proc.ppid"], facts.p1);
  assertEquals(hit["proc.pname"], facts.c1);
  assertEquals(hit["proc.aname[2]"], facts.c2);
  assertEquals(hit["proc.apid[2]"], facts.p2);
  assertEquals(hit["proc.aname[3]"], facts.c3);
  assertEquals(hit["proc.exepath"], facts.exe);
  assert(String(hit["proc.cmdline"]).startsWith(`${facts.comm} -c import os`), "cmdline");
  assert(String(hit["proc.pcmdline"]).startsWith("sh -c "), "parent's cmdline");
  assertEquals(hit["proc.cwd"], facts.cwd + "/");
  assertEquals(hit["proc.sid"], facts.sid);
  assertEquals(hit["proc.tty"], facts.tty);
  assertEquals(hit["user.uid"], facts.uid);
  assertEquals(hit["fd.name"], marker);
});

t("renamed binary: proc.name and proc.exepath follow the file, not the original", async () => {
  const renamed = `${dir}/renamed-catx`;
  await Deno.copyFile("/usr/bin/cat", renamed);
  await Deno.chmod(renamed, 0o755);
  const marker = `${dir}/renamed-marker`;
  await Deno.writeTextFile(marker, "x");
  const w = h.watch(openOf("renamed-marker"), [
    "proc.name",
    "proc.exe",
    "proc.exepath",
    "proc.args",
    "proc.is_exe_from_memfd",
  ]);
  await run([renamed, marker]);
  const [hit] = await h.hits(w);
  assertEquals(hit["proc.name"], "renamed-catx");
  assertEquals(hit["proc.exe"], renamed);
  assertEquals(hit["proc.exepath"], renamed);
  assertEquals(hit["proc.args"], marker);
  assertEquals(hit["proc.is_exe_from_memfd"], false);
});

t("memfd exec: proc.is_exe_from_memfd and the memfd fd", async () => {
  const marker = `${dir}/memfd-marker`;
  await Deno.writeTextFile(marker, "x");
  const mfd = h.watch((e) => e.name === "memfd_create" && e.arg("name") === "saker-pay", [
    "fd.typechar",
    "fd.name",
    "proc.name",
  ]);
  const w = h.watch(openOf("memfd-marker"), [
    "proc.name",
    "proc.exepath",
    "proc.is_exe_from_memfd",
    "proc.pname",
  ]);
  const script = "import os\n" +
    "fd = os.memfd_create('saker-pay', 0)\n" +
    "os.write(fd, open('/usr/bin/cat', 'rb').read())\n" +
    `os.execve(fd, ['cat', ${JSON.stringify(marker)}], {})\n`;
  await run([PYTHON, "-c", script]);
  const [m] = await h.hits(mfd);
  assertEquals(m["fd.typechar"], "m");
  assertEquals(m["fd.name"], "saker-pay");
  const [hit] = await h.hits(w);
  assertEquals(hit["proc.is_exe_from_memfd"], true);
  // The kernel names the program after the memfd (/proc shows "/memfd:saker-pay (deleted)").
  assert(String(hit["proc.exepath"]).includes("memfd:saker-pay"), `${hit["proc.exepath"]}`);
  assertEquals(hit["proc.name"], "memfd:saker-pay");
});

t("loopback connection: connect and accept name both ends as the sockets report", async () => {
  const script = "import socket, json\n" +
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n" +
    "c = socket.socket(); c.connect(s.getsockname()); a, _ = s.accept()\n" +
    "print(json.dumps(dict(local=c.getsockname(), peer=c.getpeername(), " +
    "fds=[s.fileno(), c.fileno(), a.fileno()])), flush=True)\n";
  let pid = 0;
  const isMine = (e: Event) => e.pid === pid;
  const conn = h.watch((e) => isMine(e) && e.name === "connect", [
    "fd.name",
    "fd.cip",
    "fd.cport",
    "fd.sip",
    "fd.sport",
    "fd.lport",
    "fd.rport",
    "fd.is_server",
    "fd.l4proto",
    "fd.typechar",
    "fd.num",
    "fd.name_changed",
  ]);
  const acc = h.watch((e) => isMine(e) && (e.name === "accept" || e.name === "accept4"), [
    "fd.name",
    "fd.is_server",
    "fd.lport",
    "fd.rport",
    "fd.num",
  ]);
  const bind = h.watch((e) => isMine(e) && e.name === "bind", ["fd.name", "fd.is_server"]);
  const child = new Deno.Command(PYTHON, { args: ["-c", script], stdout: "piped" }).spawn();
  pid = child.pid;
  const facts = JSON.parse(new TextDecoder().decode((await child.output()).stdout));
  const [lip, lport] = facts.local, [rip, rport] = facts.peer;
  const tuple = `${lip}:${lport}->${rip}:${rport}`;
  const [c] = await h.hits(conn);
  assertEquals(c["fd.name"], tuple);
  assertEquals([c["fd.cip"], c["fd.cport"], c["fd.sip"], c["fd.sport"]], [lip, lport, rip, rport]);
  assertEquals([c["fd.lport"], c["fd.rport"]], [lport, rport]);
  assertEquals(c["fd.is_server"], false);
  assertEquals(c["fd.l4proto"], "tcp");
  assertEquals(c["fd.typechar"], "4");
  assertEquals(c["fd.num"], facts.fds[1]);
  assertEquals(c["fd.name_changed"], true);
  const [a] = await h.hits(acc);
  assertEquals(a["fd.name"], tuple);
  assertEquals(a["fd.is_server"], true);
  assertEquals([a["fd.lport"], a["fd.rport"]], [rport, lport]);
  assertEquals(a["fd.num"], facts.fds[2]);
  const [b] = await h.hits(bind);
  // Bound to port 0 (the kernel picks one): bind names what was asked for.
  assertEquals(b["fd.name"], "127.0.0.1:0");
});

t("dup2 of a socket onto stdout: proc.stdout.* and fd fields", async () => {
  const marker = `${dir}/dup-marker`;
  await Deno.writeTextFile(marker, "x");
  const script = "import socket, os, sys\n" +
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n" +
    "c = socket.socket(); c.connect(s.getsockname()); a, _ = s.accept()\n" +
    "sys.stderr.write('%s:%d->%s:%d\\n' % (c.getsockname() + c.getpeername())); sys.stderr.flush()\n" +
    "os.dup2(c.fileno(), 1)\n" +
    `open(${JSON.stringify(marker)}).read()\n`;
  let pid = 0;
  // (The spawn itself dup2s pipes onto stdout before exec: only python's own dup2 counts.)
  const dup = h.watch(
    (e) => e.pid === pid && e.name === "dup2" && e.comm.startsWith("python"),
    ["fd.type", "fd.name", "fd.num"],
  );
  const w = h.watch(openOf("dup-marker"), ["proc.stdout.type", "proc.stdout.name", "fd.types[1]"]);
  const child = new Deno.Command(PYTHON, { args: ["-c", script], stderr: "piped" }).spawn();
  pid = child.pid;
  const tuple = new TextDecoder().decode((await child.output()).stderr).trim();
  const [d] = await h.hits(dup);
  assertEquals(d["fd.type"], "ipv4");
  assertEquals(d["fd.name"], tuple);
  const [hit] = await h.hits(w);
  assertEquals(hit["proc.stdout.type"], "ipv4");
  assertEquals(hit["proc.stdout.name"], tuple);
  assertEquals(hit["fd.types[1]"], ["ipv4"]);
});

t("chdir then relative open: fd.name resolved, fd.nameraw as given", async () => {
  await Deno.mkdir(`${dir}/sub/deeper`, { recursive: true });
  await Deno.writeTextFile(`${dir}/sub/rel-marker`, "x");
  const script = "import os\n" +
    `os.chdir(${JSON.stringify(`${dir}/sub`)})\n` +
    "open('rel-marker').read()\n" +
    "os.chdir('deeper')\n" +
    "open('../rel-marker').read()\n" +
    "print(os.getcwd(), flush=True)\n";
  const w = h.watch(openOf("rel-marker"), ["fd.name", "fd.nameraw", "proc.cwd", "fd.directory"]);
  const cwd = (await run([PYTHON, "-c", script])).trim();
  const hits = await h.hits(w, 2);
  assertEquals(hits[0]["fd.name"], `${dir}/sub/rel-marker`);
  assertEquals(hits[0]["fd.nameraw"], "rel-marker");
  assertEquals(hits[0]["proc.cwd"], `${dir}/sub/`);
  assertEquals(hits[1]["fd.name"], `${dir}/sub/rel-marker`);
  assertEquals(hits[1]["fd.nameraw"], "../rel-marker");
  assertEquals(hits[1]["proc.cwd"], cwd + "/");
  assertEquals(hits[1]["fd.directory"], `${dir}/sub`);
});

t("the table stays bounded: short-lived processes leave it", async () => {
  const before = h.state.procs.size;
  const marker = `${dir}/bounded-marker`;
  const trues = h.watch(
    (e) =>
      e.name === "execve" && e.res === 0 && e.arg("exe") === "/bin/true" &&
      e.arg("args") instanceof Uint8Array &&
      new TextDecoder().decode(e.arg("args") as Uint8Array).startsWith(marker),
    ["proc.pid"],
  );
  // 300 processes, each exec'ing /bin/true with the marker as its argument (seen by the probe).
  await run(["sh", "-c", `for i in $(seq 1 300); do /bin/true ${marker} $i; done`]);
  const hits = await h.hits(trues, 300, 15_000);
  const pids = hits.map((x) => x["proc.pid"] as number);
  assertEquals(new Set(pids).size, 300, "300 distinct processes were seen");
  // Each is gone from /proc; each must leave the table.
  const end = Date.now() + 5000;
  const kept = () => pids.filter((p) => h.state.procs.get(p)?.exe === "/bin/true");
  while (kept().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  for (const p of pids) {
    let alive = false;
    try {
      alive = Deno.readTextFileSync(`/proc/${p}/comm`).trim() === "true";
    } catch { /* gone */ }
    assert(!alive, `process ${p} is still running`);
  }
  assertEquals(kept(), [], "exited processes still in the table");
  assert(h.state.procs.size <= before + 20, `table grew from ${before} to ${h.state.procs.size}`);
});

t(
  "container: a tty shell exec'd into a podman container carries container and user fields",
  async () => {
    await ensureStateImage();
    const name = `saker-state-ev-${Deno.pid}`;
    const id = (await run([
      "podman",
      ...PODMAN_BASE,
      "run",
      ...RUN_LIMITS,
      "-d",
      "--replace", // a container of this name is one a killed run left (the name has our pid)
      "--name",
      name,
      IMAGE,
      "sleep",
      "120",
    ])).trim();
    try {
      // The container's first events start the metadata lookup; it completes in the background.
      const end = Date.now() + 15000;
      while (containers.get(id)?.name === undefined && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assertEquals(containers.get(id)?.name, name, "metadata fetched without blocking events");
      const w = h.watch(openOf("ctr-marker"), [
        "container.id",
        "container.name",
        "container.image.repository",
        "proc.name",
        "proc.pname",
        "proc.tty",
        "proc.vpid",
        "user.name",
        "proc.exepath",
        "fd.name",
      ]);
      await run([
        "script",
        "-qec",
        `podman exec -t ${name} sh -c 'cat /ctr-marker 2>/dev/null; true'`,
        "/dev/null",
      ]);
      const [hit] = await h.hits(w);
      assertEquals(hit["container.id"], id.slice(0, 12));
      assertEquals(hit["container.name"], name);
      assertEquals(hit["container.image.repository"], IMAGE);
      // busybox's sh runs its applets by executing /proc/self/exe, so the kernel names the
      // process "exe"; busybox then renames itself with prctl(PR_SET_NAME), which (as in
      // Falco's libsinsp) does not change the process's name before its next exec.
      assertEquals(hit["proc.name"], "exe");
      assertEquals(hit["proc.pname"], "sh");
      assert((hit["proc.tty"] as number) > 0, "the exec'd shell has a terminal");
      assert((hit["proc.vpid"] as number) > 1, "a pid inside the container's namespace");
      assertEquals(hit["user.name"], "root");
      assertEquals(hit["proc.exepath"], "/bin/busybox");
      assertEquals(hit["fd.name"], "/ctr-marker");
    } finally {
      await run(["podman", "rm", "-f", "-t", "0", name]).catch(() => "");
    }
  },
  !podman,
);

t("stop: the probe detaches, every BPF object of this process is closed", async () => {
  assert(h.events > 0, "events went through the state");
  const received = h.source.stats().received;
  await h.stop();
  assertEquals(bpfFds(), bpfBefore, "BPF programs, links or maps of the probe open after stop");
  assertEquals(h.source.stats().received, received, "no event read after stop");
  await containers.close();
  if (service) {
    try {
      service.kill("SIGTERM");
    } catch { /* ended */ }
    await service.status;
  }
  await Deno.remove(dir, { recursive: true });
});
