/**
 * More network behaviours, each inside a private pair of network namespaces (netlab.ts): UDP
 * to an unusual port, a connection accepted from an address outside the allowed ones,
 * interpreters listening and connecting, a container reaching a Kubernetes NodePort. No packet
 * leaves the machine.
 *
 * @example
 * ```ts
 * const report = await runAction(NETWORK_MORE_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall, runCommand, which } from "../command.ts";
import { createNetLab, inNamespace } from "../netlab.ts";
import { IN_IMAGE } from "../podman.ts";
import { evidenceOf, expectExit, helperAs } from "./util.ts";
import { METADATA_EXPECT, metadataFacts, sleeper } from "./container.ts";

/** The first bytes of a Java class file: magic, minor and major version (Java 8). */
const CLASS_FILE_START = "cafebabe00000034";

/** Documentation range (TEST-NET-3): never routed on the internet. */
const LAB = { client: "203.0.113.1/24", server: "203.0.113.10/24" };

/** Network actions. */
export const NETWORK_MORE_ACTIONS: Action[] = [
  {
    name: "udp-unusual-port",
    technique: "TA0011",
    summary: "sends a UDP datagram to 203.0.113.10:5060 (lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: [],
    falcoTargets: [
      incubating("Unexpected UDP Traffic", "fd.name", "fd.l4proto", "fd.rport", "proc.name"),
    ],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [] });
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, await ctx.helper(), "connect", lab.serverIp, "5060", "udp"),
      );
      requireCall(r, "connect", true);
      const local = requireCall(r, "getsockname", true).args;
      return {
        facts: {
          "fd.name": `${local}->${lab.serverIp}:5060`,
          "fd.l4proto": "udp",
          "fd.rport": 5060,
          "proc.name": "saker-sim",
        },
        evidence: evidenceOf(r, "saker-sim connect udp"),
      };
    },
  },
  {
    name: "inbound-connection",
    technique: "TA0011",
    summary: "a server in a lab namespace accepts a TCP connection from 203.0.113.1",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: [],
    falcoTargets: [
      sandbox("Unexpected inbound connection source", "fd.name", "proc.name"),
    ],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [8081] });
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, await ctx.helper(), "connect", lab.serverIp, "8081", "tcp"),
      );
      requireCall(r, "connect", true);
      const local = requireCall(r, "getsockname", true).args;
      return {
        facts: {
          "fd.name": `${local}->${lab.serverIp}:8081`,
          "proc.name": "saker-sim",
        },
        evidence: evidenceOf(r, "saker-sim connect (accepted by the lab server)"),
      };
    },
  },
  {
    name: "interpreter-listens",
    technique: "TA0011",
    summary: "perl listens on 203.0.113.10:8080 (lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: [],
    falcoTargets: [
      sandbox("Interpreted procs inbound network activity", "proc.name", "evt.type"),
    ],
    async run(ctx) {
      const perl = await which("perl");
      if (!perl) throw new Error("perl is not installed");
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [] });
      const code =
        `use IO::Socket::INET; IO::Socket::INET->new(LocalAddr => "${lab.serverIp}:8080", ` +
        `Listen => 1, ReuseAddr => 1) or die "listen: $!"; print "listening\\n";`;
      const r = await runCommand("ip", inNamespace(lab.serverNs, perl, "-e", code));
      expectExit(r, "perl listen");
      return {
        facts: { "proc.name": "perl", "evt.type": "listen" },
        evidence: evidenceOf(r, "perl listen"),
      };
    },
  },
  {
    name: "interpreter-connects",
    technique: "TA0011",
    summary: "perl connects to 203.0.113.10:80 (lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: [],
    falcoTargets: [
      sandbox(
        "Interpreted procs outbound network activity",
        "fd.name",
        "proc.name",
        "evt.type",
      ),
    ],
    async run(ctx) {
      const perl = await which("perl");
      if (!perl) throw new Error("perl is not installed");
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [80] });
      const code = `use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => ` +
        `"${lab.serverIp}:80", Proto => "tcp") or die "connect: $!"; ` +
        `print $s->sockhost, ":", $s->sockport, "\\n";`;
      const r = await runCommand("ip", inNamespace(lab.clientNs, perl, "-e", code));
      expectExit(r, "perl connect");
      const local = r.stdout.trim();
      return {
        facts: {
          "fd.name": `${local}->${lab.serverIp}:80`,
          "proc.name": "perl",
          "evt.type": "connect",
        },
        evidence: evidenceOf(r, "perl connect"),
      };
    },
  },
  {
    name: "java-class-download",
    technique: "T1190",
    summary: "a process named java receives a Java class file (bytes CAFEBABE...) over TCP from " +
      "203.0.113.10:8080 (lab namespace), as after a Log4Shell lookup",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    expect: [],
    falcoTargets: [
      sandbox(
        "Java Process Class File Download",
        "fd.sip",
        "fd.sport",
        "proc.name",
        "evt.type",
      ),
    ],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), {
        ...LAB,
        ports: [8080],
        payload: CLASS_FILE_START,
      });
      const java = await helperAs(ctx, "java");
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, java, "recv", lab.serverIp, "8080"),
      );
      requireCall(r, "connect", true);
      const got = requireCall(r, "recvfrom", true);
      if (Number(got.result) < 4) throw new Error(`received ${got.result} bytes`);
      return {
        facts: {
          "fd.sip": lab.serverIp,
          "fd.sport": 8080,
          "proc.name": "java",
          "evt.type": "recvfrom",
        },
        evidence: evidenceOf(r, "java recv"),
      };
    },
  },
  {
    name: "container-nodeport",
    technique: "T1205.001",
    summary: "a container connects to a NodePort (203.0.113.10:30080, lab namespace)",
    kind: "container",
    needs: ["root", "podman", "gcc", "netns"],
    expect: [],
    falcoTargets: [
      sandbox("Unexpected K8s NodePort Connection", "fd.name", "proc.name", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), { ...LAB, ports: [30080] });
      const c = await sleeper(ctx, "nodeport", ["--network", `ns:${lab.clientNsPath}`]);
      const r = await c.exec([IN_IMAGE.helper, "connect", lab.serverIp, "30080", "tcp"]);
      requireCall(r, "connect", true);
      const local = requireCall(r, "getsockname", true).args;
      return {
        facts: {
          "fd.name": `${local}->${lab.serverIp}:30080`,
          "proc.name": "saker-sim",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim connect"),
      };
    },
  },
];
