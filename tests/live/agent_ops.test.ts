/**
 * The agent in-process with a source the test feeds (real decoded events from the encoder), the
 * real rules engine, real outputs (a file) and real config files: reload keeps alerting when the
 * new rules are broken, watched files trigger reloads, config reload rebuilds outputs, simulated
 * kernel drops raise Falco's internal drop alert or stop the agent.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { buildEvent } from "../../src/events/encode.ts";
import type { Event } from "../../src/events/event.ts";
import { Registry } from "../../src/metrics.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/spec.ts";
import { Agent, type AgentSource, RELOAD_FAILED_RULE } from "../../src/agent/agent.ts";
import { buildEngineRules } from "../../src/agent/build_rules.ts";
import { DROP_RULE } from "../../src/agent/drops.ts";
import { StateStore } from "../../src/state/store.ts";
import { selectSyscalls } from "../../src/events/syscalls.ts";

const SEC = 1_000_000_000n;
const T0 = 1_700_000_000n * SEC;

function open(path: string, i: number, tsOffset = 0n): Event {
  const ev = buildEvent("openat", { tid: 100, pid: 100, comm: "cat" }, {
    fd: 3,
    dirfd: -100,
    name: path,
    flags: 1,
    mode: 0,
  });
  ev.num = i;
  ev.ts = T0 + tsOffset + BigInt(i);
  return ev;
}

/** A source the test feeds. */
class PushSource implements AgentSource {
  readonly source = "syscall";
  readonly readable: ReadableStream<Event[]>;
  #ctl!: ReadableStreamDefaultController<Event[]>;
  syscalls: Array<ReadonlySet<string> | "all"> = [];
  received = 0;
  constructor() {
    this.readable = new ReadableStream<Event[]>({ start: (c) => void (this.#ctl = c) });
  }
  push(batch: Event[]): void {
    this.received += batch.length;
    this.#ctl.enqueue(batch);
  }
  setSyscalls(names: ReadonlySet<string> | "all"): void {
    this.syscalls.push(names);
  }
  stats() {
    return { received: this.received, events: this.received, drops: 0 };
  }
  close(): Promise<void> {
    try {
      this.#ctl.close();
    } catch { /* closed */ }
    return Promise.resolve();
  }
}

const RULES_V1 = `
- rule: etc open
  desc: opens under /etc
  condition: evt.type = openat and fd.name startswith /etc
  output: "v1 open %fd.name by %proc.name"
  priority: WARNING
`;
const RULES_V2 = RULES_V1.replace("v1 open", "v2 open");
const RULES_BROKEN = RULES_V1.replace("fd.name startswith /etc", "fd.name startswith (/etc");

interface Harness {
  dir: string;
  src: PushSource;
  agent: Agent;
  lines(): Promise<string[]>;
  waitLines(pred: (l: string[]) => boolean, what: string): Promise<string[]>;
  stop(): Promise<void>;
}

async function start(configText: string, opts: { reloadConfig?: boolean } = {}): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "saker-agent-" });
  await Deno.writeTextFile(`${dir}/rules.yaml`, RULES_V1);
  const file = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    file,
    `rules_files: [${dir}/rules.yaml]
stdout_output: {enabled: false}
file_output: {enabled: true, filename: ${dir}/alerts.txt}
alert_store: {path: ${dir}/alerts.db}
webserver: {enabled: false}
watch_config_files: true
${configText}`,
  );
  const load = () => loadConfig({ file, env: {} });
  const { config } = await load();
  const src = new PushSource();
  const agent = await Agent.start(config, {
    openSource: () => Promise.resolve(src),
    buildRules: buildEngineRules,
    makeState: () => ({ state: new StateStore() }),
    reloadConfig: opts.reloadConfig ? load : undefined,
    configFiles: [file],
    registry: new Registry(),
    hostname: "agent-test",
    signals: false,
  });
  const lines = async () => {
    try {
      return (await Deno.readTextFile(`${dir}/alerts.txt`)).split("\n").filter((l) => l);
    } catch {
      return [];
    }
  };
  return {
    dir,
    src,
    agent,
    lines,
    async waitLines(pred, what) {
      for (let i = 0; i < 500; i++) {
        await agent.fanout.flush(1000);
        const l = await lines();
        if (pred(l)) return l;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`timed out waiting for ${what}: ${(await lines()).join("\n")}`);
    },
    async stop() {
      await agent.stop(0);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("agent: a reload with a broken rules file keeps the old rules alerting", async () => {
  const h = await start("");
  try {
    h.src.push([open("/etc/passwd", 1), open("/tmp/x", 2)]);
    await h.waitLines((l) => l.length === 1, "first alert");

    await Deno.writeTextFile(`${h.dir}/rules.yaml`, RULES_BROKEN);
    assertEquals(await h.agent.reload("test"), false);
    h.src.push([open("/etc/hosts", 3)]);
    const l = await h.waitLines((l) => l.length === 3, "reload alert and second alert");
    assertStringIncludes(l[1], `Error Saker internal: rules reload rejected`);
    assertStringIncludes(l[1], "LOAD_ERR_COMPILE_CONDITION");
    assertStringIncludes(l[2], "Warning v1 open /etc/hosts by cat");
    assertEquals(h.agent.rejectedReloads, 1);

    await Deno.writeTextFile(`${h.dir}/rules.yaml`, RULES_V2);
    assertEquals(await h.agent.reload("test"), true);
    h.src.push([open("/etc/group", 4)]);
    const l2 = await h.waitLines((l) => l.length === 4, "alert from the new rules");
    assertStringIncludes(l2[3], "Warning v2 open /etc/group by cat");
    // The kernel filter followed: the union during the swap, then the new set (the rules' events
    // and what state tracking needs: the open's own record names the file, so no fd history and
    // none of the fd lifecycle calls).
    const want = [
      ...selectSyscalls(new Set(["openat"]), h.agent.config.base_syscalls, "none").names,
    ]
      .sort().join(",");
    assert(
      want.includes(",openat,") && want.includes(",execve,") && !want.includes("accept"),
      want,
    );
    assertEquals(h.src.syscalls.map((s) => s === "all" ? "all" : [...s].sort().join(",")), [
      want,
      want,
    ]);
    // Every event was evaluated once, by one ruleset or the other.
    assertEquals(h.agent.pipeline.stats().processed, 4);
    assertEquals(h.agent.pipeline.stats().swaps, 1);
  } finally {
    await h.stop();
  }
});

Deno.test("agent: a change to a watched rules file reloads by itself", async () => {
  const h = await start("");
  try {
    // Editors write a new file and rename it over the old one.
    await Deno.writeTextFile(`${h.dir}/rules.yaml.tmp`, RULES_V2);
    await Deno.rename(`${h.dir}/rules.yaml.tmp`, `${h.dir}/rules.yaml`);
    for (let i = 0; i < 1000 && h.agent.reloads === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(h.agent.reloads, 1);
    h.src.push([open("/etc/passwd", 1)]);
    const l = await h.waitLines((l) => l.length === 1, "alert");
    assertStringIncludes(l[0], "v2 open /etc/passwd");
    // A broken save is rejected by the watcher's reload too.
    await Deno.writeTextFile(`${h.dir}/rules.yaml`, RULES_BROKEN);
    for (let i = 0; i < 1000 && h.agent.rejectedReloads === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(h.agent.rejectedReloads, 1);
  } finally {
    await h.stop();
  }
});

Deno.test("agent: a config reload rebuilds the outputs (text to JSON)", async () => {
  const h = await start("", { reloadConfig: true });
  try {
    h.src.push([open("/etc/passwd", 1)]);
    await h.waitLines((l) => l.length === 1, "text alert");
    const cfg = await Deno.readTextFile(`${h.dir}/config.yaml`);
    await Deno.writeTextFile(`${h.dir}/config.yaml`, cfg + "json_output: true\n");
    assertEquals(await h.agent.reload("test"), true);
    h.src.push([open("/etc/hosts", 2)]);
    const l = await h.waitLines((l) => l.length === 2, "JSON alert");
    assert(!l[0].startsWith("{"));
    const j = JSON.parse(l[1]);
    assertEquals(j.rule, "etc open");
    assertEquals(j.hostname, "agent-test");
    assertEquals(j.output_fields["fd.name"], "/etc/hosts");
    // An invalid config is rejected like broken rules.
    await Deno.writeTextFile(`${h.dir}/config.yaml`, cfg + "json_output: perhaps\n");
    assertEquals(await h.agent.reload("test"), false);
    const l3 = await h.waitLines((l) => l.length === 3, "the internal alert");
    const internal = JSON.parse(l3[2]);
    assertEquals([internal.rule, internal.source, internal.output_fields.kind], [
      RELOAD_FAILED_RULE,
      "internal",
      "config",
    ]);
    assertStringIncludes(internal.output_fields.errors, "key json_output: expected true or false");
  } finally {
    await h.stop();
  }
});

Deno.test("agent: simulated drops raise Falco's internal drop alert, rate-limited", async () => {
  const h = await start(
    `json_output: true
syscall_event_drops: {actions: [log, alert], rate: 1, max_burst: 2, simulate_drops: true}
`,
  );
  try {
    // Ten seconds of event time, one batch every half second; then an open the rules alert on,
    // in the last batch's second (no further drop check): once its alert is out, every batch
    // before it has been through the drop monitor, however slowly the machine ran them.
    for (let i = 0; i < 20; i++) h.src.push([open("/tmp/quiet", i, BigInt(i) * SEC / 2n)]);
    h.src.push([open("/etc/after-the-drops", 20, 19n * SEC / 2n)]);
    const l = await h.waitLines(
      (l) => l.some((x) => x.includes("v1 open /etc/after-the-drops")),
      "the alert after the drops",
    );
    await h.agent.fanout.flush(1000);
    const drops = (await h.lines()).map((x) => JSON.parse(x)).filter((j) => j.rule === DROP_RULE);
    assert(drops.length >= 2, l.join("\n"));
    assertEquals(drops[0].source, "internal");
    assertEquals(drops[0].priority, "Debug");
    assertEquals(drops[0].output, `${DROP_RULE}. 1 system calls dropped in last second.`);
    assertEquals(drops[0].output_fields.n_drops, "1");
    // Checked once per second of event time; the bucket (burst 2, 1 per second) allowed each.
    assertEquals(h.agent.drops?.occurrences, drops.length);
    assertEquals(h.agent.drops?.actionsTaken, drops.length);
    assert(drops.length >= 8 && drops.length <= 10, `${drops.length} drop alerts`);
  } finally {
    await h.stop();
  }
});

Deno.test("agent: the exit drop action stops the agent with code 1", async () => {
  const h = await start(
    `syscall_event_drops: {actions: [exit], rate: 1, max_burst: 1, simulate_drops: true}\n`,
  );
  try {
    for (let i = 0; i < 5; i++) h.src.push([open("/tmp/quiet", i, BigInt(i) * SEC)]);
    assertEquals(await h.agent.done, 1);
  } finally {
    await h.stop();
  }
});

Deno.test("agent: rules errors at start are reported, nothing starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-agent-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES_BROKEN);
    const config: Config = (await loadConfig({
      text: `rules_files: [${dir}/rules.yaml]\nwebserver: {enabled: false}\n` +
        `alert_store: {path: ${dir}/a.db}\n`,
      env: {},
    })).config;
    let opened = false;
    let err: Error | undefined;
    try {
      await Agent.start(config, {
        openSource: () => {
          opened = true;
          return Promise.resolve(new PushSource());
        },
        buildRules: buildEngineRules,
        registry: new Registry(),
        signals: false,
      });
    } catch (e) {
      err = e as Error;
    }
    assert(err);
    assertStringIncludes(err.message, `${dir}/rules.yaml:`);
    assertStringIncludes(err.message, "LOAD_ERR_COMPILE_CONDITION");
    assertEquals(opened, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
