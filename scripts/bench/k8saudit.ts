/**
 * Kubernetes audit benchmark: Falco's k8s_audit_rules.yaml on a mix of audit events shaped like
 * a busy cluster's (mostly controllers' get/list/watch/update, then pod creations, secret reads,
 * execs, config maps, RBAC changes). Reports, in ns per audit event (process CPU time for the
 * in-memory parts, so that other load on a shared machine counts less; wall time with HTTP):
 *
 * - `evaluate`: the rules alone on parsed events (generated code), and side by side in the same
 *   run the reference evaluator walking the checked trees (`reference_ratio`);
 * - `parse`: a webhook body (an EventList of 400 events, kube-apiserver's default batch) from
 *   JSON text to events;
 * - `webhook_pipeline`: the webhook handler (body to events) plus the pipeline (rules, alerts),
 *   without the network;
 * - `http_loopback`: the same through a real HTTP server on 127.0.0.1 (fetch, one batch in
 *   flight), with events/s.
 * @module
 */
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { evaluate } from "../../src/rules/interp.ts";
import { type AuditEvent, parseAuditPayload } from "../../src/k8saudit/audit_event.ts";
import { AuditWebhook } from "../../src/sources/k8saudit_webhook.ts";
import { Pipeline } from "../../src/pipeline/pipeline.ts";
import { Registry } from "../../src/metrics.ts";
import process from "node:process";
import { referenceDir } from "../reference.ts";

const REF = referenceDir() ?? "<reference material absent: set SAKER_REFERENCE>";

const BATCH = 400;

/** A pseudo-random but repeatable number generator. */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

/** One audit record of the mix, number `i`. */
function record(i: number, r: () => number): Record<string, unknown> {
  const t = new Date(Date.UTC(2024, 2, 1, 8, 0, 0) + i * 3).toISOString();
  const base = (
    verb: string,
    user: string,
    resource: string,
    ns: string | undefined,
    name: string | undefined,
    extra: Record<string, unknown> = {},
  ) => ({
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    auditID: `bench-${i}`,
    stage: "ResponseComplete",
    requestURI: `/api/v1/${ns ? `namespaces/${ns}/` : ""}${resource}${name ? `/${name}` : ""}`,
    verb,
    user: { username: user, groups: ["system:authenticated"] },
    sourceIPs: ["10.0.0.12"],
    userAgent: "kube-controller-manager/v1.29.1",
    objectRef: { resource, namespace: ns, name, apiVersion: "v1" },
    responseStatus: { metadata: {}, code: verb === "create" ? 201 : 200 },
    annotations: { "authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "" },
    requestReceivedTimestamp: t,
    stageTimestamp: t,
    ...extra,
  });
  const p = r();
  if (p < 0.55) {
    const verb = ["get", "list", "watch", "update"][Math.floor(r() * 4)];
    const res = ["pods", "configmaps", "leases", "endpoints", "nodes"][Math.floor(r() * 5)];
    return base(
      verb,
      "system:serviceaccount:kube-system:replicaset-controller",
      res,
      "kube-system",
      undefined,
    );
  }
  if (p < 0.65) {
    const privileged = r() < 0.2, hostNet = r() < 0.1;
    const image =
      ["nginx:1.25", "busybox", "registry.k8s.io/kube-proxy:v1.29", "falcosecurity/falco"][
        Math.floor(r() * 4)
      ];
    return base(
      "create",
      "system:serviceaccount:kube-system:replicaset-controller",
      "pods",
      "default",
      undefined,
      {
        level: "RequestResponse",
        requestObject: {
          kind: "Pod",
          spec: {
            hostNetwork: hostNet,
            containers: [
              { name: "app", image, securityContext: { privileged } },
              { name: "side", image: "envoyproxy/envoy:v1.29" },
            ],
            volumes: r() < 0.2 ? [{ name: "h", hostPath: { path: "/var/run/docker.sock" } }] : [],
          },
        },
        responseObject: { kind: "Pod", metadata: { name: `web-${i}` } },
      },
    );
  }
  if (p < 0.78) return base("get", r() < 0.5 ? "dev-ann" : "ci-bot", "secrets", "prod", "db");
  if (p < 0.83) {
    return base("create", "dev-ann", "pods", "prod", `web-${i % 7}`, {
      stage: "ResponseStarted",
      requestURI: `/api/v1/namespaces/prod/pods/web-${i % 7}/exec?command=sh&container=app`,
      objectRef: { resource: "pods", namespace: "prod", name: `web-${i % 7}`, subresource: "exec" },
    });
  }
  if (p < 0.9) {
    return base(r() < 0.5 ? "create" : "update", "dev-ann", "configmaps", "prod", "cfg", {
      level: "Request",
      requestObject: {
        kind: "ConfigMap",
        data: { mode: "prod", db_password: r() < 0.3 ? "x" : "" },
      },
    });
  }
  if (p < 0.95) {
    return base("create", "admin", "clusterrolebindings", undefined, `b-${i}`, {
      level: "Request",
      requestObject: {
        kind: "ClusterRoleBinding",
        roleRef: { name: r() < 0.3 ? "cluster-admin" : "view" },
        subjects: [{ kind: "User", name: "ann" }],
      },
    });
  }
  return base("create", "admin", "clusterroles", undefined, `r-${i}`, {
    level: "Request",
    requestObject: {
      kind: "ClusterRole",
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: r() < 0.3 ? ["*"] : ["get"] }],
    },
  });
}

