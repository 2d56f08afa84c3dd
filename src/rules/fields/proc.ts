/**
 * `proc.*` fields: the process that made the event, its ancestors, session and process group,
 * executable, command line, environment and resource figures. Values come from the state the
 * StateStore keeps (`ev.thread`, `ev.thread.proc`); ancestry walks the live process table.
 *
 * Ancestor fields (`proc.aname`, `proc.aexe`, `proc.aexepath`, `proc.acmdline`, `proc.apid`,
 * `proc.aargs`) take an optional level: with `[n]` they return the n-th ancestor's value
 * (0 = the process itself); without it they return the values of every ancestor (parent first)
 * as a list, so a comparison matches when any ancestor matches.
 *
 * @example
 * ```ts
 * const f = lookupField("proc.aname[2]")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // the grandparent's name
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef, FieldResult } from "./registry.ts";
import type { ProcessInfo } from "../../state/model.ts";
import { fdTypeName } from "../../state/model.ts";
import { ancestor, ancestors, cmdline, groupLeader } from "../../state/ancestry.ts";
import { UPDATED } from "./updates.ts";

function procOf(ev: Event): ProcessInfo | undefined {
  return ev.thread?.proc;
}

/** Defines an ancestor field from a per-process getter. */
function ancestorField(
  name: string,
  type: "charbuf" | "int64",
  desc: string,
  get: (p: ProcessInfo) => string | number,
): FieldDef {
  return {
    name,
    type,
    desc,
    arg: "optional",
    numericArg: true,
    list: true,
    extract: (ev, arg) => {
      const p = procOf(ev);
      if (!p) return undefined;
      if (arg !== undefined) {
        const a = ancestor(p, Number(arg));
        return a ? get(a) : undefined;
      }
      const all = ancestors(p);
      return all.length === 0 ? undefined : all.map(get);
    },
  };
}

/** Defines a field read from the process's parent. */
function parentField(
  name: string,
  type: "charbuf" | "int64" | "reltime",
  desc: string,
  get: (p: ProcessInfo, ev: Event) => FieldResult,
): FieldDef {
  return {
    name,
    type,
    desc,
    extract: (ev) => {
      const parent = procOf(ev)?.parent;
      return parent ? get(parent, ev) : undefined;
    },
  };
}

/** Defines a field read from the leader of the process's session or process group. */
function leaderField(
  name: string,
  desc: string,
  idOf: (p: ProcessInfo) => number,
  virtualId: boolean,
  get: (p: ProcessInfo) => string,
): FieldDef {
  return {
    name,
    type: "charbuf",
    desc,
    extract: (ev) => {
      const p = procOf(ev);
      if (!p) return undefined;
      const leader = groupLeader(p, idOf, virtualId);
      return leader ? get(leader) : "";
    },
  };
}

function envOf(p: ProcessInfo): string[] {
  return p.env ?? p.state.env(p);
}

function envValue(env: string[], key: string): string {
  const prefix = key + "=";
  for (const e of env) if (e.startsWith(prefix)) return e.slice(prefix.length);
  return "";
}

function p<T extends FieldResult>(get: (p: ProcessInfo, ev: Event) => T) {
  return (ev: Event): FieldResult => {
    const proc = procOf(ev);
    return proc ? get(proc, ev) : undefined;
  };
}

const name = (x: ProcessInfo) => x.comm;
const exe = (x: ProcessInfo) => x.exe;
const exepath = (x: ProcessInfo) => x.exepath;
const sid = (x: ProcessInfo) => x.sid;
const vpgid = (x: ProcessInfo) => x.vpgid;
const pgid = (x: ProcessInfo) => x.pgid;

function stdFd(num: number, what: "type" | "name"): (ev: Event) => FieldResult {
  return p((proc) => {
    const fd = proc.fds.get(num);
    if (!fd) return undefined;
    return what === "type" ? fdTypeName(fd.type) : fd.name;
  });
}

