/**
 * The `cloudtrail` plugin: AWS CloudTrail records as events of source `aws_cloudtrail`, with the
 * fields of Falco's cloudtrail plugin (`ct.*`, `s3.*`, `ec2.*`, `ecr.*`, `iam.*`), so Falco's
 * CloudTrail rules run unchanged.
 *
 * CloudTrail delivers log files holding one JSON document `{"Records": [...]}`, usually gzipped
 * (`..._CloudTrail_us-east-1_20240501T1000Z_x.json.gz`). `open_params` names a file (plain or
 * gzip, whatever its name) or a directory of them (read recursively in name order); each record
 * becomes an event at its `eventTime`. A bare JSON array of records, or one record per line,
 * reads too. Reading from S3 (`s3://`) or an SQS queue (`sqs://`) needs AWS access and is not
 * provided: such `open_params` are refused with a message.
 *
 * @example
 * ```ts
 * import { cloudtrailPlugin } from "./cloudtrail.ts";
 * const rec = { eventName: "CreateUser", userIdentity: { type: "IAMUser", userName: "ana" } };
 * const f = cloudtrailPlugin.fields!.find((f) => f.name === "ct.user")!;
 * f.extract({ num: 1, ts: 0n, source: "aws_cloudtrail", data: "", value: rec }, undefined); // "ana"
 * ```
 * @module
 */
import type { Plugin, PluginEventInput, PluginField, PluginValue } from "./api.ts";
import { at, isObject, items, type JsonObject, str, text, uint } from "./values.ts";
import { jsonDocuments, readLogFiles } from "./files.ts";

/** The event source name of CloudTrail records. */
export const CLOUDTRAIL_SOURCE = "aws_cloudtrail";

type Extract = (r: JsonObject, arg: string | undefined) => PluginValue | PluginValue[] | undefined;

/** The identity's user, as the field ct.user names it. */
function user(r: JsonObject): string | undefined {
  const id = at(r, "userIdentity");
  if (!isObject(id)) return undefined;
  const type = str(id.type);
  switch (type) {
    case "AssumedRole":
    case "FederatedUser":
      return str(at(id, "sessionContext", "sessionIssuer", "userName")) ?? type;
    case "AWSService":
      return str(id.invokedBy);
    case "AWSAccount":
      return str(id.userName) ?? type;
    default:
      return str(id.userName);
  }
}

/** The user as CloudTrail shows it: an assumed role's session name, else the user name. */
function originalUser(r: JsonObject): string | undefined {
  const id = at(r, "userIdentity");
  if (!isObject(id)) return undefined;
  if (id.type === "AssumedRole") {
    const arn = str(id.arn);
    if (arn?.includes("/")) return arn.slice(arn.lastIndexOf("/") + 1);
    const principal = str(id.principalId);
    if (principal?.includes(":")) return principal.slice(principal.indexOf(":") + 1);
    return principal;
  }
  return str(id.userName);
}

/** Verbs of event names that change state (for records without `readOnly`). */
const WRITE_VERB = new RegExp(
  "^(Activate|Add|Admin|Assign|Associate|Attach|Authorize|Cancel|Close|Copy|Create|Deactivate|" +
    "Delete|Deregister|Destroy|Detach|Disable|Disassociate|Enable|Import|Initialize|Modify|Move|" +
    "Open|Purchase|Put|Reboot|Register|Release|Remove|Replace|Reset|Restore|Revoke|Run|Send|Set|" +
    "Start|Stop|Suspend|Tag|Terminate|Unassign|Unlink|Untag|Update|Upgrade|Upload|Wipe)",
);

const MANAGEMENT_TYPES = new Set([
  "AwsApiCall",
  "AwsConsoleAction",
  "AwsConsoleSignIn",
  "AwsServiceEvent",
]);

function readOnly(r: JsonObject): string | undefined {
  if (typeof r.readOnly === "boolean") return String(r.readOnly);
  if (typeof r.readOnly === "string") return r.readOnly === "true" ? "true" : "false";
  const name = str(r.eventName);
  return name === undefined ? undefined : String(!WRITE_VERB.test(name));
}

