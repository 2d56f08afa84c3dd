/**
 * The cost table of `deno task bench`: each figure of what Saker costs the workload, with the
 * agent and without it (or Saker and sysdig) side by side, the slowdown or ratio, the goal and
 * whether it is met, read from the results object the benchmark modules returned in one run.
 * Beside the workload's slowdowns stands the same slowdown with an empty sys_exit program (the
 * tracepoint's own cost, which no filtering in the probe removes), when the module measured it.
 *
 * Where each figure comes from (module and key) is written once, in {@linkcode FIGURES}; a
 * module's key renamed shows up as "not measured" here and fails the unit test on a recorded
 * results object (tests/unit/bench_summary.test.ts). A figure whose module did not run in this
 * run has no row.
 *
 * @example
 * ```ts
 * const rows = summaryRows({ workload: await workload.bench() });
 * console.error(formatSummary(rows));
 * ```
 * @module
 */

/** A goal: the figure's value compared with a bound. */
export interface Goal {
  op: "<=" | ">=";
  bound: number;
  /** Unit of the bound as printed ("%", " ns", " ms", " MB", "×"). */
  unit: string;
}

/** What one figure reads from the results. */
interface Reading {
  /** The number the goal is about; undefined when not measured. */
  value?: number;
  /** With the agent, or Saker's side. */
  with?: string;
  /** Without the agent, or the other program's side. */
  without?: string;
  /** The slowdown or ratio as printed (default: the value with the goal's unit, when there is a
   * `without` to compare with). */
  ratio?: string;
  /** A condition besides the goal that the figure must meet (e.g. equal match counts). */
  unmet?: string;
  /** Why there is no value, when the module says so for this figure alone. */
  why?: string;
}

/** One figure of the table: its name, module, goal and how to read it. */
interface Figure {
  figure: string;
  /** The benchmark module that measures it (scripts/bench/NAME.ts). */
  module: string;
  goal: Goal;
  read: (m: Results) => Reading;
}

/** A results object as `deno task bench` prints it (module name → its figures). */
export type Results = Record<string, unknown>;

/** One printed row. */
export interface SummaryRow {
  figure: string;
  with: string;
  without: string;
  ratio: string;
  goal: string;
  status: "met" | "not met" | "not measured";
  /** Why not measured, or the condition not met. */
  note?: string;
}

