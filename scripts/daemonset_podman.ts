/**
 * The podman command line that runs Saker's node agent exactly as the DaemonSet in
 * deploy/kubernetes/daemonset.yaml does: host PID and network namespaces, the same
 * capabilities, seccomp profile, read-only root, user, environment, mounts and resource
 * limits, read from the manifest (one source of truth: the image's live tests run this). A
 * ConfigMap volume becomes a directory with its files; hostPath volumes keep their host paths
 * unless `hostPaths` maps them elsewhere (the tests give the state directory a temporary one).
 *
 * Run it to print the command for a plain podman host:
 *
 * ```sh
 * deno run -A scripts/daemonset_podman.ts            # podman run ... localhost/saker:0.1.0 run ...
 * ```
 * @module
 */
import { parseAllDocuments } from "yaml";

// deno-lint-ignore no-explicit-any
type Obj = any;

const root = new URL("..", import.meta.url).pathname;

/** Options for {@link podmanArgs}. */
export interface PodmanOptions {
  /** Container name. */
  name?: string;
  /** Image instead of the manifest's. */
  image?: string;
  /** Host paths of hostPath volumes to use instead (manifest path → path here). */
  hostPaths?: Record<string, string>;
  /** ConfigMap name → directory holding its files (see {@link writeConfigMap}). */
  configMaps?: Record<string, string>;
  /** Secret name → its keys and values, for env entries taken from Secrets. */
  secrets?: Record<string, Record<string, string>>;
  /** A Secret value not in `secrets` comes from the environment podman runs in (`-e NAME`). */
  secretsFromEnv?: boolean;
  /** Extra arguments after the manifest's (e.g. a test's `-o webserver.listen_port=N`). */
  extraArgs?: string[];
  /** podman flags the machine needs before `run` (e.g. `--runtime runc`). */
  globalFlags?: string[];
  /** Flags added to `run` that the manifest has no word for (ulimits, `-d`, `--rm`). */
  runFlags?: string[];
}

/** The documents of a manifest file. */
export function readManifests(path: string): Obj[] {
  return parseAllDocuments(Deno.readTextFileSync(path)).map((d) => d.toJS()).filter((d) => d);
}

/** The DaemonSet of deploy/kubernetes/daemonset.yaml. */
export function daemonSet(path = `${root}deploy/kubernetes/daemonset.yaml`): Obj {
  return workload("DaemonSet", "saker", path);
}

/** A workload (DaemonSet, Deployment) of a manifest file, by kind and name. */
export function workload(kind: string, name: string, path: string): Obj {
  const w = readManifests(path).find((d) => d.kind === kind && d.metadata?.name === name);
  if (!w) throw new Error(`${path}: no ${kind} ${name}`);
  return w;
}

function memory(q: string): string {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  if (!m) throw new Error(`memory quantity ${q} is not handled`);
  return `${m[1]}${({ Ki: "k", Mi: "m", Gi: "g" } as Record<string, string>)[m[2] ?? ""] ?? "b"}`;
}

function cpus(q: string): string {
  return q.endsWith("m") ? String(Number(q.slice(0, -1)) / 1000) : q;
}

/**
 * The `podman` arguments (without the program name) for the one container of a workload's pod
 * template (the DaemonSet's, or the audit receiver Deployment's).
 */
