/**
 * Where the container runtimes serve their APIs and keep their files: one place, so that an
 * agent running in a container with the host's file system mounted elsewhere maps every path
 * the same way.
 *
 * @example
 * ```ts
 * import { runtimePaths } from "./paths.ts";
 * runtimePaths({}).sockets; // ["/run/podman/podman.sock", "/var/run/docker.sock", "/run/docker.sock"]
 * ```
 * @module
 */

/** Docker-compatible API sockets tried, in order, when none are configured. */
export const DEFAULT_SOCKETS: readonly string[] = [
  "/run/podman/podman.sock",
  "/var/run/docker.sock",
  "/run/docker.sock",
];

/** Podman's event log when `events_logger = "file"` (its default without systemd). */
export const PODMAN_EVENT_LOG = "/run/libpod/events/events.log";

/** Where root podman keeps its containers (`ID/userdata/config.json` is a container's bundle). */
export const PODMAN_CONTAINERS = "/var/lib/containers/storage/overlay-containers";

/** Runtime locations as configured (empty or absent: the usual places). */
export interface RuntimePathOptions {
  sockets?: readonly string[];
  podmanEventLog?: string;
}

/** Resolved runtime locations. */
export interface RuntimePaths {
  sockets: string[];
  podmanEventLog: string;
}

/** The runtime sockets and files to use. */
export function runtimePaths(opts: RuntimePathOptions): RuntimePaths {
  const sockets = opts.sockets !== undefined && opts.sockets.length > 0
    ? opts.sockets
    : DEFAULT_SOCKETS;
  return {
    sockets: [...sockets],
    podmanEventLog: opts.podmanEventLog || PODMAN_EVENT_LOG,
  };
}
