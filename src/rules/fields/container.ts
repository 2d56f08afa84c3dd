/**
 * `container.*` fields: the container the process runs in. `container.id` comes from the
 * process's cgroup path and is known at once (`host` outside containers); the other fields come
 * from the runtime's API, fetched in the background, and are undefined (`<NA>`) until the
 * answer arrives. Mount selectors (`container.mount.dest[/var/run/docker.sock]`) give `<NA>`
 * when no mount matches.
 *
 * @example
 * ```ts
 * const f = lookupField("container.image.repository")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // "localhost/app" (host events: undefined)
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef, FieldResult } from "./registry.ts";
import type { ContainerInfo, ContainerMount, ProcessInfo } from "../../state/model.ts";
import { globMatch } from "../../state/glob.ts";
import { UPDATED } from "./updates.ts";

/** The value mount selectors give when nothing matches (what rules compare against). */
export const NO_MOUNT = "<NA>";

function procOf(ev: Event): ProcessInfo | undefined {
  return ev.thread?.proc;
}

/** Field on the container's metadata; `host` processes give `onHost`. */
function c(
  get: (c: ContainerInfo, p: ProcessInfo, ev: Event) => FieldResult,
  onHost?: FieldResult,
) {
  return (ev: Event): FieldResult => {
    const p = procOf(ev);
    if (!p) return undefined;
    if (p.containerId === "") return onHost;
    const info = p.state.container(p.containerId);
    return info ? get(info, p, ev) : undefined;
  };
}

function mountText(m: ContainerMount): string {
  return `${m.source}:${m.dest}:${m.mode}:${m.rw}:${m.propagation}`;
}

/** Selects a mount by index (`[0]`) or by a glob on its source (`[/usr/*]`). */
function selectMount(mounts: ContainerMount[], arg: string): ContainerMount | undefined {
  if (/^\d+$/.test(arg)) return mounts[Number(arg)];
  return mounts.find((m) => globMatch(arg, m.source));
}

/** Selects a mount by index or by a glob on its destination. */
function selectMountByDest(mounts: ContainerMount[], arg: string): ContainerMount | undefined {
  if (/^\d+$/.test(arg)) return mounts[Number(arg)];
  return mounts.find((m) => globMatch(arg, m.dest));
}

function mountField(
  name: string,
  desc: string,
  select: (mounts: ContainerMount[], arg: string) => ContainerMount | undefined,
  get: (m: ContainerMount) => string,
): FieldDef {
  return {
    name,
    type: "charbuf",
    desc,
    arg: "required",
    extract: (ev, arg) => {
      const p = procOf(ev);
      if (!p || p.containerId === "" || arg === undefined) return undefined;
      const mounts = p.state.container(p.containerId)?.mounts;
      const m = mounts ? select(mounts, arg) : undefined;
      return m ? get(m) : NO_MOUNT;
    },
  };
}

