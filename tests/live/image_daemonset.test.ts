/**
 * The container image run as the DaemonSet runs it: the podman command line is built from
 * deploy/kubernetes/daemonset.yaml (capabilities, seccomp, read-only root, host PID and network,
 * host root at /host with SAKER_HOST_ROOT, the ConfigMap's config, the state volume), so what is
 * tested here is what the manifest deploys. One agent container serves the detection, health,
 * hot reload, shutdown and restart checks; the image is built once per content change
 * (scripts/image.ts).
 *
 * Deviations from the manifest, all for this machine or for test isolation: `--runtime runc`
 * and the ulimits podman needs here, a temporary state directory instead of /var/lib/saker, and
 * `-o webserver.listen_port=` a free port.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { haveTool, needsRoot, REPO_ROOT, skipNote } from "../support/env.ts";
import { ensureImage, type ImageResult } from "../../scripts/image.ts";
import { newToken } from "../../src/cli/token.ts";
import {
  configMapFiles,
  daemonSet,
  podmanArgs,
  publishConfigMap,
  writeConfigMap,
} from "../../scripts/daemonset_podman.ts";
import { freePort } from "../support/saker.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";
import { ensureBusyboxImage } from "../support/podman_image.ts";

const BUSYBOX_IMAGE = "localhost/saker-image-test-bb";
const RUNTIME_SOCKET = "/run/podman/podman.sock";

const ignore = needsRoot() || (!haveTool("podman") && (skipNote("podman is not installed"), true));

async function sh(cmd: string[], check = true) {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (check && out.code !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return r;
}

const podman = (args: string[], check = true) => sh(["podman", ...PODMAN_BASE, ...args], check);

let image: ImageResult | undefined;
async function theImage(): Promise<ImageResult> {
  image ??= await ensureImage();
  return image;
}

/** A busybox image (busybox-static and its applets) for the attacked container. */
function ensureBusybox(): Promise<void> {
  return ensureBusyboxImage(BUSYBOX_IMAGE, {
    dirs: ["etc", "tmp", "proc", "sys", "dev"],
    files: {
      "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
      "etc/shadow": "root:*:19000:0:99999:7:::\n",
    },
    applets: ["sh", "cat", "sleep"],
  });
}

