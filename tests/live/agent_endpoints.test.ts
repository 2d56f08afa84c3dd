/**
 * One `saker run` with every local output and the API, driven from outside as a user would: a
 * renamed cat opens trigger files (the test knows its pid, parent and files), and each step checks
 * what arrived where.
 *
 * - Outputs: the same JSON alert on stdout, in the file output, through the program output and
 *   through syslog into an rsyslogd the test runs on its own socket (facility and severity as
 *   rsyslog parsed them), and in the alert store (GET /alerts).
 * - GET /alerts/stream: a real SSE client subscribed before the event receives its alert live.
 * - SIGUSR1 sent to the process: the file output moves to a new file after rotation.
 * - The program output's process killed: a new one takes the next alert.
 * - GET /versions agrees with `saker version --json` and `deno --version`; /metrics has one
 *   kernel drop counter per possible CPU and the alert counts; the token guards all but /healthz.
 * - GET /healthz: 503 from the stall detector while a rule truly blocks the pipeline (a regular
 *   expression that backtracks for seconds on one event), then 200 again.
 * - Capture on alert: the files `capture:` wrote are replayed alone by `saker replay` and give the
 *   same alerts; `saker replay --capture` writes a file that, replayed alone, gives them again.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { needsRoot, skipIf } from "../support/env.ts";
import { api, metricValue, saker, SakerProcess, waitFor } from "../support/saker.ts";
import { sseEvents } from "../support/sse.ts";

const RSYSLOGD = "/usr/sbin/rsyslogd";
const haveRsyslog = (() => {
  try {
    return Deno.statSync(RSYSLOGD).isFile;
  } catch {
    return false;
  }
})();
const ignore = needsRoot() ||
  skipIf(!haveRsyslog, "rsyslogd is not installed (scripts/setup.sh installs rsyslog)");

const TOKEN = "e2e-token";
const RULE = "saker e2e trigger";
const STALL_RULE = "saker e2e stall";
const COMM = "sakere2ecat";

function rules(dir: string, withStall: boolean): string {
  const trigger = `- rule: ${RULE}
  desc: the renamed cat of the test opens a trigger file
  condition: evt.type in (open, openat, openat2) and proc.name = ${COMM} and fd.name startswith ${dir}/trigger-
  output: "${COMM} read %fd.name (pid=%proc.pid ppid=%proc.ppid user=%user.name)"
  priority: WARNING
  capture: true
  tags: [e2e]
`;
  // Anchored and backtracking: seconds of work on one long enough name, none on others.
  const stall = `- rule: ${STALL_RULE}
  desc: a rule whose regular expression blocks the pipeline for seconds on one event
  condition: evt.type in (open, openat, openat2) and proc.name = ${COMM} and fd.name startswith ${dir}/stall- and fd.name regex ".*-(x+x+)+y"
  output: "never: %fd.name"
  priority: WARNING
`;
  return withStall ? trigger + stall : trigger;
}

/** The number of x's for which the stall rule's expression takes about 3 s here. */
function stallLength(dir: string): number {
  const re = new RegExp("^(?:.*-(x+x+)+y)$", "u");
  const time = (n: number) => {
    const t = performance.now();
    re.test(`${dir}/stall-${"x".repeat(n)}`);
    return performance.now() - t;
  };
  const base = 18;
  const t = Math.max(time(base), 1);
  return base + Math.ceil(Math.log2(3000 / t));
}

