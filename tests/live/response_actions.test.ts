/**
 * Response actions, live: one `saker run` with the probe, rules with `actions:`, real processes
 * (a small C program that opens a marker file and then waits) and a podman container.
 *
 * - kill: the process that opened the marker dies; the time from just before its open to its
 *   death as this test sees it is measured over many runs (p50, p99, max), and must stay under
 *   100 ms;
 * - monitor mode records (`would`) and the process lives; the audit alert says so;
 * - protections: the agent's parent (this test) opening a kill rule's marker lives, refused;
 *   an allowlisted executable lives; the probe's deny spares allowlisted executables (exact
 *   path, prefix) and uids (by number, by name) and stops the same program otherwise;
 * - exec: the command reads the alert's JSON on stdin; the stored alert carries the outcome;
 * - rate limits under a storm: 150 processes, exactly `per_rule` (100) killed, the rest counted as
 *   rate limited; one process opening a marker many times is acted on `per_target` times; a
 *   storm of 150 denied executions: all denied (the limit does not hold deny back), each counted
 *   in the kernel, per rule and in an audit alert;
 * - stop_container and pause_container through podman's API on a private socket;
 * - deny: executions and opens stopped in the kernel, by path and by process name; each alert
 *   says what the probe did (`done`, or `refused` for the agent's parent); a denial through a
 *   symbolic link, which no rule's alert accounts for, is audited alone; a containers-only deny
 *   stops a container's reader and leaves the host's;
 * - hot reload: a rules reload (SIGHUP) turning a kill rule and a deny rule to monitor holds
 *   from the first event after it (the process lives, the probe's deny entry is gone), and back
 *   to enforce the same way; the config's `response.mode` turned to monitor stops enforcement at
 *   once.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot, REPO_ROOT, skipNote } from "../support/env.ts";
import { type SakerProcess, startSaker, waitFor } from "../support/agent_process.ts";
import { ensureStateImage, havePodman, STATE_IMAGE } from "../support/podman_image.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";

const ignore = needsRoot();
/** Kill latency runs (p99 is the 99th of 100). */
const RUNS = 100;
const PODMAN = !ignore && havePodman();
/** An allowlisted uid, and one that is not (neither needs a passwd entry). */
const ALLOWED_UID = 4242;
const OTHER_UID = 4243;

interface Json {
  [k: string]: unknown;
}

let dir = "";
let agent: SakerProcess | undefined;
let opener = "";
let podmanService: Deno.ChildProcess | undefined;
const started: Deno.ChildProcess[] = [];

function rule(name: string, marker: string, actions: string, extra = ""): string {
  return `- rule: ${name}
  desc: response test rule
  condition: evt.type in (open, openat, openat2) and fd.name = ${marker}${extra}
  output: "${name}: %fd.name opened by %proc.name (pid=%proc.pid)"
  priority: WARNING
  actions: ${actions}
`;
}

function config(mode: "monitor" | "enforce"): string {
  return `json_output: true
rules_files: [${dir}/rules.yaml]
containers: {sockets: [${dir}/podman.sock]}
response:
  mode: ${mode}
  allowlist: {exe_paths: [${dir}/allowed-opener, ${dir}/backup-*], users: ["${ALLOWED_UID}", nobody]}
  rate_limit: {per_rule: 100, per_target: 3, period: 60s}
  stop_timeout: 1
`;
}

