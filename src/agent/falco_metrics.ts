/**
 * Saker's counters under Falco's metric names, so that Falco's Grafana dashboards, alert rules
 * and log pipelines read Saker unchanged. One list of metrics in Falco's libs terms (name, unit,
 * counter or gauge, category), taken from one reading of the agent ({@link FalcoInput}), is
 * rendered two ways, as Falco renders it:
 *
 * - Prometheus text: `falcosecurity_falco_*`, `falcosecurity_scap_*`, `falcosecurity_plugins_*`
 *   and the `*_info` series, with Falco's unit suffixes (`_total`, `_bytes`, `_ratio`,
 *   `_timestamp_nanoseconds` ...) and labels (`rule_name`, `priority`, `source`, `tag_*` on rule
 *   matches; `drop` and `dir` on kernel drops; `cpu` per CPU);
 * - the periodic metrics snapshot (`metrics.enabled`): the `output_fields` of Falco's internal
 *   "Falco internal: metrics snapshot" alert, `falco.*` / `scap.*` / `plugins.*` names, memory in
 *   MB (`convert_memory_to_mb`), zeros left out (`include_empty_values`), rates from the previous
 *   snapshot.
 *
 * Where Saker has no such counter the metric is left out rather than reported as zero (the
 * README lists them), except kernel counters that are zero by construction (Saker's probe never
 * drops for size: it truncates and counts that; the enter-event drop series Falco keeps for old
 * dashboards).
 *
 * @example
 * ```ts
 * import { prometheusText } from "./falco_metrics.ts";
 * const text = prometheusText({
 *   version: "0.1.0", hostname: "node-1", kernelRelease: "6.18.0", startNs: 1n, reloadNs: 1n,
 *   nowNs: 2_000_000_000n, outputsQueueDrops: 0, rulesFiles: [], configFiles: [],
 *   sources: [{ source: "syscall", engine: "modern_bpf", events: 10 }], rules: [],
 * });
 * text.includes("falcosecurity_falco_version_info{version=\"0.1.0\"} 1"); // true
 * ```
 * @module
 */
import type { ResourceUsage } from "./resources.ts";
import { DROP_KINDS, type DropKind } from "../events/drop_kinds.ts";

/** Counters of the kernel side (the live probe), summed over CPUs unless per CPU. */
export interface KernelCounts {
  /** Records the probe produced, delivered or dropped. */
  events: number;
  drops: number;
  dropsByKind: Record<DropKind, number>;
  eventsPerCpu: number[];
  dropsPerCpu: number[];
}

/** Counters of the state tables (the names are Falco's). */
export interface StateCounts {
  n_threads: number;
  n_fds: number;
  n_failed_fd_lookups: number;
  n_noncached_thread_lookups: number;
  n_failed_thread_lookups: number;
  n_added_threads: number;
  n_removed_threads: number;
  n_drops_full_threadtable: number;
}

/** One reading of everything the metrics are made of. */
export interface FalcoInput {
  version: string;
  hostname: string;
  kernelRelease: string;
  /** Agent start, last (re)load and now, ns since the epoch. */
  startNs: bigint;
  reloadNs: bigint;
  nowNs: bigint;
  /** Alerts dropped by full output queues. */
  outputsQueueDrops: number;
  rulesFiles: { name: string; sha256: string }[];
  configFiles: { name: string; sha256: string }[];
  /** Event sources running, the engine behind each and the events it processed. */
  sources: { source: string; engine: string; events: number }[];
  /** Matches per rule (rules that matched at least once). */
  rules: {
    name: string;
    priority: number;
    source: string;
    tags: readonly string[];
    count: number;
  }[];
  resources?: ResourceUsage;
  state?: StateCounts;
  kernel?: KernelCounts;
  /** Containers with a process now, and how many of them have no image known. */
  containers?: { count: number; missingImages: number };
  /** Non-loopback interfaces and their addresses. */
  interfaces?: { name: string; ipv4: string[]; ipv6: string[] }[];
}

/** Which metric categories are on (Falco's `metrics.*_enabled` keys) and snapshot options. */
export interface FalcoMetricsOptions {
  rules_counters_enabled: boolean;
  resource_utilization_enabled: boolean;
  state_counters_enabled: boolean;
  kernel_event_counters_enabled: boolean;
  kernel_event_counters_per_cpu_enabled: boolean;
  plugins_metrics_enabled: boolean;
  convert_memory_to_mb: boolean;
  include_empty_values: boolean;
}

