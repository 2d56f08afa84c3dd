/**
 * podman's Docker-compatible API on its default socket: the agent reads container names, images
 * and the privileged flag there, so anything that runs container attacks under an agent (the
 * live tests, `saker test`'s live tests) makes sure it serves, and stops it again only when it
 * started it.
 *
 * @example
 * ```ts
 * import { ensurePodmanService } from "./podman_service.ts";
 * const stop = await ensurePodmanService();
 * // ... run container actions under an agent ...
 * await stop();
 * ```
 * @module
 */
import { which } from "./command.ts";

/** Where podman serves its API by default (root). */
export const PODMAN_SOCKET = "/run/podman/podman.sock";

async function socketServes(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure podman's API serves on its default socket. Returns a stop function for a service
 * this call started (a no-op when one was already running, or podman is absent).
 */
export async function ensurePodmanService(): Promise<() => Promise<void>> {
  if (await socketServes(PODMAN_SOCKET)) return async () => {};
  if (!(await which("podman"))) return async () => {}; // container actions will skip
  await Deno.mkdir("/run/podman", { recursive: true });
  const service = new Deno.Command("podman", {
    args: ["system", "service", "--time=0", `unix://${PODMAN_SOCKET}`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 20_000;
  while (!(await socketServes(PODMAN_SOCKET))) {
    if (Date.now() > deadline) {
      try {
        service.kill("SIGTERM");
      } catch { /* ended */ }
      await service.status;
      throw new Error("podman system service did not start");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return async () => {
    try {
      service.kill("SIGTERM");
    } catch { /* ended */ }
    await service.status;
  };
}
