/**
 * Synthetic events written as field values: `{evt.type: openat, fd.name: /etc/shadow,
 * proc.name: cat, proc.aname[2]: sshd}` becomes a real event (the live record layout, encoded
 * and decoded as the probe's) applied to a real state store, so that rules see exactly what
 * they would see live, and a sequence (clone, execve, open) builds its state through the same
 * handlers as live events.
 *
 * How fields become an event (the defaults are listed in {@link SYNTH_DEFAULTS}):
 * - `evt.type` names the event; `evt.arg.NAME` (or `evt.rawarg.NAME`) sets a parameter, with
 *   flags by name (`O_WRONLY|O_CREAT`), errnos by name, addresses as `ip:port` and tuples as
 *   `cip:cport->sip:sport`; `evt.res` sets the result (`EACCES`, `SUCCESS`, a number).
 * - The process is `proc.pid` (default: the previous event's process; the first is pid 100).
 *   A process not yet known is created from the `proc.*`, `user.*`, `group.*`, `thread.cap_*`
 *   and `container.*` fields of the event, with its ancestors from `proc.pname`, `proc.pexe`,
 *   `proc.aname[N]` ... (the topmost one a child of pid 1, `systemd`). For an execve the process
 *   is created as a fork of its parent and the execve itself carries the new image's fields
 *   (`proc.name`, `proc.exepath`, `proc.args` ...), through the state handlers.
 * - `fd.*` fields fill the parameters of events that create the descriptor (open's path and
 *   result, socket's domain, connect's and accept's tuple) and, for events that use a
 *   descriptor no earlier event opened, seed it into the process's table (as if it had been
 *   open when the agent started).
 * - Every field given is read back from the built event with the field's own `=`: a value
 *   that could not be produced (a field set on a process an earlier event created, a field
 *   derived from others) is an error naming the field, its value and what the event shows.
 *
 * @example
 * ```ts
 * import { SyntheticWorld } from "./synth.ts";
 * const world = new SyntheticWorld();
 * const ev = world.event([
 *   { key: "evt.type", value: "openat" },
 *   { key: "fd.name", value: "/etc/shadow" },
 *   { key: "proc.name", value: "cat" },
 * ]);
 * ev.fdInfo?.name; // "/etc/shadow"
 * ```
 * @module
 */
import { buildEvent } from "../events/encode.ts";
import type { Event } from "../events/event.ts";
import { currentExitId, EF, type EventInfo, EVENTS, type ParamInfo, PT } from "../events/table.ts";
import { flagValue, isEnumTable } from "../events/flags.ts";
import { ERRNO_NAMES, SIGNAL_NAMES } from "../events/errno_data.ts";
import { StateStore } from "../state/store.ts";
import { FD_PARAM } from "../state/handlers.ts";
import { type ContainerInfo, type ContainerMount, FD_TYPE, L4, ROLE } from "../state/model.ts";
import { CAP_NAMES } from "../state/caps.ts";
import { parseIp } from "../rules/ops.ts";
import { lookupField } from "../rules/fields/mod.ts";
import { Checker, type CheckNode } from "../rules/check.ts";
import { testValue } from "../rules/interp.ts";
import { evalOperand } from "../rules/operand.ts";
import { valueText } from "../rules/explain.ts";
import { TestFileError, type Where } from "./problem.ts";

/** A field value as a test file gives it. */
export type SynthValue = string | number | boolean | null | SynthValue[];

/** One field of a synthetic event. */
export interface FieldEntry {
  key: string;
  value: SynthValue;
  /** The scalar as written (YAML `0644` stays octal for modes). */
  raw?: string;
  at?: Where;
}

/** Defaults of fields a test does not give (documented in the README). */
export const SYNTH_DEFAULTS = {
  /** Time of the first event (UTC); each later event comes 1 ms after the previous one. */
  time: "2025-01-01T00:00:00Z",
  /** First process of a test; later new processes count up from here. */
  pid: 100,
  name: "saker-test",
  /** exepath default: `/usr/bin/` + proc.name. */
  exeDir: "/usr/bin/",
  cwd: "/root/",
  uid: 0,
  /** A process starts this long before the event that creates it (proc.duration). */
  ageNs: 60_000_000_000n,
  /** Root has every capability; other users none; containers the runtime's default set. */
  containerCaps: [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
  ],
  /** Pid of a container process inside the container (proc.vpid). */
  containerVpid: 10,
  container: {
    type: "docker",
    name: "test-container",
    image: "docker.io/library/test-image:latest",
  },
  /** The file descriptor an event uses when fd.num is not given. */
  fd: 3,
  /** Ends of a connection when not given: this process is the client (connect) or server. */
  client: { ip: "192.0.2.10", port: 40000 },
  server: { ip: "198.51.100.20", port: 80 },
  /** Name of ancestors a test leaves out between ones it gives (proc.aname[3] without [2]). */
  fillerName: "saker-test-parent",
} as const;

/**
 * Users and groups every synthetic world knows (Debian's base accounts); names a test uses that
 * are not here get uids from 1000 up.
 */
const BASE_USERS: readonly [string, number, string, string][] = [
  ["root", 0, "/root", "/bin/bash"],
  ["daemon", 1, "/usr/sbin", "/usr/sbin/nologin"],
  ["bin", 2, "/bin", "/usr/sbin/nologin"],
  ["sys", 3, "/dev", "/usr/sbin/nologin"],
  ["sync", 4, "/bin", "/bin/sync"],
  ["games", 5, "/usr/games", "/usr/sbin/nologin"],
  ["man", 6, "/var/cache/man", "/usr/sbin/nologin"],
  ["lp", 7, "/var/spool/lpd", "/usr/sbin/nologin"],
  ["mail", 8, "/var/mail", "/usr/sbin/nologin"],
  ["news", 9, "/var/spool/news", "/usr/sbin/nologin"],
  ["uucp", 10, "/var/spool/uucp", "/usr/sbin/nologin"],
  ["proxy", 13, "/bin", "/usr/sbin/nologin"],
  ["www-data", 33, "/var/www", "/usr/sbin/nologin"],
  ["backup", 34, "/var/backups", "/usr/sbin/nologin"],
  ["list", 38, "/var/list", "/usr/sbin/nologin"],
  ["irc", 39, "/run/ircd", "/usr/sbin/nologin"],
  ["_apt", 42, "/nonexistent", "/usr/sbin/nologin"],
  ["sshd", 105, "/run/sshd", "/usr/sbin/nologin"],
  ["nobody", 65534, "/nonexistent", "/usr/sbin/nologin"],
];

