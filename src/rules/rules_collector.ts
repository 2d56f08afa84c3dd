/**
 * A collector for rules of the sources Saker knows, with field checks: the one place the rules
 * loader and the event filter (which builds its one rule without YAML) get theirs from.
 *
 * Kept apart from the loader so that compiling a filter does not load the YAML parser (tens of
 * milliseconds of a `saker replay FILTER`'s start-up).
 *
 * @example
 * ```ts
 * import { rulesCollector } from "./rules_collector.ts";
 * const col = rulesCollector();
 * col.knownSources.has("syscall"); // true
 * ```
 * @module
 */
import { Collector } from "./collector.ts";
import { fieldClasses, FIELDS, fieldUsableFor, lookupField } from "./fields/core.ts";

/**
 * Event sources rules can be of: those whose fields are registered, but for the sources of
 * plugins Saker carries and has not loaded (their rules are skipped as of an unknown source, as
 * Falco skips the rules of a plugin it has not loaded).
 */
export function knownSources(): Set<string> {
  const s = new Set(["syscall"]);
  for (const c of fieldClasses()) {
    if (c.source && c.source !== "*" && !FIELDS.isDormant(c.source)) s.add(c.source);
  }
  return s;
}

/** An empty collector of the known sources that checks exception fields against them. */
export function rulesCollector(): Collector {
  return new Collector(knownSources(), (source, field) => {
    const ref = lookupField(field);
    return ref !== undefined && fieldUsableFor(ref.def, source);
  });
}
