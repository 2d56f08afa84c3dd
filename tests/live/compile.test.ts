/**
 * The shipped forms of Saker. `deno task bundle` writes dist/saker.js through the same
 * generated entry (scripts/embed.ts) as `deno task compile`, so the bundle run here from an
 * empty directory, with no checkout in reach, tests what the binary embeds: the probe object,
 * the default rules and config, the simulator helper's source. `saker version --json` names the
 * build. The binary itself needs Deno's denort runtime: without one (no DENORT_BIN, no network)
 * `deno task compile` says so in one line and fails; with DENORT_BIN the binary is built and
 * run. `deno task release` packs the tarball.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { IS_ROOT, needsRoot, REPO_ROOT, skipIf, skipNote } from "../support/env.ts";
import { bundle } from "../../scripts/bundle.ts";
import { SAKER_VERSION } from "../../src/version.ts";
import { listAssets } from "../../src/assets.ts";

const dec = new TextDecoder();

/** A directory outside the repository with the bundle copied in, and nothing else. */
async function loneBundle(): Promise<{ dir: string; js: string; stamp: { commit: string } }> {
  const dir = await Deno.makeTempDir({ prefix: "saker-bundle-" });
  const { stamp } = await bundle(`${dir}/saker.js`);
  await Deno.mkdir(`${dir}/empty`);
  return { dir, js: `${dir}/saker.js`, stamp };
}

