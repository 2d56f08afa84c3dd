/**
 * `scripts/image`: builds the container image `localhost/saker:VERSION` (and `:latest`) with
 * podman from files on this machine; no base image and no registry. The root file system holds
 * only what the agent runs on: the Deno runtime, libbpf and the libraries both link, CA
 * certificates, and the bundle (dist/saker.js, which carries the probe, rules and config).
 *
 * Images are labelled with a hash of everything they are made from (sources, rules, probe
 * object, lock file, runtime and libraries); when an image with that label exists, nothing is
 * rebuilt (the tests build the image once per change, not once per run).
 *
 * Usage: scripts/image [--tag VERSION] [--force]
 * @module
 */
import { parseArgs } from "node:util";
import { SAKER_VERSION } from "../src/version.ts";
import { buildProbe, PROBE_OBJECT } from "./build_bpf.ts";
import { bundle } from "./bundle.ts";

const root = new URL("..", import.meta.url).pathname;

/** Repository of the image. */
export const IMAGE_REPO = "localhost/saker";
/** Where the bundle sits in the image. */
export const IMAGE_BUNDLE = "/usr/lib/saker/saker.js";
/** The image's entrypoint: the saker program (arguments follow, e.g. `run --json`). */
export const IMAGE_ENTRYPOINT = ["/usr/bin/deno", "run", "-A", "--no-config", IMAGE_BUNDLE];
/** Label holding the content hash. */
const CONTENT_LABEL = "org.saker.content";
/** Shared libraries the image needs: the runtime's and libbpf's (dlopen'ed by the agent). */
const LIBBPF = "libbpf.so.1";

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  return new TextDecoder().decode(r.stdout);
}

/** The real path of the Deno binary running this script (not a symlink to it). */
function denoBinary(): string {
  return Deno.realPathSync(Deno.execPath());
}

/** Libraries `ldd` lists for `file` (real paths, the dynamic loader included). */
async function linkedLibraries(file: string): Promise<string[]> {
  const out = await run("ldd", [file]);
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
    if (m) libs.push(m[1]);
  }
  return libs;
}

function findLibbpf(): string {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64"]) {
    try {
      Deno.statSync(`${dir}/${LIBBPF}`);
      return `${dir}/${LIBBPF}`;
    } catch { /* next */ }
  }
  throw new Error(`${LIBBPF} not found: apt-get install libbpf1`);
}

/** Every file the image's root file system gets: path in the image → path here. */
export async function imageFiles(bundlePath: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const deno = denoBinary();
  const libbpf = findLibbpf();
  files.set("/usr/bin/deno", deno);
  files.set(IMAGE_BUNDLE, bundlePath);
  files.set("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt");
  const libs = new Set([...await linkedLibraries(deno), ...await linkedLibraries(libbpf)]);
  libs.add(libbpf);
  for (const lib of libs) {
    const name = lib.slice(lib.lastIndexOf("/") + 1);
    const dest = name.startsWith("ld-linux")
      ? `/lib64/${name}`
      : `/usr/lib/x86_64-linux-gnu/${name}`;
    files.set(dest, lib);
  }
  return files;
}

async function hashFile(h: string[], path: string): Promise<void> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  h.push(
    `${path}:${Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("")}`,
  );
}

async function treeFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await treeFiles(p));
    else if (e.isFile) out.push(p);
  }
  return out.sort();
}

/**
 * Hash of what the image is made from: Saker's sources, rules, config, probe object, lock
 * file, the build scripts, the runtime and the libraries. Same hash, same image.
 */
export async function contentHash(): Promise<string> {
  await buildProbe({ ifStale: true });
  const parts: string[] = [`version:${SAKER_VERSION}`, `entrypoint:${IMAGE_ENTRYPOINT.join(" ")}`];
  const sources = [
    ...await treeFiles(`${root}src`),
    ...await treeFiles(`${root}rules`),
    `${root}config.yaml`,
    `${root}deno.json`,
    `${root}deno.lock`,
    `${root}scripts/embed.ts`,
    `${root}scripts/bundle.ts`,
    `${root}scripts/image.ts`,
    PROBE_OBJECT,
  ];
  for (const f of sources) await hashFile(parts, f);
  for (const [dest, src] of await imageFiles("/dev/null")) {
    if (src !== "/dev/null") await hashFile(parts, src);
    parts.push(`->${dest}`);
  }
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\n")));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("").slice(
    0,
    16,
  );
}

