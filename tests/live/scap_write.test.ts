/**
 * `saker capture -w FILE -M SECONDS` on the real kernel while known commands run; then sysdig
 * 0.29 reads the file and shows those events with their processes, fds and arguments, and
 * `saker replay` reads it too.
 */
import { assert } from "../support/assert.ts";
import { haveTool, needsRoot, REPO_ROOT, skipNote } from "../support/env.ts";
import { PYTHON } from "../support/live.ts";

const SYSDIG = haveTool("sysdig");
if (!SYSDIG) skipNote("sysdig is not installed: live capture files are not checked with sysdig");

async function sysdig(path: string, format: string, filter: string): Promise<string[]> {
  const out = await new Deno.Command("sysdig", {
    args: ["-r", path, "-p", format, filter],
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}

async function waitForFile(path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await Deno.stat(path)).size > 0) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} did not appear`);
}

Deno.test({
  name: "saker capture -w: sysdig 0.29 reads the live capture with processes, fds and args",
  ignore: needsRoot() || !SYSDIG,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-scap-" });
    const file = `${dir}/live.scap`;
    const capture = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}src/main.ts`, "capture", "-w", file, "-M", "8"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      // The file gets its header once the probe is attached.
      await waitForFile(file, 30_000);
      const marker = `${dir}/written-by-sh.txt`;
      const run = (cmd: string[]) => new Deno.Command(cmd[0], { args: cmd.slice(1) }).output();
      const cat = await run(["cat", "/etc/hostname"]);
      assert(cat.success);
      await run(["sh", "-c", `echo saker > ${marker}; mv ${marker} ${marker}.moved`]);
      // A TCP connection on loopback.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      const accepted = listener.accept();
      await run([
        PYTHON,
        "-c",
        `import socket; s = socket.create_connection(("127.0.0.1", ${port})); s.send(b"hi")`,
      ]);
      (await accepted).close();
      listener.close();
    } finally {
      const out = await capture.output();
      assert(out.success, new TextDecoder().decode(out.stderr));
    }
    try {
      const F = "%evt.type %evt.dir %proc.name %proc.pname %fd.name %user.name %evt.args";
      // cat opened /etc/hostname: enter and exit events, the fd named on the exit and after.
      const cat = await sysdig(file, F, "proc.name=cat and fd.name=/etc/hostname");
      assert(
        cat.some((l) => l.startsWith("openat < cat ") && l.includes("/etc/hostname")),
        cat.join("\n"),
      );
      assert(cat.some((l) => l.startsWith("close > cat ")), "cat closed the file");
      const exec = await sysdig(
        file,
        "%evt.type %evt.dir %proc.name %proc.pname %proc.cmdline",
        "evt.type=execve and proc.name=cat",
      );
      assert(
        exec.some((l) => l.startsWith("execve < cat ") && l.endsWith("cat /etc/hostname")),
        exec.join("\n"),
      );
      // The shell's file operations, with resolved paths.
      const sh = await sysdig(
        file,
        "%evt.type %evt.dir %proc.name %fd.name %evt.args",
        `evt.dir=< and (fd.name contains written-by-sh or evt.type=renameat2 or evt.type=rename)`,
      );
      assert(sh.some((l) => l.includes("written-by-sh.txt")), sh.join("\n"));
      // The TCP client: connect with its tuple, then a send on that fd.
      const net = await sysdig(
        file,
        "%evt.type %evt.dir %proc.name %fd.name %fd.sip %fd.sport",
        "proc.name=python3 and fd.sip=127.0.0.1",
      );
      assert(net.some((l) => l.startsWith("connect < python3 127.0.0.1:")), net.join("\n"));
      assert(net.some((l) => l.startsWith("sendto < python3 ")), net.join("\n"));

      // Saker reads its own file back too.
      const replay = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${REPO_ROOT}src/main.ts`,
          "replay",
          file,
          "--no-rules",
          "--no-progress",
          "-p",
          "%evt.type %proc.name %fd.name",
          "proc.name=cat and evt.type=openat",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(replay.success, new TextDecoder().decode(replay.stderr));
      const lines = new TextDecoder().decode(replay.stdout).split("\n");
      assert(lines.includes("openat cat /etc/hostname"), lines.join("\n"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
