/**
 * `saker capture [-M SECONDS] [-n COUNT] [--json] [--all] [FILTER]`: prints every decoded live
 * event, one per line, as sysdig does (number, time, cpu, process name and ids, direction,
 * type, arguments) — for debugging the probe and for tests. Logs go to stderr, events to stdout.
 *
 * FILTER is a condition in the rules language (`evt.type=openat and proc.name=cat`) with the
 * fields of rules and `saker replay` (src/rules/filter.ts): each event goes through state
 * tracking seeded from /proc before the filter sees it. Its event types also narrow what the
 * kernel captures.
 * @module
 */
import { openLiveSource } from "../sources/live.ts";
import { ProbeLoadError } from "../kernel/probe.ts";
import { eventToJson, formatEventLine } from "../events/print.ts";
import { HANDLED_SYSCALLS } from "../events/syscalls.ts";
import { log, setLogLevel } from "../log.ts";
import { compileFilter, compileWithPluginFields, type EventFilter } from "../rules/filter.ts";
import { openCaptureWriter, type ScapWriter } from "../capture/writer.ts";
import { liveState } from "./run.ts";
import type { Event } from "../events/event.ts";
import { changesState } from "../state/handlers.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker capture [options] [FILTER]

Prints every live event, one per line.

options:
  -M, --duration SECONDS   stop after this many seconds
  -n, --count N            stop after N events
      --json               one JSON object per event
      --all                capture every syscall (others than the ones Saker decodes come as
                           generic "syscall" events)
      --ring-bytes N       ring buffer size (default 16 MiB)
  -w, --write FILE         write a .scap capture file instead of printing
      --log-level LEVEL    error, warning, info, debug (default info)
  -h, --help               this text

FILTER is a condition in the rules language (evt.type=openat and proc.name=cat): only the
events it matches are printed or written. Its event types narrow what the kernel captures;
process, fd and user fields come from state seeded from /proc, as in saker run.`;

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let opts;
  try {
    opts = nodeParseArgs({
      args,
      allowPositionals: true,
      options: {
        duration: { type: "string", short: "M" },
        count: { type: "string", short: "n" },
        json: { type: "boolean" },
        all: { type: "boolean" },
        "ring-bytes": { type: "string" },
        write: { type: "string", short: "w" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`saker capture: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = opts.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (v["log-level"]) setLogLevel(v["log-level"] as "info");
  const duration = v.duration !== undefined ? Number(v.duration) : undefined;
  const count = v.count !== undefined ? Number(v.count) : undefined;
  if (duration !== undefined && !(duration > 0)) {
    console.error("saker capture: -M needs a positive number of seconds");
    return 2;
  }
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) {
    console.error("saker capture: -n needs a positive whole number");
    return 2;
  }

  let filter: EventFilter | undefined;
  const filterText = opts.positionals.join(" ").trim();
  if (filterText) {
    try {
      filter = await compileWithPluginFields(
        () => compileFilter(filterText),
        () => import("../rules/fields/mod.ts"),
      );
    } catch (err) {
      console.error(`saker capture: invalid filter: ${(err as Error).message}`);
      return 2;
    }
  }
  const names: ReadonlySet<string> | "all" = v.all
    ? "all"
    : filter && filter.eventNames !== "all"
    ? filter.eventNames
    : new Set(HANDLED_SYSCALLS);

  let source;
  try {
    source = await openLiveSource({
      syscalls: names,
      ringBytes: v["ring-bytes"] ? Number(v["ring-bytes"]) : undefined,
    });
  } catch (err) {
    if (err instanceof ProbeLoadError) {
      console.error(`saker capture: ${err.message}`);
      return 1;
    }
    throw err;
  }

  // A filter sees each event after its state update, as rules do (proc.*, fd.*, user.* ...).
  let state: Awaited<ReturnType<typeof liveState>> | undefined;
  let writer: ScapWriter | undefined;
  try {
    if (filter) state = await liveState();
    if (v.write) writer = await openCaptureWriter(v.write, { state: state?.state });
  } catch (err) {
    await source.close();
    await state?.close?.();
    console.error(`saker capture: ${(err as Error).message}`);
    return 1;
  }
  const stateOnly = new Set<Event>();
  const isStateOnly = (ev: Event) => stateOnly.has(ev);
  let seen = 0;
  let stopping = false;
  const stop = () => {
    if (!stopping) {
      stopping = true;
      source.close();
    }
  };
  const timer = duration !== undefined ? setTimeout(stop, duration * 1000) : undefined;
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);

  const enc = new TextEncoder();
  try {
    for await (const batch of source.readable) {
      let kept = batch;
      // A filtered capture file also carries the events it filtered out that change the state,
      // marked "state only", so that readers know the processes and fds of the kept events.
      let written = batch;
      if (filter) {
        kept = [];
        written = [];
        for (const ev of batch) {
          state!.state.update(ev);
          if (filter.matches(ev)) {
            if (count === undefined || seen + kept.length < count) {
              kept.push(ev);
              written.push(ev);
            }
          } else if (writer && changesState(ev)) {
            written.push(ev);
            stateOnly.add(ev);
          }
        }
      }
      const take = count !== undefined ? kept.slice(0, count - seen) : kept;
      seen += take.length;
      if (writer) {
        await writer.writeBatch(filter ? written : take, isStateOnly);
        stateOnly.clear();
      } else if (take.length > 0) {
        const text = take.map((e) => v.json ? JSON.stringify(eventToJson(e)) : formatEventLine(e))
          .join("\n") + "\n";
        await Deno.stdout.write(enc.encode(text));
      }
      if (count !== undefined && seen >= count) stop();
    }
  } finally {
    if (timer) clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await writer?.close();
    await state?.close?.();
    const s = source.stats();
    log.info("capture done", {
      events: seen,
      received: s.received,
      kernel_drops: s.drops,
      truncated: s.truncated,
    });
  }
  return 0;
}
