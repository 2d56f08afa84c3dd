/**
 * Files Saker carries with it: the compiled probe object, the default rules, the default
 * config, the web assets and the simulator helper's C source. One mechanism serves the three
 * ways Saker runs:
 *
 * - from a checkout, they are read from the source tree ({@link ASSET_SOURCES} says where);
 * - in `dist/saker.js` (`deno task bundle`) and `dist/saker` (`deno task compile`), a module
 *   generated at build time (scripts/embed.ts) holds every file and registers it with
 *   {@link useEmbedded} before any command runs; nothing is read from disk then.
 *
 * The build embeds each file gzip-compressed, as base64 text returned by a function that runs
 * the first time an asset is asked for. A command that reads none (a filter over a capture
 * file, `saker version`) never compiles that function, so its text stays out of V8's heap and
 * out of Deno's code cache, and the program it starts is ~0.5 MB smaller (the probe object
 * alone was 2.2 MB of base64 text). Measured on the bundle: start-up of `saker replay` on a
 * small capture ~10 ms shorter. Decompression takes node:zlib's gunzipSync (the commands
 * that read assets load Node's built-ins anyway: node:util's parseArgs, the YAML parser).
 *
 * Rules files and directories named `builtin:NAME` in `rules_files` or `-r` are these files
 * (`builtin:rules` is the default rules directory), so a config can name Saker's own rules
 * without knowing where, or whether, they exist on disk.
 *
 * @example
 * ```ts
 * import { assetText, listAssets } from "./assets.ts";
 * for (const name of listAssets("rules/")) console.log(name, assetText(name)?.length);
 * ```
 * @module
 */

/** Asset name (or name prefix, ending with `/`) → its path in the source tree. */
export const ASSET_SOURCES: Readonly<Record<string, string>> = {
  "probe.bpf.o": ".build/probe.bpf.o",
  "config.yaml": "config.yaml",
  "rules/": "rules/",
  "web/": "web/",
  "simulate/saker-sim.c": "src/simulate/saker-sim.c",
};

/** Prefix of rules paths that name files Saker carries (`builtin:rules`). */
export const BUILTIN_PREFIX = "builtin:";

/** Saker's default rules (the `rules/` directory it carries). */
export const DEFAULT_RULES = "builtin:rules";

/** What a build embeds besides the files: how it was made. */
export interface BuildStamp {
  /** Saker's version. */
  version: string;
  /** Git commit of the tree it was built from ("-dirty" appended with local changes). */
  commit: string;
  /** SHA-256 of the embedded probe object, hex. */
  probeSha256: string;
  /** When it was built, ISO 8601 UTC. */
  builtAt: string;
  /** `bundle` (dist/saker.js) or `binary` (dist/saker). */
  form: string;
}

interface Embedded {
  files: () => Record<string, string>;
  table: Record<string, string> | undefined;
  decoded: Map<string, Uint8Array>;
  stamp: BuildStamp;
}

let embedded: Embedded | undefined;

/**
 * Registers the files of a build and its stamp. Called once by the generated entry module of
 * the bundle and the compiled binary. `files` returns each file gzip-compressed as base64 text,
 * by asset name; it is called when an asset is first asked for.
 */
export function useEmbedded(files: () => Record<string, string>, stamp: BuildStamp): void {
  embedded = { files, table: undefined, decoded: new Map(), stamp };
}

/** The embedded files (gzip, base64) by name. */
function embeddedTable(e: Embedded): Record<string, string> {
  return e.table ??= e.files();
}

/** The build's stamp, or undefined when running from a source tree. */
export function buildStamp(): BuildStamp | undefined {
  return embedded?.stamp;
}

const ROOT = new URL("../", import.meta.url);

function sourcePath(name: string): string | undefined {
  for (const [key, rel] of Object.entries(ASSET_SOURCES)) {
    if (key === name) return new URL(rel, ROOT).pathname;
    if (key.endsWith("/") && name.startsWith(key)) {
      return new URL(rel + name.slice(key.length), ROOT).pathname;
    }
  }
  return undefined;
}

function decodeBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The bytes of an embedded file: base64 of its gzip form. */
function unpack(b64: string): Uint8Array {
  const out = process.getBuiltinModule("node:zlib").gunzipSync(decodeBase64(b64));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The bytes of an asset (e.g. `probe.bpf.o`, `rules/00_base.yaml`), or undefined. */
export function readAsset(name: string): Uint8Array | undefined {
  if (embedded) {
    const hit = embedded.decoded.get(name);
    if (hit) return hit;
    const b64 = embeddedTable(embedded)[name];
    if (b64 === undefined) return undefined;
    const bytes = unpack(b64);
    embedded.decoded.set(name, bytes);
    return bytes;
  }
  const path = sourcePath(name);
  if (!path) return undefined;
  try {
    return Deno.readFileSync(path);
  } catch {
    return undefined;
  }
}

/** An asset as UTF-8 text, or undefined. */
export function assetText(name: string): string | undefined {
  const bytes = readAsset(name);
  return bytes && new TextDecoder().decode(bytes);
}

/** Names of the assets under `dir` (e.g. `rules/`), sorted; nested folders included. */
export function listAssets(dir: string): string[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  if (embedded) {
    return Object.keys(embeddedTable(embedded)).filter((n) => n.startsWith(prefix)).sort();
  }
  const base = sourcePath(prefix);
  if (!base) return [];
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(abs)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory) walk(`${abs}${e.name}/`, `${rel}${e.name}/`);
      else if (e.isFile) out.push(`${rel}${e.name}`);
    }
  };
  walk(base, prefix);
  return out.sort();
}

/** Every asset name with its bytes, as a build embeds them (scripts/embed.ts). */
export function sourceAssets(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const key of Object.keys(ASSET_SOURCES)) {
    const names = key.endsWith("/") ? listAssets(key) : [key];
    for (const n of names) {
      const bytes = readAsset(n);
      if (bytes) out.set(n, bytes);
    }
  }
  return out;
}

/** True for a `builtin:` rules path. */
export function isBuiltin(path: string): boolean {
  return path.startsWith(BUILTIN_PREFIX);
}

/**
 * The files a `builtin:` path names: `builtin:rules` → every `.yaml` directly in `rules/` in name
 * order (as a rules directory on disk loads; `rules/tests/` holds tests, not rules),
 * `builtin:rules/10_x.yaml` → that file. Empty when there is none.
 */
export function builtinFiles(path: string): string[] {
  const name = path.slice(BUILTIN_PREFIX.length).replace(/\/+$/, "");
  if (readAsset(name)) return [path];
  const prefix = `${name}/`;
  return listAssets(prefix)
    .filter((n) => /\.ya?ml$/.test(n) && !n.slice(prefix.length).includes("/"))
    .map((n) => `${BUILTIN_PREFIX}${n}`);
}

/** The text of a `builtin:` file, or undefined. */
export function builtinText(path: string): string | undefined {
  return assetText(path.slice(BUILTIN_PREFIX.length));
}
