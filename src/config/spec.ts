/**
 * The config file's keys, as one table: for every key, what it accepts (type, range, choices)
 * and its default. The {@link Config} type and {@link defaultConfig} are derived from the table,
 * and validate.ts checks a file against it, so a key is added, documented and defaulted in one
 * place. Key names are Falco's (falco.yaml) wherever Falco has the feature, snake_case as written
 * in YAML; `kernel` and `alert_store` are Saker's own sections. Falco keys Saker reads but has no
 * use for are listed as ignored (a warning, so a falco.yaml still loads).
 *
 * @example
 * ```ts
 * import { type Config, defaultConfig } from "./spec.ts";
 * const c: Config = defaultConfig();
 * c.webserver.listen_port; // 8765
 * ```
 * @module
 */
import { parsePriority, type Priority, PRIORITY_NAMES } from "../rules/alert.ts";
import { FACILITIES } from "../outputs/syslog.ts";
import { checkSubjectTemplate } from "../outputs/nats_subject.ts";
import { HTTP_PRESETS } from "../outputs/http_presets.ts";
import { resolveGroup } from "../files.ts";

/** Type-level tag: the value a spec node yields once checked. Never present at run time. */
declare const VALUE: unique symbol;
interface Yields<T> {
  readonly [VALUE]?: T;
}

/** `true`/`false`. */
export interface BoolSpec extends Yields<boolean> {
  kind: "bool";
  default?: boolean;
}
/** An integer, optionally bounded. */
export interface IntSpec extends Yields<number> {
  kind: "int";
  min?: number;
  max?: number;
  default?: number;
}
/** A number; with only `min`, strictly greater than it. */
export interface NumberSpec extends Yields<number> {
  kind: "number";
  min?: number;
  max?: number;
  default?: number;
}
/** A string; `check` returns what is accepted when the value is not. */
export interface StringSpec extends Yields<string> {
  kind: "string";
  nonEmpty?: boolean;
  check?: (s: string) => string | undefined;
  default?: string;
}
/** One of `values` (any case); `parse` turns the lowercased value into the config's value. */
export interface EnumSpec<T = string> extends Yields<T> {
  kind: "enum";
  values: readonly string[];
  parse?: (s: string) => T | undefined;
  default?: T;
}
/** A size in bytes (`16MiB`, `512k`, `4096`). */
export interface BytesSpec extends Yields<number> {
  kind: "bytes";
  min?: number;
  powerOfTwo?: boolean;
  default?: number;
}
/** A duration (`500ms`, `7d`, or a plain number of `unit`), as a number of `unit`. */
export interface DurationSpec extends Yields<number> {
  kind: "duration";
  unit: "s" | "ms";
  min?: number;
  default?: number;
}
/** A list of `of`. */
export interface ListSpec<T = unknown> extends Yields<T[]> {
  kind: "list";
  of: Spec;
  default?: T[];
}
/** A map with the keys of `fields` (a config section, or an entry of a list). */
export interface ObjectSpec<T = unknown> extends Yields<T> {
  kind: "object";
  fields: Readonly<Record<string, Spec>>;
}
/** A map of any names to `of`. */
export interface MapSpec<T = unknown> extends Yields<Record<string, T>> {
  kind: "map";
  of: Spec;
  default?: Record<string, T>;
}
/** The first of `options` that accepts the value. */
export interface OneOfSpec<T = unknown> extends Yields<T> {
  kind: "oneof";
  options: readonly Spec[];
  describe: string;
}
/** A Falco key Saker reads but has no use for; `why` goes into the warning. */
export interface IgnoredSpec extends Yields<never> {
  kind: "ignored";
  why: string;
}
/** Anything, checked by its reader (`what` says what is expected). */
export interface AnySpec<T = unknown> extends Yields<T> {
  kind: "any";
  what: string;
  default?: T;
}

/** How one key is checked and converted. */
export type Spec =
  | BoolSpec
  | IntSpec
  | NumberSpec
  | StringSpec
  | EnumSpec<unknown>
  | BytesSpec
  | DurationSpec
  | ListSpec
  | ObjectSpec
  | MapSpec
  | OneOfSpec
  | IgnoredSpec
  | AnySpec;

/** The value type a spec yields. */
export type ValueOf<S> = S extends Yields<infer T> ? T : never;