export function podmanArgs(ds: Obj, opts: PodmanOptions = {}): string[] {
  const pod = ds.spec.template.spec;
  if (pod.containers.length !== 1) throw new Error("the DaemonSet must have one container");
  const c = pod.containers[0];
  const sc = c.securityContext ?? {};
  const args = [...(opts.globalFlags ?? []), "run", ...(opts.runFlags ?? [])];
  if (opts.name) args.push("--name", opts.name);
  if (pod.hostPID) args.push("--pid=host");
  if (pod.hostNetwork) args.push("--network=host");
  if (sc.privileged) args.push("--privileged");
  const caps = sc.capabilities ?? {};
  for (const d of caps.drop ?? []) args.push(`--cap-drop=${String(d).toLowerCase()}`);
  if ((caps.add ?? []).length > 0) args.push(`--cap-add=${caps.add.join(",")}`);
  const seccomp = sc.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
  if (seccomp === "Unconfined") args.push("--security-opt", "seccomp=unconfined");
  else if (seccomp && seccomp !== "RuntimeDefault") {
    throw new Error(`seccompProfile ${seccomp} is not handled`);
  }
  if (sc.allowPrivilegeEscalation === false) args.push("--security-opt", "no-new-privileges");
  // Kubernetes adds no tmpfs to a read-only root: what must be writable is a volume.
  if (sc.readOnlyRootFilesystem) args.push("--read-only", "--read-only-tmpfs=false");
  const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
  const gid = sc.runAsGroup ?? pod.securityContext?.runAsGroup;
  if (uid !== undefined) args.push("--user", gid !== undefined ? `${uid}:${gid}` : String(uid));
  for (const e of c.env ?? []) {
    let value = e.value ?? "";
    if (e.valueFrom) {
      const ref = e.valueFrom.secretKeyRef;
      if (!ref) throw new Error(`env ${e.name}: only valueFrom.secretKeyRef is handled`);
      const secret = opts.secrets?.[ref.name]?.[ref.key];
      if (secret === undefined) {
        if (opts.secretsFromEnv) {
          args.push("-e", e.name);
          continue;
        }
        if (ref.optional) continue;
        throw new Error(`env ${e.name}: Secret ${ref.name} key ${ref.key} needs a value (secrets)`);
      }
      value = secret;
    }
    args.push("-e", `${e.name}=${value}`);
  }
  const volumes = new Map<string, Obj>((pod.volumes ?? []).map((v: Obj) => [v.name, v]));
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name} has no volume`);
    const ro = m.readOnly ? "ro" : "rw";
    const propagation = m.mountPropagation === "HostToContainer"
      ? ",rslave"
      : m.mountPropagation === "Bidirectional"
      ? ",rshared"
      : "";
    if (v.hostPath) {
      const src = opts.hostPaths?.[v.hostPath.path] ?? v.hostPath.path;
      args.push("-v", `${src}:${m.mountPath}:${ro}${propagation}`);
    } else if (v.configMap) {
      const dir = opts.configMaps?.[v.configMap.name];
      if (!dir) throw new Error(`ConfigMap ${v.configMap.name} needs a directory (configMaps)`);
      args.push("-v", `${dir}:${m.mountPath}:ro`);
    } else if (v.emptyDir) {
      // An emptyDir is created writable by every user of the pod (mode 0777).
      const size = v.emptyDir.sizeLimit ? `,tmpfs-size=${memory(v.emptyDir.sizeLimit)}` : "";
      args.push("--mount", `type=tmpfs,destination=${m.mountPath}${size},tmpfs-mode=1777`);
    } else {
      throw new Error(`volume ${m.name}: only hostPath, configMap and emptyDir are handled`);
    }
  }
  const limits = c.resources?.limits ?? {};
  if (limits.memory) args.push(`--memory=${memory(limits.memory)}`);
  if (limits.cpu) args.push(`--cpus=${cpus(String(limits.cpu))}`);
  args.push(
    opts.image ?? c.image,
    ...(c.command ?? []),
    ...(c.args ?? []),
    ...(opts.extraArgs ?? []),
  );
  return args;
}

/** The files of the ConfigMap `name` found in `manifestPath`. */
export function configMapFiles(manifestPath: string, name: string): Record<string, string> {
  const cm = readManifests(manifestPath).find((d) =>
    d.kind === "ConfigMap" && d.metadata?.name === name
  );
  if (!cm) throw new Error(`${manifestPath}: no ConfigMap ${name}`);
  return Object.fromEntries(Object.entries(cm.data ?? {}).map(([k, v]) => [k, String(v)]));
}

/**
 * Publishes `files` into `dir` the way the kubelet fills a ConfigMap volume: a new timestamped
 * directory, a `..data` symlink swapped to it atomically, and each file a symlink through
 * `..data`. Call again with the next `version` to publish an update.
 */
export function publishConfigMap(dir: string, files: Record<string, string>, version = 1): void {
  const ts = `..2026_01_01_00_00_${String(version).padStart(2, "0")}.${version}`;
  Deno.mkdirSync(`${dir}/${ts}`);
  for (const [file, text] of Object.entries(files)) {
    Deno.writeTextFileSync(`${dir}/${ts}/${file}`, text);
  }
  Deno.symlinkSync(ts, `${dir}/..data_tmp`);
  Deno.renameSync(`${dir}/..data_tmp`, `${dir}/..data`);
  for (const file of Object.keys(files)) {
    try {
      Deno.lstatSync(`${dir}/${file}`);
    } catch {
      Deno.symlinkSync(`..data/${file}`, `${dir}/${file}`);
    }
  }
}

/** Writes the files of the ConfigMap `name` found in `manifestPath` into `dir` (kubelet layout). */
export function writeConfigMap(manifestPath: string, name: string, dir: string): void {
  publishConfigMap(dir, configMapFiles(manifestPath, name));
}

if (import.meta.main) {
  const args = podmanArgs(daemonSet(), {
    name: "saker",
    configMaps: { "saker-config": "/etc/saker" },
    runFlags: ["-d"],
    secretsFromEnv: true,
  });
  console.log("# the API token comes from the environment: export SAKER_API_TOKEN=$(saker token)");
  console.log(["podman", ...args].map((a) => /[^\w@%+=:,./-]/.test(a) ? `'${a}'` : a).join(" "));
}
