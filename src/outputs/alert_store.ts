/**
 * The alert store: alerts kept in an embedded SQLite database (node:sqlite), queryable by time,
 * rule, priority, source, tags, container, process and text, summarised per time bucket and per
 * value (the dashboard's charts and top lists), with retention by age and by count.
 *
 * Aggregation (aggregator.ts) keeps the store's write rate bounded under an alert storm: the store
 * records what the outputs receive, and every occurrence is accounted for. A row stands for
 * `count` occurrences between `first_time` and `time`: 1 for an alert sent on its own (the first
 * of a key is stored in full), the repeats of a window for a summary (stored in full as the last
 * occurrence, with its `aggregate` object: count, times, key, samples of the differing values).
 * The first row of a key's chain of windows (its `head`) keeps the chain's total and last time,
 * so the aggregated view (one entry per key and chain) is read without grouping. Counts over
 * time and top lists count occurrences.
 *
 * Durability: WAL journal with `synchronous=NORMAL`, one transaction per batch. A committed batch
 * survives the agent being killed (kill -9) and restarted; only a power loss can take the last
 * few batches. The database is a regular file: `sqlite3 alerts.db 'select ...'` works too. It and
 * SQLite's companion files are private from their first byte (src/files.ts): 0600, or 0640 with
 * a group allowed to read them.
 *
 * @example
 * ```ts
 * import { AlertStore } from "./alert_store.ts";
 * const store = AlertStore.open({ path: "/var/lib/saker/alerts.db", maxAgeSeconds: 7 * 86400 });
 * const page = store.query({ priority: "Warning" }, { limit: 50 });
 * store.close();
 * ```
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type FileAccess, narrowFile, preparePrivate, withPrivateUmask } from "../files.ts";
import {
  type Alert,
  type OutputFieldValue,
  PRIORITIES,
  type Priority,
  priorityRank,
} from "../rules/alert.ts";
import { log } from "../log.ts";
import { metrics as globalMetrics, Registry } from "../metrics.ts";
import type { AlertFilter } from "./alert_filter.ts";
import { bucketQuery, type GroupKey, outputField, topQuery, whereClause } from "./alert_sql.ts";
import type { TuneQuery } from "../rules/tuning.ts";
import {
  aggregateJson,
  jsonValue,
  RawJson,
  responseJson,
  rfc3339Nano,
  sortedObject,
} from "./format.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";

/**
 * node:sqlite, loaded on the first open rather than at the top: see NODE_MODULES_AT_USE in
 * scripts/bundle.ts.
 */
const sqlite = () => process.getBuiltinModule("node:sqlite");

/** Store settings (config: alert_store.*). */
export interface StoreOptions {
  /** Database file; its directory is created when missing. */
  path: string;
  /** Delete alerts older than this (0 or undefined: keep). */
  maxAgeSeconds?: number;
  /** Keep at most this many alerts, newest first (0 or undefined: no limit). */
  maxAlerts?: number;
  /** How often retention runs while alerts come in (default 60 s). */
  retentionIntervalMs?: number;
  /** Metrics registry (default: the process-wide one). */
  registry?: Registry;
  /** A group allowed to read the database (mode 0640); default: owner only (0600). */
  group?: number;
}

/** Files SQLite keeps next to a database in WAL mode (and while it switches to it). */
const COMPANIONS = ["-wal", "-shm", "-journal"];

/** A page of stored alerts, newest first. */
export interface AlertPage {
  alerts: StoredAlert[];
  /** Pass as `before` to get the next (older) page; absent on the last page. */
  next?: number;
}

/** Alerts per time bucket and group value (see {@link AlertStore.counts}). */
export interface AlertCounts {
  /** Start of the first bucket, UTC ns. */
  since: bigint;
  stepNs: bigint;
  steps: number;
  /** One series per group value, most alerts first; `counts[i]` is bucket i. */
  series: { key: string; counts: number[]; total: number }[];
  total: number;
}

