/**
 * Kubernetes facts carried by container labels: kubelet's runtimes label each container with
 * `io.kubernetes.pod.name`, `io.kubernetes.pod.namespace`, `io.kubernetes.pod.uid` and
 * `io.kubernetes.sandbox.id`; the pod's own labels sit beside them without a prefix.
 *
 * @example
 * ```ts
 * isKubernetes(labels); // true when io.kubernetes.pod.name is set
 * podLabels(labels); // the pod's own labels, without kubelet's io.kubernetes.* ones
 * ```
 * @module
 */

/** Label prefixes set by runtimes and kubelet, not by the pod's author. */
const SYSTEM_PREFIXES = ["io.kubernetes.", "annotation.", "io.cri-containerd.", "io.container."];

const cache = new WeakMap<Record<string, string>, Record<string, string>>();

/** The pod's own labels among a container's labels (runtime and kubelet labels left out). */
export function podLabels(labels: Record<string, string>): Record<string, string> {
  let out = cache.get(labels);
  if (out) return out;
  out = {};
  for (const [k, v] of Object.entries(labels)) {
    if (!SYSTEM_PREFIXES.some((p) => k.startsWith(p))) out[k] = v;
  }
  cache.set(labels, out);
  return out;
}

/** True when the labels say the container belongs to a Kubernetes pod. */
export function isKubernetes(labels: Record<string, string> | undefined): boolean {
  return labels?.["io.kubernetes.pod.name"] !== undefined;
}
