/**
 * Test support for fleet tests: alerts raised on demand without the kernel probe, through the
 * Kubernetes audit webhook of a `saker run --disable-source syscall` (no root, no probe lock):
 * a rule on secret reads by a named user, and the audit event that fires it (the audit webhook
 * tests post that event too).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile(`${dir}/rules.yaml`, AUDIT_RULE);
 * await postAudit(api, [secretGet("alice", "tls-1")]);
 * ```
 * @module
 */

/** The rule every audit event of {@link secretGet} fires. */
export const AUDIT_RULE = `- rule: fleet secret read
  desc: a get on a secret by a test user
  condition: ka.verb = get and ka.target.resource = secrets and ka.user.name startswith fleet-
  output: "secret %ka.target.namespace/%ka.target.name read by %ka.user.name"
  priority: WARNING
  source: k8s_audit
  tags: [fleet]
`;

/** An audit event of `user` reading secret `name` (the rule needs a user named fleet-...). */
export function secretGet(user: string, name: string): unknown {
  const now = new Date().toISOString();
  return {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    auditID: crypto.randomUUID(),
    stage: "ResponseComplete",
    requestURI: `/api/v1/namespaces/prod/secrets/${name}`,
    verb: "get",
    user: { username: user, groups: ["system:authenticated"] },
    sourceIPs: ["10.0.0.7"],
    objectRef: { resource: "secrets", namespace: "prod", name, apiVersion: "v1" },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: now,
    stageTimestamp: now,
  };
}

/** POSTs audit events to an agent's webhook; throws unless every one was accepted. */
export async function postAudit(api: string, events: unknown[]): Promise<void> {
  const r = await fetch(`${api}/k8s-audit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind: "EventList", items: events }),
  });
  const body = await r.json();
  if (body.accepted !== events.length) throw new Error(`webhook: ${JSON.stringify(body)}`);
}
