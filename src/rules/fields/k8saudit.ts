/**
 * Kubernetes audit fields, for rules of `source: k8s_audit`: `ka.*` (what Falco's k8saudit plugin
 * offers: who asked, what for, on which object, and what the request object holds) and the JSON
 * fields `json.*` with their older names `jevt.*` (what Falco's json plugin offers: any value by
 * JSON pointer, the whole record, the time). Values are text, as in Falco, and lists are lists of
 * texts: `in` holds when every element is in the set, `intersects` when one is. The semantics
 * live in src/k8saudit/extract.ts.
 *
 * @example
 * ```ts
 * import { lookupField } from "./mod.ts";
 * lookupField("ka.req.pod.containers.image[0]")?.arg; // "0"
 * ```
 * @module
 */
import {
  type AuditRecord,
  K8S_AUDIT_PLUGIN,
  K8S_AUDIT_SOURCE,
} from "../../k8saudit/audit_event.ts";
import { type AuditExtractor, K8S_AUDIT_EXTRACTORS } from "../../k8saudit/extract.ts";
import { type Json, pointer } from "../../k8saudit/json.ts";
import type { Plugin, PluginField } from "../../plugins/api.ts";

/** How a field takes an argument: none, an optional element index, or a required key. */
type ArgKind = "none" | "index" | "key";

/** name, whether it is a list, its argument, and what it means. */
type Spec = [name: string, list: boolean, arg: ArgKind, desc: string];

const POD = "For a request on a pod:";

function containerSpecs(list: string, who: string, hostPort: boolean): Spec[] {
  const p = `ka.req.pod.${list}.`;
  const specs: Spec[] = [
    [`${p}name`, true, "index", `${POD} the names of its ${who}.`],
    [`${p}image`, true, "index", `${POD} the images of its ${who}, as written.`],
    [
      `${p}image.repository`,
      true,
      "index",
      `${POD} the images of its ${who} without tag or digest (docker.io/library/nginx).`,
    ],
    [
      `${p}command`,
      true,
      "index",
      `${POD} the command of each of its ${who}, words joined by spaces.`,
    ],
    [`${p}args`, true, "index", `${POD} the arguments of each of its ${who}, joined by spaces.`],
    [`${p}privileged`, true, "index", `${POD} the securityContext.privileged flag of its ${who}.`],
    [
      `${p}allow_privilege_escalation`,
      true,
      "index",
      `${POD} the securityContext.allowPrivilegeEscalation flag of its ${who}.`,
    ],
    [
      `${p}read_only_fs`,
      true,
      "index",
      `${POD} the securityContext.readOnlyRootFilesystem flag of its ${who}.`,
    ],
    [`${p}run_as_user`, true, "index", `${POD} the runAsUser uid set for each of its ${who}.`],
    [
      `${p}eff_run_as_user`,
      true,
      "index",
      `${POD} the uid each of its ${who} starts as: its own runAsUser, else the pod's, else 0.`,
    ],
    [`${p}run_as_group`, true, "index", `${POD} the runAsGroup gid set for each of its ${who}.`],
    [
      `${p}eff_run_as_group`,
      true,
      "index",
      `${POD} the gid each of its ${who} starts as: its own runAsGroup, else the pod's, else 0.`,
    ],
    [`${p}proc_mount`, true, "index", `${POD} the procMount type of its ${who}.`],
    [
      `${p}add_capabilities`,
      true,
      "index",
      `${POD} the Linux capabilities added to its ${who}.`,
    ],
  ];
  if (hostPort) {
    specs.push([
      `${p}host_port`,
      true,
      "index",
      `${POD} the host ports its ${who} declare (the container port where none is given).`,
    ]);
  }
  return specs;
}

const BINDING = "For a request creating a (Cluster)RoleBinding:";
const ROLE = "For a request creating a Role or ClusterRole:";

