/**
 * Builds the probe: bpf/probe.bpf.c → .build/probe.bpf.o with clang (CO-RE, BTF, -O2).
 *
 * `--if-stale` rebuilds only when a source under bpf/ is newer than the object. The object is
 * what src/kernel/probe.ts loads (and what `deno compile` embeds).
 * @module
 */

const root = new URL("..", import.meta.url).pathname;
/** Path of the built probe object. */
export const PROBE_OBJECT = `${root}.build/probe.bpf.o`;

async function mtime(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

async function findClang(): Promise<string> {
  for (
    const c of [Deno.env.get("CLANG"), "clang-16", "clang-17", "clang-18", "clang-15", "clang"]
  ) {
    if (!c) continue;
    try {
      const { success } = await new Deno.Command(c, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (success) return c;
    } catch { /* not installed */ }
  }
  throw new Error("clang not found: install clang-16 (apt-get install clang-16) or set CLANG");
}

/**
 * Writes .build/vmlinux.h from the running kernel's BTF (bpftool), once. The probe is CO-RE:
 * field offsets are relocated at load time against the target kernel's BTF, so the header only
 * has to name the types and fields, not match the target's layout.
 */
async function generateVmlinuxHeader(): Promise<void> {
  const out = `${root}.build/vmlinux.h`;
  if (await mtime(out) > 0) return;
  const btf = "/sys/kernel/btf/vmlinux";
  if (await mtime(btf) === 0) {
    throw new Error(`${btf} is missing: building the probe needs a kernel with BTF`);
  }
  let r: Deno.CommandOutput;
  try {
    r = await new Deno.Command("bpftool", {
      args: ["btf", "dump", "file", btf, "format", "c"],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch {
    throw new Error("bpftool not found: apt-get install bpftool");
  }
  if (!r.success) throw new Error(`bpftool failed: ${new TextDecoder().decode(r.stderr)}`);
  await Deno.writeFile(out + ".tmp", r.stdout);
  await Deno.rename(out + ".tmp", out);
}

/**
 * Compiles the probe; with `ifStale`, only when sources changed. Returns the object path.
 * `defines` and `out` build a variant elsewhere (tests use this for a deliberately bad probe).
 */
export async function buildProbe(
  opts: { ifStale?: boolean; defines?: string[]; out?: string } = {},
): Promise<string> {
  const target = opts.out ?? PROBE_OBJECT;
  const sources: string[] = [];
  for await (const e of Deno.readDir(`${root}bpf`)) {
    if (e.isFile && /\.(c|h)$/.test(e.name)) sources.push(`${root}bpf/${e.name}`);
  }
  if (opts.ifStale && !opts.out) {
    const out = await mtime(PROBE_OBJECT);
    const newest = Math.max(
      ...await Promise.all(sources.map(mtime)),
      await mtime(import.meta.filename!),
    );
    if (out > 0 && out >= newest) return PROBE_OBJECT;
  }
  await Deno.mkdir(`${root}.build`, { recursive: true });
  await generateVmlinuxHeader();
  const clang = await findClang();
  const args = [
    "-g",
    "-O2",
    "-target",
    "bpf",
    "-D__TARGET_ARCH_x86",
    "-Wall",
    "-Werror",
    "-Wno-unused-function",
    "-I",
    `${root}bpf`,
    "-I",
    `${root}.build`,
    ...(opts.defines ?? []).map((d) => `-D${d}`),
    "-c",
    `${root}bpf/probe.bpf.c`,
    "-o",
    target + ".tmp",
  ];
  const r = await new Deno.Command(clang, { args, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`${clang} failed to build bpf/probe.bpf.c`);
  await Deno.rename(target + ".tmp", target);
  console.error(`build:bpf: wrote ${target}`);
  return target;
}

if (import.meta.main) {
  try {
    await buildProbe({ ifStale: Deno.args.includes("--if-stale") });
  } catch (err) {
    console.error(`build:bpf: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
