/**
 * `saker test --update`: for tests marked `update: true`, writes the output fields each expected
 * rule's alert actually carried into the test file (`output_fields:` under the rule), keeping the
 * rest of the file (comments included). Times are left out (they change on every run), and so
 * are process ids for live tests.
 *
 * @example
 * ```ts
 * import { updateTests } from "./update.ts";
 * // after `const results = await runTests(files, ...)`:
 * // const { messages } = await updateTests(files, results);
 * ```
 * @module
 */
import { isMap, isScalar, isSeq, parseDocument, type YAMLMap } from "yaml";
import { parseTestFile, type TestFile } from "./spec.ts";
import type { TestResult } from "./runner.ts";

/** Output fields never written: they differ from run to run. */
const VOLATILE =
  /^(evt\.(time|rawtime|datetime|num)|container\.start_ts|proc\.(duration|pid\.ts|ppid\.ts))/;
/** Also left out of live tests: ids the kernel hands out. */
const LIVE_VOLATILE =
  /^(proc\.(pid|ppid|vpid|pvpid|sid|pgid|vpgid|apid)|thread\.(tid|vtid)|container\.(id|full_id|name|start_ts)|fd\.(num|cport|name)|evt\.arg\.(res|fd))/;

/** What an update did. */
export interface UpdateOutcome {
  messages: string[];
  /** The files as rewritten (parsed again). */
  files: TestFile[];
  /** Tests whose expectations changed. */
  rerun: { file: string; name: string }[];
}

/** Rewrites the expected output fields of tests marked for update. */
export async function updateTests(
  files: readonly TestFile[],
  results: readonly TestResult[],
): Promise<UpdateOutcome> {
  const out: UpdateOutcome = { messages: [], files: [], rerun: [] };
  for (const file of files) {
    const marked = results.filter((r) =>
      r.test.file === file.path && r.test.update && !file.evtgen &&
      (r.status === "pass" || r.status === "fail")
    );
    if (marked.length === 0) continue;
    const doc = parseDocument(file.text);
    const tests = (doc.contents as YAMLMap | null)?.get("tests", true);
    if (!isSeq(tests)) continue;
    let changed = false;
    for (const r of marked) {
      const node = tests.items[r.test.index];
      if (!isMap(node)) continue;
      const expect = node.get("expect", true);
      if (!isMap(expect)) continue;
      const key = expect.has("exactly") ? "exactly" : "fire";
      const list = expect.get(key, true);
      const items = isSeq(list) ? list.items : list === undefined ? [] : [list];
      const live = r.test.input.kind === "simulate" || r.test.input.kind === "evtgen";
      items.forEach((item, i) => {
        const rule = isScalar(item)
          ? String(item.value)
          : isMap(item)
          ? String(item.get("rule"))
          : "";
        const alert = r.alerts.find((a) => a.rule === rule);
        if (!alert) return;
        const fields: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(alert.outputFields)) {
          if (VOLATILE.test(k) || (live && LIVE_VOLATILE.test(k))) continue;
          fields[k] = v;
        }
        const entry = isMap(item) ? item : doc.createNode({ rule }) as YAMLMap;
        entry.set("output_fields", doc.createNode(fields));
        if (isSeq(list)) list.items[i] = entry;
        else expect.set(key, entry);
        changed = true;
        out.messages.push(
          `UPDATE ${file.path}: ${r.test.name}: ${
            Object.keys(fields).length
          } output fields of '${rule}'`,
        );
      });
      if (changed) out.rerun.push({ file: file.path, name: r.test.name });
    }
    if (!changed) continue;
    const text = doc.toString({ lineWidth: 100 });
    await Deno.writeTextFile(file.path, text);
    out.files.push(parseTestFile(file.path, text));
  }
  return out;
}
