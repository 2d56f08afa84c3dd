/**
 * Changes to files the system and its users depend on: shell start-up files, cron, package
 * repositories, the root directory and root's home, binary and library directories, the rpm
 * database, hidden files. Each file or directory made outside the workspace has a unique
 * name and is removed by the action itself (so the removal is part of what it is judged on)
 * and again, if still there, by its cleanup.
 *
 * @example
 * ```ts
 * const report = await runAction(SYSTEM_FILE_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action, ActionContext } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall, runCommand } from "../command.ts";
import { randomSuffix, removeIfPresent } from "../workspace.ts";
import { createFile, evidenceOf, expectExit, helperAs, runHelper } from "./util.ts";

/** Creates `path` with the helper (O_CREAT|O_EXCL), then removes it with rm. */
async function createAndRemove(ctx: ActionContext, path: string, mode = "644") {
  ctx.ws.defer(() => removeIfPresent(path));
  const r = await runHelper(ctx, ["open", path, "wcx", mode]);
  requireCall(r, "openat", true);
  const rm = await runCommand("rm", ["-f", path]);
  expectExit(rm, "rm");
  return {
    facts: { "fd.name": path, "proc.name": "saker-sim", "evt.type": "openat", "proc.pid": r.pid },
    evidence: [...evidenceOf(r, "saker-sim open"), ...evidenceOf(rm, "rm")],
  };
}