function managementEvent(r: JsonObject): string {
  if (typeof r.managementEvent === "boolean") return String(r.managementEvent);
  return String(MANAGEMENT_TYPES.has(str(r.eventType) ?? ""));
}

function bytes(r: JsonObject, which: "in" | "out" | "both"): number | undefined {
  const inb = which !== "out"
    ? uint(at(r, "additionalEventData", "bytesTransferredIn"))
    : undefined;
  const outb = which !== "in"
    ? uint(at(r, "additionalEventData", "bytesTransferredOut"))
    : undefined;
  return inb === undefined && outb === undefined ? undefined : (inb ?? 0) + (outb ?? 0);
}

function s3Uri(r: JsonObject): string | undefined {
  const bucket = str(at(r, "requestParameters", "bucketName"));
  const key = str(at(r, "requestParameters", "key"));
  return bucket !== undefined && key !== undefined ? `s3://${bucket}/${key}` : undefined;
}

function instanceName(r: JsonObject): string | undefined {
  for (const spec of items(at(r, "requestParameters", "tagSpecificationSet", "items"))) {
    if (at(spec, "resourceType") !== "instance") continue;
    for (const tag of items(at(spec, "tags"))) {
      if (at(tag, "key") === "Name") return str(at(tag, "value"));
    }
  }
  return undefined;
}

function imageIds(r: JsonObject): string[] | undefined {
  const ids = items(at(r, "responseElements", "instancesSet", "items"))
    .map((i) => str(at(i, "imageId")))
    .filter((v): v is string => v !== undefined);
  return ids.length > 0 ? ids : undefined;
}

/** ct.info: who, from where, reading or writing, what, and on which object. */
export function cloudtrailInfo(r: JsonObject): string | undefined {
  const name = str(r.eventName);
  if (name === undefined) return undefined;
  const who = user(r) ?? "<unknown user>";
  const from = str(r.sourceIPAddress) ?? "<unknown source>";
  const err = r.errorCode !== undefined ? "!" : "";
  const arrow = readOnly(r) === "false" ? "→" : "←";
  let info = `${who} via ${from} ${err}${arrow} ${name}`;
  const size = bytes(r, "both");
  if (size !== undefined) info += ` Size=${size}`;
  const uri = s3Uri(r);
  const bucket = str(at(r, "requestParameters", "bucketName"));
  const host = str(at(r, "requestParameters", "Host"));
  if (uri !== undefined) info += ` URI=${uri}`;
  else if (bucket !== undefined) info += ` Bucket=${bucket}`;
  else if (host !== undefined) info += ` Host=${host}`;
  return info;
}

/** [name, type, list, description, extractor]. */
type Spec = [string, "string" | "uint64", boolean, string, Extract];

const req = (k: string): Extract => (r) => str(at(r, "requestParameters", k));
const top = (k: string): Extract => (r) => str(r[k]);
const json = (...path: string[]): Extract => (r) => text(at(r, ...path));

