/**
 * The gcpaudit plugin against Falco's GCP audit log rules (from the reference, loaded unchanged):
 * zero errors and warnings; each of the 39 rules fires on a log entry written here after Google
 * Cloud's documented LogEntry/AuditLog format, read by `saker replay` from the JSON array `gcloud
 * logging read --format=json` prints and from a gzipped JSON-lines sink export; none fires on
 * read-only calls; the README's fields are registered and extract.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { lookupField, wakeSource } from "../../src/rules/fields/mod.ts";
import { PluginEvent } from "../../src/events/plugin_event.ts";
import { saker } from "../support/saker.ts";

const DIR = `${REFERENCE_DIR}/falco-plugins/gcpaudit`;
const RULES = `${DIR}/gcp_auditlog_rules.yaml`;
const skip = needsReference();
wakeSource("gcp_auditlog");

const PROJECT = "shop-prod-381207";
let n = 0;

const SERVICES: Record<string, [string, string, Record<string, string>]> = {
  sql: ["cloudsql.googleapis.com", "cloudsql_database", { database_id: `${PROJECT}:orders` }],
  gcs: ["storage.googleapis.com", "gcs_bucket", { bucket_name: "shop-invoices" }],
  bq: ["bigquery.googleapis.com", "bigquery_dataset", { dataset_id: "analytics" }],
  gce: ["compute.googleapis.com", "gce_instance", {
    instance_id: "4242424242424242424",
    zone: "europe-west1-b",
  }],
  iam: ["iam.googleapis.com", "service_account", {
    email_id: `ci@${PROJECT}.iam.gserviceaccount.com`,
    unique_id: "104223456789012345678",
  }],
  crm: ["cloudresourcemanager.googleapis.com", "project", {}],
  gcf: ["cloudfunctions.googleapis.com", "cloud_function", {
    function_name: "resize",
    region: "europe-west1",
  }],
  kms: ["cloudkms.googleapis.com", "cloudkms_keyring", {
    key_ring_id: "payments",
    location: "global",
  }],
  pubsub: ["pubsub.googleapis.com", "pubsub_topic", { topic_id: "orders" }],
  logging: ["logging.googleapis.com", "logging_sink", { name: "audit-to-bq" }],
};

/** A LogEntry of an admin activity audit log, as Cloud Logging writes it. */
function entry(
  svc: keyof typeof SERVICES,
  methodName: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  n++;
  const [serviceName, type, labels] = SERVICES[svc];
  return {
    protoPayload: {
      "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
      status: {},
      authenticationInfo: { principalEmail: "dev@shop.example" },
      requestMetadata: {
        callerIp: "203.0.113.50",
        callerSuppliedUserAgent: "google-cloud-sdk gcloud/470.0.0,gzip(gfe)",
      },
      serviceName,
      methodName,
      authorizationInfo: [{ permission: `${svc}.permission`, granted: true }],
      resourceName: `projects/${PROJECT}/${type}/${n}`,
      request: { "@type": `type.googleapis.com/${methodName}Request` },
      ...extra,
    },
    insertId: `x${n}`,
    resource: { type, labels: { project_id: PROJECT, ...labels } },
    timestamp: `2024-05-01T10:00:${String(n % 60).padStart(2, "0")}.123456Z`,
    severity: "NOTICE",
    logName: `projects/${PROJECT}/logs/cloudaudit.googleapis.com%2Factivity`,
    receiveTimestamp: "2024-05-01T10:01:00.000000Z",
  };
}

const publicDelta = (member: string) => ({
  serviceData: {
    "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
    policyDelta: {
      bindingDeltas: [{ action: "ADD", role: "roles/storage.objectViewer", member }],
    },
  },
});

