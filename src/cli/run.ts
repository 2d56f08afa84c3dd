/**
 * `saker run`: the agent. Loads the config and rules, attaches the probe, and runs until
 * SIGINT/SIGTERM (or `-M` seconds). Alerts go to the configured outputs; logs go to stderr.
 *
 * ```
 * saker run [-c FILE] [-r FILE|DIR]... [-o key=value]... [--json] [-M SECONDS] [--dry-run]
 * ```
 * @module
 */
import { ConfigError, loadConfig, type LoadedConfig } from "../config/load.ts";
import type { Config } from "../config/spec.ts";
import type { StateStore } from "../state/store.ts";
import { log } from "../log.ts";
import { Agent, type AgentSource, type AgentState } from "../agent/agent.ts";
import { applyLogging, kernelFilter, rulesOptions } from "../agent/settings.ts";
import { metrics } from "../metrics.ts";
import { buildEngineRules, outputAdditions } from "../agent/build_rules.ts";
import { RulesError } from "../agent/rules_builder.ts";
import { channelOutputs } from "../agent/outputs.ts";
import {
  availablePlugins,
  chooseRunSources,
  knownRunSources,
  type LoadedPlugin,
  loadPlugins,
  openPluginSources,
  PluginLoadError,
} from "../agent/plugins.ts";
import { idleSource } from "../sources/idle.ts";
import { loadRulesFiles } from "../rules/loader.ts";
import { additionsFor, additionsForSource } from "../rules/output_additions.ts";
import { formatMessage } from "../rules/result.ts";
import {
  describeRulesJson,
  describeRulesText,
  ignoredEventsText,
  listFields,
  supportJson,
} from "./run_info.ts";
import { auditInputs, describeAuditInput } from "../k8saudit/audit_inputs.ts";
import {
  capabilityProblem,
  hostRootFrom,
  hostRootProblem,
  onHost,
  presentSockets,
  seccompHint,
  stateDirProblem,
} from "../agent/preflight.ts";
import { SystemdNotifier } from "../agent/systemd.ts";
import { buildInfo } from "./version.ts";
import { versions } from "../version.ts";
import { assetText, BUILTIN_PREFIX, builtinFiles, DEFAULT_RULES, isBuiltin } from "../assets.ts";
import {
  FALCO_RUN_OPTIONS,
  FALCO_RUN_USAGE,
  type FalcoAction,
  falcoAction,
  falcoOverrides,
  flagSpellings,
  optionalListValue,
  unknownFlagMessage,
} from "./falco_flags.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker run [options]

Runs the agent: loads the config and rules, attaches the kernel probe, evaluates every event and
sends alerts to the configured outputs. Stops on SIGINT/SIGTERM; SIGHUP reloads the rules and
config, SIGUSR1 reopens output files.

options:
  -c FILE           config file (default: $SAKER_CONFIG, /etc/saker/config.yaml, ./config.yaml)
  -r FILE|DIR       rules file or directory; repeat for more (replaces rules_files)
  -o KEY=VALUE      set a config key (dotted path, list[N], list[] to append); repeatable
  --json            alerts as JSON (same as -o json_output=true)
  -M SECONDS        stop after this many seconds
  --enable-source S   run only these event sources (syscall, k8s_audit); repeatable
  --disable-source S  run every event source but these (--disable-source syscall: a Kubernetes
                    audit receiver without the kernel probe); repeatable
  --dry-run         load the config and rules, report, and exit
  -h, --help        this help

