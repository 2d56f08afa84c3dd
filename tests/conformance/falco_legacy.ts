/**
 * Runner for Falco's legacy regression suite (../shared/reference/falco-legacy-tests,
 * falco_tests*.yaml). Each case either validates rules files (`validate_rules_file`: expected
 * errors, warnings, successful files, exit status) or replays a capture with rules and checks the
 * detections (`trace_file`, `detect`, `detect_level`, `detect_counts`).
 *
 * Validation cases run here against the rules loader. Capture cases need a {@link Replayer}: a
 * function that replays a capture file through given rules and options and returns the alerts;
 * the capture-file issue plugs it in. Kubernetes audit cases (falco_k8s_audit_tests.yaml) name
 * their audit file through Falco's k8saudit plugin option (`-o plugins[0].open_params=FILE`);
 * they come to the replayer with `source: "k8s_audit"`. Cases this runner cannot express
 * (packages, other plugins, gRPC, drop monitoring) are counted as unsupported.
 *
 * @example
 * ```ts
 * import { loadLegacyCases, runLegacyCase } from "./falco_legacy.ts";
 * const cases = await loadLegacyCases(`${REFERENCE_DIR}/falco-legacy-tests`);
 * for (const c of cases) console.log(c.name, (await runLegacyCase(c)).status);
 * ```
 * @module
 */
import { parse } from "yaml";
import { RulesLoader } from "../../src/rules/loader.ts";
import { resultJson } from "../../src/rules/result.ts";
import type { Alert, Priority } from "../../src/rules/alert.ts";
import { requireReferenceDir } from "../../scripts/reference.ts";

/** One case of the suite. */
export interface LegacyCase {
  /** `suite/name`. */
  name: string;
  suite: string;
  /** The case's keys as written. */
  spec: Record<string, unknown>;
  /** Directory the case's relative paths start from. */
  baseDir: string;
  /** Path of Falco's default rules file (falco_rules.yaml) in the reference material. */
  defaultRules: string;
}

/** What a replay needs to know. */
export interface ReplayRequest {
  traceFile: string;
  rulesFiles: string[];
  /** Falco config file of the case, if any. */
  confFile?: string;
  /** Rule name patterns (regex, Falco's -D). */
  disabledRules: string[];
  /** Tags whose rules are disabled (-T). */
  disableTags: string[];
  /** When non-empty, only rules with one of these tags run (-t). */
  runTags: string[];
  /** Least severe priority that still alerts. */
  priority: Priority;
  /** Evaluate enter events too / every event (-A). */
  allEvents: boolean;
  /** Event source of the trace: "syscall" (a capture) or "k8s_audit" (an audit file). */
  source: string;
}

/** What a replay produced. */
export interface ReplayOutcome {
  alerts: Alert[];
  /** Exit status of the run (0 unless the run failed). */
  exitStatus?: number;
}

/** Replays a capture file through rules (provided by the capture-file issue). */
export type Replayer = (req: ReplayRequest) => Promise<ReplayOutcome>;

/**
 * Runs a case's command line and checks what it prints and its exit status (falco_legacy_cli.ts);
 * `keys` are the case keys it handles. Returns the reasons the case fails.
 */
export interface CliRunner {
  keys: readonly string[];
  run(c: LegacyCase, req: ReplayRequest): Promise<string[]>;
}

/** Outcome of one case. */
export interface CaseOutcome {
  status: "pass" | "fail" | "unsupported";
  /** Why it failed, or why it is unsupported. */
  reasons: string[];
}

const UNSUPPORTED_KEYS = [
  "package",
  "grpc",
  "conf_file",
  "addl_cmdline_opts",
  "enable_source",
  "stdout_contains",
  "stderr_contains",
  "stdout_is",
  "stderr_not_contains",
  "stdout_not_contains",
  "output_strictly_contains",
  "outputs",
  "run_duration",
  "json_output",
  "time_iso_8601",
];

