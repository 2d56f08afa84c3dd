/**
 * Falco's capture feature: when a rule marked `capture: true` fires (or any rule, in
 * `all_rules` mode), the events around the alert are saved to a capture file named after it.
 *
 * A capture starts with the events of the last `pre_duration` before the alert (kept as
 * references to recent batches, no copies) and goes on until `capture_duration` (the rule's,
 * else `default_duration`) after the alert; an alert during a capture extends it (the longest
 * deadline wins). `max_file_size_mb` stops a capture early. Times are event times, so replays
 * capture the same events as the live run did.
 *
 * Hooking it in: the recorder wraps the rules evaluator (to see each alert with its event) and
 * takes each batch after evaluation:
 *
 * ```ts
 * const rec = new CaptureRecorder(settings, { state });
 * const pipeline = new Pipeline({ ..., ruleset: rec.wrap(ruleset),
 *   afterBatch: (b) => rec.afterBatch(b) });
 * // on reload: pipeline.setRuleset(rec.wrap(next)); at the end: await rec.close();
 * ```
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import type { Event } from "../events/event.ts";
import type { Evaluator } from "./pipeline.ts";
import type { ScapEventFormat } from "../capture/writer.ts";
import { ScapWriter } from "../capture/writer.ts";
import type { ScapGroup, ScapUser } from "../capture/metadata.ts";
import {
  hostInterfaces,
  hostMachineInfo,
  hostUsers,
  stateLists,
  type ThreadTable,
} from "../capture/snapshot.ts";
import { log } from "../log.ts";
import { type Counter, type Family, metrics as globalMetrics, type Registry } from "../metrics.ts";

/**
 * Settings of the capture feature (Falco's `capture:` section, plus Saker's extensions; read and
 * checked with the rest of the config, src/config/capture_section.ts).
 */
export interface CaptureSettings {
  enabled: boolean;
  /** Files are `<path_prefix>_<event time ns>_<event number>_<rule>.scap`. */
  pathPrefix: string;
  /** `rules`: rules with `capture: true`; `all_rules`: every rule. */
  mode: "rules" | "all_rules";
  /** Capture length after an alert when the rule sets none, ms. */
  defaultDurationMs: number;
  /** Hard cap on a capture file's size, MB (0: none). */
  maxFileSizeMb: number;
  /** Saker: events kept from before the alert, ms (default 1000). */
  preDurationMs: number;
  /** Saker: event format of the files (default `current`, see writer.ts). */
  format: ScapEventFormat;
  /** A group allowed to read the files (mode 0640); default: owner only (0600). */
  group?: number;
}

/** The capture-related part of a compiled rule. */
interface RuleCapture {
  capture: boolean;
  captureDuration: number;
}

/** A ruleset that exposes its rules (src/rules/ruleset.ts Ruleset). */
interface WithRules {
  readonly rules: readonly ({ name: string } & RuleCapture)[];
}

/** A capture file being written. */
interface ActiveCapture {
  path: string;
  rule: string;
  /** Events up to this time (ns) belong to the capture. */
  deadline: bigint;
  writer: Promise<ScapWriter>;
  events: number;
  stopped: boolean;
  /** Stopped by the size cap. */
  capped: boolean;
}

/** Options of a {@link CaptureRecorder}. */
export interface RecorderOptions {
  /** State whose threads and fds start each file (a live agent's store, or a replay's). */
  state?: ThreadTable;
  registry?: Registry;
  /** Called when a capture file is complete. */
  onFile?: (path: string, info: { rule: string; events: number; reason: string }) => void;
  /** Most events queued for writing before a capture is cut short (slow disk). */
  maxQueuedEvents?: number;
  /**
   * The user and group lists each file carries, so that a file replayed alone names the same
   * users: the host's (/etc/passwd, /etc/group) by default; a replay passes its file's lists.
   */
  users?: () => { users: ScapUser[]; groups: ScapGroup[] };
}

const NS_PER_MS = 1_000_000n;

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) ||
    "rule";
}

/** Records captures around alerts. */
export class CaptureRecorder {
  readonly settings: CaptureSettings;
  #state: ThreadTable | undefined;
  #onFile: RecorderOptions["onFile"];
  readonly #users: () => { users: ScapUser[]; groups: ScapGroup[] };
  #maxQueued: number;
  /** Recent batches (newest last), for the events before an alert. */
  #recent: Event[][] = [];
  #recentEvents = 0;
  /** Alerts of the current batch that start or extend a capture: [event, rule, duration]. */
  #triggers: { ev: Event; rule: string; durationNs: bigint }[] = [];
  #active: ActiveCapture | undefined;
  #chain: Promise<void> = Promise.resolve();
  #queued = 0;
  #captureRules = new Map<string, RuleCapture>();
  readonly #files: Family<Counter>;
  readonly #written: Family<Counter>;
  readonly #cut: Family<Counter>;
  /** Paths of the files written so far. */
  readonly files: string[] = [];

