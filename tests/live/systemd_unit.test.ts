/**
 * deploy/systemd/saker.service: `systemd-analyze verify` finds nothing to say about it; its
 * hardening keys are set; its capabilities are the DaemonSet's; the agent speaks the service
 * protocol it declares (Type=notify, WatchdogSec); and `saker run` (the bundle) started with
 * exactly the unit's capability set, as a non-root user, detects `cat /etc/shadow`. PID 1 here
 * is not systemd, so the unit's namespace and file system sandboxing is checked by systemd's
 * own analyzer, not run.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { haveTool, needsRoot, REPO_ROOT, skipNote } from "../support/env.ts";
import { UnixDatagramReceiver } from "../../src/outputs/unix_dgram.ts";
import { AGENT_CAPABILITIES } from "../../src/agent/preflight.ts";
import { daemonSet } from "../../scripts/daemonset_podman.ts";
import { bundle } from "../../scripts/bundle.ts";
import { freePort } from "../support/saker.ts";

const UNIT = `${REPO_ROOT}deploy/systemd/saker.service`;

/** The unit's keys (a key given twice keeps its last value, as systemd's do for these). */
function unitKeys(): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(UNIT).split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys[m[1]] = m[2];
  }
  return keys;
}

function unitCaps(key: "CapabilityBoundingSet" | "AmbientCapabilities"): string[] {
  return unitKeys()[key].split(/\s+/).map((c) => c.replace(/^CAP_/, "")).sort();
}

const noAnalyze = !haveTool("systemd-analyze") &&
  (skipNote("systemd-analyze is not installed (apt-get install systemd)"), true);

