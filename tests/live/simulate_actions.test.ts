/**
 * The simulator's actions do what they claim, checked from outside: every host action runs
 * under `strace -f` and its trace must show the system calls the attack is made of; container
 * actions must report their in-container calls; nothing may be left behind, and running an
 * action twice works (idempotence).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot, REPO_ROOT, skipIf } from "../support/env.ts";
import { ACTIONS, selectActions } from "../../src/simulate/catalog.ts";
import type { ActionReport } from "../../src/simulate/action.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import { which } from "../../src/simulate/command.ts";
import { passes, relevantLines, type TraceCheck } from "../support/strace.ts";

/** System calls strace records (everything the table below looks for). */
const TRACED = [
  "openat",
  "execve",
  "symlinkat",
  "linkat",
  "fchmodat",
  "setresuid",
  "memfd_create",
  "ptrace",
  "finit_module",
  "setns",
  "connect",
  "dup2",
  "unlinkat",
  "unlink",
  "setuid",
  "userfaultfd",
  "bpf",
  "rename",
  "renameat",
  "renameat2",
  "mkdir",
  "mkdirat",
  "listen",
  "accept",
  "accept4",
  "recvfrom",
].join(",");

const Q = String.raw`"[^"]*`; // any quoted path prefix
/** Per host action: the checks its strace log must pass. */
const SYSCALLS: Record<string, TraceCheck[]> = {
  "read-sensitive-file": [/openat\(AT_FDCWD, "\/etc\/shadow", O_RDONLY\|O_CLOEXEC\) = \d+/],
  "read-pam-config": [/openat\(AT_FDCWD, "\/etc\/pam[^"]*", O_RDONLY\|O_CLOEXEC\) = \d+/],
  "server-reads-sensitive-file": [
    /execve\("[^"]*\/httpd", \["[^"]*\/httpd", "sleep-open", "6", "\/etc\/shadow"\]/,
    /openat\(AT_FDCWD, "\/etc\/shadow", O_RDONLY\|O_CLOEXEC\) = \d+/,
  ],
  "traversal-read": [/openat\(AT_FDCWD, "\/etc\/\.\.\/etc\/\.\.\/etc\/shadow", O_RDONLY/],
  "search-private-keys": [/execve\("[^"]*\/find", \["[^"]*find", .*"-name", "id_rsa"\]/],
  "search-aws-credentials": [/execve\("[^"]*\/grep", \["[^"]*grep", .*"aws_secret_access_key"/],
  "read-ssh-private-key": [new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.ssh/id_ed25519", O_RDONLY`)],
  "read-cloud-credentials": [new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.aws/credentials", O_RDONLY`)],
  "clear-log-file": [
    new RegExp(
      `openat\\(AT_FDCWD, ${Q}/syslog", O_WRONLY\\|O_CREAT\\|O_TRUNC\\|O_CLOEXEC, 0644\\) = \\d+`,
    ),
  ],
  "shred-file": [{ seq: [/execve\("[^"]*\/shred", \["[^"]*shred", "-u"/, /unlink(at)?\(/] }],
  "symlink-sensitive-file": [
    new RegExp(`symlinkat\\("/etc/shadow", AT_FDCWD, ${Q}/shadow-link"\\) = 0`),
  ],
  "hardlink-sensitive-file": [
    new RegExp(`linkat\\(AT_FDCWD, "/etc/shadow", AT_FDCWD, ${Q}/shadow-hardlink", 0\\)`),
  ],
  "write-below-etc": [
    /openat\(AT_FDCWD, "\/etc\/saker-sim-[0-9a-f]+\.conf", O_WRONLY\|O_CREAT\|O_EXCL/,
  ],
  "write-below-binary-dir": [
    /openat\(AT_FDCWD, "\/usr\/bin\/saker-sim-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL/,
  ],
  "create-file-in-dev": [
    /openat\(AT_FDCWD, "\/dev\/saker-sim-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL/,
  ],
  "truncate-shell-history": [
    new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.bash_history", O_WRONLY\\|O_TRUNC`),
  ],
  "add-ssh-authorized-key": [
    new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.ssh/authorized_keys", O_WRONLY\\|O_CREAT\\|O_APPEND`),
  ],
  "set-setuid-bit": [new RegExp(`fchmodat\\(AT_FDCWD, ${Q}/helper-binary", 04\\d{3}\\) = 0`)],
  "linker-preload-write": [
    /openat\(AT_FDCWD, "\/etc\/ld\.so\.preload", O_WRONLY\|(O_CREAT\|)?O_APPEND/,
  ],
  "server-spawns-shell": [
    /execve\("[^"]*\/httpd", \["[^"]*\/httpd", "spawn", "\/bin\/sh"/,
    /execve\("\/bin\/sh", \["\/bin\/sh", "-c", "ls > \/dev\/null"\]/,
  ],
  "database-spawns-process": [
    /execve\("[^"]*\/mysqld", \["[^"]*\/mysqld", "spawn", "\/bin\/ls"/,
    /execve\("\/bin\/ls", \["\/bin\/ls"/,
  ],
  "system-user-login": [
    { seq: [/setresuid\(1, 1, 1\) = 0/, /execve\("\/bin\/login", \["\/bin\/login"\]/] },
  ],
  "exec-from-dev-shm": [/execve\("\/dev\/shm\/saker-sim-[0-9a-f]+\/saker-shm-exec", .*\) = 0/],
  "fileless-exec-memfd": [{
    seq: [
      /memfd_create\("saker-fileless", 0\) = \d+/,
      /execve\("\/proc\/self\/fd\/\d+", \["saker-fileless", "noop"\].*\) = 0/,
    ],
  }],
  "ptrace-attach": [/ptrace\(PTRACE_ATTACH, \d+\)/],
  "ptrace-anti-debug": [/ptrace\(PTRACE_TRACEME\)/],
  "proc-mem-write": [/openat\(AT_FDCWD, "\/proc\/\d+\/mem", O_RDWR\|O_CLOEXEC\) = \d+/],
  "crypto-miner-args": [/execve\("[^"]*\/kworkerds", \[.*"stratum\+tcp:\/\/203\.0\.113\.10:3333"/],
  "load-kernel-module": [/finit_module\(\d+, "", 0\)/],
  "setns-join": [/setns\(\d+, CLONE_NEWNET\) = 0/],
  "system-binary-connects": [{
    seq: [
      /execve\("[^"]*\/ls", \["[^"]*\/ls", "connect"/,
      /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(80\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
    ],
  }],
  "ssh-non-standard-port": [{
    seq: [
      /execve\("[^"]*\/ssh", /,
      /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(443\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = (0|-1 EINPROGRESS)/,
    ],
  }],
  "reverse-shell": [{
    seq: [
      /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(4444\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
      /dup2\(\d+, 0\) = 0/,
      /execve\("\/bin\/sh", \["sh", "-c", "exit 0"\]/,
    ],
  }],
  "modify-shell-config": [new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.bashrc", O_WRONLY\\|O_APPEND`)],
  "read-shell-config": [new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.bashrc", O_RDONLY`)],
  "crontab-run": [/execve\("[^"]*\/crontab", \["[^"]*\/crontab", "noop"\]/],
  "hidden-file": [
    new RegExp(`openat\\(AT_FDCWD, ${Q}/\\.saker-hidden", O_WRONLY\\|O_CREAT\\|O_EXCL`),
  ],
  "package-repository-update": [
    /rename(at2?)?\(.*"\/etc\/apt\/sources\.list\.d\/saker-sim-[0-9a-f]+\.list".*\) = 0/,
  ],
  "write-below-root": [/openat\(AT_FDCWD, "\/saker-sim-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL/],
  "write-below-rpm-database": [
    /openat\(AT_FDCWD, "\/var\/lib\/rpm\/saker-sim-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL/,
  ],
  "write-below-monitored-dir": [
    /openat\(AT_FDCWD, "\/usr\/local\/lib\/saker-sim-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL/,
  ],
  "binary-dir-changes": [
    /mkdir(at)?\((AT_FDCWD, )?"\/usr\/bin\/saker-sim-[0-9a-f]+\.d", 0777\) = 0/,
    /openat\(AT_FDCWD, "\/usr\/bin\/saker-sim-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL/,
    /rename(at2?)?\((AT_FDCWD, )?"\/usr\/bin\/saker-sim-[0-9a-f]+", .*\) = 0/,
  ],
  "non-sudo-setuid": [{ seq: [/setresuid\(1, 1, 1\) = 0/, /setuid\(0\) = -1 EPERM/] }],
  "userfaultfd-unprivileged": [{ seq: [/setresuid\(1, 1, 1\) = 0/, /userfaultfd\(.*\) = \d+/] }],
  "sudoedit-exploit-args": [/execve\("[^"]*\/sudoedit", \["[^"]*\/sudoedit", "-s", "\\\\"\]/],
  "pkexec-no-args": [/execve\("[^"]*\/pkexec", \["[^"]*\/pkexec"\]/],
  "glibc-tunables-env": [/execve\("\/bin\/true", \["\/bin\/true"\]/],
  "http-proxy-env": [/execve\("[^"]*\/curl", \["[^"]*\/curl", "noop"\]/],
  "bpf-program-load": [/bpf\(BPF_PROG_LOAD, .*\) = -1 E/],
  "sshd-loads-backdoored-liblzma": [
    new RegExp(`openat\\(AT_FDCWD, ${Q}/liblzma\\.so\\.5\\.6\\.1", O_RDONLY`),
  ],
  "interactive-recon": [/execve\("[^"]*\/whoami", \["whoami"\]/],
  "known-miner-process": [/execve\("[^"]*\/xmrig", \["[^"]*\/xmrig", "noop"\]/],
  "web-server-spawns-tool": [
    /execve\("[^"]*\/nginx", \["[^"]*\/nginx", "spawn", "[^"]*\/id"\]/,
    /execve\("[^"]*\/id", \["[^"]*\/id"\]/,
  ],
  "web-server-reverse-shell": [
    /execve\("\/bin\/sh", \["\/bin\/sh", "-c", ": 'true bash -i >& \/dev\/tcp\//,
  ],
  "udp-unusual-port": [
    /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(5060\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
  ],
  "inbound-connection": [
    // The lab listener blocks in accept: strace shows the call and its result apart.
    /accept4?\(\d+, NULL, NULL/,
    /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(8081\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
  ],
  "interpreter-listens": [{ seq: [/execve\("[^"]*\/perl", /, /listen\(\d+, 1\) = 0/] }],
  "interpreter-connects": [{
    seq: [
      /execve\("[^"]*\/perl", /,
      /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(80\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
    ],
  }],
  "java-class-download": [{
    seq: [
      /execve\("[^"]*\/java", \["[^"]*\/java", "recv", "203\.0\.113\.10", "8080"\]/,
      /recvfrom\(\d+, .*, 256, 0, NULL, NULL\) = 8/,
    ],
  }],
  "dropped-binary-chain": [
    /openat\(AT_FDCWD, "\/tmp\/saker-sim-drop-[0-9a-f]+\/update-agent", O_WRONLY\|O_CREAT\|O_TRUNC/,
    /fchmodat\(AT_FDCWD, "\/tmp\/saker-sim-drop-[0-9a-f]+\/update-agent", 0755\) = 0/,
    /execve\("\/tmp\/saker-sim-drop-[0-9a-f]+\/update-agent", \[.*"noop"\].*\) = 0/,
  ],
  "service-shell-connects": [
    /execve\("[^"]*\/nginx", \["[^"]*\/nginx", "spawn", "\/bin\/sh", "-c"/,
    /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(80\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
  ],
  "credential-read-connects": [
    { seq: [/execve\("[^"]*\/cat", /, /openat\(AT_FDCWD, "[^"]*\/\.kube\/config", O_RDONLY/] },
    /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(443\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
  ],
  // One process, 25 ports in turn, each refused.
  "port-scan": [{
    seq: Array.from({ length: 25 }, (_, i) =>
      new RegExp(
        String.raw`connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(${2001 + i}\), ` +
          String.raw`sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = -1 ECONNREFUSED`,
      )),
  }],
  "netcat-exec-host": [{
    seq: [
      /execve\("[^"]*\/nc", /,
      /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(4444\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
      /dup2\(\d+, 0\) = 0/,
      /execve\("\/bin\/true"/,
    ],
  }],
};

const SIMULATE = [Deno.execPath(), "run", "-A", `${REPO_ROOT}src/main.ts`, "simulate", "--json"];

async function simulate(names: string[], prefix: string[] = []) {
  const argv = [...prefix, ...SIMULATE, ...names];
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const err = new TextDecoder().decode(out.stderr);
  let reports: ActionReport[];
  try {
    reports = JSON.parse(text).reports;
  } catch {
    throw new Error(`simulate printed no JSON (exit ${out.code}): ${err}\n${text}`);
  }
  return { code: out.code, reports, stderr: err };
}

/** Files, namespaces and containers an action could leave behind. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (
    const dir of [
      "/etc",
      "/etc/apt",
      "/etc/apt/sources.list.d",
      "/usr/bin",
      "/usr/local/lib",
      "/var/lib/rpm",
      "/var/tmp",
      "/home",
      "/",
      "/dev",
      "/dev/shm",
      "/tmp",
    ]
  ) {
    let entries;
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      continue; // absent here
    }
    for (const e of entries) {
      if (e.name.startsWith("saker-sim-") && !e.name.startsWith("saker-sim-image")) {
        found.push(`${dir}/${e.name}`);
      }
    }
  }
  const loops = await new Deno.Command("losetup", { args: ["-a"], stdout: "piped" }).output()
    .catch(() => undefined);
  for (const l of new TextDecoder().decode(loops?.stdout).split("\n")) {
    if (l.includes("saker-sim-")) found.push(`loop device ${l}`);
  }
  const ns = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  for (const l of new TextDecoder().decode(ns.stdout).split("\n")) {
    if (l.startsWith("ssim")) found.push(`netns ${l.split(" ")[0]}`);
  }
  if (await which("podman")) {
    const ps = await new Deno.Command("podman", {
      args: ["ps", "-a", "--format", "{{.Names}}"],
      stdout: "piped",
    }).output();
    for (const n of new TextDecoder().decode(ps.stdout).split("\n")) {
      if (n.startsWith("saker-sim-")) found.push(`container ${n}`);
    }
  }
  return found;
}

const HOST = ACTIONS.filter((a) => a.kind === "host");
const CONTAINER = ACTIONS.filter((a) => a.kind === "container");

Deno.test("simulate: every host action has a system call check here", () => {
  assertEquals(HOST.map((a) => a.name).filter((n) => !SYSCALLS[n]), []);
});

Deno.test({
  name: "simulate: host actions make their system calls (strace -f) and leave nothing behind",
  ignore: needsRoot(),
  async fn(t) {
    const strace = await which("strace");
    assert(strace, "strace is needed (scripts/setup.sh test installs it)");
    await buildHelper();
    const before = await leftovers();
    for (const action of HOST) {
      await t.step(action.name, async () => {
        const log = await Deno.makeTempFile({ prefix: "saker-strace-" });
        try {
          const { reports } = await simulate([action.name], [
            strace,
            "-f",
            "-qq",
            "-s",
            "256",
            "-e",
            `trace=${TRACED}`,
            "-o",
            log,
          ]);
          assertEquals(reports.length, 1);
          const r = reports[0];
          assertEquals(r.status, "ok", `${action.name}: ${r.reason}`);
          const trace = await Deno.readTextFile(log);
          for (const check of SYSCALLS[action.name]) {
            const what = check instanceof RegExp ? String(check) : check.seq.join(" then ");
            assert(
              passes(trace, check),
              `${action.name}: the trace lacks ${what}; its lines of those calls:\n` +
                relevantLines(trace, check).join("\n"),
            );
          }
          for (const key of action.expect) {
            assert(key in r.facts, `${action.name}: fact ${key} missing from the report`);
          }
          for (const t of action.falcoTargets ?? []) {
            for (const key of t.expect) {
              const facts = { ...r.facts, ...r.factsFor?.[t.rule] };
              assert(key in facts, `${action.name}: fact ${key} (for ${t.rule}) missing`);
            }
          }
        } finally {
          await Deno.remove(log);
        }
      });
    }
    assertEquals((await leftovers()).filter((l) => !before.includes(l)), []);
  },
});

Deno.test({
  name: "simulate: container actions report their in-container calls and clean up",
  ignore: needsRoot() || skipIf(!(await which("podman")), "podman is not installed"),
  async fn() {
    const before = await leftovers();
    const { reports } = await simulate(CONTAINER.map((a) => a.name));
    for (const r of reports) {
      assertEquals(r.status, "ok", `${r.action}: ${r.reason}`);
      assert(r.containerId && /^[0-9a-f]{64}$/.test(r.containerId), `${r.action}: container id`);
      assertEquals(r.facts["container.id"], r.containerId.slice(0, 12));
      assert(r.evidence.length > 0, `${r.action}: no evidence`);
    }
    assertEquals(reports.length, CONTAINER.length);
    assertEquals((await leftovers()).filter((l) => !before.includes(l)), []);
  },
});

Deno.test({
  name: "simulate: actions are idempotent (a second run succeeds too)",
  ignore: needsRoot(),
  async fn() {
    const names = selectActions([
      "write-below-etc",
      "hardlink-sensitive-file",
      "linker-preload-write",
      "system-binary-connects",
    ]).map((a) => a.name);
    for (let i = 0; i < 2; i++) {
      const { code, reports } = await simulate(names);
      assertEquals(code, 0);
      assertEquals(reports.map((r) => r.status), names.map(() => "ok"));
    }
  },
});