async function socketAnswers(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** The runtime's API on the host's usual socket: the one running, or one this test starts. */
async function ensureRuntimeApi(): Promise<Deno.ChildProcess | undefined> {
  if (await socketAnswers(RUNTIME_SOCKET)) return undefined;
  await Deno.mkdir("/run/podman", { recursive: true });
  const service = new Deno.Command("podman", {
    args: ["system", "service", "--time=0", `unix://${RUNTIME_SOCKET}`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const end = Date.now() + 10_000;
  while (!(await socketAnswers(RUNTIME_SOCKET))) {
    if (Date.now() > end) throw new Error("podman system service did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return service;
}

/** The saker-api-token Secret's token, as `saker token` makes them. */
const API_TOKEN = newToken();

/** An agent container started from the DaemonSet's spec. */
class AgentContainer {
  constructor(readonly name: string, readonly port: number) {}

  static async start(stateDir: string, configDir: string): Promise<AgentContainer> {
    const port = freePort();
    const name = `saker-ds-${Deno.pid}-${Date.now() % 100000}`;
    const args = podmanArgs(daemonSet(), {
      name,
      image: (await theImage()).ref,
      hostPaths: { "/var/lib/saker": stateDir },
      configMaps: { "saker-config": configDir },
      secrets: { "saker-api-token": { token: API_TOKEN } },
      runFlags: ["-d", ...RUN_LIMITS],
      extraArgs: ["-o", `webserver.listen_port=${port}`],
    });
    await podman(args);
    const a = new AgentContainer(name, port);
    await a.waitHealthy();
    return a;
  }

  async waitHealthy(ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        const body = await r.text();
        if (r.status === 200) return;
        if (Date.now() > end) throw new Error(`healthz ${r.status}: ${body}`);
      } catch (err) {
        if (Date.now() > end) {
          const logs = await podman(["logs", this.name], false);
          throw new Error(`agent not healthy: ${(err as Error).message}\n${logs.stderr}`);
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stdout(): Promise<string> {
    return (await podman(["logs", this.name], false)).stdout;
  }

  async stderr(): Promise<string> {
    return (await podman(["logs", this.name], false)).stderr;
  }

  /** JSON alerts on stdout whose fields satisfy `pred`, waiting up to `ms`. */
  async waitAlert(pred: (a: Alert) => boolean, ms = 10_000): Promise<Alert> {
    const end = Date.now() + ms;
    for (;;) {
      const found = (await this.stdout()).split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Alert).find(pred);
      if (found) return found;
      if (Date.now() > end) {
        throw new Error(`no such alert; stdout:\n${(await this.stdout()).slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<number> {
    await podman(["kill", "--signal", "TERM", this.name], false);
    const w = await podman(["wait", this.name], false);
    return Number(w.stdout.trim());
  }

  async remove(): Promise<void> {
    await podman(["rm", "-f", this.name], false);
  }
}

interface Alert {
  rule: string;
  output_fields: Record<string, unknown>;
}

Deno.test({
  name: "image: built from files on this machine, under 150 MB",
  ignore,
  async fn() {
    const img = await theImage();
    console.log(`image ${img.ref}: ${(img.size / 1e6).toFixed(1)} MB (content ${img.hash})`);
    assert(img.size < 150e6, `image is ${img.size} bytes`);
    const inspect = JSON.parse((await podman(["image", "inspect", img.ref])).stdout)[0];
    assertEquals(inspect.Config.Entrypoint.slice(0, 3), ["/usr/bin/deno", "run", "-A"]);
  },
});

Deno.test({
  name: "image as a DaemonSet: host and container attacks, /healthz, SIGTERM, history kept",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await theImage();
    await ensureBusybox();
    const service = await ensureRuntimeApi();
    const stateDir = await Deno.makeTempDir({ prefix: "saker-ds-state-" });
    const configDir = await Deno.makeTempDir({ prefix: "saker-ds-config-" });
    writeConfigMap(`${REPO_ROOT}deploy/kubernetes/configmap.yaml`, "saker-config", configDir);
    const victim = `saker-ds-victim-${Deno.pid}`;
    let agent: AgentContainer | undefined;
    try {
      agent = await AgentContainer.start(stateDir, configDir);
      const a = agent;

      await t.step("/healthz answers on the host network", async () => {
        const r = await fetch(`http://127.0.0.1:${a.port}/healthz`);
        assertEquals(r.status, 200);
        assertEquals((await r.json()).status, "ok");
      });

      await t.step("cat /etc/shadow on the host is detected", async () => {
        const cat = new Deno.Command("cat", { args: ["/etc/shadow"], stdout: "null" }).spawn();
        const pid = cat.pid;
        await cat.status;
        const alert = await a.waitAlert((x) =>
          x.output_fields["fd.name"] === "/etc/shadow" && x.output_fields["proc.pid"] === pid
        );
        assertEquals(alert.output_fields["container.id"], "host");
        assertEquals(alert.output_fields["proc.name"], "cat");
      });

      await t.step("an attack in another container names that container", async () => {
        // The first event of a container starts its metadata lookup; the attack comes after.
        const run = await podman([
          "run",
          "--rm",
          ...RUN_LIMITS,
          "--name",
          victim,
          BUSYBOX_IMAGE,
          "sh",
          "-c",
          "cat /etc/passwd >/dev/null; sleep 2; cat /etc/shadow >/dev/null; sleep 1",
        ]);
        assertEquals(run.code, 0);
        const alert = await a.waitAlert((x) =>
          x.output_fields["fd.name"] === "/etc/shadow" &&
          x.output_fields["container.name"] === victim
        );
        assertMatch(String(alert.output_fields["container.id"]), /^[0-9a-f]{12}$/);
        assertEquals(alert.output_fields["container.image.repository"], BUSYBOX_IMAGE);
      });

      await t.step("a ConfigMap update (kubelet's ..data swap) reloads the rules", async () => {
        const files = configMapFiles(
          `${REPO_ROOT}deploy/kubernetes/configmap.yaml`,
          "saker-config",
        );
        const marker = `/tmp/saker-ds-reload-${Deno.pid}`;
        files["local_rules.yaml"] = [
          "- rule: Test marker file created",
          "  desc: A rule added by a ConfigMap update.",
          `  condition: evt.type in (open, openat, openat2) and fd.name = "${marker}"`,
          "  output: marker %fd.name by %proc.name",
          "  priority: NOTICE",
          "",
        ].join("\n");
        publishConfigMap(configDir, files, 2);
        const end = Date.now() + 15_000;
        while (!/rules reloaded/.test(await a.stderr())) {
          if (Date.now() > end) throw new Error(`no reload:\n${(await a.stderr()).slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        await Deno.writeTextFile(marker, "x");
        try {
          const alert = await a.waitAlert((x) => x.rule === "Test marker file created");
          assertEquals(alert.output_fields["fd.name"], marker);
        } finally {
          await Deno.remove(marker);
        }
      });

      await t.step("SIGTERM: exit 0, outputs flushed, store closed", async () => {
        const code = await a.stop();
        assertEquals(code, 0, await a.stderr());
        const err = await a.stderr();
        assertMatch(err, /outputs flushed/);
        assertMatch(err, /alert store closed/);
        // Closing checkpoints the write-ahead log into the database file.
        const wal = await Deno.stat(`${stateDir}/alerts.db-wal`).then((s) => s.size, () => 0);
        assertEquals(wal, 0);
        await a.remove();
      });

      await t.step("a restart keeps the alert history (state volume)", async () => {
        agent = await AgentContainer.start(stateDir, configDir);
        const r = await fetch(`http://127.0.0.1:${agent.port}/alerts?limit=1000`, {
          headers: { authorization: `Bearer ${API_TOKEN}` },
        });
        const body = await r.json();
        const alerts = (body.alerts ?? body) as Alert[];
        assert(
          alerts.some((x) => x.output_fields["container.name"] === victim),
          `history after restart: ${JSON.stringify(body).slice(0, 500)}`,
        );
        assertEquals(await agent.stop(), 0);
      });
    } finally {
      await agent?.remove();
      await podman(["rm", "-f", victim], false);
      if (service) {
        service.kill("SIGTERM");
        await service.status;
      }
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(configDir, { recursive: true });
    }
  },
});
