/**
 * Falco's metric names from Saker's readings: Prometheus names, units and labels as Falco's libs
 * convert them, the snapshot fields and their rates, and the /proc parsers behind the resource
 * metrics.
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  FALCO_METRICS_DEFAULTS,
  type FalcoInput,
  prometheusName,
  prometheusText,
  sanitizeRuleName,
  SnapshotComposer,
} from "../../src/agent/falco_metrics.ts";
import {
  cgroupMemoryFile,
  parseKbLines,
  parseProcStat,
  processCpuPerc,
  readResources,
} from "../../src/agent/resources.ts";
import { snapshotLine } from "../../src/agent/metrics_snapshots.ts";

const S = 1_000_000_000n;

function input(over: Partial<FalcoInput> = {}): FalcoInput {
  return {
    version: "0.1.0",
    hostname: "node-1",
    kernelRelease: "6.18.0",
    startNs: 1_700_000_000n * S,
    reloadNs: 1_700_000_010n * S,
    nowNs: 1_700_000_100n * S,
    outputsQueueDrops: 3,
    rulesFiles: [{ name: "/etc/saker/rules/falco_rules.yaml", sha256: "ab" }],
    configFiles: [{ name: "/etc/saker/config.yaml", sha256: "cd" }],
    sources: [{ source: "syscall", engine: "modern_bpf", events: 1000 }],
    rules: [
      {
        name: 'Read "sensitive" file',
        priority: 4,
        source: "syscall",
        tags: ["T1555", "maturity_stable"],
        count: 7,
      },
      { name: "Never", priority: 5, source: "syscall", tags: [], count: 0 },
    ],
    resources: {
      cpuUsagePerc: 2.5,
      memoryRssKb: 1000,
      memoryVszKb: 5000,
      memoryPssKb: 900,
      containerMemoryUsedBytes: 2 * 1024 * 1024,
      hostCpuUsagePerc: 40,
      hostMemoryUsedKb: 2048,
      hostProcsRunning: 3,
      hostOpenFds: 1234,
      hostNumCpus: 2,
      hostBootNs: 1_600_000_000n * S,
    },
    state: {
      n_threads: 10,
      n_fds: 40,
      n_failed_fd_lookups: 1,
      n_noncached_thread_lookups: 2,
      n_failed_thread_lookups: 0,
      n_added_threads: 12,
      n_removed_threads: 2,
      n_drops_full_threadtable: 0,
    },
    kernel: {
      events: 1100,
      drops: 100,
      dropsByKind: {
        clone_fork: 1,
        execve: 2,
        connect: 0,
        open: 50,
        dir_file: 3,
        other_interest: 0,
        close: 40,
        proc: 4,
      },
      eventsPerCpu: [600, 500],
      dropsPerCpu: [60, 40],
    },
    containers: { count: 2, missingImages: 1 },
    ...over,
  };
}

Deno.test("falco metrics: Prometheus names follow Falco's unit conventions", () => {
  assertEquals(prometheusName("scap", "n_evts", "count"), "falcosecurity_scap_n_evts_total");
  assertEquals(
    prometheusName("falco", "cpu_usage_ratio", "ratio"),
    "falcosecurity_falco_cpu_usage_ratio",
  );
  assertEquals(
    prometheusName("falco", "memory_rss_bytes", "bytes"),
    "falcosecurity_falco_memory_rss_bytes",
  );
  assertEquals(
    prometheusName("falco", "reload_ts", "ts_ns"),
    "falcosecurity_falco_reload_timestamp_nanoseconds",
  );
  assertEquals(
    prometheusName("falco", "duration_sec", "s_count"),
    "falcosecurity_falco_duration_seconds_total",
  );
  assertEquals(
    prometheusName("plugins", "container.n_containers", "count"),
    "falcosecurity_plugins_container_n_containers_total",
  );
  assertEquals(
    prometheusName("scap", "n_evts_cpu_", "count"),
    "falcosecurity_scap_n_evts_cpu_total",
  );
});

Deno.test("falco metrics: the Prometheus text has Falco's series, labels and values", () => {
  const text = prometheusText(input(), {
    ...FALCO_METRICS_DEFAULTS,
    kernel_event_counters_per_cpu_enabled: true,
  });
  const lines = text.trimEnd().split("\n");
  const samples = lines.filter((l) => !l.startsWith("#"));
  const has = (l: string) => assert(samples.includes(l), `missing: ${l}\n${text}`);
  has('falcosecurity_falco_version_info{version="0.1.0"} 1');
  has(
    'falcosecurity_falco_sha256_rules_files_info{file_name="falco_rules.yaml",sha256="ab"} 1',
  );
  has('falcosecurity_falco_sha256_config_files_info{file_name="config.yaml",sha256="cd"} 1');
  has(
    'falcosecurity_falco_rules_matches_total{priority="4",rule_name="Read \\"sensitive\\" file",' +
      'source="syscall",tag_T1555="true",tag_maturity_stable="true"} 7',
  );
  assert(!text.includes('rule_name="Never"'), "rules that never matched are left out");
  has('falcosecurity_scap_engine_name_info{engine_name="modern_bpf",evt_source="syscall"} 1');
  has("falcosecurity_scap_n_evts_total 1100");
  has('falcosecurity_scap_n_drops_buffer_total{dir="exit",drop="open"} 50');
  has('falcosecurity_scap_n_drops_buffer_total{dir="exit",drop="clone_fork"} 1');
  has('falcosecurity_scap_n_drops_buffer_total{dir="enter",drop="open"} 0');
  has("falcosecurity_scap_n_drops_total 100");
  has('falcosecurity_scap_n_evts_cpu_total{cpu="1"} 500');
  has('falcosecurity_scap_n_drops_cpu_total{cpu="0"} 60');
  has("falcosecurity_falco_cpu_usage_ratio 0.025");
  has("falcosecurity_falco_memory_rss_bytes 1024000");
  has("falcosecurity_falco_container_memory_used_bytes 2097152");
  has("falcosecurity_falco_host_memory_used_bytes 2097152");
  has("falcosecurity_falco_host_open_fds_total 1234");
  has("falcosecurity_scap_n_threads_total 10");
  has("falcosecurity_scap_n_fds_total 40");
  has("falcosecurity_plugins_container_n_containers_total 2");
  has("falcosecurity_plugins_container_n_missing_container_images_total 1");
  has('falcosecurity_falco_kernel_release_info{kernel_release="6.18.0"} 1');
  has('falcosecurity_evt_hostname_info{hostname="node-1"} 1');
  has("falcosecurity_falco_outputs_queue_num_drops_total 3");
  has(`falcosecurity_falco_start_timestamp_nanoseconds ${1_700_000_000n * S}`);
  has(`falcosecurity_falco_reload_timestamp_nanoseconds ${1_700_000_010n * S}`);
  has("falcosecurity_falco_duration_seconds_total 100");
  has("falcosecurity_falco_host_num_cpus_total 2");
  // One HELP and TYPE per name, before its samples, and a type Prometheus knows.
  const types = lines.filter((l) => l.startsWith("# TYPE "));
  assertEquals(new Set(types.map((l) => l.split(" ")[2])).size, types.length);
  for (const t of types) assert(/ (counter|gauge)$/.test(t), t);
  assert(lines.includes("# TYPE falcosecurity_scap_n_evts_total counter"));
  assert(lines.includes("# TYPE falcosecurity_scap_n_threads_total gauge"));
  for (const l of samples) {
    assert(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.e+]+$/.test(l), `valid sample: ${l}`);
  }
});

Deno.test("falco metrics: categories turned off leave their series out", () => {
  const text = prometheusText(input(), {
    ...FALCO_METRICS_DEFAULTS,
    rules_counters_enabled: false,
    kernel_event_counters_enabled: false,
    resource_utilization_enabled: false,
    state_counters_enabled: false,
    plugins_metrics_enabled: false,
  });
  for (const gone of ["rules_matches", "n_evts", "cpu_usage", "n_threads", "n_containers"]) {
    assert(!text.includes(gone), gone);
  }
  assert(!text.includes("n_evts_cpu"), "per CPU counters are off by default");
  assert(text.includes("falcosecurity_falco_version_info"), "the wrapper series stay");
});

Deno.test("falco metrics: snapshot fields with MB, rates from the previous snapshot", () => {
  const c = new SnapshotComposer();
  const first = c.compose(input(), "syscall");
  assertEquals(first["evt.source"], "syscall");
  assertEquals(first["scap.engine_name"], "modern_bpf");
  assertEquals(first["falco.version"], "0.1.0");
  assertEquals(first["evt.time"], 1_700_000_100n * S);
  assertEquals(first["falco.duration_sec"], 100);
  assertEquals(first["falco.num_evts"], 1000);
  assertEquals(first["falco.num_evts_prev"], 0);
  assert(!("falco.evts_rate_sec" in first), "no rate without a previous snapshot");
  assertEquals(first["falco.rules.matches_total"], 7);
  assertEquals(first["falco.rules.Read_sensitive_file"], 7);
  assert(!("falco.rules.Never" in first), "zeros are left out");
  assertEquals(first["falco.memory_rss_mb"], 1000 / 1024);
  assertEquals(first["falco.container_memory_used_mb"], 2);
  assertEquals(first["falco.cpu_usage_perc"], 2.5);
  assertEquals(first["scap.n_evts"], 1100);
  assertEquals(first["scap.n_drops"], 100);
  assertEquals(first["scap.n_drops_buffer_open_exit"], 50);
  assert(!("scap.n_drops_buffer_connect_exit" in first), "zero drop kinds are left out");
  assertEquals(first["plugins.container.n_containers"], 2);
  assertEquals(first["falco.n_threads"], 10);
  assertEquals(first["falco.sha256_rules_file.falco_rules_yaml"], "ab");

  const later = input({
    nowNs: 1_700_000_110n * S,
    sources: [{ source: "syscall", engine: "modern_bpf", events: 3000 }],
    kernel: { ...input().kernel!, events: 3100, drops: 300 },
  });
  const second = c.compose(later, "syscall");
  assertEquals(second["falco.num_evts_prev"], 1000);
  assertEquals(second["falco.evts_rate_sec"], 200);
  assertEquals(second["scap.n_evts_prev"], 1100);
  assertEquals(second["scap.evts_rate_sec"], 200);
  assertEquals(second["scap.evts_drop_rate_sec"], 20);
  assertEquals(second["scap.n_drops_perc"], 10);

  const all = new SnapshotComposer({ ...FALCO_METRICS_DEFAULTS, include_empty_values: true })
    .compose(input(), "syscall");
  assertEquals(all["falco.rules.Never"], 0);
  assertEquals(all["scap.n_drops_buffer_connect_exit"], 0);
  const kb = new SnapshotComposer({ ...FALCO_METRICS_DEFAULTS, convert_memory_to_mb: false })
    .compose(input(), "syscall");
  assertEquals(kb["falco.memory_rss_kb"], 1000);
});

Deno.test("falco metrics: a snapshot file line keeps keys sorted and integers exact", () => {
  const line = snapshotLine(3, { "evt.time": 1_700_000_000_123_456_789n, "a.b": 1.5, s: "x" });
  assertEquals(
    line,
    '{"output_fields":{"a.b":1.5,"evt.time":1700000000123456789,"s":"x"},"sample":3}',
  );
  assertEquals(
    sanitizeRuleName("Launch Privileged Container (x)"),
    "Launch_Privileged_Container_x",
  );
});

Deno.test("resources: /proc parsers", () => {
  const status = parseKbLines("Name:\tdeno\nVmSize:\t  123456 kB\nVmRSS:\t   7890 kB\n");
  assertEquals(status.get("VmRSS"), 7890);
  assertEquals(status.get("VmSize"), 123456);
  // utime 150 + stime 50 ticks = 2 s of CPU; started at 1000 ticks (10 s); uptime 110 s.
  const stat = "42 (deno worker) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 9 0 1000 " +
    "123 456";
  assertEquals(processCpuPerc(stat, 110), 2);
  const p = parseProcStat(
    "cpu  100 0 100 700 50 25 25 0 0 0\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nbtime 1700000000\n" +
      "procs_running 3\n",
  );
  assertEquals(p, { busyPerc: 30, procsRunning: 3, cpus: 2, bootNs: 1_700_000_000n * S });
  assertEquals(
    cgroupMemoryFile("0::/system.slice/saker.service\n"),
    "/sys/fs/cgroup/system.slice/saker.service/memory.current",
  );
  assertEquals(
    cgroupMemoryFile("12:memory:/docker/abc\n3:cpu:/x\n"),
    "/sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes",
  );
  const r = readResources();
  assert(
    r.memoryRssKb > 1000 && r.hostNumCpus >= 1 && r.hostBootNs > 0n,
    JSON.stringify(r, (_, v) => typeof v === "bigint" ? String(v) : v),
  );
});
