/**
 * Printing events with a sysdig-like format string (`-p "%evt.num %proc.name %fd.name"`), the
 * fields resolved through the field registry as rules outputs are. As in sysdig, an event is
 * printed only when every field of the format has a value, unless the format starts with `*`
 * (then missing values print as `<NA>`).
 *
 * @example
 * ```ts
 * import { EventPrinter } from "./event_printer.ts";
 * const p = new EventPrinter("*%evt.num %evt.type %fd.name");
 * // p.line(ev) after the state has seen ev
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import { compileOutput, type OutputFormat, renderText } from "../rules/output_format.ts";

/** Formats events as lines. */
export class EventPrinter {
  readonly format: OutputFormat;
  /** Print events whose fields are not all available (`*` prefix). */
  readonly all: boolean;

  /** Throws (OutputError) for a format naming an unknown field (of `source`'s fields). */
  constructor(format: string, source = "syscall") {
    this.all = format.startsWith("*");
    this.format = compileOutput(format, source);
  }

  /** The line for `ev`, or undefined when a field has no value and the format needs all. */
  line(ev: Event): string | undefined {
    return renderText(this.format, ev, !this.all);
  }
}
