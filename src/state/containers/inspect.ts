/**
 * The Docker-compatible inspect answer (`GET /containers/ID/json`, docker and podman alike)
 * mapped to {@link ContainerInfo}.
 *
 * @example
 * ```ts
 * import { fromInspect } from "./inspect.ts";
 * fromInspect({ Id: "ab".repeat(32), Name: "/web", HostConfig: { Privileged: true } }, "docker")
 *   .privileged; // true
 * ```
 * @module
 */
import type { ContainerInfo, ContainerMount } from "../model.ts";
import { splitImage } from "./image.ts";

type Json = Record<string, unknown>;

const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? v as Json : {};
const s = (v: unknown): string => (typeof v === "string" ? v : "");

/** Maps a Docker-compatible `GET /containers/ID/json` answer to {@link ContainerInfo}. */
export function fromInspect(body: Json, type: string): ContainerInfo {
  const config = obj(body.Config);
  const host = obj(body.HostConfig);
  const state = obj(body.State);
  const net = obj(body.NetworkSettings);
  const image = s(config.Image) || s(body.ImageName);
  const split = splitImage(image);
  const mounts: ContainerMount[] = Array.isArray(body.Mounts)
    ? (body.Mounts as unknown[]).map((m) => {
      const o = obj(m);
      return {
        source: s(o.Source),
        dest: s(o.Destination),
        mode: s(o.Mode),
        rw: Boolean(o.RW),
        propagation: s(o.Propagation),
      };
    })
    : [];
  let ip = s(net.IPAddress);
  if (!ip) {
    for (const n of Object.values(obj(net.Networks))) {
      ip = s(obj(n).IPAddress);
      if (ip) break;
    }
  }
  const started = rfc3339Ns(s(state.StartedAt)) ?? rfc3339Ns(s(body.Created));
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(config.Labels))) labels[k] = String(v);
  const layers = obj(obj(body.GraphDriver).Data);
  const fsRoots = [s(layers.MergedDir), s(layers.UpperDir), ...s(layers.LowerDir).split(":")]
    .filter((d) => d.startsWith("/"));
  return {
    id: s(body.Id),
    type,
    name: s(body.Name).replace(/^\//, ""),
    image,
    imageId: s(body.Image).replace(/^sha256:/, "").slice(0, 12),
    imageRepository: split.repository,
    imageTag: split.tag,
    imageDigest: split.digest,
    privileged: Boolean(host.Privileged),
    mounts,
    labels,
    startTs: started,
    ip,
    hostPid: s(host.PidMode) === "host",
    hostNetwork: s(host.NetworkMode) === "host",
    hostIpc: s(host.IpcMode) === "host",
    fsRoots,
  };
}

const PROPAGATIONS = new Set(["private", "rprivate", "shared", "rshared", "slave", "rslave"]);

/**
 * What a podman container's OCI bundle (`config.json`) tells of it: privileged (podman's
 * annotation), the host namespaces it shares (those the spec does not create) and its mounts as
 * the inspect answer lists them (bind mounts, without the files podman makes for each container
 * in its own `userdata` directory: hosts, resolv.conf, hostname, shm). Undefined for a bundle
 * podman did not write.
 */
export function fromBundle(spec: Json): Partial<ContainerInfo> | undefined {
  const notes = obj(spec.annotations);
  if (s(notes["io.container.manager"]) !== "libpod") return undefined;
  const privileged = s(notes["io.podman.annotations.privileged"]);
  const namespaces = obj(spec.linux).namespaces;
  const own = new Set(
    (Array.isArray(namespaces) ? namespaces : []).map((n) => s(obj(n).type)),
  );
  const mounts: ContainerMount[] = [];
  for (const m of Array.isArray(spec.mounts) ? spec.mounts as unknown[] : []) {
    const o = obj(m);
    const options = Array.isArray(o.options) ? (o.options as unknown[]).map(s) : [];
    const bind = s(o.type) === "bind" || options.includes("bind") || options.includes("rbind");
    if (!bind || s(o.source).includes("/userdata/")) continue;
    mounts.push({
      source: s(o.source),
      dest: s(o.destination),
      mode: "",
      rw: !options.includes("ro"),
      propagation: options.find((x) => PROPAGATIONS.has(x)) ?? "rprivate",
    });
  }
  return {
    privileged: privileged === "" ? undefined : privileged === "TRUE",
    mounts,
    hostPid: !own.has("pid"),
    hostNetwork: !own.has("network"),
    hostIpc: !own.has("ipc"),
  };
}

/**
 * An RFC 3339 time with up to nanosecond fractions (`2026-12-02T19:10:05.149643559Z`) as ns
 * since the epoch; undefined for empty or zero times (`0001-01-01T00:00:00Z`, a container not
 * started yet).
 */
export function rfc3339Ns(text: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}