/** Whether a directory exists. */
async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** System file actions. */
export const SYSTEM_FILE_ACTIONS: Action[] = [
  {
    name: "modify-shell-config",
    technique: "T1546.004",
    summary: "a program that is not a shell opens a .bashrc for writing (in the workspace)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [
      incubating("Modify Shell Configuration File", "fd.name", "proc.name", "evt.type"),
    ],
    async run(ctx) {
      const rc = ctx.ws.path(".bashrc");
      await createFile(rc, "export PATH=$HOME/bin:$PATH\n");
      const r = await runHelper(ctx, ["open", rc, "wa"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": rc, "proc.name": "saker-sim", "evt.type": "openat" },
        evidence: evidenceOf(r, "saker-sim open .bashrc"),
      };
    },
  },
  {
    name: "read-shell-config",
    technique: "T1546.004",
    summary: "a program that is not a shell reads a .bashrc (in the workspace)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [sandbox("Read Shell Configuration File", "fd.name", "proc.name")],
    async run(ctx) {
      const rc = ctx.ws.path(".bashrc");
      await createFile(rc, "alias ll='ls -l'\n");
      const r = await runHelper(ctx, ["open", rc, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": rc, "proc.name": "saker-sim" },
        evidence: evidenceOf(r, "saker-sim open .bashrc"),
      };
    },
  },
  {
    name: "crontab-run",
    technique: "T1053.003",
    summary: "runs a program named crontab (a copy of the helper that does nothing)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [incubating("Schedule Cron Jobs", "proc.name", "evt.type")],
    async run(ctx) {
      const r = await runCommand(await helperAs(ctx, "crontab"), ["noop"]);
      expectExit(r, "crontab");
      return {
        facts: { "proc.name": "crontab", "evt.type": "execve" },
        evidence: evidenceOf(r, "crontab"),
      };
    },
  },
  {
    name: "hidden-file",
    technique: "T1564.001",
    summary: "creates a file whose name starts with a dot (in the workspace)",
    kind: "host",
    needs: ["gcc"],
    expect: [],
    falcoTargets: [sandbox("Create Hidden Files or Directories", "fd.name", "proc.name")],
    async run(ctx) {
      const f = ctx.ws.path(".saker-hidden");
      const r = await runHelper(ctx, ["open", f, "wcx"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": f, "proc.name": "saker-sim" },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "package-repository-update",
    technique: "T1072",
    summary: "moves a new source list into /etc/apt/sources.list.d with mv (a comment only), " +
      "removes it",
    kind: "host",
    needs: ["root"],
    expect: [],
    falcoTargets: [sandbox("Update Package Repository", "evt.arg.newpath", "proc.name")],
    async run(ctx) {
      const dir = "/etc/apt/sources.list.d";
      if (!(await isDir(dir))) throw new Error(`${dir} does not exist (not a Debian system)`);
      // Staged outside /etc (writing there is another finding), on the same file system, so
      // that mv renames it rather than copying.
      const staged = `/var/tmp/saker-sim-${randomSuffix()}.list`;
      const dest = `${dir}/saker-sim-${randomSuffix()}.list`;
      ctx.ws.defer(() => removeIfPresent(staged));
      ctx.ws.defer(() => removeIfPresent(dest));
      await Deno.writeTextFile(staged, "# saker simulate: no repositories\n");
      if ((await Deno.stat(staged)).dev !== (await Deno.stat(dir)).dev) {
        throw new Error(`/var/tmp and ${dir} are on different file systems: mv would copy`);
      }
      const r = await runCommand("mv", [staged, dest]);
      expectExit(r, "mv");
      const rm = await runCommand("rm", ["-f", dest]);
      expectExit(rm, "rm");
      return {
        facts: { "evt.arg.newpath": dest, "proc.name": "mv" },
        evidence: evidenceOf(r, "mv into sources.list.d"),
      };
    },
  },
  {
    name: "write-below-root",
    technique: "T1543",
    summary: "creates a file directly in / and removes it",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [sandbox("Write below root", "fd.name", "proc.name", "evt.type")],
    run: (ctx) => createAndRemove(ctx, `/saker-sim-${randomSuffix()}`),
  },
  {
    name: "write-below-rpm-database",
    technique: "T1072",
    summary: "creates a file in /var/lib/rpm (the directory too when absent) and removes it",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [sandbox("Write below rpm database", "fd.name", "proc.name")],
    async run(ctx) {
      const dir = "/var/lib/rpm";
      if (!(await isDir(dir))) {
        await Deno.mkdir(dir, { mode: 0o755 });
        ctx.ws.defer(() => removeIfPresent(dir));
      }
      return createAndRemove(ctx, `${dir}/saker-sim-${randomSuffix()}`);
    },
  },
  {
    name: "write-below-monitored-dir",
    technique: "T1543",
    summary: "creates a file in /usr/local/lib and removes it",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [sandbox("Write below monitored dir", "fd.name", "proc.name")],
    run: (ctx) => createAndRemove(ctx, `/usr/local/lib/saker-sim-${randomSuffix()}`),
  },
  {
    name: "binary-dir-changes",
    technique: "T1222.002",
    summary: "makes a directory and a file in /usr/bin, moves the file into the directory, " +
      "removes both",
    kind: "host",
    needs: ["root", "gcc"],
    expect: [],
    falcoTargets: [
      sandbox("Mkdir binary dirs", "evt.arg.path", "proc.name"),
      sandbox("Write below binary dir", "fd.name"),
      sandbox("Modify binary dirs", "proc.name"),
    ],
    async run(ctx) {
      const dir = `/usr/bin/saker-sim-${randomSuffix()}.d`;
      const file = `/usr/bin/saker-sim-${randomSuffix()}`;
      ctx.ws.defer(() => removeIfPresent(file));
      ctx.ws.defer(() => removeIfPresent(dir));
      const mk = await runCommand("mkdir", [dir]);
      expectExit(mk, "mkdir");
      const w = await runHelper(ctx, ["open", file, "wcx", "755"]);
      requireCall(w, "openat", true);
      const mv = await runCommand("mv", [file, `${dir}/`]);
      expectExit(mv, "mv");
      const rm = await runCommand("rm", ["-r", dir]);
      expectExit(rm, "rm -r");
      return {
        facts: { "evt.arg.path": dir, "proc.name": "mkdir", "fd.name": file },
        factsFor: { "Modify binary dirs": { "proc.name": "mv" } },
        evidence: [
          ...evidenceOf(mk, "mkdir"),
          ...evidenceOf(w, "saker-sim open"),
          ...evidenceOf(mv, "mv"),
          ...evidenceOf(rm, "rm -r"),
        ],
      };
    },
  },
];