/** [entry, the rules it raises (all matching rules)]. */
const CASES: [Record<string, unknown>, string[]][] = [
  [entry("sql", "cloudsql.users.update"), ["GCP Cloud SQL database user modified or deleted"]],
  [entry("sql", "cloudsql.users.delete"), ["GCP Cloud SQL database user modified or deleted"]],
  [entry("sql", "cloudsql.backupRuns.delete"), ["GCP Cloud SQL database backup deleted"]],
  [entry("sql", "cloudsql.instances.export"), ["GCP Cloud SQL database instance data exported"]],
  [entry("sql", "cloudsql.instances.delete"), ["GCP Cloud SQL database instance deleted"]],
  [entry("sql", "cloudsql.instances.patch"), [
    "GCP Cloud SQL database instance modified or created",
  ]],
  [entry("gcs", "storage.setIamPermissions", publicDelta("allUsers")), [
    "GCP Bucket configured to be public",
    "GCP Bucket permissions modified",
  ]],
  [entry("gcs", "storage.objects.update", publicDelta("allAuthenticatedUsers")), [
    "GCP Bucket objects configured to be public",
  ]],
  [entry("gcs", "storage.buckets.list"), ["GCP Bucket enumerated"]],
  [entry("gcs", "storage.buckets.delete"), ["GCP Bucket deleted"]],
  [entry("gcs", "storage.buckets.update"), ["GCP Bucket updated"]],
  // A binding for one user: the permissions changed, the bucket is not public.
  [entry("gcs", "storage.setIamPermissions", publicDelta("user:ana@shop.example")), [
    "GCP Bucket permissions modified",
  ]],
  [
    entry("bq", "google.iam.v1.IAMPolicy.SetIamPolicy", {
      metadata: {
        "@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
        datasetChange: {
          bindingDeltas: [{ action: "ADD", role: "roles/bigquery.dataViewer", member: "allUsers" }],
        },
      },
    }),
    ["GCP BigQuery Dataset access configured to be public"],
  ],
  [entry("gce", "v1.compute.instances.insert"), ["GCP VM modified"]],
  [entry("gce", "v1.compute.instances.setServiceAccount"), ["GCP VM modified"]],
  [entry("gce", "beta.compute.instances.updateAccessConfig"), ["GCP VM modified"]],
  [entry("gce", "v1.compute.instances.stop"), ["GCP VM stopped"]],
  [entry("gce", "v1.compute.firewalls.insert"), ["GCP GCE Firewall rule modified"]],
  [entry("gce", "v1.compute.firewalls.delete"), ["GCP GCE Firewall rule modified"]],
  [entry("gce", "v1.compute.securityPolicies.patch"), ["GCP WAF Network policy modified"]],
  [entry("gce", "v1.compute.securityPolicies.removeRule"), ["GCP WAF rule modified or deleted"]],
  [entry("gce", "beta.compute.networkEdgeSecurityServices.update"), [
    "GCP CloudArmor edge security service modified",
  ]],
  [entry("gce", "v1.compute.backendServices.delete"), ["GCP backend service deleted"]],
  [entry("iam", "google.iam.admin.v1.CreateServiceAccount"), ["GCP IAM service account created"]],
  [entry("iam", "google.iam.admin.v1.DeleteServiceAccount"), ["GCP IAM service account deleted"]],
  [entry("iam", "google.iam.admin.v1.UpdateServiceAccount"), ["GCP IAM service account modified"]],
  [entry("iam", "google.iam.admin.v1.CreateServiceAccountKey"), [
    "GCP IAM service account key created",
  ]],
  [entry("iam", "google.iam.admin.v1.DeleteServiceAccountKey"), [
    "GCP IAM service account key deleted",
  ]],
  [entry("iam", "google.iam.admin.v1.CreateRole"), ["GCP IAM custom role created"]],
  [entry("iam", "google.iam.admin.v1.UpdateRole"), ["GCP IAM custom role modified"]],
  [entry("crm", "SetIamPolicy", publicDelta("user:eve@evil.example")), ["GCP IAM policy modified"]],
  [entry("gcf", "google.cloud.functions.v1.CloudFunctionsService.CreateFunction"), [
    "GCP cloud function created",
  ]],
  [entry("gcf", "google.cloud.functions.v1.CloudFunctionsService.DeleteFunction"), [
    "GCP cloud function deleted",
  ]],
  [entry("gcf", "google.cloud.functions.v1.CloudFunctionsService.UpdateFunction"), [
    "GCP cloud function modified",
  ]],
  [entry("kms", "CreateKeyRing"), ["GCP KMS keyring created"]],
  [entry("kms", "CreateCryptoKey"), ["GCP KMS created"]],
  [entry("kms", "UpdateCryptoKey"), ["GCP KMS updated"]],
  [entry("kms", "DestroyCryptoKeyVersion"), ["GCP KMS deleted"]],
  [entry("pubsub", "google.pubsub.v1.Publisher.DeleteTopic"), ["GCP Pub/Sub topic deleted"]],
  [entry("pubsub", "google.pubsub.v1.Subscriber.UpdateSubscription"), [
    "GCP Pub/Sub subscription modified",
  ]],
  [entry("pubsub", "google.pubsub.v1.Subscriber.DeleteSubscription"), [
    "GCP Pub/Sub subscription deleted",
  ]],
  [entry("logging", "google.logging.v2.ConfigServiceV2.UpdateSink"), ["GCP logging sink modified"]],
  [entry("logging", "google.logging.v2.ConfigServiceV2.DeleteSink"), ["GCP logging sink deleted"]],
];

