/**
 * Containers for real: a podman container from a locally built busybox image, with a bind
 * mount and a label, a tty shell exec'd in it and a process running as a user that only the
 * image's /etc/passwd knows. Seeded from /proc, its processes must carry the container id from
 * their cgroup; the metadata must come from podman's Docker-compatible API (a service the test
 * starts on its own socket); user names must come from the container's own files.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { ensureStateImage, havePodman, STATE_IMAGE as IMAGE } from "../support/podman_image.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { StateStore } from "../../src/state/store.ts";
import { ProcFs, seedFromProc } from "../../src/state/seed.ts";
import { ContainerStore } from "../../src/state/containers/runtime.ts";
import type { ProcessInfo } from "../../src/state/model.ts";
import { lookupField } from "../../src/rules/fields/mod.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";

const ignore = needsRoot() || !havePodman();

async function run(cmd: string[], check = true): Promise<string> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (check && !out.success) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text.trim();
}

function field(e: Event, ref: string): unknown {
  const f = lookupField(ref)!;
  return f.def.extract(e, f.arg);
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name:
    "state live: podman container — id from cgroup, metadata from the API, users from its files",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await ensureStateImage();
    const tmp = await Deno.makeTempDir({ prefix: "saker-state-ctr-" });
    const sock = `${tmp}/podman.sock`;
    const name = `saker-state-${Deno.pid}-${Date.now() % 100000}`;
    const service = new Deno.Command("podman", {
      args: ["system", "service", "--time=0", `unix://${sock}`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const execs: Deno.ChildProcess[] = [];
    const containers = new ContainerStore({ sockets: [sock], retryMs: 200, timeoutMs: 5000 });
    try {
      const id = await run([
        "podman",
        ...PODMAN_BASE,
        "run",
        ...RUN_LIMITS,
        "-d",
        "--name",
        name,
        "-v",
        `${tmp}:/data:ro`,
        "--label",
        "app=demo",
        IMAGE,
        "sleep",
        "300",
      ]);
      assertEquals(id.length, 64, `container id: ${id}`);
      // A shell with a tty, and a process running as the image's own user.
      const spawnExec = (args: string[]) => {
        const p = new Deno.Command("podman", {
          args: ["exec", ...args],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        execs.push(p);
      };
      spawnExec(["-t", name, "sh", "-c", "sleep 301; echo done"]);
      spawnExec(["--user", "4321", name, "sleep", "302"]);
      await waitFor("the service socket", async () => {
        try {
          return (await Deno.stat(sock)).isSocket ? true : undefined;
        } catch {
          return undefined;
        }
      });

      // The container's processes, as the host sees them.
      const inContainer = () => {
        const state = new StateStore({ proc: new ProcFs(), containers });
        seedFromProc(state, new ProcFs());
        const mine = [...state.procs.values()].filter((p) => p.containerId === id);
        const byArgs = (a: string) => mine.find((p) => p.args.join(" ").includes(a));
        const init = byArgs("300"), shell = mine.find((p) => p.comm === "sh"), user = byArgs("302");
        return init && shell && user ? { state, init, shell, user } : undefined;
      };
      const { state, init, shell, user } = await waitFor(
        "the container's processes",
        async () => await Promise.resolve(inContainer()),
      );
      await waitFor("the container's metadata", async () => {
        await containers.settled();
        return containers.get(id)?.name !== undefined ? true : undefined;
      });

      const evOf = (p: ProcessInfo) => {
        const e = buildEvent("getcwd", { tid: p.pid, pid: p.pid }, { res: 0, path: "/" });
        state.update(e);
        return e;
      };
      const e = evOf(init);
      assertEquals(field(e, "container.id"), id.slice(0, 12));
      assertEquals(field(e, "container.full_id"), id);
      assertEquals(field(e, "container.name"), name);
      assertEquals(field(e, "container.type"), "podman");
      assertEquals(field(e, "container.image"), `${IMAGE}:latest`);
      assertEquals(field(e, "container.image.repository"), IMAGE);
      assertEquals(field(e, "container.image.tag"), "latest");
      assertEquals(field(e, "container.privileged"), false);
      assertEquals(field(e, "container.label[app]"), "demo");
      assertEquals(field(e, "container.mount.dest[" + tmp + "]"), "/data");
      assert(String(field(e, "container.mounts")).includes(`${tmp}:/data:`), "mounts list it");
      assertEquals(field(e, "container.mount.dest[/var/run/docker.sock]"), "<NA>");
      assertEquals(field(e, "proc.vpid"), 1, "the container's init is pid 1 inside");
      const initStatus = await Deno.readTextFile(`/proc/${init.pid}/status`);
      assertEquals(init.vpid, Number(initStatus.match(/^NStgid:.*\s(\d+)$/m)![1]));
      assert((field(e, "container.start_ts") as bigint) > 0n, "start from the pid namespace");
      assertEquals(field(e, "k8s.pod.name"), undefined, "not a Kubernetes container");

      // The tty shell exec'd into the container.
      const s = evOf(shell);
      const stat = await Deno.readTextFile(`/proc/${shell.pid}/stat`);
      const ttyNr = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[4]);
      assert(ttyNr !== 0, "podman exec -t gave the shell a terminal");
      assertEquals(field(s, "proc.tty"), ttyNr);
      assertEquals(field(s, "container.id"), id.slice(0, 12));
      assertEquals(field(s, "proc.name"), "sh");
      assertEquals(field(s, "proc.exepath"), "/bin/busybox");
      assertEquals(field(s, "user.name"), "root");

      // A user only the image knows: names come from the container's /etc/passwd and group.
      const u = evOf(user);
      assertEquals(field(u, "user.uid"), 4321);
      assertEquals(field(u, "user.name"), "appuser");
      assertEquals(field(u, "user.homedir"), "/home/app");
      assertEquals(field(u, "group.name"), "appgroup");
    } finally {
      for (const p of execs) {
        try {
          p.kill("SIGKILL");
        } catch { /* ended */ }
        await p.status;
      }
      await run(["podman", "rm", "-f", "-t", "0", name], false);
      await containers.close();
      try {
        service.kill("SIGTERM");
      } catch { /* ended */ }
      await service.status;
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
