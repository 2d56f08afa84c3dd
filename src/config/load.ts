/**
 * Loading the configuration: the YAML file (`-c`), the files and directories its `config_files`
 * names, `${VAR}` expansion, `-o key=value` overrides, then checking every key against the
 * schema. All problems are collected and reported together, each with the file, line and column
 * (or the `-o` option) and what the key accepts.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./load.ts";
 * const { config, warnings } = await loadConfig({
 *   file: "config.yaml",
 *   overrides: ["json_output=true", "webserver.listen_port=9000"],
 * });
 * ```
 * @module
 */
import { type Document, isMap, LineCounter } from "yaml";
import { check, type Issue } from "./validate.ts";
import { type Config, defaultConfig, SPEC } from "./spec.ts";
import { applyOverride, expandEnvDeep, formatPath } from "./overrides.ts";
import { auditInputs } from "../k8saudit/audit_inputs.ts";
import { isLoopbackAddress } from "../server/loopback.ts";
import { parseYamlDocuments } from "../rules/yaml.ts";

/** What to load. */
export interface LoadOptions {
  /** Config file path; without it only defaults and overrides apply. */
  file?: string;
  /** Config text to use instead of reading `file` (which then only names it in messages). */
  text?: string;
  /** `-o key=value` options, applied in order after the files. */
  overrides?: string[];
  /** Environment for `${VAR}` (default: the process environment). */
  env?: Record<string, string | undefined>;
}

/** A loaded configuration. */
export interface LoadedConfig {
  config: Config;
  /** Problems that do not stop loading (ignored Falco keys ...), one line each. */
  warnings: string[];
  /** Every config file read (to watch for changes). */
  files: string[];
}

/** The configuration is invalid; `problems` has one line per error. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? `invalid configuration: ${problems[0]}`
        : `invalid configuration (${problems.length} problems):\n  ${problems.join("\n  ")}`,
    );
    this.name = "ConfigError";
  }
}

interface Located {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/** Where a key comes from, for messages. */
class Origins {
  files: Located[] = [];
  overridden = new Map<string, string>();

  describe(path: (string | number)[], atKey = false): string {
    const key = formatPath(path);
    for (let n = path.length; n > 0; n--) {
      const o = this.overridden.get(formatPath(path.slice(0, n)));
      if (o) return `-o ${o}: key ${key}`;
    }
    for (let i = this.files.length - 1; i >= 0; i--) {
      const f = this.files[i];
      if (atKey && path.length > 0) {
        const parent = path.length === 1 ? f.doc.contents : f.doc.getIn(path.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) =>
            (p.key as { value?: unknown })?.value === path[path.length - 1]
          );
          const range = (pair?.key as { range?: [number, number] })?.range;
          if (range) {
            const { line, col } = f.lines.linePos(range[0]);
            return `${f.file}:${line}:${col}: key ${key}`;
          }
        }
      }
      for (let n = path.length; n > 0; n--) {
        const node = f.doc.getIn(path.slice(0, n), true) as
          | { range?: [number, number] }
          | undefined;
        if (node?.range) {
          const { line, col } = f.lines.linePos(node.range[0]);
          return `${f.file}:${line}:${col}: key ${key}`;
        }
      }
    }
    return `key ${key}`;
  }
}

async function readYaml(
  file: string,
  text: string | undefined,
  origins: Origins,
  problems: string[],
): Promise<Record<string, unknown> | undefined> {
  let src = text;
  if (src === undefined) {
    try {
      src = await Deno.readTextFile(file);
    } catch (err) {
      problems.push(`${file}: cannot read the config file: ${(err as Error).message}`);
      return undefined;
    }
  }
  const lines = new LineCounter();
  const { docs, error } = parseYamlDocuments(src, {
    lineCounter: lines,
    prettyErrors: false,
    logLevel: "error",
  });
  if (error) {
    const pos = lines.linePos(error.offset);
    problems.push(`${file}:${pos.line}:${pos.col}: invalid YAML: ${error.message}`);
    return undefined;
  }
  if (docs.length > 1) {
    problems.push(`${file}: holds ${docs.length} YAML documents; a config is one`);
    return undefined;
  }
  const doc = docs[0];
  if (!doc) return {};
  if (doc.contents !== null && !isMap(doc.contents)) {
    problems.push(`${file}: the config must be a map of keys to values`);
    return undefined;
  }
  let value: Record<string, unknown>;
  try {
    value = (doc.toJS() ?? {}) as Record<string, unknown>;
  } catch (err) {
    // An alias to no anchor, or aliases expanding beyond the library's bound (alias bombs).
    problems.push(`${file}: invalid YAML: ${(err as Error).message}`);
    return undefined;
  }
  origins.files.push({ file, doc, lines });
  return value;
}

