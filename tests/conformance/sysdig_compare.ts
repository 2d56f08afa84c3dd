/**
 * Event-by-event comparison of `sysdig -r FILE -p FORMAT` (sysdig 0.29) with Saker's replay of
 * the same capture printing the same fields. Used by the conformance test and runnable alone
 * to list differences: `deno run -A tests/conformance/sysdig_compare.ts FILE.scap [FIELD...]`.
 * @module
 */
import { replayCapture } from "../../src/pipeline/replay.ts";
import { EventPrinter } from "../../src/cli/event_printer.ts";
import { SYSDIG029_ROWS } from "../../src/capture/sysdig029_table.ts";

/** Fields compared by default. */
export const COMPARED_FIELDS = [
  "evt.type",
  "evt.dir",
  "thread.tid",
  "proc.pid",
  "proc.name",
  "proc.pname",
  "proc.cmdline",
  "proc.exe",
  "fd.num",
  "fd.typechar",
  "fd.name",
  "fd.sip",
  "fd.sport",
  "fd.cip",
  "fd.cport",
  "fd.l4proto",
  "user.name",
  "user.uid",
];

const SEP = "\u0001";

/** One event's values, one per field. */
export type Row = string[];

/** What Saker knows about an event beyond the printed fields (to explain differences). */
export interface EventFacts {
  /** An exit event whose enter event is not in the capture (it began mid-syscall). */
  orphanExit: boolean;
  /** A generic `syscall` event (its name comes from the syscall code it carries). */
  generic: boolean;
  /** Container id of the event's process ("" on the host). */
  container: string;
}

/** sysdig's rows, keyed by evt.num (only the events sysdig prints). */
export async function sysdigRows(
  path: string,
  fields: readonly string[],
): Promise<Map<string, Row>> {
  const fmt = "*%evt.num" + fields.map((f) => `${SEP}%${f}`).join("");
  const out = await new Deno.Command("sysdig", { args: ["-r", path, "-p", fmt] }).output();
  const rows = new Map<string, Row>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!line.includes(SEP)) continue;
    const r = line.split(SEP);
    rows.set(r[0], r.slice(1));
  }
  return rows;
}

/**
 * Saker's rows keyed by the number sysdig 0.29 gives the event: sysdig does not count events
 * with ids beyond its table (it skips them while reading), so those are skipped in the
 * numbering.
 */
export async function sakerRows(
  path: string,
  fields: readonly string[],
): Promise<{ rows: Map<string, Row>; facts: Map<string, EventFacts> }> {
  const printer = new EventPrinter("*" + fields.map((f) => `%${f}`).join(SEP));
  const rows = new Map<string, Row>();
  const facts = new Map<string, EventFacts>();
  const lastType = new Map<number, number>();
  let num = 0;
  await replayCapture(path, {
    onEvent(ev) {
      const prev = lastType.get(ev.tid);
      lastType.set(ev.tid, ev.type);
      if (ev.type >= SYSDIG029_ROWS.length) return;
      num++;
      rows.set(String(num), printer.line(ev)!.split(SEP));
      facts.set(String(num), {
        orphanExit: ev.dir === "<" && prev !== ev.type - 1,
        generic: ev.type <= 1,
        container: ev.thread?.containerId ?? "",
      });
    },
  });
  return { rows, facts };
}

/** One difference. */
export interface Difference {
  num: string;
  field: string;
  sysdig: string;
  saker: string;
  /** The whole rows, for context. */
  sysdigRow: Row;
  sakerRow: Row | undefined;
  facts: EventFacts | undefined;
}

/** Compares the events sysdig prints with Saker's values for the same events. */
export async function compareCapture(
  path: string,
  fields: readonly string[] = COMPARED_FIELDS,
): Promise<{ compared: number; differences: Difference[] }> {
  const [a, mine] = await Promise.all([sysdigRows(path, fields), sakerRows(path, fields)]);
  const b = mine.rows;
  const differences: Difference[] = [];
  for (const [num, row] of a) {
    const ours = b.get(num);
    fields.forEach((field, i) => {
      const s = ours?.[i] ?? "(missing event)";
      if (row[i] !== s) {
        differences.push({
          num,
          field,
          sysdig: row[i],
          saker: s,
          sysdigRow: row,
          sakerRow: b.get(num),
          facts: mine.facts.get(num),
        });
      }
    });
  }
  return { compared: a.size, differences };
}

if (import.meta.main) {
  const [path, ...fields] = Deno.args;
  const { compared, differences } = await compareCapture(
    path,
    fields.length ? fields : COMPARED_FIELDS,
  );
  const byField = new Map<string, Difference[]>();
  for (const d of differences) {
    if (!byField.has(d.field)) byField.set(d.field, []);
    byField.get(d.field)!.push(d);
  }
  console.log(`${compared} events compared, ${differences.length} differences`);
  for (const [f, list] of byField) {
    console.log(`${f}: ${list.length}`);
    for (const d of list.slice(0, 4)) {
      console.log(
        `  #${d.num} sysdig=${JSON.stringify(d.sysdig)} saker=${JSON.stringify(d.saker)}`,
      );
    }
  }
}
