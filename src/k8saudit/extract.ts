/**
 * Values of the `ka.*` fields for one audit record, with the semantics of Falco's k8saudit plugin
 * (so Falco's Kubernetes audit rules mean the same here): every value is text, list fields give
 * one text per element and nothing when empty, an index argument (`ka.req.pod.containers.image[1]`)
 * selects one element of the arrays on the way, a key argument names a query parameter or a
 * path. A record without `auditID` has no `ka.*` values at all.
 *
 * Where the plugin reads a place that never holds the value (so the field could never be set),
 * Saker reads the place the field's documentation names; each such case says so below.
 *
 * @example
 * ```ts
 * import { K8S_AUDIT_EXTRACTORS } from "./extract.ts";
 * const rec = { auditID: "1", requestObject: { spec: { containers: [{ image: "nginx:1.25" }] } } };
 * K8S_AUDIT_EXTRACTORS["ka.req.pod.containers.image.repository"](rec, undefined); // ["nginx"]
 * ```
 * @module
 */
import type { AuditRecord } from "./audit_event.ts";
import { accessor, collect, get, type Json, MISSING, text } from "./json.ts";

/** A field's value: text, a list of texts, or undefined when not available. */
export type AuditValue = string | string[] | undefined;

/** Extracts one field from a record (`arg`: the field argument, if any). */
export type AuditExtractor = (rec: AuditRecord, arg: string | undefined) => AuditValue;

/** Texts of the values found (skipping places where nothing was), undefined when none. */
function texts(vals: readonly (Json | typeof MISSING)[] | undefined): string[] | undefined {
  if (vals === undefined) return undefined;
  const out: string[] = [];
  for (const v of vals) if (v !== MISSING) out.push(text(v));
  return out.length > 0 ? out : undefined;
}

/** Like {@link texts}, but a place without a value makes the whole field unavailable. */
function allTexts(vals: readonly (Json | typeof MISSING)[] | undefined): string[] | undefined {
  if (vals === undefined || vals.includes(MISSING)) return undefined;
  return vals.length > 0 ? vals.map(text) : undefined;
}

/** The value at `keys` as text. */
function scalar(...keys: string[]): AuditExtractor {
  const at = accessor(keys);
  return (rec) => {
    const v = at(rec);
    return v === undefined ? undefined : text(v);
  };
}

/** The array at `keys`, one text per element (not an array: unavailable). */
function array(...keys: string[]): AuditExtractor {
  const at = accessor(keys);
  return (rec) => {
    const v = at(rec);
    if (!Array.isArray(v) || v.length === 0) return undefined;
    return v.map(text);
  };
}

function indexOf(arg: string | undefined): number | undefined {
  return arg === undefined ? undefined : Number(arg);
}

/** The three container lists of a pod spec. */
export type ContainerList = "containers" | "initContainers" | "ephemeralContainers";

function containerValues(
  rec: AuditRecord,
  list: ContainerList,
  arg: string | undefined,
  keys: string[],
) {
  return collect(rec, ["requestObject", "spec", list, ...keys], indexOf(arg));
}

/**
 * An image reference without its tag and digest: `registry:5000/app:1.2@sha256:..` gives
 * `registry:5000/app`. (The plugin cuts at the first colon, so a registry port would leave
 * `registry`; a tag is only after the last slash.)
 */
export function imageRepository(image: string): string {
  const at = image.indexOf("@");
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
}

/** Each container's words (command or args) joined by spaces; unavailable when none has any. */
function containerWords(
  rec: AuditRecord,
  list: ContainerList,
  arg: string | undefined,
  key: string,
) {
  const vals = containerValues(rec, list, arg, [key]);
  if (vals === undefined) return undefined;
  const out: string[] = [];
  for (const v of vals) {
    if (v === MISSING || v === null) continue;
    if (!Array.isArray(v) || v.some((w) => typeof w !== "string")) return undefined;
    out.push(v.join(" "));
  }
  return out.length > 0 ? out : undefined;
}

