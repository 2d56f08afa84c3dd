/**
 * Network behaviours on the host: outbound connections by programs that never talk to the
 * network, ssh to odd ports, netcat running a program for its peer. Each one runs inside a
 * private pair of network namespaces (see netlab.ts): no packet leaves the machine.
 *
 * @example
 * ```ts
 * const report = await runAction(NETWORK_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall, runCommand, which } from "../command.ts";
import { createNetLab, inNamespace } from "../netlab.ts";
import { evidenceOf, expectExit, helperAs } from "./util.ts";

/** Documentation range (TEST-NET-3): never routed on the internet. */
const LAB = { client: "203.0.113.1/24", server: "203.0.113.10/24" };

/** Host network actions. */
export const NETWORK_ACTIONS: Action[] = [
  {
    name: "system-binary-connects",
    rule: "Outbound connection by system utility",
    technique: "T1036.005",
    summary: "a program named ls opens a TCP connection to 203.0.113.10:80 (lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: ["proc.name", "proc.pid", "fd.sip", "fd.sport"],
    falcoTargets: [
      incubating("System procs network activity", "fd.name", "fd.l4proto", "proc.name", "evt.type"),
    ],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [80] });
      const ls = await helperAs(ctx, "ls");
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, ls, "connect", lab.serverIp, "80", "tcp"),
      );
      requireCall(r, "connect", true);
      const local = requireCall(r, "getsockname", true).args;
      return {
        facts: {
          "proc.name": "ls",
          "proc.pid": r.pid,
          "fd.sip": lab.serverIp,
          "fd.sport": 80,
          "fd.name": `${local}->${lab.serverIp}:80`,
          "fd.l4proto": "tcp",
          "evt.type": "connect",
        },
        evidence: evidenceOf(r, "ls connect"),
      };
    },
  },
  {
    name: "ssh-non-standard-port",
    rule: "SSH connection to non-standard port",
    falcoRule: "Disallowed SSH Connection Non Standard Port",
    technique: "T1571",
    summary: "ssh connects to 203.0.113.10 on port 443 (lab namespace; the server hangs up)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: ["proc.name", "fd.l4proto", "fd.sport"],
    falcoExpect: ["proc.name", "fd.l4proto"],
    async run(ctx) {
      const ssh = await which("ssh");
      if (!ssh) throw new Error("ssh client not installed");
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [443] });
      const r = await runCommand(
        "ip",
        inNamespace(
          lab.clientNs,
          ssh,
          "-F",
          "/dev/null",
          "-o",
          "BatchMode=yes",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "ConnectTimeout=5",
          "-p",
          "443",
          `simulated@${lab.serverIp}`,
          "true",
        ),
        { timeoutMs: 15_000 },
      );
      // The lab listener closes at once, so ssh fails after connecting: that is the point.
      if (!/closed|reset|kex_exchange/i.test(r.stderr)) {
        throw new Error(`ssh did not reach the lab server (exit ${r.code}): ${r.stderr.trim()}`);
      }
      return {
        facts: { "proc.name": "ssh", "fd.l4proto": "tcp", "fd.sport": 443, "proc.pid": r.pid },
        evidence: evidenceOf(r, "ssh -p 443"),
      };
    },
  },
  {
    name: "netcat-exec-host",
    rule: "Netcat command execution on host",
    technique: "T1059.004",
    summary: "nc 203.0.113.10 4444 -e /bin/true (busybox nc; lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: ["proc.name", "proc.pid"],
    falcoTargets: [
      incubating("Launch Suspicious Network Tool on Host", "proc.name"),
      sandbox("Netcat/Socat Remote Code Execution on Host", "proc.name", "proc.cmdline"),
    ],
    async run(ctx) {
      const busybox = await which("busybox");
      if (!busybox) throw new Error("busybox not installed");
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [4444] });
      const nc = ctx.ws.path("nc");
      await Deno.symlink(busybox, nc);
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, nc, "-w", "3", lab.serverIp, "4444", "-e", "/bin/true"),
        { timeoutMs: 15_000 },
      );
      expectExit(r, "nc -e");
      return {
        facts: {
          "proc.name": "nc",
          "proc.pid": r.pid,
          "proc.cmdline": `nc -w 3 ${lab.serverIp} 4444 -e /bin/true`,
        },
        evidence: evidenceOf(r, "nc -e"),
      };
    },
  },
  {
    name: "reverse-shell",
    rule: "Shell with network socket as standard input",
    technique: "T1059.004",
    summary: "connects to 203.0.113.10:4444 and runs sh with the socket as stdin/stdout (lab)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: ["proc.name", "proc.pid", "proc.stdin.type"],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [4444] });
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, await ctx.helper(), "reverse-shell", lab.serverIp, "4444"),
        { timeoutMs: 15_000 },
      );
      requireCall(r, "dup2", true);
      // The helper becomes the shell (same pid); the shell exits at once.
      expectExit(r, "reverse shell");
      return {
        facts: { "proc.name": "sh", "proc.pid": r.pid, "proc.stdin.type": "ipv4" },
        evidence: evidenceOf(r, "saker-sim reverse-shell"),
      };
    },
  },
];
