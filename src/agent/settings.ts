/**
 * What the agent's config decides, apart from the running agent: the log level and sinks, the
 * kernel filter a ruleset gets (syscalls, predicates, fd history), the rules builder's options,
 * the API server's limits and the warnings about how it is exposed, the aggregator's and the
 * metrics' options, the runtime sockets responses call. Kept out of agent.ts so that the class
 * that runs things reads apart from the settings it runs with.
 *
 * @example
 * ```ts
 * const { config } = await loadConfig({ path: "config.yaml" });
 * applyLogging(config);
 * const limits = serverLimits(config.webserver); // the connection cap within the file limit
 * ```
 * @module
 */
import type { Config } from "../config/spec.ts";
import { log, type LogLevel, setLogFormat, setLogLevel, setLogSinks } from "../log.ts";
import { syslogLogSink } from "./log_syslog.ts";
import type { BuiltRules, RulesOptions } from "./rules_builder.ts";
import { type FdHistory, selectSyscalls } from "../events/syscalls.ts";
import { kernelPrograms } from "../rules/kernel_program.ts";
import type { KernelPrograms } from "../kernel/predicates.ts";
import type { ServerLimits } from "../server/server.ts";
import { isLoopbackAddress } from "../server/loopback.ts";
import type { FalcoMetricsOptions } from "./falco_metrics.ts";
import { hostRootFrom, onHost } from "./preflight.ts";
import { runtimePaths } from "../state/containers/paths.ts";
/** Maps Falco's log levels onto Saker's four. */
export function logLevelOf(level: Config["log_level"]): LogLevel {
  switch (level) {
    case "emergency":
    case "alert":
    case "critical":
    case "error":
      return "error";
    case "warning":
      return "warning";
    case "debug":
      return "debug";
    default:
      return "info";
  }
}

/** What the kernel delivers for a ruleset: syscalls, predicates, and the fd history kept. */
export interface KernelFilter {
  /** The rules' syscalls plus what state tracking needs, as base_syscalls chooses them. */
  syscalls: ReadonlySet<string> | "all";
  /** Kernel predicates, when `kernel.predicates` is on and some syscall has one. */
  programs?: KernelPrograms;
  /** Syscalls with a kernel predicate. */
  applied: string[];
  /** Syscalls with a derived predicate the probe does not apply, and why. */
  skipped: string[];
  fdHistory: FdHistory;
}

/**
 * The kernel filter for `rules` under config `c`: the syscalls (src/events/syscalls.ts, the fd
 * calls state tracking keeps only as far as the rules read fd history) and the kernel
 * predicates of the syscalls state tracking does not need whole. With `kernel.predicates` off,
 * or while a capture file records (its fd table must be whole), every fd call as Falco.
 */
export function kernelFilter(rules: BuiltRules, c: Config): KernelFilter {
  const on = c.kernel.predicates;
  const fdHistory: FdHistory = on && !c.capture.enabled ? rules.fdHistory ?? "all" : "all";
  const sel = selectSyscalls(rules.syscalls, c.base_syscalls, fdHistory);
  if (!on || !rules.predicates || sel.names === "all") {
    return { syscalls: sel.names, applied: [], skipped: [], fdHistory };
  }
  const names = sel.names;
  const captured = new Map([...rules.predicates].filter(([, p]) => names.has(p.event.name)));
  const p = kernelPrograms(captured, sel.state);
  return {
    syscalls: sel.names,
    programs: p.filter.programs.size > 0 ? p.filter : undefined,
    applied: p.applied,
    skipped: p.skipped,
    fdHistory,
  };
}

/** Says what the kernel filters beyond syscall ids (debug: the syscalls left unfiltered). */
export function logKernelFilter(f: KernelFilter): void {
  log.info("kernel filter", {
    syscalls: f.syscalls === "all" ? "all" : f.syscalls.size,
    predicates: f.applied.join(",") || "none",
    fd_history: f.fdHistory,
  });
  if (f.skipped.length > 0) {
    log.debug("kernel predicates not applied", { why: f.skipped.join("; ") });
  }
}

/** Says once what base_syscalls leaves out of what the rules name, or cannot read. */
export function logSyscallChoice(
  rules: ReadonlySet<string> | "all",
  base: Config["base_syscalls"],
) {
  const s = selectSyscalls(rules, base);
  if (s.ignored.length > 0) {
    log.warn(
      "rules name events left out for performance; base_syscalls.all=true (or -A) " +
        "captures them",
      { events: s.ignored.join(",") },
    );
  }
  if (s.unknown.length > 0) {
    log.warn("base_syscalls.custom_set names no known syscall", { names: s.unknown.join(",") });
  }
}