const SPECS: Spec[] = [
  ["ka.auditid", false, "none", "Unique id the API server gave the audit event."],
  ["ka.stage", false, "none", "Stage of the request (RequestReceived, ResponseComplete ...)."],
  ["ka.auth.decision", false, "none", "Authorization decision (allow, forbid)."],
  ["ka.auth.reason", false, "none", "Why the request was authorized or not."],
  [
    "ka.auth.openshift.decision",
    false,
    "none",
    "Authentication decision of the OpenShift API server extension (OpenShift only).",
  ],
  [
    "ka.validations.admission.policy.failure",
    false,
    "none",
    "Why a ValidatingAdmissionPolicy rejected the request.",
  ],
  ["ka.security.pod.violations", false, "none", "Pod Security admission violations."],
  [
    "ka.auth.openshift.username",
    false,
    "none",
    "User name the OpenShift API server extension authenticated (OpenShift only).",
  ],
  ["ka.user.name", false, "none", "User that made the request."],
  ["ka.user.groups", true, "none", "Groups of the user that made the request."],
  ["ka.impuser.name", false, "none", "User the request impersonated, if any."],
  ["ka.verb", false, "none", "Verb of the request (get, list, create, patch, delete ...)."],
  ["ka.uri", false, "none", "Request URI as the client sent it, with its query."],
  [
    "ka.uri.param",
    false,
    "key",
    "First value of a query parameter of the request URI: ka.uri.param[command].",
  ],
  ["ka.target.name", false, "none", "Name of the object the request is about."],
  ["ka.target.namespace", false, "none", "Namespace of the object the request is about."],
  ["ka.target.resource", false, "none", "Resource kind of the target (pods, secrets ...)."],
  ["ka.target.subresource", false, "none", "Subresource of the target (exec, attach, log ...)."],
  [
    "ka.target.pod.name",
    false,
    "none",
    "For a request on a pod itself (no subresource): the pod's name from the response.",
  ],
  ["ka.req.binding.subjects", true, "none", `${BINDING} each subject, as JSON.`],
  ["ka.req.binding.subjects.user_names", true, "none", `${BINDING} the User subjects' names.`],
  [
    "ka.req.binding.subjects.serviceaccount_names",
    true,
    "none",
    `${BINDING} the ServiceAccount subjects' names.`,
  ],
  [
    "ka.req.binding.subjects.serviceaccount_ns_names",
    true,
    "none",
    `${BINDING} the ServiceAccount subjects as namespace:name.`,
  ],
  ["ka.req.binding.subjects.group_names", true, "none", `${BINDING} the Group subjects' names.`],
  ["ka.req.binding.role", false, "none", `${BINDING} the name of the role it grants.`],
  [
    "ka.req.binding.subject.has_name",
    false,
    "key",
    'Deprecated; always "true" (kept so that old rules load).',
  ],
  ["ka.req.configmap.name", false, "none", "For a request on a ConfigMap: its name."],
  [
    "ka.req.configmap.obj",
    false,
    "none",
    "For a request on a ConfigMap: the data it carries, as JSON.",
  ],
  ...containerSpecs("containers", "containers", true),
  [
    "ka.req.container.image",
    false,
    "none",
    `${POD} the first container's image (older form of ka.req.pod.containers.image[0]).`,
  ],
  [
    "ka.req.container.image.repository",
    false,
    "none",
    `${POD} the first container's image without tag or digest (older form).`,
  ],
  ["ka.req.pod.host_ipc", false, "none", `${POD} its hostIPC flag.`],
  ["ka.req.pod.host_network", false, "none", `${POD} its hostNetwork flag.`],
  [
    "ka.req.container.host_network",
    false,
    "none",
    `${POD} its hostNetwork flag (older name of ka.req.pod.host_network).`,
  ],
  ["ka.req.pod.host_pid", false, "none", `${POD} its hostPID flag.`],
  [
    "ka.req.container.privileged",
    false,
    "none",
    `${POD} "true" when any container is privileged, else "false" (older form).`,
  ],
  ["ka.req.pod.run_as_user", false, "none", `${POD} the runAsUser uid of its securityContext.`],
  ["ka.req.pod.run_as_group", false, "none", `${POD} the runAsGroup gid of its securityContext.`],
  ["ka.req.role.rules", true, "none", `${ROLE} each of its rules, as JSON.`],
  ["ka.req.role.rules.apiGroups", true, "index", `${ROLE} the API groups its rules name.`],
  [
    "ka.req.role.rules.nonResourceURLs",
    true,
    "index",
    `${ROLE} the non-resource URLs its rules name.`,
  ],
  ["ka.req.role.rules.verbs", true, "index", `${ROLE} the verbs its rules allow.`],
  ["ka.req.role.rules.resources", true, "index", `${ROLE} the resources its rules name.`],
  ["ka.req.pod.fs_group", false, "none", `${POD} the fsGroup gid of its securityContext.`],
  [
    "ka.req.pod.supplemental_groups",
    true,
    "none",
    `${POD} the supplementalGroups gids of its securityContext.`,
  ],
  ["ka.req.service.type", false, "none", "For a request on a Service: its type (NodePort ...)."],
  ["ka.req.service.ports", true, "index", "For a request on a Service: its ports, as JSON."],
  [
    "ka.req.pod.volumes.hostpath",
    true,
    "index",
    `${POD} the host paths its hostPath volumes mount.`,
  ],
  [
    "ka.req.volume.hostpath",
    false,
    "key",
    `${POD} "true" when a hostPath volume mounts the path given (a trailing * matches a ` +
    'prefix), else "false"; older form of ka.req.pod.volumes.hostpath.',
  ],
  [
    "ka.req.pod.volumes.flexvolume_driver",
    true,
    "index",
    `${POD} the drivers of its flexVolume volumes.`,
  ],
  [
    "ka.req.pod.volumes.volume_type",
    true,
    "index",
    `${POD} the type of each volume (hostPath, configMap, emptyDir ...).`,
  ],
  ["ka.resp.name", false, "none", "Name of the object in the response."],
  ["ka.response.code", false, "none", "HTTP status code of the response (201, 403 ...)."],
  ["ka.response.reason", false, "none", "Reason given with the response, mostly for failures."],
  ["ka.useragent", false, "none", "User agent of the client that made the request."],
  ["ka.sourceips", true, "index", "IP addresses the request came from."],
  ["ka.cluster.name", false, "none", "Name of the cluster, when the API server annotates it."],
  ...containerSpecs("initContainers", "init containers", true),
  ...containerSpecs("ephemeralContainers", "ephemeral containers", false),
];

