/**
 * `saker run` loading plugins from Falco's config keys (`load_plugins`, `plugins:` with
 * `library_path`, `init_config`, `open_params`), without the probe (`--disable-source syscall`,
 * no root needed): the README's third-party example (examples/plugins/vault_audit.ts) loaded from
 * a file path relative to the config, its fields in `saker fields -c`, its rule firing on lines
 * appended to a log it follows; Saker's cloudtrail plugin through Falco's own entry
 * (`libcloudtrail.so`); a plugin that throws in `extract`, yields bad events and fails in `open`
 * contained (counted in /metrics, logged with its name, the other sources and the API still
 * running); plugins that cannot load and unmet `required_plugin_versions`, each one clear line
 * naming the config key and exit 1.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { api, metricValue, saker, SakerProcess } from "../support/saker.ts";

const VAULT_RULE = `
- required_plugin_versions:
  - name: vault_audit
    version: 0.1.0
- rule: Vault audit device disabled
  desc: An audit device was removed, so later requests may go unrecorded.
  condition: vault.type = request and vault.operation = delete and vault.path startswith sys/audit/
  output: Vault audit device disabled (user=%vault.user path=%vault.path from=%vault.remote_addr evt=%evt.num plugin=%evt.pluginname)
  priority: CRITICAL
  source: vault_audit
`;

function vaultLine(op: string, path: string, user = "ops-admin"): string {
  return JSON.stringify({
    time: new Date().toISOString(),
    type: "request",
    auth: { display_name: user, policies: ["root"] },
    request: { id: crypto.randomUUID(), operation: op, path, remote_address: "10.0.4.7" },
  }) + "\n";
}

/** A plugin that misbehaves on purpose: its extractor throws, it yields bad events, then fails. */
const BROKEN = `
let n = 0;
export default {
  name: "broken",
  version: "1.0.0",
  source: "broken",
  fields: [{
    name: "broken.value",
    type: "string",
    desc: "Throws on odd events.",
    extract(ev) {
      if (ev.value.i % 2 === 1) throw new Error("odd event " + ev.value.i);
      return "v" + ev.value.i;
    },
  }],
  async *open() {
    yield [{ value: { i: 0 } }, { value: { i: 1 } }, {}, { data: 42 }, { value: { i: 2 }, ts: "yesterday" }];
    await new Promise((r) => setTimeout(r, 200));
    throw new Error("the upstream went away");
  },
};
`;

const BROKEN_RULE = `
- rule: Broken plugin value
  desc: Reads the broken plugin's field.
  condition: broken.value startswith v
  output: broken value %broken.value
  priority: NOTICE
  source: broken
`;

