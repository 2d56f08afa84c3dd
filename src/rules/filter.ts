/**
 * Event filters: a condition in the rules language (`evt.type=openat and proc.name=cat`) compiled
 * into a predicate over events, with the event types it can match. `saker capture FILTER` and
 * `saker replay FILE FILTER` use it; the event types narrow what the kernel captures.
 *
 * A filter is a one-rule ruleset, so it has the fields, operators and generated code of rule
 * conditions. Fields that read state (proc.*, fd.*, user.*) need each event to go through state
 * tracking before the filter sees it, as in the pipeline. The rule is handed to the collector
 * directly, not written as YAML, so a filter does not load the YAML parser. It knows the system call
 * fields; {@link compileWithPluginFields} registers the plugins' fields too when a filter or an
 * output format names a field beyond them, so a filter over a capture file starts without them.
 *
 * @example
 * ```ts
 * import { compileFilter } from "./filter.ts";
 * const f = compileFilter("evt.type in (open, openat) and fd.name startswith /etc");
 * f.eventNames; // Set { "open", "openat" }
 * // f.matches(ev) after the state has seen ev
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import { compileRuleset } from "./ruleset.ts";
import { allEvents, setSize } from "./evttypes.ts";
import { rulesCollector } from "./rules_collector.ts";
import { compileCollection } from "./compiler.ts";
import { Context, LoadError, LoadResult } from "./result.ts";
import { MappedText } from "./source_text.ts";
import { conditionFields } from "./aggregation.ts";

/** A compiled event filter. */
export interface EventFilter {
  /** True when the event satisfies the condition (after its state update). */
  matches(ev: Event): boolean;
  /** Names of the events the condition can match, or "all" when it names no event type. */
  readonly eventNames: ReadonlySet<string> | "all";
  /** The fields the condition reads. */
  readonly fields: readonly string[];
}

/** The filter condition is invalid; the message says where and why. */
export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FilterError";
  }
}

const EVERY_EVENT = setSize(allEvents());

/** Compiles a condition of `source`'s fields into a filter; throws FilterError when invalid. */
export function compileFilter(condition: string, source = "syscall"): EventFilter {
  const col = rulesCollector();
  const res = new LoadResult("filter");
  const ctx = Context.file("filter");
  let compiled;
  try {
    col.defineRule({
      name: "filter",
      cond: MappedText.plain(condition),
      condCtx: ctx,
      output: "matched",
      outputCtx: ctx,
      desc: "filter",
      priority: "Debug",
      source,
      enabled: true,
      capture: false,
      captureDuration: 0,
      warnEvttypes: true,
      skipIfUnknownFilter: false,
      tags: [],
      exceptions: [],
      index: 0,
      visibility: 0,
      ctx,
      unknownSource: false,
    });
    compiled = compileCollection(col, res);
  } catch (err) {
    if (!(err instanceof LoadError)) throw err;
    res.error(err.code, err.message, ctx);
  }
  const errors = res.errors.map((e) => `${e.code}: ${e.message}`);
  if (col.rules.get("filter")?.unknownSource) errors.push(`unknown source ${source}`);
  if (errors.length > 0 || !compiled) throw new FilterError(errors.join("; "));
  const loaded = {
    ...compiled,
    results: [res],
    contents: new Map<string, string>(),
    requiredEngineVersion: undefined,
    requiredPlugins: [],
  };
  const rs = compileRuleset(loaded, { ruleMatching: "first", source, countOnly: true });
  const [rule] = rs.rules;
  return {
    matches: rs.matcher(),
    eventNames: !rule || setSize(rule.eventTypes) >= EVERY_EVENT ? "all" : new Set(rs.eventNames()),
    fields: rule ? conditionFields(rule.ast) : [],
  };
}

/**
 * Runs `compile` (a filter or an output format) with the fields registered so far (the system
 * call fields at least); when it throws, runs `loadFields` (which imports
 * src/rules/fields/mod.ts: the plugins' fields join the registry; every rules-file load has
 * registered them already) and `compile` once more. So a condition naming a plugin's field
 * compiles, or fails with the same message as with every field known, while one naming only
 * system call fields never loads the plugins' modules. The caller imports mod.ts: a literal
 * import here would have Deno read the plugins' modules at the start of every filter's run.
 *
 * @example
 * ```ts
 * const f = await compileWithPluginFields(
 *   () => compileFilter("proc.name=cat"),
 *   () => import("./fields/mod.ts"),
 * );
 * ```
 */
export async function compileWithPluginFields<T>(
  compile: () => T,
  loadFields: () => Promise<unknown>,
): Promise<T> {
  try {
    return compile();
  } catch {
    await loadFields();
    return compile();
  }
}
