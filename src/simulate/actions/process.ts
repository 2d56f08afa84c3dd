/**
 * Execution and defence evasion: shells and children of servers, fileless and /dev/shm
 * execution, debugging tricks, miners, logins by service accounts.
 *
 * @example
 * ```ts
 * const report = await runAction(PROCESS_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall, runCommand } from "../command.ts";
import { randomSuffix, removeIfPresent } from "../workspace.ts";
import { evidenceOf, expectExit, helperAs, runHelper } from "./util.ts";

/** Process actions. */
export const PROCESS_ACTIONS: Action[] = [
  {
    name: "server-spawns-shell",
    rule: "Shell spawned by untrusted program",
    falcoRule: "Run shell untrusted",
    technique: "T1059.004",
    summary: "a process named httpd runs `sh -c 'ls > /dev/null'`, as a web shell would",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.name", "proc.pname", "proc.ppid"],
    falcoExpect: ["proc.name", "proc.pname"],
    falcoTargets: [sandbox("Web Server Spawned Shell", "proc.name", "proc.pname")],
    async run(ctx) {
      const httpd = await helperAs(ctx, "httpd");
      const r = await runCommand(httpd, ["spawn", "/bin/sh", "-c", "ls > /dev/null"]);
      requireCall(r, "execve", true);
      return {
        facts: { "proc.name": "sh", "proc.pname": "httpd", "proc.ppid": r.pid },
        evidence: evidenceOf(r, "httpd spawn"),
      };
    },
  },
  {
    name: "database-spawns-process",
    rule: "Unexpected child of server process",
    technique: "T1190",
    summary: "a process named mysqld starts /bin/ls",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.name", "proc.pname", "proc.ppid"],
    falcoTargets: [incubating("DB program spawned process", "proc.name", "proc.pname", "evt.type")],
    async run(ctx) {
      const mysqld = await helperAs(ctx, "mysqld");
      const r = await runCommand(mysqld, ["spawn", "/bin/ls", ctx.ws.dir]);
      requireCall(r, "execve", true);
      return {
        facts: {
          "evt.type": "execve",
          "proc.name": "ls",
          "proc.pname": "mysqld",
          "proc.ppid": r.pid,
        },
        evidence: evidenceOf(r, "mysqld spawn"),
      };
    },
  },
  {
    name: "system-user-login",
    rule: "Interactive command by system user",
    falcoRule: "System user interactive",
    technique: "T1078.003",
    summary: "runs /bin/login as the service account daemon (login refuses; the start is seen)",
    kind: "host",
    needs: ["root"],
    expect: ["user.name", "proc.name", "proc.pid"],
    falcoExpect: ["user.name", "proc.name"],
    falcoTargets: [incubating("User mgmt binaries", "proc.name", "evt.type")],
    async run(_ctx) {
      const r = await runCommand("setpriv", [
        "--reuid=daemon",
        "--regid=daemon",
        "--clear-groups",
        "/bin/login",
      ]);
      // login exits 1 ("cannot possibly work without effective root"): that is expected.
      expectExit(r, "setpriv login", [0, 1]);
      if (!/login/.test(r.stderr + r.stdout)) throw new Error(`login did not run: ${r.stderr}`);
      return {
        facts: {
          "user.name": "daemon",
          "proc.name": "login",
          "proc.pid": r.pid,
          "evt.type": "execve",
        },
        evidence: evidenceOf(r, "setpriv login"),
      };
    },
  },
  {
    name: "exec-from-dev-shm",
    rule: "Program executed from /dev/shm",
    falcoRule: "Execution from /dev/shm",
    // Written, made executable and run from a world-writable directory: a dropped binary too.
    alongside: ["Dropped binary executed"],
    technique: "T1059.004",
    summary: "copies a program into /dev/shm and runs it from there (removed after)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.exe", "proc.name", "proc.pid"],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const dir = `/dev/shm/saker-sim-${randomSuffix()}`;
      ctx.ws.defer(() => removeIfPresent(dir));
      await Deno.mkdir(dir, { mode: 0o700 });
      const exe = `${dir}/saker-shm-exec`;
      await Deno.copyFile(await ctx.helper(), exe);
      await Deno.chmod(exe, 0o755);
      const r = await runCommand(exe, ["noop"]);
      // 126 would mean /dev/shm is mounted noexec: the attempt is still what rules see.
      expectExit(r, exe, [0, 126]);
      return {
        facts: {
          "proc.exe": exe,
          "proc.name": "saker-shm-exec",
          "proc.pid": r.pid,
        },
        evidence: evidenceOf(r, "exec from /dev/shm"),
      };
    },
  },
  {
    name: "fileless-exec-memfd",
    rule: "Fileless execution from memory",
    falcoRule: "Fileless execution via memfd_create",
    technique: "T1620",
    summary: "copies a program into a memfd_create() file and executes it from memory",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.pid", "proc.is_exe_from_memfd"],
    falcoExpect: ["evt.arg.flags"],
    async run(ctx) {
      const r = await runHelper(ctx, ["memfd-exec"]);
      requireCall(r, "memfd_create", true);
      // The helper prints "exec from memfd" right before execve; the memory copy then exits 0.
      if (r.code !== 0 || !r.stdout.includes("exec from memfd")) {
        throw new Error(`memfd execution failed (${r.code}): ${r.stdout} ${r.stderr}`);
      }
      return {
        facts: {
          "proc.pid": r.pid,
          "proc.is_exe_from_memfd": true,
          "evt.arg.flags": "EXE_WRITABLE|EXE_FROM_MEMFD",
        },
        evidence: evidenceOf(r, "saker-sim memfd-exec"),
      };
    },
  },
  {
    name: "ptrace-attach",
    rule: "Process attached with ptrace",
    falcoRule: "PTRACE attached to process",
    technique: "T1055.008",
    summary: "attaches to a sleeping child with PTRACE_ATTACH, detaches, ends it",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.name", "proc.pid"],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const r = await runHelper(ctx, ["ptrace-attach"]);
      const call = requireCall(r, "ptrace");
      // EPERM happens when the helper is itself traced (e.g. under strace): the call was made.
      if (typeof call.result !== "number" && call.result !== "EPERM") {
        throw new Error(`ptrace failed: ${call.line}`);
      }
      return {
        facts: { "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim ptrace-attach"),
      };
    },
  },
  {
    name: "ptrace-anti-debug",
    rule: "Anti-debugging with ptrace",
    falcoRule: "PTRACE anti-debug attempt",
    technique: "T1622",
    summary: "calls ptrace(PTRACE_TRACEME), the classic check for an attached debugger",
    kind: "host",
    needs: ["gcc"],
    expect: ["proc.name", "proc.pid"],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const r = await runHelper(ctx, ["ptrace-traceme"]);
      requireCall(r, "ptrace");
      return {
        facts: { "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim ptrace-traceme"),
      };
    },
  },
  {
    name: "proc-mem-write",
    rule: "Process memory opened for writing",
    technique: "T1055.009",
    summary: "opens /proc/PID/mem of a child read-write, as code injectors do (writes nothing)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    async run(ctx) {
      const r = await runHelper(ctx, ["proc-mem"]);
      const call = requireCall(r, "openat", true);
      return {
        facts: { "fd.name": call.args, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim proc-mem"),
      };
    },
  },
  {
    name: "crypto-miner-args",
    rule: "Crypto miner pool address on command line",
    technique: "T1496",
    summary: "starts a program whose arguments name a stratum+tcp mining pool",
    kind: "host",
    needs: ["gcc"],
    expect: ["proc.name", "proc.pid"],
    falcoTargets: [
      sandbox("Detect crypto miners using the Stratum protocol", "proc.name", "evt.type"),
    ],
    async run(ctx) {
      const miner = await helperAs(ctx, "kworkerds");
      const r = await runCommand(miner, [
        "noop",
        "-o",
        "stratum+tcp://203.0.113.10:3333",
        "-u",
        "simulated-wallet",
      ]);
      expectExit(r, "kworkerds");
      return {
        facts: { "evt.type": "execve", "proc.name": "kworkerds", "proc.pid": r.pid },
        evidence: evidenceOf(r, "kworkerds"),
      };
    },
  },
  {
    name: "load-kernel-module",
    rule: "Kernel module load attempt",
    technique: "T1547.006",
    summary: "asks the kernel to load a file of zeros as a module with finit_module (refused)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.name", "proc.pid"],
    async run(ctx) {
      const blob = ctx.ws.path("payload.ko");
      await Deno.writeFile(blob, new Uint8Array(64));
      const r = await runHelper(ctx, ["finit-module", blob]);
      const call = requireCall(r, "finit_module");
      if (call.result === 0) throw new Error("the kernel accepted a file of zeros as a module");
      return {
        facts: { "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim finit-module"),
      };
    },
  },
  {
    name: "setns-join",
    rule: "Namespace changed with setns",
    technique: "T1611",
    summary: "joins a network namespace with setns (its own: nothing changes)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["proc.name", "proc.pid"],
    falcoTargets: [incubating("Change thread namespace", "proc.name", "evt.type")],
    async run(ctx) {
      const r = await runHelper(ctx, ["setns-self"]);
      requireCall(r, "setns", true);
      return {
        facts: { "evt.type": "setns", "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim setns-self"),
      };
    },
  },
];
