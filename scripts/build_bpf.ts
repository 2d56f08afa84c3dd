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

/** Compiles the probe; with `ifStale`, only when sources changed. Returns the object path. */
export async function buildProbe(opts: { ifStale?: boolean } = {}): Promise<string> {
  const sources: string[] = [];
  for await (const e of Deno.readDir(`${root}bpf`)) {
    if (e.isFile && /\.(c|h)$/.test(e.name)) sources.push(`${root}bpf/${e.name}`);
  }
  if (opts.ifStale) {
    const out = await mtime(PROBE_OBJECT);
    const newest = Math.max(
      ...await Promise.all(sources.map(mtime)),
      await mtime(import.meta.filename!),
    );
    if (out > 0 && out >= newest) return PROBE_OBJECT;
  }
  await Deno.mkdir(`${root}.build`, { recursive: true });
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
    "-c",
    `${root}bpf/probe.bpf.c`,
    "-o",
    PROBE_OBJECT + ".tmp",
  ];
  const r = await new Deno.Command(clang, { args, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`${clang} failed to build bpf/probe.bpf.c`);
  await Deno.rename(PROBE_OBJECT + ".tmp", PROBE_OBJECT);
  console.error(`build:bpf: wrote ${PROBE_OBJECT}`);
  return PROBE_OBJECT;
}

if (import.meta.main) {
  try {
    await buildProbe({ ifStale: Deno.args.includes("--if-stale") });
  } catch (err) {
    console.error(`build:bpf: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
