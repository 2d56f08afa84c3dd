/**
 * The SQL the alert store runs for a filter and for its summaries (counts over time, top values),
 * kept apart from the store so that the text can be read and tested without a database. Every
 * value enters as a bound parameter; the only names spliced into the text are the fixed group
 * keys of {@link GROUP_KEYS}.
 *
 * @example
 * ```ts
 * import { whereClause } from "./alert_sql.ts";
 * const { sql, args } = whereClause({ priority: "Warning", containers: ["web"] });
 * // sql: WHERE priority <= ? AND (json_extract(...) IN (?) OR ...), args: [4, "web", "web"]
 * ```
 * @module
 */
import { priorityRank } from "../rules/alert.ts";
import { type AlertFilter, FILTER_FIELDS } from "./alert_filter.ts";

/** A bound parameter. */
export type SqlArg = string | number | bigint;

/** An SQL fragment with its parameters. */
export interface Sql {
  sql: string;
  args: SqlArg[];
}

/** The SQL expression of an output field (names hold dots, so the JSON path quotes them). */
export function outputField(name: string): string {
  if (!/^[\w.\[\]-]+$/.test(name)) throw new Error(`not a field name: ${name}`);
  return `json_extract(output_fields, '$."${name}"')`;
}

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(",");

/** `%`, `_` and the escape character itself are literal in a LIKE pattern. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The WHERE clause of a filter (empty text when it keeps everything). */
export function whereClause(f: AlertFilter): Sql {
  const parts: string[] = [];
  const args: SqlArg[] = [];
  if (f.since !== undefined) {
    parts.push("time >= ?");
    args.push(f.since);
  }
  if (f.until !== undefined) {
    parts.push("time < ?");
    args.push(f.until);
  }
  if (f.rules?.length) {
    parts.push(`rule IN (${placeholders(f.rules.length)})`);
    args.push(...f.rules);
  }
  if (f.priority) {
    parts.push("priority <= ?");
    args.push(priorityRank(f.priority));
  }
  if (f.sources?.length) {
    parts.push(`source IN (${placeholders(f.sources.length)})`);
    args.push(...f.sources);
  }
  for (const t of f.tags ?? []) {
    parts.push("EXISTS (SELECT 1 FROM json_each(alerts.tags) WHERE value = ?)");
    args.push(t);
  }
  if (f.containers?.length) {
    const list = placeholders(f.containers.length);
    parts.push(
      `(${outputField(FILTER_FIELDS.containerName)} IN (${list}) OR ` +
        `${outputField(FILTER_FIELDS.containerId)} IN (${list}))`,
    );
    args.push(...f.containers, ...f.containers);
  }
  if (f.processes?.length) {
    parts.push(`${outputField(FILTER_FIELDS.process)} IN (${placeholders(f.processes.length)})`);
    args.push(...f.processes);
  }
  if (f.hostnames?.length) {
    parts.push(`hostname IN (${placeholders(f.hostnames.length)})`);
    args.push(...f.hostnames);
  }
  if (f.text !== undefined) {
    // LIKE ignores the case of ASCII letters, as foldAscii does for live alerts.
    parts.push("(output LIKE ? ESCAPE '\\' OR rule LIKE ? ESCAPE '\\')");
    args.push(likePattern(f.text), likePattern(f.text));
  }
  return { sql: parts.length > 0 ? "WHERE " + parts.join(" AND ") : "", args };
}

/** What counts and top lists group alerts by. */
export type GroupKey = "priority" | "rule" | "source" | "hostname" | "container" | "process";

/** Every group key, with the SQL expression it groups on. */
export const GROUP_KEYS: Readonly<Record<GroupKey, string>> = {
  priority: "priority",
  rule: "rule",
  source: "source",
  hostname: "hostname",
  container: outputField(FILTER_FIELDS.containerName),
  process: outputField(FILTER_FIELDS.process),
};

/** True for a known group key. */
export function isGroupKey(s: string): s is GroupKey {
  return Object.hasOwn(GROUP_KEYS, s);
}

function and(where: Sql, extra: string, ...args: SqlArg[]): Sql {
  return {
    sql: where.sql ? `${where.sql} AND ${extra}` : `WHERE ${extra}`,
    args: [...where.args, ...args],
  };
}

/**
 * Alerts per time bucket and group value: rows `{b, k, n}` where `b` is the bucket index from
 * `since` in steps of `stepNs`. The filter's own since/until narrow it further.
 */
export function bucketQuery(
  f: AlertFilter,
  by: GroupKey,
  since: bigint,
  until: bigint,
  stepNs: bigint,
): Sql {
  const w = and(whereClause(f), "time >= ? AND time < ?", since, until);
  return {
    sql: `SELECT (time - ?) / ? AS b, ${GROUP_KEYS[by]} AS k, sum(count) AS n FROM alerts ` +
      `${w.sql} GROUP BY b, k`,
    args: [since, stepNs, ...w.args],
  };
}

/** The most frequent values of a group key: rows `{k, n}`, most first, then by value. */
export function topQuery(f: AlertFilter, by: GroupKey, limit: number): Sql {
  const key = GROUP_KEYS[by];
  const w = and(whereClause(f), `${key} IS NOT NULL`);
  return {
    sql: `SELECT ${key} AS k, sum(count) AS n FROM alerts ${w.sql} GROUP BY k ` +
      `ORDER BY n DESC, k LIMIT ?`,
    args: [...w.args, limit],
  };
}
