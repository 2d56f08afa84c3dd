/**
 * The tuning assistant on a real SQLite store filled with the alerts a noisy host raises (a backup
 * job copying /etc/shadow, a config tool writing below /etc, aggregated summaries among them) and
 * a few that must stay (a program in /tmp, one-off reads): the proposals (fields, values, the
 * alerts each removes), the rules file (it loads with Saker's rules, `saker validate` says Ok,
 * the exceptions hold on real events and the attacks still fire), `saker tune` end to end with its
 * merge of an earlier file, and GET /tune over the API app.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { alert, fmt, noisyStore, NOW, proc, READ, WRITE } from "../support/noisy_store.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertStore } from "../../src/outputs/alert_store.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { conditionFields } from "../../src/rules/aggregation.ts";
import {
  parseTuningFile,
  proposeExceptions,
  type TuneRule,
  tuningFileText,
} from "../../src/rules/tuning.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { StateStore } from "../../src/state/store.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { createApp } from "../../src/server/app.ts";
import { LiveAlerts } from "../../src/server/live_alerts.ts";

const RULES = `${REPO_ROOT}rules`;
async function rulesMap(): Promise<Map<string, TuneRule>> {
  const loaded = await loadRulesFiles([RULES]);
  return new Map(
    loaded.rules.map((
      r,
    ) => [r.name, { name: r.name, source: r.source, fields: conditionFields(r.ast) }]),
  );
}

Deno.test("tune: proposals from a noisy store, and the rules file they make", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-tune-" });
  try {
    noisyStore(`${dir}/alerts.db`);
    const store = AlertStore.openReadOnly(`${dir}/alerts.db`);
    const report = proposeExceptions(
      store,
      { since: NOW - 86400n * 1_000_000_000n },
      await rulesMap(),
      {
        minCount: 3,
        maxValues: 50,
        maxRules: 20,
      },
    );
    store.close();
    assertEquals(report.alerts, 100 + 150 + 40 + 40 + 15 + 3);
    const read = report.proposals.find((p) => p.rule === READ)!;
    assertEquals(read.exception.fields, ["proc.exepath", "fd.name"]);
    assertEquals(read.exception.values, [
      { values: ["/usr/bin/cp", "/etc/shadow"], alerts: 250 },
      { values: ["/usr/bin/cp", "/etc/gshadow"], alerts: 40 },
    ]);
    assertEquals([read.removed, read.unsafe, read.rare], [290, 15, 2]);
    const write = report.proposals.find((p) => p.rule === WRITE)!;
    assertEquals(write.exception.values, [{
      values: ["/usr/bin/tee", "/etc/app conf.d"],
      alerts: 40,
    }]);
    assertEquals(report.removed, 330);

    const text = tuningFileText(report, undefined, "since 24h");
    assertStringIncludes(text, "- [/usr/bin/cp, /etc/shadow] # 250 alerts");
    assertStringIncludes(text, `- [/usr/bin/tee, "\\"/etc/app conf.d\\""] # 40 alerts`);
    const file = `${dir}/saker_tuning.yaml`;
    const check = await loadRulesFiles([RULES], { path: file, text });
    assertEquals(check.results.flatMap((r) => r.errors), []);
    assertEquals(check.results.find((r) => r.name === file)?.warnings, []);

    // The exceptions hold on real events; the attacks still fire.
    const rs = compileRuleset(check);
    const state = new StateStore();
    state.addThread({
      tid: 1,
      pid: 1,
      ppid: 0,
      comm: "bash",
      exe: "bash",
      exepath: "/usr/bin/bash",
    });
    const fire = (pid: number, exepath: string, name: string, flags: number) => {
      state.addThread({
        tid: pid,
        pid,
        ppid: 1,
        comm: exepath.split("/").pop()!,
        exe: exepath,
        exepath,
      });
      state.linkChildren();
      const ev = buildEvent("openat", { tid: pid, pid, comm: exepath.split("/").pop()! }, {
        fd: 3,
        dirfd: -100,
        name,
        flags,
        mode: 0o644,
      });
      state.update(ev);
      const out: string[] = [];
      rs.evaluate(ev, (a) => out.push(a.rule));
      return out;
    };
    const O_RDONLY = 1, O_WRONLY_CREAT = 2 | 0x40 | 0x200;
    assertEquals(fire(10, "/usr/bin/cp", "/etc/shadow", O_RDONLY), [], "excepted");
    assertEquals(fire(11, "/usr/bin/cp", "/etc/gshadow", O_RDONLY), [], "excepted");
    assertEquals(fire(12, "/usr/bin/tee", "/etc/app conf.d", O_WRONLY_CREAT), [], "excepted");
    assertEquals(fire(13, "/tmp/.x/loot", "/etc/shadow", O_RDONLY), [READ], "still fires");
    assertEquals(fire(14, "/usr/bin/cp", "/etc/sudoers", O_RDONLY), [READ], "other file fires");
    assertEquals(fire(15, "/usr/bin/tee", "/etc/passwd", O_WRONLY_CREAT), [WRITE], "other file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function saker(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", `${REPO_ROOT}src/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("tune: saker tune writes a file saker validate accepts, and merges the next run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-tune-cli-" });
  try {
    noisyStore(`${dir}/alerts.db`);
    const file = `${dir}/rules.d/saker_tuning.yaml`;
    await Deno.mkdir(`${dir}/rules.d`);
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      `rules_files: [${RULES}, ${dir}/rules.d]\nalert_store: {path: ${dir}/alerts.db}\n`,
    );
    const first = await saker(["tune", "-c", `${dir}/config.yaml`, "--since", "1d"]);
    assertEquals(first.code, 0, first.err);
    assertStringIncludes(
      first.out,
      `${READ} (Warning): 307 alerts, 290 removed (94.5%)`,
    );
    assertStringIncludes(
      first.out,
      "left out: 15 alerts of programs in /tmp, /dev/shm or other writable places",
    );
    assertStringIncludes(
      first.out,
      "In all: the proposals remove 330 of 348 stored alerts (94.8%).",
    );
    assertStringIncludes(first.out, `Wrote ${file}. The agent loads it with its rules`);
    const v = await saker(["validate", RULES, file]);
    assertEquals(v.code, 0, v.out + v.err);
    assertStringIncludes(v.out, `${file}: Ok\n`);

    // A later day: the tool reads another file; the earlier values stay, the new one joins.
    const store = AlertStore.open({ path: `${dir}/alerts.db`, registry: new Registry() });
    store.insert(
      [0, 1, 2, 3].map((i) =>
        new FormattedAlert(alert(READ, proc("/usr/sbin/backup", "/etc/sudoers"), i), fmt)
      ),
    );
    store.close();
    const second = await saker(["tune", "-c", `${dir}/config.yaml`, "--rule", READ, "--json"]);
    assertEquals(second.code, 0, second.err);
    const j = JSON.parse(second.out);
    assertEquals(j.proposals.length, 1);
    assertEquals(j.file, file);
    const merged = parseTuningFile(await Deno.readTextFile(file), file);
    const values = merged.get(READ)!.get("saker_tune_proc_exepath_fd_name")!.values;
    assertEquals(values.length, 3, JSON.stringify(values));
    assert(merged.get(WRITE)?.size === 1, "the other rule's exception stays");
    assertEquals((await saker(["validate", RULES, file])).code, 0);

    // A file tune did not write is not overwritten.
    await Deno.writeTextFile(`${dir}/mine.yaml`, "- list: my_list\n  items: [a]\n");
    const refuse = await saker(["tune", "-c", `${dir}/config.yaml`, "-w", `${dir}/mine.yaml`]);
    assertEquals(refuse.code, 1);
    assertStringIncludes(refuse.err, "holds items saker tune did not write");
    // Bad input is named.
    assertStringIncludes(
      (await saker(["tune", "--since", "yesterday"])).err,
      "--since 'yesterday'",
    );
    assertStringIncludes(
      (await saker(["tune", "--store", `${dir}/none.db`, "-r", RULES])).err,
      `${dir}/none.db: no alert store there`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tune: GET /tune answers the proposals and the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-tune-api-" });
  try {
    noisyStore(`${dir}/alerts.db`);
    const store = AlertStore.open({ path: `${dir}/alerts.db`, registry: new Registry() });
    const loaded = await loadRulesFiles([RULES]);
    const app = createApp({
      health: () => ({ ok: true }),
      versions: () => ({}),
      registry: new Registry(),
      store,
      live: new LiveAlerts(new Registry()),
      maxBodyBytes: 1 << 20,
      rules: () =>
        loaded.rules.map((r) => ({
          name: r.name,
          source: r.source,
          priority: r.priority,
          tags: r.tags,
          description: r.desc,
          enabled: true,
          fields: conditionFields(r.ast),
        })),
    });
    const res = await app.request("/tune?since=2d&min_count=50");
    assertEquals(res.status, 200);
    const j = await res.json();
    assertEquals(j.alerts, 348);
    assertEquals(j.proposals.map((p: { rule: string; removed: number }) => [p.rule, p.removed]), [
      [READ, 250],
    ]);
    assertStringIncludes(j.file_text, "exceptions: append");
    assertEquals((await app.request("/tune?min_count=0")).status, 400);
    assertEquals((await app.request("/tune?since=soon")).status, 400);
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
