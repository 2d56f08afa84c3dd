/**
 * The Kubernetes manifests in deploy/kubernetes, checked offline: every object against the
 * Kubernetes OpenAPI schema (the npm package kubernetes-models, generated from Kubernetes'
 * OpenAPI specification, with its JSON schema validators), the config files and rules inside
 * the ConfigMaps through Saker's own loaders, the API server's audit policy and webhook
 * kubeconfig against what they must name, and the DaemonSet against what the agent needs: the
 * capabilities its preflight check asks for, the host root, the state directory the config
 * uses, the probes on the API port. The podman command line the image tests run is built from
 * the same DaemonSet (scripts/daemonset_podman.ts), checked here flag by flag.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { parseAllDocuments } from "yaml";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { loadConfig } from "../../src/config/load.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { AGENT_CAPABILITIES } from "../../src/agent/preflight.ts";
import { AGENT_V8_FLAGS } from "../../src/agent/heap.ts";
import { SAKER_VERSION } from "../../src/version.ts";
import { daemonSet, podmanArgs } from "../../scripts/daemonset_podman.ts";
import { unknownFields } from "../support/k8s_fields.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const DIR = `${REPO_ROOT}deploy/kubernetes`;

// deno-lint-ignore no-explicit-any
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/DaemonSet": DaemonSet,
  "apps/v1/Deployment": Deployment,
};

function docs(file: string): Obj[] {
  return parseAllDocuments(Deno.readTextFileSync(file)).map((d) => {
    assertEquals(d.errors.length, 0, `${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    return d.toJS();
  }).filter((d) => d);
}

/** Every Kubernetes object of deploy/kubernetes (not the API server's files in audit/). */
function objects(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const e of [...Deno.readDirSync(DIR)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isFile || !e.name.endsWith(".yaml")) continue;
    for (const obj of docs(`${DIR}/${e.name}`)) out.push({ file: e.name, obj });
  }
  return out;
}

function find(kind: string, name: string): Obj {
  const o = objects().find((x) => x.obj.kind === kind && x.obj.metadata?.name === name);
  assert(o, `no ${kind} ${name}`);
  return o.obj;
}

Deno.test("manifests: every object validates against the Kubernetes OpenAPI schema", () => {
  const all = objects();
  assert(all.length >= 9, `only ${all.length} objects`);
  for (const { file, obj } of all) {
    const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
    assert(Model, `${file}: ${obj.apiVersion} ${obj.kind} has no model here`);
    try {
      new Model(obj).validate();
    } catch (err) {
      throw new Error(`${file}: ${obj.kind} ${obj.metadata?.name}: ${(err as Error).message}`);
    }
    if (obj.kind !== "Namespace") assertEquals(obj.metadata.namespace, "saker", file);
  }
});

Deno.test("manifests: no field the API server's strict validation would reject", () => {
  for (const { file, obj } of objects()) {
    const path = obj.apiVersion === "v1" ? `v1/${obj.kind}` : `${obj.apiVersion}/${obj.kind}`;
    assertEquals(unknownFields(obj, path), [], `${file}: ${obj.kind} ${obj.metadata?.name}`);
  }
  // It can fail: a misspelt security setting is found.
  const ds = structuredClone(daemonSet());
  ds.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  assertEquals(unknownFields(ds, "apps/v1/DaemonSet"), [
    "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem",
  ]);
});

Deno.test("manifests: the schema check catches a wrong type (it can fail)", () => {
  const ds = structuredClone(daemonSet());
  ds.spec.template.spec.containers[0].securityContext.capabilities.add = [1];
  let failed = false;
  try {
    new DaemonSet(ds).validate();
  } catch {
    failed = true;
  }
  assert(failed);
});

/** What the saker-api-token Secret gives the containers (their API refuses to start without). */
const SECRET_ENV = { SAKER_API_TOKEN: "token-from-the-saker-api-token-secret" };

