/**
 * The shared case table of the Kubernetes audit fields: audit records, a field (with its
 * argument) and the value Falco's k8saudit semantics give (undefined: not available), and
 * conditions with whether they match. k8saudit_fields.test.ts runs every case through each
 * implementation: the extractors on records, the field registry on events, and the compiled
 * rules (generated code and the reference evaluator).
 * @module
 */

/** A pod creation as the API server audits it (containers, init containers, volumes ...). */
export function podCreate(): Record<string, unknown> {
  return {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "RequestResponse",
    auditID: "7f0c2a6e-0001",
    stage: "ResponseComplete",
    requestURI: "/api/v1/namespaces/shop/pods?fieldManager=kubectl-create",
    verb: "create",
    user: { username: "dev-ann", groups: ["developers", "system:authenticated"] },
    impersonatedUser: { username: "ci-bot" },
    sourceIPs: ["10.1.2.3", "192.168.0.9"],
    userAgent: "kubectl/v1.29.1",
    objectRef: { resource: "pods", namespace: "shop", name: "cart-1", apiVersion: "v1" },
    responseStatus: { metadata: {}, code: 201 },
    requestObject: {
      kind: "Pod",
      metadata: { name: "cart-1" },
      spec: {
        hostNetwork: true,
        hostPID: false,
        securityContext: { runAsUser: 1000, fsGroup: 2000, supplementalGroups: [3000, 3001] },
        containers: [
          {
            name: "app",
            image: "registry.local:5000/shop/cart:2.1",
            command: ["/bin/cart", "--serve"],
            args: ["--port", "8080"],
            ports: [{ containerPort: 8080 }, { containerPort: 9090, hostPort: 19090 }],
            securityContext: {
              privileged: false,
              runAsUser: 0,
              capabilities: { add: ["NET_ADMIN", "SYS_TIME"] },
            },
          },
          {
            name: "sidecar",
            image: "docker.io/envoyproxy/envoy@sha256:abcd",
            securityContext: { privileged: true, readOnlyRootFilesystem: true },
          },
        ],
        initContainers: [{ name: "init", image: "busybox:1.36", command: ["sh", "-c", "true"] }],
        volumes: [
          { name: "proc", hostPath: { path: "/proc", type: "" } },
          { name: "cfg", configMap: { name: "cart-config" } },
          { name: "sock", hostPath: { path: "/var/run/docker.sock" } },
          { name: "flex", flexVolume: { driver: "example/lvm" } },
        ],
      },
    },
    responseObject: { kind: "Pod", metadata: { name: "cart-1", namespace: "shop" } },
    annotations: {
      "authorization.k8s.io/decision": "allow",
      "authorization.k8s.io/reason": 'RBAC: allowed by RoleBinding "dev/shop"',
      "pod-security.kubernetes.io/audit-violations": "would violate PodSecurity",
      cluster_name: "eu-1",
    },
    requestReceivedTimestamp: "2024-03-01T08:00:00.100000Z",
    stageTimestamp: "2024-03-01T08:00:00.123456789Z",
  };
}

/** A ClusterRoleBinding creation with subjects of every kind. */
export function bindingCreate(): Record<string, unknown> {
  return {
    kind: "Event",
    auditID: "7f0c2a6e-0002",
    stage: "ResponseComplete",
    verb: "create",
    requestURI: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    user: { username: "admin" },
    objectRef: { resource: "clusterrolebindings", name: "ops-admin" },
    responseStatus: { code: 201 },
    requestObject: {
      kind: "ClusterRoleBinding",
      roleRef: { kind: "ClusterRole", name: "cluster-admin" },
      subjects: [
        { kind: "User", name: "ann" },
        { kind: "ServiceAccount", name: "deployer", namespace: "ci" },
        { kind: "ServiceAccount", name: "nons" },
        { kind: "Group", name: "ops" },
      ],
    },
    stageTimestamp: "2024-03-01T08:00:01Z",
  };
}