  constructor(settings: CaptureSettings, opts: RecorderOptions = {}) {
    this.settings = settings;
    this.#state = opts.state;
    this.#users = opts.users ?? hostUsers;
    this.#onFile = opts.onFile;
    this.#maxQueued = opts.maxQueuedEvents ?? 1_000_000;
    const reg = opts.registry ?? globalMetrics;
    this.#files = reg.counter("saker_capture_files_total", "Capture files written around alerts.");
    this.#written = reg.counter(
      "saker_capture_events_total",
      "Events written into capture files around alerts.",
    );
    this.#cut = reg.counter(
      "saker_capture_cut_total",
      "Captures stopped early, by reason (size cap, write backlog).",
      ["reason"],
    );
  }

  /**
   * Wraps an evaluator so that the recorder sees each alert with its event. Call again with
   * each new ruleset (reload); rules' `capture` and `capture_duration` are read from it.
   */
  wrap(inner: Evaluator): Evaluator {
    // A Ruleset has its rules; an evaluator wrapping one has it as `ruleset`.
    const withRules = (inner as Partial<WithRules>).rules
      ? inner as unknown as WithRules
      : (inner as { ruleset?: Partial<WithRules> }).ruleset;
    const rules = withRules?.rules ?? [];
    this.#captureRules = new Map(rules.map((r) => [r.name, r]));
    const triggers = this.#triggers;
    const mode = this.settings.mode;
    const def = BigInt(Math.round(this.settings.defaultDurationMs)) * NS_PER_MS;
    const captureRules = this.#captureRules;
    return {
      evaluate(ev, emit) {
        inner.evaluate(ev, (a: Alert) => {
          emit(a);
          const r = captureRules.get(a.rule);
          if (mode === "rules" && !r?.capture) return;
          const ms = r && r.captureDuration > 0 ? BigInt(r.captureDuration) * NS_PER_MS : def;
          triggers.push({ ev, rule: a.rule, durationNs: ms });
        });
      },
    };
  }

  /** Takes a batch after its evaluation: starts, feeds and ends captures. */
  afterBatch(batch: Event[]): void {
    if (batch.length === 0) return;
    let from = 0;
    for (const t of this.#triggers) {
      const end = t.ev.ts + t.durationNs;
      const a = this.#active;
      if (a && !a.stopped) {
        if (end > a.deadline) a.deadline = end;
        continue;
      }
      // A new capture: the recent events within the pre-trigger window, then this batch.
      this.#start(t.ev, t.rule, end);
      const since = t.ev.ts - BigInt(Math.round(this.settings.preDurationMs)) * NS_PER_MS;
      for (const b of this.#recent) this.#write(b.filter((e) => e.ts >= since));
      from = batch.findIndex((e) => e.ts >= since);
      if (from < 0) from = batch.length;
    }
    this.#triggers.length = 0;
    const a = this.#active;
    if (a && !a.stopped) {
      let n = from;
      while (n < batch.length && batch[n].ts <= a.deadline) n++;
      this.#write(from === 0 && n === batch.length ? batch : batch.slice(from, n));
      if (n < batch.length) this.#stop("duration");
    }
    this.#remember(batch);
  }

  #remember(batch: Event[]): void {
    const pre = BigInt(Math.round(this.settings.preDurationMs)) * NS_PER_MS;
    if (pre === 0n) return;
    this.#recent.push(batch);
    this.#recentEvents += batch.length;
    const newest = batch[batch.length - 1].ts;
    while (this.#recent.length > 1) {
      const head = this.#recent[0];
      const old = newest - head[head.length - 1].ts > pre;
      if (!old && this.#recentEvents - head.length < 200_000) break;
      this.#recent.shift();
      this.#recentEvents -= head.length;
      if (!old) break;
    }
  }

  #start(ev: Event, rule: string, deadline: bigint): void {
    const s = this.settings;
    const path = `${s.pathPrefix}_${String(ev.ts).padStart(20, "0")}_${
      String(ev.num).padStart(20, "0")
    }_${slug(rule)}.scap`;
    const lists = this.#state ? stateLists(this.#state) : { threads: [], fds: [] };
    const { users, groups } = this.#users();
    const writer = ScapWriter.create(path, {
      machine: hostMachineInfo(),
      interfaces: hostInterfaces(),
      users,
      groups,
      threads: lists.threads,
      fds: lists.fds,
      format: s.format,
      flushBytes: 256 << 10,
      group: s.group,
    });
    // Errors surface when the capture is written to; keep the rejection handled meanwhile.
    writer.catch(() => {});
    this.#active = { path, rule, deadline, writer, events: 0, stopped: false, capped: false };
    log.info("capture started", { rule, file: path });
  }

  #write(events: Event[]): void {
    const a = this.#active;
    if (!a || a.stopped || events.length === 0) return;
    if (this.#queued + events.length > this.#maxQueued) {
      this.#cut.labels("backlog").inc();
      this.#stop("write backlog");
      return;
    }
    this.#queued += events.length;
    const cap = this.settings.maxFileSizeMb * 1024 * 1024;
    this.#chain = this.#chain.then(async () => {
      const w = await a.writer;
      // The size cap is hard for whole batches: a batch starts only below it.
      if (cap > 0 && w.size >= cap) {
        if (!a.capped) {
          a.capped = true;
          this.#cut.labels("size").inc();
          log.info("capture stopped at max_file_size_mb", { file: a.path, bytes: w.size });
          this.#stop("size", a);
        }
        return;
      }
      await w.writeBatch(events);
      a.events += events.length;
      this.#written.inc(events.length);
    }).catch((err) => {
      log.error("capture write failed", { file: a.path, error: err });
    }).finally(() => {
      this.#queued -= events.length;
    });
  }

  #stop(reason: string, which = this.#active): void {
    const a = which;
    if (!a || a.stopped) return;
    a.stopped = true;
    if (this.#active === a) this.#active = undefined;
    this.#chain = this.#chain.then(async () => {
      try {
        const w = await a.writer;
        await w.close();
        this.files.push(a.path);
        this.#files.inc();
        log.info("capture written", { rule: a.rule, file: a.path, events: a.events, reason });
        this.#onFile?.(a.path, { rule: a.rule, events: a.events, reason });
      } catch (err) {
        log.error("capture failed", { file: a.path, error: err });
      }
    });
  }

  /** Ends the running capture (end of input, shutdown) and waits for the files. */
  async close(): Promise<void> {
    this.#stop("end of events");
    await this.#chain;
  }
}
