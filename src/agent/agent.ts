/**
 * The running agent: wires the config to the source, state, rules, pipeline, outputs, alert store
 * and HTTP API, and runs the operations around them:
 *
 * - hot reload (SIGHUP, or a change to a watched rules or config file): the new ruleset is built
 *   next to the running one and swapped between two batches; an invalid one is rejected (errors
 *   logged, an internal alert raised) and the old one keeps running; the probe stays attached;
 * - SIGUSR1: outputs reopen their files and respawn their programs;
 * - SIGINT/SIGTERM: the source detaches, in-flight events are evaluated, every output queue is
 *   flushed (within outputs_queue.flush_timeout), the store is closed, exit 0;
 * - kernel drop monitoring with the configured actions.
 * @module
 */
import type { Alert, Priority } from "../rules/alert.ts";
import { type Evaluator, NO_RULES, Pipeline, type StateTracker } from "../pipeline/pipeline.ts";
import type { HoldPolicy } from "../pipeline/hold.ts";
import type { EventSource } from "../sources/source.ts";
import type { Config } from "../config/spec.ts";
import type { LoadedConfig } from "../config/load.ts";
import { log } from "../log.ts";
import type { FdHistory } from "../events/syscalls.ts";
import type { KernelPrograms } from "../kernel/predicates.ts";
import { metrics as globalMetrics, type Registry } from "../metrics.ts";
import { AlertStore } from "../outputs/alert_store.ts";
import { AlertAggregator } from "../outputs/aggregator.ts";
import type { AlertFanout } from "../outputs/fanout.ts";
import { INTERNAL_SOURCE } from "../outputs/format.ts";
import { createApp, mountSource } from "../server/app.ts";
import { LiveAlerts } from "../server/live_alerts.ts";
import { type RunningServer, serveApi } from "../server/server.ts";
import { versions } from "../version.ts";
import { DropMonitor } from "./drops.ts";
import {
  alertHostname,
  buildFanout,
  channelOutputs,
  fileGroup,
  natsConnectionOf,
  OUTPUT_KEYS,
} from "./outputs.ts";
import type { Collector } from "./collector.ts";
import { type BuiltRules, type RulesBuilder, RulesError } from "./rules_builder.ts";
import { FileWatcher } from "./watch.ts";
import { collectGarbageSoon } from "./heap.ts";
import { type KernelCounts, prometheusText, SnapshotComposer } from "./falco_metrics.ts";
import { FalcoReader, type ReadableParts } from "./falco_reading.ts";
import { MetricsSnapshots } from "./metrics_snapshots.ts";
import { StateStore } from "../state/store.ts";
import { CaptureRecorder, type RecorderOptions } from "../pipeline/recorder.ts";
import { captureSettingsOf } from "../config/capture_section.ts";
import type { ThreadTable } from "../capture/snapshot.ts";
import type { Hono } from "hono";
import { ResponseEngine } from "./response.ts";
import { type DeniedCall, deniedCallOf } from "../rules/ruleset.ts";
import type { Event } from "../events/event.ts";
import { denyAllowlist, type DenySets, denySets } from "./response_deny.ts";
import { parsePasswd } from "../state/users.ts";
import { hostRootFrom, onHost } from "./preflight.ts";
import {
  aggregatorOptions,
  applyLogging,
  exposureWarnings,
  falcoMetricsOptions,
  kernelFilter,
  logKernelFilter,
  logSyscallChoice,
  responseSockets,
  rulesOptions,
  serverLimits,
} from "./settings.ts";

/** Rule name of the internal alert raised when a reload is rejected. */
export const RELOAD_FAILED_RULE = "Saker internal: rules reload failed";

/** What a source may offer beyond the EventSource contract (the live source does). */
export interface SourceControl {
  /** Changes the kernel filter. */
  setSyscalls?(names: ReadonlySet<string> | "all"): void;
  /** Changes the kernel filter: syscalls and kernel predicates together. */
  setKernelFilter?(names: ReadonlySet<string> | "all", programs: KernelPrograms | undefined): void;
  /** Replaces the probe's deny sets (response `deny`). */
  setDeny?(sets: DenySets): void;
  /**
   * Counters: events the source handed on, kernel-side events and drops, and (live probe) the
   * kernel counters in detail.
   */
  stats?(): { received: number; events?: number; drops?: number; kernel?: KernelCounts };
}

/** A source as the agent uses it. */
export type AgentSource = EventSource & SourceControl;

/** State tracking and how to release it. */
export interface AgentState {
  state: StateTracker;
  /** Which events wait before their rules run (container metadata on its way). */
  hold?: HoldPolicy;
  close?(): Promise<void> | void;
  /** How much fd history the kernel delivers from now on (see src/rules/state_needs.ts). */
  setFdHistory?(h: FdHistory): void;
}