type Fields = Readonly<Record<string, Spec>>;
type Known<F extends Fields> = { [K in keyof F as F[K] extends IgnoredSpec ? never : K]: F[K] };
/** A section: every key present (each has a default). */
type SectionOf<F extends Fields> = { -readonly [K in keyof Known<F>]: ValueOf<Known<F>[K]> };
/** A list entry: only the keys written are present. */
type EntryOf<F extends Fields> = { -readonly [K in keyof Known<F>]?: ValueOf<Known<F>[K]> };

const bool = (d?: boolean): BoolSpec => ({ kind: "bool", default: d });
const int = (d?: number, range: { min?: number; max?: number } = {}): IntSpec => ({
  kind: "int",
  default: d,
  ...range,
});
const num = (d: number, range: { min?: number; max?: number }): NumberSpec => ({
  kind: "number",
  default: d,
  ...range,
});
const str = (d?: string, o: Omit<StringSpec, "kind" | "default"> = {}): StringSpec => ({
  kind: "string",
  default: d,
  ...o,
});
const oneOf = <const V extends readonly string[]>(
  values: V,
  d?: V[number],
): EnumSpec<V[number]> => ({
  kind: "enum",
  values,
  default: d,
});
const bytes = (d: number, o: Omit<BytesSpec, "kind" | "default">): BytesSpec => ({
  kind: "bytes",
  default: d,
  ...o,
});
const duration = (d: number, unit: "s" | "ms", min?: number): DurationSpec => ({
  kind: "duration",
  unit,
  min,
  default: d,
});
const list = <S extends Spec>(of: S, d: ValueOf<S>[] = []): ListSpec<ValueOf<S>> => ({
  kind: "list",
  of,
  default: d,
});
const map = <S extends Spec>(of: S, d: Record<string, ValueOf<S>> = {}): MapSpec<ValueOf<S>> => ({
  kind: "map",
  of,
  default: d,
});
const section = <F extends Fields>(fields: F): ObjectSpec<SectionOf<F>> => ({
  kind: "object",
  fields,
});
const entry = <F extends Fields>(fields: F): ObjectSpec<EntryOf<F>> => ({ kind: "object", fields });
const either = <A extends Spec, B extends Spec>(
  a: A,
  b: B,
  describe: string,
): OneOfSpec<ValueOf<A> | ValueOf<B>> => ({ kind: "oneof", options: [a, b], describe });
const ignored = (why: string): IgnoredSpec => ({ kind: "ignored", why });
const any = <T>(what: string, d?: T): AnySpec<T> => ({ kind: "any", what, default: d });

const NO_GRPC = "Saker has no gRPC server; use GET /alerts/stream";

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

/** Falco's engine kinds. */
export const ENGINE_KINDS = [
  "modern_ebpf",
  "ebpf",
  "kmod",
  "replay",
  "nodriver",
  "gvisor",
] as const;

/** Actions on kernel event drops. */
export const DROP_ACTIONS = ["ignore", "log", "alert", "exit"] as const;

const ruleSelector = entry({ rule: str(), tag: str() });

/** How to reach NATS: the same keys in `nats_output` and `collector`. */
const natsConnection = {
  /** Server URLs (nats://host:4222, tls://host:4222). */
  servers: list(str(undefined, { check: checkNatsUrl }), ["nats://127.0.0.1:4222"]),
  /** Authentication: a token, or a user and password, or a .creds file (JWT and NKey seed). */
  token: str(""),
  user: str(""),
  password: str(""),
  creds_file: str(""),
  /** TLS (required when enabled): the CA checking the server, a client certificate and key. */
  tls: section({
    enabled: bool(false),
    ca_cert: str(""),
    client_cert: str(""),
    client_key: str(""),
  }),
  /** The JetStream stream of alerts. */
  stream: str("SAKER_ALERTS", { check: checkStreamName }),
} as const;

