/**
 * Where Kubernetes audit events come from, read from the config with Falco's key names:
 *
 * - `webserver.k8s_audit_endpoint` (Falco 0.31's key, default `/k8s-audit`): the agent's own
 *   server takes audit webhooks at that path (same address, TLS and bearer token as the rest of
 *   its API); an empty value turns it off.
 * - `plugins` entries named `k8saudit` and listed in `load_plugins` (Falco 0.32+): Saker does
 *   what the plugin would, natively. `open_params` is `http://[host]:port/path` or `https://...`
 *   (a listener of its own, as the plugin runs), `file:///path` (tail a log file) or a path (read
 *   a file or directory once); `init_config` (a map or a JSON string) takes `maxEventSize`,
 *   `webhookMaxBatchSize` and `sslCertificate`. Other plugins are loaded by src/agent/plugins.ts.
 *
 * @example
 * ```ts
 * import { auditInputs } from "./audit_inputs.ts";
 * const { inputs, errors } = auditInputs({
 *   webserver: { enabled: true, k8s_audit_endpoint: "/k8s-audit" },
 *   load_plugins: ["k8saudit"],
 *   plugins: [{
 *     name: "k8saudit",
 *     library_path: "",
 *     init_config: "",
 *     open_params: "http://:9765/k8s-audit",
 *   }],
 * });
 * inputs.map((i) => i.kind); // ["endpoint", "listen"]
 * ```
 * @module
 */
/** The k8saudit plugin's default maxEventSize (bytes of one event). */
export const DEFAULT_MAX_EVENT_BYTES = 262144;

/** The k8saudit plugin's default webhookMaxBatchSize: 12 MiB (kube-apiserver's 10 MiB + 20%). */
export const DEFAULT_MAX_BATCH_BYTES = 12 * 1024 * 1024;

/** A `plugins` entry as the config holds it. */
export interface PluginEntry {
  name?: string;
  library_path?: string;
  init_config?: unknown;
  open_params?: string;
}

/** The parts of the config this module reads. */
export interface AuditConfigView {
  webserver: { enabled: boolean; k8s_audit_endpoint: string };
  load_plugins: string[];
  plugins: PluginEntry[];
}

/** Limits of one input. */
export interface AuditLimits {
  maxEventBytes: number;
  maxBodyBytes: number;
}

/** One place audit events come from. */
export type AuditInput =
  | ({ kind: "endpoint"; path: string } & AuditLimits)
  | ({
    kind: "listen";
    hostname: string;
    port: number;
    path: string;
    /** PEM with certificate and key, for https. */
    tlsPemFile?: string;
  } & AuditLimits)
  | ({ kind: "file"; path: string; follow: boolean } & AuditLimits);

/** A problem, located by config key. */
export interface AuditConfigIssue {
  key: string;
  message: string;
}

/** What the config says about audit inputs. */
export interface AuditInputs {
  inputs: AuditInput[];
  errors: AuditConfigIssue[];
  warnings: AuditConfigIssue[];
}