const ALL_CAPS = (1n << BigInt(CAP_NAMES.length)) - 1n;
const AT_FDCWD = -100;
const AF = { UNIX: 1, INET: 2, INET6: 10 } as const;
const EXEC_EVENTS = new Set(["execve", "execveat"]);
const CLONE_EVENTS = new Set(["clone", "clone3", "fork", "vfork"]);
const OPEN_EVENTS = new Set(["open", "openat", "openat2", "creat", "open_by_handle_at"]);

/** Fields the world reads to create processes, fds and containers (no other meaning here). */
const PROC_LEVEL1: Record<string, string> = {
  "proc.pname": "name",
  "proc.pexe": "exe",
  "proc.pexepath": "exepath",
  "proc.pcmdline": "cmdline",
  "proc.ppid": "pid",
};
const PROC_LEVELN: Record<string, string> = {
  "proc.aname": "name",
  "proc.aexe": "exe",
  "proc.aexepath": "exepath",
  "proc.acmdline": "cmdline",
  "proc.apid": "pid",
  "proc.aargs": "args",
};

interface AncestorSpec {
  name?: string;
  exe?: string;
  exepath?: string;
  cmdline?: string;
  args?: string[];
  pid?: number;
}

/** Fields of an event by name (the last one wins if given twice). */
class Fields {
  readonly byKey = new Map<string, FieldEntry>();
  constructor(readonly entries: readonly FieldEntry[]) {
    for (const e of entries) this.byKey.set(e.key, e);
  }
  has(k: string): boolean {
    return this.byKey.has(k);
  }
  entry(k: string): FieldEntry | undefined {
    return this.byKey.get(k);
  }
  str(k: string): string | undefined {
    const e = this.byKey.get(k);
    if (e === undefined || e.value === null) return undefined;
    return Array.isArray(e.value) ? e.value.map(String).join(" ") : String(e.value);
  }
  num(k: string): number | undefined {
    const e = this.byKey.get(k);
    if (e === undefined || e.value === null) return undefined;
    const n = Number(e.value);
    if (!Number.isFinite(n)) throw new TestFileError(`${k}: '${e.value}' is not a number`, e.at);
    return n;
  }
  bool(k: string): boolean | undefined {
    const e = this.byKey.get(k);
    if (e === undefined || e.value === null) return undefined;
    if (e.value === true || e.value === "true") return true;
    if (e.value === false || e.value === "false") return false;
    throw new TestFileError(`${k}: '${e.value}' is not true or false`, e.at);
  }
  list(k: string): string[] | undefined {
    const e = this.byKey.get(k);
    if (e === undefined || e.value === null) return undefined;
    if (Array.isArray(e.value)) return e.value.map(String);
    const s = String(e.value).trim();
    return s === "" ? [] : s.split(/\s+/);
  }
  /** Keys with a prefix (`container.`), in the order given. */
  withPrefix(p: string): FieldEntry[] {
    return this.entries.filter((e) => e.key.startsWith(p));
  }
}

/** Splits `proc.aname[2]` into its name and argument. */
function splitKey(key: string): { name: string; arg?: string } {
  const b = key.indexOf("[");
  if (b > 0 && key.endsWith("]")) return { name: key.slice(0, b), arg: key.slice(b + 1, -1) };
  return { name: key };
}

/** A duration: a number of ns, or text such as `6s`, `500ms`, `2m`. */
function durationNs(v: SynthValue, key: string, at?: Where): bigint {
  if (typeof v === "number") return BigInt(Math.round(v));
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h)?\s*$/.exec(String(v));
  if (!m) throw new TestFileError(`${key}: '${v}' is not a duration (6s, 500ms, or ns)`, at);
  const mult: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  return BigInt(Math.round(Number(m[1]) * mult[m[2] ?? "ns"]));
}

/** `ip:port`, `[v6]:port` or `ip` (port 0). */
function parseEndpoint(text: string): { ip: string; port: number } | undefined {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) return { ip: v6[1], port: Number(v6[2] ?? 0) };
  const colons = text.split(":").length - 1;
  if (colons > 1) return { ip: text, port: 0 }; // bare IPv6
  const [ip, port] = text.split(":");
  if (!parseIp(ip)) return undefined;
  return { ip, port: Number(port ?? 0) };
}

/** A new synthetic host: pid 1, the base users, containers met so far. */
export class SyntheticWorld {
  readonly state: StateStore;
  readonly containers = new Map<string, ContainerInfo>();
  /** UTC ns of the first event. */
  readonly t0: bigint;
  #events = 0;
  #nextPid: number = SYNTH_DEFAULTS.pid;
  #current: number | undefined;
  #users = new Map<string, number>();
  /** Whether the current event's process existed before it. */
  #existed = false;
  #nextUid = 1000;

  constructor() {
    this.t0 = BigInt(Date.parse(SYNTH_DEFAULTS.time)) * 1_000_000n;
    this.state = new StateStore({
      userFiles: false,
      containers: {
        get: (id) => this.containers.get(id),
        request: () => {},
        set: (info) => void this.containers.set(info.id, info),
      },
    });
    for (const [name, id] of BASE_USERS) this.#users.set(name, id);
    this.#addUsers("");
    this.state.addThread({
      tid: 1,
      pid: 1,
      ppid: 0,
      comm: "systemd",
      exe: "/sbin/init",
      exepath: "/usr/lib/systemd/systemd",
      args: [],
      cwd: "/",
      uid: 0,
      gid: 0,
      capEffective: ALL_CAPS,
      capPermitted: ALL_CAPS,
      vpid: 1,
      sid: 1,
      pgid: 1,
      vpgid: 1,
      startTs: this.t0 - 3600_000_000_000n,
    });
  }

