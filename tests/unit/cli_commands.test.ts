/**
 * The commands that need no kernel, run as a user runs them (`saker ...` in a child process) and
 * checked against facts from outside the code under test: `deno --version` and git for
 * `saker version`, line and column counted by hand in files written here for `saker validate`,
 * the rules files read as plain text for `saker rules list` and `saker simulate --list`, Falco's
 * field lists for `saker fields`, and `saker run --dry-run` for the options and the config file
 * lookup (-c, $SAKER_CONFIG, ./config.yaml, none; /etc/saker/config.yaml is in
 * tests/live/cli_run.test.ts, inside a mount namespace of its own).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { saker } from "../support/saker.ts";

const dec = new TextDecoder();

/** `name: value` lines into an object. */
function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.trim().split("\n")) {
    const i = l.indexOf(": ");
    assert(i > 0, `not a key: value line: ${l}`);
    out[l.slice(0, i)] = l.slice(i + 2);
  }
  return out;
}

Deno.test("saker version, --version and version --json agree with deno --version", async () => {
  const text = await saker(["version"]);
  assertEquals([text.code, text.stderr], [0, ""]);
  const json = await saker(["version", "--json"]);
  assertEquals(json.code, 0);
  const v = JSON.parse(json.stdout) as Record<string, unknown>;
  const kv = keyValues(text.stdout);
  assertEquals(Object.keys(kv), Object.keys(v), "the same keys in both forms");
  for (const [k, val] of Object.entries(v)) {
    assertEquals(kv[k], val === "" ? "-" : String(val), k);
  }
  assertEquals((await saker(["--version"])).stdout, text.stdout);
  // The runtime's own report.
  const d = dec.decode(
    (await new Deno.Command(Deno.execPath(), { args: ["--version"] }).output())
      .stdout,
  );
  assertEquals(v.deno, /^deno (\S+)/m.exec(d)?.[1]);
  assertEquals(v.v8, /^v8 (\S+)/m.exec(d)?.[1]);
  assertEquals(v.typescript, /^typescript (\S+)/m.exec(d)?.[1]);
  assertMatch(String(v.saker_version), /^\d+\.\d+\.\d+/);
  assertMatch(String(v.engine_version), /^\d+\.\d+\.\d+$/);
  if ("commit" in v) {
    const head = await new Deno.Command("git", { args: ["-C", REPO_ROOT, "rev-parse", "HEAD"] })
      .output();
    if (head.success) {
      assertEquals(String(v.commit).replace(/-dirty$/, ""), dec.decode(head.stdout).trim());
    }
  }
});