/** The rules builder's options from the config (and the config files, for their paths). */
export function rulesOptions(c: Config, configFiles?: readonly string[]): RulesOptions {
  return {
    configFiles,
    response: c.response,
    priority: c.priority,
    ruleMatching: c.rule_matching,
    selection: c.rules,
    appendOutput: c.append_output,
    staticFields: c.static_fields,
    bufferFormatBase64: c.buffer_format_base64,
    aggregation: c.aggregation,
    maxPartialMatches: c.sequences.max_partial_matches,
  };
}

/** The container runtime sockets stop_container and pause_container call (under the host root). */
export function responseSockets(c: Config): string[] {
  const root = hostRootFrom(Deno.env.get("SAKER_HOST_ROOT"));
  return runtimePaths({ sockets: c.containers.sockets }).sockets.map((p) => onHost(root, p));
}

/** The aggregator's settings from the config. */
export function aggregatorOptions(c: Config): { samples: number; maxKeys: number } {
  return { samples: c.aggregation.samples, maxKeys: c.aggregation.max_keys };
}

/**
 * The API server's limits from the `webserver` section; the connection cap leaves at least half
 * of the process's open-file limit to the agent's own files.
 */
export function serverLimits(w: Config["webserver"]): ServerLimits {
  const fileLimit = openFileLimit();
  const cap = fileLimit === undefined
    ? w.max_connections
    : Math.min(w.max_connections, Math.max(16, Math.floor(fileLimit / 2)));
  if (cap < w.max_connections) {
    log.info("api connections capped by the open-file limit", {
      max_connections: cap,
      open_file_limit: fileLimit,
    });
  }
  return {
    maxConnections: cap,
    headersTimeoutMs: w.header_timeout * 1000,
    requestTimeoutMs: w.request_timeout * 1000,
    keepAliveTimeoutMs: 5000,
    maxBodiesInFlight: w.max_bodies_in_flight,
    maxBodyBytesInFlight: w.max_body_bytes_in_flight,
  };
}

/** This process's soft limit of open files (RLIMIT_NOFILE), from /proc. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/limits"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Shortest token not warned about (`saker token` makes 43 characters). */
const SHORT_TOKEN = 16;

/** What is unsafe about how the API is exposed (logged at start and shown in /healthz). */
export function exposureWarnings(w: Config["webserver"]): string[] {
  const out: string[] = [];
  const exposed = !isLoopbackAddress(w.listen_address);
  if (exposed && w.auth_token === "") {
    out.push(
      `the API on ${w.listen_address}:${w.listen_port} is open to other hosts without a token ` +
        "(webserver.allow_unauthenticated)",
    );
  } else if (w.auth_token !== "" && w.auth_token.length < SHORT_TOKEN) {
    out.push(
      `webserver.auth_token is ${w.auth_token.length} characters long; ` +
        "use at least 16 (`saker token` makes one)",
    );
  }
  return out;
}

/** The metric categories and snapshot options of the config's `metrics` section. */
export function falcoMetricsOptions(c: Config): FalcoMetricsOptions {
  const m = c.metrics;
  return {
    rules_counters_enabled: m.rules_counters_enabled,
    resource_utilization_enabled: m.resource_utilization_enabled,
    state_counters_enabled: m.state_counters_enabled,
    kernel_event_counters_enabled: m.kernel_event_counters_enabled,
    kernel_event_counters_per_cpu_enabled: m.kernel_event_counters_per_cpu_enabled,
    plugins_metrics_enabled: m.plugins_metrics_enabled,
    convert_memory_to_mb: m.convert_memory_to_mb,
    include_empty_values: m.include_empty_values,
  };
}

let syslogSink: { path: string; sink: ReturnType<typeof syslogLogSink> } | undefined;

/** Applies the config's logging keys: level, format, stderr, syslog. */
export function applyLogging(c: Config): void {
  setLogLevel(logLevelOf(c.log_level));
  setLogFormat(c.log_format);
  const path = c.syslog_output.path;
  if (c.log_syslog && syslogSink?.path !== path) syslogSink = { path, sink: syslogLogSink(path) };
  setLogSinks({ stderr: c.log_stderr, extra: c.log_syslog ? syslogSink?.sink : undefined });
}
