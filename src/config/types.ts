/**
 * The agent's configuration as loaded and checked: the keys and shape of Falco's falco.yaml
 * wherever Falco has the feature (so an existing falco.yaml mostly loads as is), plus Saker's own
 * sections `kernel` and `alert_store`. Key names stay snake_case, exactly as written in YAML.
 * @module
 */
import type { Priority } from "../rules/alert.ts";
import type { PluginEntry } from "../k8saudit/audit_inputs.ts";

/** Log levels Falco accepts in `log_level`; Saker maps them onto its four. */
export const FALCO_LOG_LEVELS = [
  "emergency",
  "alert",
  "critical",
  "error",
  "warning",
  "notice",
  "info",
  "debug",
] as const;

/** Actions on kernel event drops. */
export type DropAction = "ignore" | "log" | "alert" | "exit";

/** One `append_output` entry. */
export interface AppendOutputEntry {
  match?: { source?: string; tags?: string[]; rule?: string };
  /** Text appended to the output (may use %fields). */
  extra_output?: string;
  /** Fields added to output_fields: a field name, or `{name: format}`. */
  extra_fields?: Array<string | Record<string, string>>;
  suggested_output?: boolean;
}

/** A `rules:` entry enabling or disabling rules by name (wildcards) or tag. */
export interface RuleSelection {
  enable?: { rule?: string; tag?: string };
  disable?: { rule?: string; tag?: string };
}

/** The whole configuration. */
export interface Config {
  /** Rules files and directories, in load order. */
  rules_files: string[];
  /** Rules selected or deselected by name or tag. */
  rules: RuleSelection[];
  /** Lowest rule priority loaded. */
  priority: Priority;
  rule_matching: "first" | "all";
  json_output: boolean;
  json_include_output_property: boolean;
  json_include_message_property: boolean;
  json_include_output_fields_property: boolean;
  json_include_tags_property: boolean;
  time_format_iso_8601: boolean;
  buffered_outputs: boolean;
  /** Per-output queue: capacity in alerts; flush_timeout (s) bounds the drain at shutdown. */
  outputs_queue: { capacity: number; flush_timeout: number };
  /** Milliseconds an output request may take (http) before it counts as failed. */
  output_timeout: number;
  append_output: AppendOutputEntry[];
  stdout_output: { enabled: boolean };
  syslog_output: { enabled: boolean; path: string; facility: string };
  file_output: { enabled: boolean; keep_alive: boolean; filename: string };
  program_output: { enabled: boolean; keep_alive: boolean; program: string };
  http_output: {
    enabled: boolean;
    url: string;
    user_agent: string;
    insecure: boolean;
    ca_cert: string;
    ca_bundle: string;
    ca_path: string;
    mtls: boolean;
    client_cert: string;
    client_key: string;
    echo: boolean;
    compress_uploads: boolean;
    keep_alive: boolean;
    max_consecutive_timeouts: number;
    /** Extra request headers (Saker). */
    headers: Record<string, string>;
  };
  webserver: {
    enabled: boolean;
    listen_port: number;
    listen_address: string;
    k8s_healthz_endpoint: string;
    prometheus_metrics_enabled: boolean;
    ssl_enabled: boolean;
    /** PEM file with the certificate and its private key. */
    ssl_certificate: string;
    /** Bearer token required on every endpoint but the health check ("" = none). */
    auth_token: string;
    /** Largest accepted request body, bytes. */
    max_request_body_bytes: number;
    /** Seconds without progress while events wait before /healthz answers 503. */
    stall_timeout: number;
    /** Path taking Kubernetes audit webhooks ("" = none); Falco 0.31's key. */
    k8s_audit_endpoint: string;
  };
  /** Plugins to load: Saker runs k8saudit and json natively (src/k8saudit/audit_inputs.ts). */
  load_plugins: string[];
  /** Falco's plugin entries (name, library_path, init_config, open_params). */
  plugins: PluginEntry[];
  log_stderr: boolean;
  log_level: typeof FALCO_LOG_LEVELS[number];
  /** text or json log lines (Saker). */
  log_format: "text" | "json";
  syscall_event_drops: {
    threshold: number;
    actions: DropAction[];
    rate: number;
    max_burst: number;
    simulate_drops: boolean;
  };
  metrics: {
    enabled: boolean;
    /** Seconds between metrics snapshots. */
    interval: number;
    output_rule: boolean;
    output_file: string;
  };
  base_syscalls: { custom_set: string[]; repair: boolean; all: boolean };
  watch_config_files: boolean;
  /** Saker: the kernel side. */
  kernel: {
    /** BPF ring buffer size in bytes (a power of two). */
    ring_buffer_size: number;
    /** Milliseconds the reader pauses after draining the ring. */
    poll_interval: number;
  };
  /** Saker: container metadata (src/state/containers). */
  containers: {
    /**
     * Longest time, ms, the rules of a new container's events wait for its metadata (0: they
     * never wait).
     */
    metadata_wait: number;
    /** Docker-compatible API sockets; empty: the usual places. */
    sockets: string[];
    /** Podman's event log file; empty: its usual place. */
    podman_event_log: string;
  };
  /** Falco's capture feature (src/pipeline/recorder.ts); pre_duration and format are Saker's. */
  capture: {
    enabled: boolean;
    path_prefix: string;
    mode: "rules" | "all_rules";
    /** Milliseconds captured after an alert when the rule sets no capture_duration. */
    default_duration: number;
    /** Largest capture file, MB (0 = no limit). */
    max_file_size_mb: number;
    /** Milliseconds of events kept from before the alert. */
    pre_duration: number;
    /** Event format of the files: current (newest events) or sysdig029 (older readers). */
    format: "current" | "sysdig029";
  };
  /** Saker: the SQLite alert store. */
  alert_store: {
    enabled: boolean;
    path: string;
    /** Seconds an alert is kept (0 = forever). */
    max_age: number;
    /** Most alerts kept (0 = no limit). */
    max_alerts: number;
  };
}