/** A ClusterRole creation with two rules. */
export function roleCreate(): Record<string, unknown> {
  return {
    kind: "Event",
    auditID: "7f0c2a6e-0003",
    stage: "ResponseComplete",
    verb: "create",
    user: { username: "admin" },
    objectRef: { resource: "clusterroles", name: "reader" },
    requestObject: {
      kind: "ClusterRole",
      rules: [
        { apiGroups: [""], resources: ["pods", "pods/exec"], verbs: ["get", "create"] },
        { nonResourceURLs: ["/metrics"], verbs: ["get"] },
      ],
    },
    stageTimestamp: "2024-03-01T08:00:02Z",
  };
}

/** An exec into a pod (a subresource), and a configmap and a service creation. */
export function execPod(): Record<string, unknown> {
  return {
    kind: "Event",
    auditID: "7f0c2a6e-0004",
    stage: "ResponseStarted",
    verb: "create",
    requestURI: "/api/v1/namespaces/shop/pods/cart-1/exec?command=sh&command=-c&command=id" +
      "&container=app&stdin=true&tty=true&empty=",
    user: { username: "dev-ann" },
    objectRef: { resource: "pods", namespace: "shop", name: "cart-1", subresource: "exec" },
    responseStatus: { code: 101 },
    stageTimestamp: "2024-03-01T08:00:03Z",
  };
}

/** A ConfigMap creation with data. */
export function configMapCreate(): Record<string, unknown> {
  return {
    kind: "Event",
    auditID: "7f0c2a6e-0005",
    stage: "ResponseComplete",
    verb: "create",
    objectRef: { resource: "configmaps", namespace: "shop", name: "cart-config" },
    requestObject: { kind: "ConfigMap", data: { db_password: "hunter2", mode: "prod" } },
    responseStatus: { code: 201, reason: "" },
    stageTimestamp: "2024-03-01T08:00:04Z",
  };
}

/** A NodePort Service creation. */
export function serviceCreate(): Record<string, unknown> {
  return {
    kind: "Event",
    auditID: "7f0c2a6e-0006",
    stage: "ResponseComplete",
    verb: "create",
    objectRef: { resource: "services", namespace: "shop", name: "cart" },
    requestObject: {
      kind: "Service",
      spec: { type: "NodePort", ports: [{ port: 80, nodePort: 30080 }] },
    },
    stageTimestamp: "2024-03-01T08:00:05Z",
  };
}

/** One field case. */
export interface FieldCase {
  record: () => Record<string, unknown>;
  /** Field as written in a rule (`ka.req.pod.containers.image[1]`). */
  field: string;
  want: string | string[] | undefined;
}

const pod = podCreate, binding = bindingCreate, role = roleCreate;