/** The whole file. */
export const SPEC = section({
  /** Rules files and directories, in load order. */
  rules_files: list(str()),
  /** Rules selected or deselected by name (wildcards) or tag. */
  rules: list(entry({ enable: ruleSelector, disable: ruleSelector })),
  /** Lowest rule priority loaded. */
  priority: {
    kind: "enum",
    values: PRIORITY_NAMES,
    parse: parsePriority,
    default: "Debug",
  } as EnumSpec<Priority>,
  rule_matching: oneOf(["first", "all"], "first"),
  /** Saker: sequence and threshold rules. */
  sequences: section({
    /** Chains in progress of one sequence (keys of one threshold) kept; the oldest make room. */
    max_partial_matches: int(4096, { min: 1, max: 10_000_000 }),
  }),
  json_output: bool(false),
  json_include_output_property: bool(true),
  json_include_message_property: bool(false),
  json_include_output_fields_property: bool(true),
  json_include_tags_property: bool(true),
  time_format_iso_8601: bool(false),
  buffered_outputs: bool(false),
  /** Per-output queue: capacity in alerts; flush_timeout (s) bounds the drain at shutdown. */
  outputs_queue: section({
    capacity: int(10_000, { min: 0 }),
    flush_timeout: duration(10, "s", 0),
  }),
  /** Milliseconds an output request may take (http) before it counts as failed. */
  output_timeout: int(2000, { min: 1 }),
  append_output: list(entry({
    match: entry({ source: str(), tags: list(str()), rule: str() }),
    /** Text appended to the output (may use %fields). */
    extra_output: str(),
    /** Fields added to output_fields: a field name, or `{name: format}`. */
    extra_fields: list(
      either(str(), map(str()), "a field name or a map of a name to a format"),
    ),
    suggested_output: bool(),
  })),
  stdout_output: section({ enabled: bool(true) }),
  syslog_output: section({
    enabled: bool(false),
    path: str("/dev/log", { nonEmpty: true }),
    facility: oneOf(Object.keys(FACILITIES), "user"),
  }),
  /**
   * Saker: alerts to a remote syslog server or SIEM over TCP or TLS, RFC 5424 with structured
   * data (rule, priority, source, tags), octet-counting framing.
   */
  remote_syslog_output: section({
    enabled: bool(false),
    /** host:port of the server. */
    address: str("127.0.0.1:6514", { check: checkHostPort }),
    transport: oneOf(["tcp", "tls"], "tls"),
    facility: oneOf(Object.keys(FACILITIES), "local0"),
    app_name: str("saker", { nonEmpty: true }),
    /** SD-ID of the alert's structured data (name@private-enterprise-number). */
    sd_id: str("saker@32473", { check: checkSdId }),
    /** PEM files: a CA checking the server (besides the system's), a client certificate and key. */
    ca_cert: str(""),
    client_cert: str(""),
    client_key: str(""),
  }),
  file_output: section({
    enabled: bool(false),
    keep_alive: bool(false),
    filename: str("./events.txt"),
  }),
  program_output: section({ enabled: bool(false), keep_alive: bool(false), program: str("") }),
  http_output: section({
    enabled: bool(false),
    url: str("", { check: checkUrl }),
    user_agent: str("saker"),
    insecure: bool(false),
    ca_cert: str(""),
    ca_bundle: str(""),
    ca_path: str("/etc/ssl/certs"),
    mtls: bool(false),
    client_cert: str("/etc/ssl/certs/client.crt"),
    client_key: str("/etc/ssl/certs/client.key"),
    echo: bool(false),
    compress_uploads: bool(false),
    keep_alive: bool(true),
    max_consecutive_timeouts: int(5, { min: 0 }),
    /** Extra request headers (Saker). */
    headers: map(str()),
    /** The receiver's format: falco (one alert per POST), elasticsearch, opensearch, loki. */
    preset: oneOf(HTTP_PRESETS, "falco"),
    /** The index of the elasticsearch and opensearch presets. */
    index: str("saker-alerts", { check: checkIndexName }),
  }),
  /**
   * Saker: each alert published to NATS JetStream (Falco's JSON, Nats-Msg-Id de-duplication,
   * acknowledged), on a subject from a template; the stream is created when missing.
   */
  nats_output: section({
    enabled: bool(false),
    ...natsConnection,
    /** Subject template: {hostname}, {priority}, {rule}, {source}. */
    subject: str("saker.alerts.{hostname}.{priority}", { check: checkSubjectTemplate }),
    /** Longest wait for the server's acknowledgement of a publish, ms. */
    ack_timeout: duration(5000, "ms", 1),
    /** De-duplication window of a stream the output creates, seconds. */
    duplicate_window: duration(120, "s", 1),
  }),
  /**
   * Saker: alerts of other agents read from a JetStream stream (a durable consumer) into the
   * alert store and the live stream: the fleet's view (`saker collect`).
   */
  collector: section({
    enabled: bool(false),
    ...natsConnection,
    /** Subjects read from the stream. */
    subjects: str("saker.alerts.>", { nonEmpty: true }),
    /** Durable consumer name: a restarted collector continues where it stopped. */
    durable: str("saker-collector", { check: checkStreamName }),
    /** Most alerts stored in one transaction. */
    batch: int(256, { min: 1, max: 10_000 }),
  }),
  webserver: section({
    enabled: bool(true),
    threadiness: ignored("Saker serves HTTP on its event loop"),
    listen_port: int(8765, { min: 0, max: 65535 }),
    listen_address: str("127.0.0.1", { nonEmpty: true }),
    k8s_healthz_endpoint: str("/healthz", { check: checkPath }),
    prometheus_metrics_enabled: bool(true),
    /** Also serve Falco's metric names (falcosecurity_*) on /metrics (Saker). */
    prometheus_falco_metrics: bool(true),
    ssl_enabled: bool(false),
    /** PEM file with the certificate and its private key. */
    ssl_certificate: str("/etc/saker/saker.pem"),
    /** Bearer token required on every endpoint but the health check ("" = none). */
    auth_token: str(""),
    /** Largest accepted request body, bytes. */
    max_request_body_bytes: bytes(1024 * 1024, { min: 1 }),
    /** Seconds without progress while events wait before /healthz answers 503. */
    stall_timeout: duration(30, "s", 1),
    /** Path taking Kubernetes audit webhooks ("" = none); Falco 0.31's key. */
    k8s_audit_endpoint: str("/k8s-audit", { check: (s) => s === "" ? undefined : checkPath(s) }),
    /** Serve the alert dashboard at / (Saker); its data come from the token-guarded API. */
    dashboard_enabled: bool(true),
    /**
     * Serve a non-loopback address without auth_token (refused otherwise); warned at start and
     * in /healthz.
     */
    allow_unauthenticated: bool(false),
    /** Most client connections at once (at most half the open-file limit). */
    max_connections: int(1024, { min: 1 }),
    /** Time a client has to send its request headers (an idle connection too). */
    header_timeout: duration(10, "s", 1),
    /** Time a client has to send its whole request, body included. */
    request_timeout: duration(60, "s", 1),
    /** Requests whose bodies are received at once; more get 503 with Retry-After. */
    max_bodies_in_flight: int(32, { min: 1 }),
    /** Request body bytes held at once across all requests; more get 503 with Retry-After. */
    max_body_bytes_in_flight: bytes(32 << 20, { min: 1 }),
  }),
  /** Host name in alerts ("": SAKER_HOSTNAME, FALCO_HOSTNAME, else the system's) (Saker). */
  hostname: str(""),
  log_stderr: bool(true),
  /** Log messages to syslog too (syslog_output.path, facility user). */
  log_syslog: bool(false),
  log_level: oneOf(FALCO_LOG_LEVELS, "info"),
  /** text or json log lines (Saker). */
  log_format: oneOf(["text", "json"], "text"),
  libs_logger: ignored("libbpf's messages are in the debug log (log_level: debug)"),
  syscall_event_drops: section({
    threshold: num(0.1, { min: 0, max: 1 }),
    actions: list(oneOf(DROP_ACTIONS), ["log", "alert"]),
    rate: num(0.03333, { min: 0 }),
    max_burst: int(1, { min: 1 }),
    simulate_drops: bool(false),
  }),
  syscall_event_timeouts: ignored(
    "the reader waits on the ring instead of counting timeouts; a stalled pipeline turns " +
      "/healthz to 503 (webserver.stall_timeout)",
  ),
  metrics: section({
    enabled: bool(false),
    /** Seconds between metrics snapshots (Falco's least: 100ms). */
    interval: duration(3600, "s", 0.1),
    output_rule: bool(true),
    output_file: str(""),
    /** Categories of the snapshots and of Falco's names on /metrics. */
    rules_counters_enabled: bool(true),
    resource_utilization_enabled: bool(true),
    state_counters_enabled: bool(true),
    kernel_event_counters_enabled: bool(true),
    kernel_event_counters_per_cpu_enabled: bool(false),
    libbpf_stats_enabled: ignored(
      "the probe's own cost per program is measured by `deno task bench capture` (bpf_stats)",
    ),
    plugins_metrics_enabled: bool(true),
    kernel_iter_event_counters_enabled: ignored(
      "Saker seeds its state from /proc, not from BPF iterators",
    ),
    jemalloc_stats_enabled: ignored("Saker runs on V8, without jemalloc"),
    /** Snapshot memory in MB rather than kB / bytes. */
    convert_memory_to_mb: bool(true),
    /** Snapshot fields whose value is 0 too. */
    include_empty_values: bool(false),
  }),
  base_syscalls: section({ custom_set: list(str()), repair: bool(false), all: bool(false) }),
  watch_config_files: bool(true),
  /** More config files or directories merged after this one (Falco's config.d). */
  config_files: list(
    either(
      str(),
      entry({ path: str(), strategy: oneOf(["append", "override", "add-only"]) }),
      "a path or a map with path and strategy (append, override, add-only)",
    ),
  ),
  /**
   * Falco's engine section: `modern_ebpf` is Saker's probe (`kmod` and `ebpf` are taken as it),
   * `replay` runs `replay.capture_file` through the agent, `nodriver` runs without the probe.
   */
  engine: section({
    kind: oneOf(ENGINE_KINDS, "modern_ebpf"),
    modern_ebpf: section({
      /** Ring size preset 1..10 (1 MB ... 512 MB per buffer; Falco's default 4). */
      buf_size_preset: int(4, { min: 0, max: 10 }),
      /** CPUs per Falco ring buffer (0: one for all), for the total size. */
      cpus_for_each_buffer: int(2, { min: 0 }),
      /** Drop events of failed system calls in the probe. */
      drop_failed_exit: bool(false),
      disable_iterators: ignored("Saker seeds its state from /proc, not from BPF iterators"),
    }),
    kmod: ignored("Saker has no kernel module; its eBPF probe (engine.modern_ebpf) is used"),
    ebpf: ignored("Saker's probe is the CO-RE one (engine.modern_ebpf)"),
    gvisor: ignored("Saker reads system calls with its eBPF probe, not from gVisor"),
    replay: section({ capture_file: str("") }),
  }),
  /** Falco's capture feature (src/pipeline/recorder.ts); pre_duration and format are Saker's. */
  capture: section({
    enabled: bool(false),
    path_prefix: str("/tmp/falco", { nonEmpty: true }),
    mode: oneOf(["rules", "all_rules"], "rules"),
    /** Milliseconds captured after an alert when the rule sets no capture_duration. */
    default_duration: int(5000, { min: 1 }),
    /** Largest capture file, MB (0 = no limit). */
    max_file_size_mb: int(0, { min: 0 }),
    /** Milliseconds of events kept from before the alert. */
    pre_duration: int(1000, { min: 0 }),
    /** Event format of the files: current (newest events) or sysdig029 (older readers). */
    format: oneOf(["current", "sysdig029"], "current"),
  }),
  /** Plugins to load, by their entries' names (src/agent/plugins.ts). */
  load_plugins: list(str()),
  /**
   * Falco's plugin entries: `library_path` names the module (a Falco library name such as
   * libcloudtrail.so picks the plugin Saker carries); each plugin checks its own init_config.
   */
  plugins: list(entry({
    name: str(undefined, { nonEmpty: true }),
    library_path: str(),
    init_config: any<unknown>("a map or a JSON string"),
    open_params: str(),
  })),
  plugins_hostinfo: ignored("Saker loads no plugin that needs host info"),
  /** Fields of fixed value for rules and outputs (`static.NAME`). */
  static_fields: map(str()),
  /** Data buffers in alerts as base64 rather than printable text. */
  buffer_format_base64: bool(false),
  /** Falco's libs settings that Saker's state and probe have too. */
  falco_libs: section({
    /** Most threads in the state's thread table (overflow counted). */
    thread_table_size: int(262_144, { min: 1 }),
    thread_table_auto_purging_interval_s: ignored(
      "threads whose exit was lost are found missing from /proc, a slice every 65536 events",
    ),
    thread_table_auto_purging_thread_timeout_s: ignored(
      "threads whose exit was lost are found missing from /proc, a slice every 65536 events",
    ),
    /** Bytes of send/recv payloads the probe captures (0: none). */
    snaplen: int(0, { min: 0, max: 1024 }),
  }),
  grpc: ignored(NO_GRPC),
  grpc_output: ignored(NO_GRPC),
  /** Saker: the kernel side. */
  kernel: section({
    /** BPF ring buffer size in bytes (a power of two). */
    ring_buffer_size: bytes(16 * 1024 * 1024, { min: 4096, powerOfTwo: true }),
    /** Shortest pause, in ms, after a drain that found events. */
    poll_interval: duration(2, "ms", 0),
    /** Longest time, in ms, a record waits in the ring before the reader has it. */
    max_delay: duration(5, "ms", 1),
    /**
     * Filter in the kernel by what the rules say: per syscall, drop events no rule can match,
     * and leave out the fd calls state tracking does not need for the rules. false: only the
     * syscall filter, and every fd call for state, as Falco does.
     */
    predicates: bool(true),
  }),
  /** Saker: container metadata (src/state/containers). */
  containers: section({
    /** Longest time, ms, the rules of a new container's events wait for its metadata (0: never). */
    metadata_wait: duration(500, "ms", 0),
    /** Docker-compatible API sockets; empty: the usual places. */
    sockets: list(str()),
    /** Podman's event log file; empty: its usual place. */
    podman_event_log: str(""),
  }),
  /**
   * Saker: aggregation of repeated alerts (src/rules/aggregation.ts, src/outputs/aggregator.ts):
   * the defaults for every rule, then each rule's `aggregate:`, then the `rules` entries.
   */
  aggregation: section({
    enabled: bool(false),
    /** Key fields besides the rule (fields a rule's source lacks are left out). */
    key: list(str(undefined, { nonEmpty: true }), ["container.id", "proc.exepath"]),
    /** Add each rule's main object (fd.name, server address, parent, audit target) to the key. */
    main_object: bool(true),
    /** Seconds without a repeat that close a key's window. */
    window: duration(60, "s", 0.001),
    /** Longest window, seconds: a steady stream is summarised this often. */
    max_window: duration(600, "s", 0.001),
    /** Distinct values shown per differing field in a summary. */
    samples: int(5, { min: 0, max: 100 }),
    /** Most keys with an open window (past it, new keys aggregate under their rule alone). */
    max_keys: int(10_000, { min: 1 }),
    /** Settings for the rules a `match` fits (source, every tag, rule name), in order. */
    rules: list(entry({
      match: entry({ source: str(), tags: list(str()), rule: str() }),
      enabled: bool(),
      key: list(str(undefined, { nonEmpty: true })),
      main_object: bool(),
      window: { kind: "duration", unit: "s", min: 0.001 } as DurationSpec,
      max_window: { kind: "duration", unit: "s", min: 0.001 } as DurationSpec,
    })),
  }),
  /**
   * Saker: a rate limit per output (a token bucket) behind aggregation; what it holds back is
   * counted and summarised every `summary_interval`, never dropped in silence.
   */
  output_rate_limit: section({
    enabled: bool(false),
    /** Alerts per second each output takes. */
    rate: num(50, { min: 0 }),
    /** Most alerts an output takes at once. */
    max_burst: int(500, { min: 1 }),
    /** Seconds held alerts wait for their summary. */
    summary_interval: duration(10, "s", 0.001),
  }),
  /**
   * Saker: response actions of rules (`actions:`, src/agent/response): monitor or enforce, the
   * processes and containers never acted on, and how often actions may run.
   */
  response: section({
    /** `monitor` records what would be done; `enforce` does it (a ceiling: monitor wins). */
    mode: oneOf(["monitor", "enforce"] as const, "monitor"),
    /** Modes for the rules a `match` fits (source, every tag, rule name), in order. */
    rules: list(entry({
      match: entry({ source: str(), tags: list(str()), rule: str() }),
      mode: oneOf(["monitor", "enforce"] as const),
    })),
    /** Processes and containers never acted on. */
    allowlist: section({
      /** Executable paths (`*` matches any run of characters). */
      exe_paths: list(str(undefined, { nonEmpty: true })),
      /** User names or numeric uids. */
      users: list(str(undefined, { nonEmpty: true })),
      /** Container image repositories (`*` wildcards). */
      images: list(str(undefined, { nonEmpty: true })),
    }),
    /** Most actions per rule, and per target (process or container), within `period`. */
    rate_limit: section({
      per_rule: int(10, { min: 1 }),
      per_target: int(3, { min: 1 }),
      period: duration(60, "s", 0.001),
    }),
    /** `exec` actions: default timeout (s) and most commands running at once. */
    exec: section({
      timeout: duration(10, "s", 0.001),
      max_running: int(4, { min: 1 }),
    }),
    /** Seconds a stopped container's processes get before the runtime kills them. */
    stop_timeout: int(10, { min: 0 }),
  }),
  /**
   * Saker: a group allowed to read the files holding alerts and events (the alert store, the
   * file output, capture files): they are created 0640 and owned by it; "" = owner only (0600).
   */
  file_group: str("", { check: checkGroup }),
  /** Saker: the SQLite alert store. */
  alert_store: section({
    enabled: bool(true),
    path: str("/var/lib/saker/alerts.db", { nonEmpty: true }),
    /** Seconds an alert is kept (0 = forever). */
    max_age: duration(7 * 86400, "s", 0),
    /** Most alerts kept (0 = no limit). */
    max_alerts: int(1_000_000, { min: 0 }),
  }),
});