/** A `ka.*` field of audit events, as a plugin field. */
function kaField([name, list, arg, desc]: Spec, fn: AuditExtractor): PluginField {
  return {
    name,
    type: "string",
    desc,
    list: list || undefined,
    arg: arg === "none"
      ? undefined
      : arg === "index"
      ? { index: true }
      : { key: true, required: true },
    unique: name === "ka.auditid" || undefined,
    extract: (ev, a) => {
      const rec = ev.value;
      return rec !== null && typeof rec === "object" ? fn(rec as AuditRecord, a) : undefined;
    },
  };
}

const kaFields = SPECS.map((s) => {
  const fn = K8S_AUDIT_EXTRACTORS[s[0]];
  if (!fn) throw new Error(`no extractor for ${s[0]}`);
  return kaField(s, fn);
});

/** The JSON fields under both names: json.* and the older jevt.*. */
function jsonFields(prefix: string, alias?: string): PluginField[] {
  const also = alias ? ` (same as ${alias}.*)` : "";
  return [
    {
      name: `${prefix}.value`,
      type: "string",
      desc: "The value at a JSON pointer into the event: " +
        `${prefix}.value[/objectRef/namespace]; strings as they are, anything else as JSON${also}.`,
      arg: { key: true, required: true },
      extract: (ev, ptr) =>
        ev.value === undefined ? undefined : pointer(ev.value as Json, ptr ?? ""),
    },
    {
      name: `${prefix}.obj`,
      type: "string",
      desc: `The whole event as indented JSON${also}.`,
      extract: (ev) => ev.value === undefined ? undefined : JSON.stringify(ev.value, null, 2),
    },
    {
      name: `${prefix}.rawtime`,
      type: "string",
      desc: `Event time in nanoseconds since the Unix epoch, as text${also}.`,
      unique: true,
      extract: (ev) => String(ev.ts),
    },
  ];
}

/**
 * Version of Falco's k8saudit plugin whose fields and inputs Saker's provides (its field list is
 * the reference's, which Falco's k8s_audit_rules.yaml requires at 0.18.0).
 */
export const K8SAUDIT_PLUGIN_VERSION = "0.18.0";

/**
 * The k8saudit plugin's identity and fields (its inputs are opened in src/sources): the `ka.*`
 * fields of Kubernetes audit events.
 */
export const K8SAUDIT_PLUGIN_FIELDS: Plugin = {
  name: K8S_AUDIT_PLUGIN,
  version: K8SAUDIT_PLUGIN_VERSION,
  description: "Kubernetes audit events: the request, its user, its target object and what it " +
    "asks for",
  source: K8S_AUDIT_SOURCE,
  fields: kaFields,
};

/**
 * The json plugin: any value of a JSON event by JSON pointer (`json.*`, and the older names
 * `jevt.*` Falco's Kubernetes audit rules use). Its fields read every plugin source whose events
 * are JSON; each source plugin registered later gets them too.
 */
export const JSON_PLUGIN: Plugin = {
  name: "json",
  version: "0.7.3",
  description: "Any value of a JSON event by JSON pointer",
  extractSources: [K8S_AUDIT_SOURCE],
  fields: [...jsonFields("json"), ...jsonFields("jevt", "json")],
};
