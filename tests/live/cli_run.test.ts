/**
 * `saker run` options on the real kernel, and what needs root around the commands:
 *
 * - `-r` replaces the config's rules, `-o` sets keys (no API, no store here), `--json` prints
 *   alerts as JSON, `-M` stops the agent by itself with status 0.
 * - The config file lookup with /etc/saker/config.yaml, inside a mount namespace of the test's
 *   own (an overlay on /etc), so the host's /etc is never touched: it wins over ./config.yaml and
 *   loses to $SAKER_CONFIG.
 * - `saker simulate ACTION -v` prints the system calls the action made (a glob selects it).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { saker, SakerProcess } from "../support/saker.ts";

const ignore = needsRoot();

const rule = (name: string, dir: string) =>
  `- rule: ${name}
  desc: the renamed cat opens the trigger
  condition: evt.type in (open, openat) and proc.name = sakerruncat and fd.name = ${dir}/trigger
  output: "${name} %fd.name"
  priority: WARNING
`;

Deno.test({
  name: "saker run -r -o --json -M: the given rules, keys and format; stops by itself",
  ignore,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-runopts-" }));
    try {
      await Deno.copyFile("/usr/bin/cat", `${dir}/sakerruncat`);
      await Deno.chmod(`${dir}/sakerruncat`, 0o755);
      await Deno.writeTextFile(`${dir}/trigger`, "t\n");
      await Deno.writeTextFile(`${dir}/config-rules.yaml`, rule("from the config", dir));
      await Deno.writeTextFile(`${dir}/given-rules.yaml`, rule("from -r", dir));
      await Deno.writeTextFile(
        `${dir}/config.yaml`,
        `rules_files: [${dir}/config-rules.yaml]\nalert_store: {path: ${dir}/alerts.db}\n` +
          `webserver: {listen_port: 0}\nwatch_config_files: false\n`,
      );
      const t0 = Date.now();
      const agent = SakerProcess.start([
        "run",
        "-c",
        `${dir}/config.yaml`,
        "-r",
        `${dir}/given-rules.yaml`,
        "-o",
        "webserver.enabled=false",
        "-o",
        "alert_store.enabled=false",
        "--json",
        "-M",
        "6",
      ]);
      try {
        await agent.running();
        const running = agent.stderr().split("\n").find((l) => l.includes("saker running"))!;
        assert(!running.includes("api="), `no API with webserver.enabled=false: ${running}`);
        assertMatch(running, /outputs=stdout( |$)/);
        // Opens until the alert is out (the agent stops by itself after 6 s).
        while (!agent.stdout().includes(`${dir}/trigger`) && Date.now() - t0 < 30_000) {
          await new Deno.Command(`${dir}/sakerruncat`, { args: [`${dir}/trigger`], stdout: "null" })
            .output();
          await new Promise((r) => setTimeout(r, 100));
        }
        const status = await agent.exited;
        const elapsed = Date.now() - t0;
        assertEquals(status.code, 0, agent.stderr().slice(-2000));
        assertStringIncludes(agent.stderr(), "-M 6: stopping");
        assert(elapsed < 60_000, `stopped after ${elapsed} ms`);
        const alerts = agent.jsonLines();
        assert(alerts.length >= 1, agent.stdout());
        assert(alerts.every((a) => a.rule === "from -r"), agent.stdout());
        assertEquals(
          (alerts[0].output_fields as Record<string, string>)["fd.name"],
          `${dir}/trigger`,
        );
        let store = true;
        try {
          await Deno.stat(`${dir}/alerts.db`);
        } catch {
          store = false;
        }
        assertEquals(store, false, "alert_store.enabled=false: no database");
      } finally {
        await agent.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker run: /etc/saker/config.yaml over ./config.yaml, under $SAKER_CONFIG",
  ignore,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-etc-" }));
    try {
      await Deno.mkdir(`${dir}/upper/saker`, { recursive: true });
      await Deno.mkdir(`${dir}/work`);
      await Deno.mkdir(`${dir}/cwd`);
      const cfg = (rules: string) =>
        `rules_files: [${dir}/${rules}.yaml]\nalert_store: {enabled: false}\n`;
      for (const n of ["etc", "local", "env"]) {
        await Deno.writeTextFile(
          `${dir}/${n}.yaml`,
          `- rule: ${n}\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n`,
        );
      }
      await Deno.writeTextFile(`${dir}/upper/saker/config.yaml`, cfg("etc"));
      await Deno.writeTextFile(`${dir}/cwd/config.yaml`, cfg("local"));
      await Deno.writeTextFile(`${dir}/env-config.yaml`, cfg("env"));
      // /etc seen through an overlay that adds saker/config.yaml, in this namespace only.
      const wrap = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/upper,workdir=${dir}/work /etc` +
        ' && exec "$0" "$@"',
      ];
      const rulesOf = (out: string) => /^rules files: (.*)$/m.exec(out)?.[1];
      const etc = await saker(["run", "--dry-run"], { cwd: `${dir}/cwd`, wrap });
      assertEquals(etc.code, 0, etc.stderr);
      assertEquals(rulesOf(etc.stdout), `${dir}/etc.yaml`);
      assertStringIncludes(etc.stderr, "file=/etc/saker/config.yaml");
      const env = await saker(["run", "--dry-run"], {
        cwd: `${dir}/cwd`,
        wrap,
        env: { SAKER_CONFIG: `${dir}/env-config.yaml` },
      });
      assertEquals(rulesOf(env.stdout), `${dir}/env.yaml`);
      // Outside the namespace the host has no such file: ./config.yaml is used.
      const host = await saker(["run", "--dry-run"], { cwd: `${dir}/cwd` });
      let hostHasOne = false;
      try {
        hostHasOne = Deno.statSync("/etc/saker/config.yaml").isFile;
      } catch { /* none */ }
      if (!hostHasOne) assertEquals(rulesOf(host.stdout), `${dir}/local.yaml`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "saker simulate 'GLOB' -v: the action runs and prints the system calls it made",
  ignore,
  async fn() {
    const quiet = await saker(["simulate", "read-sensitive-*"]);
    assertEquals(quiet.code, 0, quiet.stderr);
    const verbose = await saker(["simulate", "read-sensitive-*", "-v"]);
    assertEquals(verbose.code, 0, verbose.stderr);
    for (const out of [quiet.stdout, verbose.stdout]) {
      assertMatch(out, /^ok\s+read-sensitive-file\b/m);
      assertMatch(out, /^1 ran, 0 skipped, 0 failed$/m);
    }
    const evidence = verbose.stdout.split("\n").filter((l) => l.startsWith("        | "));
    assert(evidence.some((l) => /openat.*\/etc\/shadow/.test(l)), verbose.stdout);
    assertEquals(quiet.stdout.split("\n").filter((l) => l.startsWith("        | ")), []);
  },
});
