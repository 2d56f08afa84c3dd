/**
 * What an intruder does inside a container once in: package managers, network and copy tools,
 * Kubernetes clients, decoding payloads, reading other processes' environments, copying files
 * out with tar, mounting in a privileged container, new executables (drift), writing through
 * /proc/self/fd, raw block devices and host directories mounted in. Each action starts its
 * own container from the simulator's image (busybox applets, and copies of the helper named
 * like the tools rules know) without network, and removes it.
 *
 * @example
 * ```ts
 * const report = await runAction(CONTAINER_TOOL_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall } from "../command.ts";
import { IN_IMAGE, runOnce } from "../podman.ts";
import { evidenceOf, expectExit } from "./util.ts";
import { METADATA_EXPECT, metadataFacts, NO_NET, sleeper } from "./container.ts";

/** Runs one command in a new container (no network) and reports it under `proc.name`. */
function execIn(
  label: string,
  command: string[],
  procName: string,
  opts: { flags?: string[]; accept?: number[] } = {},
): Action["run"] {
  return async (ctx) => {
    const c = await sleeper(ctx, label, opts.flags ?? NO_NET);
    const r = await c.exec(command);
    expectExit(r, command.join(" "), opts.accept ?? [0]);
    return {
      facts: { "proc.name": procName, "evt.type": "execve", ...metadataFacts(c.id, c.name) },
      containerId: c.id,
      evidence: evidenceOf(r, `podman exec ${command.join(" ")}`),
    };
  };
}

const CONTAINER = ["root", "podman", "gcc"] as Action["needs"];