/** How the agent gets its parts (the CLI passes the real ones; tests may pass others). */
export interface AgentDeps {
  /** Opens the event source for the given kernel syscall set. */
  openSource(syscalls: ReadonlySet<string> | "all", config: Config): Promise<AgentSource>;
  /** Builds rules from files. */
  buildRules: RulesBuilder;
  /**
   * State tracking for the source (none: events reach the rules unenriched); called once the
   * source is open, so that seeding from /proc misses no process started meanwhile.
   */
  makeState?(config: Config): Promise<AgentState | undefined> | AgentState | undefined;
  /**
   * Event sources beside the main one (Kubernetes audit webhook or file), each run by its own
   * pipeline with its source's rules. Called before the API listens, so that webhook sources
   * mount their routes ({@link Agent.mount}) before the first request can arrive; their
   * pipelines start once the main one runs.
   */
  openExtraSources?(config: Config, agent: Agent): Promise<AgentSource[]>;
  /** Reads the config again (on reload); absent: only rules reload. */
  reloadConfig?(): Promise<LoadedConfig>;
  /** Rules files from the command line (-r), overriding rules_files. */
  rulesFiles?: string[];
  /** Config files to watch. */
  configFiles?: string[];
  registry?: Registry;
  /**
   * Users and groups written into capture files (the `capture:` feature): the host's by default;
   * a replayed capture passes its own lists.
   */
  captureUsers?: RecorderOptions["users"];
  /** What GET /versions serves (default: versions(); `saker run` adds the build, as `saker version`). */
  versions?: () => Record<string, string>;
  hostname?: string;
  /** Handle SIGHUP/SIGUSR1/SIGINT/SIGTERM (default true). */
  signals?: boolean;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The evaluator of `source`'s rules (syscall: the main one). */
function evaluatorFor(rules: BuiltRules, source: string): Evaluator {
  if (source === "syscall") return rules.evaluator;
  return rules.sources?.[source]?.evaluator ?? NO_RULES;
}

/** A source beside the main one, with its pipeline. */
interface ExtraInput {
  source: AgentSource;
  pipeline: Pipeline;
  running: Promise<void>;
}

/** A running agent. */
export class Agent {
  config: Config;
  readonly registry: Registry;
  readonly live: LiveAlerts;
  readonly hostname: string;
  readonly #deps: AgentDeps;
  #rules: BuiltRules;
  #source!: AgentSource;
  #pipeline!: Pipeline;
  #extra: ExtraInput[] = [];
  /** Every source opened beside the main one, running or not yet (closed at teardown). */
  #extraSources: AgentSource[] = [];
  #fanout!: AlertFanout;
  /** Runs the rules' response actions before their alerts go out. */
  #response!: ResponseEngine;
  /** The probe's deny sets are not empty: batches are scanned for denied calls. */
  #denying = false;
  /** Open aggregation windows: kept across output rebuilds, flushed at stop. */
  readonly #aggregator: AlertAggregator;
  #store: AlertStore | undefined;
  /** Alerts of other agents read from JetStream (`collector`). */
  #collector: Collector | undefined;
  #server: RunningServer | undefined;
  #app: Hono | undefined;
  #drops: DropMonitor | undefined;
  #state: AgentState | undefined;
  /** Falco's capture feature, when `capture.enabled` (src/pipeline/recorder.ts). */
  #capture: CaptureRecorder | undefined;
  /** Readings for Falco's metric names and snapshots. */
  #falco!: FalcoReader;
  #falcoText: (() => void) | undefined;
  #snapshots: MetricsSnapshots | undefined;
  #watcher: FileWatcher | undefined;
  #signals: Array<[Deno.Signal, () => void]> = [];
  #stopping: Promise<number> | undefined;
  #exitCode = 0;
  #reloading: Promise<boolean> | undefined;
  #reloadAgain = false;
  #running!: Promise<void>;
  readonly #done = Promise.withResolvers<number>();
  reloads = 0;
  rejectedReloads = 0;
  /** The last reload's trigger and, when rejected, its first error (GET /status). */
  #lastReload: { reason: string; error?: string } | undefined;
  /** The rules warnings of the running rules, as logged. */
  #warnings = new Set<string>();

  private constructor(config: Config, rules: BuiltRules, deps: AgentDeps) {
    this.config = config;
    this.#rules = rules;
    this.#deps = deps;
    this.registry = deps.registry ?? globalMetrics;
    this.hostname = deps.hostname ?? (config.hostname || alertHostname());
    this.live = new LiveAlerts(this.registry);
    this.#aggregator = new AlertAggregator(aggregatorOptions(config));
  }