/** Reads every falco_tests*.yaml of the suite. */
export async function loadLegacyCases(dir: string, defaultRules?: string): Promise<LegacyCase[]> {
  const base = dir.replace(/\/$/, "");
  const rules = defaultRules ?? `${base}/../falco-rules/falco_rules.yaml`;
  const out: LegacyCase[] = [];
  const names: string[] = [];
  for await (const e of Deno.readDir(base)) {
    if (e.isFile && /^falco_.*tests.*\.yaml$/.test(e.name)) names.push(e.name);
  }
  names.sort();
  for (const file of names) {
    const text = (await Deno.readTextFile(`${base}/${file}`)).replace(/!mux/g, "");
    const doc = parse(text) as { trace_files?: Record<string, Record<string, unknown>> };
    const suite = file.replace(/\.yaml$/, "");
    for (const [name, spec] of Object.entries(doc?.trace_files ?? {})) {
      out.push({
        name: `${suite}/${name}`,
        suite,
        spec: spec ?? {},
        baseDir: base,
        defaultRules: rules,
      });
    }
  }
  return out;
}

function asList(v: unknown): string[] {
  if (v === undefined || v === null || v === false) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function resolvePath(c: LegacyCase, p: string): string {
  if (p.includes("BUILD_DIR/falcosecurity-rules")) return c.defaultRules;
  // Falco's build fetched the plugins' Kubernetes audit rules; the reference has them beside
  // falco_rules.yaml. BUILD_DIR/test is the suite's own directory.
  if (p.includes("BUILD_DIR/k8saudit-rules")) {
    return c.defaultRules.replace(/[^/]*$/, "k8s_audit_rules.yaml");
  }
  if (p.startsWith("BUILD_DIR/test/")) return `${c.baseDir}/${p.slice("BUILD_DIR/test/".length)}`;
  if (p.startsWith("/")) return p;
  return `${c.baseDir}/${p.replace(/^\.\//, "")}`;
}

/** Falco renamed LOAD_UNKNOWN_FIELD to LOAD_UNKNOWN_FILTER after this suite was written. */
const CODE_ALIASES: Record<string, string> = { LOAD_UNKNOWN_FIELD: "LOAD_UNKNOWN_FILTER" };

type Expect = {
  item_type: string;
  item_name: string;
  code: string;
  message?: string;
  message_contains?: string;
};

async function expandRulesPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = (await Deno.stat(p)).isDirectory;
    } catch { /* read error reported by the loader */ }
    if (!isDir) {
      out.push(p);
      continue;
    }
    const names: string[] = [];
    for await (const e of Deno.readDir(p)) {
      if (e.isFile && e.name.endsWith(".yaml")) names.push(e.name);
    }
    out.push(...names.sort().map((n) => `${p}/${n}`));
  }
  return out;
}

async function runValidation(c: LegacyCase): Promise<CaseOutcome> {
  const s = c.spec;
  const reasons: string[] = [];
  const loader = new RulesLoader();
  for (const p of asList(s.validate_rules_file).map((f) => resolvePath(c, f))) {
    try {
      loader.add(p, await Deno.readTextFile(p));
    } catch (e) {
      loader.addUnreadable(p, e as Error);
    }
  }
  const json = loader.results.map((r) => resultJson(r, loader.contents));
  const exit = json.some((r) => !r.successful) ? 1 : 0;
  const wantExit = Number(s.exit_status ?? 0);
  if (exit !== wantExit) reasons.push(`exit status ${exit}, expected ${wantExit}`);
  for (const ok of asList(s.validate_ok)) {
    if (!json.some((r) => r.successful && r.name.split("/").pop() === ok)) {
      reasons.push(`no successful result for ${ok}`);
    }
  }
  const find = (kind: "errors" | "warnings", e: Expect): boolean => {
    const code = CODE_ALIASES[e.code] ?? e.code;
    return json.some((r) =>
      r[kind].some((m) => {
        if (m.code !== code) return false;
        // A YAML parser's wording is its own (Falco's comes from yaml-cpp): code and place only.
        const msgOk = code === "LOAD_ERR_YAML_PARSE" ||
          (e.message !== undefined && m.message === e.message) ||
          (e.message_contains !== undefined && m.message.includes(e.message_contains));
        return msgOk && m.context.locations.some((l) =>
          l.item_type === e.item_type && l.item_name === String(e.item_name ?? "")
        );
      })
    );
  };
  for (const e of (s.validate_errors ?? []) as Expect[]) {
    if (!find("errors", e)) {
      reasons.push(
        `missing error ${e.code} for ${e.item_type} '${e.item_name}': ${
          e.message ?? e.message_contains
        }`,
      );
    }
  }
  for (const e of (s.validate_warnings ?? []) as Expect[]) {
    if (!find("warnings", e)) {
      reasons.push(
        `missing warning ${e.code} for ${e.item_type} '${e.item_name}': ${
          e.message ?? e.message_contains
        }`,
      );
    }
  }
  if (reasons.length > 0) {
    const got = json.flatMap((r) => [
      ...r.errors.map((m) =>
        `  got error ${m.code}: ${m.message} [${
          m.context.locations.map((l) => `${l.item_type}:${l.item_name}`).join(" > ")
        }]`
      ),
      ...r.warnings.map((m) =>
        `  got warning ${m.code}: ${m.message} [${
          m.context.locations.map((l) => `${l.item_type}:${l.item_name}`).join(" > ")
        }]`
      ),
    ]);
    reasons.push(...got.slice(0, 20));
  }
  return { status: reasons.length === 0 ? "pass" : "fail", reasons };
}