/** The JSON alerts the agent printed. */
function alerts(): Json[] {
  return agent!.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

function alertsOf(rule: string): Json[] {
  return alerts().filter((a) => a.rule === rule);
}

function audits(action: string, ruleName: string): Json[] {
  return alerts().filter((a) => {
    const f = a.output_fields as Json;
    return a.rule === "Saker response action" && f["response.rule"] === ruleName &&
      f["response.action"] === action;
  });
}

async function metrics(): Promise<string> {
  return await (await fetch(`${agent!.api}/metrics`)).text();
}

/** Reloads that succeeded so far. */
async function reloadsOk(): Promise<number> {
  const m = /^saker_reloads_total\{result="ok"\} (\d+)$/m.exec(await metrics());
  return Number(m?.[1] ?? 0);
}

function actionCount(text: string, rule: string, result: string): number {
  const line = text.split("\n").find((l) =>
    l.startsWith("saker_response_actions_total{") && l.includes(`rule="${rule}"`) &&
    l.includes(`result="${result}"`)
  );
  return line ? Number(line.split(" ").at(-1)) : 0;
}

/** Starts the opener on `marker` (opening it `times` times); resolves its start time (ns). */
async function open(
  marker: string,
  times = 1,
  exe = opener,
  uid?: number,
): Promise<{ child: Deno.ChildProcess; t0: bigint }> {
  const [cmd, args] = as(uid, exe, [marker, String(times)]);
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).spawn();
  started.push(child);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return { child, t0: BigInt(text.trim()) };
}

/** `exe ARGS` as a command line, run under `uid` (setpriv execs it) when given. */
function as(uid: number | undefined, exe: string, args: string[]): [string, string[]] {
  if (uid === undefined) return [exe, args];
  return ["setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", exe, ...args]];
}