  /**
   * Logs each rules warning once: at start every one, at a reload those the previous rules did
   * not have (the others are counted in one line).
   */
  #logWarnings(warnings: readonly string[]): void {
    const next = new Set(warnings);
    let unchanged = 0;
    for (const w of next) {
      if (this.#warnings.has(w)) unchanged++;
      else log.warn("rules warning", { warning: w });
    }
    if (unchanged > 0) log.info("rules warnings unchanged since the last load", { unchanged });
    this.#warnings = next;
  }

  /** The rules files in effect (-r wins over the config). */
  #rulesFiles(c: Config): string[] {
    const r = this.#deps.rulesFiles;
    return r && r.length > 0 ? r : c.rules_files;
  }

  /** Loads rules and starts every part. Throws RulesError / Error when it cannot start. */
  static async start(config: Config, deps: AgentDeps): Promise<Agent> {
    applyLogging(config);
    const files = deps.rulesFiles?.length ? deps.rulesFiles : config.rules_files;
    if (files.length === 0) {
      throw new RulesError(["no rules files: set rules_files in the config or pass -r FILE"]);
    }
    const rules = await deps.buildRules(files, rulesOptions(config, deps.configFiles));
    const agent = new Agent(config, rules, deps);
    agent.#logWarnings(rules.warnings);
    try {
      await agent.#start();
    } catch (err) {
      await agent.#teardown().catch(() => {});
      throw err;
    }
    return agent;
  }

