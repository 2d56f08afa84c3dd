/**
 * The `gcpaudit` plugin: Google Cloud audit log entries (`LogEntry` objects whose `protoPayload`
 * is an `AuditLog`) as events of source `gcp_auditlog`, with the fields of Falco's gcpaudit
 * plugin (`gcp.*`), so Falco's GCP audit rules run unchanged.
 *
 * `open_params` names a file or a directory of files of log entries, as `gcloud logging read
 * --format=json` prints them (a JSON array) or as a log sink exports them to Cloud Storage (one
 * entry per line); plain or gzip. Falco's plugin reads a Pub/Sub subscription instead; that needs
 * Google Cloud access and is not provided: a subscription name that is not a path is refused.
 *
 * @example
 * ```ts
 * import { gcpauditPlugin } from "./gcpaudit.ts";
 * const f = gcpauditPlugin.fields!.find((f) => f.name === "gcp.methodName")!;
 * const value = { protoPayload: { methodName: "storage.buckets.delete" } };
 * f.extract({ num: 1, ts: 0n, source: "gcp_auditlog", data: "", value }, undefined);
 * // "storage.buckets.delete"
 * ```
 * @module
 */
import type { Plugin, PluginEventInput, PluginField } from "./api.ts";
import { at, isObject, type JsonObject, str, text } from "./values.ts";
import { jsonDocuments, readLogFiles } from "./files.ts";

/** The event source name of GCP audit log entries. */
export const GCP_AUDIT_SOURCE = "gcp_auditlog";

type Get = (e: JsonObject) => string | undefined;
const proto = (...p: string[]): Get => (e) => str(at(e, "protoPayload", ...p));
const protoJson = (...p: string[]): Get => (e) => text(at(e, "protoPayload", ...p));
const label = (...names: string[]): Get => (e) => {
  for (const n of names) {
    const v = str(at(e, "resource", "labels", n));
    if (v !== undefined) return v;
  }
  return undefined;
};

/** The IAM binding changes of an entry (buckets, projects, datasets). */
const policyDelta: Get = (e) =>
  text(
    at(e, "protoPayload", "serviceData", "policyDelta", "bindingDeltas") ??
      at(e, "protoPayload", "metadata", "datasetChange", "bindingDeltas") ??
      at(e, "protoPayload", "metadata", "tableChange", "bindingDeltas") ??
      at(e, "protoPayload", "policyDelta", "bindingDeltas"),
  );

const SPECS: [string, string, Get][] = [
  [
    "gcp.user",
    "Principal that made the call (authenticationInfo.principalEmail).",
    proto(
      "authenticationInfo",
      "principalEmail",
    ),
  ],
  ["gcp.callerIP", "Address the call came from.", proto("requestMetadata", "callerIp")],
  ["gcp.userAgent", "User agent of the call.", proto("requestMetadata", "callerSuppliedUserAgent")],
  [
    "gcp.authorizationInfo",
    "The permission checks of the call, as JSON.",
    protoJson(
      "authorizationInfo",
    ),
  ],
  ["gcp.serviceName", "API service called (storage.googleapis.com ...).", proto("serviceName")],
  ["gcp.policyDelta", "IAM bindings the call added or removed, as JSON.", policyDelta],
  ["gcp.request", "The call's request, as JSON.", protoJson("request")],
  ["gcp.methodName", "Method called (storage.buckets.delete ...).", proto("methodName")],
  ["gcp.cloudfunctions.function", "Cloud Function of the entry.", label("function_name")],
  ["gcp.cloudsql.databaseId", "Cloud SQL database of the entry.", label("database_id")],
  ["gcp.compute.instanceId", "Compute Engine instance of the entry.", label("instance_id")],
  ["gcp.compute.networkId", "VPC network of the entry.", label("network_id")],
  ["gcp.compute.subnetwork", "Subnetwork name of the entry.", label("subnetwork_name")],
  ["gcp.compute.subnetworkId", "Subnetwork id of the entry.", label("subnetwork_id")],
  ["gcp.dns.zone", "Cloud DNS zone of the entry.", label("zone_name")],
  ["gcp.iam.serviceAccount", "Service account of the entry (its email).", label("email_id")],
  ["gcp.iam.serviceAccountId", "Unique id of the service account.", label("unique_id")],
  ["gcp.location", "Region or zone of the resource.", label("location", "region", "zone")],
  [
    "gcp.logging.sink",
    "Logging sink of the entry.",
    (e) => label("name")(e) ?? str(at(e, "protoPayload", "request", "sinkName")),
  ],
  ["gcp.projectId", "Project of the resource.", label("project_id")],
  ["gcp.resourceName", "Resource the call acted on.", proto("resourceName")],
  [
    "gcp.resourceType",
    "Type of the monitored resource (gcs_bucket, gce_instance ...).",
    (e) => str(at(e, "resource", "type")),
  ],
  [
    "gcp.resourceLabels",
    "Labels of the monitored resource, as JSON.",
    (e) => text(at(e, "resource", "labels")),
  ],
  ["gcp.storage.bucket", "Cloud Storage bucket of the entry.", label("bucket_name")],
  ["gcp.time", "Time of the entry (RFC 3339).", (e) => str(e.timestamp)],
];

const FIELDS: PluginField[] = SPECS.map(([name, desc, fn]) => ({
  name,
  type: "string",
  desc,
  unique: name === "gcp.time" || undefined,
  extract: (ev) => isObject(ev.value) ? fn(ev.value) : undefined,
}));

function entries(doc: unknown): unknown[] {
  return Array.isArray(doc) ? doc.flatMap(entries) : [doc];
}

/** The gcpaudit plugin. */
export const gcpauditPlugin: Plugin = {
  name: "gcpaudit",
  version: "0.3.2",
  description: "Google Cloud audit log entries from log files",
  source: GCP_AUDIT_SOURCE,
  fields: FIELDS,
  init() {
    // project_id, sub_id and the Pub/Sub tuning keys are for the subscription reader.
  },
  async *open(params, ctx) {
    const p = params.trim();
    try {
      await Deno.stat(p);
    } catch {
      throw new Error(
        `${p || "(empty)"} is not a file or directory: Saker's gcpaudit plugin reads exported ` +
          "log entries from files; Pub/Sub subscriptions are not supported",
      );
    }
    for await (const f of readLogFiles(p)) {
      if (ctx.signal.aborted) return;
      const { values, errors } = jsonDocuments(f.text, f.path);
      for (const e of errors) ctx.log("warning", "not a GCP log entry", { ...e });
      const batch: PluginEventInput[] = values.flatMap(entries).map((e) => ({
        value: e,
        ts: isObject(e) ? str(e.timestamp) : undefined,
      }));
      if (batch.length > 0) yield batch;
    }
  },
  summary(ev) {
    if (!isObject(ev.value)) return undefined;
    const e = ev.value;
    return `${proto("methodName")(e) ?? "?"} by ${
      proto("authenticationInfo", "principalEmail")(e) ?? "?"
    }` +
      ` on ${proto("resourceName")(e) ?? "?"}`;
  },
  sniff: (head) => /"protoPayload"\s*:/.test(head),
};