/** Read-only and unrelated calls: nothing fires. */
const BENIGN = [
  entry("gcs", "storage.objects.get"),
  entry("gce", "v1.compute.instances.list"),
  entry("gce", "v1.compute.instances.start"),
  entry("iam", "google.iam.admin.v1.GetServiceAccount"),
  entry("sql", "cloudsql.instances.get"),
  entry("crm", "GetIamPolicy"),
  entry("kms", "Decrypt"),
  // A stop call on another service does not count as a VM being stopped.
  entry("sql", "v1.compute.instances.stop"),
];

Deno.test({
  name: "gcpaudit: Falco's rules load unchanged and each fires on its entry, none on benign ones",
  ignore: skip,
  fn: async () => {
    const loaded = await loadRulesFiles([RULES]);
    for (const r of loaded.results) assertEquals([r.errors.length, r.warnings.length], [0, 0]);
    const covered = new Set(CASES.flatMap((c) => c[1]));
    for (const r of loaded.rules) assert(covered.has(r.name), `no entry for ${r.name}`);
    assertEquals(loaded.rules.length, 39);
    const dir = await Deno.makeTempDir({ prefix: "saker-gcp-" });
    try {
      // The attacks as gcloud prints them (one JSON array), the benign entries as a sink's
      // gzipped JSON-lines export, in one directory.
      await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(CASES.map((c) => c[0])));
      const lines = BENIGN.map((e) => JSON.stringify(e)).join("\n") + "\n";
      const gz = new Blob([lines]).stream().pipeThrough(new CompressionStream("gzip"));
      await Deno.writeFile(
        `${dir}/b.json.gz`,
        new Uint8Array(await new Response(gz).arrayBuffer()),
      );
      const r = await saker(["replay", dir, "-r", RULES, "--json", "--rule-matching", "all"]);
      assertEquals(r.code, 0, r.stderr);
      assert(r.stderr.includes(`${CASES.length + BENIGN.length} events`), r.stderr);
      const alerts = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert(alerts.every((a) => a.source === "gcp_auditlog"));
      // Alerts come in event order: group them by the entry (its evt.time is unique).
      const byTime = new Map<number, string[]>();
      for (const a of alerts) {
        const t = a.output_fields["evt.time"] as number;
        byTime.set(t, [...(byTime.get(t) ?? []), a.rule]);
      }
      const times = [...byTime.keys()];
      assertEquals(times.length, CASES.length, "one group per attack entry, none for benign");
      for (const [i, [e, want]] of CASES.entries()) {
        assertEquals(
          byTime.get(times[i])!.sort(),
          [...want].sort(),
          String(
            (e.protoPayload as Record<string, unknown>).methodName,
          ),
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "gcpaudit: the README's fields are registered and extract",
  ignore: skip,
  fn: async () => {
    const readme = await Deno.readTextFile(`${DIR}/README.md`);
    const listed = [...readme.matchAll(/^\| `(gcp\.[A-Za-z.]+)`\s*\|\s*`string`/gm)].map((m) =>
      m[1]
    );
    assertEquals(listed.length, 25);
    const e = entry("gcs", "storage.setIamPermissions", publicDelta("allUsers"));
    const ev = new PluginEvent({ source: "gcp_auditlog", plugin: "gcpaudit", ts: 0n, value: e });
    const get = (f: string) => {
      const ref = lookupField(f);
      assert(ref && ref.def.name === f, `${f} is not registered`);
      assertEquals(ref.def.type, "charbuf");
      return ref.def.extract(ev, undefined);
    };
    for (const f of listed) get(f);
    assertEquals(get("gcp.user"), "dev@shop.example");
    assertEquals(get("gcp.callerIP"), "203.0.113.50");
    assertEquals(get("gcp.storage.bucket"), "shop-invoices");
    assertEquals(get("gcp.projectId"), PROJECT);
    assertEquals(get("gcp.resourceType"), "gcs_bucket");
    assertEquals(
      get("gcp.policyDelta"),
      '[{"action":"ADD","role":"roles/storage.objectViewer","member":"allUsers"}]',
    );
    assertEquals(get("gcp.time"), (e as { timestamp: string }).timestamp);
    assertEquals(get("gcp.compute.instanceId"), undefined);
  },
});
