/**
 * Event-by-event comparison of `sysdig -r FILE -p FORMAT` (sysdig 0.29) with Saker's replay of
 * the same capture printing the same fields. Used by the conformance test and runnable alone
 * to list differences: `deno run -A tests/conformance/sysdig_compare.ts FILE.scap [FIELD...]`.
 * @module
 */
import "../../src/rules/fields/mod.ts";
import { replayCapture } from "../../src/capture/replay.ts";
import { EventPrinter } from "../../src/capture/print.ts";
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

/** One event's values: evt.num then one value per field. */
export type Row = string[];

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
): Promise<Map<string, Row>> {
  const printer = new EventPrinter("*" + fields.map((f) => `%${f}`).join(SEP));
  const rows = new Map<string, Row>();
  let num = 0;
  await replayCapture(path, {
    onEvent(ev) {
      if (ev.type >= SYSDIG029_ROWS.length) return;
      num++;
      rows.set(String(num), printer.line(ev)!.split(SEP));
    },
  });
  return rows;
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
}

/** Compares the events sysdig prints with Saker's values for the same events. */
export async function compareCapture(
  path: string,
  fields: readonly string[] = COMPARED_FIELDS,
): Promise<{ compared: number; differences: Difference[] }> {
  const [a, b] = await Promise.all([sysdigRows(path, fields), sakerRows(path, fields)]);
  const differences: Difference[] = [];
  for (const [num, row] of a) {
    const mine = b.get(num);
    fields.forEach((field, i) => {
      const s = mine?.[i] ?? "(missing event)";
      if (row[i] !== s) {
        differences.push({ num, field, sysdig: row[i], saker: s, sysdigRow: row, sakerRow: mine });
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