Deno.test({
  name: "saker version: the engine version covers what Falco's rules require",
  ignore: needsReference(),
  async fn() {
    const v = JSON.parse((await saker(["version", "--json"])).stdout);
    const rules = await Deno.readTextFile(`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`);
    const need = /required_engine_version: ['"]?([\d.]+)/.exec(rules)![1];
    const num = (s: string) => s.split(".").map(Number);
    const [a, b] = [num(v.engine_version), num(need.includes(".") ? need : `0.${need}.0`)];
    const cmp = a[0] - b[0] || a[1] - b[1] || (a[2] ?? 0) - (b[2] ?? 0);
    assert(cmp >= 0, `engine ${v.engine_version} < required ${need}`);
  },
});

const BAD = "- rule: r\n  desc: d\n  condition: evt.type = openat and proc.nam = x\n" +
  "  output: o\n  priority: INFO\n";
const WARN = "- macro: unused_m\n  condition: proc.name = x\n- rule: r\n  desc: d\n" +
  '  condition: evt.type = openat\n  output: "%proc.name"\n  priority: INFO\n';
const GOOD =
  '- rule: good one\n  desc: d\n  condition: evt.type = openat\n  output: "%proc.name"\n' +
  "  priority: INFO\n  tags: [t1, t2]\n";

Deno.test("saker validate / -V: verdicts, file:line:column with a caret, --json, exit status", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [n, t] of [["bad", BAD], ["warn", WARN], ["good", GOOD]]) {
      await Deno.writeTextFile(`${dir}/${n}.yaml`, t);
    }
    const good = await saker(["validate", "good.yaml"], { cwd: dir });
    assertEquals([good.code, good.stdout], [0, "good.yaml: Ok\n"]);
    // -V is the same command; any error makes the exit status 1.
    const both = await saker(["-V", "bad.yaml", "warn.yaml"], { cwd: dir });
    assertEquals(both.code, 1);
    const lines = both.stdout.split("\n");
    assertEquals(lines[0], "bad.yaml: Invalid");
    // "proc.nam" starts at column 36 of line 3 (counted in BAD above).
    assertMatch(lines[1], /^bad\.yaml:3:36: error LOAD_ERR_COMPILE_CONDITION: .*proc\.nam/);
    const snippet = lines.indexOf("  |   condition: evt.type = openat and proc.nam = x");
    assert(snippet > 0, both.stdout);
    assertEquals(lines[snippet + 1].indexOf("^") - "  | ".length, 35, "caret under column 36");
    assert(lines.includes("warn.yaml: Ok, with warnings"), both.stdout);
    assert(lines.some((l) => /^warn\.yaml:1:3: warning LOAD_UNUSED_MACRO/.test(l)), both.stdout);
    const warnOnly = await saker(["validate", "warn.yaml"], { cwd: dir });
    assertEquals(warnOnly.code, 0, "warnings alone do not fail");

    const json = await saker(["validate", "--json", "good.yaml", "bad.yaml"], { cwd: dir });
    assertEquals(json.code, 1);
    const res = JSON.parse(json.stdout).falco_load_results;
    assertEquals(res.map((r: { successful: boolean }) => r.successful), [true, false]);
    assertEquals(res[1].errors[0].code, "LOAD_ERR_COMPILE_CONDITION");
    const missing = await saker(["validate", "none.yaml"], { cwd: dir });
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.stdout + missing.stderr, "LOAD_ERR_FILE_READ");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Rule names of a rules file (rules, sequences and thresholds), read as plain text. */
function ruleNames(text: string): string[] {
  return [...text.matchAll(/^- (?:rule|sequence|threshold): (.+)$/gm)].map((m) =>
    m[1].trim().replace(/^(["'])(.*)\1$/, "$2")
  );
}

/** The rules files of rules/ (its tests/ directory holds rule tests). */
function ownRulesFiles(): string[] {
  return [...Deno.readDirSync(`${REPO_ROOT}rules`)]
    .filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => e.name)
    .sort();
}

Deno.test("saker rules list: every rule of the default rules, with events, priority and tags", async () => {
  const files = ownRulesFiles();
  const names: string[] = [];
  for (const f of files) names.push(...ruleNames(Deno.readTextFileSync(`${REPO_ROOT}rules/${f}`)));
  const text = await saker(["rules", "list", "-r", `${REPO_ROOT}rules`]);
  assertEquals(text.code, 0, text.stderr);
  const listed = text.stdout.split("\n").filter((l) => l !== "" && !l.startsWith(" "));
  assertEquals(listed.sort(), [...new Set(names)].sort());
  const json = await saker(["rules", "list", "--json", "-r", `${REPO_ROOT}rules`]);
  assertEquals(json.code, 0);
  const first = JSON.parse(json.stdout.split("\n")[0]);
  assertEquals(first.name ?? first.rule, names[0]);

  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/good.yaml`, GOOD);
    const one = await saker(["rules", "list", "-r", `${dir}/good.yaml`]);
    assertEquals(
      one.stdout,
      "good one\n  Informational · syscall · tags: t1, t2\n  events: openat\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "saker fields: text, --json and --markdown list the same fields, all known to Falco",
  ignore: needsReference(),
  async fn() {
    const json = await saker(["fields", "--json"]);
    assertEquals(json.code, 0);
    const all = JSON.parse(json.stdout) as { name: string; source: string; type: string }[];
    // Falco's field lists (libsinsp, the container and k8saudit plugins), the json plugin's, and
    // the fields of the plugins Saker carries.
    const falco = new Set([
      "json.value",
      "json.obj",
      "json.rawtime",
      "jevt.value",
      "jevt.obj",
      "jevt.rawtime",
    ]);
    for (const f of ["fields-libsinsp.tsv", "fields-k8saudit.tsv", "fields-container-plugin.tsv"]) {
      for (const l of (await Deno.readTextFile(`${REFERENCE_DIR}/${f}`)).split("\n")) {
        if (l && !l.startsWith("field\t")) falco.add(l.split("\t")[0].trim());
      }
    }
    // The plugins Saker carries: the fields their READMEs list.
    for (const plugin of ["cloudtrail", "github", "okta", "gcpaudit"]) {
      const readme = await Deno.readTextFile(`${REFERENCE_DIR}/falco-plugins/${plugin}/README.md`);
      for (const m of readme.matchAll(/^\| `([A-Za-z0-9_.]+)`\s*\|/gm)) falco.add(m[1]);
    }
    // static.NAME: Falco's static_fields (falco.yaml, "by prepending `static.`"), not a libs field.
    const falcoYaml = await Deno.readTextFile(`${REFERENCE_DIR}/falco-config/falco.yaml`);
    if (/^# \[Sandbox\] `static_fields`/m.test(falcoYaml)) falco.add("static");
    const unknown = all.map((f) => f.name).filter((n) => !falco.has(n));
    // evt.abspath.src/dst: Falco's list has them in evt.abspath's description, not as rows.
    assertEquals(
      unknown,
      ["evt.abspath.src", "evt.abspath.dst"].filter((n) => unknown.includes(n)),
    );
    const text = await saker(["fields"]);
    const md = await saker(["fields", "--markdown"]);
    for (const f of all) {
      assertMatch(text.stdout, new RegExp(`^  ${f.name.replaceAll(".", "\\.")}\\b`, "m"));
      assert(md.stdout.includes(`| \`${f.name}\``), `${f.name} in --markdown`);
    }
    // The README's count of syscall fields beyond evt.* (proc, thread, fd, fs.path, user, group,
    // container, k8s).
    const readme = await Deno.readTextFile(`${REPO_ROOT}README.md`);
    const claimed = Number(/\((\d+)\s+fields\s+plus evt\.\*\)/.exec(readme)?.[1]);
    const counted = new Set(
      all.filter((f) => /^(proc|thread|fd|fs|user|group|container|k8s)\./.test(f.name))
        .map((f) => f.name),
    ).size;
    assertEquals(counted, claimed, "README field count");
  },
});