/** Whether the child is still running after `ms`. */
async function aliveAfter(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  const t = new Promise<"alive">((r) => setTimeout(() => r("alive"), ms));
  return (await Promise.race([child.status.then(() => "ended"), t])) === "alive";
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

function podman(args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command("podman", { args, stdout: "piped", stderr: "piped" }).output();
}

async function containerStatus(name: string): Promise<string> {
  const out = await podman(["inspect", "-f", "{{.State.Status}}", name]);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test({
  name: "response live: kill, monitor, protections, exec, rate limits, containers, reload",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    dir = await Deno.makeTempDir({ prefix: "saker-response-" });
    try {
      opener = `${dir}/opener`;
      const cc = await new Deno.Command("cc", {
        args: ["-O2", "-o", opener, `${REPO_ROOT}tests/fixtures/response/opener.c`],
      }).output();
      assert(cc.success, new TextDecoder().decode(cc.stderr));
      const cc2 = await new Deno.Command("cc", {
        args: [
          "-static",
          "-nostdlib",
          "-O2",
          "-o",
          `${dir}/denied`,
          `${REPO_ROOT}tests/fixtures/response/denied.c`,
        ],
      }).output();
      assert(cc2.success, new TextDecoder().decode(cc2.stderr));
      await Deno.writeTextFile(`${dir}/secret`, "the secret\n");
      await Deno.writeTextFile(`${dir}/secret2`, "the second secret\n");
      for (const name of ["sakerdenyname", "sakerothername"]) {
        await Deno.copyFile(`${dir}/denied`, `${dir}/${name}`);
        await Deno.chmod(`${dir}/${name}`, 0o755);
      }
      for (const copy of ["allowed-opener", "backup-opener"]) {
        await Deno.copyFile(opener, `${dir}/${copy}`);
        await Deno.chmod(`${dir}/${copy}`, 0o755);
      }
      // Other uids read the secret and run the programs; they write markers in `shared`.
      await Deno.chmod(dir, 0o755);
      await Deno.mkdir(`${dir}/shared`, { mode: 0o777 });
      await Deno.chmod(`${dir}/shared`, 0o777);
      for (const m of ["kill", "storm", "monitor", "exec", "parent", "reload"]) {
        await Deno.writeTextFile(`${dir}/${m}-marker`, "x");
      }
      /** The rules; `monitor`: two of them (a kill and a deny) record only. */
      const rulesFile = (monitor: boolean) =>
        rule("Response kill", `${dir}/kill-marker`, "[kill]") +
        rule("Response storm", `${dir}/storm-marker`, "[kill]") +
        rule("Response monitor", `${dir}/monitor-marker`, "{mode: monitor, run: [kill]}") +
        rule("Response parent", `${dir}/parent-marker`, "[kill]") +
        rule(
          "Response exec",
          `${dir}/exec-marker`,
          `[{exec: {command: "cat > ${dir}/exec.json", timeout: 5s}}]`,
        ) +
        rule(
          "Response reload",
          `${dir}/reload-marker`,
          monitor ? "{mode: monitor, run: [kill]}" : "[kill]",
        ) +
        `- rule: Response deny exec
  desc: response test rule
  condition: evt.type = execve and proc.exepath = ${dir}/denied
  output: "denied %proc.exepath (pid=%proc.pid)"
  priority: WARNING
  actions: ${monitor ? "{mode: monitor, run: [deny]}" : "[deny]"}
- rule: Response deny name
  desc: response test rule
  condition: evt.type = execve and proc.name = sakerdenyname
  output: "denied by name %proc.exepath (pid=%proc.pid)"
  priority: WARNING
  actions: [deny]
` + rule("Response deny open", `${dir}/secret`, "[deny]") +
        rule("Response deny open by name", `${dir}/secret2`, "[deny]", " and proc.name = cat") +
        rule(
          "Response deny container",
          `/tmp/saker-cdeny-${Deno.pid}`,
          "[deny]",
          " and container.id != host",
        ) +
        rule(
          "Response stop",
          "/tmp/stop-marker",
          "[stop_container]",
          " and container.id != host",
        ) +
        rule(
          "Response pause",
          "/tmp/pause-marker",
          "[pause_container]",
          " and container.id != host",
        );
      await Deno.writeTextFile(`${dir}/rules.yaml`, rulesFile(false));
      if (PODMAN) {
        await ensureStateImage();
        podmanService = new Deno.Command("podman", {
          args: ["system", "service", "--time=0", `unix://${dir}/podman.sock`],
          stdout: "null",
          stderr: "null",
        }).spawn();
        await waitFor("podman socket", async () => {
          try {
            await Deno.stat(`${dir}/podman.sock`);
            return true;
          } catch {
            return false;
          }
        }, 20_000);
      }
      agent = await startSaker(dir, config("enforce"), [], { watch: true });
      // The probe is attached once the agent says it runs; one alert proves rules evaluate.
      await t.step("kill: the process dies within 100 ms of its open (p99)", async () => {
        const latencies: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const { child, t0 } = await open(`${dir}/kill-marker`);
          const status = await Promise.race([
            child.status,
            new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
          ]);
          const t1 = nowNs();
          assert(status, `opener ${child.pid} still alive 5 s after its open`);
          assertEquals(status.signal, "SIGKILL");
          latencies.push(Number(t1 - t0) / 1e6);
        }
        latencies.sort((a, b) => a - b);
        const q = (p: number) =>
          latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)];
        console.log(
          `kill latency over ${latencies.length} runs (open -> death seen by the test): ` +
            `p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${
              latencies.at(-1)!.toFixed(1)
            } ms`,
        );
        assert(q(0.99) < 100, `p99 ${q(0.99)} ms`);
        await waitFor("kill alerts", () => alertsOf("Response kill").length >= RUNS);
        const a = alertsOf("Response kill")[0];
        const resp = a.response as Json[];
        assertEquals(resp.length, 1);
        assertEquals(resp[0].action, "kill");
        assertEquals(resp[0].mode, "enforce");
        assertEquals(resp[0].result, "done");
        assertEquals(resp[0].pid, (a.output_fields as Json)["proc.pid"]);
        await waitFor("kill audit alerts", () => audits("kill", "Response kill").length >= RUNS);
        const audit = audits("kill", "Response kill")[0];
        assertEquals((audit.output_fields as Json)["response.result"], "done");
        assertEquals(actionCount(await metrics(), "Response kill", "done"), RUNS);
      });

      await t.step("monitor: records what it would do, the process lives", async () => {
        const { child } = await open(`${dir}/monitor-marker`);
        await waitFor("monitor alert", () => alertsOf("Response monitor").length >= 1);
        assert(await aliveAfter(child, 300), "monitor mode killed the process");
        const resp = alertsOf("Response monitor")[0].response as Json[];
        assertEquals(resp[0].mode, "monitor");
        assertEquals(resp[0].result, "would");
        await waitFor("monitor audit", () => audits("kill", "Response monitor").length >= 1);
        child.kill("SIGKILL");
        await child.status;
      });

      await t.step("per target: one process, many alerts, 3 actions", async () => {
        const before = alertsOf("Response monitor").length;
        const { child } = await open(`${dir}/monitor-marker`, 10);
        await waitFor("10 alerts", () => alertsOf("Response monitor").length >= before + 10);
        const results = alertsOf("Response monitor").slice(before).map((a) =>
          (a.response as Json[])[0].result
        );
        assertEquals(results.filter((r) => r === "would").length, 3);
        assertEquals(results.filter((r) => r === "rate_limited").length, 7);
        child.kill("SIGKILL");
        await child.status;
      });

      await t.step("protections: the agent's parent and an allowlisted program live", async () => {
        // This test process is the agent's parent.
        await Deno.readTextFile(`${dir}/parent-marker`);
        await waitFor("parent alert", () => alertsOf("Response parent").length >= 1);
        const resp = alertsOf("Response parent")[0].response as Json[];
        assertEquals(resp[0].result, "refused");
        assertEquals(resp[0].detail, "the agent's parent");
        assertEquals(resp[0].pid, Deno.pid);
        const { child } = await open(`${dir}/kill-marker`, 1, `${dir}/allowed-opener`);
        await waitFor(
          "allowlisted alert",
          () =>
            alertsOf("Response kill").find((a) =>
              (a.output_fields as Json)["proc.pid"] === child.pid
            ),
        );
        assert(await aliveAfter(child, 300), "an allowlisted program was killed");
        const a = alertsOf("Response kill").find((a) =>
          (a.output_fields as Json)["proc.pid"] === child.pid
        )!;
        const r = (a.response as Json[])[0];
        assertEquals(r.result, "refused");
        assertEquals(r.detail, `allowlisted executable ${dir}/allowed-opener`);
        child.kill("SIGKILL");
        await child.status;
      });

      await t.step(
        "exec: the alert's JSON on stdin; the stored alert has the outcome",
        async () => {
          const { child } = await open(`${dir}/exec-marker`);
          const text = await waitFor("exec output", async () => {
            try {
              const s = await Deno.readTextFile(`${dir}/exec.json`);
              return s.endsWith("\n") ? s : undefined;
            } catch {
              return undefined;
            }
          });
          const got = JSON.parse(text);
          assertEquals(got.rule, "Response exec");
          assertEquals(got.output_fields["proc.pid"], child.pid);
          const stored = await waitFor("stored outcome", async () => {
            const r = await fetch(`${agent!.api}/alerts?rule=Response%20exec`);
            const page = await r.json();
            const a = page.alerts[0];
            return a?.response?.[0]?.result === "done" ? a : undefined;
          });
          assertEquals(stored.response[0].action, "exec");
          await waitFor("exec audit", () => audits("exec", "Response exec").length >= 1);
          child.kill("SIGKILL");
          await child.status;
        },
      );

      await t.step("storm: 150 processes, exactly 100 killed, 50 rate limited", async () => {
        const children = await Promise.all(
          Array.from({ length: 150 }, () => open(`${dir}/storm-marker`)),
        );
        await waitFor("storm alerts", () => alertsOf("Response storm").length >= 150, 60_000);
        await waitFor("storm counted", async () => {
          const m = await metrics();
          return actionCount(m, "Response storm", "done") +
              actionCount(m, "Response storm", "rate_limited") >= 150;
        });
        const m = await metrics();
        assertEquals(actionCount(m, "Response storm", "done"), 100);
        assertEquals(actionCount(m, "Response storm", "rate_limited"), 50);
        await new Promise((r) => setTimeout(r, 200));
        let killed = 0;
        for (const { child } of children) {
          if (await aliveAfter(child, 0)) child.kill("SIGKILL");
          else killed++;
          await child.status;
        }
        assertEquals(killed, 100);
        // Rate-limited actions are counted, not raised one by one.
        assertEquals(audits("kill", "Response storm").length, 100);
      });

      await t.step({
        name: "stop_container and pause_container through podman's API",
        ignore: !PODMAN,
        fn: async () => {
          const run = (name: string, marker: string) =>
            podman([
              ...PODMAN_BASE,
              "run",
              ...RUN_LIMITS,
              "-d",
              "--replace", // one of this name is one a killed run left (the name has our pid)
              "--name",
              name,
              STATE_IMAGE,
              "sh",
              "-c",
              `touch ${marker}; sleep 1; cat ${marker}; sleep 600`,
            ]);
          const stopName = `saker-resp-stop-${Deno.pid}`;
          const pauseName = `saker-resp-pause-${Deno.pid}`;
          try {
            const s = await run(stopName, "/tmp/stop-marker");
            assert(s.success, new TextDecoder().decode(s.stderr));
            const p = await run(pauseName, "/tmp/pause-marker");
            assert(p.success, new TextDecoder().decode(p.stderr));
            await waitFor(
              "container stopped",
              async () => (await containerStatus(stopName)) === "exited",
              30_000,
            );
            await waitFor(
              "container paused",
              async () => (await containerStatus(pauseName)) === "paused",
              30_000,
            );
            const stop = audits("stop_container", "Response stop")[0];
            assertEquals((stop.output_fields as Json)["response.result"], "done");
            const id = new TextDecoder().decode(
              (await podman(["inspect", "-f", "{{.Id}}", stopName])).stdout,
            ).trim();
            assert(id.startsWith((stop.output_fields as Json)["response.container_id"] as string));
            await waitFor("pause audit", () => audits("pause_container", "Response pause").length);
          } finally {
            await podman(["rm", "-f", "-t", "0", stopName, pauseName]);
          }
        },
      });

      await t.step(
        "deny: an exec of a denied binary dies before its first instruction",
        async () => {
          for (let i = 0; i < 20; i++) {
            const out = await new Deno.Command(`${dir}/denied`, {
              args: [`${dir}/deny-marker-${i}`],
            }).output();
            assertEquals(out.signal, "SIGKILL", `run ${i}: ${JSON.stringify(out)}`);
            assert(!await exists(`${dir}/deny-marker-${i}`), `run ${i}: the marker was written`);
          }
          await waitFor("deny alerts", () => alertsOf("Response deny exec").length >= 20);
          const r = (alertsOf("Response deny exec")[0].response as Json[])[0];
          assertEquals([r.action, r.mode, r.result], ["deny", "enforce", "done"]);
          // An open of a denied file: the reader dies before it can read.
          const cat = await new Deno.Command("cat", { args: [`${dir}/secret`], stdout: "piped" })
            .output();
          assertEquals(cat.signal, "SIGKILL");
          assertEquals(new TextDecoder().decode(cat.stdout), "");
          await waitFor("deny open alert", () => alertsOf("Response deny open").length >= 1);
          const opened = alertsOf("Response deny open")[0];
          assertEquals((opened.response as Json[])[0].result, "done");
          // This test process is the agent's parent: never denied, and its alert says so.
          assertEquals(await Deno.readTextFile(`${dir}/secret`), "the secret\n");
          const mine = await waitFor(
            "the parent's deny open alert",
            () =>
              alertsOf("Response deny open").find((a) =>
                (a.output_fields as Json)["proc.pid"] === Deno.pid
              ),
          );
          const r2 = (mine.response as Json[])[0];
          assertEquals([r2.result, r2.detail], ["refused", "the agent's parent"]);
          // Through a symbolic link: the probe matches the path the kernel resolved and stops
          // the reader; no rule sees `fd.name` = the secret, so the agent audits the denial alone.
          await Deno.symlink(`${dir}/secret`, `${dir}/secret-link`);
          const viaLink = new Deno.Command("cat", { args: [`${dir}/secret-link`], stdout: "piped" })
            .spawn();
          const linked = await viaLink.output();
          assertEquals(linked.signal, "SIGKILL");
          assertEquals(new TextDecoder().decode(linked.stdout), "");
          const alone = await waitFor(
            "audit of the denial through the link",
            () =>
              audits("deny", "Response deny open").find((a) =>
                (a.output_fields as Json)["response.pid"] === viaLink.pid
              ),
          );
          const f = alone.output_fields as Json;
          assertEquals(f["response.result"], "done");
          assert(
            String(f["response.detail"]).includes(`${dir}/secret-link`),
            String(f["response.detail"]),
          );
        },
      );

      await t.step(
        "deny storm: the rate limit does not hold deny back; each one counted",
        async () => {
          const rule = "Response deny exec";
          const m0 = await metrics();
          const kernel = (m: string) =>
            Number(/^saker_kernel_denied_total (\d+)$/m.exec(m)?.[1] ?? 0);
          const audits0 = audits("deny", rule).length;
          const n = 150; // per_rule is 100
          const outs = await Promise.all(
            Array.from(
              { length: n },
              (_, i) =>
                new Deno.Command(`${dir}/denied`, { args: [`${dir}/storm-deny-${i}`] }).output(),
            ),
          );
          assertEquals(
            outs.filter((o) => o.signal === "SIGKILL").length,
            n,
          );
          for (let i = 0; i < n; i++) assert(!await exists(`${dir}/storm-deny-${i}`), `run ${i}`);
          const m = await waitFor("denials counted", async () => {
            const m = await metrics();
            return actionCount(m, rule, "done") - actionCount(m0, rule, "done") >= n
              ? m
              : undefined;
          });
          assertEquals(actionCount(m, rule, "done") - actionCount(m0, rule, "done"), n);
          assertEquals(actionCount(m, rule, "rate_limited"), 0);
          await waitFor("kernel count", async () => kernel(await metrics()) - kernel(m0) >= n);
          assertEquals(kernel(await metrics()) - kernel(m0), n);
          await waitFor("deny audits", () => audits("deny", rule).length - audits0 >= n);
          assertEquals(audits("deny", rule).length - audits0, n);
        },
      );

      await t.step("deny by process name: executions, and opens by a named reader", async () => {
        // The same binary under two names: the denied name dies before its first instruction.
        const byName = await new Deno.Command(`${dir}/sakerdenyname`, {
          args: [`${dir}/name-marker`],
        }).output();
        assertEquals(byName.signal, "SIGKILL");
        assert(!await exists(`${dir}/name-marker`), "the denied name ran");
        const other = await new Deno.Command(`${dir}/sakerothername`, {
          args: [`${dir}/other-marker`],
        }).output();
        assertEquals(other.code, 0);
        assert(await exists(`${dir}/other-marker`), "a name no rule denies was stopped");
        const a = await waitFor("deny name alert", () => alertsOf("Response deny name")[0]);
        assertEquals((a.response as Json[])[0].result, "done");
        assertEquals((a.output_fields as Json)["proc.exepath"], `${dir}/sakerdenyname`);
        // An open of the file by `cat` dies; `head` reads it.
        const cat = await new Deno.Command("cat", { args: [`${dir}/secret2`], stdout: "piped" })
          .output();
        assertEquals(cat.signal, "SIGKILL");
        assertEquals(new TextDecoder().decode(cat.stdout), "");
        const head = await new Deno.Command("head", { args: [`${dir}/secret2`], stdout: "piped" })
          .output();
        assertEquals(new TextDecoder().decode(head.stdout), "the second secret\n");
        const opened = await waitFor(
          "deny open by name alert",
          () => alertsOf("Response deny open by name")[0],
        );
        assertEquals((opened.response as Json[])[0].result, "done");
        assertEquals((opened.output_fields as Json)["proc.name"], "cat");
      });

      await t.step("deny: the probe spares allowlisted executables and uids", async () => {
        const secret = `${dir}/secret`;
        const ruleName = "Response deny open";
        const outcome = (pid: number) =>
          waitFor(`deny open alert of pid ${pid}`, () => {
            const a = alertsOf(ruleName).find((a) => (a.output_fields as Json)["proc.pid"] === pid);
            return a && (a.response as Json[])[0];
          });
        // Spared: an exact path, a path under an allowlisted prefix, an allowlisted uid, a
        // user name resolved to its uid.
        const spared: [string, string, number | undefined, string][] = [
          ["exact path", `${dir}/allowed-opener`, undefined, `executable ${dir}/allowed-opener`],
          ["prefix", `${dir}/backup-opener`, undefined, `executable ${dir}/backup-opener`],
          ["uid", opener, ALLOWED_UID, `uid ${ALLOWED_UID}`],
          ["user name", opener, 65534, "user nobody"],
        ];
        for (const [what, exe, uid, detail] of spared) {
          const { child } = await open(secret, 1, exe, uid);
          const r = await outcome(child.pid);
          assert(await aliveAfter(child, 300), `${what}: the probe killed an allowlisted process`);
          assertEquals([r.result, r.detail], ["refused", `allowlisted ${detail}`], what);
          child.kill("SIGKILL");
          await child.status;
        }
        // Not spared: the same program as root and as another uid.
        for (const uid of [undefined, OTHER_UID]) {
          const { child } = await open(secret, 1, opener, uid);
          const status = await child.status;
          assertEquals(status.signal, "SIGKILL", `uid ${uid ?? 0}: not denied`);
          assertEquals((await outcome(child.pid)).result, "done");
        }
        // An exec of the denied binary: the allowlisted uid runs it (its first act writes the
        // marker), another uid dies before it.
        const run = (uid: number) => {
          const [cmd, args] = as(uid, `${dir}/denied`, [`${dir}/shared/by-${uid}`]);
          return new Deno.Command(cmd, { args }).output();
        };
        const allowed = await run(ALLOWED_UID);
        assertEquals(allowed.code, 0);
        assert(await exists(`${dir}/shared/by-${ALLOWED_UID}`), "the allowlisted uid was denied");
        const other = await run(OTHER_UID);
        assertEquals(other.signal, "SIGKILL");
        assert(!await exists(`${dir}/shared/by-${OTHER_UID}`), "another uid ran the binary");
      });

      await t.step({
        name: "deny in containers only: a container's reader dies, the host's lives",
        ignore: !PODMAN,
        fn: async () => {
          const marker = `/tmp/saker-cdeny-${Deno.pid}`;
          await Deno.writeTextFile(marker, "host copy\n");
          try {
            const onHost = await new Deno.Command("cat", { args: [marker], stdout: "piped" })
              .output();
            assert(onHost.success, "a host process was denied by a containers-only rule");
            assertEquals(new TextDecoder().decode(onHost.stdout), "host copy\n");
            const out = await podman([
              ...PODMAN_BASE,
              "run",
              ...RUN_LIMITS,
              "--rm",
              STATE_IMAGE,
              "sh",
              "-c",
              `echo inside > ${marker}.tmp; mv ${marker}.tmp ${marker}; cat ${marker}; echo "cat=$?"`,
            ]);
            const text = new TextDecoder().decode(out.stdout);
            assert(text.includes("cat=137"), `the container's reader lived: ${text}`);
            assert(!text.includes("inside"), text);
            const a = await waitFor(
              "container deny alert",
              () => alertsOf("Response deny container")[0],
            );
            const r = (a.response as Json[])[0];
            assertEquals([r.action, r.result], ["deny", "done"]);
          } finally {
            await Deno.remove(marker).catch(() => {});
          }
        },
      });

      await t.step(
        "reload: a rule's mode, switched by SIGHUP, holds from the next event",
        async () => {
          /** Rewrites the rules (atomically: the file watcher never reads half a file), SIGHUP. */
          const reload = async (monitor: boolean) => {
            const before = await reloadsOk();
            await Deno.writeTextFile(`${dir}/rules.next`, rulesFile(monitor));
            await Deno.rename(`${dir}/rules.next`, `${dir}/rules.yaml`);
            agent!.child.kill("SIGHUP");
            await waitFor("the reload", async () => (await reloadsOk()) > before);
          };
          for (const monitor of [true, false]) {
            await reload(monitor);
            // The first event after the reload: its alert has the new mode.
            const before = alertsOf("Response reload").length;
            const { child } = await open(`${dir}/reload-marker`);
            const a = await waitFor("reload alert", () => alertsOf("Response reload")[before]);
            const r = (a.response as Json[])[0];
            assertEquals(r.mode, monitor ? "monitor" : "enforce");
            assertEquals(r.result, monitor ? "would" : "done");
            if (monitor) {
              assert(await aliveAfter(child, 300), "the kill ran after the rule turned monitor");
              child.kill("SIGKILL");
            }
            const status = await child.status;
            assertEquals(status.signal, "SIGKILL");
            // The probe's deny entry went with the rule's enforce mode, and came back with it.
            const marker = `${dir}/deny-reload-${monitor}`;
            const run = new Deno.Command(`${dir}/denied`, {
              args: [marker],
              stdout: "piped",
              stderr: "piped",
            })
              .spawn();
            const out = await run.output();
            assertEquals(out.signal, monitor ? null : "SIGKILL", JSON.stringify(out));
            assertEquals(await exists(marker), monitor);
            const d = await waitFor(
              "the deny rule's alert",
              () =>
                alertsOf("Response deny exec").find((a) =>
                  (a.output_fields as Json)["proc.pid"] === run.pid
                ),
            );
            assertEquals((d.response as Json[])[0].result, monitor ? "would" : "done");
          }
        },
      );

      await t.step("reload: response.mode monitor takes effect at once", async () => {
        const before = await reloadsOk();
        await Deno.writeTextFile(
          `${dir}/config.yaml`,
          `alert_store: {path: ${dir}/alerts.db}
webserver: {listen_port: 0}
watch_config_files: true
${config("monitor")}`,
        );
        await waitFor("reload", async () => (await reloadsOk()) > before, 30_000);
        const seen = alertsOf("Response reload").length;
        const { child } = await open(`${dir}/reload-marker`);
        const a = await waitFor("reload alert", () => alertsOf("Response reload")[seen]);
        assert(await aliveAfter(child, 300), "enforcement went on after monitor was set");
        assertEquals((a.response as Json[])[0].result, "would");
        child.kill("SIGKILL");
        await child.status;
        // Monitor mode: the probe's deny sets are empty again, the denied binary runs.
        const out = await new Deno.Command(`${dir}/denied`, { args: [`${dir}/deny-after`] })
          .output();
        assertEquals(out.code, 0);
        assert(await exists(`${dir}/deny-after`));
      });
    } finally {
      for (const c of started) {
        try {
          c.kill("SIGKILL");
        } catch { /* ended */ }
        await c.status.catch(() => {});
      }
      await agent?.stop();
      if (podmanService) {
        podmanService.kill("SIGTERM");
        await podmanService.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      if (!PODMAN) skipNote("podman is absent: container actions are not tested");
    }
  },
});
