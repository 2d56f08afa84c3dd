/**
 * What each config key accepts, as data: type, range or choices, and default. One table drives
 * checking (every error names the key and what is accepted), conversion (`16MiB`, `5ms`, `7d`),
 * the defaults, and the list of Falco keys that Saker reads but has no use for (a warning, so a
 * falco.yaml still loads).
 * @module
 */
import { PRIORITIES } from "../rules/alert.ts";
import { parseDuration, parsePriority } from "../outputs/alert_filter.ts";
import { FACILITIES } from "../outputs/syslog.ts";
import { type Config, FALCO_LOG_LEVELS } from "./types.ts";

/** How one key is checked and converted. */
export type Spec =
  | { kind: "bool" }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "number"; min?: number; max?: number }
  | { kind: "string"; nonEmpty?: boolean; check?: (s: string) => string | undefined }
  | { kind: "enum"; values: readonly string[]; parse?: (s: string) => unknown }
  | { kind: "bytes"; min?: number; powerOfTwo?: boolean }
  | { kind: "duration"; unit: "s" | "ms"; min?: number }
  | { kind: "list"; of: Spec }
  | { kind: "object"; fields: Record<string, Spec> }
  | { kind: "map"; of: Spec }
  | { kind: "oneof"; options: Spec[]; describe: string }
  | { kind: "ignored"; why: string }
  | { kind: "any"; what: string };

/** The one place a key's description of accepted values is written. */
export function describe(s: Spec): string {
  switch (s.kind) {
    case "bool":
      return "true or false";
    case "int":
      return s.min !== undefined && s.max !== undefined
        ? `an integer from ${s.min} to ${s.max}`
        : s.min !== undefined
        ? `an integer of at least ${s.min}`
        : "an integer";
    case "number":
      return s.min !== undefined && s.max !== undefined
        ? `a number from ${s.min} to ${s.max}`
        : s.min !== undefined
        ? `a number greater than ${s.min}`
        : "a number";
    case "string":
      return s.nonEmpty ? "a non-empty string" : "a string";
    case "enum":
      return `one of ${s.values.join(", ")}`;
    case "bytes":
      return `a size in bytes (an integer or e.g. 512KiB, 16MiB)${
        s.powerOfTwo ? " that is a power of two" : ""
      }`;
    case "duration":
      return `a duration (e.g. 500ms, 30s, 5m, 1h, 7d${
        s.unit === "s" ? ", or a number of seconds" : ", or a number of milliseconds"
      })`;
    case "list":
      return `a list of ${describe(s.of).replace(/^an? /, "")}s`;
    case "object":
      return `a map with keys ${Object.keys(s.fields).join(", ")}`;
    case "map":
      return `a map of names to ${describe(s.of).replace(/^an? /, "")}s`;
    case "oneof":
      return s.describe;
    case "ignored":
      return "anything (ignored)";
    case "any":
      return s.what;
  }
}

const bool: Spec = { kind: "bool" };
const str: Spec = { kind: "string" };
const strList: Spec = { kind: "list", of: str };
const ignored = (why: string): Spec => ({ kind: "ignored", why });
const FALCO_ONLY = "Falco-specific; Saker has no equivalent";

const priorityNames = [...PRIORITIES.map((p) => p.toLowerCase()), "info"];

const appendOutputEntry: Spec = {
  kind: "object",
  fields: {
    match: {
      kind: "object",
      fields: { source: str, tags: strList, rule: str },
    },
    extra_output: str,
    extra_fields: {
      kind: "list",
      of: {
        kind: "oneof",
        options: [str, { kind: "map", of: str }],
        describe: "a field name or a map of a name to a format",
      },
    },
    suggested_output: bool,
  },
};

const ruleSelector: Spec = { kind: "object", fields: { rule: str, tag: str } };

