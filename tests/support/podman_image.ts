/**
 * The busybox image the state tests run containers from, built locally (no registry here):
 * busybox-static, its applet links, and an /etc/passwd and /etc/group with a user only the image
 * knows (appuser, uid 4321).
 *
 * @example
 * ```ts
 * if (havePodman()) await ensureStateImage();
 * ```
 * @module
 */
import { haveTool, skipNote } from "./env.ts";

/** Name of the image. */
export const STATE_IMAGE = "localhost/saker-state-bb";

/** True when podman runs here; otherwise says (once) that container tests are skipped. */
export function havePodman(): boolean {
  if (haveTool("podman")) return true;
  skipNote("podman is not installed: container tests are skipped (scripts/setup.sh installs it)");
  return false;
}

async function run(cmd: string[]): Promise<string> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** Builds the image when it is missing. */
export async function ensureStateImage(): Promise<void> {
  const exists = await new Deno.Command("podman", { args: ["image", "exists", STATE_IMAGE] })
    .output();
  if (exists.success) return;
  const root = await Deno.makeTempDir({ prefix: "saker-state-img-" });
  try {
    for (const d of ["bin", "etc", "home/app", "tmp", "proc", "sys", "dev", "data"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    const applets = (await run(["/bin/busybox", "--list"])).split("\n");
    for (const a of applets) {
      if (a && a !== "busybox") await Deno.symlink("busybox", `${root}/bin/${a}`);
    }
    await Deno.writeTextFile(
      `${root}/etc/passwd`,
      "root:x:0:0:root:/root:/bin/sh\nappuser:x:4321:4321:app:/home/app:/bin/sh\n",
    );
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\nappgroup:x:4321:\n");
    const tar = new Deno.Command("tar", { args: ["-C", root, "-c", "."], stdout: "piped" }).spawn();
    const imp = new Deno.Command("podman", {
      args: ["import", "-", STATE_IMAGE],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await tar.stdout.pipeTo(imp.stdin);
    const res = await imp.output();
    await tar.status;
    if (!res.success) throw new Error(new TextDecoder().decode(res.stderr));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