${FALCO_RUN_USAGE}`;

/** Picks the config file: -c, $SAKER_CONFIG, /etc/saker/config.yaml, ./config.yaml. */
export function defaultConfigFile(): string | undefined {
  const env = Deno.env.get("SAKER_CONFIG");
  if (env) return env;
  for (const p of ["/etc/saker/config.yaml", "config.yaml"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  return undefined;
}

/**
 * `rel` when it exists (relative to the working directory), else the rules Saker carries under
 * that name (`rules` → `builtin:rules`), else `rel` (reported as unreadable).
 */
function builtinIfMissing(rel: string): string {
  if (rel.startsWith("/") || isBuiltin(rel)) return rel;
  try {
    Deno.statSync(rel);
    return rel;
  } catch {
    const builtin = `${BUILTIN_PREFIX}${rel}`;
    return builtinFiles(builtin).length > 0 ? builtin : rel;
  }
}

/** Opens the live kernel source (loaded lazily: FFI and libbpf only when running). */
export async function openLive(
  syscalls: ReadonlySet<string> | "all",
  c: Config,
): Promise<AgentSource> {
  const { openLiveSource } = await import("../sources/live.ts");
  const src = await openLiveSource({
    ringBytes: c.kernel.ring_buffer_size,
    syscalls,
    // kernelFilter has added what state tracking needs, as base_syscalls chose it.
    withState: false,
    pollMs: c.kernel.poll_interval,
    maxDelayMs: c.kernel.max_delay,
    wakeupMs: c.kernel.max_delay / 2,
    snaplen: c.falco_libs.snaplen,
    dropFailedExit: c.engine.modern_ebpf.drop_failed_exit,
  });
  return {
    source: src.source,
    readable: src.readable,
    close: () => src.close(),
    setSyscalls: (names) => src.setSyscalls(names),
    setKernelFilter: (names, programs) => src.setKernelFilter(names, programs),
    setDeny: (sets) => src.setDeny(sets),
    stats: () => {
      const s = src.stats();
      return {
        received: s.received,
        events: s.events,
        drops: s.drops,
        kernel: {
          events: s.events + s.drops,
          drops: s.drops,
          dropsByKind: s.dropsByKind,
          eventsPerCpu: s.eventsPerCpu.map((n, cpu) => n + (s.dropsPerCpu[cpu] ?? 0)),
          dropsPerCpu: s.dropsPerCpu,
        },
      };
    },
  };
}

/** A capture file as the agent's source (engine.kind: replay); its lists seed `state`. */
async function captureSource(file: string, state: StateStore): Promise<AgentSource> {
  const { openScapSource } = await import("../sources/scap.ts");
  const src = await openScapSource(file, { state });
  return {
    source: src.source,
    readable: src.readable,
    close: () => src.close(),
    stats: () => ({ received: src.stats().events }),
  };
}

/**
 * Process, fd and container state of the live system, seeded from /proc (also what
 * `saker capture` filters read). Container settings come from `config` (defaults without one).
 * `hostRoot` is where the host's / is seen (SAKER_HOST_ROOT, Falco's HOST_ROOT): /proc, /etc
 * and the container runtime's sockets and event log are read under it.
 */
export async function liveState(
  config?: Config,
  hostRoot = hostRootFrom(Deno.env.get("SAKER_HOST_ROOT")),
): Promise<AgentState & { state: StateStore }> {
  const { StateStore } = await import("../state/store.ts");
  const { ProcFs, seedFromProc } = await import("../state/seed.ts");
  const { ContainerStore } = await import("../state/containers/runtime.ts");
  const { ApiEventStream, PodmanEventLog } = await import("../state/containers/watch.ts");
  const { runtimePaths, PODMAN_CONTAINERS } = await import("../state/containers/paths.ts");
  const { ContainerHoldPolicy } = await import("../state/containers/hold_policy.ts");
  const proc = new ProcFs(onHost(hostRoot, "/proc"));
  const configured = runtimePaths({
    sockets: config?.containers.sockets,
    podmanEventLog: config?.containers.podman_event_log,
  });
  const paths = {
    sockets: configured.sockets.map((p) => onHost(hostRoot, p)),
    podmanEventLog: onHost(hostRoot, configured.podmanEventLog),
  };
  if (presentSockets(paths.sockets).length === 0) {
    log.warn(
      "container metadata is off: no container runtime socket (container.name, " +
        "container.image.* stay <NA>); start the runtime's API service or mount the host's " +
        "root (SAKER_HOST_ROOT)",
      { sockets: paths.sockets.join(",") },
    );
  }
  const containers = new ContainerStore({
    sockets: paths.sockets,
    bundleDirs: [onHost(hostRoot, PODMAN_CONTAINERS)],
    events: [
      ...paths.sockets.map((s) => new ApiEventStream(s)),
      new PodmanEventLog(paths.podmanEventLog),
    ],
  });
  containers.start();
  const store = new StateStore({
    proc,
    containers,
    hostRoot,
    maxThreads: config?.falco_libs.thread_table_size,
  });
  const { registerStateMetrics } = await import("../state/metrics.ts");
  registerStateMetrics(store, containers);
  const t0 = performance.now();
  const seeded = seedFromProc(store, proc);
  log.info("state seeded from /proc", { ...seeded, ms: Math.round(performance.now() - t0) });
  metrics.gauge("saker_state_threads", "Threads in the process table.").labels().collect = () =>
    store.threads.size;
  metrics.gauge("saker_state_processes", "Processes in the process table.").labels().collect = () =>
    store.procs.size;
  return {
    state: store,
    close: () => containers.close(),
    hold: new ContainerHoldPolicy(containers),
    // Once fd calls stay in the kernel, entries are checked against the inodes records carry.
    setFdHistory: (h) => {
      if (h !== "all") store.fdIdentity = true;
    },
  };
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  const options = {
    c: { type: "string" },
    r: { type: "string", multiple: true },
    o: { type: "string", multiple: true },
    json: { type: "boolean" },
    M: { type: "string" },
    "enable-source": { type: "string", multiple: true },
    "disable-source": { type: "string", multiple: true },
    "dry-run": { type: "boolean" },
    help: { type: "boolean", short: "h" },
    ...FALCO_RUN_OPTIONS,
  } as const;
  let parsed;
  let action: FalcoAction | undefined;
  let falcoOptions: string[];
  try {
    parsed = nodeParseArgs({ args: optionalListValue(args), options, allowPositionals: false });
    action = falcoAction(parsed.values);
    falcoOptions = falcoOverrides(parsed.values);
  } catch (err) {
    const e = err as Error & { code?: string };
    const flag = /'([^']+)'/.exec(e.message)?.[1];
    const msg = e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag
      ? unknownFlagMessage(flag, flagSpellings(options))
      : e.message;
    console.error(`saker run: ${msg}\n\nRun \`saker run --help\` for the options.`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  // Listings that need neither config nor rules.
  if (action?.kind === "ignored") {
    console.log(ignoredEventsText());
    return 0;
  }
  if (action?.kind === "fields") {
    try {
      console.log(listFields(action.source, action.format, action.namesOnly));
      return 0;
    } catch (err) {
      console.error(`saker run: ${(err as Error).message}`);
      return 1;
    }
  }
  let stopAfter: number | undefined;
  if (v.M !== undefined) {
    stopAfter = Number(v.M);
    if (!Number.isFinite(stopAfter) || stopAfter <= 0) {
      console.error(`saker run: -M expects a positive number of seconds, got '${v.M}'`);
      return 2;
    }
  }
  const file = v.c ?? defaultConfigFile();
  const overrides = [...(v.o ?? []), ...(v.json ? ["json_output=true"] : []), ...falcoOptions];
  // Without a config file, the config Saker carries (its config.yaml) applies.
  const load = () =>
    file ? loadConfig({ file, overrides }) : loadConfig({
      file: `${BUILTIN_PREFIX}config.yaml`,
      text: assetText("config.yaml") ?? "",
      overrides,
    });

  let loaded: LoadedConfig;
  try {
    loaded = await load();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`saker run: config: ${p}`);
      return 1;
    }
    throw err;
  }
  const config = loaded.config;
  // Without a config file (e.g. the single binary run from anywhere), relative rules paths
  // that do not exist here are the rules Saker carries.
  if (!file) {
    if (config.rules_files.length === 0) config.rules_files = [DEFAULT_RULES];
    config.rules_files = config.rules_files.map(builtinIfMissing);
  }
  applyLogging(config);
  if (file) log.info("config loaded", { file, files: loaded.files.length });
  else log.info("no config file found; using Saker's default config.yaml");
  for (const w of loaded.warnings) log.warn("config", { warning: w });

  // Plugins load before the rules: their fields are the rules' to use.
  let plugins: LoadedPlugin[];
  try {
    plugins = await loadPlugins(config, {
      configDir: file ? process.getBuiltinModule("node:path").dirname(file) : undefined,
    });
  } catch (err) {
    if (err instanceof PluginLoadError) {
      for (const p of err.problems) console.error(`saker run: config: ${p}`);
      return 1;
    }
    throw err;
  }
  let sources: Set<string>;
  try {
    sources = chooseRunSources(
      knownRunSources(plugins),
      v["enable-source"] ?? [],
      v["disable-source"] ?? [],
    );
  } catch (err) {
    console.error(`saker run: ${(err as Error).message}`);
    return 2;
  }
  const rulesFiles = v.r ?? [];
  if (action) return await printInfo(action, config, rulesFiles, args);
  if (v["dry-run"]) return await dryRun(config, rulesFiles, plugins);

  // Falco's engine.kind: replay runs a capture file through the agent (state from the file, no
  // probe) and ends with it; nodriver runs without the probe.
  const replayFile = config.engine.kind === "replay"
    ? config.engine.replay.capture_file
    : undefined;
  const live = sources.has("syscall") && config.engine.kind !== "nodriver" &&
    replayFile === undefined;
  const hostRoot = hostRootFrom(Deno.env.get("SAKER_HOST_ROOT"));
  const problems = [
    live ? capabilityProblem() : undefined,
    live ? hostRootProblem(hostRoot) : undefined,
    config.alert_store.enabled ? stateDirProblem(config.alert_store.path) : undefined,
  ].filter((p) => p !== undefined);
  if (problems.length > 0) {
    for (const p of problems) console.error(`saker run: ${p}`);
    return 1;
  }

  const { StateStore } = await import("../state/store.ts");
  const replayState = new StateStore();
  let agent: Agent;
  try {
    agent = await Agent.start(config, {
      // Without the system call source the agent's main source is idle (no probe, no state).
      openSource: replayFile !== undefined
        ? () => captureSource(replayFile, replayState)
        : live
        ? openLive
        : () => Promise.resolve(idleSource()),
      buildRules: (files, opts) =>
        buildEngineRules(files, { ...opts, plugins: availablePlugins(plugins) }),
      makeState: replayFile !== undefined
        ? () => ({ state: replayState })
        : live
        ? (c) => liveState(c, hostRoot)
        : undefined,
      openExtraSources: openPluginSources(plugins, sources),
      reloadConfig: file ? load : undefined,
      rulesFiles,
      configFiles: loaded.files,
      versions: await buildVersions(),
    });
  } catch (err) {
    if (err instanceof RulesError) {
      for (const p of err.problems) console.error(p);
      log.error("rules could not be loaded", { errors: err.problems.length });
      return 1;
    }
    const { ProbeLoadError } = await import("../kernel/probe.ts");
    if (err instanceof ProbeLoadError) {
      const hint = /not permitted/i.test(err.message) ? seccompHint() : undefined;
      console.error(`saker run: ${err.message}${hint ? ` — ${hint}` : ""}`);
      return 1;
    }
    log.error("agent could not start", { error: err });
    return 1;
  }
  // Started by systemd (Type=notify): ready now; watchdog pings while healthy.
  const notifier = SystemdNotifier.fromEnv(Deno.env.toObject(), () => agent.health());
  notifier?.ready();
  agent.done.finally(() => notifier?.stopping());
  if (stopAfter !== undefined) {
    const t = setTimeout(() => agent.stop(0, `-M ${stopAfter}`), stopAfter * 1000);
    agent.done.finally(() => clearTimeout(t));
  }
  return await agent.done;
}