  /** Time of the next event, UTC ns. */
  get now(): bigint {
    return this.t0 + BigInt(this.#events) * 1_000_000n;
  }

  #allocPid(): number {
    while (this.state.procs.has(this.#nextPid) || this.state.threads.has(this.#nextPid)) {
      this.#nextPid++;
    }
    return this.#nextPid++;
  }

  /** The uid of a user name (new names get uids from 1000, in this world's files). */
  uidOf(name: string): number {
    let id = this.#users.get(name);
    if (id === undefined) {
      id = this.#nextUid++;
      this.#users.set(name, id);
      for (const view of ["", ...this.containers.keys()]) this.#addUser(view, name, id);
    }
    return id;
  }

  /** Every known user and group into a view's files (the host's, or a container's). */
  #addUsers(view: string): void {
    for (const [name, id] of this.#users) this.#addUser(view, name, id);
  }

  #addUser(view: string, name: string, id: number): void {
    const base = BASE_USERS.find((u) => u[1] === id);
    const home = base?.[2] ?? `/home/${name}`;
    const shell = base?.[3] ?? "/bin/bash";
    this.state.users.addUser({ id, name, home, shell }, view);
    this.state.users.addGroup({ id, name, home: "", shell: "" }, view);
  }

  /**
   * Builds the event the fields describe, applies it to the state and returns it, ready for
   * the rules (with, for a clone or fork given in the parent, the child's own first event before
   * it, as the kernel's fork tracepoint reports it). Throws {@link TestFileError} for a field that
   * cannot be turned into the event.
   */
  events(entries: readonly FieldEntry[]): Event[] {
    const f = new Fields(entries);
    for (const e of entries) checkKey(e);
    const typeEntry = f.entry("evt.type") ?? f.entry("syscall.type");
    if (!typeEntry || typeof typeEntry.value !== "string") {
      throw new TestFileError(
        "an event needs evt.type (openat, execve, connect ...)",
        entries[0]?.at,
      );
    }
    const type = typeEntry.value;
    const id = currentExitId(type);
    if (id === undefined) throw new TestFileError(`unknown event type '${type}'`, typeEntry.at);
    const info = EVENTS[id];
    const pid = f.num("proc.pid") ?? f.num("thread.tid") ?? this.#current ?? this.#allocPid();
    const tid = f.num("thread.tid") ?? pid;
    const isExec = EXEC_EVENTS.has(type);
    this.#existed = this.state.procs.has(pid);
    if (!this.#existed) this.#createProcess(pid, f, isExec);
    if (!this.state.threads.has(tid)) {
      const main = this.state.threads.get(pid)!;
      this.state.addThread({
        tid,
        pid,
        ppid: main.proc.ppid,
        comm: main.comm,
        uid: main.uid,
        gid: main.gid,
        capEffective: main.capEffective,
        capPermitted: main.capPermitted,
        capInheritable: main.capInheritable,
      });
    }
    this.#current = pid;
    const th = this.state.threads.get(tid)!;
    const params = this.#params(info, f, pid, tid);
    const out: Event[] = [];
    const child = Number(params.res);
    if (CLONE_EVENTS.has(type) && child > 0 && !this.state.threads.has(child)) {
      const thread = (Number(params.flags) & (flagValue("clone_flags", "CLONE_THREAD") ?? 0)) !== 0;
      out.push(this.#apply(id, {
        tid: child,
        pid: thread ? pid : child,
        ppid: th.proc.ppid === 0 || thread ? th.proc.ppid : pid,
        comm: th.comm,
      }, { ...params, res: 0, tid: child, pid: thread ? pid : child, ptid: tid, vtid: child }));
    }
    out.push(this.#apply(id, { tid, pid, ppid: th.proc.ppid, comm: th.comm }, params));
    return out;
  }

  /** {@link events} for fields that describe a single event (no clone): the event. */
  event(entries: readonly FieldEntry[]): Event {
    return this.events(entries).at(-1)!;
  }