/** Merges `extra` into `base` (maps recursively; lists per strategy). */
function mergeInto(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
  strategy: string,
): void {
  for (const [k, v] of Object.entries(extra)) {
    const cur = base[k];
    if (strategy === "add-only" && cur !== undefined) continue;
    if (
      strategy === "append" && Array.isArray(cur) && Array.isArray(v)
    ) base[k] = [...cur, ...v];
    else if (
      cur && v && typeof cur === "object" && typeof v === "object" && !Array.isArray(cur) &&
      !Array.isArray(v)
    ) mergeInto(cur as Record<string, unknown>, v as Record<string, unknown>, strategy);
    else base[k] = v;
  }
}

async function yamlFilesIn(path: string): Promise<string[]> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return [path];
  const out: string[] = [];
  for await (const e of Deno.readDir(path)) {
    if (e.isFile && /\.ya?ml$/.test(e.name)) out.push(`${path.replace(/\/$/, "")}/${e.name}`);
  }
  return out.sort();
}

/** Merges defaults with the checked values: maps recursively, everything else replaced. */
function overlay(base: Record<string, unknown>, top: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(top)) {
    const cur = base[k];
    if (
      cur && typeof cur === "object" && !Array.isArray(cur) && v && typeof v === "object" &&
      !Array.isArray(v) && Object.keys(cur).length > 0
    ) overlay(cur as Record<string, unknown>, v as Record<string, unknown>);
    else base[k] = v;
  }
}

/** Checks that hold between keys, after each key is valid on its own. */
/**
 * Falco's engine section in Saker's terms: a `buf_size_preset` given (and no
 * `kernel.ring_buffer_size`) sizes the one ring as Falco's buffers together (the preset's size
 * times the buffers `cpus_for_each_buffer` makes of the online CPUs); `kmod` and `ebpf` run
 * Saker's probe, said once.
 */
function engineSettings(
  c: Config,
  given: Record<string, unknown>,
  warn: (key: string[], msg: string) => void,
): void {
  const has = (o: unknown, k: string) => typeof o === "object" && o !== null && k in o;
  const engine = given.engine as Record<string, unknown> | undefined;
  const modern = engine?.modern_ebpf;
  if (has(modern, "buf_size_preset") && !has(given.kernel, "ring_buffer_size")) {
    const preset = c.engine.modern_ebpf.buf_size_preset;
    if (preset > 0) {
      const cpus = navigator.hardwareConcurrency || 1;
      const per = c.engine.modern_ebpf.cpus_for_each_buffer;
      const buffers = per === 0 ? 1 : Math.ceil(cpus / per);
      let size = (1 << (preset - 1)) * 1024 * 1024 * buffers;
      while ((size & (size - 1)) !== 0) size = size & (size - 1); // down to a power of two
      c.kernel.ring_buffer_size = Math.max(size, 1 << 20);
    }
  }
  if (c.engine.kind === "kmod" || c.engine.kind === "ebpf" || c.engine.kind === "gvisor") {
    warn(
      ["engine", "kind"],
      `${c.engine.kind}: Saker's engine is its CO-RE eBPF probe (modern_ebpf); using it`,
    );
  }
}

function crossChecks(c: Config, add: (key: string, msg: string) => void): void {
  const acts = c.syscall_event_drops.actions;
  if (acts.includes("ignore")) {
    for (const a of acts) {
      if (a === "log" || a === "alert") {
        add(
          "syscall_event_drops.actions",
          `action "${a}" does not make sense with the "ignore" action`,
        );
      }
    }
  }
  if (c.http_output.enabled && c.http_output.url === "") {
    add(
      "http_output.url",
      "required when http_output.enabled is true (an http:// or https:// URL)",
    );
  }
  if (c.engine.kind === "replay" && c.engine.replay.capture_file === "") {
    add("engine.replay.capture_file", "required when engine.kind is replay (a .scap file)");
  }
  if (c.program_output.enabled && c.program_output.program.trim() === "") {
    add("program_output.program", "required when program_output.enabled is true (a command)");
  }
  if (c.file_output.enabled && c.file_output.filename === "") {
    add("file_output.filename", "required when file_output.enabled is true (a file path)");
  }
  if (c.webserver.ssl_enabled && c.webserver.ssl_certificate === "") {
    add("webserver.ssl_certificate", "required when webserver.ssl_enabled is true (a PEM file)");
  }
  const rs = c.remote_syslog_output;
  if (rs.enabled && (rs.client_cert === "") !== (rs.client_key === "")) {
    add("remote_syslog_output.client_cert", "client_cert and client_key go together");
  }
  for (const key of ["nats_output", "collector"] as const) {
    const n = c[key];
    if (!n.enabled) continue;
    if (n.servers.length === 0) add(`${key}.servers`, `required when ${key}.enabled is true`);
    if (n.user === "" && n.password !== "") add(`${key}.user`, "required with a password");
    if (n.tls.enabled && (n.tls.client_cert === "") !== (n.tls.client_key === "")) {
      add(`${key}.tls`, "client_cert and client_key go together");
    }
  }
  const w = c.webserver;
  if (
    w.enabled && !isLoopbackAddress(w.listen_address) && w.auth_token === "" &&
    !w.allow_unauthenticated
  ) {
    add(
      "webserver.listen_address",
      `${w.listen_address} is reachable from other hosts and webserver.auth_token is empty: ` +
        "set a token (`saker token` makes one) or webserver.allow_unauthenticated: true",
    );
  }
  if (c.metrics.enabled && !c.metrics.output_rule && c.metrics.output_file === "") {
    add("metrics", "enabled, but neither output_rule nor output_file says where to write");
  }
}

