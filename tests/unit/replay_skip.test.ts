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

/** Replays `file` through `filter` and prints each match with `format`. */
async function printed(
  file: string,
  filter: string,
  opts: {
    skip: boolean;
    format?: string;
    userTables?: boolean;
    transient?: boolean;
    batchSize?: number;
  },
) {
  const f = compileFilter(filter);
  const p = new EventPrinter(
    opts.format ?? "%evt.num %proc.name %thread.tid %fd.name %evt.args",
    "syscall",
  );
  const lines: string[] = [];
  const objects = new Set<object>();
  const r = await replayCapture(file, {
    filter: (ev) => {
      objects.add(ev);
      return f.matches(ev);
    },
    onEvent: (ev) => {
      const l = p.line(ev);
      if (l !== undefined) lines.push(l);
    },
    eventNames: opts.skip ? f.eventNames : "all",
    userTables: opts.userTables,
    transientEvents: opts.transient,
    batchSize: opts.batchSize,
  });
  return { lines, events: r.events, skipped: r.source.stats().skipped, objects: objects.size };
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
        const all = await printed(`${dir}/${e.name}`, filter, { skip: false });
        const some = await printed(`${dir}/${e.name}`, filter, { skip: true });
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

Deno.test({
  name:
    "replay: a capture's user and group events are skipped when nothing reads the user tables, with the same events printed",
  ignore: needsReference(),
  fn: async () => {
    const { readsUserTables } = await import("../../src/rules/fields/user.ts");
    assert(readsUserTables(["evt.num", "tolower(user.name)"]));
    assert(readsUserTables(["group.name"]));
    assert(!readsUserTables(["user.uid", "group.gid", "proc.name", "fd.name"]));
    const file = `${REFERENCE_DIR}/libs-captures/sample.scap`;
    const f = compileFilter(FILTERS[0]);
    assert(!readsUserTables(f.fields));
    const run = (userTables: boolean, format: string) =>
      printed(file, FILTERS[0], { skip: true, format, userTables });
    const format = "%evt.num %proc.name %thread.tid %fd.name %user.uid %evt.args";
    const kept = await run(true, format);
    const dropped = await run(false, format);
    assertEquals(dropped.lines, kept.lines);
    assertEquals(dropped.events, kept.events);
    // sample.scap carries 95 user and group events (each once).
    assertEquals(dropped.skipped - kept.skipped, 95);
  },
});

Deno.test({
  name:
    "replay: transient events (views of the read buffer, objects used again) print the same events as copied ones",
  ignore: needsReference(),
  fn: async () => {
    const dirs = [
      `${REFERENCE_DIR}/libs-captures`,
      `${REFERENCE_DIR}/falco-legacy-tests/trace_files`,
    ];
    const format =
      "*%evt.num %evt.type %proc.name %proc.pname %thread.tid %fd.name %evt.res %evt.args";
    let reused = 0, compared = 0;
    for (const dir of dirs) {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.name.endsWith(".scap")) continue;
        for (const filter of [...FILTERS, "evt.num > 0"]) {
          const file = `${dir}/${e.name}`;
          const copied = await printed(file, filter, { skip: true, format, batchSize: 16 });
          const transient = await printed(file, filter, {
            skip: true,
            format,
            transient: true,
            batchSize: 16,
          });
          assertEquals(transient.lines, copied.lines, `${e.name}: ${filter}`);
          assertEquals(transient.events, copied.events);
          compared += copied.lines.length;
          reused += copied.objects - transient.objects;
        }
      }
    }
    assert(compared > 10_000 && reused > 10_000, `compared ${compared}, reused ${reused}`);
  },
});

Deno.test({
  name: "replay: a printer's line is renderOutput's text, missing values and all",
  ignore: needsReference(),
  fn: async () => {
    const { compileOutput, renderOutput, renderText } = await import(
      "../../src/rules/output_format.ts"
    );
    const formats = [
      "%evt.num %proc.name %thread.tid %fd.name %evt.args",
      "%fd.types %proc.aname %12fd.name %3evt.type %fd.typechar",
      "%fd.ip %fd.cport %fd.l4proto %user.name %proc.env[HOME]",
      "%evt.arg.fd %evt.rawres %proc.cmdline %container.id",
    ].map((f) => compileOutput(f, "syscall"));
    const dir = `${REFERENCE_DIR}/libs-captures`;
    let lines = 0, missing = 0;
    for (const e of Deno.readDirSync(dir)) {
      if (!e.name.endsWith(".scap")) continue;
      await replayCapture(`${dir}/${e.name}`, {
        filter: () => true,
        onEvent: (ev) => {
          for (const fmt of formats) {
            const { output, fields } = renderOutput(fmt, ev);
            const complete = Object.values(fields).includes(null) ? undefined : output;
            assertEquals(renderText(fmt, ev, false), output);
            assertEquals(renderText(fmt, ev, true), complete);
            lines++;
            if (complete === undefined) missing++;
          }
        },
      });
    }
    assert(lines > 10_000 && missing > 1000 && lines - missing > 1000, `${lines}, ${missing}`);
  },
});