  #apply(
    id: number,
    header: { tid: number; pid: number; ppid: number; comm: string },
    params: Record<string, unknown>,
  ): Event {
    const ts = BigInt(this.#events) * 1_000_000n;
    this.#events++;
    const ev = buildEvent(id, { ...header, ts }, params, this.t0);
    ev.num = this.#events;
    this.state.update(ev);
    return ev;
  }

  /**
   * The fields of `entries` the built event does not show as given: each a message with the
   * field's position. Checked after the state update, as the rules see the event.
   */
  verify(ev: Event, entries: readonly FieldEntry[]): TestFileError[] {
    const out: TestFileError[] = [];
    for (const e of entries) {
      if (e.value === null || /^evt\.(raw)?(arg[.[]|res$)/.test(e.key)) continue;
      let problem = readBack(ev, e);
      if (problem && this.#existed && /^(proc|user|group|thread|container|k8s)\./.test(e.key)) {
        problem += ` (process ${ev.pid} existed before this event: a process takes its fields ` +
          "where it first appears; an execve changes them)";
      }
      if (problem) out.push(new TestFileError(problem, e.at));
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Processes

  #createProcess(pid: number, f: Fields, isExec: boolean): void {
    const containerId = this.#container(f);
    const ancestors = ancestorsOf(f);
    let parent = 1;
    const age = f.has("proc.duration")
      ? durationNs(f.entry("proc.duration")!.value, "proc.duration", f.entry("proc.duration")!.at)
      : SYNTH_DEFAULTS.ageNs;
    const start = this.now - age;
    for (let level = ancestors.length - 1; level >= 1; level--) {
      const a = ancestors[level] ?? {};
      const apid = a.pid ?? this.#allocPid();
      if (!this.state.procs.has(apid)) {
        const name = a.name ?? SYNTH_DEFAULTS.fillerName;
        const cmd = a.cmdline?.trim().split(/\s+/);
        this.state.addThread({
          tid: apid,
          pid: apid,
          ppid: parent,
          comm: (a.name ?? cmd?.[0] ?? name).slice(0, 15),
          exe: a.exe ?? cmd?.[0] ?? name,
          exepath: a.exepath ?? `${SYNTH_DEFAULTS.exeDir}${a.name ?? cmd?.[0] ?? name}`,
          args: a.args ?? cmd?.slice(1) ?? [],
          cwd: SYNTH_DEFAULTS.cwd.slice(0, -1),
          uid: 0,
          gid: 0,
          capEffective: containerId ? this.#containerCaps(containerId) : ALL_CAPS,
          capPermitted: containerId ? this.#containerCaps(containerId) : ALL_CAPS,
          containerId,
          vpid: containerId ? SYNTH_DEFAULTS.containerVpid - level : apid,
          sid: apid,
          pgid: apid,
          vpgid: apid,
          startTs: start - BigInt(level) * 1_000_000_000n,
        });
      }
      parent = apid;
    }
    if (isExec) {
      // Before its execve the process is a fork of its parent: same image, same user.
      const p = this.state.procs.get(parent)!;
      const creds = this.#creds(f, containerId);
      this.state.addThread({
        tid: pid,
        pid,
        ppid: parent,
        comm: p.comm,
        exe: p.exe,
        exepath: p.exepath,
        args: p.args,
        // An exec keeps the working directory: the one given is the fork's.
        cwd: f.has("proc.cwd") ? f.str("proc.cwd")!.replace(/(.)\/$/, "$1") : p.cwd,
        ...creds,
        containerId,
        vpid: f.num("proc.vpid") ?? (containerId ? SYNTH_DEFAULTS.containerVpid : pid),
        sid: f.num("proc.sid") ?? p.sid,
        pgid: f.num("proc.pgid") ?? p.pgid,
        vpgid: f.num("proc.vpgid") ?? p.vpgid,
        tty: f.num("proc.tty") ?? p.tty,
        loginuid: creds.loginuid ?? p.loginuid,
        startTs: start,
      });
    } else {
      const image = this.#image(f, pid);
      this.state.addThread({
        tid: pid,
        pid,
        ppid: parent,
        ...image,
        ...this.#creds(f, containerId),
        containerId,
        vpid: f.num("proc.vpid") ?? (containerId ? SYNTH_DEFAULTS.containerVpid : pid),
        sid: f.num("proc.sid") ?? pid,
        pgid: f.num("proc.pgid") ?? pid,
        vpgid: f.num("proc.vpgid") ?? pid,
        tty: f.num("proc.tty") ?? 0,
        startTs: start,
        env: this.#env(f),
      });
    }
    this.state.linkChildren();
  }

  /** The executable and command line the fields describe. */
  #image(f: Fields, _pid: number) {
    const cmd = f.list("proc.cmdline");
    const name = f.str("proc.name") || basename(f.str("proc.exepath") ?? "") ||
      basename(f.str("proc.exe") ?? "") || cmd?.[0] || SYNTH_DEFAULTS.name;
    const comm = name.slice(0, 15);
    const exe = f.str("proc.exe") ?? f.str("proc.exepath") ?? name;
    return {
      comm,
      exe,
      exepath: f.str("proc.exepath") ??
        (exe.startsWith("/") ? exe : `${SYNTH_DEFAULTS.exeDir}${basename(exe) || comm}`),
      args: f.list("proc.args") ?? cmd?.slice(1) ?? [],
      cwd: (f.str("proc.cwd") ?? SYNTH_DEFAULTS.cwd).replace(/(.)\/$/, "$1"),
      exeFromMemfd: f.bool("proc.is_exe_from_memfd"),
      exeUpperLayer: f.bool("proc.is_exe_upper_layer"),
      exeLowerLayer: f.bool("proc.is_exe_lower_layer"),
      exeWritable: f.bool("proc.is_exe_writable"),
      fdlimit: f.num("proc.fdlimit"),
    };
  }

  #env(f: Fields): string[] | undefined {
    const env = f.has("proc.env") ? f.list("proc.env") ?? [] : undefined;
    const named = f.entries.filter((e) => e.key.startsWith("proc.env["));
    if (env === undefined && named.length === 0) return undefined;
    const out = [...(env ?? [])];
    for (const e of named) out.push(`${splitKey(e.key).arg}=${e.value}`);
    return out;
  }

  /** User, group, login user and capabilities. */
  #creds(f: Fields, containerId: string) {
    const userName = f.str("user.name");
    const uid = f.num("user.uid") ?? (userName !== undefined ? this.uidOf(userName) : 0);
    const groupName = f.str("group.name");
    const gid = f.num("group.gid") ??
      (groupName !== undefined ? this.uidOf(groupName) : userName !== undefined ? uid : 0);
    const loginName = f.str("user.loginname");
    const loginuid = f.num("user.loginuid") ??
      (loginName !== undefined ? this.uidOf(loginName) : undefined);
    const base = uid !== 0 ? 0n : containerId ? this.#containerCaps(containerId) : ALL_CAPS;
    const caps = (k: string) => {
      const e = f.entry(k);
      return e === undefined ? base : capsFrom(e);
    };
    return {
      uid,
      gid,
      loginuid,
      capEffective: caps("thread.cap_effective"),
      capPermitted: caps("thread.cap_permitted"),
      capInheritable: f.has("thread.cap_inheritable") ? caps("thread.cap_inheritable") : 0n,
    };
  }

  #containerCaps(id: string): bigint {
    if (this.containers.get(id)?.privileged) return ALL_CAPS;
    let v = 0n;
    for (const n of SYNTH_DEFAULTS.containerCaps) v |= 1n << BigInt(CAP_NAMES.indexOf(n));
    return v;
  }

  /** The container the fields put the process in ("" for the host); metadata recorded. */
  #container(f: Fields): string {
    const given = f.str("container.id") ?? f.str("container.full_id");
    const meta = [...f.withPrefix("container."), ...f.withPrefix("k8s.")].filter((e) =>
      e.key !== "container.id" && e.key !== "container.full_id"
    );
    if (given === "host") return "";
    if (given === undefined && meta.length === 0) return "";
    const id = given ?? "5a6e7e575e57".padEnd(64, "0");
    if (!this.containers.has(id)) {
      const d = SYNTH_DEFAULTS.container;
      const image = f.str("container.image") ??
        (f.has("container.image.repository")
          ? `${f.str("container.image.repository")}:${f.str("container.image.tag") ?? "latest"}`
          : d.image);
      const colon = image.lastIndexOf(":");
      const hasTag = colon > image.lastIndexOf("/");
      const labels: Record<string, string> = {};
      for (const e of f.withPrefix("container.label[")) {
        labels[splitKey(e.key).arg!] = String(e.value);
      }
      const k8s: Record<string, string> = {
        "k8s.pod.name": "io.kubernetes.pod.name",
        "k8s.ns.name": "io.kubernetes.pod.namespace",
        "k8s.pod.uid": "io.kubernetes.pod.uid",
        "k8s.pod.id": "io.kubernetes.pod.uid",
        "k8s.pod.sandbox_id": "io.kubernetes.sandbox.id",
      };
      for (const [field, label] of Object.entries(k8s)) {
        const v = f.str(field);
        if (v !== undefined) labels[label] = v;
      }
      for (const e of f.withPrefix("k8s.pod.label[")) {
        labels[splitKey(e.key).arg!] = String(e.value);
      }
      if (f.has("k8s.pod.name") && !labels["io.kubernetes.pod.namespace"]) {
        labels["io.kubernetes.pod.namespace"] = "default";
      }
      this.containers.set(id, {
        id,
        type: f.str("container.type") ?? d.type,
        name: f.str("container.name") ?? d.name,
        image,
        imageRepository: f.str("container.image.repository") ??
          (hasTag ? image.slice(0, colon) : image),
        imageTag: f.str("container.image.tag") ?? (hasTag ? image.slice(colon + 1) : "latest"),
        imageId: f.str("container.image.id") ?? "",
        imageDigest: f.str("container.image.digest") ?? "",
        privileged: f.bool("container.privileged") ?? false,
        mounts: mountsFrom(f.entry("container.mounts")),
        labels,
        ip: f.str("container.ip") ?? "",
        hostPid: f.bool("container.host_pid") ?? false,
        hostNetwork: f.bool("container.host_network") ?? false,
        hostIpc: f.bool("container.host_ipc") ?? false,
        startTs: this.now - SYNTH_DEFAULTS.ageNs - 1_000_000_000n,
      });
      this.#addUsers(id);
    }
    return id;
  }

  // ------------------------------------------------------------------------------------------
  // Parameters

  #params(info: EventInfo, f: Fields, pid: number, tid: number): Record<string, unknown> {
    const p: Record<string, unknown> = {};
    const name = info.name;
    const th = this.state.threads.get(tid)!;
    const proc = th.proc;
    const fdNum = f.num("fd.num") ?? SYNTH_DEFAULTS.fd;
    const res = resultOf(f);
    const creates = (info.flags & EF.CREATES_FD) !== 0;
    const first = info.params[0]?.name;
    // The result: the fd created, the child's pid, or the status.
    if (first === "res" || (creates && first === "fd")) {
      p[first] = res ?? (creates && first === "fd" ? fdNum : 0);
    }
    if (OPEN_EVENTS.has(name)) {
      const path = f.str("fd.nameraw") ?? f.str("fd.name") ??
        (f.has("fd.directory") ? `${f.str("fd.directory")}/${f.str("fd.filename") ?? ""}` : "");
      p.name = path;
      p.path = path;
      p.dirfd = AT_FDCWD;
      p.flags = flagValue("file_flags", "O_RDONLY");
      p.mode = 0;
      if (f.bool("fd.is_upper_layer")) {
        p.flags = (p.flags as number) | fdLayerFlag("FD_UPPER_LAYER");
      }
    } else if (EXEC_EVENTS.has(name)) {
      Object.assign(p, this.#execParams(f, pid, tid));
    } else if (CLONE_EVENTS.has(name)) {
      p.res = res ?? this.#allocPid();
      p.tid = tid;
      p.pid = pid;
      p.ptid = proc.ppid;
      p.comm = th.comm;
      p.exe = proc.exe;
      p.args = proc.args;
      p.cwd = proc.cwd;
      p.uid = th.uid;
      p.gid = th.gid;
      p.vtid = tid;
      p.vpid = proc.vpid;
      p.flags = 0;
    } else if (name === "socket") {
      const type = f.str("fd.type") ?? f.str("fd.sockfamily");
      p.domain = type === "ipv6" || type === "ip6" ? AF.INET6 : type === "unix" ? AF.UNIX : AF.INET;
      const l4 = f.str("fd.l4proto");
      p.type = l4 === "udp" ? 2 : l4 === "raw" || l4 === "icmp" ? 3 : 1;
      p.proto = l4 === "icmp" ? 1 : 0;
    } else if (name === "connect" || name === "accept" || name === "accept4") {
      const ends = endsOf(f);
      const family = ends.v6 ? AF.INET6 : AF.INET;
      // The probe writes connect tuples local -> remote and accept tuples peer -> local: both
      // client first.
      p.tuple = {
        family,
        sip: ends.cip,
        sport: ends.cport,
        dip: ends.sip,
        dport: ends.sport,
      };
      if (name === "connect") {
        p.addr = { family, addr: ends.sip, port: ends.sport };
        p.fd = fdNum;
      }
    } else if (name === "bind") {
      const ends = endsOf(f);
      p.addr = { family: ends.v6 ? AF.INET6 : AF.INET, addr: ends.sip, port: ends.sport };
    } else if (name === "dup" || name === "dup2" || name === "dup3") {
      p.oldfd = fdNum;
      const newfd = f.num("evt.arg.newfd") ?? (name === "dup" ? fdNum + 1 : 0);
      p.newfd = newfd;
      p.res = res ?? newfd;
    }
    // The fd the event uses: seeded when no earlier event opened it.
    const fdAt = FD_PARAM[info.id];
    if (fdAt >= 0 && fdAt < info.params.length) {
      const pname = info.params[fdAt].name;
      if (p[pname] === undefined) p[pname] = fdNum;
      const n = Number(p[pname]);
      if (!proc.fds.has(n) && n >= 0) this.#seedFd(f, pid, n, name === "connect");
    }
    // Explicit parameters win over everything derived above.
    for (const e of f.entries) {
      const m = /^evt\.(?:raw)?arg(?:\.([^[\]]+)|\[([^\]]+)\])$/.exec(e.key);
      if (!m) continue;
      const pname = m[1] ?? m[2];
      const at = /^\d+$/.test(pname) ? Number(pname) : info.paramIndex.get(pname);
      const param = at === undefined ? undefined : info.params[at];
      if (!param) {
        throw new TestFileError(
          `${info.name} has no parameter '${pname}' (it has: ${
            info.params.map((x) => x.name).join(", ")
          })`,
          e.at,
        );
      }
      p[param.name] = this.#paramValue(param, e);
    }
    for (const param of info.params) {
      if (p[param.name] === undefined) p[param.name] = defaultParam(param);
    }
    return p;
  }

  #execParams(f: Fields, pid: number, tid: number): Record<string, unknown> {
    const th = this.state.threads.get(tid)!;
    const proc = th.proc;
    const image = this.#image(f, pid);
    let flags = 0;
    const flag = (k: string, n: string) => {
      if (f.bool(k)) flags |= flagValue("execve_flags", n) ?? 0;
    };
    flag("proc.is_exe_writable", "EXE_WRITABLE");
    flag("proc.is_exe_upper_layer", "EXE_UPPER_LAYER");
    flag("proc.is_exe_from_memfd", "EXE_FROM_MEMFD");
    flag("proc.is_exe_lower_layer", "EXE_LOWER_LAYER");
    const trusted = image.exeFromMemfd && !f.has("proc.exepath")
      ? `memfd:${image.comm}`
      : image.exepath;
    const env = this.#env(f);
    return {
      exe: image.exe,
      args: image.args,
      tid,
      pid,
      ptid: proc.ppid,
      cwd: image.cwd === proc.cwd || !f.has("proc.cwd") ? proc.cwd : image.cwd,
      fdlimit: image.fdlimit ?? 1024,
      comm: image.comm,
      // The container was given to the process before its exec (test ids need not be the
      // 64 hex characters a cgroup path would need).
      cgroups: [],
      env: env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      tty: f.num("proc.tty") ?? proc.tty,
      vpgid: proc.vpgid,
      pgid: proc.pgid,
      sid: proc.sid,
      loginuid: proc.loginuid < 0 ? 0xffffffff : proc.loginuid,
      flags,
      cap_inheritable: th.capInheritable,
      cap_permitted: th.capPermitted,
      cap_effective: th.capEffective,
      uid: th.uid,
      gid: th.gid,
      ruid: th.uid,
      rgid: th.gid,
      trusted_exepath: trusted,
      filename: image.exe.startsWith("/") ? image.exe : image.exepath,
      vpid: proc.vpid,
      vtid: proc.vpid,
    };
  }

  /** Puts the fd the fields describe into process `pid` as number `num`. */
  #seedFd(f: Fields, pid: number, num: number, unconnected: boolean): void {
    const kind = f.str("fd.type") ?? typeFromChar(f.str("fd.typechar")) ??
      (f.has("fd.sip") || f.has("fd.cip") || f.has("fd.l4proto") || f.has("fd.sport")
        ? "ipv4"
        : "file");
    const type = FD_TYPES[kind];
    if (type === undefined) {
      const e = f.entry("fd.type") ?? f.entry("fd.typechar");
      throw new TestFileError(
        `fd.type '${kind}' is not one of ${Object.keys(FD_TYPES).join(", ")}`,
        e?.at,
      );
    }
    if (type === FD_TYPE.IPV4_SOCK || type === FD_TYPE.IPV6_SOCK) {
      const ends = endsOf(f);
      const l4 = f.str("fd.l4proto") ?? "tcp";
      const server = f.bool("fd.is_server") ?? false;
      const connected = !unconnected;
      this.state.addFd(pid, {
        num,
        type,
        name: connected ? `${ends.cip}:${ends.cport}->${ends.sip}:${ends.sport}` : "",
        family: type === FD_TYPE.IPV6_SOCK ? AF.INET6 : AF.INET,
        l4proto: L4_BY_NAME[l4] ?? L4.TCP,
        cip: connected ? ends.cip : "",
        cport: connected ? ends.cport : 0,
        sip: connected ? ends.sip : "",
        sport: connected ? ends.sport : 0,
        role: connected ? (server ? ROLE.SERVER : ROLE.CLIENT) : ROLE.NONE,
        connected,
      });
      return;
    }
    const name = f.str("fd.name") ??
      (f.has("fd.directory") ? `${f.str("fd.directory")}/${f.str("fd.filename") ?? ""}` : "");
    this.state.addFd(pid, {
      num,
      type,
      name,
      nameraw: f.str("fd.nameraw") ?? name,
      family: type === FD_TYPE.UNIX_SOCK ? AF.UNIX : undefined,
      upperLayer: f.bool("fd.is_upper_layer"),
      lowerLayer: f.bool("fd.is_lower_layer"),
    });
  }

  /** Converts an `evt.arg.NAME` value to what the encoder takes for the parameter's type. */
  #paramValue(param: ParamInfo, e: FieldEntry): unknown {
    const v = e.value;
    const fail = (what: string): never => {
      throw new TestFileError(`${e.key}: '${v}' is not ${what}`, e.at);
    };
    if (v === null) return null;
    switch (param.type) {
      case PT.CHARBUF:
      case PT.FSPATH:
      case PT.FSRELPATH:
        return String(v);
      case PT.BYTEBUF:
      case PT.CHARBUFARRAY:
      case PT.CHARBUF_PAIR_ARRAY:
        return Array.isArray(v) ? v.map(String) : String(v);
      case PT.ERRNO:
        return errnoValue(v) ?? fail("a result (a number, SUCCESS or an errno name)");
      case PT.UID:
      case PT.GID:
        if (typeof v === "string" && !/^\d+$/.test(v)) return this.uidOf(v);
        return Number(v);
      case PT.SIGTYPE: {
        const n = signalValue(v);
        return n ?? fail("a signal (a number or SIGKILL ...)");
      }
      case PT.MODE:
        return modeValue(param, e) ?? fail("a mode (0644, or S_IRUSR|S_IWUSR names)");
      case PT.SOCKADDR: {
        const s = String(v);
        if (s.startsWith("/")) return { family: AF.UNIX, addr: s, port: 0 };
        const ep = parseEndpoint(s) ?? fail("an address (ip:port, [ipv6]:port or /unix/path)");
        return { family: ep.ip.includes(":") ? AF.INET6 : AF.INET, addr: ep.ip, port: ep.port };
      }
      case PT.SOCKTUPLE: {
        const [a, b] = String(v).split("->");
        const c = a ? parseEndpoint(a) : undefined;
        const s = b ? parseEndpoint(b) : undefined;
        if (!c || !s) fail("a tuple (cip:cport->sip:sport)");
        return {
          family: c!.ip.includes(":") ? AF.INET6 : AF.INET,
          sip: c!.ip,
          sport: c!.port,
          dip: s!.ip,
          dport: s!.port,
        };
      }
      case PT.IPV4ADDR:
      case PT.IPV6ADDR:
      case PT.IPADDR:
        return parseIp(String(v)) ? String(v) : fail("an IP address");
      case PT.BOOL:
        return v === true || v === "true" || v === 1;
      case PT.DOUBLE:
        return Number(v);
      default:
        if (param.table) {
          const n = flagsValue(param.table, v);
          return n ?? fail(`a number or ${param.table} names (A|B)`);
        }
        if (typeof v === "number") return v;
        if (/^-?(0x[0-9a-f]+|\d+)$/i.test(String(v).trim())) return Number(v);
        return fail("a number");
    }
  }
}

