/**
 * Seeding from /proc, checked against /proc: a real process tree (this test → sh → python3)
 * holding a file, a listening TCP socket, both ends of a loopback connection and a pipe. The
 * seeded state must show what /proc shows, and the proc/fd fields must read it back.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { PYTHON } from "../support/live.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { StateStore } from "../../src/state/store.ts";
import { ProcFs, seedFromProc } from "../../src/state/seed.ts";
import { FD_TYPE, ROLE } from "../../src/state/model.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";

const ignore = needsRoot();

function field(e: Event, ref: string): unknown {
  const f = lookupField(ref)!;
  return f.def.extract(e, f.arg);
}

const SCRIPT = `
import os, socket, sys, time
d = sys.argv[1]
f = open(os.path.join(d, "held.txt"), "w")
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4)
cli = socket.socket(); cli.connect(srv.getsockname())
acc, _ = srv.accept()
r, w = os.pipe()
os.chdir(d)
print(f.fileno(), srv.fileno(), cli.fileno(), acc.fileno(), r, w,
      srv.getsockname()[1], cli.getsockname()[1], os.getppid(), flush=True)
sys.stdin.read()
`;

Deno.test({
  name: "state live: /proc seeding matches /proc for a process tree with files and sockets",
  ignore,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-state-proc-" });
    const child = new Deno.Command("sh", {
      args: ["-c", `"${PYTHON}" -c '${SCRIPT.replaceAll("'", "'\\''")}' "${dir}"; true`],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { SAKER_STATE_MARK: "mark-42" },
    }).spawn();
    try {
      const reader = child.stdout.getReader();
      let line = "";
      while (!line.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("child ended early");
        line += new TextDecoder().decode(value);
      }
      const [fFile, fSrv, fCli, fAcc, fR, fW, port, cport, pyParent] = line.trim().split(" ")
        .map(Number);
      assertEquals(pyParent, child.pid, "python's parent is the shell");
      // The python process: the child of the shell.
      const pyPid = Number(
        (await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`)).trim()
          .split(" ")[0],
      );

      const state = new StateStore({ proc: new ProcFs() });
      const stats = seedFromProc(state, new ProcFs());
      assert(stats.processes > 5 && stats.fds > 10, `seeded ${JSON.stringify(stats)}`);

      const py = state.procs.get(pyPid);
      assert(py !== undefined, "python is in the table");
      const status = await Deno.readTextFile(`/proc/${pyPid}/status`);
      assertEquals(py.ppid, child.pid);
      assertEquals(py.comm, status.match(/^Name:\s+(.*)$/m)![1]);
      assertEquals(py.exepath, await Deno.realPath(`/proc/${pyPid}/exe`));
      const cmdline = (await Deno.readTextFile(`/proc/${pyPid}/cmdline`)).split("\0");
      assertEquals(py.exe, cmdline[0]);
      assertEquals(py.args[py.args.length - 1], dir);
      assertEquals(py.cwd, await Deno.realPath(dir));
      assertEquals(
        py.sid,
        Number(
          (await Deno.readTextFile(`/proc/${pyPid}/stat`)).split(") ")[1]
            .split(" ")[3],
        ),
      );
      assertEquals(py.vpid, pyPid, "host process: vpid is the pid");
      assertEquals(py.containerId, "");
      assert(py.startTs > 0n && py.startTs <= BigInt(Date.now()) * 1_000_000n);
      const th = state.threads.get(pyPid)!;
      assertEquals(th.uid, Number(status.match(/^Uid:\s+\d+\s+(\d+)/m)![1]));
      assertEquals(th.capEffective, BigInt("0x" + status.match(/^CapEff:\s+(\w+)/m)![1]));

      // Its fds, as /proc/PID/fd lists them.
      const procFds = [...Deno.readDirSync(`/proc/${pyPid}/fd`)].map((e) => Number(e.name));
      assertEquals([...py.fds.keys()].sort((a, b) => a - b), procFds.sort((a, b) => a - b));
      const file = py.fds.get(fFile)!;
      assertEquals([file.type, file.name], [FD_TYPE.FILE, `${await Deno.realPath(dir)}/held.txt`]);
      assertEquals(file.ino, (await Deno.stat(`${dir}/held.txt`)).ino);
      const srv = py.fds.get(fSrv)!;
      assertEquals([srv.type, srv.name], [FD_TYPE.IPV4_SERVSOCK, `127.0.0.1:${port}`]);
      const tuple = `127.0.0.1:${cport}->127.0.0.1:${port}`;
      const cli = py.fds.get(fCli)!;
      assertEquals([cli.type, cli.name, cli.role], [FD_TYPE.IPV4_SOCK, tuple, ROLE.CLIENT]);
      const acc = py.fds.get(fAcc)!;
      assertEquals([acc.type, acc.name, acc.role], [FD_TYPE.IPV4_SOCK, tuple, ROLE.SERVER]);
      assertEquals(py.fds.get(fR)?.type, FD_TYPE.FIFO);
      assertEquals(py.fds.get(fW)?.type, FD_TYPE.FIFO);

      // Fields on an event of that process read the seeded state; ancestry walks the table.
      const ev = buildEvent("read", { tid: pyPid, pid: pyPid }, { res: 0, fd: fAcc, size: 1 });
      state.update(ev);
      assertEquals(field(ev, "proc.pname"), "sh");
      assertEquals(field(ev, "proc.ppid"), child.pid);
      assertEquals(field(ev, "proc.aname[2]"), state.procs.get(Deno.pid)?.comm);
      assertEquals(field(ev, "proc.apid[2]"), Deno.pid);
      assertEquals(field(ev, "fd.name"), tuple);
      assertEquals(field(ev, "fd.is_server"), true);
      assertEquals(field(ev, "fd.lport"), port);
      assertEquals(field(ev, "fd.rport"), cport);
      assertEquals(field(ev, "proc.env[SAKER_STATE_MARK]"), "mark-42", "environment on demand");
      assertEquals(field(ev, "user.name"), "root");
      assertEquals(field(ev, "group.name"), "root");
      assertEquals(field(ev, "container.id"), "host");
      assertEquals(field(ev, "thread.cap_effective"), field(ev, "thread.cap_permitted"));

      // Every seeded process agrees with /proc on its parent and name (those still alive: on a
      // busy machine any number of them may have exited since).
      let compared = 0;
      let gone = 0;
      for (const p of state.procs.values()) {
        let stat: string;
        try {
          stat = await Deno.readTextFile(`/proc/${p.pid}/stat`);
        } catch {
          gone++;
          continue; // exited since
        }
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (comm !== p.comm && p.pid !== Deno.pid) continue; // renamed meanwhile
        assertEquals(p.ppid, ppid, `ppid of ${p.pid} ${p.comm}`);
        compared++;
      }
      assert(
        compared >= stats.processes - gone - 5,
        `compared ${compared} of ${stats.processes} (${gone} exited since)`,
      );
    } finally {
      const w = child.stdin.getWriter();
      await w.close();
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