const LEVELS: Record<string, Priority> = {
  EMERGENCY: "Emergency",
  ALERT: "Alert",
  CRITICAL: "Critical",
  ERROR: "Error",
  WARNING: "Warning",
  NOTICE: "Notice",
  INFO: "Informational",
  INFORMATIONAL: "Informational",
  DEBUG: "Debug",
};

/**
 * Rules the Kubernetes audit rules renamed after this suite was written (one rule for roles and
 * cluster roles became one per kind); the suite's traces are of the cluster kinds.
 */
const RULE_ALIASES: Record<string, string> = {
  "K8s Role/Clusterrole Created": "K8s ClusterRole Created",
  "K8s Role/Clusterrole Deleted": "K8s ClusterRole Deleted",
  "K8s Role/Clusterrolebinding Created": "K8s ClusterRoleBinding Created",
  "K8s Role/Clusterrolebinding Deleted": "K8s ClusterRoleBinding Deleted",
};

/** Checks a replay's alerts against the case's detection expectations. */
export function checkDetections(c: LegacyCase, out: ReplayOutcome): string[] {
  const s = c.spec;
  const reasons: string[] = [];
  const wantExit = Number(s.exit_status ?? 0);
  if ((out.exitStatus ?? 0) !== wantExit) {
    reasons.push(`exit status ${out.exitStatus ?? 0}, expected ${wantExit}`);
  }
  const detect = s.detect === true || s.detect === "True" || s.detect === "true";
  const n = out.alerts.length;
  if (!detect && n > 0 && s.check_detection_counts !== false) {
    reasons.push(`${n} detections, expected none`);
  }
  if (detect && n === 0) reasons.push("no detections, expected some");
  if (detect) {
    for (const lvl of asList(s.detect_level)) {
      const p = LEVELS[lvl.toUpperCase()];
      if (p && !out.alerts.some((a) => a.priority === p)) reasons.push(`no ${lvl} detection`);
    }
  }
  for (const entry of (s.detect_counts ?? []) as Record<string, number>[]) {
    for (const [rule, count] of Object.entries(entry)) {
      const name = RULE_ALIASES[rule] ?? rule;
      const got = out.alerts.filter((a) => a.rule === name).length;
      if (got !== count) reasons.push(`rule ${rule}: ${got} detections, expected ${count}`);
    }
  }
  return reasons;
}

/** The suites whose capture cases the runner plays. */
const SUITES = ["falco_tests", "falco_tests_exceptions", "falco_k8s_audit_tests"];

/** The trace file a Kubernetes audit case names through the k8saudit plugin's open_params. */
function k8sAuditTrace(s: Record<string, unknown>): string | undefined {
  if (s.enable_source !== "k8s_audit") return undefined;
  const m = /^-o plugins\[\d+\]\.open_params=(\S+)$/.exec(String(s.addl_cmdline_opts ?? "").trim());
  return m?.[1];
}

