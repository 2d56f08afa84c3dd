/**
 * `saker replay FILE.scap [-r RULES]... [--json] [-p FORMAT] [FILTER]`: runs a capture file
 * (Falco's, sysdig's or Saker's; plain or gzip) through the same state tracking and rules as
 * live events and prints the alerts, or prints the events with a sysdig-like format. A file of
 * Kubernetes audit events (JSON lines or JSON, plain or gzip, or a directory of them; told apart
 * by its first bytes) runs through the rules of `source: k8s_audit` instead.
 *
 * Exit status: 0 when the file was read to its end, 1 when it is truncated or corrupt (every
 * event before the bad block is replayed first) or cannot be opened, 2 for usage errors and
 * invalid rules.
 * @module
 */
import { parseArgs } from "./args.ts";
import { compileFilter, compileWithPluginFields } from "../rules/filter.ts";
import type { RuleSelector, Ruleset } from "../rules/ruleset.ts";
import { type Alert, parsePriority, PRIORITIES } from "../rules/alert.ts";
import type { AlertFormatter } from "../outputs/format.ts";
import { replayAuditFile, replayCapture, replayPlugin } from "../pipeline/replay.ts";
import type { Plugin } from "../plugins/api.ts";
import { EventPrinter } from "./event_printer.ts";
import { readsUserTables } from "../rules/fields/user.ts";
import { ProgressBar } from "./progress.ts";
import type { CaptureSettings } from "../pipeline/recorder.ts";
import type { Event } from "../events/event.ts";
import type { LoadedRules } from "../rules/loader.ts";
import { K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { SHB_BLOCK } from "../capture/format.ts";
import { readHeadSync } from "../capture/reader.ts";

// Modules only some replays need (rules files, the agent, capture settings, audit and plugin
// inputs) load when asked for: a filter over a capture file starts in a fraction of the time
// (no YAML parser).

const USAGE = `usage: saker replay FILE.scap [options] [FILTER]

Runs a capture file through Saker's state tracking and rules, as live events would be.
A file of Kubernetes audit events (JSON lines or JSON, plain or gzip; a directory of them)
runs through the rules of source k8s_audit (fields ka.*, jevt.*) instead; CloudTrail, Okta and
GCP audit log files (JSON or JSON lines, plain or gzip; a directory of them) run through the
rules of their plugin's source (aws_cloudtrail, okta, gcp_auditlog), told by their content or
named with --plugin.

With -c or -o, the file is replayed by the agent itself (saker run with the capture as its
event source): the config's outputs, alert format, drop monitoring and capture settings apply,
and the exit status is the agent's.

options:
  -c, --config FILE       agent config file (replay through the agent)
  -o, --option KEY=VALUE  set a config key (replay through the agent); repeatable
  -r, --rules PATH        rules file or directory (repeatable; default: the rules/ directory)
      --plugin NAME       read FILE with this plugin (cloudtrail, okta, gcpaudit)
      --json              alerts as JSON lines
  -p, --print FORMAT      print events with a sysdig-like format (%proc.name %fd.name ...);
                          a leading * prints events whose fields are not all known
  -D, --disable REGEX     disable rules whose name matches (anywhere in it, as Falco's -D)
  -T, --disable-tag TAG   disable rules with this tag (repeatable)
  -t, --tag TAG           run only rules with one of these tags (repeatable)
      --min-priority P    least severe priority that alerts (default debug)
      --rule-matching M   first (default) or all
      --no-rules          do not evaluate rules (with -p: print events only)
      --capture PREFIX    save the events around alerts of rules marked capture: true to
                          PREFIX_<time>_<event>_<rule>.scap (Falco's capture feature)
      --capture-mode M    rules (default) or all_rules (every alert starts a capture)
      --capture-duration MS  capture length after an alert when the rule sets none (5000)
      --capture-pre MS    events kept from before the alert (1000)
      --capture-max-mb N  largest capture file (0: no limit)
      --no-progress       no progress bar on a terminal
  -h, --help              this text

FILTER is a condition in the rules language (evt.type=openat and proc.name=cat): only the
events it matches are evaluated and printed.`;

/** Characters of printed lines written at once. */
const OUTPUT_BLOCK = 64 << 10;

/** Problems of loaded rules, one line each (file:line:column: message). */
async function rulesProblems(
  loaded: LoadedRules,
): Promise<{ errors: string[]; warnings: string[] }> {
  const { loadWarnings } = await import("../rules/loader.ts");
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const r of loaded.results) {
    for (const e of r.errors) errors.push(`${r.name}: ${e.code}: ${e.message}`);
  }
  for (const { file, warning: w } of loadWarnings(loaded)) {
    warnings.push(`${file}: ${w.code}: ${w.message}`);
  }
  return { errors, warnings };
}

