/**
 * `k8s.*` fields: the Kubernetes pod of a container, read from the `io.kubernetes.*` labels
 * that kubelet's runtimes put on containers. Undefined outside Kubernetes and until the
 * container's metadata is known.
 *
 * @example
 * ```ts
 * const f = lookupField("k8s.pod.name")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // from the container's kubelet labels
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef, FieldResult } from "./registry.ts";
import { podLabels } from "../../state/containers/k8s.ts";

function labels(ev: Event): Record<string, string> | undefined {
  const p = ev.thread?.proc;
  if (!p || p.containerId === "") return undefined;
  return p.state.container(p.containerId)?.labels;
}

function label(key: string) {
  return (ev: Event): FieldResult => labels(ev)?.[key];
}

const FIELDS: FieldDef[] = [
  {
    name: "k8s.pod.name",
    type: "charbuf",
    suggested: true,
    desc: "Name of the pod the container belongs to.",
    extract: label("io.kubernetes.pod.name"),
  },
  {
    name: "k8s.ns.name",
    type: "charbuf",
    suggested: true,
    desc: "Namespace of the pod.",
    extract: label("io.kubernetes.pod.namespace"),
  },
  {
    name: "k8s.pod.uid",
    type: "charbuf",
    desc: "Unique id Kubernetes gave the pod.",
    extract: label("io.kubernetes.pod.uid"),
  },
  {
    name: "k8s.pod.id",
    type: "charbuf",
    desc: "Same as k8s.pod.uid (older name).",
    extract: label("io.kubernetes.pod.uid"),
  },
  {
    name: "k8s.pod.sandbox_id",
    type: "charbuf",
    desc: "Id of the pod's sandbox container, first 12 characters.",
    extract: (ev) => {
      const id = label("io.kubernetes.sandbox.id")(ev);
      return typeof id === "string" ? id.slice(0, 12) : undefined;
    },
  },
  {
    name: "k8s.pod.full_sandbox_id",
    type: "charbuf",
    desc: "Full id of the pod's sandbox container.",
    extract: label("io.kubernetes.sandbox.id"),
  },
  {
    name: "k8s.pod.label",
    type: "charbuf",
    desc: "One label of the pod: k8s.pod.label.NAME or k8s.pod.label[NAME].",
    arg: "required",
    dottedArg: true,
    extract: (ev, arg) => {
      const l = labels(ev);
      return l && arg !== undefined ? podLabels(l)[arg] : undefined;
    },
  },
  {
    name: "k8s.pod.labels",
    type: "charbuf",
    desc: "Every label of the pod as `key:value` joined by commas.",
    extract: (ev) => {
      const l = labels(ev);
      if (!l || l["io.kubernetes.pod.name"] === undefined) return undefined;
      return Object.entries(podLabels(l)).map(([k, v]) => `${k}:${v}`).join(",");
    },
  },
  {
    name: "k8s.pod.ip",
    type: "charbuf",
    desc: "IPv4 address of the pod (the container's primary address).",
    extract: (ev) => {
      const p = ev.thread?.proc;
      if (!p || p.containerId === "") return undefined;
      const info = p.state.container(p.containerId);
      return info?.labels?.["io.kubernetes.pod.name"] !== undefined ? info.ip : undefined;
    },
  },
];

/** The k8s.* fields. */
export const K8S_FIELDS: FieldClassSpec = {
  name: "k8s",
  desc: "The Kubernetes pod of the container (from the runtime's io.kubernetes.* labels).",
  fields: FIELDS,
};
