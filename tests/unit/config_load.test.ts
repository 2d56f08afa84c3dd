import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { applyOverride, expandEnv, parseKeyPath } from "../../src/config/overrides.ts";
import { check, type Issue, parseBytes } from "../../src/config/validate.ts";
import { defaultConfig, SPEC } from "../../src/config/spec.ts";

const load = (text: string, overrides: string[] = [], env: Record<string, string> = {}) =>
  loadConfig({ file: "test.yaml", text, overrides, env });

async function problems(text: string, overrides: string[] = [], env = {}): Promise<string[]> {
  try {
    await load(text, overrides, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

Deno.test("config: the repository's config.yaml loads without problems", async () => {
  const { config, warnings } = await loadConfig({
    file: `${REPO_ROOT}config.yaml`,
    env: {},
  });
  assertEquals(warnings, []);
  assertEquals(config.webserver.listen_port, 8765);
  assertEquals(config.webserver.listen_address, "127.0.0.1");
  assertEquals(config.webserver.auth_token, "");
  assertEquals(config.kernel.ring_buffer_size, 16 * 1024 * 1024);
  assertEquals(config.kernel.poll_interval, 2);
  assertEquals(config.kernel.max_delay, 5);
  assertEquals(config.alert_store.max_age, 7 * 86400);
  assertEquals(config.outputs_queue.flush_timeout, 10);
  assertEquals(config.webserver.max_request_body_bytes, 1024 * 1024);
  assertEquals(config.priority, "Debug");
});

Deno.test("config: Falco's default falco.yaml loads, Falco-only keys become warnings", {
  ignore: needsReference(),
}, async () => {
  // Falco's file serves its web server on 0.0.0.0 without a token: Saker's API serves the
  // stored alerts too, so it asks for a token (or webserver.allow_unauthenticated) first.
  const file = `${REFERENCE_DIR}/falco-config/falco.yaml`;
  const refused = await assertRejects(() => loadConfig({ file, env: {} }));
  assertEquals((refused as ConfigError).problems.length, 1, refused.message);
  assertStringIncludes(refused.message, "webserver.listen_address: 0.0.0.0 is reachable");
  // Falco's file enables http_output.insecure: false and ships a slack program; all valid.
  const { config, warnings } = await loadConfig({
    file,
    env: {},
    overrides: ["webserver.auth_token=a-token-of-at-least-16-characters"],
  });
  assertEquals(config.rules_files, [
    "/etc/falco/falco_rules.yaml",
    "/etc/falco/falco_rules.local.yaml",
    "/etc/falco/rules.d",
  ]);
  assertEquals(config.syslog_output.enabled, true);
  assertEquals(config.webserver.listen_address, "0.0.0.0");
  assertEquals(config.webserver.prometheus_metrics_enabled, false);
  assertEquals(config.metrics.interval, 3600);
  assertEquals(config.syscall_event_drops.actions, ["log", "alert"]);
  // outputs_queue.capacity 0 means unbounded in Falco: taken as the default bound.
  assertEquals(config.outputs_queue.capacity, 10000);
  const text = warnings.join("\n");
  assertStringIncludes(text, "key engine.kmod: ignored");
  // Falco's engine: modern_ebpf with 8 MB per pair of CPUs sizes Saker's one ring.
  assertEquals(config.engine.kind, "modern_ebpf");
  let ring = 8 * 1024 * 1024 * Math.ceil((navigator.hardwareConcurrency || 1) / 2);
  while ((ring & (ring - 1)) !== 0) ring &= ring - 1;
  assertEquals(config.kernel.ring_buffer_size, ring);
  assertEquals(config.log_syslog, true);
  assertEquals(config.metrics.kernel_event_counters_per_cpu_enabled, false);
  // Plugin entries are read (k8saudit and json run natively); none is loaded here.
  assertEquals(config.load_plugins, []);
  assertEquals(config.plugins.map((p) => p.name), ["container"]);
  assertStringIncludes(text, "outputs_queue.capacity: 0 (unbounded) is not supported");
  // Each warning points at its line in the file.
  assert(warnings.every((w) => /falco\.yaml:\d+:\d+: key /.test(w)), text);
});

Deno.test("config: Falco's legacy test configs load (rules_file as an alias)", {
  ignore: needsReference(),
}, async () => {
  const { config } = await loadConfig({
    file: `${REFERENCE_DIR}/falco-legacy-tests/confs/program_output.yaml`,
    env: {},
  });
  assertEquals(config.rules_files, ["/etc/falco_rules.yaml"]);
  assertEquals(config.program_output, {
    enabled: true,
    keep_alive: false,
    program: "cat >> /tmp/falco_outputs/program_output.txt",
  });
  const drops = await loadConfig({
    file: `${REFERENCE_DIR}/falco-legacy-tests/confs/drops_alert.yaml`,
    env: {},
  });
  assertEquals(drops.config.syscall_event_drops.simulate_drops, true);
  assertEquals(drops.config.syscall_event_drops.max_burst, 10);
});

Deno.test("config: Falco's invalid drop configs are rejected with the key named", {
  ignore: needsReference(),
}, async () => {
  for (
    const [name, expected] of [
      ["drops_threshold_oor.yaml", "syscall_event_drops.threshold: expected a number from 0 to 1"],
      ["drops_threshold_neg.yaml", "syscall_event_drops.threshold: expected a number from 0 to 1"],
      [
        "drops_ignore_log.yaml",
        `syscall_event_drops.actions: action "log" does not make sense with the "ignore" action`,
      ],
    ]
  ) {
    const err = await assertRejects(() =>
      loadConfig({ file: `${REFERENCE_DIR}/falco-legacy-tests/confs/${name}`, env: {} })
    );
    assertStringIncludes(err.message, expected);
  }
});

Deno.test("config: every bad value names file, line, column, key and what is accepted", async () => {
  const p = await problems(
    [
      "webserver:",
      "  listen_port: 99999",
      "  enabled: maybe",
      "priority: loud",
      "kernel:",
      "  ring_buffer_size: 3MiB",
      "  poll_interval: soon",
      "syslog_output: {facility: nowhere}",
      "stdout_outptu: {enabled: true}",
      "http_output: {url: 'ftp://x'}",
    ].join("\n"),
  );
  assertEquals(p, [
    "test.yaml:2:16: key webserver.listen_port: expected an integer from 0 to 65535, got 99999",
    'test.yaml:3:12: key webserver.enabled: expected true or false, got "maybe"',
    "test.yaml:4:11: key priority: expected one of emergency, alert, critical, error, warning, " +
    'notice, informational, debug, info, got "loud"',
    "test.yaml:6:21: key kernel.ring_buffer_size: expected a size in bytes (an integer or e.g. " +
    '512KiB, 16MiB) that is a power of two, got "3MiB"',
    "test.yaml:7:18: key kernel.poll_interval: expected a duration (e.g. 500ms, 30s, 5m, 1h, 7d, " +
    'or a number of milliseconds), got "soon"',
    "test.yaml:8:27: key syslog_output.facility: expected one of kern, user, mail, daemon, auth, " +
    "syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, " +
    'local5, local6, local7, got "nowhere"',
    p[6], // checked below: unknown key with a suggestion
    'test.yaml:10:20: key http_output.url: expected an http:// or https:// URL, got "ftp://x"',
  ]);
  assertStringIncludes(p[6], "test.yaml:9:1: key stdout_outptu: unknown key (did you mean");
  assertStringIncludes(p[6], "stdout_output?)");
});

Deno.test("config: YAML syntax errors carry line and column", async () => {
  const p = await problems("webserver:\n  listen_port: [1\nfoo: 2\n");
  assertEquals(p.length >= 1, true);
  assert(/^test\.yaml:\d+:\d+: invalid YAML: /.test(p[0]), p[0]);
});

Deno.test("config: cross-key checks", async () => {
  const p = await problems(
    [
      "http_output: {enabled: true, insecure: true}",
      "program_output: {enabled: true, program: ''}",
      "syscall_event_drops: {actions: [ignore, alert]}",
    ].join("\n"),
  );
  assertEquals(p.length, 3);
  assertStringIncludes(p.join("\n"), "key http_output.url: required when http_output.enabled");
  assertStringIncludes(p.join("\n"), "key program_output.program: required");
  assertStringIncludes(p.join("\n"), `action "alert" does not make sense with the "ignore"`);
});

Deno.test("config: -o overrides dotted keys, list items, appends and YAML maps", async () => {
  const { config } = await load(
    "rules_files: [a.yaml, b.yaml]\nwebserver: {listen_port: 1}\n",
    [
      "webserver.listen_port=9000",
      "rules_files[1]=c.yaml",
      "rules_files[]=d.yaml",
      "json_output=true",
      "append_output[]={match: {source: syscall}, extra_output: 'cpu=%evt.cpu'}",
      "http_output.headers.X-Team=sec",
      "kernel.ring_buffer_size=64MiB",
    ],
  );
  assertEquals(config.webserver.listen_port, 9000);
  assertEquals(config.rules_files, ["a.yaml", "c.yaml", "d.yaml"]);
  assertEquals(config.json_output, true);
  assertEquals(config.append_output, [{
    match: { source: "syscall" },
    extra_output: "cpu=%evt.cpu",
  }]);
  assertEquals(config.http_output.headers, { "X-Team": "sec" });
  assertEquals(config.kernel.ring_buffer_size, 64 * 1024 * 1024);
});

Deno.test("config: bad -o options are reported with the option", async () => {
  const p = await problems("", [
    "webserver.listen_port=abc",
    "novalue",
    "rules_files[5]=x",
    "a..b=1",
  ]);
  assertEquals(p, [
    "-o novalue: 'novalue' must be of the form key=value (e.g. webserver.listen_port=9000)",
    "-o rules_files[5]=x: index 5 is past the end of 'rules_files' (0 items; use [] to append)",
    "-o a..b=1: empty key name at position 2 in 'a..b'",
    "-o webserver.listen_port=abc: key webserver.listen_port: expected an integer from 0 to " +
    '65535, got "abc"',
  ]);
});

Deno.test("config: ${ENV} expansion in the file and in -o values", async () => {
  const { config } = await load(
    [
      "webserver: {auth_token: '${TOKEN}'}",
      "alert_store: {path: '${STATE:-/var/lib/saker}/alerts.db'}",
      "file_output: {filename: '$${NOT_EXPANDED}'}",
    ].join("\n"),
    ["http_output.user_agent=saker/${VERSION}"],
    { TOKEN: "s3cret", VERSION: "1.2" },
  );
  assertEquals(config.webserver.auth_token, "s3cret");
  assertEquals(config.alert_store.path, "/var/lib/saker/alerts.db");
  assertEquals(config.file_output.filename, "${NOT_EXPANDED}");
  assertEquals(config.http_output.user_agent, "saker/1.2");
  const p = await problems("webserver: {auth_token: '${TOKEN}'}");
  assertEquals(p, [
    "test.yaml:1:25: key webserver.auth_token: environment variable TOKEN is not set " +
    "(write ${TOKEN:-} to allow it empty)",
  ]);
});

Deno.test("config: config_files merges more files (append lists, override, add-only)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/conf.d`);
    await Deno.writeTextFile(`${dir}/conf.d/10-a.yaml`, "rules_files: [extra.yaml]\n");
    await Deno.writeTextFile(`${dir}/conf.d/20-b.yaml`, "webserver: {listen_port: 7000}\n");
    await Deno.writeTextFile(`${dir}/over.yaml`, "rules_files: [only.yaml]\n");
    await Deno.writeTextFile(
      `${dir}/main.yaml`,
      `rules_files: [main.yaml]\nconfig_files:\n  - ${dir}/conf.d\n  - ${dir}/missing.d\n`,
    );
    const r = await loadConfig({ file: `${dir}/main.yaml`, env: {} });
    assertEquals(r.config.rules_files, ["main.yaml", "extra.yaml"]);
    assertEquals(r.config.webserver.listen_port, 7000);
    assertEquals(r.files, [
      `${dir}/main.yaml`,
      `${dir}/conf.d/10-a.yaml`,
      `${dir}/conf.d/20-b.yaml`,
    ]);
    await Deno.writeTextFile(
      `${dir}/main2.yaml`,
      `rules_files: [main.yaml]\nconfig_files: [{path: ${dir}/over.yaml, strategy: override}]\n`,
    );
    const r2 = await loadConfig({ file: `${dir}/main2.yaml`, env: {} });
    assertEquals(r2.config.rules_files, ["only.yaml"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: an empty config_files entry is an error naming the key, not a crash", async () => {
  const err = await assertRejects(() =>
    loadConfig({ text: "rules_files: [main.yaml]\nconfig_files: [~]\n", env: {} })
  );
  assertEquals(err instanceof ConfigError, true);
  assertStringIncludes(err.message, "config_files");
});

Deno.test("config: a missing file is an error naming it", async () => {
  const err = await assertRejects(() => loadConfig({ file: "/nonexistent/saker.yaml" }));
  assertStringIncludes(err.message, "/nonexistent/saker.yaml: cannot read the config file");
});

Deno.test("config: key paths, escapes and sizes", () => {
  assertEquals(parseKeyPath("a.b[2].c"), ["a", "b", 2, "c"]);
  assertEquals(parseKeyPath("a\\.b.c"), ["a.b", "c"]);
  assertEquals(parseKeyPath("l[]"), ["l", { append: true }]);
  assertThrows(() => parseKeyPath("a[x]"), "expected a list index");
  assertThrows(() => parseKeyPath("a\\q"), "invalid escape");
  const o: Record<string, unknown> = { l: [{ x: 1 }] };
  applyOverride(o, "l[0].y=2");
  assertEquals(o, { l: [{ x: 1, y: "2" }] });
  assertEquals(expandEnv("a${X}b${Y:-d}", { X: "1" }), "a1bd");
  assertEquals(parseBytes("16MiB"), 16 * 1024 * 1024);
  assertEquals(parseBytes("1k"), 1000);
  assertEquals(parseBytes(4096), 4096);
  assertEquals(parseBytes("12 parsecs"), undefined);
});

Deno.test("config: every key of the table has a default, and the defaults pass its checks", () => {
  const defaults = defaultConfig();
  const issues: Issue[] = [];
  const checked = check(SPEC, defaults, [], issues);
  assertEquals(issues, []);
  assertEquals(checked, defaults);
  // Ignored Falco keys are read (with a warning) but never part of the config.
  assert(
    !("grpc" in defaults) && "webserver" in defaults && !("threadiness" in defaults.webserver),
  );
  // Each call gives fresh lists and maps.
  defaultConfig().rules_files.push("x");
  assertEquals(defaultConfig().rules_files, []);
});

Deno.test("config: Falco's engine section in Saker's terms", async () => {
  const cpus = navigator.hardwareConcurrency || 1;
  const preset = await load(
    "engine: {kind: modern_ebpf, modern_ebpf: {buf_size_preset: 6, " +
      "cpus_for_each_buffer: 0}}\n",
  );
  assertEquals(preset.config.kernel.ring_buffer_size, 32 * 1024 * 1024, "one 32 MB buffer");
  const pairs = await load(
    "engine: {modern_ebpf: {buf_size_preset: 4, cpus_for_each_buffer: 2}}\n",
  );
  let want = 8 * 1024 * 1024 * Math.ceil(cpus / 2);
  while ((want & (want - 1)) !== 0) want &= want - 1;
  assertEquals(pairs.config.kernel.ring_buffer_size, want, "8 MB per pair of CPUs");
  const explicit = await load(
    "engine: {modern_ebpf: {buf_size_preset: 6}}\nkernel: {ring_buffer_size: 4MiB}\n",
  );
  assertEquals(explicit.config.kernel.ring_buffer_size, 4 * 1024 * 1024, "Saker's key wins");
  assertEquals((await load("")).config.kernel.ring_buffer_size, 16 * 1024 * 1024);
  const kmod = await load("engine: {kind: kmod, kmod: {buf_size_preset: 4}}\n");
  assert(kmod.warnings.some((w) => w.includes("engine.kind: kmod: Saker's engine is its CO-RE")));
  assert(kmod.warnings.some((w) => w.includes("engine.kmod") && w.includes("ignored")));
  const replay = await problems("engine: {kind: replay}\n");
  assertStringIncludes(replay.join("\n"), "engine.replay.capture_file: required");
  assertEquals(
    (await load("engine: {modern_ebpf: {drop_failed_exit: true}}\n")).config.engine
      .modern_ebpf.drop_failed_exit,
    true,
  );
});