Deno.test({
  name: "saker simulate --list: each action names rules that exist (Saker's and Falco's rulesets)",
  ignore: needsReference(),
  async fn() {
    const out = await saker(["simulate", "--list"]);
    assertEquals(out.code, 0, out.stderr);
    const saker_rules = new Set<string>();
    for (const f of ownRulesFiles()) {
      for (const n of ruleNames(Deno.readTextFileSync(`${REPO_ROOT}rules/${f}`))) {
        saker_rules.add(n);
      }
    }
    const falcoFile = { stable: "falco_rules", incubating: "falco-incubating_rules" } as const;
    const falco: Record<string, Set<string>> = {};
    for (const ruleset of ["stable", "incubating", "sandbox"]) {
      const file = falcoFile[ruleset as keyof typeof falcoFile] ?? `falco-${ruleset}_rules`;
      falco[ruleset] = new Set(ruleNames(
        await Deno.readTextFile(`${REFERENCE_DIR}/falco-rules/${file}.yaml`),
      ));
    }
    const [table, untriggered = ""] = out.stdout.split("\nFalco rules no action triggers here:\n");
    const actions = [...table.matchAll(/^(\S+)\s+(host|container)\s+\S+: .+$/gm)];
    assert(actions.length >= 40, `${actions.length} actions listed`);
    // Each action's lines that follow it name its rules: "Saker: ..." or "Falco RULESET: ...".
    const targets = [...table.matchAll(/^\s+(Saker|Falco (\w+)): (.+)$/gm)];
    for (const [, who, ruleset, rule] of targets) {
      if (who === "Saker") assert(saker_rules.has(rule), `no rule '${rule}' in rules/`);
      else assert(falco[ruleset]?.has(rule), `no rule '${rule}' in Falco's ${ruleset} rules`);
    }
    for (const [, name] of actions) {
      const block = table.slice(table.indexOf(`${name} `)).split("\n").slice(1);
      const own = block.slice(0, Math.max(0, block.findIndex((l) => !/^\s/.test(l))));
      assert(own.length > 0, `${name}: names no rule`);
    }
    const aimed = targets.filter((t) => t[1] === "Falco stable");
    assert(aimed.length >= 20, `${aimed.length} actions aimed at Falco's stable rules`);
    assert(targets.some((t) => t[1] === "Saker"), "actions aimed at Saker's rules");
    for (const [, ruleset, rule] of untriggered.matchAll(/^ {2}(\w+): (.+)$/gm)) {
      assert(falco[ruleset]?.has(rule), `untriggered '${rule}' is no rule of Falco's ${ruleset}`);
    }
    for (const n of ["read-sensitive-file", "container-shell"]) {
      assert(actions.some((a) => a[1] === n || a[1].startsWith("container-")), n);
    }
    const bad = await saker(["simulate", "no-such-action"]);
    assert(bad.code !== 0, "an unknown action is an error");
  },
});