const SPECS: Spec[] = [
  ["ct.id", "string", false, "Unique id of the record (eventID).", top("eventID")],
  [
    "ct.error",
    "string",
    false,
    "Error code of a failed request (errorCode); absent on success.",
    top(
      "errorCode",
    ),
  ],
  [
    "ct.errormessage",
    "string",
    false,
    "Error message of a failed request (errorMessage).",
    top(
      "errorMessage",
    ),
  ],
  [
    "ct.time",
    "string",
    false,
    "Time of the request, as the record writes it (eventTime).",
    top(
      "eventTime",
    ),
  ],
  [
    "ct.src",
    "string",
    false,
    "Service that received the request (eventSource).",
    top(
      "eventSource",
    ),
  ],
  [
    "ct.shortsrc",
    "string",
    false,
    "The service without its .amazonaws.com suffix (iam, s3, ec2 ...).",
    (r) => str(r.eventSource)?.replace(/\.amazonaws\.com$/, ""),
  ],
  [
    "ct.name",
    "string",
    false,
    "The API action (eventName): CreateUser, RunInstances ...",
    top(
      "eventName",
    ),
  ],
  [
    "ct.user",
    "string",
    false,
    "Who made the request: the user name; for an assumed role, the role's name " +
    "(sessionContext.sessionIssuer.userName); for a service, the service.",
    user,
  ],
  [
    "ct.originaluser",
    "string",
    false,
    "The user as CloudTrail shows it: for an assumed role, the session name (from the ARN or " +
    "principal id); otherwise the user name.",
    originalUser,
  ],
  ["ct.user.accountid", "string", false, "Account of the identity (userIdentity.accountId).", (
    r,
  ) => str(at(r, "userIdentity", "accountId"))],
  [
    "ct.user.identitytype",
    "string",
    false,
    "Kind of identity: Root, IAMUser, AssumedRole, AWSService, FederatedUser ...",
    (r) => str(at(r, "userIdentity", "type")),
  ],
  [
    "ct.user.principalid",
    "string",
    false,
    "Unique id of the identity (principalId).",
    (r) => str(at(r, "userIdentity", "principalId")),
  ],
  [
    "ct.user.arn",
    "string",
    false,
    "ARN of the identity that made the request.",
    (r) => str(at(r, "userIdentity", "arn")),
  ],
  ["ct.region", "string", false, "AWS region of the request (awsRegion).", top("awsRegion")],
  [
    "ct.response.subnetid",
    "string",
    false,
    "Subnet id in the response elements.",
    (r) => str(at(r, "responseElements", "subnetId")),
  ],
  [
    "ct.response.reservationid",
    "string",
    false,
    "Reservation id in the response elements.",
    (r) => str(at(r, "responseElements", "reservationId")),
  ],
  ["ct.response", "string", false, "The response elements, as JSON.", json("responseElements")],
  [
    "ct.request.availabilityzone",
    "string",
    false,
    "Availability zone in the request.",
    req(
      "availabilityZone",
    ),
  ],
  ["ct.request.cluster", "string", false, "Cluster named in the request.", req("cluster")],
  [
    "ct.request.functionname",
    "string",
    false,
    "Function named in the request.",
    req(
      "functionName",
    ),
  ],
  ["ct.request.groupname", "string", false, "Group named in the request.", req("groupName")],
  ["ct.request.host", "string", false, "Host named in the request.", req("Host")],
  ["ct.request.name", "string", false, "Name of the thing the request acts on.", req("name")],
  ["ct.request.policy", "string", false, "Policy document in the request.", req("policy")],
  ["ct.request.reason", "string", false, "Reason given in the request.", req("reason")],
  ["ct.request.target", "string", false, "Target named in the request.", req("target")],
  [
    "ct.request.documentname",
    "string",
    false,
    "Document named in the request.",
    req(
      "documentName",
    ),
  ],
  [
    "ct.request.serialnumber",
    "string",
    false,
    "Serial number in the request (an MFA device).",
    req(
      "serialNumber",
    ),
  ],
  [
    "ct.request.servicename",
    "string",
    false,
    "Service named in the request.",
    req(
      "serviceName",
    ),
  ],
  ["ct.request.subnetid", "string", false, "Subnet id in the request.", req("subnetId")],
  [
    "ct.request.taskdefinition",
    "string",
    false,
    "Task definition in the request.",
    req(
      "taskDefinition",
    ),
  ],
  ["ct.request.username", "string", false, "User name in the request.", req("userName")],
  ["ct.request", "string", false, "The request parameters, as JSON.", json("requestParameters")],
  [
    "ct.srcip",
    "string",
    false,
    "Address the request came from (sourceIPAddress).",
    top(
      "sourceIPAddress",
    ),
  ],
  ["ct.useragent", "string", false, "User agent of the request.", top("userAgent")],
  [
    "ct.info",
    "string",
    false,
    "One line about the record: who, from where, read (←) or write (→), what, on which object.",
    cloudtrailInfo,
  ],
  [
    "ct.managementevent",
    "string",
    false,
    "'true' for management events (API calls, console actions and sign-ins, service events).",
    managementEvent,
  ],
  [
    "ct.readonly",
    "string",
    false,
    "'true' when the request only reads (Describe..., List...), 'false' when it changes state.",
    readOnly,
  ],
  ["ct.requestid", "string", false, "Id of the request (requestID).", top("requestID")],
  [
    "ct.eventtype",
    "string",
    false,
    "Kind of record (AwsApiCall, AwsConsoleSignIn ...).",
    top(
      "eventType",
    ),
  ],
  ["ct.apiversion", "string", false, "API version of an AwsApiCall.", top("apiVersion")],
  [
    "ct.resources",
    "string",
    false,
    "The resources the request touched, as JSON.",
    json(
      "resources",
    ),
  ],
  [
    "ct.recipientaccountid",
    "string",
    false,
    "Account that received the record.",
    top(
      "recipientAccountId",
    ),
  ],
  [
    "ct.serviceeventdetails",
    "string",
    false,
    "What triggered a service event and its result, as JSON.",
    json("serviceEventDetails"),
  ],
  [
    "ct.sharedeventid",
    "string",
    false,
    "Id shared by the copies of a cross-account record.",
    top(
      "sharedEventID",
    ),
  ],
  [
    "ct.vpcendpointid",
    "string",
    false,
    "VPC endpoint the request came through.",
    top(
      "vpcEndpointId",
    ),
  ],
  [
    "ct.eventcategory",
    "string",
    false,
    "Category of the record (Management, Data, Insight).",
    top(
      "eventCategory",
    ),
  ],
  [
    "ct.addendum.reason",
    "string",
    false,
    "Why the record was delivered late or changed.",
    (r) => str(at(r, "addendum", "reason")),
  ],
  [
    "ct.addendum.updatedfields",
    "string",
    false,
    "Fields an addendum changed.",
    (r) => text(at(r, "addendum", "updatedFields")),
  ],
  [
    "ct.addendum.originalrequestid",
    "string",
    false,
    "Request id of the record an addendum replaces.",
    (r) => str(at(r, "addendum", "originalRequestID")),
  ],
  [
    "ct.addendum.originaleventid",
    "string",
    false,
    "Event id of the record an addendum replaces.",
    (r) => str(at(r, "addendum", "originalEventID")),
  ],
  [
    "ct.sessioncredentialfromconsole",
    "string",
    false,
    "'true' when the session's credentials came from the console.",
    (r) => text(r.sessionCredentialFromConsole),
  ],
  [
    "ct.edgedevicedetails",
    "string",
    false,
    "Edge devices the request targets, as JSON.",
    json(
      "edgeDeviceDetails",
    ),
  ],
  [
    "ct.tlsdetails.tlsversion",
    "string",
    false,
    "TLS version of the request.",
    (r) => str(at(r, "tlsDetails", "tlsVersion")),
  ],
  [
    "ct.tlsdetails.ciphersuite",
    "string",
    false,
    "TLS cipher suite of the request.",
    (r) => str(at(r, "tlsDetails", "cipherSuite")),
  ],
  [
    "ct.tlsdetails.clientprovidedhostheader",
    "string",
    false,
    "Host name the client asked for.",
    (r) => str(at(r, "tlsDetails", "clientProvidedHostHeader")),
  ],
  [
    "ct.additionaleventdata",
    "string",
    false,
    "The additional event data, as JSON.",
    json(
      "additionalEventData",
    ),
  ],
  ["s3.uri", "string", false, "s3://BUCKET/KEY of an object request.", s3Uri],
  ["s3.bucket", "string", false, "Bucket of an S3 request.", req("bucketName")],
  ["s3.key", "string", false, "Object key of an S3 request.", req("key")],
  [
    "s3.bytes",
    "uint64",
    false,
    "Bytes uploaded and downloaded by an S3 request.",
    (r) => bytes(r, "both"),
  ],
  ["s3.bytes.in", "uint64", false, "Bytes uploaded by an S3 request.", (r) => bytes(r, "in")],
  ["s3.bytes.out", "uint64", false, "Bytes downloaded by an S3 request.", (r) => bytes(r, "out")],
  [
    "s3.cnt.get",
    "uint64",
    false,
    "1 for GetObject, else 0.",
    (r) => r.eventName === "GetObject" ? 1 : 0,
  ],
  [
    "s3.cnt.put",
    "uint64",
    false,
    "1 for PutObject, else 0.",
    (r) => r.eventName === "PutObject" ? 1 : 0,
  ],
  [
    "s3.cnt.other",
    "uint64",
    false,
    "0 for GetObject and PutObject, else 1.",
    (r) => r.eventName === "GetObject" || r.eventName === "PutObject" ? 0 : 1,
  ],
  ["ec2.name", "string", false, "Name tag of the instances a request launches.", instanceName],
  [
    "ec2.imageid",
    "string",
    false,
    "Image of the first instance launched (old name).",
    (r) => imageIds(r)?.[0],
  ],
  ["ec2.imageids", "string", true, "Images of the instances launched: ec2.imageids[0].", (
    r,
    arg,
  ) => {
    const ids = imageIds(r);
    return arg === undefined ? ids : ids?.[Number(arg)];
  }],
  [
    "ecr.repository",
    "string",
    false,
    "ECR repository named in the request.",
    req(
      "repositoryName",
    ),
  ],
  ["ecr.imagetag", "string", false, "Image tag named in the request.", req("imageTag")],
  ["iam.role", "string", false, "IAM role named in the request.", req("roleName")],
  [
    "iam.policy",
    "string",
    false,
    "IAM policy named in the request (name or ARN).",
    (r) =>
      str(at(r, "requestParameters", "policyName")) ?? str(at(r, "requestParameters", "policyArn")),
  ],
];

