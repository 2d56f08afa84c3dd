/**
 * The generated event table (src/events/table_data.ts, from falcosecurity/libs at the pinned
 * commit of scripts/gen_event_tables.ts), as src/events/table.ts decodes it, against the
 * reference material's scap-event-table.json, extracted from the same libs commit: every id's
 * name, direction, category, flags and parameters (name, type, format) by name. Skips visibly
 * without the reference material.
 */
import { assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { EC, EF, EVENTS, PF, PT } from "../../src/events/table.ts";
import { LIBS_COMMIT } from "../../scripts/gen_event_tables.ts";

interface RefEvent {
  id: number;
  name: string;
  dir: "E" | "X";
  category: string;
  flags: string;
  params: { name: string; type: string; fmt: string }[];
}

/** `EC_FILE | EC_SYSCALL` → EC.FILE | EC.SYSCALL; -1 for a name `table` lacks. */
const bits = (table: Readonly<Record<string, number>>, expr: string, prefix: string) =>
  expr === "0" || expr === "" ? 0 : expr.split("|").reduce((v, s) => {
    const n = s.trim().slice(prefix.length);
    return v < 0 || !Object.hasOwn(table, n) ? -1 : v | table[n];
  }, 0);

const names = (table: Readonly<Record<string, number>>) =>
  new Map(Object.entries(table).map(([k, v]) => [v, k]));

Deno.test({
  name: "event table: the decoded table is the reference's scap event table",
  ignore: needsReference(),
  fn() {
    const ref = JSON.parse(Deno.readTextFileSync(`${REFERENCE_DIR}/scap-event-table.json`)) as {
      source: string;
      events: RefEvent[];
    };
    assertEquals(ref.source.split(" ")[0], `falcosecurity/libs@${LIBS_COMMIT}`);
    assertEquals(EVENTS.length, ref.events.length);
    const typeName = names(PT);
    const fmtName = names(PF);
    const fmt = (f: string) => f === "PF_10_PADDED_DEC" ? "PADDED_DEC" : f.slice(3);
    const problems: string[] = [];
    for (const e of ref.events) {
      const ev = EVENTS[e.id];
      const params = ev.params.slice(0, ev.scapParamCount)
        .map((p) => [p.name, typeName.get(p.type), fmtName.get(p.fmt)]);
      const want = e.params.map((p) => [p.name, p.type.slice(3), fmt(p.fmt)]);
      if (ev.name !== e.name) problems.push(`${e.id}: name ${ev.name}, reference ${e.name}`);
      if ((ev.dir === ">" ? "E" : "X") !== e.dir) problems.push(`${e.id}: direction`);
      if (ev.category !== bits(EC, e.category, "EC_")) {
        problems.push(`${e.id}: category ${ev.category}, reference ${e.category}`);
      }
      if (ev.flags !== bits(EF, e.flags, "EF_")) {
        problems.push(`${e.id}: flags ${ev.flags}, reference ${e.flags}`);
      }
      if (JSON.stringify(params) !== JSON.stringify(want)) problems.push(`${e.id}: parameters`);
    }
    assertEquals(problems, []);
  },
});