/** Field values. */
export const FIELD_CASES: FieldCase[] = [
  { record: pod, field: "ka.auditid", want: "7f0c2a6e-0001" },
  { record: pod, field: "ka.stage", want: "ResponseComplete" },
  { record: pod, field: "ka.auth.decision", want: "allow" },
  { record: pod, field: "ka.auth.reason", want: 'RBAC: allowed by RoleBinding "dev/shop"' },
  { record: pod, field: "ka.auth.openshift.decision", want: undefined },
  { record: pod, field: "ka.security.pod.violations", want: "would violate PodSecurity" },
  { record: pod, field: "ka.user.name", want: "dev-ann" },
  { record: pod, field: "ka.user.groups", want: ["developers", "system:authenticated"] },
  { record: pod, field: "ka.impuser.name", want: "ci-bot" },
  { record: pod, field: "ka.verb", want: "create" },
  {
    record: pod,
    field: "ka.uri",
    want: "/api/v1/namespaces/shop/pods?fieldManager=kubectl-create",
  },
  { record: pod, field: "ka.uri.param[fieldManager]", want: "kubectl-create" },
  { record: pod, field: "ka.uri.param[dryRun]", want: undefined },
  { record: pod, field: "ka.target.name", want: "cart-1" },
  { record: pod, field: "ka.target.namespace", want: "shop" },
  { record: pod, field: "ka.target.resource", want: "pods" },
  { record: pod, field: "ka.target.subresource", want: undefined },
  { record: pod, field: "ka.target.pod.name", want: "cart-1" },
  { record: pod, field: "ka.req.pod.containers.name", want: ["app", "sidecar"] },
  { record: pod, field: "ka.req.pod.containers.name[1]", want: ["sidecar"] },
  { record: pod, field: "ka.req.pod.containers.name[2]", want: undefined },
  {
    record: pod,
    field: "ka.req.pod.containers.image",
    want: ["registry.local:5000/shop/cart:2.1", "docker.io/envoyproxy/envoy@sha256:abcd"],
  },
  {
    record: pod,
    field: "ka.req.pod.containers.image.repository",
    want: ["registry.local:5000/shop/cart", "docker.io/envoyproxy/envoy"],
  },
  { record: pod, field: "ka.req.container.image", want: "registry.local:5000/shop/cart:2.1" },
  {
    record: pod,
    field: "ka.req.container.image.repository",
    want: "registry.local:5000/shop/cart",
  },
  { record: pod, field: "ka.req.pod.containers.command", want: ["/bin/cart --serve"] },
  { record: pod, field: "ka.req.pod.containers.command[1]", want: undefined },
  { record: pod, field: "ka.req.pod.containers.args", want: ["--port 8080"] },
  { record: pod, field: "ka.req.pod.containers.privileged", want: ["false", "true"] },
  { record: pod, field: "ka.req.pod.containers.privileged[1]", want: ["true"] },
  { record: pod, field: "ka.req.container.privileged", want: "true" },
  { record: pod, field: "ka.req.pod.containers.allow_privilege_escalation", want: undefined },
  { record: pod, field: "ka.req.pod.containers.read_only_fs", want: ["true"] },
  { record: pod, field: "ka.req.pod.containers.run_as_user", want: ["0"] },
  // The first container sets runAsUser 0; the second inherits the pod's 1000.
  { record: pod, field: "ka.req.pod.containers.eff_run_as_user", want: ["0", "1000"] },
  { record: pod, field: "ka.req.pod.containers.eff_run_as_group", want: ["0", "0"] },
  {
    record: pod,
    field: "ka.req.pod.containers.add_capabilities",
    want: ['["NET_ADMIN","SYS_TIME"]'],
  },
  { record: pod, field: "ka.req.pod.containers.host_port", want: ["8080", "19090"] },
  { record: pod, field: "ka.req.pod.containers.proc_mount", want: undefined },
  { record: pod, field: "ka.req.pod.initContainers.name", want: ["init"] },
  { record: pod, field: "ka.req.pod.initContainers.image.repository", want: ["busybox"] },
  { record: pod, field: "ka.req.pod.initContainers.command", want: ["sh -c true"] },
  { record: pod, field: "ka.req.pod.initContainers.privileged", want: undefined },
  { record: pod, field: "ka.req.pod.ephemeralContainers.image", want: undefined },
  { record: pod, field: "ka.req.pod.host_network", want: "true" },
  { record: pod, field: "ka.req.container.host_network", want: "true" },
  { record: pod, field: "ka.req.pod.host_pid", want: "false" },
  { record: pod, field: "ka.req.pod.host_ipc", want: undefined },
  { record: pod, field: "ka.req.pod.run_as_user", want: "1000" },
  { record: pod, field: "ka.req.pod.run_as_group", want: undefined },
  { record: pod, field: "ka.req.pod.fs_group", want: "2000" },
  { record: pod, field: "ka.req.pod.supplemental_groups", want: ["3000", "3001"] },
  {
    record: pod,
    field: "ka.req.pod.volumes.hostpath",
    want: ["/proc", "/var/run/docker.sock"],
  },
  { record: pod, field: "ka.req.pod.volumes.hostpath[2]", want: ["/var/run/docker.sock"] },
  { record: pod, field: "ka.req.pod.volumes.hostpath[1]", want: undefined },
  { record: pod, field: "ka.req.volume.hostpath[/var/run/docker.sock]", want: "true" },
  { record: pod, field: "ka.req.volume.hostpath[/pro*]", want: "true" },
  { record: pod, field: "ka.req.volume.hostpath[/etc]", want: "false" },
  { record: pod, field: "ka.req.pod.volumes.flexvolume_driver", want: ["example/lvm"] },
  {
    record: pod,
    field: "ka.req.pod.volumes.volume_type",
    want: ["hostPath", "configMap", "hostPath", "flexVolume"],
  },
  { record: pod, field: "ka.resp.name", want: "cart-1" },
  { record: pod, field: "ka.response.code", want: "201" },
  { record: pod, field: "ka.response.reason", want: undefined },
  { record: pod, field: "ka.useragent", want: "kubectl/v1.29.1" },
  { record: pod, field: "ka.sourceips", want: ["10.1.2.3", "192.168.0.9"] },
  { record: pod, field: "ka.sourceips[1]", want: ["192.168.0.9"] },
  { record: pod, field: "ka.cluster.name", want: "eu-1" },
  { record: binding, field: "ka.req.binding.role", want: "cluster-admin" },
  {
    record: binding,
    field: "ka.req.binding.subjects",
    want: [
      '{"kind":"User","name":"ann"}',
      '{"kind":"ServiceAccount","name":"deployer","namespace":"ci"}',
      '{"kind":"ServiceAccount","name":"nons"}',
      '{"kind":"Group","name":"ops"}',
    ],
  },
  { record: binding, field: "ka.req.binding.subjects.user_names", want: ["ann"] },
  {
    record: binding,
    field: "ka.req.binding.subjects.serviceaccount_names",
    want: ["deployer", "nons"],
  },
  {
    record: binding,
    field: "ka.req.binding.subjects.serviceaccount_ns_names",
    want: ["ci:deployer"],
  },
  { record: binding, field: "ka.req.binding.subjects.group_names", want: ["ops"] },
  { record: binding, field: "ka.req.binding.subject.has_name[ann]", want: "true" },
  { record: binding, field: "ka.target.pod.name", want: undefined },
  { record: pod, field: "ka.req.binding.subjects.user_names", want: undefined },
  { record: role, field: "ka.req.role.rules.verbs", want: ["get", "create", "get"] },
  { record: role, field: "ka.req.role.rules.verbs[1]", want: ["get"] },
  { record: role, field: "ka.req.role.rules.resources", want: ["pods", "pods/exec"] },
  { record: role, field: "ka.req.role.rules.apiGroups", want: [""] },
  { record: role, field: "ka.req.role.rules.nonResourceURLs", want: ["/metrics"] },
  {
    record: role,
    field: "ka.req.role.rules",
    want: [
      '{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]}',
      '{"nonResourceURLs":["/metrics"],"verbs":["get"]}',
    ],
  },
  { record: execPod, field: "ka.target.subresource", want: "exec" },
  { record: execPod, field: "ka.uri.param[command]", want: "sh" },
  { record: execPod, field: "ka.uri.param[empty]", want: "" },
  { record: execPod, field: "ka.target.pod.name", want: undefined },
  { record: configMapCreate, field: "ka.req.configmap.name", want: "cart-config" },
  {
    record: configMapCreate,
    field: "ka.req.configmap.obj",
    want: '{"db_password":"hunter2","mode":"prod"}',
  },
  { record: configMapCreate, field: "ka.response.reason", want: "" },
  { record: serviceCreate, field: "ka.req.service.type", want: "NodePort" },
  {
    record: serviceCreate,
    field: "ka.req.service.ports",
    want: ['[{"port":80,"nodePort":30080}]'],
  },
  // The json fields: any value by JSON pointer, strings raw, the rest as JSON.
  { record: pod, field: "jevt.value[/objectRef/namespace]", want: "shop" },
  { record: pod, field: "json.value[/requestObject/spec/volumes/1/name]", want: "cfg" },
  { record: pod, field: "jevt.value[/responseStatus/code]", want: "201" },
  {
    record: pod,
    field: "jevt.value[/annotations/authorization.k8s.io~1decision]",
    want: "allow",
  },
  { record: pod, field: "jevt.value[/user/groups]", want: '["developers","system:authenticated"]' },
  { record: pod, field: "jevt.value[/no/such]", want: undefined },
  { record: pod, field: "jevt.rawtime", want: "1709280000123456789" },
  // Without an auditID a record is not an audit event to the ka fields; json still reads it.
  { record: () => ({ kind: "Event", verb: "get" }), field: "ka.verb", want: undefined },
  { record: () => ({ kind: "Event", verb: "get" }), field: "jevt.value[/verb]", want: "get" },
];