/** The image id labelled with `hash`, if one exists. */
async function imageWithHash(hash: string): Promise<string | undefined> {
  const out = await run("podman", [
    "images",
    "--noheading",
    "--filter",
    `label=${CONTENT_LABEL}=${hash}`,
    "--format",
    "{{.ID}}",
  ]);
  return out.split("\n").map((l) => l.trim()).find((l) => l) || undefined;
}

/** What {@link ensureImage} made or found. */
export interface ImageResult {
  /** `localhost/saker:VERSION`. */
  ref: string;
  /** Content hash label. */
  hash: string;
  /** Size in bytes as podman reports it. */
  size: number;
  /** False when an image with the same content hash was reused. */
  built: boolean;
}

/** Builds `localhost/saker:TAG` and `:latest` unless an image of the same content exists. */
export async function ensureImage(opts: { tag?: string; force?: boolean } = {}): Promise<
  ImageResult
> {
  const tag = opts.tag ?? SAKER_VERSION;
  const ref = `${IMAGE_REPO}:${tag}`;
  const hash = await contentHash();
  let id = opts.force ? undefined : await imageWithHash(hash);
  const built = !id;
  if (!id) {
    const rootfs = await Deno.makeTempDir({ prefix: "saker-rootfs-" });
    const bundleDir = await Deno.makeTempDir({ prefix: "saker-image-bundle-" });
    try {
      const { stamp } = await bundle(`${bundleDir}/saker.js`);
      for (const [dest, src] of await imageFiles(`${bundleDir}/saker.js`)) {
        const to = `${rootfs}${dest}`;
        await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
        await Deno.copyFile(src, to);
      }
      await Deno.chmod(`${rootfs}/usr/bin/deno`, 0o755);
      // No /var/lib/saker: the state directory is a volume (a mount point the image provides
      // would lend its owner and mode to an emptyDir mounted there by some runtimes).
      for (const d of ["etc/saker", "var/lib", "host", "proc", "sys", "dev", "run"]) {
        await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
      }
      await Deno.mkdir(`${rootfs}/tmp`, { mode: 0o1777 });
      await Deno.chmod(`${rootfs}/tmp`, 0o1777);
      // root for the node agent; 65532 for the audit receiver, which needs no privilege.
      await Deno.writeTextFile(
        `${rootfs}/etc/passwd`,
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n",
      );
      await Deno.writeTextFile(`${rootfs}/etc/group`, "root:x:0:\nnonroot:x:65532:\n");
      const changes = [
        `ENTRYPOINT ${JSON.stringify(IMAGE_ENTRYPOINT)}`,
        "ENV DENO_NO_UPDATE_CHECK=1",
        "ENV DENO_DIR=/tmp/deno",
        "WORKDIR /",
        `LABEL ${CONTENT_LABEL}=${hash}`,
        `LABEL org.opencontainers.image.version=${tag}`,
        `LABEL org.opencontainers.image.revision=${stamp.commit}`,
        "LABEL org.opencontainers.image.title=saker",
      ];
      const tar = new Deno.Command("tar", {
        args: ["-C", rootfs, "--owner=0", "--group=0", "--sort=name", "-c", "."],
        stdout: "piped",
      }).spawn();
      const imp = new Deno.Command("podman", {
        args: ["import", ...changes.flatMap((c) => ["--change", c]), "-", ref],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await tar.stdout.pipeTo(imp.stdin);
      const r = await imp.output();
      await tar.status;
      if (!r.success) {
        throw new Error(`podman import: ${new TextDecoder().decode(r.stderr).trim()}`);
      }
      id = new TextDecoder().decode(r.stdout).trim();
    } finally {
      await Deno.remove(rootfs, { recursive: true });
      await Deno.remove(bundleDir, { recursive: true });
    }
  }
  await run("podman", ["tag", id!, ref]);
  await run("podman", ["tag", id!, `${IMAGE_REPO}:latest`]);
  const size = Number(
    (await run("podman", ["image", "inspect", "--format", "{{.Size}}", ref])).trim(),
  );
  return { ref, hash, size, built };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { tag: { type: "string" }, force: { type: "boolean" } },
  });
  try {
    const r = await ensureImage({ tag: values.tag, force: values.force });
    console.error(
      `image: ${r.built ? "built" : "up to date:"} ${r.ref} and ${IMAGE_REPO}:latest, ${
        (r.size / 1e6).toFixed(1)
      } MB (content ${r.hash})`,
    );
  } catch (err) {
    console.error(`image: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