const FD_TYPES: Record<string, number> = {
  file: FD_TYPE.FILE,
  directory: FD_TYPE.DIRECTORY,
  ipv4: FD_TYPE.IPV4_SOCK,
  ipv6: FD_TYPE.IPV6_SOCK,
  unix: FD_TYPE.UNIX_SOCK,
  pipe: FD_TYPE.FIFO,
  event: FD_TYPE.EVENT,
  signalfd: FD_TYPE.SIGNALFD,
  eventpoll: FD_TYPE.EVENTPOLL,
  inotify: FD_TYPE.INOTIFY,
  timerfd: FD_TYPE.TIMERFD,
  netlink: FD_TYPE.NETLINK,
  bpf: FD_TYPE.BPF,
  userfaultfd: FD_TYPE.USERFAULTFD,
  io_uring: FD_TYPE.IOURING,
  memfd: FD_TYPE.MEMFD,
  pidfd: FD_TYPE.PIDFD,
};

const TYPE_CHARS: Record<string, string> = {
  f: "file",
  d: "directory",
  "4": "ipv4",
  "6": "ipv6",
  u: "unix",
  p: "pipe",
  e: "event",
  s: "signalfd",
  l: "eventpoll",
  i: "inotify",
  t: "timerfd",
  n: "netlink",
  b: "bpf",
  r: "io_uring",
  m: "memfd",
};