/** Loads, expands, overrides and checks a configuration. Throws ConfigError listing problems. */
export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? Deno.env.toObject();
  const problems: string[] = [];
  const warnings: string[] = [];
  const origins = new Origins();
  const files: string[] = [];
  let raw: Record<string, unknown> = {};

  if (opts.file !== undefined || opts.text !== undefined) {
    const name = opts.file ?? "<config>";
    const main = await readYaml(name, opts.text, origins, problems);
    if (main) {
      raw = main;
      if (opts.file) files.push(opts.file);
    }
  }

  const expandIssues = (path: (string | number)[], err: Error) =>
    problems.push(`${origins.describe(path)}: ${err.message}`);
  expandEnvDeep(raw, env, expandIssues);

  // config_files: more files merged after the main one (Falco's config.d).
  const extra = raw.config_files;
  if (Array.isArray(extra)) {
    for (const [index, item] of extra.entries()) {
      const path = typeof item === "string" ? item : (item as { path?: string })?.path;
      const strategy = item !== null && typeof item === "object"
        ? (item as { strategy?: string }).strategy
        : "";
      if (typeof path !== "string" || path === "") {
        problems.push(
          `${origins.describe(["config_files", index])}: expected a path or a map with a path`,
        );
        continue;
      }
      let paths: string[];
      try {
        paths = await yamlFilesIn(path);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue; // an absent config.d is normal
        problems.push(`config_files: ${path}: ${(err as Error).message}`);
        continue;
      }
      for (const p of paths) {
        const part = await readYaml(p, undefined, origins, problems);
        if (!part) continue;
        files.push(p);
        expandEnvDeep(part, env, expandIssues);
        delete part.config_files;
        mergeInto(raw, part, strategy || "append");
      }
    }
  }

  for (const o of opts.overrides ?? []) {
    try {
      const eq = o.indexOf("=");
      const value = eq < 0 ? "" : expandEnvDeep(o.slice(eq + 1), env, (_p, e) => {
        throw e;
      }) as string;
      const path = applyOverride(raw, eq < 0 ? o : `${o.slice(0, eq)}=${value}`);
      origins.overridden.set(formatPath(path), o);
    } catch (err) {
      problems.push(`-o ${o}: ${(err as Error).message}`);
    }
  }

  const issues: Issue[] = [];
  const checked = check(SPEC, raw, [], issues) as Record<string, unknown> | undefined;
  for (const i of issues) {
    const line = `${origins.describe(i.path, i.atKey)}: ${i.message}`;
    if (i.severity === "error") problems.push(line);
    else warnings.push(line);
  }

  const config = defaultConfig();
  if (checked) overlay(config as unknown as Record<string, unknown>, checked);
  if (config.outputs_queue.capacity === 0) {
    // Falco's 0 means unbounded; Saker's queues are always bounded.
    config.outputs_queue.capacity = defaultConfig().outputs_queue.capacity;
    warnings.push(
      `${origins.describe(["outputs_queue", "capacity"])}: 0 (unbounded) is not supported; ` +
        `using ${config.outputs_queue.capacity}`,
    );
  }
  engineSettings(
    config,
    checked ?? {},
    (key, msg) => warnings.push(`${origins.describe(key)}: ${msg}`),
  );
  crossChecks(config, (key, msg) => problems.push(`${origins.describe(key.split("."))}: ${msg}`));
  // Kubernetes audit inputs: the endpoint and the k8saudit plugin entries (src/k8saudit).
  const audit = auditInputs(config);
  const at = (key: string) =>
    origins.describe(
      key.replace(/\[(\d+)\]/g, ".$1").split(".").map((k) => /^\d+$/.test(k) ? +k : k),
    );
  for (const e of audit.errors) problems.push(`${at(e.key)}: ${e.message}`);
  for (const w of audit.warnings) warnings.push(`${at(w.key)}: ${w.message}`);

  if (problems.length > 0) throw new ConfigError(problems);
  return { config, warnings, files };
}