/** Falco's defaults (falco.yaml). */
export const FALCO_METRICS_DEFAULTS: FalcoMetricsOptions = {
  rules_counters_enabled: true,
  resource_utilization_enabled: true,
  state_counters_enabled: true,
  kernel_event_counters_enabled: true,
  kernel_event_counters_per_cpu_enabled: false,
  plugins_metrics_enabled: true,
  convert_memory_to_mb: true,
  include_empty_values: false,
};

type Category = "resources" | "state" | "kernel" | "kernel_cpu" | "plugins";
/** Units of Falco's libs, with the Prometheus suffix of each. */
const UNITS = {
  count: "total",
  ratio: "ratio",
  perc: "percentage",
  bytes: "bytes",
  kib: "kibibytes",
  mb: "megabytes",
  ns: "nanoseconds",
  s: "seconds",
  ns_count: "nanoseconds_total",
  s_count: "seconds_total",
  ts_ns: "timestamp_nanoseconds",
} as const;
type Unit = keyof typeof UNITS;

/** One metric as Falco's libs describe it. */
interface LibsMetric {
  name: string;
  category: Category;
  unit: Unit;
  counter: boolean;
  value: number;
  /** Integer (u32/u64) rather than floating point. */
  integer: boolean;
}

const m = (
  name: string,
  category: Category,
  unit: Unit,
  counter: boolean,
  value: number,
  integer = true,
): LibsMetric => ({ name, category, unit, counter, value, integer });