const L4_BY_NAME: Record<string, number> = {
  tcp: L4.TCP,
  udp: L4.UDP,
  icmp: L4.ICMP,
  raw: L4.RAW,
};

function typeFromChar(c: string | undefined): string | undefined {
  return c === undefined ? undefined : TYPE_CHARS[c];
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

function fdLayerFlag(name: string): number {
  return flagValue("file_flags", name) ?? 0;
}

/** The ends of a connection the fields describe (this process is the client unless server). */
function endsOf(f: Fields) {
  const d = SYNTH_DEFAULTS;
  const cip = f.str("fd.cip") ?? d.client.ip;
  const sip = f.str("fd.sip") ?? f.str("fd.rip") ?? d.server.ip;
  return {
    cip,
    cport: f.num("fd.cport") ?? d.client.port,
    sip,
    sport: f.num("fd.sport") ?? f.num("fd.rport") ?? d.server.port,
    v6: sip.includes(":") || cip.includes(":") || f.str("fd.type") === "ipv6",
  };
}

/** `evt.res` / `evt.rawres` / `evt.failed` as a result value. */
function resultOf(f: Fields): number | undefined {
  const e = f.entry("evt.rawres") ?? f.entry("evt.res");
  if (e !== undefined && e.value !== null) {
    const n = errnoValue(e.value);
    if (n === undefined) {
      throw new TestFileError(
        `${e.key}: '${e.value}' is not SUCCESS, an errno name or a number`,
        e.at,
      );
    }
    return n;
  }
  if (f.bool("evt.failed")) return -1;
  return undefined;
}

function errnoValue(v: SynthValue): number | undefined {
  if (typeof v === "number") return v;
  const s = String(v).trim();
  if (s === "SUCCESS") return 0;
  if (/^-?\d+$/.test(s)) return Number(s);
  for (const [n, name] of Object.entries(ERRNO_NAMES)) if (name === s) return -Number(n);
  return undefined;
}

function signalValue(v: SynthValue): number | undefined {
  if (typeof v === "number") return v;
  const s = String(v).trim();
  if (/^\d+$/.test(s)) return Number(s);
  for (const [n, name] of Object.entries(SIGNAL_NAMES)) if (name === s) return Number(n);
  return undefined;
}

/** `A|B` names of a flag or enum table, or a number. */
export function flagsValue(table: string, v: SynthValue): number | undefined {
  if (typeof v === "number") return v;
  const s = String(v).trim();
  if (/^(0x[0-9a-f]+|\d+)$/i.test(s)) return Number(s);
  if (isEnumTable(table)) return flagValue(table, s);
  let out = 0;
  for (const name of s.split("|").map((x) => x.trim()).filter(Boolean)) {
    const n = flagValue(table, name);
    if (n === undefined) return undefined;
    out |= n;
  }
  return out >>> 0;
}

function modeValue(param: ParamInfo, e: FieldEntry): number | undefined {
  const text = (e.raw ?? String(e.value)).trim();
  if (/^0o?[0-7]+$/.test(text)) return parseInt(text.replace(/^0o?/, "") || "0", 8);
  if (/^[0-7]{3,4}$/.test(text) && e.raw !== undefined) return parseInt(text, 8);
  if (/^\d+$/.test(text)) return Number(text);
  return param.table ? flagsValue(param.table, text) : undefined;
}

function capsFrom(e: FieldEntry): bigint {
  const names = Array.isArray(e.value)
    ? e.value.map(String)
    : String(e.value ?? "").split(/[\s,|]+/).filter(Boolean);
  let v = 0n;
  for (const n of names) {
    const name = n.startsWith("CAP_") ? n : `CAP_${n.toUpperCase()}`;
    const bit = CAP_NAMES.indexOf(name);
    if (bit < 0) throw new TestFileError(`${e.key}: unknown capability '${n}'`, e.at);
    v |= 1n << BigInt(bit);
  }
  return v;
}

function mountsFrom(e: FieldEntry | undefined): ContainerMount[] {
  if (!e || e.value === null) return [];
  const items = Array.isArray(e.value) ? e.value : [e.value];
  return items.map((m) => {
    const [source, dest, mode = "", rw = "true", propagation = "rprivate"] = String(m).split(":");
    if (!source || !dest) {
      throw new TestFileError(
        `container.mounts: '${m}' is not source:dest[:mode:rw:propagation]`,
        e.at,
      );
    }
    return { source, dest, mode, rw: rw === "true", propagation };
  });
}

function defaultParam(p: ParamInfo): unknown {
  switch (p.type) {
    case PT.CHARBUF:
    case PT.FSPATH:
    case PT.FSRELPATH:
      return "";
    case PT.BYTEBUF:
    case PT.CHARBUFARRAY:
    case PT.CHARBUF_PAIR_ARRAY:
      return [];
    case PT.SOCKADDR:
    case PT.SOCKTUPLE:
    case PT.IPV4ADDR:
    case PT.IPV6ADDR:
    case PT.IPADDR:
    case PT.DYN:
    case PT.FDLIST:
      return null;
    default:
      return p.name.includes("dirfd") || p.name === "olddir" || p.name === "newdir" ? AT_FDCWD : 0;
  }
}

/** Ancestor specs by level (1 = parent) from the `proc.p*` and `proc.a*[N]` fields. */
function ancestorsOf(f: Fields): AncestorSpec[] {
  const out: AncestorSpec[] = [];
  const at = (level: number) => (out[level] ??= {});
  const set = (level: number, prop: string, e: FieldEntry) => {
    const spec = at(level) as Record<string, unknown>;
    if (prop === "pid") spec.pid = Number(e.value);
    else if (prop === "args") {
      spec.args = Array.isArray(e.value) ? e.value.map(String) : String(e.value).split(/\s+/);
    } else spec[prop] = String(e.value);
  };
  const anyLevel: FieldEntry[] = [];
  for (const e of f.entries) {
    if (e.value === null) continue;
    const { name, arg } = splitKey(e.key);
    if (PROC_LEVEL1[name] && arg === undefined) set(1, PROC_LEVEL1[name], e);
    else if (PROC_LEVELN[name]) {
      if (arg === undefined) {
        if (name === "proc.aname") anyLevel.push(e);
        continue;
      }
      const level = Number(arg);
      if (!Number.isInteger(level) || level < 1) {
        throw new TestFileError(`${e.key}: the level must be 1 or more (1 is the parent)`, e.at);
      }
      set(level, PROC_LEVELN[name], e);
    }
  }
  // proc.aname without a level: ancestors above every one given.
  for (const e of anyLevel) {
    const names = Array.isArray(e.value) ? e.value.map(String) : [String(e.value)];
    for (const n of names) at(Math.max(out.length, 2)).name = n;
  }
  return out;
}

/** Rejects keys that are not fields (a typo in a test file). */
function checkKey(e: FieldEntry): void {
  const ref = lookupField(e.key);
  if (!ref) throw new TestFileError(`unknown field '${e.key}' (saker fields lists them)`, e.at);
}

const DURATIONS = new Set(["proc.duration", "proc.ppid.duration", "container.duration"]);

/** Compares a given field with what the event shows; returns the problem, if any. */
function readBack(ev: Event, e: FieldEntry): string | undefined {
  const { name, arg } = splitKey(e.key);
  const values = Array.isArray(e.value) ? e.value : [e.value];
  let checker: Checker;
  let node: CheckNode;
  const pos = { idx: 0, line: 1, col: 1 };
  const shown = () => valueText(evalOperand(node.left, ev));
  if (
    name === "thread.cap_effective" || name === "thread.cap_permitted" ||
    name === "thread.cap_inheritable"
  ) {
    const want = capsFrom(e);
    const th = ev.thread;
    const have = th === undefined
      ? undefined
      : name === "thread.cap_effective"
      ? th.capEffective
      : name === "thread.cap_permitted"
      ? th.capPermitted
      : th.capInheritable;
    return have === want
      ? undefined
      : `${e.key}: given ${e.value}, the event shows other capabilities`;
  }
  let text = values.map((v) => String(v));
  if (DURATIONS.has(name)) text = values.map((v) => String(durationNs(v, e.key, e.at)));
  if (name === "proc.cwd") text = text.map((t) => t.endsWith("/") ? t : `${t}/`);
  if (
    name === "proc.args" || name === "proc.cmdline" || name === "proc.pcmdline" ||
    name === "proc.acmdline" || name === "proc.env" || name === "proc.aargs" ||
    name === "container.mounts"
  ) {
    text = [text.join(name === "container.mounts" ? "," : " ")];
  }
  try {
    checker = new Checker("syscall");
    const left = checker.field(name, arg, pos);
    const op = left.list ? "intersects" : "=";
    node = checker.binary({
      kind: "binary",
      left: { kind: "field", name, arg, pos },
      op,
      right: op === "=" && text.length === 1
        ? { kind: "value", value: text[0], pos }
        : { kind: "list", values: text, pos },
      pos,
    });
  } catch (err) {
    return `${e.key}: ${(err as Error).message}`;
  }
  if (text.length > 1 && node.op === "=") {
    // Several values for a multi-valued field (proc.aname: [sshd, bash]): each must show.
    const got = evalOperand(node.left, ev);
    const have = Array.isArray(got) ? got.map(String) : got === undefined ? [] : [String(got)];
    const missing = text.filter((t) => !have.includes(t));
    return missing.length === 0
      ? undefined
      : `${e.key}: given ${JSON.stringify(values)}, the event shows ${shown()}`;
  }
  if (testValue(node, evalOperand(node.left, ev))) return undefined;
  return `${e.key}: given ${
    valueText(text.length === 1 ? text[0] : text)
  }, the event shows ${shown()}`;
}
