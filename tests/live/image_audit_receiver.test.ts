/**
 * The Kubernetes audit receiver as deploy/kubernetes/audit-receiver.yaml deploys it: the image
 * started with the Deployment's command line (built from the manifest: `--disable-source
 * syscall`, a non-root user, no capabilities, read-only root, its ConfigMap's config and rules,
 * emptyDir volumes), taking audit events the way the API server's webhook sends them (the
 * kubeconfig's path), and alerting with the ConfigMap's rules. Deviations: `--runtime runc` and
 * ulimits for this machine, and the container port published on loopback (a pod has its own
 * address; here the host reaches the container through a published port).
 */
import { assertEquals, assertMatch } from "../support/assert.ts";
import { haveTool, REPO_ROOT, skipNote } from "../support/env.ts";
import { ensureImage } from "../../scripts/image.ts";
import { newToken } from "../../src/cli/token.ts";
import {
  configMapFiles,
  podmanArgs,
  publishConfigMap,
  readManifests,
  workload,
} from "../../scripts/daemonset_podman.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";

const MANIFEST = `${REPO_ROOT}deploy/kubernetes/audit-receiver.yaml`;

const ignore = Deno.uid() !== 0 || !haveTool("podman");
if (ignore) skipNote("the audit receiver image test needs root and podman");

async function podman(args: string[], check = true) {
  const out = await new Deno.Command("podman", {
    args: [...PODMAN_BASE, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (check && r.code !== 0) throw new Error(`podman ${args.join(" ")}: ${r.stderr}`);
  return r;
}

function auditEvent(verb: string, resource: string, subresource?: string): unknown {
  return {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    auditID: crypto.randomUUID(),
    stage: "ResponseComplete",
    requestURI: `/api/v1/namespaces/prod/${resource}/db${subresource ? `/${subresource}` : ""}`,
    verb,
    user: { username: "mallory", groups: ["system:authenticated"] },
    sourceIPs: ["10.0.0.7"],
    objectRef: { resource, namespace: "prod", name: "db", apiVersion: "v1", subresource },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: new Date().toISOString(),
    stageTimestamp: new Date().toISOString(),
  };
}

Deno.test({
  name: "image as the audit receiver Deployment: non-root, no capabilities, webhook alerts",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const img = await ensureImage();
    const configDir = await Deno.makeTempDir({ prefix: "saker-audit-config-" });
    await Deno.chmod(configDir, 0o755);
    publishConfigMap(configDir, configMapFiles(MANIFEST, "saker-audit-config"));
    const deployment = workload("Deployment", "saker-audit", MANIFEST);
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const name = `saker-audit-${Deno.pid}`;
    const token = newToken();
    const containerPort = deployment.spec.template.spec.containers[0].ports[0].containerPort;
    const args = podmanArgs(deployment, {
      name,
      image: img.ref,
      configMaps: { "saker-audit-config": configDir },
      secrets: { "saker-api-token": { token } },
      runFlags: [
        "-d",
        "--replace", // a container of this name is one a killed run left (the name has our pid)
        ...RUN_LIMITS,
        "-p",
        `127.0.0.1:${port}:${containerPort}`,
      ],
    });
    try {
      await podman(args);
      const api = `http://127.0.0.1:${port}`;
      const end = Date.now() + 20_000;
      while (!(await fetch(`${api}/healthz`).then((r) => r.ok, () => false))) {
        if (Date.now() > end) {
          throw new Error(`not healthy: ${(await podman(["logs", name], false)).stderr}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      // Where the API server's webhook kubeconfig points.
      const kubeconfig =
        readManifests(`${REPO_ROOT}deploy/kubernetes/audit/webhook-kubeconfig.yaml`)[0];
      const path = new URL(kubeconfig.clusters[0].cluster.server).pathname;
      const r = await fetch(`${api}${path}`, {
        method: "POST",
        // The token the webhook kubeconfig's user presents.
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({
          kind: "EventList",
          apiVersion: "audit.k8s.io/v1",
          items: [auditEvent("get", "secrets"), auditEvent("create", "pods", "exec")],
        }),
      });
      assertEquals(r.status, 200);
      assertEquals((await r.json()).accepted, 2);
      const rules = new Set<string>();
      const deadline = Date.now() + 10_000;
      while (rules.size < 2 && Date.now() < deadline) {
        for (const line of (await podman(["logs", name], false)).stdout.split("\n")) {
          if (line.startsWith("{")) rules.add(JSON.parse(line).rule);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assertEquals([...rules].sort(), [
        "Secret read by an unexpected user",
        "Shell or command run in a pod through the API",
      ]);
      const inspect = JSON.parse((await podman(["inspect", name])).stdout)[0];
      assertEquals(inspect.Config.User, "65532:65532");
      assertEquals(inspect.HostConfig.ReadonlyRootfs, true);
      assertEquals(inspect.EffectiveCaps ?? [], []);
      await podman(["kill", "--signal", "TERM", name]);
      assertEquals((await podman(["wait", name])).stdout.trim(), "0");
      assertMatch((await podman(["logs", name], false)).stderr, /alert store closed/);
    } finally {
      await podman(["rm", "-f", name], false);
      await Deno.remove(configDir, { recursive: true });
    }
  },
});
