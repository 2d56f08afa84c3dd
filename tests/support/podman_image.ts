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

/** What a busybox image holds: its directories, files (path -> text) and applet links. */
export interface BusyboxRecipe {
  dirs: string[];
  files: Record<string, string>;
  /** Applets linked in /bin: the names given, or every applet busybox lists. */
  applets: string[] | "all";
}

/** The label an image carries with the hash of the recipe it was built from. */
const RECIPE_LABEL = "saker.test.recipe";

/**
 * Builds `name` from busybox-static and `recipe` unless an image of that name built from the
 * same recipe exists: an image left by an earlier run with another recipe is built again, so a
 * test here never passes on an image a fresh machine would not have.
 */
export async function ensureBusyboxImage(name: string, recipe: BusyboxRecipe): Promise<void> {
  const hash = Array.from(
    new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(recipe))),
    ).subarray(0, 8),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const have = await new Deno.Command("podman", {
    args: ["image", "inspect", "--format", `{{index .Labels "${RECIPE_LABEL}"}}`, name],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (have.success && new TextDecoder().decode(have.stdout).trim() === hash) return;
  const root = await Deno.makeTempDir({ prefix: "saker-bb-img-" });
  try {
    for (const d of ["bin", ...recipe.dirs]) await Deno.mkdir(`${root}/${d}`, { recursive: true });
    await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    const applets = recipe.applets === "all"
      ? (await run(["/bin/busybox", "--list"])).split("\n")
      : recipe.applets;
    for (const a of applets) {
      if (a && a !== "busybox") await Deno.symlink("busybox", `${root}/bin/${a}`);
    }
    for (const [path, text] of Object.entries(recipe.files)) {
      await Deno.writeTextFile(`${root}/${path}`, text);
    }
    const tar = new Deno.Command("tar", { args: ["-C", root, "-c", "."], stdout: "piped" }).spawn();
    const imp = new Deno.Command("podman", {
      args: ["import", "--change", `LABEL ${RECIPE_LABEL}=${hash}`, "-", name],
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

/** Builds the state tests' image when it is missing or was built from another recipe. */
export async function ensureStateImage(): Promise<void> {
  await ensureBusyboxImage(STATE_IMAGE, {
    dirs: ["etc", "home/app", "tmp", "proc", "sys", "dev", "data"],
    files: {
      "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nappuser:x:4321:4321:app:/home/app:/bin/sh\n",
      "etc/group": "root:x:0:\nappgroup:x:4321:\n",
    },
    applets: "all",
  });
}
