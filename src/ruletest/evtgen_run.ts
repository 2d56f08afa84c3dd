/**
 * Running one of Falco's declarative event-generator tests for real, with the simulator's parts:
 * the test becomes a plan for the simulator's helper (`saker-sim`, plan mode), which makes the
 * files the test names, starts its chain of processes (each a copy of the helper executed under
 * the process's name, argv[0], arguments, user and environment), and in the last one runs the
 * `before` script, creates the resources (a connected client and server, a fileless process) and
 * makes the system calls of the steps, then removes what it made.
 *
 * - On the host the helper runs as a child of `saker test`; a test whose client and server use
 *   an address the machine does not have runs in a network namespace of its own whose loopback
 *   interface carries it (the event-generator adds an interface with it to the host; here the
 *   host's network is untouched).
 * - A process run as another user keeps every capability (the event-generator's default).
 * - With `context.container`, the plan runs as the entry point of a privileged container (as the
 *   event-generator runs its own image) made from the simulator's image.
 * - Users the tests name and the host lacks are created for the run and removed after it
 *   ({@link ensureHostUsers}).
 *
 * @example
 * ```ts
 * import { planOf } from "./evtgen_run.ts";
 * // planOf(test, { dir: "/tmp/x", users: new Map([["root", [0, 0]]]) }).records[0]; // ["C", ...]
 * ```
 * @module
 */
import { SYSCALL_NR } from "../events/syscalls.ts";
import { buildHelper } from "../simulate/helper.ts";
import { buildImage, runOnce } from "../simulate/podman.ts";
import { mustRun, runCommand } from "../simulate/command.ts";
import { randomSuffix, Workspace } from "../simulate/workspace.ts";
import type { EvtgenTest } from "./evtgen.ts";

/** Linux (x86_64 UAPI) values the steps' arguments name. */
const LINUX_FLAGS: Record<string, number> = {
  O_RDONLY: 0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DSYNC: 0o10000,
  O_DIRECT: 0o40000,
  O_LARGEFILE: 0o100000,
  O_DIRECTORY: 0o200000,
  O_NOFOLLOW: 0o400000,
  O_NOATIME: 0o1000000,
  O_CLOEXEC: 0o2000000,
  O_SYNC: 0o4010000,
  O_PATH: 0o10000000,
  O_TMPFILE: 0o20200000,
  AF_UNIX: 1,
  AF_LOCAL: 1,
  AF_INET: 2,
  AF_INET6: 10,
  AF_NETLINK: 16,
  AF_PACKET: 17,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_SEQPACKET: 5,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  AT_FDCWD: -100,
  AT_SYMLINK_NOFOLLOW: 0x100,
  AT_SYMLINK_FOLLOW: 0x400,
  AT_EMPTY_PATH: 0x1000,
  RESOLVE_NO_XDEV: 1,
  RESOLVE_NO_MAGICLINKS: 2,
  RESOLVE_NO_SYMLINKS: 4,
  RESOLVE_BENEATH: 8,
  RESOLVE_IN_ROOT: 16,
  RESOLVE_CACHED: 32,
};

/** A number, or names joined with `|`, of {@link LINUX_FLAGS}. */
function linuxValue(v: unknown, what: string): number {
  if (typeof v === "number") return v;
  const s = String(v ?? "0").trim();
  if (/^-?(0x[0-9a-f]+|\d+)$/i.test(s)) return Number(s);
  let out = 0;
  for (const name of s.split("|").map((x) => x.trim())) {
    const n = LINUX_FLAGS[name];
    if (n === undefined) throw new Error(`${what}: unknown value '${name}'`);
    out |= n;
  }
  return out;
}

/** A mode: `0644` is octal (as the event-generator's YAML reads it). */
function modeValue(v: unknown): number {
  if (typeof v === "number") return parseInt(String(v), 8);
  const s = String(v ?? "0").trim();
  return /^0o?[0-7]*$/.test(s) ? parseInt(s.replace(/^0o?/, "") || "0", 8) : Number(s);
}

/** A `${ name.client.fd }` binding, or a value. */
function fdArg(v: unknown): string {
  const m = /^\$\{\s*(\w+)\.(client|server)\.fd\s*\}$/.exec(String(v ?? ""));
  return m ? `r${m[1]}.${m[2]}` : `i${linuxValue(v, "fd")}`;
}

function u64le(n: number): string {
  let out = "";
  let v = BigInt(n);
  for (let i = 0; i < 8; i++) {
    out += (v & 0xffn).toString(16).padStart(2, "0");
    v >>= 8n;
  }
  return out;
}

