/**
 * The generated event table (src/events/table_data.ts, from falcosecurity/libs at the pinned
 * commit of scripts/gen_event_tables.ts) against the reference material's scap-event-table.json,
 * extracted from the same libs commit: every id's name, direction, category, flags and
 * parameters (name, type, format) by name. Skips visibly without the reference material.
 */
import { assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { EVENT_ROWS } from "../../src/events/table_data.ts";
import { LIBS_COMMIT } from "../../scripts/gen_event_tables.ts";

interface RefEvent {
  id: number;
  name: string;
  dir: "E" | "X";
  category: string;
  flags: string;
  params: { name: string; type: string; fmt: string }[];
}

const strip = (expr: string, prefix: string) =>
  expr === "0" || expr === "" ? "" : expr.split("|").map((s) => s.trim().slice(prefix.length))
    .join("|");

Deno.test({
  name: "event table: the generated rows are the reference's scap event table",
  ignore: needsReference(),
  fn() {
    const ref = JSON.parse(Deno.readTextFileSync(`${REFERENCE_DIR}/scap-event-table.json`)) as {
      source: string;
      events: RefEvent[];
    };
    assertEquals(ref.source.split(" ")[0], `falcosecurity/libs@${LIBS_COMMIT}`);
    assertEquals(EVENT_ROWS.length, ref.events.length);
    const fmt = (f: string) => f === "PF_10_PADDED_DEC" ? "PADDED_DEC" : f.slice(3);
    const problems: string[] = [];
    for (const e of ref.events) {
      const [name, category, flags, spec] = EVENT_ROWS[e.id];
      const params = spec === "" ? [] : spec.split(" ").map((p) => p.split(":").slice(0, 3));
      const want = e.params.map((p) => [p.name, p.type.slice(3), fmt(p.fmt)]);
      if (name !== e.name) problems.push(`${e.id}: name ${name}, reference ${e.name}`);
      if ((e.id % 2 === 0 ? "E" : "X") !== e.dir) problems.push(`${e.id}: direction`);
      if (category !== strip(e.category, "EC_")) problems.push(`${e.id}: category ${category}`);
      if (flags !== strip(e.flags, "EF_")) problems.push(`${e.id}: flags ${flags}`);
      if (JSON.stringify(params) !== JSON.stringify(want)) problems.push(`${e.id}: parameters`);
    }
    assertEquals(problems, []);
  },
});
