/**
 * The live source leaves nothing behind, as the kernel sees it: after close(), and after a reader
 * stops reading (a `break` out of `for await`, which cancels the stream) and then closes, every
 * BPF program, link and map the probe opened in this process is closed (/proc/self/fd), so the
 * programs are detached from their tracepoints. Needs root; skips visibly otherwise.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { bpfFds } from "../support/live.ts";
import { openLiveSource } from "../../src/sources/live.ts";

const ignore = needsRoot();

for (const how of ["close()", "break out of the reading loop, then close()"]) {
  Deno.test({
    name: `live source: ${how} detaches the probe and closes its BPF objects`,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const before = bpfFds();
      const src = await openLiveSource({ syscalls: new Set(["openat"]), withState: false });
      const open = bpfFds();
      assert(open.some((f) => f.endsWith("bpf-prog")), "programs loaded");
      assert(open.some((f) => f.endsWith("bpf_link")), "programs attached");
      if (how === "close()") {
        await src.close();
      } else {
        const reader = (async () => {
          for await (const _batch of src.readable) break;
        })();
        // Some openat to read (from a child: the probe leaves this process's own calls out).
        const end = Date.now() + 10_000;
        let done = false;
        reader.then(() => done = true);
        while (!done && Date.now() < end) {
          await new Deno.Command("cat", { args: ["/etc/hostname"], stdout: "null" }).output();
          await new Promise((r) => setTimeout(r, 20));
        }
        assert(done, "no batch within 10 s");
        await reader;
        await src.close();
      }
      assertEquals(bpfFds(), before, "BPF objects of the probe still open");
    },
  });
}
