/**
 * Replay decodes only the events a filter can see and those state tracking needs: on Falco's
 * sample captures, the events printed (number, process, fd, arguments) are the same as when
 * every event is decoded, for filters on I/O, opens and connections.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { replayCapture } from "../../src/pipeline/replay.ts";
import { compileFilter } from "../../src/rules/filter.ts";
import { EventPrinter } from "../../src/cli/event_printer.ts";
import "../../src/rules/fields/mod.ts";

const FILTERS = [
  'evt.type in (write, read, ioctl, futex, nanosleep) and (proc.name contains "sys" or ' +
  'fd.name contains "/dev" or thread.tid > 3000)',
  "evt.type in (open, openat) and fd.name contains /etc",
  "evt.type in (connect, sendto, recvfrom) and fd.num >= 0",
  "evt.type = execve and proc.pname exists",
];

async function printed(file: string, filter: string, skip: boolean) {
  const f = compileFilter(filter);
  const p = new EventPrinter("%evt.num %proc.name %thread.tid %fd.name %evt.args", "syscall");
  const lines: string[] = [];
  const r = await replayCapture(file, {
    filter: f.matches,
    onEvent: (ev) => {
      const l = p.line(ev);
      if (l !== undefined) lines.push(l);
    },
    eventNames: skip ? f.eventNames : "all",
  });
  return { lines, events: r.events, skipped: r.source.stats().skipped };
}

Deno.test({
  name: "replay: skipping events no filter or state needs prints the same events",
  ignore: needsReference(),
  fn: async () => {
    const dir = `${REFERENCE_DIR}/libs-captures`;
    let skipped = 0, matched = 0;
    for (const e of Deno.readDirSync(dir)) {
      if (!e.name.endsWith(".scap")) continue;
      for (const filter of FILTERS) {
        const all = await printed(`${dir}/${e.name}`, filter, false);
        const some = await printed(`${dir}/${e.name}`, filter, true);
        assertEquals(some.lines, all.lines, `${e.name}: ${filter}`);
        assertEquals(some.events, all.events, "every event is counted");
        assertEquals(all.skipped, 0);
        skipped += some.skipped;
        matched += some.lines.length;
      }
    }
    assert(skipped > 1000 && matched > 10, `skipped ${skipped}, matched ${matched}`);
  },
});