/** The system call of a step as the helper takes it: its number and typed arguments. */
export function stepArgs(syscall: string, args: Record<string, unknown>): string[] {
  const nr = SYSCALL_NR.get(syscall);
  if (nr === undefined) throw new Error(`system call '${syscall}' is not known here`);
  const s = (k: string) => `s${String(args[k] ?? "")}`;
  const dirfd = (k: string) => `i${args[k] === undefined ? -100 : linuxValue(args[k], k)}`;
  const flags = (k: string) => `i${linuxValue(args[k], k)}`;
  let a: string[];
  switch (syscall) {
    case "open":
      a = [s("pathname"), flags("flags"), `i${modeValue(args.mode)}`];
      break;
    case "openat":
      a = [dirfd("dirfd"), s("pathname"), flags("flags"), `i${modeValue(args.mode)}`];
      break;
    case "openat2": {
      const how = (args.how ?? {}) as Record<string, unknown>;
      const buf = u64le(linuxValue(how.flags, "how.flags")) + u64le(modeValue(how.mode)) +
        u64le(linuxValue(how.resolve, "how.resolve"));
      a = [dirfd("dirfd"), s("pathname"), `x${buf}`, "i24"];
      break;
    }
    case "link":
      a = [s("oldPath"), s("newPath")];
      break;
    case "linkat":
      a = [dirfd("oldDirFd"), s("oldPath"), dirfd("newDirFd"), s("newPath"), flags("flags")];
      break;
    case "symlink":
      a = [s("target"), s("linkPath")];
      break;
    case "symlinkat":
      a = [s("target"), dirfd("newDirFd"), s("linkPath")];
      break;
    case "socket":
      a = [flags("domain"), flags("type"), `i${linuxValue(args.protocol, "protocol")}`];
      break;
    case "dup":
      a = [fdArg(args.oldFd)];
      break;
    case "dup2":
      a = [fdArg(args.oldFd), fdArg(args.newFd)];
      break;
    case "dup3":
      a = [fdArg(args.oldFd), fdArg(args.newFd), flags("flags")];
      break;
    case "kill":
      a = [`i${Number(args.pid ?? 0)}`, `i${Number(args.sig ?? 0)}`];
      break;
    default:
      throw new Error(`steps calling ${syscall} are not supported here`);
  }
  return [String(nr), ...a];
}

/** Splits `args` as the event-generator does: spaces separate, quotes group. */
export function splitArgs(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]+)"|'([^']+)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** `ip:port` or `[ipv6]:port`. */
function hostPort(address: string): { ip: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`address '${address}' is not ip:port or [ipv6]:port`);
  return { ip: m[1], port: Number(m[2]) };
}

/** What a plan needs from where it runs. */
export interface PlanContext {
  /** A directory for the chain's executables. */
  dir: string;
  /** uid and gid of each user name the test uses. */
  users: Map<string, [number, number]>;
}

/** A plan for the helper: records of fields (see saker-sim.c, plan mode). */
export interface Plan {
  records: string[][];
  /** Server addresses of client/server resources (a namespace of its own must carry them). */
  addresses: string[];
}

/** The helper's plan for a test. */
export function planOf(t: EvtgenTest, ctx: PlanContext): Plan {
  const records: string[][] = [];
  const addresses: string[] = [];
  for (const r of t.resources) {
    if (r.type !== "fd") continue;
    if (r.subtype === "directory" || (!r.filePath && r.dirPath)) {
      records.push(["D", r.dirPath ?? r.filePath!]);
    } else if (r.filePath) records.push(["F", r.filePath]);
  }
  t.context.processes.forEach((p, i) => {
    const real = p.exePath ?? `${ctx.dir}/p${i}/event-generator`;
    const dir = real.slice(0, real.lastIndexOf("/")) || "/";
    const name = p.name ?? real.slice(real.lastIndexOf("/") + 1);
    const path = `${dir}/${name}`;
    records.push(["C", real]);
    if (path !== real) records.push(["L", real, path]);
    const [uid, gid] = p.user ? ctx.users.get(p.user) ?? [-1, -1] : [-1, -1];
    const args = splitArgs(p.args);
    const env = Object.entries(p.env ?? {}).map(([k, v]) => `${k}=${v}`);
    records.push([
      "P",
      path,
      p.exe ?? name,
      String(uid),
      String(gid),
      String(args.length),
      ...args,
      ...env,
    ]);
  });
  if (t.before) records.push(["B", t.before]);
  for (const r of t.resources) {
    if (r.type === "clientServer") {
      const { ip, port } = hostPort(r.address);
      addresses.push(ip);
      records.push(["R", "cs", r.name, r.l4Proto, ip, String(port)]);
    } else if (r.type === "process") {
      if (!r.fileLess) {
        throw new Error(`process resource '${r.name}': only fileLess processes are supported`);
      }
      records.push(["R", "memfd", r.name]);
    }
  }
  for (const s of t.steps) records.push(["S", s.name || s.syscall, ...stepArgs(s.syscall, s.args)]);
  if (t.after) records.push(["A", t.after]);
  return { records, addresses };
}

/** The plan as the helper reads it from $SAKER_SIM_PLAN. */
export function planText(plan: Plan): string {
  return plan.records.map((r) => r.join("\x1f")).join("\x1e");
}

/** What a run did. */
export interface EvtgenRun {
  startMs: number;
  endMs: number;
  /** Full id of the container the test ran in, if any. */
  containerId?: string;
  /** The helper's report lines. */
  evidence: string[];
}