const FIELDS: FieldDef[] = [
  {
    name: "proc.pid",
    type: "int64",
    desc: "Process id (thread group id) of the process that made the event.",
    extract: p((x) => x.pid),
  },
  {
    name: "proc.ppid",
    type: "int64",
    desc: "Process id of the parent process.",
    extract: p((x) => (x.ppid > 0 ? x.ppid : undefined)),
  },
  ancestorField(
    "proc.apid",
    "int64",
    "Process id of an ancestor: proc.apid[1] is the parent, [2] the grandparent ...; " +
      "without a level, any ancestor.",
    (x) => x.pid,
  ),
  {
    name: "proc.vpid",
    type: "int64",
    desc: "Process id as seen inside the process's own pid namespace.",
    updated: UPDATED.pidns,
    extract: p((x) => (x.vpid >= 0 ? x.vpid : undefined)),
  },
  parentField(
    "proc.pvpid",
    "int64",
    "Parent's process id as seen inside its pid namespace.",
    (x) => (x.vpid >= 0 ? x.vpid : undefined),
  ),
  {
    name: "proc.name",
    type: "charbuf",
    desc: "Command name of the thread that made the event (the kernel's comm, at most 15 " +
      "characters).",
    updated: UPDATED.name,
    extract: (ev) => ev.thread?.comm || undefined,
  },
  parentField("proc.pname", "charbuf", "Command name of the parent process.", name),
  ancestorField(
    "proc.aname",
    "charbuf",
    "Command name of an ancestor: proc.aname[1] is the parent ...; without a level, any " +
      "ancestor.",
    name,
  ),
  {
    name: "proc.exe",
    type: "charbuf",
    desc: "First command-line argument (argv[0]) the process was started with.",
    updated: UPDATED.cmdline,
    extract: p((x) => (x.exe === "" && x.comm === "" ? undefined : x.exe)),
  },
  parentField("proc.pexe", "charbuf", "argv[0] of the parent process.", exe),
  ancestorField(
    "proc.aexe",
    "charbuf",
    "argv[0] of an ancestor (level as in proc.aname).",
    exe,
  ),
  {
    name: "proc.exepath",
    type: "charbuf",
    desc: "Full path of the program the process runs, as the kernel resolved it.",
    updated: UPDATED.exepath,
    extract: p(exepath),
  },
  parentField("proc.pexepath", "charbuf", "Full executable path of the parent process.", exepath),
  ancestorField(
    "proc.aexepath",
    "charbuf",
    "Full executable path of an ancestor (level as in proc.aname).",
    exepath,
  ),
  {
    name: "proc.args",
    type: "charbuf",
    desc: "Command-line arguments after argv[0], joined by spaces; proc.args[n] is the n-th " +
      "argument (0 = the first after argv[0]).",
    updated: UPDATED.cmdline,
    arg: "optional",
    numericArg: true,
    extract: (ev, arg) => {
      const x = procOf(ev);
      if (!x) return undefined;
      if (arg !== undefined) return x.args[Number(arg)] ?? "";
      return x.args.join(" ");
    },
  },
  ancestorField(
    "proc.aargs",
    "charbuf",
    "Arguments (after argv[0]) of an ancestor (level as in proc.aname).",
    (x) => x.args.join(" "),
  ),
  {
    name: "proc.cmdline",
    type: "charbuf",
    desc: "Command name followed by the arguments: what a user would recognise as the command.",
    updated: UPDATED.cmdline,
    // The thread's own name, as proc.name (libsinsp): a worker thread named apart shows it.
    extract: (ev) => {
      const th = ev.thread;
      if (!th) return undefined;
      const args = th.proc.args;
      if (th.comm === "" && args.length === 0) return undefined;
      return args.length === 0 ? th.comm : th.comm + " " + args.join(" ");
    },
  },
  parentField("proc.pcmdline", "charbuf", "Command line (proc.cmdline) of the parent.", cmdline),
  ancestorField(
    "proc.acmdline",
    "charbuf",
    "Command line of an ancestor (level as in proc.aname).",
    cmdline,
  ),
  {
    name: "proc.exeline",
    type: "charbuf",
    desc: "argv[0] followed by the arguments.",
    extract: p((x) => (x.args.length === 0 ? x.exe + " " : x.exe + " " + x.args.join(" "))),
  },
  {
    name: "proc.cmdnargs",
    type: "uint64",
    desc: "Number of arguments after argv[0].",
    extract: p((x) => x.args.length),
  },
  {
    name: "proc.cmdlenargs",
    type: "uint64",
    desc: "Total characters of the arguments after argv[0] (separators not counted).",
    extract: p((x) => x.args.reduce((n, a) => n + a.length, 0)),
  },
  {
    name: "proc.env",
    type: "charbuf",
    desc: "Environment of the process as `NAME=value` pairs joined by spaces; proc.env[NAME] " +
      "is the value of one variable.",
    arg: "optional",
    extract: (ev, arg) => {
      const x = procOf(ev);
      if (!x) return undefined;
      const env = envOf(x);
      if (arg !== undefined && !/^\d+$/.test(arg)) return envValue(env, arg);
      return env.join(" ");
    },
  },
  {
    name: "proc.aenv",
    type: "charbuf",
    desc: "Environment of an ancestor: proc.aenv[NAME] is the first value of NAME found going " +
      "up from the parent; proc.aenv[n] the whole environment of the n-th ancestor.",
    arg: "optional",
    extract: (ev, arg) => {
      const x = procOf(ev);
      if (!x) return undefined;
      if (arg === undefined || arg === "0") return envOf(x).join(" ");
      if (/^\d+$/.test(arg)) {
        const a = ancestor(x, Number(arg));
        return a ? envOf(a).join(" ") : undefined;
      }
      for (const a of ancestors(x)) {
        const v = envValue(envOf(a), arg);
        if (v !== "") return v;
      }
      return "";
    },
  },
  {
    name: "proc.cwd",
    type: "charbuf",
    desc: "Current working directory of the process, ending with a slash.",
    updated: UPDATED.cwd,
    extract: p((x) => (x.cwd === "" ? "" : x.cwd.endsWith("/") ? x.cwd : x.cwd + "/")),
  },
  {
    name: "proc.loginshellid",
    type: "int64",
    desc: "Process id of the oldest shell (a command name ending in `sh`) among the process " +
      "and its ancestors.",
    extract: p((x) => {
      let found: number | undefined;
      const isShell = (c: string) => c.length >= 2 && c.endsWith("sh");
      if (isShell(x.comm)) found = x.pid;
      for (const a of ancestors(x)) if (isShell(a.comm)) found = a.pid;
      return found;
    }),
  },
  {
    name: "proc.tty",
    type: "uint32",
    desc: "Controlling terminal of the process (device number); 0 when it has none.",
    updated: UPDATED.tty,
    extract: p((x) => x.tty),
  },
  {
    name: "proc.sid",
    type: "int64",
    desc: "Session id of the process.",
    updated: UPDATED.sid,
    extract: p(sid),
  },
  leaderField(
    "proc.sname",
    "Command name of the session leader (the process whose pid is the session id, or the " +
      "oldest ancestor in the same session inside a pid namespace).",
    sid,
    true,
    name,
  ),
  leaderField("proc.sid.exe", "argv[0] of the session leader.", sid, true, exe),
  leaderField("proc.sid.exepath", "Executable path of the session leader.", sid, true, exepath),
  {
    name: "proc.vpgid",
    type: "int64",
    desc: "Process group id as seen inside the process's pid namespace.",
    updated: UPDATED.pgid,
    extract: p(vpgid),
  },
  leaderField(
    "proc.vpgid.name",
    "Command name of the process group leader.",
    vpgid,
    true,
    name,
  ),
  leaderField("proc.vpgid.exe", "argv[0] of the process group leader.", vpgid, true, exe),
  leaderField(
    "proc.vpgid.exepath",
    "Executable path of the process group leader.",
    vpgid,
    true,
    exepath,
  ),
  {
    name: "proc.pgid",
    type: "int64",
    desc: "Process group id in the host pid namespace.",
    updated: UPDATED.pgid,
    extract: p(pgid),
  },
  leaderField(
    "proc.pgid.name",
    "Command name of the process group leader (host ids).",
    pgid,
    false,
    name,
  ),
  leaderField("proc.pgid.exe", "argv[0] of the process group leader (host ids).", pgid, false, exe),
  leaderField(
    "proc.pgid.exepath",
    "Executable path of the process group leader (host ids).",
    pgid,
    false,
    exepath,
  ),
  {
    name: "proc.is_sid_leader",
    type: "bool",
    desc: "True when the process leads its session.",
    updated: UPDATED.sid,
    extract: p((x) => x.sid === (x.vpid >= 0 ? x.vpid : x.pid)),
  },
  {
    name: "proc.is_vpgid_leader",
    type: "bool",
    desc: "True when the process leads its process group (namespace ids).",
    updated: UPDATED.pgid,
    extract: p((x) => x.vpgid === (x.vpid >= 0 ? x.vpid : x.pid)),
  },
  {
    name: "proc.is_pgid_leader",
    type: "bool",
    desc: "True when the process leads its process group (host ids).",
    updated: UPDATED.pgid,
    extract: p((x) => x.pgid === x.pid),
  },
  {
    name: "proc.duration",
    type: "reltime",
    desc: "Nanoseconds since the process started.",
    extract: p((x, ev) => (x.startTs !== 0n ? ev.ts - x.startTs : undefined)),
  },
  parentField(
    "proc.ppid.duration",
    "reltime",
    "Nanoseconds since the parent process started.",
    (x, ev) => (x.startTs !== 0n ? ev.ts - x.startTs : undefined),
  ),
  {
    name: "proc.pid.ts",
    type: "reltime",
    desc: "Start time of the process, ns since the epoch.",
    extract: p((x) => (x.startTs !== 0n ? x.startTs : undefined)),
  },
  parentField(
    "proc.ppid.ts",
    "reltime",
    "Start time of the parent process, ns since the epoch.",
    (x) => (x.startTs !== 0n ? x.startTs : undefined),
  ),
  {
    name: "proc.is_exe_writable",
    type: "bool",
    desc: "True when the program file is writable by the user that runs it.",
    extract: p((x) => x.exeWritable),
  },
  {
    name: "proc.is_exe_upper_layer",
    type: "bool",
    desc: "True when the program file lives in the writable upper layer of an overlay file " +
      "system (typically: created or changed inside a container).",
    extract: p((x) => x.exeUpperLayer),
  },
  {
    name: "proc.is_exe_lower_layer",
    type: "bool",
    desc: "True when the program file comes from a read-only lower layer of an overlay.",
    extract: p((x) => x.exeLowerLayer),
  },
  {
    name: "proc.is_exe_from_memfd",
    type: "bool",
    desc: "True when the program was executed from an anonymous memory file (memfd_create), " +
      "a way to run code that never touches the disk.",
    extract: p((x) => x.exeFromMemfd),
  },
  {
    name: "proc.exe_ino",
    type: "int64",
    desc: "Inode number of the program file.",
    extract: p((x) => (x.exeIno !== 0 ? x.exeIno : undefined)),
  },
  {
    name: "proc.exe_ino.ctime",
    type: "abstime",
    desc: "Last status change time of the program file, ns since the epoch.",
    extract: p((x) => (x.exeInoCtime !== 0n ? x.exeInoCtime : undefined)),
  },
  {
    name: "proc.exe_ino.mtime",
    type: "abstime",
    desc: "Last modification time of the program file, ns since the epoch.",
    extract: p((x) => (x.exeInoMtime !== 0n ? x.exeInoMtime : undefined)),
  },
  {
    name: "proc.exe_ino.ctime_duration_proc_start",
    type: "abstime",
    desc: "Nanoseconds between the program file's last status change and the start of the " +
      "process running it (small values: a freshly written or modified program).",
    extract: p((x) =>
      x.exeInoCtime !== 0n && x.startTs !== 0n ? x.startTs - x.exeInoCtime : undefined
    ),
  },
  {
    name: "proc.exe_ino.ctime_duration_pidns_start",
    type: "abstime",
    desc: "Nanoseconds between the start of the process's pid namespace and the program " +
      "file's last status change.",
    extract: p((x) =>
      x.pidnsInitStartTs !== 0n && x.exeInoCtime > x.pidnsInitStartTs
        ? x.exeInoCtime - x.pidnsInitStartTs
        : undefined
    ),
  },
  {
    name: "proc.pidns_init_start_ts",
    type: "uint64",
    desc: "Start time of the process's pid namespace (its init process), ns since the epoch.",
    updated: UPDATED.pidns,
    extract: p((x) => (x.pidnsInitStartTs !== 0n ? x.pidnsInitStartTs : undefined)),
  },
  {
    name: "proc.fdopencount",
    type: "uint64",
    desc: "Number of file descriptors the process has open (as far as the state knows).",
    extract: p((x) => x.fds.size),
  },
  {
    name: "proc.fdlimit",
    type: "int64",
    desc: "Most file descriptors the process may open.",
    extract: p((x) => (x.fdlimit > 0 ? x.fdlimit : undefined)),
  },
  {
    name: "proc.fdusage",
    type: "double",
    desc: "Open file descriptors as a percentage of the limit.",
    extract: p((x) => (x.fdlimit > 0 ? (x.fds.size * 100) / x.fdlimit : undefined)),
  },
  {
    name: "proc.vmsize",
    type: "uint64",
    desc: "Virtual memory of the process in KiB, as last reported.",
    extract: p((x) => x.vmSize),
  },
  {
    name: "proc.vmrss",
    type: "uint64",
    desc: "Resident memory of the process in KiB, as last reported.",
    extract: p((x) => x.vmRss),
  },
  {
    name: "proc.vmswap",
    type: "uint64",
    desc: "Swapped-out memory of the process in KiB, as last reported.",
    extract: p((x) => x.vmSwap),
  },
  {
    name: "proc.nthreads",
    type: "uint64",
    desc: "Threads the process has, its main thread included.",
    extract: p((x) => x.threads),
  },
  {
    name: "proc.nchilds",
    type: "uint64",
    desc: "Threads of the process other than the main one.",
    extract: p((x) => Math.max(0, x.threads - 1)),
  },
  {
    name: "proc.stdin.type",
    type: "charbuf",
    desc: "Kind of file descriptor 0 (file, pipe, ipv4, unix ...).",
    extract: stdFd(0, "type"),
  },
  {
    name: "proc.stdout.type",
    type: "charbuf",
    desc: "Kind of file descriptor 1.",
    extract: stdFd(1, "type"),
  },
  {
    name: "proc.stderr.type",
    type: "charbuf",
    desc: "Kind of file descriptor 2.",
    extract: stdFd(2, "type"),
  },
  {
    name: "proc.stdin.name",
    type: "charbuf",
    desc: "Name of file descriptor 0 (a path, or a connection for sockets).",
    extract: stdFd(0, "name"),
  },
  {
    name: "proc.stdout.name",
    type: "charbuf",
    desc: "Name of file descriptor 1.",
    extract: stdFd(1, "name"),
  },
  {
    name: "proc.stderr.name",
    type: "charbuf",
    desc: "Name of file descriptor 2.",
    extract: stdFd(2, "name"),
  },
];

/** The proc.* fields. */
export const PROC_FIELDS: FieldClassSpec = {
  name: "proc",
  desc: "The process (and its ancestors) that made the event.",
  fields: FIELDS,
};