/** The whole configuration, as loaded and checked. */
export type Config = ValueOf<typeof SPEC>;
/** One `append_output` entry. */
export type AppendOutputEntry = Config["append_output"][number];
/** The `response` section. */
export type ResponseConfig = Config["response"];
/** The `aggregation` section. */
export type AggregationConfig = Config["aggregation"];
/** A `rules:` entry enabling or disabling rules by name (wildcards) or tag. */
export type RuleSelection = Config["rules"][number];
/** An action on kernel event drops. */
export type DropAction = typeof DROP_ACTIONS[number];

/** An http(s) URL or "" (unset). */
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

/** An Elasticsearch / OpenSearch index name (lower case, no spaces or reserved characters). */
function checkIndexName(s: string): string | undefined {
  return /^[a-z0-9][a-z0-9._+-]*$/.test(s) && s.length <= 255
    ? undefined
    : "an index name in lower case (letters, digits, . _ + -)";
}

/** host:port. */
function checkHostPort(s: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d+)$/.exec(s);
  return m && Number(m[2]) > 0 && Number(m[2]) < 65536 ? undefined : "host:port";
}

/** An RFC 5424 SD-ID of the private form name@number. */
function checkSdId(s: string): string | undefined {
  return /^[\x21-\x7e]{1,32}$/.test(s) && !/[= \]"]/.test(s) && /^[^@]+@\d+(\.\d+)*$/.test(s)
    ? undefined
    : "an SD-ID name@enterprise-number (e.g. saker@32473)";
}

