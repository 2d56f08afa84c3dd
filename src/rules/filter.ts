/**
 * Event filters: a condition in the rules language (`evt.type=openat and proc.name=cat`) compiled
 * into a predicate over events, with the event types it can match. `saker capture FILTER` and
 * `saker replay FILE FILTER` use it; the event types narrow what the kernel captures.
 *
 * A filter is a one-rule ruleset, so it has the fields, operators and generated code of rule
 * conditions. Fields that read state (proc.*, fd.*, user.*) need each event to go through state
 * tracking before the filter sees it, as in the pipeline.
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
import { loadRulesText } from "./loader.ts";
import { compileRuleset } from "./ruleset.ts";
import { allEvents, setSize } from "./evttypes.ts";

/** A compiled event filter. */
export interface EventFilter {
  /** True when the event satisfies the condition (after its state update). */
  matches(ev: Event): boolean;
  /** Names of the events the condition can match, or "all" when it names no event type. */
  readonly eventNames: ReadonlySet<string> | "all";
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
  const text = `- rule: filter\n  desc: filter\n  condition: ${
    JSON.stringify(condition)
  }\n  output: matched\n  priority: DEBUG\n  source: ${source}\n`;
  const loaded = loadRulesText([{ name: "filter", text }]);
  const errors = loaded.results.flatMap((r) => r.errors.map((e) => `${e.code}: ${e.message}`));
  if (errors.length > 0) throw new FilterError(errors.join("; "));
  const rs = compileRuleset(loaded, { ruleMatching: "first", source });
  const [rule] = rs.rules;
  const none = () => {};
  return {
    matches: (ev) => rs.evaluate(ev, none) > 0,
    eventNames: !rule || setSize(rule.eventTypes) >= EVERY_EVENT ? "all" : new Set(rs.eventNames()),
  };
}
