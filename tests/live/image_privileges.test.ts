/**
 * Least privilege, by experiment: the image started from the DaemonSet's spec works with the
 * manifest's capabilities, and each of them is needed: without BPF or PERFMON the kernel refuses
 * the probe; without SYS_PTRACE or DAC_READ_SEARCH the kernel refuses the /proc reads that
 * process and file state is built from (checked with the image's own runtime, so the kernel
 * decides, not Saker's preflight). Then the deployment mistakes an operator can make each give
 * one line naming the fix and a non-zero exit: a missing capability, a read-only state
 * directory, a host root that is not mounted, no host PID namespace, no BTF; and no runtime
 * socket says once that container metadata is off.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { haveTool, needsRoot, REPO_ROOT, skipNote } from "../support/env.ts";
import { ensureImage } from "../../scripts/image.ts";
import { daemonSet, podmanArgs, writeConfigMap } from "../../scripts/daemonset_podman.ts";
import { newToken } from "../../src/cli/token.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";

const ignore = needsRoot() || (!haveTool("podman") && (skipNote("podman is not installed"), true));

async function podman(args: string[]) {
  const out = await new Deno.Command("podman", {
    args: [...PODMAN_BASE, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** The DaemonSet's capabilities (the list under test). */
function manifestCaps(): string[] {
  return daemonSet().spec.template.spec.containers[0].securityContext.capabilities.add;
}

/**
 * `podman run` arguments from the DaemonSet with `caps` instead of the manifest's list, an
 * entrypoint and arguments of the test's choosing, and optional changes to the flags.
 */
async function runArgs(opts: {
  caps?: string[];
  entrypoint?: string;
  args: string[];
  stateDir: string;
  configDir: string;
  edit?: (args: string[]) => string[];
}): Promise<string[]> {
  const ds = daemonSet();
  const c = ds.spec.template.spec.containers[0];
  c.securityContext.capabilities.add = opts.caps ?? c.securityContext.capabilities.add;
  c.args = opts.args;
  const img = await ensureImage();
  let args = podmanArgs(ds, {
    image: img.ref,
    hostPaths: { "/var/lib/saker": opts.stateDir },
    configMaps: { "saker-config": opts.configDir },
    secrets: { "saker-api-token": { token: newToken() } },
    runFlags: [
      "--rm",
      ...RUN_LIMITS,
      ...(opts.entrypoint ? ["--entrypoint", opts.entrypoint] : []),
    ],
  });
  if (opts.edit) args = opts.edit(args);
  return args;
}

/** Reads that state needs, each printed `ok NAME` or `FAIL NAME`, run with the image's Deno. */
const PROC_READS = `
const [other, rootPid] = Deno.args;
const t = (n, f) => { try { f(); console.log("ok", n); } catch { console.log("FAIL", n); } };
t("fd-list-other-user", () => [...Deno.readDirSync("/host/proc/" + other + "/fd")]);
t("fd-link-other-user", () => Deno.readLinkSync("/host/proc/" + other + "/fd/0"));
t("exe-root-process", () => Deno.readLinkSync("/host/proc/" + rootPid + "/exe"));
t("root-files-root-process", () => Deno.readFileSync("/host/proc/" + rootPid + "/root/etc/passwd"));
`;