/** Each container's host ports (hostPort, else containerPort, per declared port). */
function hostPorts(rec: AuditRecord, list: ContainerList, arg: string | undefined): AuditValue {
  const vals = containerValues(rec, list, arg, ["ports"]);
  if (vals === undefined) return undefined;
  const out: string[] = [];
  for (const ports of vals) {
    if (ports === MISSING || ports === null) continue;
    if (!Array.isArray(ports)) return undefined;
    for (const p of ports) {
      const port = get(p, ["hostPort"]) ?? get(p, ["containerPort"]);
      if (port !== undefined) out.push(text(port));
    }
  }
  return out.length > 0 ? out : undefined;
}

/**
 * The id each container starts with: its own securityContext's `key`, else the pod's, else 0.
 * (The plugin reads `spec.<key>` and `containers[].<key>`, which the Kubernetes API never sets,
 * so it always answers 0; Saker reads the security contexts the field's description names.)
 */
function effectiveId(rec: AuditRecord, list: ContainerList, arg: string | undefined, key: string) {
  const podValue = get(rec, ["requestObject", "spec", "securityContext", key]);
  const pod = podValue === undefined ? "0" : text(podValue);
  const vals = containerValues(rec, list, arg, ["securityContext", key]);
  if (vals === undefined) return undefined;
  return vals.length > 0 ? vals.map((v) => (v === MISSING ? pod : text(v))) : undefined;
}

/** The per-container fields, the same for the three container lists. */
function containerFields(list: ContainerList): Record<string, AuditExtractor> {
  const p = `ka.req.pod.${list}.`;
  const sec = (...keys: string[]): AuditExtractor => (rec, arg) =>
    texts(containerValues(rec, list, arg, ["securityContext", ...keys]));
  const fields: Record<string, AuditExtractor> = {
    [`${p}name`]: (rec, arg) => allTexts(containerValues(rec, list, arg, ["name"])),
    [`${p}image`]: (rec, arg) => allTexts(containerValues(rec, list, arg, ["image"])),
    [`${p}image.repository`]: (rec, arg) =>
      allTexts(containerValues(rec, list, arg, ["image"]))?.map(imageRepository),
    [`${p}command`]: (rec, arg) => containerWords(rec, list, arg, "command"),
    [`${p}args`]: (rec, arg) => containerWords(rec, list, arg, "args"),
    [`${p}privileged`]: sec("privileged"),
    [`${p}allow_privilege_escalation`]: sec("allowPrivilegeEscalation"),
    [`${p}read_only_fs`]: sec("readOnlyRootFilesystem"),
    [`${p}run_as_user`]: sec("runAsUser"),
    [`${p}eff_run_as_user`]: (rec, arg) => effectiveId(rec, list, arg, "runAsUser"),
    [`${p}run_as_group`]: sec("runAsGroup"),
    [`${p}eff_run_as_group`]: (rec, arg) => effectiveId(rec, list, arg, "runAsGroup"),
    [`${p}proc_mount`]: sec("procMount"),
    [`${p}add_capabilities`]: sec("capabilities", "add"),
  };
  // Ephemeral containers have no ports.
  if (list !== "ephemeralContainers") {
    fields[`${p}host_port`] = (rec, arg) => hostPorts(rec, list, arg);
  }
  return fields;
}

/** Names of the binding subjects of a kind (`ServiceAccount` with `ns` as `namespace:name`). */
function subjectNames(kind: string, withNamespace = false): AuditExtractor {
  return (rec) => {
    const subjects = get(rec, ["requestObject", "subjects"]);
    if (!Array.isArray(subjects)) return undefined;
    const out: string[] = [];
    for (const s of subjects) {
      const k = get(s, ["kind"]), name = get(s, ["name"]);
      if (k === undefined || name === undefined || text(k) !== kind) continue;
      if (!withNamespace) out.push(text(name));
      else {
        const ns = get(s, ["namespace"]);
        if (ns !== undefined) out.push(`${text(ns)}:${text(name)}`);
      }
    }
    return out.length > 0 ? out : undefined;
  };
}

/** The values of `key` in every rule of a Role/ClusterRole, flattened. */
function roleRules(key: string): AuditExtractor {
  return (rec, arg) => {
    const vals = collect(rec, ["requestObject", "rules", key], indexOf(arg));
    if (vals === undefined) return undefined;
    const out: string[] = [];
    for (const v of vals) if (Array.isArray(v)) { for (const x of v) out.push(text(x)); }
    return out.length > 0 ? out : undefined;
  };
}