  async #start(): Promise<void> {
    const c = this.config;
    this.#registerProcessMetrics();
    this.#falco = new FalcoReader({
      registry: this.registry,
      hostname: this.hostname,
      parts: () => this.#falcoParts(),
    });
    await this.#falco.loaded(this.#rules.files, this.#deps.configFiles ?? []);
    if (c.alert_store.enabled) {
      this.#store = AlertStore.open({
        path: c.alert_store.path,
        maxAgeSeconds: c.alert_store.max_age,
        maxAlerts: c.alert_store.max_alerts,
        registry: this.registry,
        group: fileGroup(c),
      });
    }
    this.#fanout = buildFanout(
      c,
      await channelOutputs(c, this.registry),
      this.#store,
      this.live,
      this.hostname,
      this.registry,
      this.#aggregator,
    );
    this.#response = new ResponseEngine({
      config: c.response,
      audit: (a) => this.#fanout.publish(a),
      json: (a) => this.#fanout.formatter.json(a),
      settled: (a) => this.#store?.updateResponse(a),
      sockets: responseSockets(c),
      registry: this.registry,
    });
    if (c.webserver.enabled) this.#app = this.#createApp();
    // Routes are fixed before the server listens: a request may arrive at once.
    this.#extraSources = await this.#deps.openExtraSources?.(c, this) ?? [];
    if (this.#app) await this.#listen(this.#app);
    if (c.collector.enabled) await this.#startCollector(c);
    logSyscallChoice(this.#rules.syscalls, c.base_syscalls);
    const filter = kernelFilter(this.#rules, c);
    this.#source = await this.#deps.openSource(filter.syscalls, c);
    this.#drops = this.#makeDropMonitor(c);
    this.#applyDeny(this.#rules, c);
    this.#state = await this.#deps.makeState?.(c);
    this.#state?.setFdHistory?.(filter.fdHistory);
    this.#source.setKernelFilter?.(filter.syscalls, filter.programs);
    logKernelFilter(filter);
    this.#capture = c.capture.enabled && this.#source.source === "syscall"
      ? new CaptureRecorder({ ...captureSettingsOf(c.capture), group: fileGroup(c) }, {
        state: threadTable(this.#state?.state),
        registry: this.registry,
        users: this.#deps.captureUsers,
      })
      : undefined;
    this.#pipeline = new Pipeline({
      source: this.#source,
      state: this.#state?.state,
      ruleset: this.#mainEvaluator(this.#rules),
      onAlerts: (alerts) => this.#publish(alerts),
      afterBatch: (batch) => {
        if (batch.length > 0) this.#drops?.check(batch[batch.length - 1].ts);
        this.#capture?.afterBatch(batch);
        if (this.#denying) this.#noteDenied(batch);
      },
      received: this.#source.stats ? () => this.#source.stats!().received : undefined,
      stallSeconds: c.webserver.stall_timeout,
      registry: this.registry,
      hold: this.#state?.hold,
      holdWaitMs: c.containers.metadata_wait,
    });
    this.#running = this.#pipeline.run().then(
      () => {
        if (!this.#stopping) {
          log.info("event source ended");
          this.stop(0);
        }
      },
      (err) => {
        log.error("pipeline failed", { error: err });
        this.stop(1);
      },
    );
    for (const src of this.#extraSources) this.#runExtra(src);
    this.#startFalcoMetrics(c);
    if (c.watch_config_files) this.#watch();
    if (this.#deps.signals ?? true) this.#installSignals();
    collectGarbageSoon();
    log.info("saker running", {
      rules: this.#rules.ruleCount,
      source: this.#source.source,
      outputs: this.#fanout.queues.map((q) => q.output.name).join(","),
      api: this.#server
        ? `${this.#server.scheme}://${this.#server.addr.hostname}:${this.#server.addr.port}`
        : undefined,
    });
  }

  /** Writes the deny sets of `rules` under `c`'s modes into the probe (response `deny`). */
  #applyDeny(rules: BuiltRules, c: Config): void {
    const deny = rules.deny ?? [];
    this.#response.setDenyRules(deny);
    if (!this.#source.setDeny) {
      if (deny.length > 0) {
        log.warn("deny actions need the live probe; this source records them only", {
          rules: deny.map((r) => r.name).join(","),
        });
      }
      return;
    }
    try {
      const { allow, notes } = denyAllowlist(c.response.allowlist, hostUid, realOr);
      if (deny.length > 0) { for (const n of notes) log.warn(n); }
      const sets = denySets(deny, c.response, allow);
      this.#source.setDeny(sets);
      this.#denying = sets.exec.size + sets.open.size > 0;
      if (deny.length > 0) {
        log.info("deny sets in the probe", { exec: sets.exec.size, open: sets.open.size });
      }
    } catch (err) {
      log.error("deny sets not written to the probe", { error: err });
    }
  }

  /** The calls of a batch the probe denied, for the audit of those no alert accounts for. */
  #noteDenied(batch: readonly Event[]): void {
    let calls: DeniedCall[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      if (batch[i].denied) (calls ??= []).push(deniedCallOf(batch[i]));
    }
    if (calls) this.#response.noteDenied(calls);
  }

  /** A batch's alerts: their actions first (so they leave with the outcomes), then out. */
  #publish(alerts: Alert[]): void {
    this.#response.handle(alerts);
    this.#fanout.publishAll(alerts);
  }

  /** The main source's evaluator (the capture feature records system call events). */
  #mainEvaluator(rules: BuiltRules): Evaluator {
    const ev = evaluatorFor(rules, this.#source.source);
    return this.#capture && this.#source.source === "syscall" ? this.#capture.wrap(ev) : ev;
  }

  /** Runs a source beside the main one in its own pipeline, sharing the outputs. */
  #runExtra(source: AgentSource): void {
    const pipeline = new Pipeline({
      source,
      ruleset: evaluatorFor(this.#rules, source.source),
      onAlerts: (alerts) => this.#publish(alerts),
      received: source.stats ? () => source.stats!().received : undefined,
      stallSeconds: this.config.webserver.stall_timeout,
      registry: this.registry,
    });
    const running = pipeline.run().then(
      () => log.info("event source ended", { source: source.source }),
      (err) => log.error("pipeline failed", { source: source.source, error: err }),
    );
    this.#extra.push({ source, pipeline, running });
    log.info("event source running", {
      source: source.source,
      rules: this.#rules.sources?.[source.source]?.ruleCount ?? 0,
    });
  }

  /** Health of every pipeline (what /healthz answers). */
  health(): { ok: boolean; reason?: string } {
    return this.#health();
  }

  /** Health of every pipeline: the main one's, unless another one failed. */
  #health(): { ok: boolean; reason?: string } {
    if (!this.#pipeline) return { ok: false, reason: "starting" };
    const main = this.#pipeline.health();
    if (!main.ok) return main;
    for (const x of this.#extra) {
      const h = x.pipeline.health();
      if (!h.ok && h.reason?.startsWith("pipeline failed")) {
        return { ok: false, reason: `${x.source.source}: ${h.reason}` };
      }
    }
    return main;
  }

  /** The address the API listens on, if enabled. */
  get apiAddress(): Deno.NetAddr | undefined {
    return this.#server?.addr;
  }

  /** Whether the agent serves an API on which webhook sources can mount routes ({@link mount}). */
  get hasApi(): boolean {
    return this.#app !== undefined;
  }

  /** The pipeline (stats, health). */
  get pipeline(): Pipeline {
    return this.#pipeline;
  }

  /** The alert store, when enabled. */
  get store(): AlertStore | undefined {
    return this.#store;
  }

  /** The current fan-out (replaced when output settings reload). */
  get fanout(): AlertFanout {
    return this.#fanout;
  }

  /** The drop monitor. */
  get drops(): DropMonitor | undefined {
    return this.#drops;
  }

  /** Resolves with the exit code once the agent has stopped. */
  get done(): Promise<number> {
    return this.#done.promise;
  }

  /**
   * Mounts a webhook event source's routes on the API (same auth; same body limit unless the
   * source enforces its own). Only while the agent starts, before the API listens
   * ({@link AgentDeps.openExtraSources}).
   */
  mount(path: string, app: Hono, opts: { ownBodyLimit?: boolean; ownAuth?: boolean } = {}): void {
    if (!this.#app) throw new Error("the web server is disabled (webserver.enabled)");
    if (this.#server) throw new Error(`cannot mount ${path}: the API listens already`);
    mountSource(this.#app, path, app, opts);
  }

  #createApp(): Hono {
    const w = this.config.webserver;
    const warnings = exposureWarnings(w);
    for (const warning of warnings) log.warn("api", { warning });
    return createApp({
      healthWarnings: warnings,
      health: () => this.#health(),
      versions: this.#deps.versions ?? versions,
      registry: this.registry,
      store: this.#store,
      live: this.live,
      authToken: w.auth_token,
      maxBodyBytes: w.max_request_body_bytes,
      healthzPath: w.k8s_healthz_endpoint,
      metricsEnabled: w.prometheus_metrics_enabled,
      rules: () => this.#rules.catalog ?? [],
      lastReload: () => this.#lastReload,
      dashboard: w.dashboard_enabled,
    });
  }

  async #listen(app: Hono): Promise<void> {
    const w = this.config.webserver;
    this.#server = await serveApi(app, {
      limits: serverLimits(w),
      hostname: w.listen_address,
      port: w.listen_port,
      tlsPemFile: w.ssl_enabled ? w.ssl_certificate : undefined,
    });
    const server = this.#server, r = this.registry;
    r.gauge("saker_api_connections", "Client connections to the API open now.").labels()
      .collect = () => server.connections();
    r.counter(
      "saker_api_connections_closed_total",
      "API connections closed by the server's limits: evicted (the longest-waiting idle one, to " +
        "make room) or refused (every connection busy).",
      ["reason"],
    ).labels("evicted").collect = () => server.evicted();
    r.counter("saker_api_connections_closed_total", "", ["reason"]).labels("refused").collect =
      () => server.refused();
    r.counter(
      "saker_api_bodies_refused_total",
      "Request bodies answered 503 because too many bodies or bytes were in flight.",
    ).labels().collect = () => server.bodyBudget.refused;
  }

  async #startCollector(c: Config): Promise<void> {
    // The NATS client loads only when a collector is configured.
    const { Collector } = await import("./collector.ts");
    const k = c.collector;
    this.#collector = new Collector({
      connection: natsConnectionOf(k),
      stream: k.stream,
      subjects: k.subjects,
      durable: k.durable,
      batch: k.batch,
      store: this.#store,
      sinks: [this.live],
      formatter: this.#fanout.formatter,
      registry: this.registry,
    });
    this.#collector.start();
  }

  #registerProcessMetrics(): void {
    const r = this.registry;
    r.gauge("saker_memory_rss_bytes", "Resident memory of the agent.").labels().collect = () =>
      Deno.memoryUsage().rss;
    r.gauge("saker_memory_heap_used_bytes", "JavaScript heap in use.").labels().collect = () =>
      Deno.memoryUsage().heapUsed;
    r.gauge("saker_memory_heap_total_bytes", "JavaScript heap reserved (in use and free).")
      .labels().collect = () => Deno.memoryUsage().heapTotal;
    r.gauge(
      "saker_memory_external_bytes",
      "Memory outside the JavaScript heap held by its objects (drain buffers, typed arrays).",
    ).labels().collect = () => Deno.memoryUsage().external;
    const started = Date.now();
    r.gauge("saker_uptime_seconds", "Seconds since the agent started.").labels().collect = () =>
      (Date.now() - started) / 1000;
    r.gauge("saker_rules_loaded", "Enabled rules in the running ruleset.").labels().collect = () =>
      this.#rules.ruleCount;
    r.counter("saker_reloads_total", "Rules reloads, by outcome.", ["result"]);
    r.gauge(
      "saker_last_reload_timestamp_seconds",
      "When the last reload was tried, seconds since the epoch (0: none yet).",
    ).labels();
    r.gauge(
      "saker_last_reload_success",
      "1 when the last reload was applied (or none was tried), 0 when it was rejected.",
    ).set(1);
    this.#registerSequenceMetrics();
  }

  /** The tables of sequence and threshold rules on /metrics (again after each reload). */
  #registerSequenceMetrics(): void {
    const r = this.registry;
    const labels = ["rule", "kind"];
    const entries = r.gauge(
      "saker_sequence_partial_matches",
      "Chains in progress of a sequence rule (keys counting, for a threshold rule).",
      labels,
    );
    const evicted = r.counter(
      "saker_sequence_evicted_total",
      "Chains (or threshold keys) dropped to make room: the table was full " +
        "(sequences.max_partial_matches).",
      labels,
    );
    const expired = r.counter(
      "saker_sequence_expired_total",
      "Chains (or threshold keys) whose window passed before they completed.",
      labels,
    );
    const cancelled = r.counter(
      "saker_sequence_cancelled_total",
      "Chains ended by an event matching one of their 'not' steps.",
      labels,
    );
    for (const store of this.#rules.sequenceStores?.values() ?? []) {
      for (const st of store.stats()) {
        const read = () => store.statsOf(st.rule)!;
        entries.labels(st.rule, st.kind).collect = () => read().entries;
        evicted.labels(st.rule, st.kind).collect = () => read().evicted;
        expired.labels(st.rule, st.kind).collect = () => read().expired;
        cancelled.labels(st.rule, st.kind).collect = () => read().cancelled;
      }
    }
  }

  /** Records a reload's outcome for /metrics and /status. */
  #reloaded(reason: string, error?: string): void {
    this.registry.gauge("saker_last_reload_timestamp_seconds", "").set(Date.now() / 1000);
    this.registry.gauge("saker_last_reload_success", "").set(error === undefined ? 1 : 0);
    this.#lastReload = error === undefined ? { reason } : { reason, error };
  }

  /** What Falco's metrics read from the running parts. */
  #falcoParts(): ReadableParts {
    const sources = [this.#source, ...this.#extra.map((x) => x.source)]
      .filter((s) => s !== undefined && s.source !== "none")
      .map((s) => ({
        source: s.source,
        engine: s.source === "syscall" ? "modern_bpf" : "source_plugin",
      }));
    const state = this.#state?.state;
    return {
      sources,
      rules: (this.#rules.catalog ?? []).filter((r) => r.enabled),
      kernel: this.#source?.stats?.().kernel,
      state: state instanceof StateStore ? state : undefined,
    };
  }

  /** Falco's names on /metrics and the periodic snapshots, as the config asks. */
  #startFalcoMetrics(c: Config): void {
    const options = falcoMetricsOptions(c);
    if (c.webserver.prometheus_falco_metrics) {
      this.#falcoText = this.registry.addText(() => prometheusText(this.#falco.read(), options));
    }
    if (c.metrics.enabled && (c.metrics.output_rule || c.metrics.output_file)) {
      this.#snapshots = new MetricsSnapshots({
        intervalMs: c.metrics.interval * 1000,
        outputRule: c.metrics.output_rule,
        outputFile: c.metrics.output_file,
        reader: this.#falco,
        composer: new SnapshotComposer(options),
        sources: () => this.#falcoParts().sources.map((s) => s.source),
        publish: (a) => this.#fanout.publish(a),
      });
      this.#snapshots.start();
    }
  }

  async #stopFalcoMetrics(): Promise<void> {
    this.#falcoText?.();
    this.#falcoText = undefined;
    await this.#snapshots?.stop();
    this.#snapshots = undefined;
  }

  #makeDropMonitor(c: Config): DropMonitor | undefined {
    const d = c.syscall_event_drops;
    const stats = this.#source.stats?.bind(this.#source);
    if (!stats && !d.simulate_drops) return undefined;
    return new DropMonitor({
      threshold: d.threshold,
      actions: d.actions,
      rate: d.rate,
      maxBurst: d.max_burst,
      simulateDrops: d.simulate_drops,
      counters: () => {
        const s = stats?.();
        const drops = s?.drops ?? 0;
        return { events: (s?.events ?? s?.received ?? 0) + drops, drops };
      },
      alert: (a) => this.#fanout.publish(a),
      exit: (reason) => this.stop(1, reason),
    });
  }

  /** Raises an internal alert (source "internal"). */
  internalAlert(
    rule: string,
    priority: Priority,
    output: string,
    fields: Record<string, string>,
  ): void {
    const alert: Alert = {
      time: BigInt(Date.now()) * 1_000_000n,
      rule,
      priority,
      source: INTERNAL_SOURCE,
      tags: [],
      output,
      outputFields: fields,
    };
    this.#fanout.publish(alert);
  }

  #watch(): void {
    const paths = [...this.#rulesFiles(this.config), ...this.#rules.files];
    if (this.#deps.reloadConfig) paths.push(...(this.#deps.configFiles ?? []));
    this.#watcher?.close();
    this.#watcher = new FileWatcher([...new Set(paths)], (changed) => {
      log.info("watched files changed; reloading", { files: changed.join(",") });
      this.reload("file change");
    });
  }

  #installSignals(): void {
    const on = (sig: Deno.Signal, f: () => void) => {
      Deno.addSignalListener(sig, f);
      this.#signals.push([sig, f]);
    };
    on("SIGHUP", () => {
      log.info("SIGHUP: reloading");
      this.reload("SIGHUP");
    });
    on("SIGUSR1", () => {
      log.info("SIGUSR1: reopening outputs");
      this.#fanout.reopen();
    });
    on("SIGINT", () => this.stop(0, "SIGINT"));
    on("SIGTERM", () => this.stop(0, "SIGTERM"));
  }

  /**
   * Reloads the config (when the agent can) and the rules. Resolves true when the new rules run,
   * false when they were rejected (the old ones keep running). Reloads asked for while one runs
   * are merged into one more.
   */
  reload(reason = "request"): Promise<boolean> {
    if (this.#stopping) return Promise.resolve(false);
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      let ok = false;
      do {
        this.#reloadAgain = false;
        ok = await this.#reloadOnce(reason);
      } while (this.#reloadAgain && !this.#stopping);
      return ok;
    })().finally(() => this.#reloading = undefined);
    return this.#reloading;
  }

  async #reloadOnce(reason: string): Promise<boolean> {
    const outcome = this.registry.counter("saker_reloads_total", "", ["result"]);
    let next = this.config;
    if (this.#deps.reloadConfig) {
      try {
        next = (await this.#deps.reloadConfig()).config;
      } catch (err) {
        return this.#rejectReload(reason, err, "config");
      }
    }
    let rules: BuiltRules;
    try {
      rules = await this.#deps.buildRules(this.#rulesFiles(next), {
        ...rulesOptions(next, this.#deps.configFiles),
        sequenceStores: this.#rules.sequenceStores,
      });
    } catch (err) {
      return this.#rejectReload(reason, err, "rules");
    }
    if (this.#stopping) return false;
    this.#logWarnings(rules.warnings);

    // Let the kernel deliver what both rulesets need while they change places: the syscalls of
    // both, no predicate; then the new filter (syscalls and predicates switch at once).
    const oldSys = kernelFilter(this.#rules, this.config).syscalls;
    const nextFilter = kernelFilter(rules, next);
    const newSys = nextFilter.syscalls;
    logSyscallChoice(rules.syscalls, next.base_syscalls);
    const both = oldSys === "all" || newSys === "all" ? "all" : new Set([...oldSys, ...newSys]);
    const src = this.#source;
    const setFilter = src.setKernelFilter
      ? (names: ReadonlySet<string> | "all", p?: KernelPrograms) => src.setKernelFilter!(names, p)
      : src.setSyscalls
      ? (names: ReadonlySet<string> | "all") => src.setSyscalls!(names)
      : undefined;
    setFilter?.(both, undefined);
    this.#state?.setFdHistory?.(nextFilter.fdHistory);
    this.#pipeline.setRuleset(this.#mainEvaluator(rules));
    for (const x of this.#extra) x.pipeline.setRuleset(evaluatorFor(rules, x.source.source));
    setFilter?.(newSys, nextFilter.programs);
    logKernelFilter(nextFilter);
    this.#rules = rules;
    this.#applyDeny(rules, next);
    this.#registerSequenceMetrics();

    await this.#applyConfig(next);
    await this.#falco.loaded(rules.files, this.#deps.configFiles ?? []);
    this.reloads++;
    outcome.labels("ok").inc();
    this.#reloaded(reason);
    collectGarbageSoon();
    log.info("rules reloaded", { reason, rules: rules.ruleCount });
    return true;
  }

  #rejectReload(reason: string, err: unknown, what: "config" | "rules"): boolean {
    this.rejectedReloads++;
    this.registry.counter("saker_reloads_total", "", ["result"]).labels("rejected").inc();
    const problems = err instanceof RulesError
      ? err.problems
      : (err as { problems?: string[] }).problems ?? [(err as Error).message];
    this.#reloaded(reason, `${what}: ${problems[0].split("\n")[0]}`);
    log.error(`${what} reload rejected; the running rules stay in place`, {
      reason,
      errors: problems.length,
    });
    for (const p of problems) log.error(`${what} error`, { error: p });
    this.internalAlert(
      RELOAD_FAILED_RULE,
      "Error",
      `Saker internal: ${what} reload rejected, the previous rules keep running ` +
        `(${problems.length} error${problems.length === 1 ? "" : "s"}, first: ${
          problems[0].split("\n")[0]
        })`,
      { errors: problems.join("\n"), reason, kind: what },
    );
    return false;
  }

  /** Applies what can change without a restart; names what cannot. */
  async #applyConfig(next: Config): Promise<void> {
    const prev = this.config;
    this.config = next;
    if (prev === next) return;
    applyLogging(next);
    this.#aggregator.configure(aggregatorOptions(next));
    this.#response.configure(next.response);
    if (OUTPUT_KEYS.some((k) => !sameJson(prev[k], next[k]))) {
      try {
        const fresh = buildFanout(
          next,
          await channelOutputs(next, this.registry),
          this.#store,
          this.live,
          this.hostname,
          this.registry,
          this.#aggregator,
        );
        const old = this.#fanout;
        this.#fanout = fresh;
        old.close(next.outputs_queue.flush_timeout * 1000).catch(() => {});
        log.info("outputs rebuilt from the new config");
      } catch (err) {
        log.error("outputs not rebuilt; the previous ones stay", { error: err });
      }
    }
    if (
      !sameJson(prev.metrics, next.metrics) ||
      prev.webserver.prometheus_falco_metrics !== next.webserver.prometheus_falco_metrics
    ) {
      await this.#stopFalcoMetrics();
      this.#startFalcoMetrics(next);
    }
    if (!sameJson(prev.syscall_event_drops, next.syscall_event_drops)) {
      this.#drops = this.#makeDropMonitor(next);
    }
    const restartKeys = [
      "webserver",
      "kernel",
      "alert_store",
      "plugins",
      "load_plugins",
      "collector",
      "hostname",
    ] as const;
    for (const k of restartKeys) {
      if (!sameJson(prev[k], next[k])) log.warn("config change needs a restart", { key: k });
    }
    if (next.watch_config_files) this.#watch();
    else this.#watcher?.close();
  }

  /**
   * Stops: detach the source, finish in-flight events, flush every output queue (within
   * outputs_queue.flush_timeout), close the store and the server. Resolves with the exit code.
   */
  stop(code = 0, why?: string): Promise<number> {
    if (this.#stopping) return this.#stopping;
    if (why) log.info(`${why}: stopping`);
    this.#exitCode = code;
    this.#stopping = this.#teardown().then(() => {
      this.#done.resolve(this.#exitCode);
      return this.#exitCode;
    });
    return this.#stopping;
  }

  async #teardown(): Promise<void> {
    this.#watcher?.close();
    for (const [sig, f] of this.#signals) Deno.removeSignalListener(sig, f);
    this.#signals = [];
    if (this.#source) {
      await this.#source.close();
      await this.#running;
    }
    for (const s of this.#extraSources) await s.close();
    for (const x of this.#extra) await x.running;
    await this.#collector?.close();
    this.#drops?.logSummary();
    await this.#stopFalcoMetrics();
    await this.#capture?.close();
    await this.#state?.close?.();
    if (this.#response) {
      // Actions under way (container calls, commands) end, or the flush deadline passes.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise((r) => {
        timer = setTimeout(r, this.config.outputs_queue.flush_timeout * 1000);
      });
      await Promise.race([this.#response.settled(), deadline]);
      clearTimeout(timer);
      this.#response.close();
    }
    if (this.#fanout) {
      const t0 = Date.now();
      // Every open window's repeats go out as summaries: nothing counted is left unsent.
      this.#fanout.flushAggregates();
      await this.#fanout.close(this.config.outputs_queue.flush_timeout * 1000);
      log.info("outputs flushed", { ms: Date.now() - t0 });
    }
    if (this.#store) {
      this.#store.close();
      log.info("alert store closed", { path: this.config.alert_store.path });
    }
    this.live.closeAll();
    await this.#server?.shutdown();
  }
}

/** The uid of a user name in the host's passwd file (under the host root), for the probe. */
function hostUid(name: string): number | undefined {
  const root = hostRootFrom(Deno.env.get("SAKER_HOST_ROOT"));
  let text = "";
  try {
    text = Deno.readTextFileSync(onHost(root, "/etc/passwd"));
  } catch { /* unreadable: no name is known */ }
  for (const e of parsePasswd(text).values()) if (e.name === name) return e.id;
  return undefined;
}

/** A path with its symbolic links followed (under the host root), or as given. */
function realOr(path: string): string {
  const root = hostRootFrom(Deno.env.get("SAKER_HOST_ROOT"));
  try {
    const r = Deno.realPathSync(onHost(root, path));
    return root === "/" ? r : r.startsWith(root + "/") ? r.slice(root.length) : path;
  } catch {
    return path;
  }
}

/** The thread table of a state tracker that has one (the StateStore), for capture headers. */
function threadTable(state: StateTracker | undefined): ThreadTable | undefined {
  return state && "threads" in state ? state as unknown as ThreadTable : undefined;
}

/** The evaluator type, re-exported for callers building agents. */
export type { Evaluator };