/** The libs-level metrics of a source, in Falco's order, for the categories turned on. */
function libsMetrics(input: FalcoInput, o: FalcoMetricsOptions, syscall: boolean): LibsMetric[] {
  const out: LibsMetric[] = [];
  const k = input.kernel;
  if (syscall && k && o.kernel_event_counters_enabled) {
    out.push(m("n_evts", "kernel", "count", true, k.events));
    out.push(m("n_drops_buffer_total", "kernel", "count", true, k.drops));
    for (const kind of DROP_KINDS) {
      if (kind === "connect") {
        out.push(m("n_drops_buffer_connect_enter", "kernel", "count", true, 0));
      }
      if (kind === "open") out.push(m("n_drops_buffer_open_enter", "kernel", "count", true, 0));
      out.push(m(`n_drops_buffer_${kind}_exit`, "kernel", "count", true, k.dropsByKind[kind]));
    }
    out.push(m("n_drops_scratch_map", "kernel", "count", true, 0));
    out.push(m("n_drops", "kernel", "count", true, k.drops));
  }
  if (syscall && k && o.kernel_event_counters_per_cpu_enabled) {
    k.eventsPerCpu.forEach((n, cpu) => {
      out.push(m(`n_evts_cpu_${cpu}`, "kernel_cpu", "count", true, n));
      out.push(m(`n_drops_cpu_${cpu}`, "kernel_cpu", "count", true, k.dropsPerCpu[cpu] ?? 0));
    });
  }
  const r = input.resources;
  if (r && o.resource_utilization_enabled) {
    out.push(m("cpu_usage_perc", "resources", "perc", false, r.cpuUsagePerc, false));
    out.push(m("memory_rss_kb", "resources", "kib", false, r.memoryRssKb));
    out.push(m("memory_vsz_kb", "resources", "kib", false, r.memoryVszKb));
    out.push(m("memory_pss_kb", "resources", "kib", false, r.memoryPssKb));
    out.push(
      m("container_memory_used_bytes", "resources", "bytes", false, r.containerMemoryUsedBytes),
    );
    out.push(m("host_cpu_usage_perc", "resources", "perc", false, r.hostCpuUsagePerc, false));
    out.push(m("host_memory_used_kb", "resources", "kib", false, r.hostMemoryUsedKb));
    out.push(m("host_procs_running", "resources", "count", false, r.hostProcsRunning));
    out.push(m("host_open_fds", "resources", "count", false, r.hostOpenFds));
  }
  const s = input.state;
  if (syscall && s && o.state_counters_enabled) {
    out.push(m("n_threads", "state", "count", false, s.n_threads));
    out.push(m("n_fds", "state", "count", false, s.n_fds));
    for (
      const key of [
        "n_failed_fd_lookups",
        "n_noncached_thread_lookups",
        "n_failed_thread_lookups",
        "n_added_threads",
        "n_removed_threads",
        "n_drops_full_threadtable",
      ] as const
    ) out.push(m(key, "state", "count", true, s[key]));
  }
  const c = input.containers;
  if (syscall && c && o.plugins_metrics_enabled) {
    out.push(m("container.n_containers", "plugins", "count", true, c.count));
    out.push(m("container.n_missing_container_images", "plugins", "count", true, c.missingImages));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Prometheus

const UNIT_SUFFIXES = /(_percentage|_perc|_kb|_bytes|_mb|_ratio|_ns|_ts|_sec|_total)/g;

function sanitizeName(s: string, invalid = /[^a-zA-Z0-9_:]/g): string {
  const out = s.replace(invalid, "_").replace(/_+/g, "_");
  return /^[a-zA-Z_]/.test(out) ? out : `_${out}`;
}

/** The Prometheus name of a metric: Falco's prefix, libs suffixes removed, the unit's added. */
export function prometheusName(subsystem: string, name: string, unit: Unit): string {
  const fq = `falcosecurity_${subsystem}_${name}_`.replace(UNIT_SUFFIXES, "");
  return sanitizeName(fq + UNITS[unit]);
}

interface Sample {
  name: string;
  type: "counter" | "gauge";
  labels: Record<string, string>;
  value: number | bigint;
}

/** Converts a libs metric to Prometheus' units: memory in bytes, percentages as ratios. */
function toPrometheusUnits(x: LibsMetric): LibsMetric {
  if (x.unit === "kib") {
    return { ...x, name: x.name.replace(/_kb$/, "_bytes"), unit: "bytes", value: x.value * 1024 };
  }
  if (x.unit === "perc") {
    return { ...x, name: x.name.replace(/_perc$/, "_ratio"), unit: "ratio", value: x.value / 100 };
  }
  return x;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Prometheus text of samples, one HELP and TYPE per metric name. */
function renderSamples(samples: Sample[]): string {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const out: string[] = [];
  for (const [name, list] of byName) {
    out.push(`# HELP ${name} https://falco.org/docs/metrics/`, `# TYPE ${name} ${list[0].type}`);
    for (const s of list) {
      const keys = Object.keys(s.labels).sort();
      const labels = keys.length === 0
        ? ""
        : `{${keys.map((k) => `${k}="${escapeLabel(s.labels[k])}"`).join(",")}}`;
      out.push(`${name}${labels} ${s.value}`);
    }
  }
  return out.join("\n") + "\n";
}

const info = (name: string, labels: Record<string, string>): Sample => ({
  name: `${name}_info`,
  type: "gauge",
  labels,
  value: 1,
});

const basename = (p: string) => p.replace(/\/+$/, "").split("/").pop() ?? p;

/** Falco's /metrics text for one reading. */
export function prometheusText(
  input: FalcoInput,
  o: FalcoMetricsOptions = FALCO_METRICS_DEFAULTS,
): string {
  const samples: Sample[] = [];
  const falco = (name: string, unit: Unit, counter: boolean, value: number | bigint) =>
    samples.push({
      name: prometheusName("falco", name, unit),
      type: counter ? "counter" : "gauge",
      labels: {},
      value,
    });
  samples.push(info("falcosecurity_falco_version", { version: input.version }));
  for (const f of input.rulesFiles) {
    samples.push(
      info("falcosecurity_falco_sha256_rules_files", {
        file_name: basename(f.name),
        sha256: f.sha256,
      }),
    );
  }
  for (const f of input.configFiles) {
    samples.push(
      info("falcosecurity_falco_sha256_config_files", {
        file_name: basename(f.name),
        sha256: f.sha256,
      }),
    );
  }
  if (o.rules_counters_enabled) {
    for (const r of input.rules) {
      if (r.count === 0) continue;
      const labels: Record<string, string> = {
        rule_name: r.name,
        priority: String(r.priority),
        source: r.source,
      };
      for (const t of r.tags) labels[sanitizeName(`tag_${t}`, /[^a-zA-Z0-9_]/g)] = "true";
      samples.push({
        name: prometheusName("falco", "rules_matches", "count"),
        type: "counter",
        labels,
        value: r.count,
      });
    }
  }
  for (const src of input.sources) {
    samples.push(
      info("falcosecurity_scap_engine_name", { engine_name: src.engine, evt_source: src.source }),
    );
  }
  const syscall = input.sources.some((s) => s.source === "syscall");
  for (const raw of libsMetrics(input, o, syscall)) {
    const x = toPrometheusUnits(raw);
    const type = x.counter ? "counter" : "gauge";
    const subsystem = x.category === "resources"
      ? "falco"
      : x.category === "plugins"
      ? "plugins"
      : "scap";
    const cpu = /^(n_evts_cpu|n_drops_cpu)_(\d+)$/.exec(x.name);
    const drop = /^n_drops_buffer_(.+)_exit$/.exec(x.name);
    if (cpu) {
      samples.push({
        name: prometheusName(subsystem, `${cpu[1]}_`, "count"),
        type,
        labels: { cpu: cpu[2] },
        value: x.value,
      });
    } else if (x.name === "n_drops_buffer_total" || /_enter$/.test(x.name)) {
      continue; // drops are told apart by labels; enter drops follow as zeros
    } else if (drop) {
      samples.push({
        name: prometheusName(subsystem, "n_drops_buffer", "count"),
        type,
        labels: { drop: drop[1], dir: "exit" },
        value: x.value,
      });
    } else {
      samples.push({
        name: prometheusName(subsystem, x.name, x.unit),
        type,
        labels: {},
        value: x.value,
      });
    }
  }
  if (syscall && input.kernel && o.kernel_event_counters_enabled) {
    // Falco keeps the enter-event drop series (always 0 since it records exit events only).
    for (const drop of ["clone_fork", "execve", "connect", "open", "dir_file", "other_interest"]) {
      samples.push({
        name: prometheusName("scap", "n_drops_buffer", "count"),
        type: "counter",
        labels: { drop, dir: "enter" },
        value: 0,
      });
    }
  }
  samples.push(info("falcosecurity_falco_kernel_release", { kernel_release: input.kernelRelease }));
  samples.push(info("falcosecurity_evt_hostname", { hostname: input.hostname }));
  falco("outputs_queue_num_drops", "count", true, input.outputsQueueDrops);
  falco("reload_ts", "ts_ns", false, input.reloadNs);
  falco("start_ts", "ts_ns", false, input.startNs);
  falco("duration_sec", "s_count", true, (input.nowNs - input.startNs) / 1_000_000_000n);
  if (input.resources) {
    falco("host_boot_ts", "ts_ns", false, input.resources.hostBootNs);
    falco("host_num_cpus", "count", false, input.resources.hostNumCpus);
  }
  return renderSamples(samples);
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/** Falco's internal rule name of the metrics snapshot alert. */
export const SNAPSHOT_RULE = "Falco internal: metrics snapshot";
/** Its message. */
export const SNAPSHOT_MESSAGE = "Falco metrics snapshot";

/** A snapshot field value: integers stay exact (bigint for ns timestamps). */
export type SnapshotValue = string | number | bigint;

/** Falco's rule-name sanitizer for `falco.rules.<name>` keys. */
export function sanitizeRuleName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/_+/g, "_").replace(/_$/, "");
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Builds Falco's metrics snapshots, one per event source per interval; keeps the previous
 * counts of each source to derive rates.
 */
export class SnapshotComposer {
  readonly #last = new Map<
    string,
    { at: bigint; evts: number; kernelEvts: number; drops: number }
  >();

  constructor(readonly options: FalcoMetricsOptions = FALCO_METRICS_DEFAULTS) {}

  /** The `output_fields` of the snapshot of `source` for one reading. */
  compose(input: FalcoInput, source: string): Record<string, SnapshotValue> {
    const o = this.options;
    const src = input.sources.find((s) => s.source === source);
    const f: Record<string, SnapshotValue> = {};
    const last = this.#last.get(source);
    const dt = last && input.nowNs > last.at ? Number(input.nowNs - last.at) / 1e9 : 0;

    f["evt.time"] = input.nowNs;
    f["falco.reload_ts"] = input.reloadNs;
    f["falco.version"] = input.version;
    f["falco.start_ts"] = input.startNs;
    f["falco.duration_sec"] = Number((input.nowNs - input.startNs) / 1_000_000_000n);
    f["falco.kernel_release"] = input.kernelRelease;
    f["evt.hostname"] = input.hostname;
    if (input.resources) {
      f["falco.host_boot_ts"] = input.resources.hostBootNs;
      f["falco.host_num_cpus"] = input.resources.hostNumCpus;
    }
    f["falco.outputs_queue_num_drops"] = input.outputsQueueDrops;
    for (const file of input.rulesFiles) {
      f[`falco.sha256_rules_file.${sanitizeRuleName(basename(file.name))}`] = file.sha256;
    }
    for (const file of input.configFiles) {
      f[`falco.sha256_config_file.${sanitizeRuleName(basename(file.name))}`] = file.sha256;
    }
    for (const i of input.interfaces ?? []) {
      const base = `falco.host_netinfo.interfaces.${i.name}.protocols`;
      if (i.ipv4.length) f[`${base}.ipv4.addresses`] = i.ipv4.join(",");
      if (i.ipv6.length) f[`${base}.ipv6.addresses`] = i.ipv6.join(",");
    }
    f["evt.source"] = source;
    if (src) f["scap.engine_name"] = src.engine;
    const evts = src?.events ?? 0;
    if (last && last.evts !== 0 && dt > 0) {
      f["falco.evts_rate_sec"] = round1((evts - last.evts) / dt);
    }
    f["falco.num_evts"] = evts;
    f["falco.num_evts_prev"] = last?.evts ?? 0;

    if (o.rules_counters_enabled) {
      const rules = input.rules.filter((r) => r.source === source);
      f["falco.rules.matches_total"] = input.rules.reduce((n, r) => n + r.count, 0);
      for (const r of rules) {
        if (r.count === 0 && !o.include_empty_values) continue;
        f[`falco.rules.${sanitizeRuleName(r.name)}`] = r.count;
      }
    }

    let kernelEvts = 0, drops = 0, dEvts = 0, dDrops = 0;
    for (const raw of libsMetrics(input, o, source === "syscall")) {
      const x = o.convert_memory_to_mb ? toMegabytes(raw) : raw;
      const prefix = x.category === "resources" || x.category === "state"
        ? "falco."
        : x.category === "plugins"
        ? "plugins."
        : "scap.";
      const key = prefix + x.name;
      if (x.name === "n_evts") {
        kernelEvts = x.value;
        dEvts = x.value - (last?.kernelEvts ?? 0);
        f["scap.n_evts_prev"] = last?.kernelEvts ?? 0;
        f["scap.evts_rate_sec"] = dEvts !== 0 && dt > 0 ? round1(dEvts / dt) : 0;
        f[key] = x.value;
        continue;
      }
      if (x.name === "n_drops") {
        drops = x.value;
        dDrops = x.value - (last?.drops ?? 0);
        f["scap.n_drops_prev"] = last?.drops ?? 0;
        f["scap.evts_drop_rate_sec"] = dDrops !== 0 && dt > 0 ? round1(dDrops / dt) : 0;
        f[key] = x.value;
        continue;
      }
      if (x.value === 0 && !o.include_empty_values) continue;
      f[key] = x.value;
    }
    if (input.kernel && source === "syscall" && o.kernel_event_counters_enabled) {
      f["scap.n_drops_perc"] = dEvts > 0 ? (100 * dDrops) / dEvts : 0;
    }
    this.#last.set(source, { at: input.nowNs, evts, kernelEvts, drops });
    return f;
  }
}

/** Memory metrics in MB (Falco's `convert_memory_to_mb`). */
function toMegabytes(x: LibsMetric): LibsMetric {
  if (x.unit === "kib") {
    return {
      ...x,
      name: x.name.replace(/_kb$/, "_mb"),
      unit: "mb",
      value: x.value / 1024,
      integer: false,
    };
  }
  if (x.unit === "bytes") {
    return {
      ...x,
      name: x.name.replace(/_bytes$/, "_mb"),
      unit: "mb",
      value: x.value / (1024 * 1024),
      integer: false,
    };
  }
  return x;
}