/** Names of the rules that `-D` patterns (regexes matched anywhere in a name) disable. */
export function disabledRuleNames(names: readonly string[], patterns: readonly string[]): string[] {
  const res = patterns.map((p) => new RegExp(p));
  return [...new Set(names.filter((n) => res.some((re) => re.test(n))))];
}

/**
 * Whether the file starts with a capture's section header (then it is neither an audit nor a
 * plugin's log file); false for a gzip file, a directory or a file that cannot be read. Four
 * bytes, read synchronously (no round trips through Deno's I/O threads at start-up).
 */
function isPlainCapture(path: string): boolean {
  try {
    const file = Deno.openSync(path);
    try {
      const head = readHeadSync(file, 4);
      return head.length === 4 && new DataView(head.buffer).getUint32(0, true) === SHB_BLOCK;
    } finally {
      file.close();
    }
  } catch {
    return false;
  }
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseArgs({
      args,
      allowPositionals: true,
      options: {
        rules: { type: "string", short: "r", multiple: true },
        config: { type: "string", short: "c" },
        option: { type: "string", short: "o", multiple: true },
        json: { type: "boolean" },
        print: { type: "string", short: "p" },
        disable: { type: "string", short: "D", multiple: true },
        "disable-tag": { type: "string", short: "T", multiple: true },
        tag: { type: "string", short: "t", multiple: true },
        "min-priority": { type: "string" },
        "rule-matching": { type: "string" },
        "no-rules": { type: "boolean" },
        "no-progress": { type: "boolean" },
        plugin: { type: "string" },
        capture: { type: "string" },
        "capture-mode": { type: "string" },
        "capture-duration": { type: "string" },
        "capture-pre": { type: "string" },
        "capture-max-mb": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`saker replay: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = opts.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const [file, ...rest] = opts.positionals;
  if (!file) {
    console.error(`saker replay: a capture file is needed\n\n${USAGE}`);
    return 2;
  }
  let plugin: Plugin | undefined;
  if (v.plugin !== undefined) {
    const { BUILTIN_PLUGINS } = await import("../plugins/builtin.ts");
    plugin = BUILTIN_PLUGINS.find((p) => p.name === v.plugin && p.open);
    if (!plugin) {
      const names = BUILTIN_PLUGINS.filter((p) => p.sniff).map((p) => p.name).join(", ");
      console.error(`saker replay: --plugin: no plugin ${v.plugin} reads files (${names})`);
      return 2;
    }
  }
  // A capture file (a section header first) is neither an audit file nor a plugin's log file.
  const json = plugin === undefined && !isPlainCapture(file) &&
    await (await import("../sources/k8saudit_file.ts")).isAuditInput(file).catch(() => false);
  if (json) {
    const { looksLikeJson } = await import("../plugins/files.ts");
    const { BUILTIN_PLUGINS } = await import("../plugins/builtin.ts");
    const head = await looksLikeJson(file).catch(() => undefined);
    if (head !== undefined) plugin = BUILTIN_PLUGINS.find((p) => p.sniff?.(head));
  }
  const audit = json && plugin === undefined;
  // Audit and plugin files read the plugins' fields; a capture file loads them only when its
  // filter or format names one (compileWithPluginFields).
  if (plugin !== undefined || audit) {
    const { wakeSource } = await import("../rules/fields/mod.ts");
    if (plugin?.source) wakeSource(plugin.source);
  }
  const source = plugin?.source ?? (audit ? K8S_AUDIT_SOURCE : "syscall");
  if ((v.config !== undefined || v.option !== undefined) && plugin !== undefined) {
    console.error("saker replay: -c and -o replay captures and audit files; not plugin files");
    return 2;
  }
  if (v.config !== undefined || v.option !== undefined) {
    return await replayThroughAgent(file, {
      config: v.config,
      overrides: [...(v.option ?? []), ...(v.json ? ["json_output=true"] : [])],
      rules: v.rules,
      disable: v.disable ?? [],
      disableTags: v["disable-tag"] ?? [],
      tags: v.tag ?? [],
      audit,
    });
  }
  const minPriority = v["min-priority"] ? parsePriority(v["min-priority"]) : "Debug";
  if (!minPriority) {
    console.error(`saker replay: --min-priority must be one of ${PRIORITIES.join(", ")}`);
    return 2;
  }
  const matching = v["rule-matching"] ?? "first";
  if (matching !== "first" && matching !== "all") {
    console.error("saker replay: --rule-matching must be first or all");
    return 2;
  }

  let capture: CaptureSettings | undefined;
  if (v.capture !== undefined && (audit || plugin)) {
    console.error("saker replay: --capture saves system call events; not for audit files");
    return 2;
  }
  if (v.capture !== undefined) {
    const { captureSection } = await import("../config/capture_section.ts");
    try {
      const raw: Record<string, unknown> = { enabled: true, path_prefix: v.capture };
      if (v["capture-mode"] !== undefined) raw.mode = v["capture-mode"];
      if (v["capture-duration"] !== undefined) {
        raw.default_duration = Number(v["capture-duration"]);
      }
      if (v["capture-pre"] !== undefined) raw.pre_duration = Number(v["capture-pre"]);
      if (v["capture-max-mb"] !== undefined) raw.max_file_size_mb = Number(v["capture-max-mb"]);
      capture = captureSection(raw);
    } catch (err) {
      console.error(`saker replay: ${(err as Error).message}`);
      return 2;
    }
  }

  let printer: EventPrinter | undefined;
  if (v.print !== undefined) {
    try {
      const format = v.print;
      printer = await compileWithPluginFields(() => new EventPrinter(format, source));
    } catch (err) {
      console.error(`saker replay: invalid -p format: ${(err as Error).message}`);
      return 2;
    }
  }
  let filter: ((ev: Event) => boolean) | undefined;
  let filterNames: ReadonlySet<string> | "all" = "all";
  let filterFields: readonly string[] = [];
  const filterText = rest.join(" ").trim();
  if (filterText) {
    try {
      const f = await compileWithPluginFields(() => compileFilter(filterText, source));
      filter = f.matches;
      filterNames = f.eventNames;
      filterFields = f.fields;
    } catch (err) {
      console.error(`saker replay: invalid filter: ${(err as Error).message}`);
      return 2;
    }
  }

  let ruleset: Ruleset | undefined;
  const useRules = !v["no-rules"] && !(printer && !v.rules);
  let formatter: AlertFormatter | undefined;
  if (useRules) {
    const { loadRulesFiles } = await import("../rules/loader.ts");
    const { compileRuleset } = await import("../rules/ruleset.ts");
    const { AlertFormatter } = await import("../outputs/format.ts");
    const { DEFAULT_RULES } = await import("../assets.ts");
    formatter = new AlertFormatter({ hostname: Deno.hostname() });
    const loaded = await loadRulesFiles(v.rules ?? [DEFAULT_RULES]);
    const { errors, warnings } = await rulesProblems(loaded);
    for (const w of warnings) console.error(`saker replay: warning: ${w}`);
    if (errors.length > 0) {
      for (const e of errors) console.error(`saker replay: error: ${e}`);
      return 2;
    }
    const select: RuleSelector[] = [];
    if (v.tag && v.tag.length > 0) {
      select.push({ action: "disable" });
      for (const t of v.tag) select.push({ action: "enable", tag: t });
    }
    for (const t of v["disable-tag"] ?? []) select.push({ action: "disable", tag: t });
    for (const name of disabledRuleNames(loaded.rules.map((r) => r.name), v.disable ?? [])) {
      select.push({ action: "disable", rule: name });
    }
    ruleset = compileRuleset(loaded, { minPriority, ruleMatching: matching, select, source });
  }

  const enc = new TextEncoder();
  let lines: string[] = [];
  // Lines are written in blocks (64 KiB, or what a fifth of a second brought): one write per
  // batch would be one system call per 256 events.
  let chars = 0;
  let flushedAt = performance.now();
  const flush = () => {
    if (lines.length === 0) return;
    Deno.stdout.writeSync(enc.encode(lines.join("\n") + "\n"));
    lines = [];
    chars = 0;
    flushedAt = performance.now();
  };
  const afterBatch = () => {
    if (lines.length > 0 && (chars >= OUTPUT_BLOCK || performance.now() - flushedAt >= 200)) {
      flush();
    }
  };
  const progress = new ProgressBar(!v["no-progress"] && Deno.stderr.isTerminal());

  const onEvent = printer
    ? (ev: Event) => {
      const line = printer!.line(ev);
      if (line === undefined) return;
      lines.push(line);
      chars += line.length + 1;
    }
    : undefined;
  const onAlerts = (alerts: Alert[]) => {
    for (const a of alerts) {
      const line = v.json ? formatter!.json(a) : formatter!.text(a);
      lines.push(line);
      chars += line.length + 1;
    }
  };
  let result;
  try {
    result = plugin
      ? await replayPlugin(plugin, file, {
        evaluator: ruleset,
        filter,
        onEvent,
        onAlerts,
        afterBatch,
      })
      : audit
      ? await replayAuditFile(file, {
        evaluator: ruleset,
        filter,
        onEvent,
        onAlerts,
        afterBatch,
        onError: (e) => console.error(`saker replay: ${e.where}: ${e.message}`),
      })
      : await replayCapture(file, {
        evaluator: ruleset,
        filter,
        onEvent,
        onAlerts,
        afterBatch,
        onProgress: (b, s, n) => progress.update(b, s, n),
        capture,
        // Only the events the filter (else the rules) can see are decoded, with state's.
        eventNames: filter
          ? filterNames
          : printer || !ruleset
          ? "all"
          : new Set(ruleset.eventNames()),
        // Only what the filter evaluates is seen by the rules and the printer.
        userTables: ruleset !== undefined ||
          readsUserTables([...filterFields, ...(printer?.format.fields ?? [])]),
      });
  } catch (err) {
    progress.done();
    flush();
    if (err instanceof Deno.errors.NotFound) {
      console.error(`saker replay: ${file}: no such file`);
      return 1;
    }
    console.error(`saker replay: ${(err as Error).message}`);
    return 1;
  }
  progress.done();
  flush();
  const rate = result.seconds > 0 ? Math.round(result.events / result.seconds) : 0;
  console.error(
    `saker replay: ${result.events} events, ${result.alerts} alerts, ` +
      ("rejected" in result ? `${result.rejected} not audit events, ` : "") +
      ("bad" in result ? `${result.bad} bad events, ` : "") +
      `${result.seconds.toFixed(3)} s (${rate} events/s)`,
  );
  if ("captures" in result) {
    for (const f of result.captures) console.error(`saker replay: capture written: ${f}`);
    if (result.error) {
      console.error(`saker replay: ${result.error.message}`);
      return 1;
    }
  }
  return 0;
}

/**
 * `saker replay -c CONFIG`: the agent, with the capture file as its event source (outputs,
 * formats, drop monitoring and captures as the config says; no API server, no file watching).
 */
async function replayThroughAgent(
  file: string,
  o: {
    config?: string;
    overrides: string[];
    rules?: string[];
    disable: string[];
    disableTags: string[];
    tags: string[];
    /** The file holds Kubernetes audit events. */
    audit: boolean;
  },
): Promise<number> {
  const { loadConfig, ConfigError } = await import("../config/load.ts");
  const { Agent } = await import("../agent/agent.ts");
  const { buildEngineRules } = await import("../agent/build_rules.ts");
  const { RulesError } = await import("../agent/rules_builder.ts");
  const { StateStore } = await import("../state/store.ts");
  const { openScapSource } = await import("../sources/scap.ts");
  const { openAuditFileSource } = await import("../sources/k8saudit_file.ts");
  const { Registry } = await import("../metrics.ts");
  if (o.tags.length > 0 && (o.disable.length > 0 || o.disableTags.length > 0)) {
    console.error(
      "saker replay: -t runs only the tagged rules; it cannot be combined with -D or -T",
    );
    return 1;
  }
  // The alert store stays off unless asked for (-o alert_store.enabled=true).
  const overrides = [
    "alert_store.enabled=false",
    ...o.overrides,
    "webserver.enabled=false",
    "watch_config_files=false",
    ...o.disableTags.map((t) => `rules[]={disable: {tag: ${JSON.stringify(t)}}}`),
    ...(o.tags.length > 0 ? [`rules[]={disable: {rule: "*"}}`] : []),
    ...o.tags.map((t) => `rules[]={enable: {tag: ${JSON.stringify(t)}}}`),
  ];
  let loaded;
  try {
    loaded = await loadConfig({ file: o.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`saker replay: config: ${p}`);
      return 1;
    }
    throw err;
  }
  for (const w of loaded.warnings) console.error(`saker replay: config: ${w}`);
  if (o.disable.length > 0) {
    const { loadRulesFiles } = await import("../rules/loader.ts");
    // -D is a regex over rule names: expand it to the names of the rules it disables.
    const rules = await loadRulesFiles(o.rules ?? loaded.config.rules_files);
    const names = disabledRuleNames(rules.rules.map((r) => r.name), o.disable);
    loaded.config.rules.push(...names.map((rule) => ({ disable: { rule } })));
  }
  const state = new StateStore();
  let scap: Awaited<ReturnType<typeof openScapSource>> | undefined;
  let agent;
  try {
    agent = await Agent.start(loaded.config, {
      openSource: async () => {
        if (o.audit) {
          const src = await openAuditFileSource(file, {
            onError: (e) => console.error(`saker replay: ${e.where}: ${e.message}`),
          });
          return {
            source: src.source,
            readable: src.readable,
            close: () => src.close(),
            stats: () => ({ received: src.stats().received }),
          };
        }
        const src = scap = await openScapSource(file, { state });
        return {
          source: src.source,
          readable: src.readable,
          close: () => src.close(),
          stats: () => ({ received: src.stats().events }),
        };
      },
      buildRules: buildEngineRules,
      makeState: () => (o.audit ? undefined : { state }),
      // Capture files written while replaying carry the replayed file's users.
      captureUsers: () => ({
        users: scap?.metadata.users ?? [],
        groups: scap?.metadata.groups ?? [],
      }),
      rulesFiles: o.rules,
      registry: new Registry(),
    });
  } catch (err) {
    if (err instanceof RulesError) {
      for (const p of err.problems) console.error(`saker replay: rules: ${p}`);
      return 1;
    }
    console.error(`saker replay: ${(err as Error).message}`);
    return 1;
  }
  const code = await agent.done;
  const failure = agent.pipeline.health().reason;
  if (failure?.startsWith("pipeline failed")) {
    console.error(`saker replay: ${failure.replace(/^pipeline failed: /, "")}`);
    return 1;
  }
  return code;
}
