/**
 * Kernel drops counted by kind: with a 64 KiB ring nobody drains, a burst of opens, closes,
 * renames and process starts overflows it, and the probe counts each lost record under its
 * event's kind (Falco's n_drops_buffer categories). Needs root; skips visibly otherwise.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { python } from "../support/live.ts";
import { Probe } from "../../src/kernel/probe.ts";
import { syscallFilterFor } from "../../src/events/syscalls.ts";
import { DROP_KINDS } from "../../src/events/drop_kinds.ts";

Deno.test({
  name: "kernel drops: a full ring counts lost records by the kind of their event",
  ignore: needsRoot(),
  async fn() {
    const probe = await Probe.load({ ringBytes: 1 << 16 });
    try {
      // Only these calls: the state set (dup, fcntl, socket ...) has no kind, and other processes
      // on a busy machine would fill the ring with it.
      probe.setSyscalls(syscallFilterFor(["openat", "close", "rename", "execve", "clone"], false));
      const dir = await Deno.makeTempDir({ prefix: "saker-drops-" });
      try {
        const script = [
          "import os, subprocess",
          `a, b = ${JSON.stringify(`${dir}/a`)}, ${JSON.stringify(`${dir}/b`)}`,
          "open(a, 'w').close()",
          "for i in range(3000):",
          "  fd = os.open('/etc/hostname', os.O_RDONLY); os.close(fd)",
          "for i in range(300):",
          "  os.rename(a, b); os.rename(b, a)",
          "for i in range(30): subprocess.run(['true'])",
        ].join("\n");
        const out = await new Deno.Command(python(script)[0], { args: python(script).slice(1) })
          .output();
        assert(out.success, new TextDecoder().decode(out.stderr));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      const c = probe.counters();
      const byKind = c.dropsByKind;
      assert(c.drops > 1000, `the ring overflowed: ${c.drops} drops`);
      assert(byKind.open > 0 && byKind.close > 0, JSON.stringify(byKind));
      assert(byKind.dir_file > 0, `renames are dir_file drops: ${JSON.stringify(byKind)}`);
      assert(byKind.execve > 0 && byKind.clone_fork + byKind.proc > 0, JSON.stringify(byKind));
      assertEquals(byKind.connect, 0, "no connect was made");
      const sum = DROP_KINDS.reduce((s, k) => s + byKind[k], 0);
      assertEquals(sum, c.drops, "every record of these calls (and process exits) has a kind");
    } finally {
      probe.close();
    }
  },
});