Deno.test("manifests: config files and rules in the ConfigMaps load without problems", async () => {
  for (const name of ["saker-config", "saker-audit-config"]) {
    const cm = find("ConfigMap", name);
    const { config, warnings } = await loadConfig({
      file: `${name}/config.yaml`,
      text: cm.data["config.yaml"],
      env: SECRET_ENV,
    });
    assertEquals(warnings, [], name);
    for (const rf of config.rules_files) {
      if (rf.startsWith("builtin:")) continue;
      const file = rf.replace(/^\/etc\/saker\//, "");
      const text = cm.data[file];
      assert(text !== undefined, `${name}: rules file ${rf} is not in the ConfigMap`);
      const loaded = loadRulesText([{ name: rf, text }]);
      const errors = loaded.results.flatMap((r) => r.errors.map((e) => `${e.code}: ${e.message}`));
      assertEquals(errors, [], `${name}: ${rf}`);
    }
  }
});

Deno.test("manifests: the DaemonSet gives the agent what it needs and nothing more", async () => {
  const ds = daemonSet();
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];
  const sc = c.securityContext;
  assertEquals(sc.capabilities.drop, ["ALL"]);
  assertEquals([...sc.capabilities.add].sort(), Object.keys(AGENT_CAPABILITIES).sort());
  assertEquals(sc.privileged, false);
  assertEquals(sc.allowPrivilegeEscalation, false);
  assertEquals(sc.readOnlyRootFilesystem, true);
  assertEquals(pod.hostPID, true);
  assertEquals(pod.hostNetwork, true);
  assertEquals(pod.automountServiceAccountToken, false);
  assertEquals(pod.tolerations, [{ operator: "Exists" }]);
  assertEquals(c.image, `localhost/saker:${SAKER_VERSION}`);
  assert(c.resources.requests.cpu && c.resources.limits.memory);
  const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value]));
  // The API token comes from a Secret, never from the manifest.
  const token = c.env.find((e: Obj) => e.name === "SAKER_API_TOKEN");
  assertEquals(token.valueFrom, { secretKeyRef: { name: "saker-api-token", key: "token" } });
  const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.mountPath, m]));
  const volumes = Object.fromEntries(pod.volumes.map((v: Obj) => [v.name, v]));
  // The host root, read-only, where SAKER_HOST_ROOT says.
  const host = mounts[env.SAKER_HOST_ROOT];
  assert(host?.readOnly, "host root mount");
  assertEquals(volumes[host.name].hostPath.path, "/");
  // The config is the ConfigMap; the alert store's directory is the writable state volume.
  const cfgMount = mounts["/etc/saker"];
  assertEquals(volumes[cfgMount.name].configMap.name, "saker-config");
  assertEquals(c.args, ["run", "-c", "/etc/saker/config.yaml"]);
  const cm = find("ConfigMap", "saker-config");
  const { config } = await loadConfig({
    file: "config.yaml",
    text: cm.data["config.yaml"],
    env: SECRET_ENV,
  });
  const stateDir = config.alert_store.path.replace(/\/[^/]+$/, "");
  assert(mounts[stateDir] && !mounts[stateDir].readOnly, `no writable mount at ${stateDir}`);
  assert(volumes[mounts[stateDir].name].hostPath, "alerts survive the pod: hostPath");
  // Probes and the Service reach the API the config opens.
  assertEquals(config.webserver.listen_address, "0.0.0.0");
  const port = c.ports.find((p: Obj) => p.name === "api").containerPort;
  assertEquals(port, config.webserver.listen_port);
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    assertEquals(probe.httpGet.path, config.webserver.k8s_healthz_endpoint);
    assertEquals(probe.httpGet.port, "api");
  }
  const svc = find("Service", "saker");
  assertEquals(svc.spec.selector, ds.spec.selector.matchLabels);
  assertEquals(svc.spec.ports[0].targetPort, "api");
});

Deno.test("manifests: the service accounts hold no token and no role", () => {
  const all = objects();
  for (const { obj } of all.filter((x) => x.obj.kind === "ServiceAccount")) {
    assertEquals(obj.automountServiceAccountToken, false, obj.metadata.name);
  }
  const bindings = all.filter((x) => /Binding$/.test(x.obj.kind));
  assertEquals(bindings.length, 0, "no RoleBinding or ClusterRoleBinding");
});