const FIELDS: FieldDef[] = [
  {
    name: "container.id",
    type: "charbuf",
    suggested: true,
    desc: "Container id, first 12 characters, from the process's cgroup; `host` for processes " +
      "outside containers.",
    updated: UPDATED.cgroups,
    extract: (ev) => {
      const p = procOf(ev);
      if (!p) return undefined;
      return p.containerId === "" ? "host" : p.containerId.slice(0, 12);
    },
  },
  {
    name: "container.full_id",
    type: "charbuf",
    desc: "Full container id (64 hex characters for the common runtimes); `host` outside " +
      "containers.",
    extract: (ev) => {
      const p = procOf(ev);
      if (!p) return undefined;
      return p.containerId === "" ? "host" : p.containerId;
    },
  },
  {
    name: "container.name",
    type: "charbuf",
    suggested: true,
    desc: "Container name as the runtime reports it; `host` outside containers.",
    extract: c((x) => x.name, "host"),
  },
  {
    name: "container.image",
    type: "charbuf",
    desc: "Image the container runs, as named when it was started (repository:tag).",
    extract: c((x) => x.image),
  },
  {
    name: "container.image.id",
    type: "charbuf",
    desc: "Id of the image (first 12 hex characters).",
    extract: c((x) => x.imageId),
  },
  {
    name: "container.image.repository",
    type: "charbuf",
    suggested: true,
    desc: "Repository part of the image name (without tag or digest).",
    extract: c((x) => x.imageRepository),
  },
  {
    name: "container.image.tag",
    type: "charbuf",
    suggested: true,
    desc: "Tag part of the image name.",
    extract: c((x) => x.imageTag),
  },
  {
    name: "container.image.digest",
    type: "charbuf",
    desc: "Registry digest of the image, when the runtime knows it.",
    extract: c((x) => x.imageDigest),
  },
  {
    name: "container.type",
    type: "charbuf",
    desc: "Container runtime: docker, podman, containerd, cri-o.",
    extract: (ev) => {
      const p = procOf(ev);
      if (!p || p.containerId === "") return undefined;
      return p.state.container(p.containerId)?.type;
    },
  },
  {
    name: "container.privileged",
    type: "bool",
    desc: "True when the container runs privileged.",
    extract: c((x) => x.privileged),
  },
  {
    name: "container.mounts",
    type: "charbuf",
    desc: "Every mount of the container as `source:dest:mode:rw:propagation`, joined by " +
      "spaces.",
    extract: c((x) => x.mounts?.map(mountText).join(" ")),
  },
  mountField(
    "container.mount",
    "One mount, chosen by number (container.mount[0]) or by a glob on its source " +
      "(container.mount[/usr/*]), as `source:dest:mode:rw:propagation`.",
    selectMount,
    mountText,
  ),
  mountField(
    "container.mount.source",
    "Source of a mount chosen by number or by a glob on its destination.",
    selectMountByDest,
    (m) => m.source,
  ),
  mountField(
    "container.mount.dest",
    "Destination of a mount chosen by number or by a glob on its source.",
    selectMount,
    (m) => m.dest,
  ),
  mountField(
    "container.mount.mode",
    "Mode of a mount chosen by number or by a glob on its source.",
    selectMount,
    (m) => m.mode,
  ),
  mountField(
    "container.mount.rdwr",
    "Whether a mount (chosen by number or source glob) is read-write: true or false.",
    selectMount,
    (m) => String(m.rw),
  ),
  mountField(
    "container.mount.propagation",
    "Propagation of a mount chosen by number or by a glob on its source.",
    selectMount,
    (m) => m.propagation,
  ),
  {
    name: "container.start_ts",
    type: "abstime",
    desc: "Start of the container, ns since the epoch: the start of its pid namespace as the " +
      "kernel reports it, else the runtime's start time.",
    extract: (ev) => {
      const p = procOf(ev);
      if (!p || p.containerId === "") return undefined;
      if (p.pidnsInitStartTs !== 0n) return p.pidnsInitStartTs;
      return p.state.container(p.containerId)?.startTs;
    },
  },
  {
    name: "container.duration",
    type: "reltime",
    desc: "Nanoseconds since the container started.",
    extract: (ev) => {
      const p = procOf(ev);
      if (!p || p.containerId === "") return undefined;
      const start = p.pidnsInitStartTs !== 0n
        ? p.pidnsInitStartTs
        : p.state.container(p.containerId)?.startTs;
      return start !== undefined ? ev.ts - start : undefined;
    },
  },
  {
    name: "container.ip",
    type: "charbuf",
    desc: "Primary IPv4 address of the container, as the runtime reports it.",
    extract: c((x) => x.ip || undefined),
  },
  {
    name: "container.host_pid",
    type: "bool",
    desc: "True when the container shares the host's pid namespace.",
    extract: c((x) => x.hostPid),
  },
  {
    name: "container.host_network",
    type: "bool",
    desc: "True when the container shares the host's network namespace.",
    extract: c((x) => x.hostNetwork),
  },
  {
    name: "container.host_ipc",
    type: "bool",
    desc: "True when the container shares the host's IPC namespace.",
    extract: c((x) => x.hostIpc),
  },
  {
    name: "container.label",
    type: "charbuf",
    desc: "One label of the container: container.label.NAME or container.label[NAME].",
    arg: "required",
    dottedArg: true,
    extract: (ev, arg) => arg === undefined ? undefined : c((x) => x.labels?.[arg])(ev),
  },
  {
    name: "container.labels",
    type: "charbuf",
    desc: "Every label of the container as `key:value` joined by commas.",
    extract: c((x) =>
      x.labels ? Object.entries(x.labels).map(([k, v]) => `${k}:${v}`).join(",") : undefined
    ),
  },
];

/** The container.* fields. */
export const CONTAINER_FIELDS: FieldClassSpec = {
  name: "container",
  desc: "The container the process runs in (container.id is `host` outside containers).",
  fields: FIELDS,
};
