/**
 * Containers for the simulator: a local image made from busybox (no registry is needed) with
 * the static helper inside, and containers started from it with podman (runc runtime), which
 * actions enter with `podman exec` as an attacker with a foothold would.
 * @module
 */

import { mustRun, runCommand, type RunOptions } from "./command.ts";
import type { HelperBuild } from "./helper.ts";
import type { Workspace } from "./workspace.ts";
import { randomSuffix } from "./workspace.ts";

/** Image repository of the simulator's image; the tag is the helper's source hash. */
export const IMAGE_REPOSITORY = "localhost/saker-sim";

/** podman's global flags for every command: the runc runtime (crun fails on hybrid cgroups). */
export const PODMAN_BASE: readonly string[] = ["--runtime", "runc"];
/**
 * `podman run` flags every container needs: open-file and process limits runc accepts (it
 * refuses larger ones on hosts whose own hard limits are lower than podman's defaults).
 */
export const RUN_LIMITS: readonly string[] = [
  "--ulimit",
  "nofile=1024:1024",
  "--ulimit",
  "nproc=1024:1024",
];

/** Paths inside the image. */
export const IN_IMAGE = {
  helper: "/usr/local/bin/saker-sim",
  /** A copy of the helper named like the file system debugger (the name is what rules see). */
  debugfs: "/usr/sbin/debugfs",
  /** Copies of the helper named like tools rules look for (they only run the helper's modes). */
  rsync: "/usr/bin/rsync",
  kubectl: "/usr/local/bin/kubectl",
  npm: "/usr/local/bin/npm",
} as const;

async function imageExists(name: string): Promise<boolean> {
  const r = await runCommand("podman", ["image", "exists", name]);
  return r.code === 0;
}

let pending: Promise<string> | undefined;

