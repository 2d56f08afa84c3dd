/**
 * The warnings of a rule set split over several files, as the agent logs them: each warning
 * once, however many files are loaded after the one it is about.
 */
import { assertEquals } from "../support/assert.ts";
import { loadRulesText, loadWarnings } from "../../src/rules/loader.ts";

const FILES = [
  {
    name: "a.yaml",
    text: "- macro: spare\n  condition: evt.type = close\n- list: spare_list\n  items: [a]\n" +
      "- rule: any event\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n",
  },
  {
    name: "b.yaml",
    text: "- rule: b\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n",
  },
  {
    name: "c.yaml",
    text: "- rule: c\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n",
  },
];

Deno.test("loader: a split rule set's warnings come once each, whatever the number of files", () => {
  const loaded = loadRulesText(FILES);
  // Each file's own result repeats what the files before it hold (as Falco's do).
  assertEquals(
    loaded.results.map((r) => r.warnings.filter((w) => w.code === "LOAD_NO_EVTTYPE").length),
    [1, 1, 1],
  );
  const set = loadWarnings(loaded).map((w) => [w.warning.code, w.warning.context.last.line]);
  assertEquals(set, [["LOAD_NO_EVTTYPE", 5], ["LOAD_UNUSED_MACRO", 1], ["LOAD_UNUSED_LIST", 3]]);
});
