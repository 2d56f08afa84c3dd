/**
 * Unknown fields in Kubernetes manifests, as the API server's strict field validation (kubectl's
 * default since 1.27) rejects them: the OpenAPI schema validators of kubernetes-models accept
 * extra properties, so a misspelt `readOnlyRootFileSystem` would pass them and be dropped by a
 * lenient client. The field lists come from the same package's type declarations (one
 * interface per OpenAPI definition), read from Deno's npm cache and followed through imports.
 *
 * @example
 * ```ts
 * import { unknownFields } from "./k8s_fields.ts";
 * unknownFields({ apiVersion: "v1", kind: "Service", spec: { typo: 1 } }, "v1/Service");
 * // ["spec.typo"]
 * ```
 * @module
 */

interface Parsed {
  /** Interface name → property → declared type text. */
  interfaces: Map<string, Map<string, string>>;
  /** Local or exported name → interface name in this file. */
  aliases: Map<string, string>;
  /** Imported name → absolute path of the declaring file. */
  imports: Map<string, string>;
}

let npmCache: string | undefined;

function cacheDir(): string {
  if (npmCache) return npmCache;
  const out = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .outputSync();
  npmCache = JSON.parse(new TextDecoder().decode(out.stdout)).npmCache as string;
  return npmCache;
}

/** The newest cached version of an npm package, as a directory. */
function packageDir(name: string): string {
  const base = `${cacheDir()}/registry.npmjs.org/${name}`;
  const versions = [...Deno.readDirSync(base)].filter((e) => e.isDirectory).map((e) => e.name)
    .sort((a, b) => {
      const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
      for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
      return 0;
    });
  if (versions.length === 0) throw new Error(`${name} is not in the npm cache (${base})`);
  return `${base}/${versions.at(-1)}`;
}

const parsed = new Map<string, Parsed>();

function resolveImport(from: string, spec: string): string {
  const dts = (p: string) => p.replace(/\.js$/, "") + ".d.ts";
  if (spec.startsWith(".")) return dts(new URL(spec, `file://${from}`).pathname);
  const m = /^(@[^/]+\/[^/]+|[^/]+)\/(.+)$/.exec(spec);
  if (!m) throw new Error(`cannot resolve ${spec}`);
  return dts(`${packageDir(m[1])}/${m[2]}`);
}

function parse(file: string): Parsed {
  const hit = parsed.get(file);
  if (hit) return hit;
  const text = Deno.readTextFileSync(file);
  const p: Parsed = { interfaces: new Map(), aliases: new Map(), imports: new Map() };
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";/gm)) {
    for (const name of m[1].split(",").map((s) => s.trim())) {
      p.imports.set(
        name,
        m[2].startsWith("@kubernetes-models/base") ? "" : resolveImport(file, m[2]),
      );
    }
  }
  for (const m of text.matchAll(/^export interface (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)) {
    const props = new Map<string, string>();
    for (const pm of m[2].matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) props.set(pm[1], pm[2]);
    p.interfaces.set(m[1], props);
    p.aliases.set(m[1], m[1]);
  }
  for (const m of text.matchAll(/^export type \{ ([^}]+) \};/gm)) {
    for (const pair of m[1].split(",")) {
      const [local, exported] = pair.split(" as ").map((s) => s.trim());
      if (exported && p.interfaces.has(local)) p.aliases.set(exported, local);
    }
  }
  parsed.set(file, p);
  return p;
}

/** The properties of type `name` as seen from `file`, with the file declaring it. */
function lookup(
  name: string,
  file: string,
): { props: Map<string, string>; file: string } | undefined {
  const p = parse(file);
  const local = p.aliases.get(name);
  if (local) return { props: p.interfaces.get(local)!, file };
  const target = p.imports.get(name);
  if (!target) return undefined;
  const q = parse(target);
  const iface = q.aliases.get(name);
  return iface ? { props: q.interfaces.get(iface)!, file: target } : undefined;
}

function walk(value: unknown, type: string, file: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const t = type.trim();
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, arr[1], file, `${path}[${i}]`, out));
    return;
  }
  if (t.startsWith("{")) return; // a map of free keys (labels, annotations, data)
  if (typeof value !== "object" || Array.isArray(value)) return;
  const def = /^\w+$/.test(t) ? lookup(t, file) : undefined;
  if (!def) return; // a scalar or a type without declared fields (IntOrString, Quantity)
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const declared = def.props.get(k);
    if (declared === undefined) out.push(path ? `${path}.${k}` : k);
    else walk(v, declared, def.file, path ? `${path}.${k}` : k, out);
  }
}

/**
 * Paths of the fields of `obj` that its type does not declare. `model` is the kubernetes-models
 * module of its kind (`apps/v1/DaemonSet`, `v1/Service` ...).
 */
export function unknownFields(obj: unknown, model: string): string[] {
  const file = `${packageDir("kubernetes-models")}/${model}.d.ts`;
  const kind = model.slice(model.lastIndexOf("/") + 1);
  const out: string[] = [];
  walk(obj, `I${kind}`, file, "", out);
  return out;
}