/** One stored alert as read back. */
export interface StoredAlert {
  id: number;
  time: bigint;
  rule: string;
  priority: Priority;
  source: string;
  hostname: string;
  tags: string[];
  output: string;
  /** `output_fields` as JSON text (integers kept exact). */
  outputFieldsJson: string;
  /** Occurrences the row stands for (1 unless it is a summary). */
  count: number;
  /** Event time of the first of them, UTC ns. */
  firstTime: bigint;
  /** A summary's `aggregate` object as JSON text. */
  aggregateJson?: string;
  /** The chain of windows the row belongs to (aggregation). */
  group?: string;
  /** The outcomes of the rule's response actions, as JSON text. */
  responseJson?: string;
  /** In the aggregated view: the occurrences of the whole chain, and the last one's time. */
  total?: number;
  lastTime?: bigint;
}

/** Which rows `/alerts` lists. */
export type AlertView = "each" | "aggregated";

const SCHEMA_VERSION = 4;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  rule TEXT NOT NULL,
  priority INTEGER NOT NULL,
  source TEXT NOT NULL,
  hostname TEXT NOT NULL,
  tags TEXT NOT NULL,
  output TEXT NOT NULL,
  output_fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule, id);
CREATE INDEX IF NOT EXISTS alerts_priority ON alerts(priority, id);
`;

/**
 * Columns added by schema versions 2 (aggregation), 3 (`alert_id`: the sending agent's id of
 * an alert a collector received, unique, so a message delivered twice is stored once) and 4
 * (`response`: the outcomes of the rule's response actions), added to an older store when it
 * opens (each only when missing, so any older version upgrades in one step).
 */
const ADDED_COLUMNS: [string, string][] = [
  ["count", "INTEGER NOT NULL DEFAULT 1"],
  ["first_time", "INTEGER"],
  ["aggregate", "TEXT"],
  ["group_key", "TEXT"],
  ["head", "INTEGER NOT NULL DEFAULT 1"],
  ["total", "INTEGER"],
  ["last_time", "INTEGER"],
  ["alert_id", "TEXT"],
  ["response", "TEXT"],
];

const COLUMNS = "id, time, rule, priority, source, hostname, tags, output, output_fields, count, " +
  "first_time, aggregate, group_key, response";

/** The SQLite alert store. */
export class AlertStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #addToHead: StatementSync;
  readonly #hasId: StatementSync;
  readonly #maxAgeNs: bigint;
  readonly #maxAlerts: number;
  readonly #retentionEvery: number;
  #lastRetention = 0;
  #closed = false;
  #count = 0;
  readonly #deleted;

  private constructor(opts: StoreOptions, db: DatabaseSync) {
    this.path = opts.path;
    this.#db = db;
    this.#maxAgeNs = BigInt(Math.round((opts.maxAgeSeconds ?? 0) * 1e9));
    this.#maxAlerts = opts.maxAlerts ?? 0;
    this.#retentionEvery = opts.retentionIntervalMs ?? 60_000;
    this.#insert = db.prepare(
      `INSERT INTO alerts (time, rule, priority, source, hostname, tags, output, output_fields,
         count, first_time, aggregate, group_key, head, total, last_time, alert_id, response)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#hasId = db.prepare("SELECT 1 FROM alerts WHERE alert_id = ?");
    this.#addToHead = db.prepare(
      `UPDATE alerts SET total = coalesce(total, count) + ?,
         last_time = max(coalesce(last_time, time), ?)
       WHERE group_key = ? AND head = 1`,
    );
    const reg = opts.registry ?? globalMetrics;
    this.#deleted = reg.counter(
      "saker_alert_store_deleted_total",
      "Alerts removed from the store by retention.",
    );
    this.#count = this.count();
    reg.gauge("saker_alert_store_alerts", "Alerts in the store.").labels().collect = () =>
      this.#count;
  }

  /** Alerts in the store (kept up to date without a query). */
  get size(): number {
    return this.#count;
  }

  /**
   * Opens an existing database for reading only (`saker tune` beside a running agent): nothing is
   * created, migrated or deleted. Throws naming the file when it is missing or older than this
   * Saker's schema.
   */
  static openReadOnly(path: string): AlertStore {
    try {
      Deno.statSync(path);
    } catch {
      throw new Error(`${path}: no alert store there (alert_store.path)`);
    }
    const db = new (sqlite().DatabaseSync)(path, { readOnly: true });
    try {
      db.exec("PRAGMA busy_timeout=5000;");
      const v = Number(
        (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      );
      if (v !== SCHEMA_VERSION) {
        throw new Error(
          `${path}: alert store schema version ${v}, this Saker reads ${SCHEMA_VERSION}` +
            (v < SCHEMA_VERSION ? " (start the agent once: it upgrades the store)" : ""),
        );
      }
    } catch (err) {
      db.close();
      throw err;
    }
    return new AlertStore({ path, registry: new Registry() }, db);
  }

  /** Opens (creating when needed) the database at `opts.path`. */
  static open(opts: StoreOptions): AlertStore {
    const dir = opts.path.replace(/\/[^/]*$/, "");
    if (dir && dir !== opts.path) Deno.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const access: FileAccess = { group: opts.group };
    preparePrivate(opts.path, access);
    for (const suffix of COMPANIONS) {
      try {
        narrowFile(opts.path + suffix, access);
      } catch { /* absent */ }
    }
    // SQLite gives its companions the database's mode; the umask guards what it creates anyway.
    return withPrivateUmask(access, () => AlertStore.#openDb(opts));
  }

  static #openDb(opts: StoreOptions): AlertStore {
    const db = new (sqlite().DatabaseSync)(opts.path);
    try {
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
      const v = Number(
        (db.prepare("PRAGMA user_version").get() as { user_version: number })
          .user_version,
      );
      if (v > SCHEMA_VERSION) {
        throw new Error(
          `${opts.path}: alert store schema version ${v} is newer than this Saker (${SCHEMA_VERSION})`,
        );
      }
      db.exec(SCHEMA);
      const have = new Set(
        (db.prepare("PRAGMA table_info(alerts)").all() as { name: string }[]).map((c) => c.name),
      );
      for (const [name, type] of ADDED_COLUMNS) {
        if (!have.has(name)) db.exec(`ALTER TABLE alerts ADD COLUMN ${name} ${type}`);
      }
      db.exec(
        "CREATE INDEX IF NOT EXISTS alerts_group ON alerts(group_key) WHERE group_key IS NOT NULL",
      );
      db.exec(
        "CREATE UNIQUE INDEX IF NOT EXISTS alerts_alert_id ON alerts(alert_id) " +
          "WHERE alert_id IS NOT NULL",
      );
      db.exec(`PRAGMA user_version=${SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    const store = new AlertStore(opts, db);
    store.applyRetention();
    return store;
  }

  /**
   * Stores a batch of alerts in one transaction. An alert received from another agent is stored
   * with its id, and left out when the store holds that id already (a redelivery). Returns how
   * many alerts were stored.
   */
  insert(batch: FormattedAlert[]): number {
    const db = this.#db;
    let stored = 0;
    db.exec("BEGIN");
    try {
      for (const fa of batch) {
        const a = fa.alert;
        const received = fa.received;
        if (received && this.#hasId.get(received.id) !== undefined) continue;
        const g = a.aggregate;
        // Chains of windows are one agent's: a received one is named by its host too.
        const ownGroup = g?.group ?? a.grouping?.group;
        const group = ownGroup === undefined
          ? null
          : received
          ? `${received.hostname}/${ownGroup}`
          : ownGroup;
        const count = g?.count ?? 1;
        // A window's summary adds to its chain's head; without one (it was never stored, e.g.
        // held back by the rate limit) the summary heads the chain itself.
        let head = 1;
        if (g && group !== null) {
          head = Number(this.#addToHead.run(count, g.last, group).changes) > 0 ? 0 : 1;
        }
        this.#insert.run(
          a.time,
          a.rule,
          priorityRank(a.priority),
          a.source,
          fa.hostname,
          JSON.stringify([...new Set(a.tags)].sort()),
          received ? received.output : fa.formatter.fullOutput(a),
          received ? received.fieldsJson : fa.formatter.fieldsJson(a),
          count,
          g ? g.first : a.time,
          g ? aggregateJson(g) : null,
          group,
          head,
          head ? count : null,
          head ? (g ? g.last : a.time) : null,
          received ? received.id : null,
          a.response?.outcomes ? responseJson(a.response.outcomes) : null,
        );
        stored++;
      }
      db.exec("COMMIT");
      this.#count += stored;
    } catch (err) {
      // SQLite rolls back by itself on some errors (a full disk): a second rollback would fail
      // and hide the error that matters.
      if (db.isTransaction) db.exec("ROLLBACK");
      throw err;
    }
    const now = Date.now();
    if (now - this.#lastRetention >= this.#retentionEvery) this.applyRetention(now);
    return stored;
  }

  /** Whether an alert received with this id is stored. */
  hasAlertId(id: string): boolean {
    return this.#hasId.get(id) !== undefined;
  }

  /**
   * Writes the outcomes of an alert's actions again once the last of them ended (an action that
   * takes time is stored as `pending` first). Returns whether the alert's row was there (when it
   * was not yet written, its insert carries the final outcomes).
   */
  updateResponse(a: Alert): boolean {
    if (this.#closed || !a.response?.outcomes) return false;
    const n = this.#db.prepare(
      "UPDATE alerts SET response = ? WHERE time = ? AND rule = ? AND response IS NOT NULL",
    ).run(responseJson(a.response.outcomes), a.time, a.rule).changes;
    return Number(n) > 0;
  }

  /** Deletes alerts past the age and count limits; returns how many went. */
  applyRetention(nowMs = Date.now()): number {
    this.#lastRetention = nowMs;
    let deleted = 0;
    const chunk = (where: string, ...args: (bigint | number)[]) => {
      const stmt = this.#db.prepare(
        `DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ${where} ORDER BY id LIMIT 10000)`,
      );
      while (true) {
        const n = Number(stmt.run(...args).changes);
        deleted += n;
        if (n < 10000) break;
      }
    };
    if (this.#maxAgeNs > 0n) chunk("time < ?", BigInt(nowMs) * 1_000_000n - this.#maxAgeNs);
    if (this.#maxAlerts > 0) {
      const row = this.#db.prepare("SELECT id FROM alerts ORDER BY id DESC LIMIT 1 OFFSET ?")
        .get(this.#maxAlerts - 1) as { id: number } | undefined;
      if (row) chunk("id < ?", row.id);
    }
    if (deleted > 0) {
      this.#count -= deleted;
      this.#deleted.inc(deleted);
      log.debug("alert store retention", { deleted });
    }
    return deleted;
  }

  /**
   * Alerts matching `f`, newest first; `before` continues from a previous page's `next`. The
   * `each` view lists every row (alerts as sent, summaries with their counts); `aggregated` lists
   * one entry per key and chain of windows (its first alert, with the chain's total and times).
   */
  query(
    f: AlertFilter = {},
    page: { limit?: number; before?: number; view?: AlertView } = {},
  ): AlertPage {
    const limit = Math.max(1, Math.min(page.limit ?? 100, 10_000));
    const w = whereClause(f);
    const args = w.args;
    let where = w.sql;
    const more = (cond: string) => where += (where ? " AND " : "WHERE ") + cond;
    if (page.view === "aggregated") more("head = 1");
    if (page.before !== undefined) {
      more("id < ?");
      args.push(page.before);
    }
    const extra = page.view === "aggregated"
      ? ", coalesce(total, count) AS total, coalesce(last_time, time) AS last_time"
      : "";
    const stmt = this.#db.prepare(
      `SELECT ${COLUMNS}${extra} FROM alerts ${where} ORDER BY id DESC LIMIT ?`,
    );
    stmt.setReadBigInts(true);
    const rows = stmt.all(...args, limit + 1) as Array<Record<string, bigint | string | null>>;
    const alerts = rows.slice(0, limit).map(rowToAlert);
    const out: AlertPage = { alerts };
    if (rows.length > limit) out.next = alerts[alerts.length - 1].id;
    return out;
  }

  /** Number of rows matching `f`. */
  count(f: AlertFilter = {}): number {
    const w = whereClause(f);
    const row = this.#db.prepare(`SELECT count(*) AS n FROM alerts ${w.sql}`)
      .get(...w.args) as { n: number };
    return Number(row.n);
  }

  /** Occurrences matching `f`: every alert raised, summaries counted by what they stand for. */
  occurrences(f: AlertFilter = {}): number {
    const w = whereClause(f);
    const row = this.#db.prepare(
      `SELECT coalesce(sum(count), 0) AS n FROM alerts ${w.sql}`,
    ).get(...w.args) as { n: number };
    return Number(row.n);
  }

  /** The alert with this id, if still stored. */
  get(id: number): StoredAlert | undefined {
    const stmt = this.#db.prepare(`SELECT ${COLUMNS} FROM alerts WHERE id = ?`);
    stmt.setReadBigInts(true);
    const row = stmt.get(id) as Record<string, bigint | string | null> | undefined;
    return row && rowToAlert(row);
  }

  /**
   * Alerts matching `f` per time bucket (`steps` buckets of `stepNs` from `since`) and per value
   * of `by`, most frequent values first.
   */
  counts(f: AlertFilter, by: GroupKey, since: bigint, stepNs: bigint, steps: number): AlertCounts {
    const q = bucketQuery(f, by, since, since + stepNs * BigInt(steps), stepNs);
    const rows = this.#db.prepare(q.sql).all(...q.args) as Array<
      { b: number; k: string | number | null; n: number }
    >;
    const series = new Map<string, number[]>();
    for (const r of rows) {
      const key = groupValue(by, r.k);
      let counts = series.get(key);
      if (!counts) series.set(key, counts = new Array(steps).fill(0));
      counts[Number(r.b)] += Number(r.n);
    }
    const out = [...series].map(([key, counts]) => ({
      key,
      counts,
      total: counts.reduce((x, y) => x + y, 0),
    }));
    out.sort((a, b) => b.total - a.total || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { since, stepNs, steps, series: out, total: out.reduce((x, s) => x + s.total, 0) };
  }

  /** The `limit` most frequent values of `by` among alerts matching `f` (no value: left out). */
  top(f: AlertFilter, by: GroupKey, limit: number): { value: string; count: number }[] {
    const q = topQuery(f, by, limit);
    const rows = this.#db.prepare(q.sql).all(...q.args) as Array<
      { k: string | number; n: number }
    >;
    return rows.map((r) => ({ value: groupValue(by, r.k), count: Number(r.n) }));
  }

  /** Occurrences per rule, priority and source matching `q`, most first (the tuner's input). */
  ruleTotals(q: TuneQuery): { rule: string; priority: Priority; source: string; count: number }[] {
    const w = whereClause(tuneFilter(q));
    const rows = this.#db.prepare(
      `SELECT rule, priority, source, sum(count) AS n FROM alerts ${w.sql}
       GROUP BY rule, priority, source ORDER BY n DESC`,
    ).all(...w.args) as { rule: string; priority: number; source: string; n: number }[];
    return rows.map((r) => ({
      rule: r.rule,
      priority: PRIORITIES[Number(r.priority)] ?? "Debug",
      source: r.source,
      count: Number(r.n),
    }));
  }

  /**
   * Occurrences of `rule` per tuple of the output fields' values, most first, at most `limit`
   * tuples; only rows where the first `required` fields (default: all) have a value.
   */
  tupleCounts(
    q: TuneQuery,
    rule: string,
    fields: readonly string[],
    limit: number,
    required = fields.length,
  ): { values: OutputFieldValue[]; count: number }[] {
    const w = whereClause({ ...tuneFilter(q), rules: [rule] });
    const cols = fields.map((f, i) => `${outputField(f)} AS v${i}`).join(", ");
    const present = fields.slice(0, Math.max(1, required)).map((_, i) => `v${i} IS NOT NULL`)
      .join(" AND ");
    const group = fields.map((_, i) => `v${i}`).join(", ");
    const rows = this.#db.prepare(
      `SELECT ${group}, n FROM (SELECT ${cols}, sum(count) AS n FROM alerts ${w.sql}
       GROUP BY ${group}) WHERE ${present} ORDER BY n DESC LIMIT ?`,
    ).all(...w.args, limit) as Record<string, OutputFieldValue>[];
    return rows.map((r) => ({
      values: fields.map((_, i) => r[`v${i}`] ?? null),
      count: Number(r.n),
    }));
  }

  /** Closes the database (checkpointing the WAL). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch { /* best effort */ }
    this.#db.close();
  }
}

/** The alert filter of a tuning query. */
function tuneFilter(q: TuneQuery): AlertFilter {
  const f: AlertFilter = {};
  if (q.since !== undefined) f.since = q.since;
  if (q.rules?.length) f.rules = q.rules;
  return f;
}

function rowToAlert(r: Record<string, bigint | string | null>): StoredAlert {
  const a: StoredAlert = {
    id: Number(r.id),
    time: r.time as bigint,
    rule: r.rule as string,
    priority: PRIORITIES[Number(r.priority)] ?? "Debug",
    source: r.source as string,
    hostname: r.hostname as string,
    tags: JSON.parse(r.tags as string) as string[],
    output: r.output as string,
    outputFieldsJson: r.output_fields as string,
    count: Number(r.count ?? 1),
    firstTime: (r.first_time ?? r.time) as bigint,
  };
  if (r.aggregate) a.aggregateJson = r.aggregate as string;
  if (r.group_key) a.group = r.group_key as string;
  if (r.response) a.responseJson = r.response as string;
  if (r.total !== undefined && r.total !== null) a.total = Number(r.total);
  if (r.last_time !== undefined && r.last_time !== null) a.lastTime = r.last_time as bigint;
  return a;
}

/** A group value as text: priorities by name, other values as they are. */
function groupValue(by: GroupKey, k: string | number | bigint | null): string {
  if (by === "priority") return PRIORITIES[Number(k)] ?? "Debug";
  return k === null ? "" : String(k);
}

/**
 * A stored alert in Falco's JSON shape, plus its store `id` (for pagination); a summary carries
 * its `aggregate` object as sent. In the aggregated view, an entry standing for more than one
 * occurrence also carries `occurrences` (the chain's total), `first_time` and `last_time`.
 */
export function storedAlertJson(a: StoredAlert): string {
  const o: Record<string, unknown> = {
    hostname: a.hostname,
    id: a.id,
    output: a.output,
    output_fields: new RawJson(a.outputFieldsJson),
    priority: a.priority,
    rule: a.rule,
    source: a.source,
    tags: a.tags,
    time: rfc3339Nano(a.time),
  };
  if (a.aggregateJson) o.aggregate = new RawJson(a.aggregateJson);
  if (a.responseJson) o.response = new RawJson(a.responseJson);
  if (a.total !== undefined && (a.total > 1 || a.aggregateJson)) {
    o.occurrences = a.total;
    o.first_time = rfc3339Nano(a.firstTime);
    o.last_time = rfc3339Nano(a.lastTime ?? a.time);
  }
  return sortedObject(o);
}

/** A page as the JSON text GET /alerts answers: `{"alerts":[...],"next":ID}`. */
export function alertPageJson(p: AlertPage): string {
  let s = `{"alerts":[${p.alerts.map(storedAlertJson).join(",")}]`;
  if (p.next !== undefined) s += `,"next":${jsonValue(p.next)}`;
  return s + "}";
}

/** The store as an output: each batch is one transaction. */
export class StoreOutput implements AlertOutput {
  readonly name = "store";
  readonly #closeStore: boolean;
  /** With `closeStore: false` the store stays open when the output closes (shared owner). */
  constructor(readonly store: AlertStore, opts: { closeStore?: boolean } = {}) {
    this.#closeStore = opts.closeStore ?? true;
  }

  write(batch: FormattedAlert[]): Promise<void> {
    this.store.insert(batch);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closeStore) this.store.close();
    return Promise.resolve();
  }
}

/** Rebuilds an Alert from a stored one (for tests and re-export). */
export function storedToAlert(s: StoredAlert): Alert {
  return {
    time: s.time,
    rule: s.rule,
    priority: s.priority,
    source: s.source,
    tags: s.tags,
    output: s.output,
    outputFields: JSON.parse(s.outputFieldsJson),
  };
}