/** The schema of the whole file. */
export const SCHEMA: Spec & { kind: "object" } = {
  kind: "object",
  fields: {
    rules_files: strList,
    rules: {
      kind: "list",
      of: { kind: "object", fields: { enable: ruleSelector, disable: ruleSelector } },
    },
    priority: { kind: "enum", values: priorityNames, parse: parsePriority },
    rule_matching: { kind: "enum", values: ["first", "all"] },
    json_output: bool,
    json_include_output_property: bool,
    json_include_message_property: bool,
    json_include_output_fields_property: bool,
    json_include_tags_property: bool,
    time_format_iso_8601: bool,
    buffered_outputs: bool,
    outputs_queue: {
      kind: "object",
      fields: {
        capacity: { kind: "int", min: 0 },
        flush_timeout: { kind: "duration", unit: "s", min: 0 },
      },
    },
    output_timeout: { kind: "int", min: 1 },
    append_output: { kind: "list", of: appendOutputEntry },
    stdout_output: { kind: "object", fields: { enabled: bool } },
    syslog_output: {
      kind: "object",
      fields: {
        enabled: bool,
        path: { kind: "string", nonEmpty: true },
        facility: { kind: "enum", values: Object.keys(FACILITIES) },
      },
    },
    file_output: {
      kind: "object",
      fields: { enabled: bool, keep_alive: bool, filename: str },
    },
    program_output: {
      kind: "object",
      fields: { enabled: bool, keep_alive: bool, program: str },
    },
    http_output: {
      kind: "object",
      fields: {
        enabled: bool,
        url: { kind: "string", check: checkUrl },
        user_agent: str,
        insecure: bool,
        ca_cert: str,
        ca_bundle: str,
        ca_path: str,
        mtls: bool,
        client_cert: str,
        client_key: str,
        echo: bool,
        compress_uploads: bool,
        keep_alive: bool,
        max_consecutive_timeouts: { kind: "int", min: 0 },
        headers: { kind: "map", of: str },
      },
    },
    webserver: {
      kind: "object",
      fields: {
        enabled: bool,
        threadiness: ignored("Saker serves HTTP on its event loop"),
        listen_port: { kind: "int", min: 0, max: 65535 },
        listen_address: { kind: "string", nonEmpty: true },
        k8s_healthz_endpoint: { kind: "string", check: checkPath },
        prometheus_metrics_enabled: bool,
        ssl_enabled: bool,
        ssl_certificate: str,
        auth_token: str,
        max_request_body_bytes: { kind: "bytes", min: 1 },
        stall_timeout: { kind: "duration", unit: "s", min: 1 },
        k8s_audit_endpoint: { kind: "string", check: (s) => s === "" ? undefined : checkPath(s) },
      },
    },
    log_stderr: bool,
    log_syslog: ignored("Saker logs to stderr only"),
    log_level: { kind: "enum", values: FALCO_LOG_LEVELS },
    log_format: { kind: "enum", values: ["text", "json"] },
    libs_logger: ignored(FALCO_ONLY),
    syscall_event_drops: {
      kind: "object",
      fields: {
        threshold: { kind: "number", min: 0, max: 1 },
        actions: { kind: "list", of: { kind: "enum", values: ["ignore", "log", "alert", "exit"] } },
        rate: { kind: "number", min: 0 },
        max_burst: { kind: "int", min: 1 },
        simulate_drops: bool,
      },
    },
    syscall_event_timeouts: ignored(FALCO_ONLY),
    metrics: {
      kind: "object",
      fields: {
        enabled: bool,
        interval: { kind: "duration", unit: "s", min: 1 },
        output_rule: bool,
        output_file: str,
        rules_counters_enabled: ignored("Saker always counts"),
        resource_utilization_enabled: ignored("Saker always counts"),
        state_counters_enabled: ignored("Saker always counts"),
        kernel_event_counters_enabled: ignored("Saker always counts"),
        kernel_event_counters_per_cpu_enabled: ignored("Saker always counts per CPU"),
        libbpf_stats_enabled: ignored(FALCO_ONLY),
        plugins_metrics_enabled: ignored(FALCO_ONLY),
        kernel_iter_event_counters_enabled: ignored(FALCO_ONLY),
        jemalloc_stats_enabled: ignored(FALCO_ONLY),
        convert_memory_to_mb: ignored(FALCO_ONLY),
        include_empty_values: ignored(FALCO_ONLY),
      },
    },
    base_syscalls: {
      kind: "object",
      fields: { custom_set: strList, repair: bool, all: bool },
    },
    watch_config_files: bool,
    config_files: {
      kind: "list",
      of: {
        kind: "oneof",
        options: [str, {
          kind: "object",
          fields: {
            path: str,
            strategy: { kind: "enum", values: ["append", "override", "add-only"] },
          },
        }],
        describe: "a path or a map with path and strategy (append, override, add-only)",
      },
    },
    engine: ignored("Saker always uses its own eBPF probe; see the kernel section"),
    capture: {
      kind: "object",
      fields: {
        enabled: bool,
        path_prefix: { kind: "string", nonEmpty: true },
        mode: { kind: "enum", values: ["rules", "all_rules"] },
        default_duration: { kind: "int", min: 1 },
        max_file_size_mb: { kind: "number", min: 0 },
        pre_duration: { kind: "int", min: 0 },
        format: { kind: "enum", values: ["current", "sysdig029"] },
      },
    },
    load_plugins: strList,
    plugins: {
      kind: "list",
      of: {
        kind: "object",
        fields: {
          name: { kind: "string", nonEmpty: true },
          library_path: str,
          // Each plugin reads its own; the k8saudit one is checked in src/k8saudit/audit_inputs.ts.
          init_config: { kind: "any", what: "a map or a JSON string" },
          open_params: str,
        },
      },
    },
    plugins_hostinfo: ignored(FALCO_ONLY),
    static_fields: ignored(FALCO_ONLY),
    buffer_format_base64: ignored(FALCO_ONLY),
    falco_libs: ignored(FALCO_ONLY),
    grpc: ignored("Saker has no gRPC server; use GET /alerts/stream"),
    grpc_output: ignored("Saker has no gRPC server; use GET /alerts/stream"),
    kernel: {
      kind: "object",
      fields: {
        ring_buffer_size: { kind: "bytes", min: 4096, powerOfTwo: true },
        poll_interval: { kind: "duration", unit: "ms", min: 0 },
      },
    },
    containers: {
      kind: "object",
      fields: {
        metadata_wait: { kind: "duration", unit: "ms", min: 0 },
        sockets: strList,
        podman_event_log: str,
      },
    },
    alert_store: {
      kind: "object",
      fields: {
        enabled: bool,
        path: { kind: "string", nonEmpty: true },
        max_age: { kind: "duration", unit: "s", min: 0 },
        max_alerts: { kind: "int", min: 0 },
      },
    },
  },
};