/** One condition case. */
export interface ConditionCase {
  record: () => Record<string, unknown>;
  condition: string;
  want: boolean;
}

/** Conditions, with Falco's list semantics. */
export const CONDITION_CASES: ConditionCase[] = [
  { record: pod, condition: "ka.verb = create and ka.target.resource = pods", want: true },
  { record: pod, condition: "ka.response.code startswith 2", want: true },
  // `in` on a list field: every element must be in the set.
  {
    record: pod,
    condition: "ka.req.pod.containers.image.repository in (registry.local:5000/shop/cart)",
    want: false,
  },
  {
    record: pod,
    condition: "ka.req.pod.containers.image.repository in " +
      "(registry.local:5000/shop/cart, docker.io/envoyproxy/envoy, nginx)",
    want: true,
  },
  // `intersects`: one element is enough.
  { record: pod, condition: "ka.req.pod.containers.privileged intersects (true)", want: true },
  { record: pod, condition: "ka.req.pod.containers.privileged[0] intersects (true)", want: false },
  {
    record: pod,
    condition: "ka.req.pod.volumes.hostpath intersects (/proc, /etc)",
    want: true,
  },
  { record: pod, condition: "ka.req.pod.volumes.hostpath intersects (/etc)", want: false },
  // A scalar with `intersects` is `in`.
  { record: pod, condition: "ka.req.pod.host_network intersects (true)", want: true },
  // Unavailable values: every check is false, `!=` included; `exists` tells.
  { record: pod, condition: "ka.target.subresource exists", want: false },
  { record: pod, condition: "ka.target.subresource != exec", want: false },
  { record: pod, condition: "not ka.target.subresource exists", want: true },
  { record: pod, condition: "ka.req.pod.initContainers.privileged intersects (true)", want: false },
  { record: pod, condition: "ka.user.groups in (developers, system:authenticated)", want: true },
  { record: pod, condition: "ka.user.groups in (developers)", want: false },
  { record: role, condition: 'ka.req.role.rules.resources intersects ("pods/exec")', want: true },
  { record: role, condition: 'ka.req.role.rules.verbs intersects ("*")', want: false },
  { record: execPod, condition: "ka.target.subresource in (exec, attach)", want: true },
  { record: execPod, condition: "jevt.value[/stage] = ResponseStarted", want: true },
  { record: configMapCreate, condition: "ka.req.configmap.obj contains password", want: true },
  { record: binding, condition: "ka.req.binding.role = cluster-admin", want: true },
  { record: pod, condition: "jevt.rawtime exists and evt.num = 1", want: true },
  { record: pod, condition: 'evt.time.iso8601 = "2024-03-01T08:00:00.123456789Z"', want: true },
];