/** The `rules files:` line of `saker run --dry-run` with `args`. */
async function dryRunRules(args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = await saker(["run", "--dry-run", ...args], { cwd, env });
  assertEquals(r.code, 0, r.stderr);
  return { rules: /^rules files: (.*)$/m.exec(r.stdout)?.[1], out: r.stdout, err: r.stderr };
}

Deno.test("saker run --dry-run: -c, $SAKER_CONFIG, ./config.yaml, none; -r and -o", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    for (const n of ["a", "b", "c", "d"]) {
      await Deno.writeTextFile(`${dir}/${n}.yaml`, GOOD.replace("good one", `rule ${n}`));
    }
    await Deno.mkdir(`${dir}/cwd`);
    const cfg = (rules: string) =>
      `rules_files: [${dir}/${rules}.yaml]\nalert_store: {enabled: false}\nlog_level: info\n`;
    await Deno.writeTextFile(`${dir}/cwd/config.yaml`, cfg("a"));
    await Deno.writeTextFile(`${dir}/env.yaml`, cfg("b"));
    await Deno.writeTextFile(`${dir}/given.yaml`, cfg("c"));
    const work = `${dir}/cwd`;
    // ./config.yaml of the working directory ...
    const local = await dryRunRules([], work);
    assertEquals(local.rules, `${dir}/a.yaml`);
    assertMatch(local.err, /config loaded file=config\.yaml/);
    // ... $SAKER_CONFIG over it ...
    assertEquals(
      (await dryRunRules([], work, { SAKER_CONFIG: `${dir}/env.yaml` })).rules,
      `${dir}/b.yaml`,
    );
    // ... -c over both; -r over the config's rules_files.
    const given = await dryRunRules(["-c", `${dir}/given.yaml`], work, {
      SAKER_CONFIG: `${dir}/env.yaml`,
    });
    assertEquals(given.rules, `${dir}/c.yaml`);
    const r = await dryRunRules([
      "-c",
      `${dir}/given.yaml`,
      "-r",
      `${dir}/d.yaml`,
      "-r",
      `${dir}/a.yaml`,
    ], work);
    assertEquals(r.rules, `${dir}/d.yaml, ${dir}/a.yaml`);
    // No config anywhere: defaults and Saker's own rules.
    await Deno.mkdir(`${dir}/empty`);
    const none = await dryRunRules([], `${dir}/empty`);
    assertMatch(none.err, /no config file found/);
    const own = ownRulesFiles();
    assertEquals(none.rules?.split(", ").map((p) => p.split("/").pop()), own);
    // -o sets keys (the API address shows them); a bad key or value is named.
    const o = await dryRunRules([
      "-c",
      `${dir}/given.yaml`,
      "-o",
      "webserver.listen_port=9123",
      "-o",
      "file_output.enabled=true",
      "-o",
      `file_output.filename=${dir}/x.log`,
    ], work);
    assertMatch(o.out, /^api: http:\/\/[^:]+:9123$/m);
    assertMatch(o.out, /^outputs: stdout, file$/m);
    const bad = await saker([
      "run",
      "--dry-run",
      "-c",
      `${dir}/given.yaml`,
      "-o",
      "webserver.listen_port=abc",
    ], { cwd: work });
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.stderr, "key webserver.listen_port: expected an integer");
    const badM = await saker(["run", "-M", "soon"], { cwd: work });
    assertEquals(badM.code, 2);
    assertStringIncludes(badM.stderr, "-M expects a positive number of seconds, got 'soon'");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