/** `-L`, `-l RULE` and `--support`: print what the config and rules say, and exit. */
async function printInfo(
  action: FalcoAction,
  config: Config,
  rulesFiles: string[],
  args: string[],
): Promise<number> {
  const files = rulesFiles.length > 0 ? rulesFiles : config.rules_files;
  const loaded = await loadRulesFiles(files);
  const errors = loaded.results.flatMap((r) =>
    r.errors.map((m) => formatMessage(m, loaded.contents))
  );
  if (action.kind === "support") {
    const cmdline = ["saker", "run", ...args];
    console.log(JSON.stringify(supportJson({ ...config }, cmdline, loaded.contents)));
    return 0;
  }
  if (errors.length > 0) {
    for (const e of errors) console.error(e);
    return 1;
  }
  if (action.kind !== "describe") return 0;
  const named = (r: { name: string }) => r.name === action.rule;
  if (action.rule !== undefined && !loaded.rules.some(named) && !loaded.sequences.some(named)) {
    console.error(`saker run: rule "${action.rule}" is not loaded`);
    return 1;
  }
  if (config.json_output) {
    const additions = outputAdditions(config.append_output);
    const outputOf = (r: { name: string; source: string; tags: string[]; outputText: string }) =>
      additionsFor(r, additionsForSource(additions, r.source).usable).outputText;
    console.log(JSON.stringify(describeRulesJson(loaded, action.rule, outputOf)));
  } else {
    const rules = [...loaded.rules, ...loaded.sequences]
      .filter((r) => action.rule === undefined || r.name === action.rule);
    console.log(describeRulesText(rules));
  }
  return 0;
}