/** Users of the simulator's image (its /etc/passwd). */
const IMAGE_USERS = new Map<string, [number, number]>([
  ["root", [0, 0]],
  ["daemon", [1, 1]],
  ["nobody", [65534, 65534]],
]);

function passwdIds(text: string): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 4) m.set(f[0], [Number(f[2]), Number(f[3])]);
  }
  return m;
}

/**
 * Creates the users the host tests name that the host lacks (as the event-generator does), once
 * for a whole run; returns what removes them again.
 */
export async function ensureHostUsers(tests: EvtgenTest[]): Promise<() => Promise<void>> {
  const names = new Set(
    tests.filter((t) => !t.context.container).flatMap((t) =>
      t.context.processes.map((p) => p.user).filter((u): u is string => !!u)
    ),
  );
  const have = passwdIds(await Deno.readTextFile("/etc/passwd"));
  const groups = (await Deno.readTextFile("/etc/group")).split("\n").map((l) => l.split(":")[0]);
  const made: string[] = [];
  for (const n of names) {
    if (have.has(n)) continue;
    // A group of the same name that is not ours is left alone (the user joins nogroup).
    const group = groups.includes(n) ? ["-N", "-g", "nogroup"] : ["-U"];
    await mustRun("useradd", [
      "--system",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      ...group,
      n,
    ]);
    made.push(n);
  }
  return async () => {
    for (const n of made) await runCommand("userdel", [n]);
  };
}

/** Whether an address is on the loopback interface (no namespace of its own needed). */
function loopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}

/**
 * Runs an event-generator test; throws when it could not be run. `onRoot` learns the pid of the
 * process every process of a host test descends from, as soon as it starts.
 */
export async function runEvtgenTest(
  t: EvtgenTest,
  onRoot: (pid: number) => void = () => {},
): Promise<EvtgenRun> {
  const ws = await Workspace.open("saker-evtgen-");
  try {
    const helper = await buildHelper();
    const names = [
      ...new Set(t.context.processes.map((p) => p.user).filter((u): u is string => !!u)),
    ];
    if (t.context.container) {
      const missing = names.filter((n) => !IMAGE_USERS.has(n));
      if (missing.length > 0) {
        throw new Error(`users ${missing.join(", ")} are not in the simulator's image`);
      }
      const plan = planOf(t, { dir: `/tmp/saker-evtgen-${randomSuffix()}`, users: IMAGE_USERS });
      const image = await buildImage(helper);
      const env = Object.entries(t.context.container.env ?? {}).flatMap((
        [k, v],
      ) => ["-e", `${k}=${v}`]);
      const startMs = Date.now();
      const r = await runOnce(ws, image, "evtgen", ["/usr/local/bin/saker-sim"], [
        "--privileged",
        ...env,
        "-e",
        `SAKER_SIM_PLAN=${planText(plan)}`,
      ]);
      const endMs = Date.now();
      const evidence = (r.result.stdout + r.result.stderr).split("\n").filter((l) => l.trim());
      if (r.result.code !== 0) {
        throw new Error(`the plan failed (${r.result.code}): ${evidence.slice(-3).join(" | ")}`);
      }
      return { startMs, endMs, containerId: r.id, evidence };
    }
    await Deno.chmod(ws.dir, 0o755);
    const users = passwdIds(await Deno.readTextFile("/etc/passwd"));
    const missing = names.filter((n) => !users.has(n));
    if (missing.length > 0) throw new Error(`users ${missing.join(", ")} do not exist here`);
    const plan = planOf(t, { dir: ws.dir, users });
    let program = helper.host;
    let args: string[] = [];
    if (plan.addresses.some((a) => !loopback(a))) {
      // A namespace of its own whose loopback interface also carries the server addresses.
      const ns = `sakereg${Deno.pid % 100000}${randomSuffix().slice(0, 4)}`;
      await mustRun("ip", ["netns", "add", ns]);
      ws.defer(async () => {
        await runCommand("ip", ["netns", "del", ns]);
      });
      await mustRun("ip", ["-n", ns, "link", "set", "lo", "up"]);
      for (const a of new Set(plan.addresses.filter((x) => !loopback(x)))) {
        const v6 = a.includes(":");
        await mustRun("ip", ["-n", ns, "addr", "add", `${a}/${v6 ? 128 : 32}`, "dev", "lo"]);
      }
      program = "ip";
      args = ["netns", "exec", ns, helper.host];
    }
    const startMs = Date.now();
    const child = new Deno.Command(program, {
      args,
      env: { SAKER_SIM_PLAN: planText(plan) },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    onRoot(child.pid);
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
    }, 60_000);
    const r = await child.output().finally(() => clearTimeout(timer));
    const endMs = Date.now();
    const d = new TextDecoder();
    const evidence = (d.decode(r.stdout) + d.decode(r.stderr)).split("\n").filter((l) => l.trim());
    if (r.code !== 0) {
      throw new Error(`the plan failed (${r.code}): ${evidence.slice(-3).join(" | ")}`);
    }
    return { startMs, endMs, evidence };
  } finally {
    await ws.close();
  }
}
