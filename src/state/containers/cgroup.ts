/**
 * Container ids from cgroup paths. Every common runtime puts a container's processes in a
 * cgroup whose last component names the container by its 64-hex id:
 *
 * | runtime | cgroup path (cgroupfs or systemd driver) |
 * |---|---|
 * | docker | `/docker/<id>`, `/system.slice/docker-<id>.scope` |
 * | podman | `/libpod_parent/libpod-<id>`, `/machine.slice/libpod-<id>.scope` |
 * | containerd (CRI) | `/kubepods/.../pod<uid>/<id>`, `.../cri-containerd-<id>.scope` |
 * | cri-o | `/kubepods/.../crio-<id>.scope`, `/crio-<id>` |
 *
 * The runtimes' monitor processes (`libpod-conmon-<id>`, `crio-conmon-<id>`) are not in the
 * container.
 *
 * @example
 * ```ts
 * import { containerFromCgroups } from "./cgroup.ts";
 * containerFromCgroups(["cpu=/libpod_parent/libpod-" + "a".repeat(64)]);
 * // { id: "aaaa…", type: "podman" }
 * ```
 * @module
 */

/** A container id found in a cgroup path, and the runtime the path's shape points to. */
export interface CgroupContainer {
  id: string;
  type: string;
}

const ID_RE =
  /(?:^|\/)(docker-|libpod-|cri-containerd-|crio-|containerd-)?([0-9a-f]{64})(?:\.scope)?(?:\/|$)/;

/** Finds the container id in one cgroup path, if any. */
export function containerFromPath(path: string): CgroupContainer | undefined {
  if (path.length < 64) return undefined;
  const m = ID_RE.exec(path);
  if (!m) return undefined;
  const prefix = m[1] ?? "";
  const id = m[2];
  let type: string;
  if (prefix === "docker-" || path.includes("/docker/")) type = "docker";
  else if (prefix === "libpod-" || path.includes("libpod")) type = "podman";
  else if (prefix === "crio-" || path.includes("crio")) type = "cri-o";
  else if (prefix === "cri-containerd-" || prefix === "containerd-") type = "containerd";
  else if (path.includes("kubepods")) type = "containerd";
  else type = "docker";
  return { id, type };
}

/**
 * Finds the container of a process from its cgroup entries (`controller=path`, or bare paths).
 * Undefined for host processes.
 */
export function containerFromCgroups(cgroups: readonly string[]): CgroupContainer | undefined {
  for (const cg of cgroups) {
    const eq = cg.indexOf("=/");
    const path = eq >= 0 ? cg.slice(eq + 1) : cg;
    if (path.includes("conmon")) continue;
    const found = containerFromPath(path);
    if (found) return found;
  }
  return undefined;
}
