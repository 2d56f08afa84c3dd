/**
 * Chains for the default sequence rules (rules/70_sequences.yaml): each action performs every
 * step of an attack that only the sequence of its steps gives away, for real and safely (files
 * in a private directory, connections inside a private pair of network namespaces, a loop
 * device of our own, a marker file on the host), and removes what it made.
 *
 * Each honours `ctx.variant`, so that tests can show a sequence fires on its chain and not on
 * anything less: `partial` stops before the last step, `split` performs each step where the
 * sequence's key differs (a session of its own, another container, a process outside the tree),
 * `slow` pauses `ctx.pauseMs` before the last step.
 *
 * @example
 * ```ts
 * const report = await runAction(SEQUENCE_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action, ActionContext } from "../action.ts";
import { parseHelperCalls, requireCall, runCommand, which } from "../command.ts";
import { createNetLab, inNamespace, type NetLab } from "../netlab.ts";
import { IMAGE_REPOSITORY, runOnce } from "../podman.ts";
import { randomSuffix, removeIfPresent } from "../workspace.ts";
import { evidenceOf, expectExit, helperAs } from "./util.ts";

/** Documentation range (TEST-NET-3): never routed on the internet, and not a private range. */
const LAB = { client: "203.0.113.1/24", server: "203.0.113.10/24" };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a step: in a session of its own when the chain is split by session. */
function step(split: boolean, program: string, args: string[]) {
  return split
    ? runCommand("setsid", ["-w", program, ...args], { timeoutMs: 20_000 })
    : runCommand(program, args, { timeoutMs: 20_000 });
}

/**
 * The helper, and a lab whose server listens on `port` (the network chains connect "out"
 * inside it).
 */
async function labWith(ctx: ActionContext, port: number): Promise<{ helper: string; lab: NetLab }> {
  const helper = await ctx.helper();
  return { helper, lab: await createNetLab(ctx.ws, helper, { ...LAB, ports: [port] }) };
}

/**
 * The split variant of a container chain: its last step, in another container (a file system
 * and namespaces of its own); `label` tells the evidence what it did.
 */
async function inAnotherContainer(
  ctx: ActionContext,
  image: string,
  name: string,
  script: string,
  label: string,
): Promise<string[]> {
  const other = await runOnce(ctx.ws, image, name, ["sh", "-c", script], ["--network", "none"]);
  expectExit(other.result, "write in another container");
  return evidenceOf(other.result, label);
}

/** Shell words for a `sh -c` script. */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function containerFacts(id: string, name: string): Record<string, string> {
  return {
    "container.id": id.slice(0, 12),
    "container.name": name,
    "container.image.repository": IMAGE_REPOSITORY,
  };
}

async function mustHave(program: string): Promise<string> {
  const p = await which(program);
  if (!p) throw new Error(`${program} is not installed`);
  return p;
}