/** The first value of a query parameter of the request URI. */
function uriParam(rec: AuditRecord, name: string | undefined): AuditValue {
  const uri = get(rec, ["requestURI"]);
  if (uri === undefined || name === undefined) return undefined;
  const s = text(uri);
  const q = s.indexOf("?");
  if (q < 0) return undefined;
  const query = s.slice(q + 1).split("#")[0];
  // Go's url.ParseQuery (what the plugin uses) refuses semicolons as separators.
  if (query.includes(";")) return undefined;
  try {
    return new URLSearchParams(query).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Whether a hostPath volume uses `arg` (`/etc`), or a path under a prefix (`/proc*`). */
function usesHostPath(rec: AuditRecord, arg: string | undefined): AuditValue {
  if (arg === undefined) return undefined;
  const paths = texts(
    collect(rec, ["requestObject", "spec", "volumes", "hostPath", "path"], undefined),
  );
  if (paths === undefined) return undefined;
  const prefix = arg.endsWith("*") ? arg.slice(0, -1) : undefined;
  return paths.some((p) => p === arg || (prefix !== undefined && p.startsWith(prefix)))
    ? "true"
    : "false";
}

/** The volume types of the pod: every key of each volume but its name. */
function volumeTypes(rec: AuditRecord, arg: string | undefined): AuditValue {
  const vols = collect(rec, ["requestObject", "spec", "volumes", ""], indexOf(arg));
  if (vols === undefined) return undefined;
  const out: string[] = [];
  for (const v of vols) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) continue;
    for (const k of Object.keys(v)) if (k !== "name") out.push(k);
  }
  return out.length > 0 ? out : undefined;
}

/** The name of the pod a request on a pod (not one of its subresources) answers with. */
function targetPodName(rec: AuditRecord): AuditValue {
  if (get(rec, ["objectRef", "resource"]) !== "pods") return undefined;
  const sub = get(rec, ["objectRef", "subresource"]);
  if (typeof sub === "string" && sub !== "") return undefined;
  return scalar("responseObject", "metadata", "name")(rec, undefined);
}

/** Every extractor of `table`, answering only for records that carry an auditID. */
function auditOnly(table: Record<string, AuditExtractor>): Record<string, AuditExtractor> {
  const out: Record<string, AuditExtractor> = {};
  const auditId = accessor(["auditID"]);
  for (const [name, fn] of Object.entries(table)) {
    out[name] = (rec, arg) => (auditId(rec) === undefined ? undefined : fn(rec, arg));
  }
  return out;
}