/** A NATS server URL: nats://, tls:// or host:port. */
function checkNatsUrl(s: string): string | undefined {
  const what = "a NATS server URL (nats://host:4222, tls://host:4222 or host:port)";
  if (/^[\w.-]+:\d+$/.test(s)) return undefined;
  try {
    const u = new URL(s);
    return u.protocol === "nats:" || u.protocol === "tls:" ? undefined : what;
  } catch {
    return what;
  }
}

/** A JetStream stream or consumer name (no spaces, dots, wildcards or slashes). */
function checkStreamName(s: string): string | undefined {
  return /^[A-Za-z0-9_-]+$/.test(s) ? undefined : "a name of letters, digits, - and _";
}

/** A group name or id on this system, or "" (none). */
function checkGroup(s: string): string | undefined {
  if (s === "") return undefined;
  try {
    resolveGroup(s);
    return undefined;
  } catch (err) {
    return `a group of this system (${(err as Error).message})`;
  }
}

/** A URL path. */
function checkPath(s: string): string | undefined {
  return s.startsWith("/") ? undefined : "a URL path starting with /";
}

/** Keys spelled differently in some Falco versions, and the key they stand for. */
export const ALIASES: Readonly<Record<string, string>> = {
  rules_file: "rules_files",
  rule_files: "rules_files",
};

/** The default of one key: sections recursively, lists and maps copied. */
function defaultOf(spec: Spec, key: string): unknown {
  switch (spec.kind) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(spec.fields)) {
        if (f.kind !== "ignored") out[k] = defaultOf(f, `${key}${key ? "." : ""}${k}`);
      }
      return out;
    }
    case "list":
      return structuredClone(spec.default ?? []);
    case "map":
      return structuredClone(spec.default ?? {});
    case "ignored":
    case "oneof":
      return undefined;
    default:
      if (spec.default === undefined) throw new Error(`config key ${key} has no default`);
      return spec.default;
  }
}

/** The defaults: what an empty config file means. */
export function defaultConfig(): Config {
  return defaultOf(SPEC, "") as Config;
}