/** A private directory below /tmp (the sequence watches world-writable directories). */
async function tmpDir(ctx: ActionContext): Promise<string> {
  const dir = `/tmp/saker-sim-drop-${randomSuffix()}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  ctx.ws.defer(() => removeIfPresent(dir));
  return dir;
}

/** A 16 MiB ext4 image attached to a free loop device; detached and removed afterwards. */
async function loopDisk(ctx: ActionContext): Promise<string> {
  const losetup = await mustHave("losetup");
  const mkfs = await mustHave("mkfs.ext4");
  const img = ctx.ws.path("disk.img");
  const f = await Deno.open(img, { createNew: true, write: true });
  await f.truncate(16 * 1024 * 1024);
  f.close();
  expectExit(await runCommand(mkfs, ["-q", "-F", img]), "mkfs.ext4");
  const r = await runCommand(losetup, ["-f", "--show", img]);
  expectExit(r, "losetup");
  const dev = r.stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(dev)) throw new Error(`losetup printed no device: ${r.stdout}`);
  ctx.ws.defer(async () => void await runCommand(losetup, ["-d", dev]));
  return dev;
}

/** Sequence chains. */
export const SEQUENCE_ACTIONS: Action[] = [
  {
    name: "dropped-binary-chain",
    rule: "Dropped binary executed",
    technique: "T1105",
    summary: "a shell redirect writes a program below /tmp, chmod 755 makes it executable, " +
      "it runs (one session)",
    kind: "host",
    needs: ["root", "gcc"],
    chain: true,
    expect: ["proc.exepath", "step[0].proc.name", "step[1].proc.name"],
    async run(ctx) {
      const helper = await ctx.helper();
      const file = `${await tmpDir(ctx)}/update-agent`;
      const split = ctx.variant === "split";
      const evidence: string[] = [];
      const write = await step(split, "/bin/sh", ["-c", `cat ${q(helper)} > ${q(file)}`]);
      expectExit(write, "write");
      evidence.push(...evidenceOf(write, `sh -c 'cat saker-sim > ${file}'`));
      const chmod = await step(split, helper, ["chmod", file, "755"]);
      requireCall(chmod, "fchmodat", true);
      evidence.push(...evidenceOf(chmod, `saker-sim chmod ${file} 755`));
      const facts = {
        "proc.exepath": file,
        "step[0].proc.name": "sh",
        "step[1].proc.name": "saker-sim",
      };
      if (ctx.variant === "partial") return { facts, evidence };
      if (ctx.variant === "slow") await sleep(ctx.pauseMs);
      const run = await step(split, file, ["noop"]);
      expectExit(run, "run");
      evidence.push(...evidenceOf(run, `${file} noop`));
      return { facts: { ...facts, "proc.pid": run.pid }, evidence };
    },
  },
  {
    name: "service-shell-connects",
    rule: "Service shell connected out",
    alongside: ["Shell spawned by untrusted program"],
    technique: "T1059.004",
    summary: "a program named nginx starts sh, which connects to 203.0.113.10:80 " +
      "(lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    chain: true,
    expect: ["step[0].proc.pname", "step[0].proc.name", "proc.name"],
    async run(ctx) {
      const { helper, lab } = await labWith(ctx, 80);
      const nginx = await helperAs(ctx, "nginx");
      const connect = `${q(helper)} connect ${lab.serverIp} 80 tcp`;
      const script = ctx.variant === "partial" || ctx.variant === "split"
        ? "true"
        : ctx.variant === "slow"
        ? `sleep ${ctx.pauseMs / 1000}; ${connect}; true`
        : `${connect}; true`;
      const r = await runCommand(
        "ip",
        inNamespace(lab.clientNs, nginx, "spawn", "/bin/sh", "-c", script),
        {
          timeoutMs: 30_000 + ctx.pauseMs,
        },
      );
      requireCall(r, "execve", true);
      const evidence = evidenceOf(r, `nginx spawn sh -c "${script}"`);
      if (ctx.variant === "chain" || ctx.variant === "slow") requireCall(r, "connect", true);
      if (ctx.variant === "split") {
        // The same connection, from a process outside the shell's tree (a session of its own).
        const c = await runCommand("setsid", [
          "-w",
          "ip",
          ...inNamespace(lab.clientNs, helper, "connect", lab.serverIp, "80", "tcp"),
        ]);
        requireCall(c, "connect", true);
        evidence.push(...evidenceOf(c, "saker-sim connect (another tree)"));
      }
      return {
        facts: {
          "step[0].proc.pname": "nginx",
          "step[0].proc.name": "sh",
          "proc.name": "saker-sim",
        },
        evidence,
      };
    },
  },
  {
    name: "credential-read-connects",
    rule: "Credential file read then connection out",
    technique: "T1552.001",
    summary: "cat reads a kubeconfig, then its shell connects to 203.0.113.10:443 " +
      "(lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    chain: true,
    expect: ["step[0].fd.name", "step[0].proc.name", "proc.name"],
    async run(ctx) {
      const { helper, lab } = await labWith(ctx, 443);
      const config = ctx.ws.path("home/.kube/config");
      await Deno.mkdir(ctx.ws.path("home/.kube"), { recursive: true });
      await Deno.writeTextFile(
        config,
        "apiVersion: v1\nkind: Config\nusers:\n- name: simulated\n  user: {token: not-a-secret}\n",
      );
      const read = `cat ${q(config)} > /dev/null`;
      const connect = `${q(helper)} connect ${lab.serverIp} 443 tcp`;
      const evidence: string[] = [];
      const run = async (script: string, split: boolean) => {
        const r = await step(split, "ip", inNamespace(lab.clientNs, "/bin/sh", "-c", script));
        expectExit(r, script);
        evidence.push(...evidenceOf(r, `sh -c "${script}"`));
        return r;
      };
      switch (ctx.variant) {
        case "chain":
          requireCall(await run(`${read}; ${connect}; true`, false), "connect", true);
          break;
        case "partial":
          await run(`${read}; true`, false);
          break;
        case "split":
          await run(`${read}; true`, true);
          requireCall(await run(`${connect}; true`, true), "connect", true);
          break;
        case "slow":
          requireCall(
            await run(`${read}; sleep ${ctx.pauseMs / 1000}; ${connect}; true`, false),
            "connect",
            true,
          );
      }
      return {
        facts: { "step[0].fd.name": config, "step[0].proc.name": "cat", "proc.name": "saker-sim" },
        evidence,
      };
    },
  },
  {
    name: "port-scan",
    rule: "Port scan by a process",
    technique: "T1046",
    summary: "one process connects to 25 closed ports of 203.0.113.10 in turn, each refused " +
      "(lab namespace)",
    kind: "host",
    needs: ["root", "gcc", "netns"],
    chain: true,
    expect: ["proc.name", "proc.pid", "evt.arg.addr", "threshold.count"],
    async run(ctx) {
      const { helper, lab } = await labWith(ctx, 80);
      // Ports nothing listens on: each connect is refused at once.
      const first = 2001;
      const scans: string[][] = {
        chain: [[String(first), String(first + 24)]],
        partial: [[String(first), String(first + 14)]],
        // Three processes (three keys), 9 ports each: 27 ports, no process past 9.
        split: [0, 9, 18].map((o) => [String(first + o), String(first + o + 8)]),
        // 15 ports, a pause, 15 more: never 20 within a window shorter than the pause.
        slow: [[String(first), String(first + 29), String(first + 15), String(ctx.pauseMs)]],
      }[ctx.variant];
      const evidence: string[] = [];
      let pid = 0;
      for (const args of scans) {
        const r = await runCommand(
          "ip",
          inNamespace(lab.clientNs, helper, "scan", lab.serverIp, ...args),
          {
            timeoutMs: 30_000 + ctx.pauseMs,
          },
        );
        expectExit(r, `saker-sim scan ${args.join(" ")}`);
        const refused = parseHelperCalls(r.stdout).filter((c) =>
          c.name === "connect" && c.result === "ECONNREFUSED"
        ).length;
        const wanted = Number(args[1]) - Number(args[0]) + 1;
        if (refused !== wanted) {
          throw new Error(`scan ${args.join(" ")}: ${refused} of ${wanted} connects refused`);
        }
        evidence.push(...evidenceOf(r, `saker-sim scan ${lab.serverIp} ${args.join(" ")}`));
        pid = r.pid;
      }
      return {
        facts: {
          "proc.name": "saker-sim",
          "proc.pid": pid,
          // The alert comes with the 20th refusal.
          "evt.arg.addr": `${lab.serverIp}:${first + 19}`,
          "threshold.count": 20,
        },
        evidence,
      };
    },
  },
  {
    name: "container-mount-escape",
    rule: "Container escape through a mounted device",
    // The disk the container mounts is formatted first (mkfs.ext4 on the host).
    alongside: ["Data destruction tool run"],
    technique: "T1611",
    summary: "a privileged container mounts a block device (a loop device made for the " +
      "purpose) and writes a file on it",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    chain: true,
    expect: ["container.id", "container.name", "fd.name", "step[0].fs.path.source"],
    async run(ctx) {
      const dev = await loopDisk(ctx);
      const image = await ctx.image();
      const flags = ["--network", "none", "--privileged"];
      const mount = `mkdir -p /mnt/disk && mount ${dev} /mnt/disk`;
      const write = "echo saker > /mnt/disk/escaped";
      const script = {
        chain: `${mount} && ${write} && umount /mnt/disk`,
        partial: `${mount} && umount /mnt/disk`,
        split: `${mount} && umount /mnt/disk`,
        slow: `${mount} && sleep ${ctx.pauseMs / 1000} && ${write} && umount /mnt/disk`,
      }[ctx.variant];
      const c = await runOnce(ctx.ws, image, "mount", ["sh", "-c", script], flags);
      expectExit(c.result, `container: ${script}`);
      const evidence = evidenceOf(c.result, `podman run --privileged sh -c "${script}"`);
      if (ctx.variant === "split") {
        evidence.push(
          ...await inAnotherContainer(
            ctx,
            image,
            "mount-other",
            `mkdir -p /mnt/disk && ${write}`,
            "another container writes /mnt/disk/escaped",
          ),
        );
      }
      return {
        facts: {
          ...containerFacts(c.id, c.name),
          "fd.name": "/mnt/disk/escaped",
          "step[0].fs.path.source": dev,
        },
        containerId: c.id,
        evidence,
      };
    },
  },
  {
    name: "container-nsenter-escape",
    rule: "Container escape through host namespaces",
    technique: "T1611",
    summary: "a privileged container sharing the host's pids enters a host process's mount " +
      "namespace (nsenter -t PID -m) and writes a marker file in the host's /tmp",
    kind: "container",
    needs: ["root", "podman", "gcc"],
    chain: true,
    expect: ["container.id", "container.name", "fd.name", "step[0].proc.name"],
    async run(ctx) {
      const marker = `/tmp/saker-sim-escape-${randomSuffix()}`;
      ctx.ws.defer(() => removeIfPresent(marker));
      const image = await ctx.image();
      const flags = ["--network", "none", "--privileged", "--pid=host"];
      const write = `echo saker > ${marker}`;
      const inner = {
        chain: write,
        partial: "true",
        split: "true",
        slow: `sleep ${ctx.pauseMs / 1000}; ${write}`,
      }[ctx.variant];
      // A host process to enter: this one (PID 1 may refuse, as on micro VMs whose init keeps
      // capabilities the rest of the host has dropped; any host process's namespace is the host's).
      const c = await runOnce(ctx.ws, image, "nsenter", [
        "nsenter",
        "-t",
        String(Deno.pid),
        "-m",
        "--",
        "/bin/sh",
        "-c",
        inner,
      ], flags);
      const what = `nsenter -t ${Deno.pid} -m -- sh -c "${inner}"`;
      expectExit(c.result, what);
      const evidence = evidenceOf(c.result, `podman run ${what}`);
      const landed = await Deno.stat(marker).then(() => true, () => false);
      if (landed !== (ctx.variant === "chain" || ctx.variant === "slow")) {
        throw new Error(`the host file ${marker} ${landed ? "was" : "was not"} written`);
      }
      if (landed) evidence.push(`host file ${marker} written from the container`);
      if (ctx.variant === "split") {
        evidence.push(
          ...await inAnotherContainer(
            ctx,
            image,
            "nsenter-other",
            "echo saker > /tmp/escaped",
            "another container writes its own /tmp",
          ),
        );
      }
      return {
        facts: {
          ...containerFacts(c.id, c.name),
          "fd.name": marker,
          "step[0].proc.name": "nsenter",
        },
        containerId: c.id,
        evidence,
      };
    },
  },
];
