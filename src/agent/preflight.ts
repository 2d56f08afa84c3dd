/**
 * Checks `saker run` makes before starting, so that a node agent deployed wrong stops with one
 * line saying what is missing and which key of the DaemonSet, the systemd unit or the podman
 * command line fixes it, instead of running with less than it needs:
 *
 * - the capabilities (BPF and PERFMON load the probe; SYS_PTRACE and DAC_READ_SEARCH read other
 *   processes' /proc entries, without which process and file state would be silently partial);
 * - the host root (SAKER_HOST_ROOT): mounted, with its /proc, and the host's PID namespace;
 * - the alert store's directory: writable;
 * - the container runtime's socket: absent means container metadata is off (said once, not
 *   fatal: a host without containers has none).
 *
 * The parsing is pure (tested with case tables); the checks read /proc/self and the file system.
 *
 * @example
 * ```ts
 * import { missingCapabilities } from "./preflight.ts";
 * missingCapabilities("00000000a80425fb"); // ["BPF", "PERFMON", "DAC_READ_SEARCH"]
 * ```
 * @module
 */

/** Capabilities the node agent needs, with their bit numbers and why. */
export const AGENT_CAPABILITIES: Readonly<Record<string, { bit: number; why: string }>> = {
  BPF: { bit: 39, why: "load the probe" },
  PERFMON: { bit: 38, why: "attach the probe to tracepoints" },
  SYS_PTRACE: { bit: 19, why: "read /proc/PID/{exe,cwd,fd,environ} of other processes" },
  DAC_READ_SEARCH: { bit: 2, why: "list /proc/PID/fd of processes of other users" },
};

const CAP_SYS_ADMIN = 21;

/** Where each deployment sets capabilities. */
export const CAPABILITY_KEYS =
  "Kubernetes: securityContext.capabilities.add; systemd: AmbientCapabilities= and " +
  "CapabilityBoundingSet=; podman: --cap-add";

/**
 * Capabilities missing from an effective set (CapEff of /proc/self/status, hex). CAP_SYS_ADMIN
 * stands in for BPF and PERFMON, as the kernel allows.
 */
export function missingCapabilities(capEffHex: string): string[] {
  const eff = BigInt(`0x${capEffHex.trim() || "0"}`);
  const has = (bit: number) => (eff >> BigInt(bit)) & 1n;
  const admin = has(CAP_SYS_ADMIN) === 1n;
  return Object.entries(AGENT_CAPABILITIES)
    .filter(([name, { bit }]) =>
      has(bit) === 0n && !(admin && (name === "BPF" || name === "PERFMON"))
    )
    .map(([name]) => name);
}

/** A field of /proc/self/status (`CapEff`, `Seccomp` ...), or undefined. */
export function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(\\S+)`, "m").exec(status)?.[1];
}

function selfStatus(): string {
  try {
    return Deno.readTextFileSync("/proc/self/status");
  } catch {
    return "";
  }
}

/** One line naming the missing capabilities and where to add them, or undefined. */
export function capabilityProblem(status = selfStatus()): string | undefined {
  const eff = statusField(status, "CapEff");
  if (eff === undefined) return undefined;
  const missing = missingCapabilities(eff);
  if (missing.length === 0) return undefined;
  const what = missing.map((c) => `CAP_${c} (${AGENT_CAPABILITIES[c].why})`).join(", ");
  return `missing capabilit${missing.length > 1 ? "ies" : "y"} ${what}: add ${
    missing.join(", ")
  } (${CAPABILITY_KEYS})`;
}

/**
 * Why the kernel may refuse bpf(2) although the capabilities are there: a seccomp filter (the
 * container runtime's default profile refuses it). Undefined when no filter is installed.
 */
export function seccompHint(status = selfStatus()): string | undefined {
  if (statusField(status, "Seccomp") !== "2") return undefined;
  return "a seccomp filter is installed and may refuse bpf(2): run with seccomp unconfined " +
    "(Kubernetes: securityContext.seccompProfile.type: Unconfined; podman: --security-opt " +
    "seccomp=unconfined)";
}

/** The host root from SAKER_HOST_ROOT: "/" when unset, else the path without a trailing "/". */
export function hostRootFrom(value: string | undefined): string {
  const v = (value ?? "").trim().replace(/\/+$/, "");
  return v === "" ? "/" : v;
}

/** `path` on the host, seen through the host root (`/proc` → `/host/proc`). */
export function onHost(root: string, path: string): string {
  return root === "/" ? path : `${root}${path}`;
}

/**
 * One line when the host root is not usable: not mounted, without its /proc, or not in the
 * host's PID namespace (the probe reports host pids; /proc must show the same ones).
 */
export function hostRootProblem(root: string, pid = Deno.pid): string | undefined {
  if (root === "/") return undefined;
  const fix = "mount the host's / there read-only (Kubernetes: a hostPath volume for / with " +
    "volumeMounts mountPath /host; podman: -v /:/host:ro) or unset SAKER_HOST_ROOT";
  try {
    if (!Deno.statSync(root).isDirectory) throw new Error("not a directory");
  } catch {
    return `host root ${root} (SAKER_HOST_ROOT) is not mounted: ${fix}`;
  }
  let self: string;
  try {
    self = Deno.readLinkSync(`${root}/proc/self`);
  } catch {
    return `host root ${root} (SAKER_HOST_ROOT) has no ${root}/proc: ${fix}`;
  }
  if (self !== String(pid)) {
    return `the agent is not in the host's PID namespace (it is pid ${pid} here, ${self} in ` +
      `${root}/proc): Kubernetes: hostPID: true; podman: --pid=host`;
  }
  return undefined;
}

/** One line when the directory of the alert store cannot be written, or undefined. */
export function stateDirProblem(storePath: string): string | undefined {
  const i = storePath.lastIndexOf("/");
  const dir = i <= 0 ? (i === 0 ? "/" : ".") : storePath.slice(0, i);
  const fix = "mount a writable volume there (Kubernetes: the DaemonSet's `state` volume; " +
    "systemd: StateDirectory=saker; podman: -v DIR:" + dir + ") or set alert_store.path";
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (err) {
    return `alert store directory ${dir} cannot be created (${(err as Error).message}): ${fix}`;
  }
  let probe: string | undefined;
  try {
    probe = Deno.makeTempFileSync({ dir, prefix: ".saker-write-check-" });
  } catch (err) {
    const why = err instanceof Deno.errors.PermissionDenied ||
        /read-only|EROFS|denied/i.test((err as Error).message)
      ? "is read-only"
      : `cannot be written (${(err as Error).message})`;
    return `alert store directory ${dir} ${why}: ${fix}`;
  } finally {
    if (probe) Deno.removeSync(probe);
  }
  return undefined;
}

/** The runtime sockets among `candidates` that exist (as sockets). */
export function presentSockets(candidates: readonly string[]): string[] {
  return candidates.filter((p) => {
    try {
      return Deno.statSync(p).isSocket === true;
    } catch {
      return false;
    }
  });
}