/** Container tool actions. */
export const CONTAINER_TOOL_ACTIONS: Action[] = [
  {
    name: "container-package-manager",
    technique: "T1505",
    summary: "runs dpkg -l (busybox) inside a running container",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating("Launch Package Management Process in Container", "proc.name", ...METADATA_EXPECT),
    ],
    // busybox's dpkg finds no package database in the image (exit 1): it ran all the same.
    run: execIn("pkg", ["dpkg", "-l"], "dpkg", { accept: [0, 1] }),
  },
  {
    name: "container-remote-copy-tool",
    technique: "T1020",
    summary: "runs a program named rsync inside a container (a copy of the helper)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating("Launch Remote File Copy Tools in Container", "proc.name", ...METADATA_EXPECT),
    ],
    run: execIn("rsync", [IN_IMAGE.rsync, "noop"], "rsync"),
  },
  {
    name: "container-wget",
    technique: "TA0011",
    summary: "wget -O /dev/null http://203.0.113.10/ inside a container without network " +
      "(fails at once)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating(
        "Launch Ingress Remote File Copy Tools in Container",
        "proc.name",
        ...METADATA_EXPECT,
      ),
    ],
    // (busybox's wget crashes with -T; without network it fails at once anyway)
    run: execIn("wget", ["wget", "-q", "-O", "/dev/null", "http://203.0.113.10/"], "wget", {
      accept: [1],
    }),
  },
  {
    name: "container-kubectl",
    technique: "T1610",
    summary: "runs a program named kubectl inside a container (a copy of the helper)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox("Kubernetes Client Tool Launched in Container", "proc.name", ...METADATA_EXPECT),
    ],
    run: execIn("kubectl", [IN_IMAGE.kubectl, "noop"], "kubectl"),
  },
  {
    name: "container-base64-decode",
    technique: "T1132",
    summary: "decodes a base64 payload file with base64 -d inside a container",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox("Decoding Payload in Container", "proc.name", "proc.cmdline", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "b64");
      const mk = await c.exec(["sh", "-c", "echo c2FrZXIK > /tmp/payload.b64"]);
      expectExit(mk, "write /tmp/payload.b64");
      // Run by podman exec itself: busybox's sh would run the applet as /proc/self/exe, whose
      // process the kernel (and so Falco) names "exe".
      const r = await c.exec(["base64", "-d", "/tmp/payload.b64"]);
      expectExit(r, "base64 -d");
      if (!r.stdout.includes("saker")) throw new Error(`base64 did not decode: ${r.stdout}`);
      return {
        facts: {
          "proc.name": "base64",
          "proc.cmdline": "base64 -d /tmp/payload.b64",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec base64 -d /tmp/payload.b64"),
      };
    },
  },
  {
    name: "container-npm-network-tool",
    technique: "T1195.002",
    summary: "a program named npm starts nc inside a container, as an install script would",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox(
        "Network Tool Executed During NPM Package Install",
        "proc.name",
        "proc.pname",
        ...METADATA_EXPECT,
      ),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "npm");
      const r = await c.exec([IN_IMAGE.npm, "spawn", "/bin/nc", "-w", "1", "203.0.113.10", "80"]);
      requireCall(r, "execve", true);
      return {
        facts: { "proc.name": "nc", "proc.pname": "npm", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec npm spawn nc"),
      };
    },
  },
  {
    name: "container-read-environ",
    technique: "T1083",
    summary: "reads /proc/1/environ inside a container (another process's environment)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating(
        "Read environment variable from /proc files",
        "fd.name",
        "proc.name",
        ...METADATA_EXPECT,
      ),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "environ");
      const r = await c.exec(["cat", "/proc/1/environ"]);
      expectExit(r, "cat /proc/1/environ");
      return {
        facts: { "fd.name": "/proc/1/environ", "proc.name": "cat", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: [`podman exec cat /proc/1/environ: exit ${r.code}`],
      };
    },
  },
  {
    name: "container-tar-copy-out",
    technique: "TA0010",
    summary: "tar reads a file of a container through podman exec, as kubectl cp copies files " +
      "out",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating(
        "Exfiltrating Artifacts via Kubernetes Control Plane",
        "fd.name",
        "proc.name",
        ...METADATA_EXPECT,
      ),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "tar");
      const mk = await c.exec(["sh", "-c", "echo token > /tmp/app-secret.txt"]);
      expectExit(mk, "create /tmp/app-secret.txt");
      const r = await c.exec(["tar", "cf", "-", "/tmp/app-secret.txt"]);
      expectExit(r, "tar cf -");
      return {
        facts: {
          "fd.name": "/tmp/app-secret.txt",
          "proc.name": "tar",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: [`podman exec tar cf - /tmp/app-secret.txt: exit ${r.code}`],
      };
    },
  },
  {
    name: "container-privileged-mount",
    technique: "T1611",
    summary: "mount -t tmpfs in a privileged container (inside its own mount namespace)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating(
        "Mount Launched in Privileged Container",
        "proc.name",
        "proc.cmdline",
        ...METADATA_EXPECT,
      ),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "mount", [...NO_NET, "--privileged"]);
      const r = await c.exec(["mount", "-t", "tmpfs", "saker-sim", "/tmp"]);
      expectExit(r, "mount -t tmpfs");
      return {
        facts: {
          "proc.name": "mount",
          "proc.cmdline": "mount -t tmpfs saker-sim /tmp",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec mount -t tmpfs saker-sim /tmp"),
      };
    },
  },
  {
    name: "capable-container",
    technique: "T1610",
    summary: "podman run --cap-add SYS_ADMIN (not privileged; the entry process exits at once)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      incubating("Launch Excessively Capable Container", "proc.name", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const { id, name, result } = await runOnce(
        ctx.ws,
        await ctx.image(),
        "capable",
        [IN_IMAGE.helper, "noop"],
        [...NO_NET, "--cap-add", "SYS_ADMIN"],
      );
      expectExit(result, "podman run --cap-add SYS_ADMIN");
      return {
        facts: { "proc.name": "saker-sim", ...metadataFacts(id, name) },
        containerId: id,
        evidence: evidenceOf(result, "podman run --cap-add SYS_ADMIN"),
      };
    },
  },
  {
    name: "container-drift-chmod",
    technique: "T1059",
    summary: "makes a new file executable with chmod +x inside a container",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox("Container Drift Detected (chmod)", "evt.arg.filename", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "chmod");
      const r = await c.exec(["sh", "-c", "echo true > /tmp/tool && chmod +x /tmp/tool"]);
      expectExit(r, "chmod +x");
      return {
        facts: { "evt.arg.filename": "/tmp/tool", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec chmod +x /tmp/tool"),
      };
    },
  },
  {
    name: "container-write-proc-self-fd",
    technique: "T1611",
    summary: "opens /proc/self/fd/1 for writing inside a container (the CVE-2019-5736 path " +
      "pattern; writes nothing)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox("Modify Container Entrypoint", "fd.name", "proc.name", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "selffd");
      const r = await c.exec([IN_IMAGE.helper, "open", "/proc/self/fd/1", "w"]);
      requireCall(r, "openat", true);
      return {
        facts: {
          "fd.name": "/proc/self/fd/1",
          "proc.name": "saker-sim",
          ...metadataFacts(c.id, c.name),
        },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim open /proc/self/fd/1"),
      };
    },
  },
  {
    name: "container-block-device",
    technique: "T1611",
    summary: "opens a block-device path (/dev/sdz, the host's /dev/null mapped in) for reading",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox("Privileged Container Device Access", "fd.name", "proc.name", ...METADATA_EXPECT),
    ],
    async run(ctx) {
      const c = await sleeper(ctx, "blockdev", [...NO_NET, "--device", "/dev/null:/dev/sdz"]);
      const r = await c.exec([IN_IMAGE.helper, "open", "/dev/sdz", "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": "/dev/sdz", "proc.name": "saker-sim", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec saker-sim open /dev/sdz"),
      };
    },
  },
  {
    name: "container-host-path",
    technique: "T1611",
    summary: "reads a file below /host inside a container (a workspace directory mounted there)",
    kind: "container",
    needs: CONTAINER,
    expect: [],
    falcoTargets: [
      sandbox(
        "Container Access to Host Sensitive Paths",
        "fd.name",
        "proc.name",
        ...METADATA_EXPECT,
      ),
    ],
    async run(ctx) {
      const dir = ctx.ws.path("hostfs");
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/hostname`, "simulated-host\n");
      const c = await sleeper(ctx, "hostpath", [...NO_NET, "-v", `${dir}:/host:ro`]);
      const r = await c.exec(["cat", "/host/hostname"]);
      expectExit(r, "cat /host/hostname");
      return {
        facts: { "fd.name": "/host/hostname", "proc.name": "cat", ...metadataFacts(c.id, c.name) },
        containerId: c.id,
        evidence: evidenceOf(r, "podman exec cat /host/hostname"),
      };
    },
  },
];