Deno.test({
  name: "image privileges: the manifest's capabilities suffice and each one is needed",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const caps = manifestCaps();
    assertEquals([...caps].sort(), ["BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"]);
    const stateDir = await Deno.makeTempDir({ prefix: "saker-priv-state-" });
    const configDir = await Deno.makeTempDir({ prefix: "saker-priv-config-" });
    writeConfigMap(`${REPO_ROOT}deploy/kubernetes/configmap.yaml`, "saker-config", configDir);
    // A process of another user and a root process with every capability, to read /proc of.
    const other = new Deno.Command("setpriv", {
      args: ["--reuid=4321", "--regid=4321", "--clear-groups", "sleep", "60"],
      stdin: "piped",
    }).spawn();
    const rootProc = new Deno.Command("sleep", { args: ["60"], stdin: "piped" }).spawn();
    const probeLoads = async (withCaps: string[]) =>
      await podman(
        await runArgs({
          caps: withCaps,
          args: ["capture", "-n", "1", "-M", "5"],
          stateDir,
          configDir,
        }),
      );
    const procReads = async (withCaps: string[]) => {
      const r = await podman(
        await runArgs({
          caps: withCaps,
          entrypoint: "/usr/bin/deno",
          args: ["eval", PROC_READS, String(other.pid), String(rootProc.pid)],
          stateDir,
          configDir,
        }),
      );
      assertEquals(r.code, 0, r.stderr);
      return new Set(
        r.stdout.split("\n").filter((l) => l.startsWith("FAIL ")).map((l) => l.slice(5)),
      );
    };
    try {
      await t.step(
        "with the manifest's set: the probe loads and every /proc read works",
        async () => {
          const r = await probeLoads(caps);
          assertEquals(r.code, 0, r.stderr);
          assertEquals([...await procReads(caps)], []);
        },
      );
      for (const cap of ["BPF", "PERFMON"]) {
        await t.step(`without ${cap}: the kernel refuses the probe`, async () => {
          const r = await probeLoads(caps.filter((c) => c !== cap));
          assertEquals(r.code, 1);
          assertMatch(r.stderr, /cannot (load|attach)[^\n]*(not permitted|permission denied)/i);
        });
      }
      await t.step(
        "without SYS_PTRACE: exe and root files of a root process are refused",
        async () => {
          const failed = await procReads(caps.filter((c) => c !== "SYS_PTRACE"));
          for (const n of ["exe-root-process", "root-files-root-process"]) {
            assert(failed.has(n), `${n} worked without SYS_PTRACE`);
          }
        },
      );
      await t.step(
        "without DAC_READ_SEARCH: another user's fd table cannot be listed",
        async () => {
          const failed = await procReads(caps.filter((c) => c !== "DAC_READ_SEARCH"));
          assert(failed.has("fd-list-other-user"), [...failed].join(","));
          assert(!failed.has("exe-root-process"));
        },
      );
    } finally {
      for (const p of [other, rootProc]) {
        p.kill("SIGKILL");
        await p.status;
      }
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(configDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "image bad input: one line naming the fix, non-zero exit",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const stateDir = await Deno.makeTempDir({ prefix: "saker-bad-state-" });
    const configDir = await Deno.makeTempDir({ prefix: "saker-bad-config-" });
    const emptyDir = await Deno.makeTempDir({ prefix: "saker-bad-empty-" });
    writeConfigMap(`${REPO_ROOT}deploy/kubernetes/configmap.yaml`, "saker-config", configDir);
    const run = async (edit: (a: string[]) => string[], caps?: string[], extra: string[] = []) => {
      const r = await podman(
        await runArgs({
          caps,
          args: ["run", "-c", "/etc/saker/config.yaml", "-M", "4", ...extra],
          stateDir,
          configDir,
          edit,
        }),
      );
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("saker run: "));
      return { ...r, lines };
    };
    const without = (flag: RegExp) => (a: string[]) => {
      const out: string[] = [];
      for (let i = 0; i < a.length; i++) {
        if ((a[i] === "-v" || a[i] === "-e") && flag.test(a[i + 1])) i++;
        else if (!flag.test(a[i])) out.push(a[i]);
      }
      return out;
    };
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = ["-o", `webserver.listen_port=${(l.addr as Deno.NetAddr).port}`];
    l.close();
    try {
      await t.step("a missing capability names it and the manifest key", async () => {
        const r = await run((a) => a, ["BPF", "SYS_PTRACE", "DAC_READ_SEARCH"], port);
        assertEquals(r.code, 1);
        assertEquals(r.lines.length, 1, r.stderr);
        assertMatch(
          r.lines[0],
          /missing capability CAP_PERFMON .*securityContext\.capabilities\.add/,
        );
      });
      await t.step("a read-only state directory names the volume", async () => {
        const r = await run(
          (a) => a.map((x) => x.replace(/:\/var\/lib\/saker:rw$/, ":/var/lib/saker:ro")),
          undefined,
          port,
        );
        assertEquals(r.code, 1);
        assertEquals(r.lines.length, 1, r.stderr);
        assertMatch(
          r.lines[0],
          /alert store directory \/var\/lib\/saker is read-only: .*`state` volume/,
        );
      });
      await t.step("a host root that is not mounted names the hostPath volume", async () => {
        const r = await run(without(/^\/:\/host:/), undefined, port);
        assertEquals(r.code, 1);
        assertEquals(r.lines.length, 1, r.stderr);
        assertMatch(
          r.lines[0],
          /host root \/host \(SAKER_HOST_ROOT\) has no \/host\/proc: .*hostPath/,
        );
      });
      await t.step("without the host PID namespace it says hostPID", async () => {
        const r = await run(without(/^--pid=host$/), undefined, port);
        assertEquals(r.code, 1);
        assertEquals(r.lines.length, 1, r.stderr);
        assertMatch(r.lines[0], /not in the host's PID namespace .*hostPID: true/);
      });
      await t.step("a kernel without BTF is named", async () => {
        const r = await run(
          (a) => {
            const i = a.indexOf("--read-only");
            return [
              ...a.slice(0, i),
              "-v",
              `${emptyDir}:/sys/kernel/btf:ro`,
              ...a.slice(i),
            ];
          },
          undefined,
          port,
        );
        assertEquals(r.code, 1);
        assertEquals(r.lines.length, 1, r.stderr);
        assertMatch(r.lines[0], /no BTF \(\/sys\/kernel\/btf\/vmlinux\).*CONFIG_DEBUG_INFO_BTF/);
      });
      await t.step("no runtime socket: container metadata is off, said once", async () => {
        // The host root's /run hidden behind an empty tmpfs: the agent runs, without sockets.
        const r = await run(
          (a) => {
            const i = a.indexOf("--read-only");
            return [
              ...a.slice(0, i),
              "--mount",
              "type=tmpfs,destination=/host/run,notmpcopyup",
              ...a.slice(i),
            ];
          },
          undefined,
          port,
        );
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stderr.match(/container metadata is off/g)?.length, 1, r.stderr);
      });
    } finally {
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(configDir, { recursive: true });
      await Deno.remove(emptyDir, { recursive: true });
    }
  },
});