Deno.test("manifests: the audit receiver runs without the probe, privileges or host access", () => {
  const d = find("Deployment", "saker-audit");
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  assertEquals(c.args.slice(0, 3), ["run", "--disable-source", "syscall"]);
  assertEquals(pod.securityContext.runAsNonRoot, true);
  assertEquals(c.securityContext.capabilities.drop, ["ALL"]);
  assertEquals(c.securityContext.capabilities.add, undefined);
  assertEquals(c.securityContext.readOnlyRootFilesystem, true);
  assert(!pod.hostPID && !pod.hostNetwork);
  assert(pod.volumes.every((v: Obj) => !v.hostPath));
});

Deno.test("manifests: the API server's audit webhook reaches the receiver's endpoint", async () => {
  const kubeconfig = docs(`${DIR}/audit/webhook-kubeconfig.yaml`)[0];
  assertEquals([kubeconfig.apiVersion, kubeconfig.kind], ["v1", "Config"]);
  const ctx = kubeconfig.contexts.find((c: Obj) => c.name === kubeconfig["current-context"]);
  const cluster = kubeconfig.clusters.find((c: Obj) => c.name === ctx.context.cluster);
  assert(kubeconfig.users.some((u: Obj) => u.name === ctx.context.user));
  const url = new URL(cluster.cluster.server);
  const svc = find("Service", "saker-audit");
  assertEquals(url.hostname, svc.spec.clusterIP);
  assertEquals(Number(url.port), svc.spec.ports[0].port);
  const cm = find("ConfigMap", "saker-audit-config");
  const { config } = await loadConfig({
    file: "config.yaml",
    text: cm.data["config.yaml"],
    env: SECRET_ENV,
  });
  assertEquals(url.pathname, config.webserver.k8s_audit_endpoint);
  assertEquals(config.webserver.listen_port, svc.spec.ports[0].port);

  const policy = docs(`${DIR}/audit/audit-policy.yaml`)[0];
  assertEquals([policy.apiVersion, policy.kind], ["audit.k8s.io/v1", "Policy"]);
  const levels = new Set(["None", "Metadata", "Request", "RequestResponse"]);
  for (const r of policy.rules) assert(levels.has(r.level), `level ${r.level}`);
  // Secrets are never logged with their contents.
  for (const r of policy.rules) {
    const secrets = (r.resources ?? []).some((g: Obj) => g.resources?.includes("secrets"));
    if (secrets) assertEquals(r.level, "Metadata");
  }
});

Deno.test("manifests: the podman command line is the DaemonSet's, flag by flag", () => {
  const args = podmanArgs(daemonSet(), {
    name: "saker",
    hostPaths: { "/var/lib/saker": "/tmp/state" },
    configMaps: { "saker-config": "/tmp/config" },
    secrets: { "saker-api-token": { token: "t0ken" } },
  });
  const caps = daemonSet().spec.template.spec.containers[0].securityContext.capabilities.add;
  assertEquals(args, [
    "run",
    "--name",
    "saker",
    "--pid=host",
    "--network=host",
    "--cap-drop=all",
    `--cap-add=${caps.join(",")}`,
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "no-new-privileges",
    "--read-only",
    "--read-only-tmpfs=false",
    "--user",
    "0:0",
    "-e",
    "SAKER_HOST_ROOT=/host",
    "-e",
    `DENO_V8_FLAGS=${AGENT_V8_FLAGS.join(",")}`,
    "-e",
    "SAKER_API_TOKEN=t0ken",
    "-v",
    "/:/host:ro,rslave",
    "-v",
    "/tmp/state:/var/lib/saker:rw",
    "-v",
    "/tmp/config:/etc/saker:ro",
    "--mount",
    "type=tmpfs,destination=/tmp,tmpfs-size=64m,tmpfs-mode=1777",
    "--memory=1g",
    "--cpus=1",
    `localhost/saker:${SAKER_VERSION}`,
    "run",
    "-c",
    "/etc/saker/config.yaml",
  ]);
});