/** What --dry-run says of aggregation and rate limits. */
function aggregationLine(c: Config, aggregating: number): string {
  const a = c.aggregation;
  const r = c.output_rate_limit;
  const key = ["rule", ...a.key, ...(a.main_object ? ["the rule's main object"] : [])];
  return `${aggregating} rules aggregate` +
    (a.enabled
      ? ` (by default: key ${key.join(", ")}; window ${a.window}s, at most ${a.max_window}s)`
      : "") +
    `; rate limit: ${r.enabled ? `${r.rate}/s per output, bursts of ${r.max_burst}` : "off"}`;
}

async function dryRun(
  config: Config,
  rulesFiles: string[],
  plugins: readonly LoadedPlugin[],
): Promise<number> {
  const files = rulesFiles.length > 0 ? rulesFiles : config.rules_files;
  if (files.length === 0) {
    console.error("saker run: no rules files: set rules_files in the config or pass -r FILE");
    return 1;
  }
  try {
    const rules = await buildEngineRules(files, {
      ...rulesOptions(config),
      plugins: availablePlugins(plugins),
    });
    for (const w of rules.warnings) console.error(w);
    const outputs = await channelOutputs(config);
    for (const o of outputs) await o.close();
    const filter = kernelFilter(rules, config);
    const sys = filter.syscalls;
    console.log(
      [
        `rules files: ${rules.files.join(", ")}`,
        `rules: ${rules.ruleCount} enabled` +
        (rules.warnings.length ? ` (${rules.warnings.length} warnings)` : ""),
        `syscalls: ${sys === "all" ? "all" : `${sys.size} (${[...sys].sort().join(" ")})`}`,
        `k8s audit: ${rules.sources?.k8s_audit?.ruleCount ?? 0} rules; inputs: ${
          auditInputs(config).inputs.map(describeAuditInput).join(", ") || "none"
        }`,
        ...plugins.filter((p) => p.plugin.source && p.plugin.name !== "k8saudit").map((p) =>
          `plugin ${p.plugin.name} ${p.plugin.version}: ${p.plugin.source}, ` +
          `${rules.sources?.[p.plugin.source!]?.ruleCount ?? 0} rules; open_params: ` +
          `${p.entry.open_params ?? ""}`
        ),
        `aggregation: ${aggregationLine(config, rules.aggregating ?? 0)}`,
        `outputs: ${
          [
            ...outputs.map((o) => o.name),
            ...(config.alert_store.enabled ? [`store (${config.alert_store.path})`] : []),
          ].join(", ") || "none"
        }`,
        `api: ${
          config.webserver.enabled
            ? `${config.webserver.ssl_enabled ? "https" : "http"}://` +
              `${config.webserver.listen_address}:${config.webserver.listen_port}`
            : "disabled"
        }`,
        "kernel predicates (an event failing its type's predicate cannot match any rule):",
        ...(rules.kernelPredicates ?? []).map((l) => `  ${l}`),
        `kernel predicates applied in the probe to: ${filter.applied.join(" ") || "none"}` +
        (config.kernel.predicates ? "" : " (kernel.predicates is off)"),
        ...filter.skipped.map((l) => `  not applied: ${l}`),
        `fd history kept: ${filter.fdHistory}${
          filter.fdHistory === "all" ? "" : " (the other fd calls stay in the kernel)"
        }; needed by:${rules.fdStateReaders?.length ? "" : " no rule"}`,
        ...(rules.fdStateReaders ?? []).map((l) => `  ${l}`),
        "dry run: configuration and rules are valid",
      ].join("\n"),
    );
    return 0;
  } catch (err) {
    if (err instanceof RulesError) {
      for (const p of err.problems) console.error(p);
      console.error(`saker run: ${err.problems.length} rules error(s)`);
      return 1;
    }
    console.error(`saker run: ${(err as Error).message}`);
    return 1;
  }
}

/** GET /versions: what `saker version --json` prints (versions and the build). */
async function buildVersions(): Promise<() => Record<string, string>> {
  const all = { ...versions(), ...await buildInfo() };
  return () => all;
}