/** `count` audit records of the mix (repeatable for a seed). */
export function auditMix(count: number, seed = 7): Record<string, unknown>[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, i) => record(i, r));
}

/** CPU time of this process so far, ns. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Median of `n` runs of `f` (each returning ns per event). */
function median(n: number, f: () => number): number {
  const xs = Array.from({ length: n }, f).sort((a, b) => a - b);
  return xs[Math.floor(n / 2)];
}

const round = (x: number) => Math.round(x * 10) / 10;

/** The benchmark. */
export async function bench(): Promise<Record<string, unknown>> {
  const rulesFile = `${REF}/falco-rules/k8s_audit_rules.yaml`;
  try {
    await Deno.stat(rulesFile);
  } catch {
    return { skipped: `${rulesFile} is absent` };
  }
  const loaded = await loadRulesFiles([rulesFile]);
  const t0 = performance.now();
  const rs = compileRuleset(loaded, { source: "k8s_audit", ruleMatching: "first" });
  const compileMs = performance.now() - t0;

  const total = 20 * BATCH;
  const records = auditMix(total);
  const bodies: string[] = [];
  for (let i = 0; i < total; i += BATCH) {
    bodies.push(JSON.stringify({ kind: "EventList", items: records.slice(i, i + BATCH) }));
  }
  const events: AuditEvent[] = parseAuditPayload(records).events;
  let alerts = 0;
  const emit = () => alerts++;

  // Rules alone, generated code, after a warm-up long enough for V8 to optimise the extractors.
  for (const t = performance.now(); performance.now() - t < 2000;) {
    for (const ev of events) rs.evaluate(ev, emit);
  }
  alerts = 0;
  const evaluateNs = median(9, () => {
    const t = cpuNs();
    for (let i = 0; i < events.length; i++) rs.evaluate(events[i], emit);
    return (cpuNs() - t) / events.length;
  });
  const alertsPerRound = alerts / 9;
  // The reference evaluator on the same events (first match, as the ruleset).
  const reference = () => {
    const t = cpuNs();
    for (const ev of events) {
      for (const rule of rs.rules) if (evaluate(rule.checked, ev)) break;
    }
    return (cpuNs() - t) / events.length;
  };
  reference();
  const referenceNs = median(3, reference);

  // Body text to events.
  const parseNs = median(5, () => {
    const t = cpuNs();
    for (const b of bodies) parseAuditPayload(JSON.parse(b));
    return (cpuNs() - t) / total;
  });

  // The webhook handler and the pipeline, no network.
  const pipelineRun = async (post: (body: string) => Promise<Response>, hook: AuditWebhook) => {
    let got = 0;
    const done = new Pipeline({
      source: hook,
      ruleset: rs,
      onAlerts: (a) => got += a.length,
      registry: new Registry(),
    }).run();
    const t = performance.now();
    for (const b of bodies) {
      const res = await post(b);
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
      await res.body?.cancel();
    }
    await hook.close();
    await done;
    return { ns: ((performance.now() - t) * 1e6) / total, alerts: got };
  };
  const direct = async () => {
    const hook = new AuditWebhook({ registry: new Registry() });
    return await pipelineRun(
      (b) =>
        hook.handle(
          new Request("http://x/", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: b,
          }),
        ),
      hook,
    );
  };
  await direct();
  const webhook = [await direct(), await direct(), await direct()].sort((a, b) => a.ns - b.ns)[1];

  // Through a real HTTP server on loopback.
  const http = async () => {
    const hook = new AuditWebhook({ registry: new Registry() });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hook.app.fetch);
    const url = `http://127.0.0.1:${server.addr.port}/`;
    try {
      return await pipelineRun(
        (b) =>
          fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: b }),
        hook,
      );
    } finally {
      await server.shutdown();
    }
  };
  await http();
  const loop = [await http(), await http(), await http()].sort((a, b) => a.ns - b.ns)[1];

  return {
    rules: rs.rules.length,
    compile_ms: round(compileMs),
    events_per_round: total,
    batch_events: BATCH,
    body_bytes_avg: Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length),
    alerts_per_round: alertsPerRound,
    evaluate_ns_per_event: round(evaluateNs),
    reference_evaluator_ns_per_event: round(referenceNs),
    reference_ratio: round(referenceNs / evaluateNs),
    parse_ns_per_event: round(parseNs),
    webhook_pipeline_ns_per_event: round(webhook.ns),
    http_loopback_ns_per_event: round(loop.ns),
    http_loopback_events_per_s: Math.round(1e9 / loop.ns),
    webhook_alerts_per_round: webhook.alerts,
  };
}

if (import.meta.main) console.log(await bench());