function field([name, type, list, desc, fn]: Spec): PluginField {
  return {
    name,
    type,
    desc,
    list: list || undefined,
    arg: list ? { index: true } : undefined,
    unique: name === "ct.id" || name === "ct.time" || undefined,
    extract: (ev, arg) => isObject(ev.value) ? fn(ev.value, arg) : undefined,
  };
}

/** The records of one parsed log document. */
function records(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc.flatMap(records);
  if (isObject(doc) && Array.isArray(doc.Records)) return doc.Records;
  return [doc];
}

const BATCH = 1024;

/** The cloudtrail plugin. */
export const cloudtrailPlugin: Plugin = {
  name: "cloudtrail",
  version: "0.13.0",
  description: "AWS CloudTrail records from log files",
  source: CLOUDTRAIL_SOURCE,
  fields: SPECS.map(field),
  init(config) {
    // The plugin's keys are about S3 and SQS (not provided) and extraction tuning: accepted.
    if (typeof config === "string" && config.trim() !== "") JSON.parse(config);
  },
  async *open(params, ctx) {
    const p = params.trim();
    if (/^(s3|sqs):\/\//i.test(p)) {
      throw new Error(
        `${p.slice(0, 3)}:// is not supported: Saker's cloudtrail plugin reads local log files ` +
          "(a file or a directory)",
      );
    }
    if (p === "") throw new Error("open_params must name a CloudTrail log file or directory");
    let batch: PluginEventInput[] = [];
    for await (const f of readLogFiles(p)) {
      if (ctx.signal.aborted) return;
      const { values, errors } = jsonDocuments(f.text, f.path);
      for (const e of errors) ctx.log("warning", "not a CloudTrail record", { ...e });
      for (const rec of values.flatMap(records)) {
        const time = isObject(rec) ? str(rec.eventTime) : undefined;
        batch.push({ value: rec, ts: time });
        if (batch.length >= BATCH) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length > 0) yield batch;
  },
  summary: (ev) => isObject(ev.value) ? cloudtrailInfo(ev.value) : undefined,
  sniff: (head) => /^\s*\{\s*"Records"\s*:/.test(head) || /"eventVersion"\s*:/.test(head),
};