Deno.test({
  name: "systemd unit: systemd-analyze verify is clean",
  ignore: noAnalyze,
  async fn() {
    // A root with the unit, its programs and systemd's own units (the unit is checked as it
    // would be installed, without touching this machine's /etc or /usr/local).
    const root = await Deno.makeTempDir({ prefix: "saker-unit-" });
    try {
      for (const d of ["usr/local/bin", "etc/systemd/system", "usr/lib/systemd", "bin"]) {
        await Deno.mkdir(`${root}/${d}`, { recursive: true });
      }
      await Deno.writeTextFile(`${root}/usr/local/bin/saker`, "#!/bin/sh\n");
      await Deno.chmod(`${root}/usr/local/bin/saker`, 0o755);
      await Deno.copyFile("/bin/kill", `${root}/bin/kill`);
      await Deno.chmod(`${root}/bin/kill`, 0o755);
      const cp = await new Deno.Command("cp", {
        args: ["-r", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`],
      }).output();
      assert(cp.success);
      await Deno.copyFile(UNIT, `${root}/etc/systemd/system/saker.service`);
      const r = await new Deno.Command("systemd-analyze", {
        args: [`--root=${root}`, "verify", `${root}/etc/systemd/system/saker.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
      assertEquals(r.code, 0, said);
      assertEquals(said.trim(), "", "systemd-analyze verify has something to say");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("systemd unit: hardened, with the DaemonSet's capabilities", () => {
  const k = unitKeys();
  const expected = {
    Type: "notify",
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ProtectHome: "read-only",
    PrivateTmp: "yes",
    StateDirectory: "saker",
    Restart: "on-failure",
  };
  for (const [key, value] of Object.entries(expected)) assertEquals(k[key], value, key);
  assertMatch(k.WatchdogSec, /^\d+s$/);
  const ds = daemonSet().spec.template.spec.containers[0].securityContext.capabilities.add;
  assertEquals(unitCaps("CapabilityBoundingSet"), [...ds].sort());
  assertEquals(unitCaps("AmbientCapabilities"), [...ds].sort());
  assertEquals(unitCaps("AmbientCapabilities"), Object.keys(AGENT_CAPABILITIES).sort());
  // Every name is one the kernel knows (systemd-analyze verify ignores unknown ones silently).
  const known = new TextDecoder().decode(
    new Deno.Command("capsh", { args: ["--print"], stdout: "piped" }).outputSync().stdout,
  );
  for (const c of unitCaps("CapabilityBoundingSet")) {
    assert(known.includes(`cap_${c.toLowerCase()}`), `unknown capability CAP_${c}`);
  }
});

Deno.test({
  name: "systemd: READY=1, WATCHDOG=1 while healthy, STOPPING=1 (Type=notify, WatchdogSec)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-notify-" });
    const rx = new UnixDatagramReceiver(`${dir}/notify`);
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${REPO_ROOT}src/main.ts`,
          "run",
          "--disable-source",
          "syscall",
          "-o",
          "alert_store.enabled=false",
          "-o",
          `webserver.listen_port=${freePort()}`,
        ],
        env: { NOTIFY_SOCKET: `${dir}/notify`, WATCHDOG_USEC: "200000" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const got: string[] = [];
      const next = async () => new TextDecoder().decode(await rx.receive(15_000));
      got.push(await next());
      assertMatch(got[0], /^READY=1/);
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) got.push(await next());
      assertEquals(got.slice(1), ["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]);
      assert(Date.now() - t0 < 2000, "pings at half the 200 ms watchdog interval");
      child.kill("SIGTERM");
      let last = "";
      while (last !== "STOPPING=1") last = await next();
      const status = await child.status;
      await child.stderr.cancel();
      assertEquals(status.code, 0);
    } finally {
      rx.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "systemd: saker run with the unit's capabilities as a non-root user detects an attack",
  ignore: needsRoot() || (!haveTool("setpriv") && (skipNote("setpriv is not installed"), true)),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const caps = unitCaps("AmbientCapabilities").map((c) => `+${c.toLowerCase()}`).join(",");
    const uid = 4321;
    const dir = await Deno.makeTempDir({ prefix: "saker-unit-run-" });
    // What StateDirectory=saker gives the service: a private directory it owns.
    const state = `${dir}/state`;
    await Deno.mkdir(state, { mode: 0o700 });
    await Deno.chown(state, uid, uid);
    await Deno.chmod(dir, 0o755);
    await bundle(`${dir}/saker.js`);
    await Deno.chmod(`${dir}/saker.js`, 0o755);
    const port = freePort();
    const child = new Deno.Command("setpriv", {
      args: [
        `--reuid=${uid}`,
        `--regid=${uid}`,
        "--clear-groups",
        `--inh-caps=-all,${caps}`,
        `--ambient-caps=-all,${caps}`,
        `--bounding-set=-all,${caps}`,
        "--no-new-privs",
        Deno.realPathSync(Deno.execPath()),
        "run",
        "-A",
        `${dir}/saker.js`,
        "run",
        "--json",
        "-o",
        `alert_store.path=${state}/alerts.db`,
        "-o",
        `webserver.listen_port=${port}`,
      ],
      cwd: dir,
      env: { HOME: state, DENO_DIR: `${state}/.deno`, DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out: string[] = [];
    const reading = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void out.push(t) }),
    );
    try {
      const end = Date.now() + 30_000;
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > end) throw new Error("the agent did not become healthy");
        await new Promise((r) => setTimeout(r, 200));
      }
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      assertMatch(status, new RegExp(`^Uid:\\s+${uid}\\s`, "m"));
      const eff = /^CapEff:\s+(\S+)/m.exec(status)![1];
      const expected = Object.values(AGENT_CAPABILITIES).reduce(
        (m, c) => m | (1n << BigInt(c.bit)),
        0n,
      );
      assertEquals(BigInt(`0x${eff}`), expected, "exactly the unit's capabilities");
      const cat = new Deno.Command("cat", { args: ["/etc/shadow"], stdout: "null" }).spawn();
      const pid = cat.pid;
      await cat.status;
      const alert = await (async () => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const hit = out.join("").split("\n").filter((l) => l.startsWith("{")).map((l) =>
            JSON.parse(l)
          ).find((a) =>
            a.output_fields["fd.name"] === "/etc/shadow" && a.output_fields["proc.pid"] === pid
          );
          if (hit) return hit;
          if (Date.now() > deadline) throw new Error(`no alert; stdout: ${out.join("")}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      assertEquals(alert.output_fields["proc.name"], "cat");
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await reading;
      const err = await new Response(child.stderr).text();
      await Deno.remove(dir, { recursive: true });
      assertEquals(status.code, 0, err.slice(-2000));
    }
  },
});
