/**
 * `thread.*` fields: the thread that made the event — ids, capabilities, cgroups and memory.
 * Capability sets render as Falco prints them: names of the set capabilities separated by
 * spaces (`CAP_CHOWN CAP_DAC_OVERRIDE ...`).
 *
 * @example
 * ```ts
 * const f = lookupField("thread.cap_effective")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // "CAP_CHOWN CAP_KILL ..."
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef, FieldResult } from "./registry.ts";
import type { ThreadInfo } from "../../state/model.ts";
import { capsToString } from "../../state/caps.ts";
import { UPDATED } from "./updates.ts";

function t<T extends FieldResult>(get: (t: ThreadInfo, ev: Event) => T) {
  return (ev: Event): FieldResult => {
    const th = ev.thread;
    return th ? get(th, ev) : undefined;
  };
}

/** The path of the cgroup of `controller` (`cpu`, `memory` ...; on cgroup v2 every controller
 * shares the unified path). */
function cgroupPath(cgroups: string[], controller: string): string | undefined {
  let unified: string | undefined;
  for (const cg of cgroups) {
    const eq = cg.indexOf("=");
    if (eq < 0) continue;
    const names = cg.slice(0, eq);
    if (names === "" || names === "unified") unified ??= cg.slice(eq + 1);
    else if (names.split(",").includes(controller)) return cg.slice(eq + 1);
  }
  return unified;
}

const FIELDS: FieldDef[] = [
  {
    name: "thread.tid",
    type: "int64",
    desc: "Id of the thread that made the event.",
    extract: (ev) => ev.tid,
  },
  {
    name: "thread.ismain",
    type: "bool",
    desc: "True when the thread is the main thread of its process (tid equals pid).",
    extract: t((th) => th.isMain),
  },
  {
    name: "thread.vtid",
    type: "int64",
    desc: "Thread id as seen inside the thread's pid namespace.",
    updated: UPDATED.pidns,
    extract: t((th) => (th.vtid >= 0 ? th.vtid : undefined)),
  },
  {
    name: "thread.nametid",
    type: "charbuf",
    desc: "Command name followed by the thread id: one identifier per thread and program.",
    extract: (ev) => (ev.thread ? ev.thread.comm + ev.tid : undefined),
  },
  {
    name: "thread.cap_permitted",
    type: "charbuf",
    desc: "Capabilities the thread is permitted to use, by name.",
    updated: UPDATED.caps,
    extract: t((th) => capsToString(th.capPermitted)),
  },
  {
    name: "thread.cap_inheritable",
    type: "charbuf",
    desc: "Capabilities the thread passes on across execve, by name.",
    updated: UPDATED.caps,
    extract: t((th) => capsToString(th.capInheritable)),
  },
  {
    name: "thread.cap_effective",
    type: "charbuf",
    desc: "Capabilities in effect for the thread's permission checks, by name.",
    updated: UPDATED.caps,
    extract: t((th) => capsToString(th.capEffective)),
  },
  {
    name: "thread.cgroups",
    type: "charbuf",
    desc: "Every cgroup the thread belongs to, as `controller=path` joined by spaces.",
    updated: UPDATED.cgroups,
    extract: t((th) => (th.proc.cgroups.length > 0 ? th.proc.cgroups.join(" ") : undefined)),
  },
  {
    name: "thread.cgroup",
    type: "charbuf",
    desc: "The cgroup path for one controller: thread.cgroup.cpu, thread.cgroup.memory ...",
    updated: UPDATED.cgroups,
    arg: "required",
    dottedArg: true,
    extract: (ev, arg) => {
      const th = ev.thread;
      return th && arg !== undefined ? cgroupPath(th.proc.cgroups, arg) : undefined;
    },
  },
  {
    name: "thread.vmsize",
    type: "uint64",
    desc: "For the main thread, the process's virtual memory in KiB; 0 for other threads.",
    extract: t((th) => (th.isMain ? th.proc.vmSize : 0)),
  },
  {
    name: "thread.vmrss",
    type: "uint64",
    desc: "For the main thread, the process's resident memory in KiB; 0 for other threads.",
    extract: t((th) => (th.isMain ? th.proc.vmRss : 0)),
  },
];

/** The thread.* fields. */
export const THREAD_FIELDS: FieldClassSpec = {
  name: "thread",
  desc: "The thread that made the event.",
  fields: FIELDS,
};
