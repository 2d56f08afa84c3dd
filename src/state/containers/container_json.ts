/**
 * Container metadata from the JSON that container events of capture files carry (and the
 * Docker-compatible inspect answer, which shares most keys). Both shapes map to
 * {@link ContainerInfo}.
 * @module
 */
import type { ContainerInfo, ContainerMount } from "../model.ts";
import { splitImage } from "./image.ts";

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Json : undefined;
}

function s(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Container kinds by the numeric codes old capture events use. */
const TYPE_CODES = ["docker", "lxc", "libvirt-lxc", "mesos", "rkt", "cri", "containerd", "cri-o"];

function mountsOf(v: unknown): ContainerMount[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.map((m) => {
    const o = obj(m) ?? {};
    return {
      source: s(o.Source) ?? s(o.source) ?? "",
      dest: s(o.Destination) ?? s(o.dest) ?? "",
      mode: s(o.Mode) ?? s(o.mode) ?? "",
      rw: Boolean(o.RW ?? o.rw ?? false),
      propagation: s(o.Propagation) ?? s(o.propagation) ?? "",
    };
  });
}

/** Parses a capture's container event JSON (`{"container": {...}}`). */
export function parseContainerEvent(json: string): ContainerInfo | undefined {
  let root: Json | undefined;
  try {
    root = obj(JSON.parse(json));
  } catch {
    return undefined;
  }
  const c = obj(root?.container) ?? root;
  if (!c) return undefined;
  const id = s(c.id) ?? s(c.Id);
  if (!id) return undefined;
  const typeRaw = c.type;
  const type = typeof typeRaw === "number" ? TYPE_CODES[typeRaw] ?? "unknown" : s(typeRaw) ?? "";
  const image = s(c.image) ?? "";
  const split = splitImage(image);
  const labels = obj(c.labels) as Record<string, string> | undefined;
  const created = c.created_time;
  return {
    id,
    type,
    name: s(c.name) ?? "",
    image,
    imageId: (s(c.imageid) ?? "").replace(/^sha256:/, "").slice(0, 12),
    imageRepository: s(c.imagerepo) ?? split.repository,
    imageTag: s(c.imagetag) ?? split.tag,
    imageDigest: s(c.imagedigest) ?? split.digest,
    privileged: Boolean(c.privileged ?? false),
    mounts: mountsOf(c.Mounts ?? c.mounts) ?? [],
    labels: labels ?? {},
    startTs: typeof created === "number" ? BigInt(created) * 1_000_000_000n : undefined,
    ip: s(c.ip),
  };
}