/** Builds the image once (per helper version) and returns its name. */
export function buildImage(helper: HelperBuild): Promise<string> {
  pending ??= ensureImage(helper).catch((err) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function ensureImage(helper: HelperBuild): Promise<string> {
  // The tag names the helper's version and the image's layout.
  const layout = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(helper.hash + JSON.stringify(IN_IMAGE)),
  );
  const tag = Array.from(new Uint8Array(layout).slice(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  const name = `${IMAGE_REPOSITORY}:${tag}`;
  if (await imageExists(name)) return name;
  const busybox = ["/usr/bin/busybox", "/bin/busybox"];
  let bb: string | undefined;
  for (const p of busybox) {
    try {
      if ((await Deno.stat(p)).isFile) bb = p;
    } catch { /* absent */ }
    if (bb) break;
  }
  if (!bb) {
    throw new Error("busybox is needed for the container image (apt-get install busybox-static)");
  }
  const root = await Deno.makeTempDir({ prefix: "saker-sim-image-" });
  try {
    for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "tmp", "root"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.chmod(`${root}/tmp`, 0o1777);
    await Deno.copyFile(bb, `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    const list = await mustRun(bb, ["--list"]);
    for (const applet of list.stdout.split("\n").map((s) => s.trim())) {
      if (!applet || applet === "busybox" || applet.includes("/")) continue;
      await Deno.symlink("busybox", `${root}/bin/${applet}`);
    }
    await Deno.copyFile(helper.static, `${root}${IN_IMAGE.helper}`);
    await Deno.chmod(`${root}${IN_IMAGE.helper}`, 0o755);
    for (const p of Object.values(IN_IMAGE)) {
      if (p !== IN_IMAGE.helper) await Deno.link(`${root}${IN_IMAGE.helper}`, `${root}${p}`);
    }
    await Deno.writeTextFile(
      `${root}/etc/passwd`,
      "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\n" +
        "nobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n");
    await mustRun("sh", ["-c", `tar -C '${root}' -c . | podman import - '${name}'`], {
      timeoutMs: 120_000,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  await removeStaleImages(name);
  return name;
}

/** Removes images of earlier helper versions (best effort: one may still be in use). */
async function removeStaleImages(keep: string): Promise<void> {
  const r = await runCommand("podman", [
    "images",
    "--format",
    "{{.Repository}}:{{.Tag}}",
    "--filter",
    `reference=${IMAGE_REPOSITORY}`,
  ]);
  for (const img of r.stdout.split("\n").map((l) => l.trim())) {
    if (img && img !== keep && img.startsWith(`${IMAGE_REPOSITORY}:`)) {
      await runCommand("podman", ["rmi", img]);
    }
  }
}

/** Options for {@linkcode startContainer}. */
export interface ContainerOptions {
  /** Extra `podman run` flags (--privileged, --cap-add X, -v a:b:ro, --network ...). */
  flags?: string[];
  /** Entry command; default: sleep long enough for the action. */
  command?: string[];
  /**
   * Wait this long after start so an agent can look the new container up (name, image,
   * privileged flag) before the attack; default 1000 ms.
   */
  settleMs?: number;
}

/** A running container; removed by the workspace's cleanup. */
export interface RunningContainer {
  /** Full 64-hex id. */
  id: string;
  name: string;
  /** `podman exec` into the container. */
  exec(
    command: string[],
    opts?: { tty?: boolean; user?: string } & RunOptions,
  ): Promise<import("./command.ts").CommandResult>;
}

/** Starts a container from the simulator image; its removal is registered on `ws`. */
export async function startContainer(
  ws: Workspace,
  image: string,
  label: string,
  opts: ContainerOptions = {},
): Promise<RunningContainer> {
  const name = `saker-sim-${label}-${randomSuffix()}`;
  const command = opts.command ?? ["sleep", "120"];
  ws.defer(async () => {
    await runCommand("podman", [...PODMAN_BASE, "rm", "-f", "-t", "0", name], {
      timeoutMs: 60_000,
    });
  });
  const r = await mustRun("podman", [
    ...PODMAN_BASE,
    "run",
    "-d",
    "--pull=never",
    "--name",
    name,
    ...RUN_LIMITS,
    ...(opts.flags ?? []),
    image,
    ...command,
  ], { timeoutMs: 60_000 });
  const id = r.stdout.trim().split("\n").pop() ?? "";
  if (!/^[0-9a-f]{64}$/.test(id)) {
    throw new Error(`podman run printed no container id: ${r.stdout}`);
  }
  await new Promise((res) => setTimeout(res, opts.settleMs ?? 1000));
  return {
    id,
    name,
    exec: (cmd, o = {}) => {
      const flags = [...(o.tty ? ["-t"] : []), ...(o.user ? ["--user", o.user] : [])];
      return runCommand("podman", [...PODMAN_BASE, "exec", ...flags, name, ...cmd], {
        timeoutMs: o.timeoutMs ?? 30_000,
        stdin: o.stdin,
      });
    },
  };
}

/** Runs a one-shot container to completion (podman run --rm); returns its id and output. */
export async function runOnce(
  ws: Workspace,
  image: string,
  label: string,
  command: string[],
  flags: string[] = [],
): Promise<{ id: string; name: string; result: import("./command.ts").CommandResult }> {
  const name = `saker-sim-${label}-${randomSuffix()}`;
  const cidfile = ws.path(`${name}.cid`);
  ws.defer(async () => {
    await runCommand("podman", [...PODMAN_BASE, "rm", "-f", "-t", "0", "--ignore", name]);
  });
  const result = await runCommand("podman", [
    ...PODMAN_BASE,
    "run",
    "--rm",
    "--pull=never",
    "--name",
    name,
    "--cidfile",
    cidfile,
    ...RUN_LIMITS,
    ...flags,
    image,
    ...command,
  ], { timeoutMs: 60_000 });
  let id = "";
  try {
    id = (await Deno.readTextFile(cidfile)).trim();
  } catch { /* podman failed before creating it */ }
  if (!id) throw new Error(`podman run failed (${result.code}): ${result.stderr.trim()}`);
  return { id, name, result };
}
