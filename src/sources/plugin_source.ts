/**
 * A plugin's `open` as an event source: the batches its async iterable yields become batches of
 * {@link PluginEvent}s, numbered from 1, read only as fast as the pipeline takes them (the
 * iterable is pulled, so a slow pipeline slows the plugin instead of queueing without bound).
 * Everything the plugin does wrong is contained: an event without a payload or with an
 * unreadable time is skipped, an `open` that throws ends the source, each counted in
 * `saker_plugin_errors_total{plugin,stage}` and logged with the plugin's name; the stream then
 * simply ends and the agent runs on.
 *
 * @example
 * ```ts
 * import { openPluginSource } from "./plugin_source.ts";
 * const src = openPluginSource({
 *   name: "demo", version: "1.0.0", source: "demo",
 *   async *open() { yield [{ data: '{"a":1}', ts: 1000n }]; },
 * }, "");
 * for await (const batch of src.readable) batch[0].num; // 1
 * ```
 * @module
 */
import { PluginEvent } from "../events/plugin_event.ts";
import type { OpenContext, Plugin, PluginEventInput } from "../plugins/api.ts";
import { parseRfc3339 } from "../k8saudit/audit_event.ts";
import { pluginError } from "../rules/fields/plugin.ts";
import { log } from "../log.ts";
import type { EventBatch, EventSource } from "./source.ts";

/** Options of {@link openPluginSource}. */
export interface PluginSourceOptions {
  /** Serves a plugin's webhook on the agent's server (absent: no server). */
  mount?: OpenContext["mount"];
  /** Sees every failure after it is counted (`stage`: open, event, summary). */
  onError?: (stage: string, err: unknown) => void;
}

/** A plugin's source, with its counts. */
export interface PluginSource extends EventSource {
  /** Events handed on, events skipped as bad. */
  stats(): { received: number; bad: number };
  /** Resolves when the plugin's iterable has ended (or failed). */
  readonly ended: Promise<void>;
}

const decoder = new TextDecoder();

/** An input's time in ns since the epoch; undefined when unreadable. */
export function inputTime(ts: PluginEventInput["ts"], now: () => bigint): bigint | undefined {
  if (ts === undefined) return now();
  if (typeof ts === "bigint") return ts >= 0n ? ts : undefined;
  if (typeof ts === "number") {
    return Number.isFinite(ts) && ts >= 0 ? BigInt(Math.round(ts * 1e6)) : undefined;
  }
  if (ts instanceof Date) {
    const ms = ts.getTime();
    return Number.isFinite(ms) ? BigInt(ms) * 1_000_000n : undefined;
  }
  if (typeof ts === "string") return parseRfc3339(ts);
  return undefined;
}

/** Opens `plugin` on `params` (its `init` has run already). */
export function openPluginSource(
  plugin: Plugin,
  params: string,
  opts: PluginSourceOptions = {},
): PluginSource {
  if (!plugin.open || !plugin.source) throw new Error(`plugin ${plugin.name} has no event source`);
  const source = plugin.source;
  const fail = (stage: string, err: unknown) => {
    pluginError(plugin.name, stage, err);
    opts.onError?.(stage, err);
  };
  const abort = new AbortController();
  const ctx: OpenContext = {
    signal: abort.signal,
    log: (level, message, fields) => {
      const f = { ...fields, plugin: plugin.name };
      if (level === "error") log.error(message, f);
      else if (level === "warning") log.warn(message, f);
      else log.info(message, f);
    },
    mount: opts.mount,
  };
  const summary = plugin.summary
    ? (ev: PluginEvent) => {
      try {
        return plugin.summary!(ev);
      } catch (err) {
        fail("summary", err);
        return undefined;
      }
    }
    : undefined;
  let received = 0, bad = 0, num = 0;
  const now = () => BigInt(Date.now()) * 1_000_000n;
  const toEvent = (x: unknown): PluginEvent | undefined => {
    if (x instanceof PluginEvent) {
      if (x.source !== source) return undefined;
      x.num = ++num;
      return x;
    }
    if (x === null || typeof x !== "object") return undefined;
    const input = x as PluginEventInput;
    const ts = inputTime(input.ts, now);
    if (ts === undefined) return undefined;
    let data: string | undefined;
    if (typeof input.data === "string") data = input.data;
    else if (input.data instanceof Uint8Array) data = decoder.decode(input.data);
    else if (input.data !== undefined) return undefined;
    if (data === undefined && input.value === undefined) return undefined;
    return new PluginEvent({
      source,
      plugin: plugin.name,
      ts,
      num: ++num,
      data,
      ...(input.value !== undefined ? { value: input.value } : {}),
      summary,
    });
  };
  let iterator: AsyncIterator<PluginEventInput[]> | undefined;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => resolveEnded = r);
  const finish = (controller: ReadableStreamDefaultController<EventBatch>) => {
    resolveEnded();
    try {
      controller.close();
    } catch { /* closed already */ }
  };
  const readable = new ReadableStream<EventBatch>({
    start() {
      try {
        iterator = plugin.open!(params, ctx)[Symbol.asyncIterator]();
      } catch (err) {
        fail("open", err);
      }
    },
    async pull(controller) {
      for (;;) {
        if (!iterator || abort.signal.aborted) return finish(controller);
        let step: IteratorResult<PluginEventInput[]>;
        try {
          step = await iterator.next();
        } catch (err) {
          if (!abort.signal.aborted) fail("open", err);
          return finish(controller);
        }
        if (step.done) {
          log.debug("plugin source ended", { plugin: plugin.name, events: received });
          return finish(controller);
        }
        const batch: EventBatch = [];
        for (const x of Array.isArray(step.value) ? step.value : [step.value]) {
          const ev = toEvent(x);
          if (ev) batch.push(ev);
          else {
            bad++;
            fail("event", new Error("an event without a payload or a readable time"));
          }
        }
        received += batch.length;
        if (batch.length > 0) {
          controller.enqueue(batch);
          return;
        }
      }
    },
    async cancel() {
      abort.abort();
      await iterator?.return?.().catch(() => {});
      resolveEnded();
    },
  }, { highWaterMark: 1 });
  return {
    source,
    readable,
    ended,
    stats: () => ({ received, bad }),
    async close() {
      if (abort.signal.aborted) return;
      abort.abort();
      // A generator suspended at a yield finishes its `finally` blocks now.
      await iterator?.return?.().catch(() => {});
    },
  };
}
