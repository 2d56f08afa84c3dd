/**
 * Events of plugin sources (CloudTrail, GitHub, Okta, Kubernetes audit ...): the scap type
 * `pluginevent` (the type Falco gives every plugin event), carrying the plugin's payload instead
 * of parameter bytes, so the ruleset, the pipeline and the outputs take them as they take system
 * call events. The payload is text (most plugins' events are JSON documents) and its parsed JSON
 * value is made once, on first use, and shared by every field that reads it.
 *
 * @example
 * ```ts
 * import { PluginEvent } from "./plugin_event.ts";
 * const ev = new PluginEvent({
 *   source: "aws_cloudtrail",
 *   plugin: "cloudtrail",
 *   ts: 1714557600000000000n,
 *   data: '{"eventName":"CreateUser"}',
 * });
 * (ev.value as { eventName: string }).eventName; // "CreateUser"
 * ev.rawtime; // "1714557600000000000"
 * ```
 * @module
 */
import { Event } from "./event.ts";
import { eventIdsByName } from "./table.ts";

/** Event id of `pluginevent` in the scap table. */
export const PLUGIN_EVENT_TYPE: number = eventIdsByName("pluginevent")[0];

const NO_BYTES = new Uint8Array(0);
const NO_VIEW = new DataView(NO_BYTES.buffer);
const UNPARSED = Symbol("unparsed");

/** What a plugin event is made of. */
export interface PluginEventInit {
  /** Event source name, as rules name it (`source: aws_cloudtrail`). */
  source: string;
  /** Name of the plugin that made the event. */
  plugin: string;
  /** Event time, ns since the Unix epoch. */
  ts: bigint;
  /** Number within its source, from 1. */
  num?: number;
  /** The payload as text (JSON for most plugins); made from `value` when absent. */
  data?: string;
  /** The payload's parsed JSON value, when already known. */
  value?: unknown;
  /** The time as decimal text, when already known. */
  rawtime?: string;
  /** The plugin's one-line summary of an event (`evt.plugininfo`). */
  summary?: (ev: PluginEvent) => string | undefined;
}

/** An event of a plugin source. */
export class PluginEvent extends Event {
  /** Event source name. */
  readonly source: string;
  /** Plugin that made the event. */
  readonly plugin: string;
  #ts: bigint;
  #data: string | undefined;
  #value: unknown;
  #rawtime: string | undefined;
  #summary: ((ev: PluginEvent) => string | undefined) | undefined;

  constructor(init: PluginEventInit) {
    super(NO_BYTES, NO_VIEW, 0, PLUGIN_EVENT_TYPE, -1);
    this.origin = "synthetic";
    this.num = init.num ?? 0;
    this.source = init.source;
    this.plugin = init.plugin;
    this.#ts = init.ts;
    this.#data = init.data;
    this.#value = "value" in init ? init.value : UNPARSED;
    this.#rawtime = init.rawtime;
    this.#summary = init.summary;
  }

  /** Event time, ns since the epoch; kept here, not computed from bytes. */
  override get ts(): bigint {
    return this.#ts;
  }
  override set ts(value: bigint) {
    this.#ts = value;
    this.#rawtime = undefined;
  }

  /** The payload as text (the value as compact JSON when it came as a value). */
  get data(): string {
    return this.#data ??= JSON.stringify(this.#value === UNPARSED ? null : this.#value) ?? "";
  }

  /** The payload parsed as JSON (made once); undefined when the payload is not JSON. */
  get value(): unknown {
    if (this.#value === UNPARSED) {
      try {
        this.#value = JSON.parse(this.#data ?? "");
      } catch {
        this.#value = undefined;
      }
    }
    return this.#value;
  }

  /** The time in nanoseconds since the epoch, as decimal text. */
  get rawtime(): string {
    return this.#rawtime ??= String(this.ts);
  }

  /** The plugin's one-line summary of the event, if it gives one. */
  get summary(): string | undefined {
    return this.#summary?.(this);
  }
}