/** The value at a dotted key path ("table.latency_idle.p99_ms"), or undefined. */
export function at(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const k of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** A finite number at `path`, or undefined. */
function num(obj: unknown, path: string): number | undefined {
  const v = at(obj, path);
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Median of the finite numbers at `path` in each element of the array at `list`. */
function medianOf(obj: unknown, list: string, path: string): number | undefined {
  const arr = at(obj, list);
  if (!Array.isArray(arr)) return undefined;
  const xs = arr.map((e) => num(e, path)).filter((v): v is number => v !== undefined);
  if (xs.length === 0) return undefined;
  xs.sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** A number for a table cell: thousands grouped, at most `digits` decimals. */
function fmt(v: number | undefined, unit = "", digits = 1): string | undefined {
  if (v === undefined) return undefined;
  return `${v.toLocaleString("en-US", { maximumFractionDigits: digits })}${unit}`;
}

/** A latency summary (latencySummary in _outside.ts) as one cell. */
function latency(obj: unknown, path: string): Reading {
  const p = (k: string) => num(obj, `${path}.${k}`);
  const missed = p("missed");
  return {
    value: p("p99_ms"),
    with: p("p99_ms") === undefined
      ? undefined
      : `p50 ${fmt(p("p50_ms"), "", 2)} / p99 ${fmt(p("p99_ms"), "", 2)} / max ${
        fmt(p("max_ms"), "", 2)
      } ms (${p("samples")} samples)`,
    unmet: missed ? `${missed} alerts missed` : undefined,
  };
}

/** A figure that is one number of its module (no other side to compare with). */
function one(path: string, unit: string, digits = 1): (m: Results) => Reading {
  return (m) => {
    const value = num(m, path);
    return { value, with: fmt(value, unit, digits) };
  };
}

/**
 * The workload's slowdown with the tracepoint alone (an empty sys_exit program) beside a
 * slowdown cell: the part no filtering in the probe can remove.
 */
function withFloor(cell: string, w: Results, key: string, addedKey?: string): string {
  const floor = num(w, `table.${key}_tracepoint_floor`);
  if (floor === undefined) return cell;
  const added = addedKey === undefined ? undefined : num(w, `table.${addedKey}_tracepoint_floor`);
  return `${cell}; empty sys_exit alone: ${fmt(floor, "%")}${
    added === undefined ? "" : ` (+${fmt(added, " ns")})`
  }`;
}

/** Median over the workload's redis rounds of `each(round)`, or undefined. */
function redisMedian(w: Results, each: (r: unknown) => number | undefined): number | undefined {
  const rounds = at(w, "redis_rounds");
  if (!Array.isArray(rounds)) return undefined;
  const xs = rounds.map(each).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/**
 * The redis-benchmark figure of one command (`get` or `set`): requests/s with and without (the
 * mean of the runs before and after, as the slowdown uses them), medians over the rounds; the
 * slowdown with the middle half of the rounds' values and the noise (runs without the agent
 * against each other).
 */
function redisFigure(command: "get" | "set"): Figure {
  const key = `redis_${command}_slowdown_percent`;
  return {
    figure: `redis-benchmark ${command.toUpperCase()}, 20 clients: requests/s, slowdown`,
    module: "workload",
    goal: { op: "<=", bound: 5, unit: "%" },
    read: (w) => {
      const value = num(w, `table.${key}`);
      const half = at(w, `table.${key}_middle_half`);
      const noise = num(w, `table.redis_${command}_noise_percent`);
      const before = (r: unknown) => num(r, `without_before.${command}`);
      const after = (r: unknown) => num(r, `without_after.${command}`);
      let cell = fmt(value, "%", 2);
      if (cell !== undefined && Array.isArray(half) && half.length === 2) {
        cell += ` (middle half ${fmt(half[0], "", 1)} to ${fmt(half[1], "%", 1)}`;
        cell += noise === undefined ? ")" : `, noise ${fmt(noise, "%", 1)})`;
      }
      return {
        value,
        with: fmt(redisMedian(w, (r) => num(r, `with.${command}`)), "/s", 0),
        without: fmt(
          redisMedian(w, (r) => {
            const a = before(r), b = after(r);
            return a === undefined || b === undefined ? undefined : (a + b) / 2;
          }),
          "/s",
          0,
        ),
        ratio: cell === undefined ? undefined : withFloor(cell, w, key),
      };
    },
  };
}

/** Each figure of the cost table, in the order the table lists them. */
export const FIGURES: readonly Figure[] = [
  redisFigure("get"),
  redisFigure("set"),
  {
    figure: "open+close storm of one file: syscalls/s, slowdown",
    module: "workload",
    goal: { op: "<=", bound: 15, unit: "%" },
    read: (w) => {
      const value = num(w, "table.open_close_storm_slowdown_percent");
      const added = num(w, "table.open_close_storm_ns_added_per_syscall");
      return {
        value,
        with: fmt(medianOf(w, "per_round", "storm_with"), "/s", 0),
        without: fmt(medianOf(w, "per_round", "storm_without"), "/s", 0),
        ratio: value === undefined ? undefined : withFloor(
          `${fmt(value, "%")}${added === undefined ? "" : ` (+${fmt(added, " ns")}/syscall)`}`,
          w,
          "open_close_storm_slowdown_percent",
          "open_close_storm_ns_added_per_syscall",
        ),
      };
    },
  },
  {
    figure: "agent CPU per received event (storm, every open received)",
    module: "workload",
    goal: { op: "<=", bound: 200, unit: " ns" },
    read: (w) => {
      const value = num(w, "table.agent_cpu_ns_per_received_event");
      const marginal = num(w, "table.agent_cpu_ns_per_received_event_marginal");
      const fixed = num(w, "table.agent_cpu_fixed_ms_per_s_of_storm");
      const rate = num(w, "table.received_events_per_s");
      const parts = marginal === undefined || fixed === undefined || rate === undefined
        ? undefined
        : `${fmt(marginal, " ns", 0)} per event + ${fmt(fixed, " ms", 1)} CPU per second ` +
          `(at ${fmt(rate / 1000, "k", 0)} events/s)`;
      // Where it goes: the main thread's share, and the same records' decoding, state and
      // rules alone, without the kernel (the rest of the main thread is the live path).
      const main = num(w, "table.agent_cpu_ns_per_received_event_main_thread");
      const work = num(w, "table.received_event_work_ns.decode_state_rules_ns");
      const decode = num(w, "table.received_event_work_ns.decode_ns");
      const state = num(w, "table.received_event_work_ns.decode_state_ns");
      const staged = (k: string) => num(w, `table.agent_cpu_ns_per_received_event_by_stage.${k}`);
      const [ringRead, liveDecode, evaluate] = ["ring_read", "decode", "evaluate"].map(staged);
      const inAgent = main === undefined || ringRead === undefined || liveDecode === undefined ||
          evaluate === undefined
        ? ""
        : ` (ring read ${fmt(ringRead, "", 0)}, decode ${fmt(liveDecode, "", 0)}, state and ` +
          `rules ${fmt(evaluate, "", 0)}, between them ` +
          `${fmt(main - ringRead - liveDecode - evaluate, "", 0)})`;
      const sleeping = num(w, "table.received_event_work_ns.decode_state_rules_sleeping_ns");
      const alone = work === undefined || decode === undefined || state === undefined
        ? ""
        : `; the same records without the kernel ${fmt(work, " ns", 0)} (decode ` +
          `${fmt(decode, "", 0)}, state ${fmt(state - decode, "", 0)}, rules ` +
          `${fmt(work - state, "", 0)})${
            sleeping === undefined ? "" : `, ${fmt(sleeping, " ns", 0)} ` +
              "with a sleep after each slice"
          }`;
      const split = main === undefined
        ? ""
        : `; main thread ${fmt(main, " ns", 0)}${inAgent}${alone}`;
      return { value, with: fmt(value, " ns", 0), ratio: parts && parts + split };
    },
  },
  {
    figure: "syscall → alert line, Falco's stable rules, idle",
    module: "workload",
    goal: { op: "<=", bound: 10, unit: " ms" },
    read: (w) => latency(w, "table.latency_idle"),
  },
  {
    figure: "syscall → alert line, Falco's stable rules, at 300k events/s",
    module: "workload",
    goal: { op: "<=", bound: 10, unit: " ms" },
    read: (w) => latency(w, "table.latency_at_300k_events_per_s"),
  },
  {
    figure: "syscall → alert line, Saker's rules, idle",
    module: "agent",
    goal: { op: "<=", bound: 10, unit: " ms" },
    read: (a) => latency(a, "alert_latency.idle"),
  },
  {
    figure: "syscall → alert line, Saker's rules, at 300k events/s",
    module: "agent",
    goal: { op: "<=", bound: 10, unit: " ms" },
    read: (a) => latency(a, "alert_latency.at_300k_events_per_s"),
  },
  {
    figure: "agent CPU while idle, % of one core",
    module: "workload",
    goal: { op: "<=", bound: 0.5, unit: "%" },
    read: one("table.agent_idle_cpu_percent_of_core", "%", 2),
  },
  {
    figure: "agent RSS idle, Falco's stable rules",
    module: "workload",
    goal: { op: "<=", bound: 100, unit: " MB" },
    read: one("table.agent_rss_idle_mb", " MB"),
  },
  {
    figure: "agent RSS peak, workload run (storm kept in the kernel)",
    module: "workload",
    goal: { op: "<=", bound: 150, unit: " MB" },
    read: one("table.agent_rss_peak_mb", " MB"),
  },
  {
    figure: "agent RSS peak, storm with every open received (as shipped)",
    module: "memory",
    goal: { op: "<=", bound: 150, unit: " MB" },
    read: one("as_shipped_ring_16MiB.rss_peak_under_load_mb", " MB"),
  },
  {
    figure: "saker replay vs sysdig -r, sample.scap ×2500, one filter: seconds, speed",
    module: "workload",
    goal: { op: ">=", bound: 1.5, unit: "×" },
    read: (w) => {
      const p = "table.replay_sample_x2500";
      const same = at(w, `${p}.same_matches`);
      // The wall times measured by the benchmark itself (0.1 ms) when the results have them;
      // older results have only /usr/bin/time's (10 ms steps).
      const ms = num(w, `${p}.speed_ratio_ms`) !== undefined;
      return {
        value: num(w, `${p}.speed_ratio${ms ? "_ms" : ""}`),
        with: ms
          ? fmt(num(w, `${p}.saker_wall_ms`), " ms", 1)
          : fmt(num(w, `${p}.saker_wall_s`), " s", 2),
        without: ms
          ? fmt(num(w, `${p}.sysdig_wall_ms`), " ms", 1)
          : fmt(num(w, `${p}.sysdig_wall_s`), " s", 2),
        why: typeof at(w, `${p}.error`) === "string" ? `error: ${at(w, `${p}.error`)}` : undefined,
        unmet: same === false
          ? `match counts differ: ${at(w, `${p}.saker_matches`)} against ${
            at(w, `${p}.sysdig_matches`)
          }`
          : undefined,
      };
    },
  },
  {
    figure: "saker replay peak RSS, sample.scap ×2500",
    module: "workload",
    goal: { op: "<=", bound: 150, unit: " MB" },
    read: (w) => {
      const value = num(w, "table.replay_sample_x2500.saker_max_rss_mb");
      return {
        value,
        with: fmt(value, " MB", 0),
        without: fmt(num(w, "table.replay_sample_x2500.sysdig_max_rss_mb"), " MB", 0),
      };
    },
  },
  {
    figure: "saker replay (Falco's stable rules) vs sysdig -r, live capture: events/s",
    module: "replay",
    goal: { op: ">=", bound: 1.5, unit: "×" },
    read: (r) => ({
      value: num(r, "ratio_saker_over_sysdig"),
      with: fmt(num(r, "saker.events_per_s"), "/s", 0),
      without: fmt(num(r, "sysdig.events_per_s"), "/s", 0),
    }),
  },
];

/** Why a module's results hold no figures ("skipped: …", "error: …"), if they say so. */
function absent(mod: unknown): string | undefined {
  if (mod === undefined) return "not run";
  for (const k of ["skipped", "error"]) {
    const v = at(mod, k);
    if (typeof v === "string") return `${k}: ${v}`;
  }
  return undefined;
}

/** The rows for the figures whose module ran (is a key of `results`). */
export function summaryRows(results: Results): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const f of FIGURES) {
    if (!(f.module in results)) continue;
    const mod = results[f.module];
    const r = f.read(mod as Results);
    const goal = `${f.goal.op === "<=" ? "≤" : "≥"} ${f.goal.bound}${f.goal.unit}`;
    const dash = "—";
    const row: SummaryRow = {
      figure: f.figure,
      with: r.with ?? dash,
      without: r.without ?? dash,
      ratio: r.ratio ?? (r.without === undefined ? undefined : fmt(r.value, f.goal.unit, 2)) ??
        dash,
      goal,
      status: "not measured",
    };
    if (r.value === undefined) {
      row.note = absent(mod) ?? r.why ?? `not in the ${f.module} results (a key renamed?)`;
    } else {
      const ok = f.goal.op === "<=" ? r.value <= f.goal.bound : r.value >= f.goal.bound;
      row.status = ok && !r.unmet ? "met" : "not met";
      if (r.unmet) row.note = r.unmet;
    }
    rows.push(row);
  }
  return rows;
}

/** The rows as a Markdown table (empty string when there are none). */
export function formatSummary(rows: SummaryRow[]): string {
  if (rows.length === 0) return "";
  const head = ["figure", "with agent / Saker", "without / sysdig", "slowdown or ratio", "goal"];
  const cells = rows.map((r) => [
    r.figure,
    r.with,
    r.without,
    r.ratio,
    r.goal,
    r.note ? `${r.status} (${r.note})` : r.status,
  ]);
  const all = [[...head, "met"], ...cells];
  const width = all[0].map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(width[i])).join(" | ")} |`;
  return [
    line(all[0]),
    `|${width.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...cells.map(line),
  ].join("\n");
}
