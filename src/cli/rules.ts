/**
 * `saker rules list -r FILE...`: the rules a set of files loads, in evaluation order, with
 * priority, source, enabled state, tags and the events each rule needs, then the sequence and
 * threshold rules with their keys, window and the events of each step. `--json` for machines.
 * @module
 */
import { loadRulesFiles } from "../rules/loader.ts";
import { formatResult } from "../rules/result.ts";
import { setNames, setSize } from "../rules/evttypes.ts";
import { DEFAULT_RULES } from "../assets.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker rules list [-r FILE|DIR]... [--json]

Lists the rules the files load (default: rules/), in evaluation order.

  -r, --rules FILE   rules file or directory (repeatable)
  --json             one JSON object per rule`;

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      allowPositionals: true,
      options: {
        rules: { type: "string", short: "r", multiple: true },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    console.error(`saker rules: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [sub, ...rest] = parsed.positionals;
  if (parsed.values.help || sub === undefined) {
    console.log(USAGE);
    return sub === undefined && !parsed.values.help ? 2 : 0;
  }
  if (sub !== "list") {
    console.error(`saker rules: unknown subcommand '${sub}'\n\n${USAGE}`);
    return 2;
  }
  const files = [...(parsed.values.rules ?? []), ...rest];
  const loaded = await loadRulesFiles(files.length > 0 ? files : [DEFAULT_RULES]);
  for (const r of loaded.results) {
    if (!r.successful) console.error(formatResult(r, loaded.contents));
  }
  for (const r of loaded.rules) {
    const all = setSize(r.eventTypes) > 100;
    const events = all ? ["(all)"] : setNames(r.eventTypes);
    if (parsed.values.json) {
      console.log(JSON.stringify({
        name: r.name,
        priority: r.priority,
        source: r.source,
        enabled: r.enabled,
        tags: r.tags,
        events,
        desc: r.desc,
        condition: r.conditionText,
        output: r.outputText,
      }));
    } else {
      const state = r.enabled ? "" : " (disabled)";
      console.log(`${r.name}${state}`);
      console.log(`  ${r.priority} · ${r.source} · tags: ${r.tags.join(", ") || "-"}`);
      console.log(`  events: ${events.join(" ")}`);
    }
  }
  for (const q of loaded.sequences) {
    const stepEvents = q.steps.map((s) =>
      setSize(s.eventTypes) > 100 ? ["(all)"] : setNames(s.eventTypes)
    );
    if (parsed.values.json) {
      console.log(JSON.stringify({
        name: q.name,
        kind: q.kind,
        priority: q.priority,
        source: q.source,
        enabled: q.enabled,
        tags: q.tags,
        by: q.byText,
        within: q.within,
        ...(q.kind === "threshold"
          ? { count: q.count, distinct: q.distinctText ?? null, events: stepEvents[0] }
          : {
            steps: q.steps.map((s, i) => ({
              not: s.negated,
              condition: s.conditionText,
              captures: s.captures.map((c) => c.name),
              events: stepEvents[i],
            })),
          }),
        desc: q.desc,
        output: q.outputText,
      }));
    } else {
      const state = q.enabled ? "" : " (disabled)";
      console.log(`${q.name}${state}`);
      console.log(
        `  ${q.kind} · ${q.priority} · ${q.source} · tags: ${q.tags.join(", ") || "-"}`,
      );
      const by = q.byText.length ? q.byText.join(", ") : "-";
      const what = q.kind === "threshold"
        ? `${q.count} ${q.distinctText ? `distinct ${q.distinctText}` : "events"}`
        : `${q.steps.length} steps`;
      console.log(`  ${what} by ${by} within ${q.within}s`);
      stepEvents.forEach((ev, i) =>
        console.log(
          `  ${
            q.kind === "threshold" ? "events" : `step ${i}${q.steps[i].negated ? " (not)" : ""}`
          }: ${ev.join(" ")}`,
        )
      );
    }
  }
  return loaded.results.every((r) => r.successful) ? 0 : 1;
}
