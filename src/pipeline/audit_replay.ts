/**
 * Replaying a file of Kubernetes audit events through the rules: the file source feeds the same
 * pipeline as live events (src/pipeline/pipeline.ts), with a ruleset of `source: k8s_audit` rules.
 * Used by `saker replay` (which tells audit files from capture files by their first bytes), the
 * conformance suite and the benchmark.
 *
 * @example
 * ```ts
 * import { replayAuditFile } from "./audit_replay.ts";
 * import { compileRuleset } from "../rules/ruleset.ts";
 * import { loadRulesFiles } from "../rules/loader.ts";
 * const rules = await loadRulesFiles(["k8s_audit_rules.yaml"]);
 * const ruleset = compileRuleset(rules, { source: "k8s_audit" });
 * const res = await replayAuditFile("audit.jsonl", { evaluator: ruleset, onAlerts: console.log });
 * console.log(res.events, res.alerts, res.rejected);
 * ```
 * @module
 */
import type { Alert } from "../rules/alert.ts";
import { type Evaluator, Pipeline } from "./pipeline.ts";
import { Registry } from "../metrics.ts";
import { openAuditFileSource } from "../sources/k8saudit_file.ts";
import type { IngestError } from "../k8saudit/ingest.ts";
import type { AuditEvent } from "../k8saudit/audit_event.ts";

/**
 * Whether `path` holds Kubernetes audit events rather than a capture: a directory, or a file
 * whose first non-blank character (after gunzip) opens a JSON object or array.
 */
export async function isAuditInput(path: string): Promise<boolean> {
  const info = await Deno.stat(path);
  if (info.isDirectory) return true;
  const file = await Deno.open(path);
  try {
    let head = new Uint8Array(4096);
    const n = await file.read(head) ?? 0;
    head = head.subarray(0, n);
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      await file.seek(0, Deno.SeekMode.Start);
      const reader = file.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
      try {
        const first = await reader.read();
        head = first.value ?? new Uint8Array(0);
      } catch {
        return false;
      } finally {
        reader.cancel().catch(() => {});
      }
    }
    for (const b of head) {
      if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
      return b === 0x7b || b === 0x5b; // { or [
    }
    return false;
  } finally {
    try {
      file.close();
    } catch { /* closed by its stream */ }
  }
}

/** Options of {@link replayAuditFile}. */
export interface AuditReplayOptions {
  /** The rules (a ruleset of source k8s_audit); without one, events are only read. */
  evaluator?: Evaluator;
  /** Receives each batch's alerts. */
  onAlerts?: (alerts: Alert[]) => void;
  /** Sees each event first; false skips its evaluation (and onEvent). */
  filter?: (ev: AuditEvent) => boolean;
  /** Sees each event after it was evaluated (printing). */
  onEvent?: (ev: AuditEvent) => void;
  /** Called after each batch. */
  afterBatch?: () => void;
  /** Receives each line or item not taken (default: a rate-limited log warning). */
  onError?: (e: IngestError) => void;
  /** Events per batch (default 1024). */
  batchSize?: number;
  /** Largest audit record, characters of compact JSON (the plugin's maxEventSize). */
  maxEventBytes?: number;
}

/** What a replay did. */
export interface AuditReplayResult {
  events: number;
  alerts: number;
  /** Lines or items that were not audit events. */
  rejected: number;
  seconds: number;
}

const NO_RULES: Evaluator = { evaluate() {} };

/** Replays an audit file (or a directory of them); resolves when it has been read. */
export async function replayAuditFile(
  path: string,
  opts: AuditReplayOptions = {},
): Promise<AuditReplayResult> {
  const registry = new Registry();
  const source = await openAuditFileSource(path, {
    batchSize: opts.batchSize,
    maxEventBytes: opts.maxEventBytes,
    onError: opts.onError,
    registry,
  });
  const evaluator = opts.evaluator ?? NO_RULES;
  const { filter, onEvent } = opts;
  let alerts = 0;
  const t0 = performance.now();
  const pipeline = new Pipeline({
    source,
    ruleset: filter || onEvent
      ? {
        evaluate(ev, emit) {
          if (filter && !filter(ev as AuditEvent)) return;
          evaluator.evaluate(ev, emit);
          onEvent?.(ev as AuditEvent);
        },
      }
      : evaluator,
    onAlerts: (a) => {
      alerts += a.length;
      opts.onAlerts?.(a);
    },
    afterBatch: opts.afterBatch,
    registry,
  });
  await pipeline.run();
  const s = source.stats();
  return {
    events: s.received,
    alerts,
    rejected: s.rejected,
    seconds: (performance.now() - t0) / 1000,
  };
}