/** The replay request of a capture case. */
export function replayRequest(c: LegacyCase): ReplayRequest {
  const s = c.spec;
  const rules = asList(s.rules_file ?? "BUILD_DIR/falcosecurity-rules/falco_rules.yaml");
  const audit = k8sAuditTrace(s);
  return {
    traceFile: resolvePath(c, audit ?? String(s.trace_file)),
    source: audit !== undefined ? "k8s_audit" : "syscall",
    rulesFiles: rules.map((r) => resolvePath(c, r)),
    confFile: s.conf_file ? resolvePath(c, String(s.conf_file)) : undefined,
    disabledRules: asList(s.disabled_rules),
    disableTags: asList(s.disable_tags),
    runTags: asList(s.run_tags),
    priority: LEVELS[String(s.priority ?? "debug").toUpperCase()] ?? "Debug",
    allEvents: s.all_events === true,
  };
}

/** Runs one case; capture cases need `replay`, otherwise they are unsupported. */
export async function runLegacyCase(
  c: LegacyCase,
  replay?: Replayer,
  cli?: CliRunner,
): Promise<CaseOutcome> {
  const s = c.spec;
  if (s.validate_rules_file) return await runValidation(c);
  // A Kubernetes audit case's source and plugin option are what makes it one.
  const audit = k8sAuditTrace(s) !== undefined;
  const unsupported = UNSUPPORTED_KEYS.filter((k) =>
    k in s && !cli?.keys.includes(k) &&
    !(audit && (k === "enable_source" || k === "addl_cmdline_opts"))
  );
  if (!SUITES.includes(c.suite)) unsupported.push(`suite ${c.suite}`);
  if (unsupported.length > 0) {
    return {
      status: "unsupported",
      reasons: unsupported.map((k) => `uses ${k}`),
    };
  }
  if (!s.trace_file && !audit) return { status: "unsupported", reasons: ["no trace file"] };
  if (!replay) return { status: "unsupported", reasons: ["needs a capture replayer"] };
  const req = replayRequest(c);
  try {
    await expandRulesPaths(req.rulesFiles).then((p) => req.rulesFiles = p);
    await Deno.stat(req.traceFile);
  } catch {
    return { status: "unsupported", reasons: [`trace file ${req.traceFile} is not available`] };
  }
  // A plugin config only says which plugin reads the trace (what the replayer does): such a
  // case runs the command line only when it checks what is printed.
  const pluginConf = String(s.conf_file ?? "").includes("confs/plugins/");
  const viaCli = cli !== undefined &&
    cli.keys.some((k) => k in s && !(pluginConf && k === "conf_file"));
  const outcome = await replay(req);
  // With a command line run, the exit status is the command's (checked by the CLI runner).
  if (viaCli) outcome.exitStatus = Number(s.exit_status ?? 0);
  const reasons = checkDetections(c, outcome);
  if (viaCli) reasons.push(...await cli.run(c, req));
  return { status: reasons.length === 0 ? "pass" : "fail", reasons };
}

/** Runs every case and counts the outcomes. */
export async function runLegacySuite(
  cases: readonly LegacyCase[],
  replay?: Replayer,
  cli?: CliRunner,
): Promise<
  { pass: number; fail: number; unsupported: number; outcomes: Map<string, CaseOutcome> }
> {
  const outcomes = new Map<string, CaseOutcome>();
  let pass = 0, fail = 0, unsupported = 0;
  for (const c of cases) {
    const o = await runLegacyCase(c, replay, cli);
    outcomes.set(c.name, o);
    if (o.status === "pass") pass++;
    else if (o.status === "fail") fail++;
    else unsupported++;
  }
  return { pass, fail, unsupported, outcomes };
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? `${requireReferenceDir("the legacy suite")}/falco-legacy-tests`;
  const { pass, fail, unsupported, outcomes } = await runLegacySuite(await loadLegacyCases(dir));
  for (const [name, o] of outcomes) {
    if (o.status !== "unsupported" || Deno.args.includes("-v")) {
      console.log(`${o.status.padEnd(11)} ${name}`);
      if (o.status === "fail") { for (const r of o.reasons) console.log(`    ${r}`); }
    }
  }
  console.log(`${pass} passed, ${fail} failed, ${unsupported} unsupported`);
}
