/**
 * The simulator lab's listener (saker-sim listen) serves whether or not anyone reads its
 * "listening" line. It once wrote the line in two pieces and ignored SIGPIPE only afterwards:
 * the lab read "listening", closed the pipe, and the newline that followed ended the listener,
 * so the lab was refused (ECONNREFUSED) — 7 labs in 100 on a busy machine. Here its stdout is a
 * pipe whose reader is gone before it starts, every time.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { skipIf } from "../support/env.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import { which } from "../../src/simulate/command.ts";

/** Runs `helper listen` on loopback with its stdout a pipe nobody reads (a FIFO opened, then
 * its only reader closed, before the exec). */
function listenUnread(helper: string, fifo: string, port: number): Deno.ChildProcess {
  const script = `exec 3<>"$1" 4>"$1"; exec 3<&-; exec "$2" listen 127.0.0.1 "$3" 20 >&4 4>&-`;
  return new Deno.Command("bash", {
    args: ["-c", script, "listen-unread", fifo, helper, String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Connects to 127.0.0.1:port until it is accepted or `ms` pass; true when it was. */
async function reachable(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return false;
}

Deno.test({
  name: "simulate lab: the listener keeps serving when nobody reads its output",
  ignore: skipIf(!(await which("gcc")) && !(await which("cc")), "no C compiler (gcc or cc)"),
  async fn() {
    const helper = (await buildHelper()).host;
    const dir = await Deno.makeTempDir({ prefix: "saker-lab-test-" });
    const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (free.addr as Deno.NetAddr).port;
    free.close();
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/out`] }).output();
    assertEquals(mk.code, 0, "mkfifo");
    const child = listenUnread(helper, `${dir}/out`, port);
    let ended: Deno.CommandStatus | undefined;
    const status = child.status.then((s) => ended = s);
    try {
      assert(await reachable(port, 5_000), `not reachable; the listener ended: ${ended?.signal}`);
      // Twice, a moment apart: a listener on its way out may still take the first one.
      await new Promise((r) => setTimeout(r, 200));
      assert(await reachable(port, 1_000), `refused later; the listener ended: ${ended?.signal}`);
      assertEquals(ended, undefined, "the listener ended");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      await status;
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