/** Keys spelled differently in some Falco versions, and the key they stand for. */
export const ALIASES: Record<string, string> = {
  rules_file: "rules_files",
  rule_files: "rules_files",
};

function checkUrl(s: string): string | undefined {
  if (s === "") return undefined;
  try {
    const u = new URL(s.replace(/^(["'])(.*)\1$/, "$2"));
    if (u.protocol !== "http:" && u.protocol !== "https:") return "an http:// or https:// URL";
  } catch {
    return "an http:// or https:// URL";
  }
  return undefined;
}

function checkPath(s: string): string | undefined {
  return s.startsWith("/") ? undefined : "a URL path starting with /";
}

/** The defaults: what an empty config file means. */
export function defaultConfig(): Config {
  return {
    rules_files: [],
    rules: [],
    priority: "Debug",
    rule_matching: "first",
    json_output: false,
    json_include_output_property: true,
    json_include_message_property: false,
    json_include_output_fields_property: true,
    json_include_tags_property: true,
    time_format_iso_8601: false,
    buffered_outputs: false,
    outputs_queue: { capacity: 10_000, flush_timeout: 10 },
    output_timeout: 2000,
    append_output: [],
    stdout_output: { enabled: true },
    syslog_output: { enabled: false, path: "/dev/log", facility: "user" },
    file_output: { enabled: false, keep_alive: false, filename: "./events.txt" },
    program_output: { enabled: false, keep_alive: false, program: "" },
    http_output: {
      enabled: false,
      url: "",
      user_agent: "saker",
      insecure: false,
      ca_cert: "",
      ca_bundle: "",
      ca_path: "/etc/ssl/certs",
      mtls: false,
      client_cert: "/etc/ssl/certs/client.crt",
      client_key: "/etc/ssl/certs/client.key",
      echo: false,
      compress_uploads: false,
      keep_alive: true,
      max_consecutive_timeouts: 5,
      headers: {},
    },
    webserver: {
      enabled: true,
      listen_port: 8765,
      listen_address: "127.0.0.1",
      k8s_healthz_endpoint: "/healthz",
      prometheus_metrics_enabled: true,
      ssl_enabled: false,
      ssl_certificate: "/etc/saker/saker.pem",
      auth_token: "",
      max_request_body_bytes: 1024 * 1024,
      stall_timeout: 30,
      k8s_audit_endpoint: "/k8s-audit",
    },
    load_plugins: [],
    plugins: [],
    log_stderr: true,
    log_level: "info",
    log_format: "text",
    syscall_event_drops: {
      threshold: 0.1,
      actions: ["log", "alert"],
      rate: 0.03333,
      max_burst: 1,
      simulate_drops: false,
    },
    metrics: { enabled: false, interval: 3600, output_rule: true, output_file: "" },
    base_syscalls: { custom_set: [], repair: false, all: false },
    watch_config_files: true,
    kernel: { ring_buffer_size: 16 * 1024 * 1024, poll_interval: 15 },
    containers: { metadata_wait: 500, sockets: [], podman_event_log: "" },
    capture: {
      enabled: false,
      path_prefix: "/tmp/falco",
      mode: "rules",
      default_duration: 5000,
      max_file_size_mb: 0,
      pre_duration: 1000,
      format: "current",
    },
    alert_store: {
      enabled: true,
      path: "/var/lib/saker/alerts.db",
      max_age: 7 * 86400,
      max_alerts: 1_000_000,
    },
  };
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** Parses `16MiB`, `512k`, `4096` into bytes; undefined when malformed. */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isInteger(n) ? n : undefined;
}

/** One problem found while checking, located by key path. */
export interface Issue {
  path: (string | number)[];
  message: string;
  severity: "error" | "warning";
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean;
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

/**
 * Checks `value` against `spec` and returns the converted value (or undefined when invalid; the
 * reasons go to `issues`). Strings such as "true" or "8765" are accepted where a boolean or a
 * number is expected, since `-o` and environment variables only produce strings.
 */
export function check(
  spec: Spec,
  value: unknown,
  path: (string | number)[],
  issues: Issue[],
): unknown {
  const bad = (what = describe(spec)) => {
    issues.push({ path, severity: "error", message: `expected ${what}, got ${typeName(value)}` });
    return undefined;
  };
  switch (spec.kind) {
    case "ignored":
      issues.push({ path, severity: "warning", atKey: true, message: `ignored: ${spec.why}` });
      return undefined;
    case "any":
      return value;
    case "bool":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "false") return value === "true";
      return bad();
    case "int":
    case "number": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n)) return bad();
      if (spec.kind === "int" && !Number.isInteger(n)) return bad();
      if (spec.min !== undefined && n < spec.min) return bad();
      if (spec.max !== undefined && n > spec.max) return bad();
      if (spec.kind === "number" && spec.min !== undefined && spec.max === undefined) {
        if (n <= spec.min) return bad();
      }
      return n;
    }
    case "string": {
      if (typeof value === "number" || typeof value === "boolean") value = String(value);
      if (typeof value !== "string") return bad();
      if (spec.nonEmpty && value === "") return bad();
      const why = spec.check?.(value);
      return why ? bad(why) : value;
    }
    case "enum": {
      if (typeof value !== "string" && typeof value !== "number") return bad();
      const s = String(value).toLowerCase();
      if (!spec.values.includes(s)) return bad();
      return spec.parse ? spec.parse(s) : s;
    }
    case "bytes": {
      const n = parseBytes(value);
      if (n === undefined || (spec.min !== undefined && n < spec.min)) {
        return bad(describe(spec) + (spec.min ? ` of at least ${spec.min}` : ""));
      }
      if (spec.powerOfTwo && (n & (n - 1)) !== 0) return bad();
      return n;
    }
    case "duration": {
      let n: number | undefined;
      if (typeof value === "number") n = value;
      else if (typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)) n = Number(value);
      else if (typeof value === "string") {
        const s = parseDuration(value);
        if (s !== undefined) n = spec.unit === "s" ? s : s * 1000;
      }
      if (n === undefined || !Number.isFinite(n) || (spec.min !== undefined && n < spec.min)) {
        return bad();
      }
      return n;
    }
    case "list": {
      if (!Array.isArray(value)) return bad();
      const out: unknown[] = [];
      value.forEach((item, i) => {
        const v = check(spec.of, item, [...path, i], issues);
        if (v !== undefined) out.push(v);
      });
      return out;
    }
    case "map": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return bad();
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(value)) {
        const v = check(spec.of, item, [...path, k], issues);
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    case "object": {
      if (value === null || value === undefined) return {};
      if (typeof value !== "object" || Array.isArray(value)) return bad();
      const out: Record<string, unknown> = {};
      for (const [rawKey, item] of Object.entries(value)) {
        const k = path.length === 0 ? (ALIASES[rawKey] ?? rawKey) : rawKey;
        const sub = spec.fields[k];
        if (!sub) {
          const hint = suggest(rawKey, Object.keys(spec.fields));
          issues.push({
            path: [...path, rawKey],
            severity: "error",
            atKey: true,
            message: `unknown key${hint ? ` (did you mean ${hint}?)` : ""}; known keys here: ` +
              Object.keys(spec.fields).join(", "),
          });
          continue;
        }
        // Falco 0.x allowed a single string for rules_file.
        const given = k === "rules_files" && typeof item === "string" ? [item] : item;
        const v = check(sub, given, [...path, rawKey], issues);
        if (v === undefined) continue;
        if (k === "rules_files" && Array.isArray(out[k])) {
          (out[k] as unknown[]).push(...(v as unknown[]));
        } else out[k] = v;
      }
      return out;
    }
    case "oneof": {
      for (const opt of spec.options) {
        const tmp: Issue[] = [];
        const v = check(opt, value, path, tmp);
        if (v !== undefined && !tmp.some((i) => i.severity === "error")) {
          issues.push(...tmp);
          return v;
        }
      }
      return bad();
    }
  }
}

/** The closest known key within edit distance 2, for "did you mean". */
function suggest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