async function runBundle(
  js: string,
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", js, ...args],
    cwd,
    env: { DENO_DIR: `${cwd}/.deno`, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "bundle: runs from an empty directory, names its build, carries every asset",
  sanitizeResources: false,
  async fn() {
    const { dir, js } = await loneBundle();
    try {
      const cwd = `${dir}/empty`;
      const v = await runBundle(js, cwd, ["version", "--json"]);
      assertEquals(v.code, 0, v.stderr);
      const info = JSON.parse(v.stdout);
      assertEquals(info.saker_version, SAKER_VERSION);
      assertEquals(info.form, "bundle");
      assertMatch(info.commit, /^[0-9a-f]{40}(-dirty)?$/);
      assertMatch(info.probe_sha256, /^[0-9a-f]{64}$/);
      assert(Math.abs(Date.parse(info.build_time) - Date.now()) < 10 * 60_000, info.build_time);
      // The default rules come from inside the bundle (no rules/ here, no checkout).
      const dry = await runBundle(js, cwd, ["run", "--dry-run"]);
      assertEquals(dry.code, 0, dry.stderr);
      // The rules files directly in rules/ (rules/tests/ holds tests).
      const files = listAssets("rules/").filter((n) => /^rules\/[^/]+\.yaml$/.test(n));
      assertMatch(
        dry.stdout,
        new RegExp(`rules files: ${files.map((f) => `builtin:${f}`).join(", ")}`),
      );
      // A file named builtin: that does not exist is reported as such.
      const bad = await runBundle(js, cwd, ["validate", "builtin:nope.yaml"]);
      assertEquals(bad.code, 1);
      assertMatch(bad.stdout + bad.stderr, /carries no rules named 'builtin:nope\.yaml'/);
      assertEquals([...Deno.readDirSync(cwd)].filter((e) => e.name !== ".deno").length, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "bundle: the agent from an empty directory loads its embedded probe, alerts, serves its page",
  ignore: needsRoot(),
  sanitizeResources: false,
  async fn() {
    const { dir, js } = await loneBundle();
    try {
      const cwd = `${dir}/empty`;
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          js,
          "run",
          "--json",
          "-M",
          "20",
          "-o",
          `alert_store.path=${dir}/alerts.db`,
          "-o",
          `webserver.listen_port=${port}`,
        ],
        cwd,
        env: { DENO_DIR: `${dir}/.deno` },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out: string[] = [];
      const reading = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void out.push(t) }),
      );
      try {
        const end = Date.now() + 20_000;
        while (!(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false))) {
          if (Date.now() > end) throw new Error("the bundle's agent did not start");
          await new Promise((r) => setTimeout(r, 200));
        }
        const cat = new Deno.Command("cat", { args: ["/etc/shadow"], stdout: "null" }).spawn();
        const pid = cat.pid;
        await cat.status;
        const deadline = Date.now() + 10_000;
        for (;;) {
          const hit = out.join("").split("\n").filter((x) => x.startsWith("{")).some((x) => {
            const a = JSON.parse(x);
            return a.output_fields["proc.pid"] === pid &&
              a.output_fields["fd.name"] === "/etc/shadow";
          });
          if (hit) break;
          if (Date.now() > deadline) throw new Error(`no alert; stdout: ${out.join("")}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        // The dashboard is served from the bundle itself: the same bytes as web/ here.
        for (const [path, file] of [["/", "index.html"], ["/ui/app.js", "app.js"]]) {
          const r = await fetch(`http://127.0.0.1:${port}${path}`);
          assertEquals(r.status, 200, path);
          assertEquals(
            new Uint8Array(await r.arrayBuffer()),
            await Deno.readFile(`${REPO_ROOT}web/${file}`),
            path,
          );
        }
      } finally {
        child.kill("SIGTERM");
        assertEquals((await child.status).code, 0);
        await reading;
        await child.stderr.cancel();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const denort = Deno.env.get("DENORT_BIN");

Deno.test({
  name: "compile: without a denort runtime, one line and a non-zero exit",
  ignore: skipIf(denort !== undefined, "DENORT_BIN is set: the message without one is not checked"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-compile-" });
    try {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${REPO_ROOT}scripts/compile.ts`, "--output", `${dir}/saker`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = dec.decode(r.stderr).trim();
      if (r.code === 0) {
        // A machine that can download the runtime gets a binary: it must run.
        const v = await new Deno.Command(`${dir}/saker`, {
          args: ["version", "--json"],
          stdout: "piped",
        })
          .output();
        assertEquals(JSON.parse(dec.decode(v.stdout)).form, "binary");
        return;
      }
      assertEquals(r.code, 1);
      const lines = err.split("\n").filter((l) => !l.startsWith("build:bpf:"));
      assertEquals(lines.length, 1, err);
      assertMatch(lines[0], /^compile: cannot get Deno's denort runtime .*set DENORT_BIN/);
      assertEquals([...Deno.readDirSync(dir)].length, 0, "nothing half-made is left");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("compile: a DENORT_BIN that does not exist is named in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-compile-" });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}scripts/compile.ts`, "--output", `${dir}/saker`],
      env: { DENORT_BIN: `${dir}/no-denort` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(r.code, 1);
    const lines = dec.decode(r.stderr).trim().split("\n").filter((l) =>
      !l.startsWith("build:bpf:")
    );
    assertEquals(lines.length, 1, lines.join("\n"));
    assertMatch(lines[0], /^compile: deno compile failed \(DENORT_BIN=.*no-denort\): .*denort/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "compile: with DENORT_BIN, the binary runs from an empty directory",
  ignore: skipIf(
    denort === undefined,
    "DENORT_BIN is not set and denort cannot be downloaded here: the compiled binary is not run",
  ),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "saker-compile-" });
    try {
      const out = `${dir}/saker`;
      const build = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${REPO_ROOT}scripts/compile.ts`, "--output", out],
      }).output();
      assertEquals(build.code, 0, dec.decode(build.stderr));
      const v = await new Deno.Command(out, {
        args: ["version", "--json"],
        cwd: dir,
        stdout: "piped",
      })
        .output();
      assertEquals(JSON.parse(dec.decode(v.stdout)).form, "binary");
      await t.step({
        name: "the embedded probe loads (capture -n 1)",
        ignore: !IS_ROOT && skipNote("not root: the binary's embedded probe is not loaded"),
        fn: async () => {
          const c = await new Deno.Command(out, {
            args: ["capture", "-n", "1", "-M", "5"],
            cwd: dir,
            stdout: "piped",
          }).output();
          assertEquals(c.code, 0);
        },
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The `saker` commands of the README's CI job for a rules repository, in order. */
function readmeCiCommands(readme: string): string[] {
  const section = readme.split(/^### A rules repository's CI job$/m)[1]?.split(/^##/m)[0] ?? "";
  return [...section.matchAll(/^\s+- run: (saker .*)$/gm)].map((m) => m[1]);
}

/** A rules repository laid out as the README's CI job has it: one rule, a test of each kind. */
const MY_RULES = `- macro: open_read
  condition: (evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f')
- list: shells
  items: [bash, sh]
- rule: Shadow file read by a shell
  desc: a shell reads /etc/shadow
  condition: open_read and fd.name = /etc/shadow and proc.name in (shells)
  output: shadow read by a shell (proc.name=%proc.name fd.name=%fd.name)
  priority: WARNING
`;
const MY_TESTS = `rules: [..]
tests:
  - name: bash reads /etc/shadow
    events:
      - { evt.type: openat, proc.name: bash, fd.name: /etc/shadow }
    expect:
      exactly:
        - rule: Shadow file read by a shell
          output_fields: { proc.name: bash }
  - name: passwd reads /etc/shadow
    events:
      - { evt.type: openat, proc.name: passwd, fd.name: /etc/shadow }
    expect: none
`;

/** Runs the README's CI job in `repo` with `saker` on PATH; the exit status of each command. */
async function ciJob(commands: string[], repo: string, pathDir: string) {
  const out: { cmd: string; code: number; text: string }[] = [];
  for (const cmd of commands) {
    const r = await new Deno.Command("bash", {
      args: ["-c", cmd],
      cwd: repo,
      env: {
        PATH: `${pathDir}:${Deno.execPath().replace(/\/[^/]*$/, "")}:/usr/bin:/bin`,
        DENO_DIR: `${repo}/../.deno`,
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    out.push({ cmd, code: r.code, text: dec.decode(r.stdout) + dec.decode(r.stderr) });
    if (r.code !== 0) break; // a CI job stops at the first failing step
  }
  return out;
}

Deno.test({
  name: "release: the tarball holds the program, config, rules, unit, manifests, licence",
  async fn(t) {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}scripts/release.ts`, ...(denort ? [] : ["--bundle-only"])],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(r.code, 0, dec.decode(r.stderr));
    const tarball = `${REPO_ROOT}dist/saker-${SAKER_VERSION}-linux-x86_64.tar.gz`;
    const list = dec.decode(
      (await new Deno.Command("tar", { args: ["-tzf", tarball], stdout: "piped" }).output()).stdout,
    ).split("\n");
    const top = `saker-${SAKER_VERSION}-linux-x86_64/`;
    for (
      const f of [
        "bin/saker.js",
        "etc/saker/config.yaml",
        "rules/00_base.yaml",
        "deploy/systemd/saker.service",
        "deploy/kubernetes/daemonset.yaml",
        "deploy/kubernetes/audit/audit-policy.yaml",
        "LICENSE",
        "README.md",
        "BUILD.json",
        ...(denort ? ["bin/saker"] : []),
      ]
    ) assert(list.includes(top + f), `${f} missing from the tarball`);
    const dir = await Deno.makeTempDir({ prefix: "saker-release-" });
    try {
      await new Deno.Command("tar", { args: ["-xzf", tarball, "-C", dir] }).output();
      const base = `${dir}/${top}`;
      const readme = await Deno.readTextFile(`${base}README.md`);
      assertMatch(readme, /^## Install$/m);
      const config = await Deno.readTextFile(`${base}etc/saker/config.yaml`);
      assertMatch(config, /^rules_files:\n {2}- builtin:rules\n {2}- \/etc\/saker\/rules\.d\n/m);
      const build = JSON.parse(await Deno.readTextFile(`${base}BUILD.json`));
      assertEquals(build.version, SAKER_VERSION);
      // The config ships valid: the program in the tarball checks it.
      const dry = await runBundle(`${base}bin/saker.js`, dir, [
        "run",
        "--dry-run",
        "-c",
        `${base}etc/saker/config.yaml`,
        "-o",
        "rules_files[0]=builtin:rules",
        "-o",
        `rules_files[1]=${base}rules`,
      ]);
      assertEquals(dry.code, 0, dry.stderr);

      // The rules' own tests ship beside them and pass with the program they ship with.
      const own = await runBundle(`${base}bin/saker.js`, dir, [
        "test",
        `${base}rules/tests`,
        "--min-coverage",
        "100",
      ]);
      assertEquals(own.code, 0, own.stdout + own.stderr);
      assertMatch(own.stdout, /^rules covered: (\d+)\/\1 \(100 %\)$/m);
      assertMatch(own.stdout, /^\d+ passed, 0 failed, 0 skipped, 0 errors/m);

      await t.step(
        "the README's CI job for a rules repository, with the tarball's program",
        async () => {
          const commands = readmeCiCommands(await Deno.readTextFile(`${REPO_ROOT}README.md`));
          assertEquals(commands.map((c) => c.split(" ").slice(0, 2).join(" ")), [
            "saker validate",
            "saker test",
          ]);
          // `saker` on PATH: the binary, or the bundle (it runs itself through deno).
          const pathDir = `${dir}/path`;
          await Deno.mkdir(pathDir);
          await Deno.symlink(`${base}bin/${denort ? "saker" : "saker.js"}`, `${pathDir}/saker`);
          const repo = `${dir}/repo`;
          await Deno.mkdir(`${repo}/rules/tests`, { recursive: true });
          await Deno.writeTextFile(`${repo}/rules/my_rules.yaml`, MY_RULES);
          await Deno.writeTextFile(`${repo}/rules/tests/my_rules.yaml`, MY_TESTS);

          const green = await ciJob(commands, repo, pathDir);
          assertEquals(green.map((s) => s.code), [0, 0], green.map((s) => s.text).join("\n"));
          assertMatch(green[1].text, /^rules covered: 1\/1 \(100 %\)$/m);
          const junit = await Deno.readTextFile(`${repo}/junit.xml`);
          assertMatch(
            junit,
            /<testsuite name="rules\/tests\/my_rules.yaml" tests="2" failures="0"/,
          );
          assertMatch(junit, /<testcase [^>]*name="bash reads \/etc\/shadow"/);

          // A change that breaks the rule fails the job, and says why.
          await Deno.writeTextFile(
            `${repo}/rules/my_rules.yaml`,
            MY_RULES.replace("items: [bash, sh]", "items: [sh]"),
          );
          const red = await ciJob(commands, repo, pathDir);
          assertEquals(red.map((s) => s.code), [0, 1], red.map((s) => s.text).join("\n"));
          assertMatch(
            red[1].text,
            /^FAIL {2}rules\/tests\/my_rules.yaml: bash reads \/etc\/shadow/m,
          );
          assertMatch(
            red[1].text,
            /false: proc\.name in \(sh\) {2}\(rules\/my_rules\.yaml:7:\d+\)\n +proc\.name = bash\n/,
          );
          // The CI system's test view shows the same explanation.
          assertMatch(
            await Deno.readTextFile(`${repo}/junit.xml`),
            /<failure message="'Shadow file read by a shell' did not fire">[^<]*false: proc\.name in \(sh\)[^<]*proc\.name = bash/,
          );

          // A rule without a negative test fails it too (--min-coverage 100).
          await Deno.writeTextFile(`${repo}/rules/my_rules.yaml`, MY_RULES);
          await Deno.writeTextFile(
            `${repo}/rules/tests/my_rules.yaml`,
            MY_TESTS.slice(0, MY_TESTS.indexOf("  - name: passwd")),
          );
          const thin = await ciJob(commands, repo, pathDir);
          assertEquals(thin.map((s) => s.code), [0, 1], thin.map((s) => s.text).join("\n"));
          assertMatch(thin[1].text, /^coverage 0\.0 % is below --min-coverage 100 %$/m);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