/** Every `ka.*` field by name. */
export const K8S_AUDIT_EXTRACTORS: Readonly<Record<string, AuditExtractor>> = auditOnly({
  "ka.auditid": scalar("auditID"),
  "ka.stage": scalar("stage"),
  "ka.auth.decision": scalar("annotations", "authorization.k8s.io/decision"),
  "ka.auth.reason": scalar("annotations", "authorization.k8s.io/reason"),
  "ka.auth.openshift.decision": scalar("annotations", "authentication.openshift.io/decision"),
  "ka.validations.admission.policy.failure": scalar(
    "annotations",
    "validation.policy.admission.k8s.io/validation_failure",
  ),
  "ka.security.pod.violations": scalar(
    "annotations",
    "pod-security.kubernetes.io/audit-violations",
  ),
  "ka.auth.openshift.username": scalar("annotations", "authentication.openshift.io/username"),
  "ka.user.name": scalar("user", "username"),
  "ka.user.groups": array("user", "groups"),
  "ka.impuser.name": scalar("impersonatedUser", "username"),
  "ka.verb": scalar("verb"),
  "ka.uri": scalar("requestURI"),
  "ka.uri.param": uriParam,
  "ka.target.name": scalar("objectRef", "name"),
  "ka.target.namespace": scalar("objectRef", "namespace"),
  "ka.target.resource": scalar("objectRef", "resource"),
  "ka.target.subresource": scalar("objectRef", "subresource"),
  "ka.target.pod.name": targetPodName,
  "ka.req.binding.subjects": array("requestObject", "subjects"),
  "ka.req.binding.subjects.user_names": subjectNames("User"),
  "ka.req.binding.subjects.serviceaccount_names": subjectNames("ServiceAccount"),
  "ka.req.binding.subjects.serviceaccount_ns_names": subjectNames("ServiceAccount", true),
  "ka.req.binding.subjects.group_names": subjectNames("Group"),
  "ka.req.binding.role": scalar("requestObject", "roleRef", "name"),
  // Kept for old rules: the plugin answers "true" whatever the argument.
  "ka.req.binding.subject.has_name": () => "true",
  "ka.req.configmap.name": scalar("objectRef", "name"),
  "ka.req.configmap.obj": scalar("requestObject", "data"),
  ...containerFields("containers"),
  "ka.req.container.image": (rec) =>
    allTexts(containerValues(rec, "containers", "0", ["image"]))?.[0],
  "ka.req.container.image.repository": (rec) => {
    const img = allTexts(containerValues(rec, "containers", "0", ["image"]))?.[0];
    return img === undefined ? undefined : imageRepository(img);
  },
  "ka.req.pod.host_ipc": scalar("requestObject", "spec", "hostIPC"),
  "ka.req.pod.host_network": scalar("requestObject", "spec", "hostNetwork"),
  "ka.req.container.host_network": scalar("requestObject", "spec", "hostNetwork"),
  "ka.req.pod.host_pid": scalar("requestObject", "spec", "hostPID"),
  "ka.req.container.privileged": (rec) => {
    const vals = containerValues(rec, "containers", undefined, ["securityContext", "privileged"]);
    if (vals === undefined) return undefined;
    return vals.some((v) => v === true) ? "true" : "false";
  },
  "ka.req.pod.run_as_user": scalar("requestObject", "spec", "securityContext", "runAsUser"),
  "ka.req.pod.run_as_group": scalar("requestObject", "spec", "securityContext", "runAsGroup"),
  "ka.req.role.rules": array("requestObject", "rules"),
  "ka.req.role.rules.apiGroups": roleRules("apiGroups"),
  "ka.req.role.rules.nonResourceURLs": roleRules("nonResourceURLs"),
  "ka.req.role.rules.verbs": roleRules("verbs"),
  "ka.req.role.rules.resources": roleRules("resources"),
  "ka.req.pod.fs_group": scalar("requestObject", "spec", "securityContext", "fsGroup"),
  "ka.req.pod.supplemental_groups": array(
    "requestObject",
    "spec",
    "securityContext",
    "supplementalGroups",
  ),
  "ka.req.service.type": scalar("requestObject", "spec", "type"),
  // The walk ends on the ports array itself, so this is one text: the array as JSON.
  "ka.req.service.ports": (rec, arg) =>
    texts(collect(rec, ["requestObject", "spec", "ports"], indexOf(arg))),
  "ka.req.pod.volumes.hostpath": (rec, arg) =>
    texts(collect(rec, ["requestObject", "spec", "volumes", "hostPath", "path"], indexOf(arg))),
  "ka.req.volume.hostpath": usesHostPath,
  "ka.req.pod.volumes.flexvolume_driver": (rec, arg) =>
    texts(collect(rec, ["requestObject", "spec", "volumes", "flexVolume", "driver"], indexOf(arg))),
  "ka.req.pod.volumes.volume_type": volumeTypes,
  "ka.resp.name": scalar("responseObject", "metadata", "name"),
  "ka.response.code": scalar("responseStatus", "code"),
  "ka.response.reason": scalar("responseStatus", "reason"),
  "ka.useragent": scalar("userAgent"),
  // The plugin looks for sourceIPs under requestObject.rules (never there); they are top-level.
  "ka.sourceips": (rec, arg) => texts(collect(rec, ["sourceIPs", ""], indexOf(arg))),
  "ka.cluster.name": scalar("annotations", "cluster_name"),
  ...containerFields("initContainers"),
  ...containerFields("ephemeralContainers"),
});
