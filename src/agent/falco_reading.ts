/**
 * One reading of the running agent for Falco's metrics (falco_metrics.ts): counters from the
 * metrics registry (alerts per rule, events per source, output drops), the kernel probe's
 * counters, the state tables, the containers with a process, the agent's and host's resource
 * use, and the rules and config files with their SHA-256. Nothing here is on the event path: a
 * reading is taken when /metrics is scraped or a snapshot is due.
 *
 * @example
 * ```ts
 * import { FalcoReader } from "./falco_reading.ts";
 * import { metrics } from "../metrics.ts";
 * const reader = new FalcoReader({ registry: metrics, hostname: "node-1", parts: () => ({
 *   sources: [], rules: [] }) });
 * reader.read().hostname; // "node-1"
 * ```
 * @module
 */
import type { Registry } from "../metrics.ts";
import type { FalcoInput, KernelCounts, StateCounts } from "./falco_metrics.ts";
import { readResources } from "./resources.ts";
import { SAKER_VERSION } from "../version.ts";
import { INTERNAL_SOURCE } from "../outputs/format.ts";
import { PRIORITIES, type Priority } from "../rules/alert.ts";
import type { StateStore } from "../state/store.ts";

/** A rule as the metrics name it. */
export interface RuleInfo {
  name: string;
  source: string;
  priority: Priority;
  tags: readonly string[];
}

/** The running parts a reading looks at (they change on reload). */
export interface ReadableParts {
  /** Event sources running, with the engine behind each. */
  sources: { source: string; engine: string }[];
  /** The rules loaded (for tags and priorities). */
  rules: readonly RuleInfo[];
  kernel?: KernelCounts;
  state?: StateStore;
}

/** Options of a reader. */
export interface FalcoReaderOptions {
  registry: Registry;
  hostname: string;
  parts: () => ReadableParts;
  /** Where the host's / is seen (its /proc when the agent runs in a container). */
  hostRoot?: string;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

async function sha256(path: string): Promise<string | undefined> {
  try {
    const bytes = await Deno.readFile(path);
    const d = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
  } catch {
    return undefined;
  }
}

async function hashes(paths: readonly string[]): Promise<{ name: string; sha256: string }[]> {
  const out: { name: string; sha256: string }[] = [];
  for (const name of paths) {
    const h = await sha256(name);
    if (h) out.push({ name, sha256: h });
  }
  return out;
}

/** Counts of the state tables (Falco's libsinsp names, for the counters Saker keeps). */
export function stateCounts(s: StateStore): StateCounts {
  let fds = 0;
  for (const p of s.procs.values()) fds += p.fds.size;
  return {
    n_threads: s.threads.size,
    n_fds: fds,
    n_failed_fd_lookups: s.stats.fdMisses,
    n_noncached_thread_lookups: s.stats.threadsFromProc,
    n_failed_thread_lookups: s.stats.threadMisses,
    n_added_threads: s.stats.threadsCreated + s.stats.threadsFromProc,
    n_removed_threads: s.stats.threadsRemoved + s.stats.threadsPurged,
    n_drops_full_threadtable: s.stats.threadsDropped,
  };
}

/** Containers with a process now, and those whose image is not known. */
export function containerCounts(s: StateStore): { count: number; missingImages: number } {
  const ids = new Set<string>();
  for (const p of s.procs.values()) if (p.containerId) ids.add(p.containerId);
  let missing = 0;
  for (const id of ids) if (!s.container(id)?.image) missing++;
  return { count: ids.size, missingImages: missing };
}

function interfaces(): FalcoInput["interfaces"] {
  const byName = new Map<string, { name: string; ipv4: string[]; ipv6: string[] }>();
  try {
    for (const i of Deno.networkInterfaces()) {
      if (i.name === "lo") continue;
      let e = byName.get(i.name);
      if (!e) byName.set(i.name, e = { name: i.name, ipv4: [], ipv6: [] });
      (i.family === "IPv4" ? e.ipv4 : e.ipv6).push(i.address);
    }
  } catch { /* no permission: none listed */ }
  return [...byName.values()];
}

/** Takes readings of the agent. */
export class FalcoReader {
  readonly startNs = nowNs();
  reloadNs = this.startNs;
  #rulesFiles: { name: string; sha256: string }[] = [];
  #configFiles: { name: string; sha256: string }[] = [];

  constructor(readonly options: FalcoReaderOptions) {}

  /** Notes a (re)load: its time and the files loaded, hashed now. */
  async loaded(rulesFiles: readonly string[], configFiles: readonly string[]): Promise<void> {
    this.reloadNs = nowNs();
    this.#rulesFiles = await hashes(rulesFiles);
    this.#configFiles = await hashes(configFiles);
  }

  /** One reading. */
  read(): FalcoInput {
    const o = this.options;
    const parts = o.parts();
    const family = (name: string) => o.registry.family(name)?.entries() ?? [];
    const processed = new Map(
      family("saker_events_processed_total").map((e) => [e.labels[0], e.value]),
    );
    const known = new Map(parts.rules.map((r) => [`${r.source}\0${r.name}`, r]));
    const rules: FalcoInput["rules"] = [];
    for (const e of family("saker_alerts_total")) {
      const [name, priority, source] = e.labels;
      if (source === INTERNAL_SOURCE) continue;
      const info = known.get(`${source}\0${name}`);
      rules.push({
        name,
        source,
        priority: PRIORITIES.indexOf(priority as Priority),
        tags: info?.tags ?? [],
        count: e.value,
      });
    }
    return {
      version: SAKER_VERSION,
      hostname: o.hostname,
      kernelRelease: Deno.osRelease(),
      startNs: this.startNs,
      reloadNs: this.reloadNs,
      nowNs: nowNs(),
      outputsQueueDrops: family("saker_output_dropped_total").reduce((n, e) => n + e.value, 0),
      rulesFiles: this.#rulesFiles,
      configFiles: this.#configFiles,
      sources: parts.sources.map((s) => ({ ...s, events: processed.get(s.source) ?? 0 })),
      rules,
      resources: readResources(o.hostRoot),
      state: parts.state ? stateCounts(parts.state) : undefined,
      kernel: parts.kernel,
      containers: parts.state ? containerCounts(parts.state) : undefined,
      interfaces: interfaces(),
    };
  }
}