/** Opens `files` with the renamed cat; returns its pid. */
async function readWith(cat: string, files: string[]): Promise<number> {
  const child = new Deno.Command(cat, { args: files, stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

/** Number of possible CPUs (the kernel's list, e.g. "0-1"). */
function possibleCpus(): number {
  let n = 0;
  for (const part of Deno.readTextFileSync("/sys/devices/system/cpu/possible").trim().split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += (b ?? a) - a + 1;
  }
  return n;
}

/** Children of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

Deno.test({
  name: "saker run: outputs, SSE, SIGUSR1, program respawn, versions, metrics, stall, capture",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-e2e-" }));
    const cat = `${dir}/${COMM}`;
    await Deno.copyFile("/usr/bin/cat", cat);
    await Deno.chmod(cat, 0o755);
    for (let i = 1; i <= 6; i++) await Deno.writeTextFile(`${dir}/trigger-${i}`, `${i}\n`);
    const stallFile = `${dir}/stall-${"x".repeat(stallLength(dir))}`;
    await Deno.writeTextFile(stallFile, "s\n");
    await Deno.writeTextFile(`${dir}/rules.yaml`, rules(dir, true));
    await Deno.writeTextFile(`${dir}/replay.yaml`, rules(dir, false));

    // rsyslogd of our own, on a socket of our own.
    await Deno.writeTextFile(
      `${dir}/rsyslog.conf`,
      [
        `global(workDirectory="${dir}")`,
        `module(load="imuxsock" SysSock.Use="off")`,
        `input(type="imuxsock" Socket="${dir}/log.sock")`,
        `template(name="t" type="string" string="%syslogfacility-text%.%syslogseverity-text% %programname%[%procid%]:%msg%\\n")`,
        `*.* action(type="omfile" file="${dir}/syslog.out" template="t")`,
      ].join("\n") + "\n",
    );
    const rsyslogd = new Deno.Command(RSYSLOGD, {
      args: ["-n", "-f", `${dir}/rsyslog.conf`, "-i", `${dir}/rsyslogd.pid`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("rsyslogd's socket", async () => {
      try {
        return (await Deno.stat(`${dir}/log.sock`)).isSocket;
      } catch {
        return false;
      }
    });

    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
file_output: {enabled: true, keep_alive: true, filename: ${dir}/alerts.log}
syslog_output: {enabled: true, path: ${dir}/log.sock, facility: local4}
program_output: {enabled: true, keep_alive: true, program: "cat >> ${dir}/program.out"}
alert_store: {path: ${dir}/alerts.db}
webserver: {listen_port: 0, auth_token: ${TOKEN}, stall_timeout: 1}
capture: {enabled: true, path_prefix: ${dir}/cap, default_duration: 2000}
watch_config_files: false
`,
    );
    const agent = SakerProcess.start(["run", "-c", `${dir}/config.yaml`]);
    const trigger = async (i: number) => {
      const pid = await readWith(cat, [`${dir}/trigger-${i}`]);
      const alert = await agent.waitFor(
        `the alert of trigger-${i}`,
        () =>
          agent.jsonLines().find((a) =>
            (a.output_fields as Record<string, unknown>)["fd.name"] === `${dir}/trigger-${i}`
          ),
        20_000,
      );
      return { pid, alert };
    };
    const live: Record<string, unknown>[] = [];
    try {
      const base = await agent.running();
      assertMatch(base, /^http:\/\/127\.0\.0\.1:\d+$/);

      await t.step("one alert reaches stdout, file, program, syslog and the store", async () => {
        const { pid, alert } = await trigger(1);
        live.push(alert);
        assertEquals(alert.rule, RULE);
        assertEquals(alert.priority, "Warning");
        // Falco's JSON carries evt.time (ns since the epoch) among the output fields.
        const { "evt.time": time, ...fields } = alert.output_fields as Record<string, unknown>;
        assert(Math.abs(Number(time) / 1e6 - Date.now()) < 60_000, `evt.time ${time}`);
        assertEquals(fields, {
          "fd.name": `${dir}/trigger-1`,
          "proc.pid": pid,
          "proc.ppid": Deno.pid,
          "user.name": "root",
        });
        const line = agent.stdout().split("\n").find((l) => l.includes(`${dir}/trigger-1`))!;
        const file = await agent.waitFor("the file output", async () => {
          const l = await lines(`${dir}/alerts.log`);
          return l.length >= 1 ? l : undefined;
        });
        assertEquals(file, [line]);
        const prog = await agent.waitFor("the program output", async () => {
          const l = await lines(`${dir}/program.out`);
          return l.length >= 1 ? l : undefined;
        });
        assertEquals(prog, [line]);
        const sys = await agent.waitFor("rsyslogd's file", async () => {
          const l = await lines(`${dir}/syslog.out`);
          return l.length >= 1 ? l : undefined;
        });
        assertEquals(sys, [`local4.warning saker[${agent.pid}]: ${line}`]);
        const stored = await api(base, `/alerts?rule=${encodeURIComponent(RULE)}`, TOKEN);
        assertEquals(stored.status, 200);
        const got = (stored.json() as { alerts: Record<string, unknown>[] }).alerts;
        assertEquals(got.length, 1);
        assertEquals([got[0].output, got[0].output_fields], [alert.output, alert.output_fields]);
      });

      await t.step("GET /alerts/stream: a subscribed client receives the alert live", async () => {
        const res = await fetch(
          `${base}/alerts/stream?rule=${encodeURIComponent(RULE)}&priority=warning`,
          { headers: { authorization: `Bearer ${TOKEN}` } },
        );
        assertEquals(res.status, 200);
        assertEquals(res.headers.get("content-type"), "text/event-stream");
        const events = sseEvents(res);
        // The subscription exists once the response started; the event happens after it.
        const next = (async () => {
          for await (const ev of events) if (ev.event === "alert") return ev;
          throw new Error("the stream ended");
        })();
        const { alert } = await trigger(2);
        live.push(alert);
        const got = await Promise.race([
          next,
          new Promise<never>((_, rej) =>
            setTimeout(() => rej(new Error("no SSE event within 20 s")), 20_000)
          ),
        ]);
        const a = JSON.parse(got.data);
        assertEquals([a.rule, a.output, a.output_fields], [
          RULE,
          alert.output,
          alert.output_fields,
        ]);
        await events.return(undefined);
      });

      await t.step("SIGUSR1 reopens the file output after rotation", async () => {
        await Deno.rename(`${dir}/alerts.log`, `${dir}/alerts.log.1`);
        agent.kill("SIGUSR1");
        await agent.waitFor("the reopened file", async () => {
          try {
            return (await Deno.stat(`${dir}/alerts.log`)).isFile;
          } catch {
            return false;
          }
        });
        const { alert } = await trigger(3);
        live.push(alert);
        const fresh = await agent.waitFor("the alert in the new file", async () => {
          const l = await lines(`${dir}/alerts.log`);
          return l.length >= 1 ? l : undefined;
        });
        assertEquals(fresh.map((l) => JSON.parse(l).output), [alert.output]);
        assertEquals(
          (await lines(`${dir}/alerts.log.1`)).map((l) => JSON.parse(l).output),
          live.slice(0, 2).map((a) => a.output),
        );
        assertStringIncludes(agent.stderr(), "SIGUSR1: reopening outputs");
      });

      await t.step(
        "the program output's process killed: a new one takes the next alert",
        async () => {
          const progs = childrenOf(agent.pid);
          assertEquals(progs.length, 1, `the agent's children: ${progs}`);
          Deno.kill(progs[0], "SIGKILL");
          await agent.waitFor(
            "the program to end",
            () => !childrenOf(agent.pid).includes(progs[0]),
          );
          const { alert } = await trigger(4);
          live.push(alert);
          const prog = await agent.waitFor("the respawned program's line", async () => {
            const l = await lines(`${dir}/program.out`);
            return l.length >= 4 ? l : undefined;
          });
          assertEquals(
            prog.map((l) => JSON.parse(l).output),
            live.map((a) => a.output),
          );
          const now = childrenOf(agent.pid);
          assertEquals(now.length, 1);
          assert(now[0] !== progs[0], "a new program process");
        },
      );

      await t.step("GET /versions, /metrics and /alerts; the token guards them", async () => {
        for (const path of ["/versions", "/metrics", "/alerts", "/alerts/stream"]) {
          assertEquals((await api(base, path)).status, 401, path);
        }
        assertEquals((await api(base, "/healthz")).status, 200);
        const v = await api(base, "/versions", TOKEN);
        assertEquals(v.status, 200);
        const cli = await saker(["version", "--json"]);
        assertEquals(v.json(), JSON.parse(cli.stdout));
        const d = new TextDecoder().decode(
          (await new Deno.Command(Deno.execPath(), { args: ["--version"] }).output()).stdout,
        );
        assertEquals((v.json() as Record<string, string>).deno, /^deno (\S+)/.exec(d)?.[1]);

        const m = await api(base, "/metrics", TOKEN);
        assertEquals(m.status, 200);
        const perCpu = m.text.split("\n").filter((l) => l.startsWith("saker_kernel_drops_total{"));
        assertEquals(perCpu.length, possibleCpus(), perCpu.join("\n"));
        for (let cpu = 0; cpu < possibleCpus(); cpu++) {
          assert(perCpu.some((l) => l.startsWith(`saker_kernel_drops_total{cpu="${cpu}"} `)));
        }
        assertEquals(
          metricValue(
            m.text,
            new RegExp(`^saker_alerts_total\\{rule="${RULE}",priority="Warning"`),
          ),
          4,
        );
        const received = metricValue(m.text, /^saker_events_received_total /)!;
        const processed = metricValue(m.text, /^saker_events_processed_total\{source="syscall"\}/)!;
        assert(received > 0 && processed > 0 && processed <= received, `${processed}/${received}`);
        const stored = await api(base, "/alerts?limit=2", TOKEN);
        const page = stored.json() as { alerts: { output: string }[]; next?: number };
        assertEquals(page.alerts.map((a) => a.output), [live[3].output, live[2].output]);
        assert(page.next !== undefined, "a next page");
      });

      await t.step("GET /healthz: 503 while a rule blocks the pipeline, then 200", async () => {
        assertEquals((await api(base, "/healthz")).status, 200);
        await readWith(cat, [stallFile]);
        // The agent answers again once the expression gave up: unhealthy, with the reason.
        const bad = await agent.waitFor("503 from /healthz", async () => {
          const r = await api(base, "/healthz");
          return r.status === 503 ? r.json() as { status: string; error: string } : undefined;
        }, 60_000);
        assertEquals(bad.status, "unhealthy");
        const blocked = Number(/^event loop blocked for (\d+) ms$/.exec(bad.error)?.[1]);
        assert(blocked >= 1000, bad.error);
        await agent.waitFor("200 from /healthz again", async () => {
          return (await api(base, "/healthz")).status === 200;
        }, 30_000);
      });

      await t.step("SIGTERM: exit 0 with every output flushed", async () => {
        const { alert } = await trigger(5);
        live.push(alert);
        const status = await agent.stop();
        assertEquals(status.code, 0, agent.stderr().slice(-2000));
        assertStringIncludes(agent.stderr(), "outputs flushed");
        assertEquals(
          (await lines(`${dir}/program.out`)).map((l) => JSON.parse(l).output),
          live.map((a) => a.output),
        );
      });

      await t.step("capture on alert: each file replayed alone gives the same alerts", async () => {
        const files = [...Deno.readDirSync(dir)].map((e) => e.name)
          .filter((n) => n.startsWith("cap_") && n.endsWith(".scap")).sort();
        assert(files.length >= 1, `capture files: ${files}`);
        const liveOut = new Map(live.map((a) => [a.output as string, a]));
        const started = new Set<string>();
        for (const f of files) {
          assertMatch(f, /^cap_\d{20}_\d+_saker-e2e-trigger\.scap$/);
          const r = await saker(["replay", `${dir}/${f}`, "-r", `${dir}/replay.yaml`, "--json"]);
          assertEquals(r.code, 0, r.stderr);
          const got = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
            JSON.parse(l)
          );
          assert(got.length >= 1, `${f}: no alert on replay\n${r.stderr}`);
          for (const a of got) {
            const same = liveOut.get(a.output);
            assert(same, `${f}: replay alert not seen live: ${a.output}`);
            assertEquals(a.output_fields, same.output_fields);
            started.add(a.output);
          }
        }
        assertEquals(started.size, live.length, "every live alert is in a capture");

        // saker replay --capture: the same feature while replaying; its file alone alerts too.
        const first = `${dir}/${files[0]}`;
        const re = await saker([
          "replay",
          first,
          "-r",
          `${dir}/replay.yaml`,
          "--json",
          "--capture",
          `${dir}/recap`,
        ]);
        assertEquals(re.code, 0, re.stderr);
        const want = re.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
          JSON.parse(l).output
        );
        const recaps = [...Deno.readDirSync(dir)].map((e) => e.name)
          .filter((n) => n.startsWith("recap_") && n.endsWith(".scap"));
        assert(recaps.length >= 1, "saker replay --capture wrote no file");
        const again: string[] = [];
        for (const f of recaps) {
          const r = await saker(["replay", `${dir}/${f}`, "-r", `${dir}/replay.yaml`, "--json"]);
          assertEquals(r.code, 0, r.stderr);
          again.push(
            ...r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
              JSON.parse(l).output
            ),
          );
        }
        assertEquals(new Set(again), new Set(want));
      });
    } finally {
      await agent.stop();
      try {
        rsyslogd.kill("SIGTERM");
      } catch { /* ended */ }
      await rsyslogd.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
