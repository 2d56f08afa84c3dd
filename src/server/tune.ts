/**
 * GET /tune: the tuning assistant's proposals from the running agent's store, as `saker tune
 * --json` prints them (the dashboard's Tuning view reads it): for the noisiest rules, an exception
 * in Falco's syntax with each value's stored alerts, how many alerts it would have removed, and
 * the local rules file that adds them all (`file_text`). Parameters: `since` (default 24h), `rule`
 * (repeatable), `min_count` (3), `max_values` (50), `rules` (20). Nothing is written: the file is
 * for the operator to review and place (or `saker tune` writes it).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { mountTune } from "./tune.ts";
 * const app = new Hono();
 * mountTune(app, { store, rules: () => catalog });
 * // GET /tune?since=7d&rule=Terminal%20shell%20in%20container
 * ```
 * @module
 */
import type { Hono } from "hono";
import type { AlertStore } from "../outputs/alert_store.ts";
import { parseTime } from "../outputs/alert_filter.ts";
import { rfc3339Nano } from "../outputs/format.ts";
import type { RuleEntry } from "../rules/ruleset.ts";
import {
  proposeExceptions,
  type TuneReport,
  type TuneRule,
  tuningFileText,
} from "../rules/tuning.ts";

/** What GET /tune reads from the running agent. */
export interface TuneDeps {
  store?: AlertStore;
  /** Every loaded rule, with the fields its condition reads. */
  rules?: () => readonly RuleEntry[];
}

/** A tuning report as JSON text (GET /tune and `saker tune --json`). */
export function tuneReportJson(
  r: TuneReport,
  extra: { since: bigint; file?: string; text: string },
): Record<string, unknown> {
  return {
    since: rfc3339Nano(extra.since),
    alerts: r.alerts,
    removed: r.removed,
    proposals: r.proposals.map((p) => ({
      rule: p.rule,
      priority: p.priority,
      source: p.source,
      alerts: p.alerts,
      removed: p.removed,
      exception: {
        name: p.exception.name,
        fields: p.exception.fields,
        comps: p.exception.comps,
        values: p.exception.values.map((v) => ({ values: v.values, alerts: v.alerts })),
      },
      left_out: { unsafe_programs: p.unsafe, rare: p.rare },
    })),
    skipped: r.skipped,
    ...(extra.file ? { file: extra.file } : {}),
    file_text: extra.text,
  };
}

const JSON_TYPE = "application/json";

function problem(status: number, detail: string): Response {
  return new Response(JSON.stringify({ error: detail }), {
    status,
    headers: { "content-type": JSON_TYPE },
  });
}

/** Mounts GET /tune on the API. */
export function mountTune(app: Hono, deps: TuneDeps): void {
  app.get("/tune", (c) => {
    if (!deps.store) return problem(404, "the alert store is disabled (alert_store.enabled)");
    const params = new URL(c.req.url).searchParams;
    const since = parseTime(params.get("since") ?? "24h");
    if (since === undefined) {
      return problem(400, "since: expected a duration ago (24h, 7d) or a time (RFC 3339)");
    }
    const ints: Record<string, number> = {};
    for (const [k, d] of [["min_count", 3], ["max_values", 50], ["rules", 20]] as const) {
      const t = params.get(k);
      const n = t === null ? d : Number(t);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) {
        return problem(400, `${k}: expected an integer from 1 to 10000`);
      }
      ints[k] = n;
    }
    const rules = new Map<string, TuneRule>();
    for (const r of deps.rules?.() ?? []) {
      rules.set(r.name, { name: r.name, source: r.source, fields: r.fields ?? [] });
    }
    const only = params.getAll("rule").filter((r) => r !== "");
    const report = proposeExceptions(
      deps.store,
      { since, rules: only.length ? only : undefined },
      rules,
      { minCount: ints.min_count, maxValues: ints.max_values, maxRules: ints.rules },
    );
    const what = `since ${rfc3339Nano(since)}; ${report.alerts} alerts`;
    return new Response(
      JSON.stringify(
        tuneReportJson(report, { since, text: tuningFileText(report, undefined, what) }),
      ),
      { headers: { "content-type": JSON_TYPE } },
    );
  });
}