Deno.test("saker run: a third-party plugin from a file, cloudtrail, a broken plugin contained", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-plugins-" }));
  try {
    await Deno.mkdir(`${dir}/plugins`);
    await Deno.copyFile(
      `${REPO_ROOT}examples/plugins/vault_audit.ts`,
      `${dir}/plugins/vault_audit.ts`,
    );
    await Deno.writeTextFile(`${dir}/plugins/broken.js`, BROKEN);
    await Deno.writeTextFile(`${dir}/vault.yaml`, VAULT_RULE);
    await Deno.writeTextFile(`${dir}/broken.yaml`, BROKEN_RULE);
    const log = `${dir}/audit.log`;
    await Deno.writeTextFile(log, vaultLine("read", "secret/data/app"));
    const trail = `${dir}/trail`;
    await Deno.mkdir(trail);
    await Deno.writeTextFile(
      `${trail}/111122223333_CloudTrail_us-east-1_20240501T1000Z_x.json`,
      JSON.stringify({
        Records: [{
          eventVersion: "1.09",
          userIdentity: { type: "IAMUser", userName: "ana", accountId: "111122223333" },
          eventTime: "2024-05-01T10:00:00Z",
          eventSource: "cloudtrail.amazonaws.com",
          eventName: "StopLogging",
          awsRegion: "us-east-1",
          sourceIPAddress: "203.0.113.7",
          requestParameters: { name: "main" },
          eventID: "6f6f0000-0000-4000-8000-000000000001",
          eventType: "AwsApiCall",
        }],
      }),
    );
    await Deno.writeTextFile(
      `${dir}/ct_rules.yaml`,
      `
- required_plugin_versions:
  - name: cloudtrail
    version: 0.10.0
- rule: Trail logging stopped
  desc: CloudTrail logging was stopped.
  condition: ct.name = StopLogging and not ct.error exists
  output: logging stopped by %ct.user (%evt.plugininfo)
  priority: WARNING
  source: aws_cloudtrail
`,
    );
    const config = `${dir}/config.yaml`;
    await Deno.writeTextFile(
      config,
      `rules_files: [${dir}/vault.yaml, ${dir}/broken.yaml, ${dir}/ct_rules.yaml]
json_output: true
stdout_output: {enabled: true}
alert_store: {enabled: false}
webserver: {listen_port: 0, k8s_audit_endpoint: ""}
watch_config_files: false
load_plugins: [vault_audit, broken, cloudtrail]
plugins:
  - name: vault_audit
    library_path: plugins/vault_audit.ts
    init_config: {follow: true}
    open_params: ${log}
  - name: broken
    library_path: ./plugins/broken.js
  - name: cloudtrail
    library_path: libcloudtrail.so
    init_config: ""
    open_params: ${trail}
`,
    );
    // The plugin's fields are listed with the config's plugins, and only then.
    const fields = await saker(["fields", "-c", config, "--source", "vault_audit", "--json"]);
    assertEquals(fields.code, 0, fields.stderr);
    const names = (JSON.parse(fields.stdout) as { name: string }[]).map((f) => f.name);
    for (const f of ["vault.type", "vault.path", "vault.user", "evt.num", "json.value"]) {
      assert(names.includes(f), `${f} in ${names.join(" ")}`);
    }
    const plain = await saker(["fields", "--json"]);
    assert(!plain.stdout.includes("vault.path"));
    assert(plain.stdout.includes("ct.user") && plain.stdout.includes("github.repo.public"));
    const valid = await saker(["validate", "-c", config, `${dir}/vault.yaml`]);
    assertEquals(valid.code, 0, valid.stdout + valid.stderr);

    const agent = SakerProcess.start(["run", "-c", config, "--disable-source", "syscall"]);
    try {
      const base = await agent.running();
      // cloudtrail: the directory's record alerts.
      const trailAlert = await agent.waitFor(
        "the cloudtrail alert",
        () => agent.jsonLines().find((a) => a.rule === "Trail logging stopped"),
      );
      assertEquals(trailAlert.source, "aws_cloudtrail");
      assertEquals(
        trailAlert.output_fields,
        {
          "ct.user": "ana",
          "evt.plugininfo": "ana via 203.0.113.7 → StopLogging",
          // The record's eventTime.
          "evt.time": 1714557600000000000,
        },
      );
      // The example plugin follows its log: an appended line raises the alert, a benign one not.
      await agent.waitFor(
        "the vault source",
        () => /plugin source open plugin=vault_audit/.test(agent.stderr()),
      );
      await Deno.writeTextFile(log, vaultLine("update", "secret/data/app"), { append: true });
      await Deno.writeTextFile(log, vaultLine("delete", "sys/audit/file"), { append: true });
      const alert = await agent.waitFor(
        "the vault alert",
        () => agent.jsonLines().find((a) => a.rule === "Vault audit device disabled"),
      );
      assertEquals(alert.source, "vault_audit");
      assertEquals(alert.priority, "Critical");
      assertEquals((alert.output_fields as Record<string, unknown>)["vault.user"], "ops-admin");
      assertEquals((alert.output_fields as Record<string, unknown>)["evt.num"], 3);
      assertEquals(
        (alert.output_fields as Record<string, unknown>)["evt.pluginname"],
        "vault_audit",
      );
      assertEquals(agent.jsonLines().filter((a) => a.source === "vault_audit").length, 1);

      // The broken plugin: even events alert, odd ones are contained, bad events skipped, and
      // its failing source ends alone.
      await agent.waitFor(
        "the broken source to fail",
        () => /plugin broken: open failed.*the upstream went away/.test(agent.stderr()),
      );
      const broken = agent.jsonLines().filter((a) => a.rule === "Broken plugin value");
      assertEquals(broken.map((a) => (a.output_fields as Record<string, string>)["broken.value"]), [
        "v0",
      ]);
      const metrics = (await api(base, "/metrics")).text;
      const count = (stage: string) =>
        metricValue(
          metrics,
          new RegExp(`^saker_plugin_errors_total\\{plugin="broken",stage="${stage}"\\}`),
        );
      assertEquals(count("extract"), 1);
      assertEquals(count("event"), 3);
      assertEquals(count("open"), 1);
      assert(/plugin broken: extract failed.*odd event 1/.test(agent.stderr()), agent.stderr());
      assertEquals((await api(base, "/healthz")).status, 200);
      // Still following: another line still alerts.
      await Deno.writeTextFile(log, vaultLine("delete", "sys/audit/syslog", "eve"), {
        append: true,
      });
      await agent.waitFor(
        "the second vault alert",
        () =>
          agent.jsonLines().filter((a) => a.rule === "Vault audit device disabled").length === 2,
      );
    } finally {
      const status = await agent.stop();
      assertEquals(status.code, 0, agent.stderr());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saker run: plugins that cannot load and unmet plugin versions stop it with one line", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-plugins-bad-" }));
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, VAULT_RULE);
    await Deno.copyFile(`${REPO_ROOT}examples/plugins/vault_audit.ts`, `${dir}/vault_audit.ts`);
    await Deno.writeTextFile(
      `${dir}/shape.js`,
      `export default { name: "shape", version: "one" };`,
    );
    await Deno.writeTextFile(
      `${dir}/init.js`,
      `export const plugin = { name: "init", version: "1.0.0", init() { throw new Error("no token"); } };`,
    );
    const run = async (plugins: string, load: string, rules = `${dir}/rules.yaml`) => {
      await Deno.writeTextFile(
        `${dir}/config.yaml`,
        `rules_files: [${rules}]
alert_store: {enabled: false}
webserver: {enabled: false}
load_plugins: [${load}]
plugins:
${plugins}`,
      );
      return await saker(["run", "-c", `${dir}/config.yaml`, "--disable-source", "syscall"]);
    };
    const missing = await run("  - {name: gone, library_path: ./nope.ts}", "gone");
    assertEquals(missing.code, 1);
    assert(
      /config: plugins\[0\]\.library_path: \.\/nope\.ts: .*/.test(missing.stderr),
      missing.stderr,
    );
    const shape = await run("  - {name: shape, library_path: shape.js}", "shape");
    assertEquals(shape.code, 1);
    assert(
      shape.stderr.includes(
        "plugins[0].library_path: shape.js: version: expected MAJOR.MINOR.PATCH",
      ),
      shape.stderr,
    );
    const init = await run("  - {name: init, library_path: init.js, init_config: {a: 1}}", "init");
    assertEquals(init.code, 1);
    assert(init.stderr.includes("plugins[0].init_config: plugin init: no token"), init.stderr);
    const unknown = await run(
      "  - {name: salesforce, library_path: libsalesforce.so}",
      "salesforce",
    );
    assertEquals(unknown.code, 1);
    assert(
      unknown.stderr.includes("plugins[0].library_path: Saker carries no plugin salesforce"),
      unknown.stderr,
    );
    // Rules needing a plugin that is not loaded, or a newer one.
    const notLoaded = await run("  - {name: vault_audit, library_path: vault_audit.ts}", "");
    assertEquals(notLoaded.code, 1);
    assert(
      notLoaded.stderr.includes("Plugin 'vault_audit' is required but not loaded"),
      notLoaded.stderr,
    );
    await Deno.writeTextFile(
      `${dir}/newer.yaml`,
      VAULT_RULE.replace("version: 0.1.0", "version: 0.2.0"),
    );
    const newer = await run(
      "  - {name: vault_audit, library_path: vault_audit.ts, open_params: /dev/null}",
      "vault_audit",
      `${dir}/newer.yaml`,
    );
    assertEquals(newer.code, 1);
    assert(
      newer.stderr.includes(
        "Plugin 'vault_audit' version '0.1.0' is not compatible with required plugin version '0.2.0'",
      ),
      newer.stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