function positiveInt(v: unknown): number | undefined {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The k8saudit plugin's init_config: a map, a JSON string, or empty. */
export function initConfig(
  raw: unknown,
  key: string,
  errors: AuditConfigIssue[],
): { limits: AuditLimits; ssl: string } {
  const out = {
    limits: { maxEventBytes: DEFAULT_MAX_EVENT_BYTES, maxBodyBytes: DEFAULT_MAX_BATCH_BYTES },
    ssl: "/etc/falco/falco.pem",
  };
  let cfg = raw;
  if (typeof cfg === "string") {
    if (cfg.trim() === "") return out;
    try {
      cfg = JSON.parse(cfg);
    } catch {
      errors.push({ key, message: "expected a map or a JSON object, got unreadable JSON" });
      return out;
    }
  }
  if (cfg === null || cfg === undefined) return out;
  if (typeof cfg !== "object" || Array.isArray(cfg)) {
    errors.push({ key, message: "expected a map or a JSON object" });
    return out;
  }
  for (const [k, v] of Object.entries(cfg as Record<string, unknown>)) {
    if (k === "maxEventSize" || k === "webhookMaxBatchSize") {
      const n = positiveInt(v);
      if (n === undefined) {
        errors.push({ key: `${key}.${k}`, message: "expected a positive integer" });
      } else if (k === "maxEventSize") out.limits.maxEventBytes = n;
      else out.limits.maxBodyBytes = n;
    } else if (k === "sslCertificate") {
      if (typeof v !== "string" || v === "") {
        errors.push({ key: `${key}.${k}`, message: "expected a PEM file path" });
      } else out.ssl = v;
    } else if (k !== "useAsync") {
      errors.push({
        key: `${key}.${k}`,
        message: "unknown key; known keys here: maxEventSize, webhookMaxBatchSize, " +
          "sslCertificate, useAsync",
      });
    }
  }
  return out;
}

/** The input `open_params` names. */
export function openParams(
  params: string,
  key: string,
  limits: AuditLimits,
  ssl: string,
  errors: AuditConfigIssue[],
): AuditInput | undefined {
  const p = params.trim();
  if (p === "") {
    errors.push({
      key,
      message: "required for the k8saudit plugin: http://[host]:port/path, https://..., " +
        "file:///path or a file path",
    });
    return undefined;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(p)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: "file", path: p, follow: false, ...limits };
  if (scheme === "file") {
    return { kind: "file", path: decodeURI(p.slice(7)), follow: true, ...limits };
  }
  if (scheme !== "http" && scheme !== "https") {
    errors.push({ key, message: `scheme "${scheme}" is not supported (http, https, file)` });
    return undefined;
  }
  // Go's URL parser (the plugin's) takes "http://:9765/x"; WHATWG's needs a host.
  const m = /^https?:\/\/(\[[^\]]*\]|[^/:]*)(?::(\d+))?(\/[^?#]*)?$/i.exec(p);
  const port = m?.[2] !== undefined ? Number(m[2]) : undefined;
  if (!m || port === undefined || port > 65535) {
    errors.push({ key, message: "expected http://[host]:port/path (a port is needed)" });
    return undefined;
  }
  const host = m[1].replace(/^\[(.*)\]$/, "$1");
  return {
    kind: "listen",
    hostname: host === "" ? "0.0.0.0" : host,
    port,
    path: m[3] ?? "/",
    tlsPemFile: scheme === "https" ? ssl : undefined,
    ...limits,
  };
}

/** One line saying where an input takes events (for listings). */
export function describeAuditInput(i: AuditInput): string {
  switch (i.kind) {
    case "endpoint":
      return `webhook on the API server at ${i.path}`;
    case "listen":
      return `webhook at ${i.tlsPemFile ? "https" : "http"}://${i.hostname}:${i.port}${i.path}`;
    case "file":
      return `${i.follow ? "following " : ""}file ${i.path}`;
  }
}

/** Reads the audit inputs the config asks for, with every problem located by key. */
export function auditInputs(c: AuditConfigView): AuditInputs {
  const out: AuditInputs = { inputs: [], errors: [], warnings: [] };
  const endpoint = c.webserver.k8s_audit_endpoint;
  if (c.webserver.enabled && endpoint !== "") {
    out.inputs.push({
      kind: "endpoint",
      path: endpoint,
      maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
      maxBodyBytes: DEFAULT_MAX_BATCH_BYTES,
    });
  }
  const names = new Set(c.plugins.map((p) => p.name));
  // Keys a plugins entry leaves out come as undefined.
  for (const [i, name] of c.load_plugins.entries()) {
    if (!names.has(name)) {
      out.errors.push({ key: `load_plugins[${i}]`, message: `no plugins entry is named ${name}` });
    } else if (name === "container") {
      out.warnings.push({
        key: `load_plugins[${i}]`,
        message: "ignored: container metadata is built in (the containers section)",
      });
    }
  }
  for (const [i, p] of c.plugins.entries()) {
    if (p.name !== "k8saudit" || !c.load_plugins.includes(p.name)) continue;
    const key = `plugins[${i}]`;
    const { limits, ssl } = initConfig(p.init_config, `${key}.init_config`, out.errors);
    const params = String(p.open_params ?? "");
    const input = openParams(params, `${key}.open_params`, limits, ssl, out.errors);
    if (input) out.inputs.push(input);
    // The endpoint on the agent's server follows the plugin's limits too.
    for (const e of out.inputs) if (e.kind === "endpoint") Object.assign(e, limits);
  }
  return out;
}
