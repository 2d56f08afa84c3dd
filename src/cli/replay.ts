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
import { loadCliModule } from "./main.ts";
import { compileFilter, compileWithPluginFields } from "../rules/filter.ts";
import type { Ruleset } from "../rules/ruleset.ts";
import { type Alert, parsePriority, PRIORITIES } from "../rules/alert.ts";
import type { AlertFormatter } from "../outputs/format.ts";
import { replayCapture } from "../pipeline/replay.ts";
import type { Plugin } from "../plugins/api.ts";
import { EventPrinter } from "./event_printer.ts";
import { readsUserTables } from "../rules/fields/user.ts";
import { ProgressBar } from "./progress.ts";
import type { CaptureRecorder, CaptureSettings } from "../pipeline/recorder.ts";
import type { Event } from "../events/event.ts";
import { K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { SHB_BLOCK } from "../capture/format.ts";
import { readHeadSync } from "../capture/reader.ts";

// Modules only some replays need (rules files, the agent, capture settings, audit and plugin
// inputs) load when asked for: a filter over a capture file starts in a fraction of the time
// (no YAML parser). Audit and plugin inputs with every plugin's field and their replays
// (replay_inputs.ts), the rules (replay_rules.ts), the agent (replay_agent.ts) and the capture
// recorder (replay_capture.ts) come through loadCliModule, by a name Deno does not follow before
// the run: a literal import() of them would have Deno read their whole module graphs at every
// start (~4 ms).

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
  let inputs: typeof import("./replay_inputs.ts") | undefined;
  const loadInputs = async () =>
    inputs ??= await loadCliModule<typeof import("./replay_inputs.ts")>("replay_inputs.ts");
  let plugin: Plugin | undefined;
  if (v.plugin !== undefined) {
    const { BUILTIN_PLUGINS } = await loadInputs();
    plugin = BUILTIN_PLUGINS.find((p) => p.name === v.plugin && p.open);
    if (!plugin) {
      const names = BUILTIN_PLUGINS.filter((p) => p.sniff).map((p) => p.name).join(", ");
      console.error(`saker replay: --plugin: no plugin ${v.plugin} reads files (${names})`);
      return 2;
    }
  }
  // A capture file (a section header first) is neither an audit file nor a plugin's log file.
  const json = plugin === undefined && !isPlainCapture(file) &&
    await (await loadInputs()).isAuditInput(file).catch(() => false);
  if (json) {
    const { looksLikeJson, BUILTIN_PLUGINS } = await loadInputs();
    const head = await looksLikeJson(file).catch(() => undefined);
    if (head !== undefined) plugin = BUILTIN_PLUGINS.find((p) => p.sniff?.(head));
  }
  const audit = json && plugin === undefined;
  // Audit and plugin files read the plugins' fields (replay_inputs.ts registers them); a capture
  // file loads them only when its filter or format names one (compileWithPluginFields).
  if (plugin?.source) (await loadInputs()).wakeSource(plugin.source);
  const source = plugin?.source ?? (audit ? K8S_AUDIT_SOURCE : "syscall");
  if ((v.config !== undefined || v.option !== undefined) && plugin !== undefined) {
    console.error("saker replay: -c and -o replay captures and audit files; not plugin files");
    return 2;
  }
  if (v.config !== undefined || v.option !== undefined) {
    const { replayThroughAgent } = await loadCliModule<typeof import("./replay_agent.ts")>(
      "replay_agent.ts",
    );
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
  let recorderClass: typeof CaptureRecorder | undefined;
  if (v.capture !== undefined && (audit || plugin)) {
    console.error("saker replay: --capture saves system call events; not for audit files");
    return 2;
  }
  if (v.capture !== undefined) {
    const { captureSection, CaptureRecorder } = await loadCliModule<
      typeof import("./replay_capture.ts")
    >("replay_capture.ts");
    recorderClass = CaptureRecorder;
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
      printer = await compileWithPluginFields(() => new EventPrinter(format, source), loadInputs);
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
      const f = await compileWithPluginFields(
        () => compileFilter(filterText, source),
        loadInputs,
      );
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
    const { loadReplayRules } = await loadCliModule<typeof import("./replay_rules.ts")>(
      "replay_rules.ts",
    );
    const rules = await loadReplayRules({
      rules: v.rules,
      tags: v.tag ?? [],
      disableTags: v["disable-tag"] ?? [],
      disable: v.disable ?? [],
      minPriority,
      ruleMatching: matching,
      source,
    });
    if (!rules) return 2;
    ({ ruleset, formatter } = rules);
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
      ? await (await loadInputs()).replayPlugin(plugin, file, {
        evaluator: ruleset,
        filter,
        onEvent,
        onAlerts,
        afterBatch,
      })
      : audit
      ? await (await loadInputs()).replayAuditFile(file, {
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
        recorderClass,
        // Only the events the filter (else the rules) can see are decoded, with state's.
        eventNames: filter
          ? filterNames
          : printer || !ruleset
          ? "all"
          : new Set(ruleset.eventNames()),
        // Only what the filter evaluates is seen by the rules and the printer.
        userTables: ruleset !== undefined ||
          readsUserTables([...filterFields, ...(printer?.format.fields ?? [])]),
        // The filter and the printer are done with an event when they return.
        transientEvents: true,
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
  // Written, not console.error: a console call makes V8 record the call stack with its source
  // positions, which for the bundle's functions means parsing them again (~3 ms of every run).
  Deno.stderr.writeSync(enc.encode(
    `saker replay: ${result.events} events, ${result.alerts} alerts, ` +
      ("rejected" in result ? `${result.rejected} not audit events, ` : "") +
      ("bad" in result ? `${result.bad} bad events, ` : "") +
      `${result.seconds.toFixed(3)} s (${rate} events/s)\n`,
  ));
  if ("captures" in result) {
    for (const f of result.captures) console.error(`saker replay: capture written: ${f}`);
    if (result.error) {
      console.error(`saker replay: ${result.error.message}`);
      return 1;
    }
  }
  return 0;
}
