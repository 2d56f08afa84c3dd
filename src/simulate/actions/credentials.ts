/**
 * Credential access: reading password databases, keys and cloud credentials, and searching the
 * disk for them.
 *
 * @example
 * ```ts
 * const report = await runAction(CREDENTIAL_ACTIONS[0]); // through runner.ts, as saker simulate runs it
 * report.status; // "ok", "skipped" (a need missing here) or "failed"
 * ```
 * @module
 */

import type { Action } from "../action.ts";
import { incubating } from "../action.ts";
import { requireCall, runCommand } from "../command.ts";
import { createFile, evidenceOf, expectExit, fakeHome, helperAs, runHelper } from "./util.ts";

/** The host's shadow password file: opened read-only, never changed. */
const SHADOW = "/etc/shadow";

/** Credential access actions. */
export const CREDENTIAL_ACTIONS: Action[] = [
  {
    name: "read-sensitive-file",
    rule: "Sensitive file read by untrusted program",
    falcoRule: "Read sensitive file untrusted",
    technique: "T1003.008",
    summary: "a program outside the trusted lists opens /etc/shadow for reading",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoExpect: ["fd.name"],
    async run(ctx) {
      const r = await runHelper(ctx, ["open", SHADOW, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": SHADOW, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "read-pam-config",
    rule: "PAM configuration read by untrusted program",
    technique: "T1556.003",
    summary: "a program that does not authenticate users reads the PAM configuration",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    async run(ctx) {
      let path: string | undefined;
      for (const p of ["/etc/pam.d/common-auth", "/etc/pam.d/other", "/etc/pam.conf"]) {
        try {
          if ((await Deno.stat(p)).isFile) path = p;
        } catch { /* not on this system */ }
        if (path) break;
      }
      if (!path) throw new Error("no PAM configuration file on this system");
      const r = await runHelper(ctx, ["open", path, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": path, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "server-reads-sensitive-file",
    rule: "Sensitive file read by server after startup",
    falcoRule: "Read sensitive file trusted after startup",
    technique: "T1003.008",
    summary: "a process named httpd opens /etc/shadow 6 s after it started (takes 6 s)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoExpect: ["fd.name", "proc.name"],
    async run(ctx) {
      const httpd = await helperAs(ctx, "httpd");
      const r = await runCommand(httpd, ["sleep-open", "6", SHADOW]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": SHADOW, "proc.name": "httpd", "proc.pid": r.pid },
        evidence: evidenceOf(r, "httpd sleep-open"),
      };
    },
  },
  {
    name: "traversal-read",
    rule: "Monitored file read through path traversal",
    falcoRule: "Directory traversal monitored file read",
    technique: "T1083",
    summary: "opens /etc/shadow through a path with ../ segments, as a path traversal bug would",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "fd.nameraw", "proc.pid"],
    falcoExpect: ["fd.name", "fd.nameraw"],
    async run(ctx) {
      const raw = "/etc/../etc/../etc/shadow";
      const r = await runHelper(ctx, ["open", raw, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: {
          "fd.name": SHADOW,
          "fd.nameraw": raw,
          "proc.name": "saker-sim",
          "proc.pid": r.pid,
        },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "search-private-keys",
    rule: "Private key search",
    falcoRule: "Search Private Keys or Passwords",
    technique: "T1552.004",
    summary: "find searches a directory for id_rsa files",
    kind: "host",
    needs: [],
    expect: ["proc.name", "proc.pid"],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      const r = await runCommand("find", [ctx.ws.dir, "-maxdepth", "2", "-name", "id_rsa"]);
      expectExit(r, "find");
      return {
        facts: { "proc.name": "find", "proc.pid": r.pid },
        evidence: evidenceOf(r, "find"),
      };
    },
  },
  {
    name: "search-aws-credentials",
    rule: "Cloud credentials search",
    falcoRule: "Find AWS Credentials",
    technique: "T1552.001",
    summary: "grep searches files for aws_secret_access_key",
    kind: "host",
    needs: [],
    expect: ["proc.name", "proc.pid"],
    falcoExpect: ["proc.name"],
    async run(ctx) {
      await createFile(ctx.ws.path("notes.txt"), "nothing to see here\n");
      const r = await runCommand("grep", ["-r", "-i", "aws_secret_access_key", ctx.ws.dir]);
      expectExit(r, "grep", [0, 1]);
      return {
        facts: { "proc.name": "grep", "proc.pid": r.pid },
        evidence: evidenceOf(r, "grep"),
      };
    },
  },
  {
    name: "read-ssh-private-key",
    rule: "SSH private key read by untrusted program",
    technique: "T1552.004",
    summary: "a program other than the ssh tools reads a private key in a user's .ssh " +
      "directory (a home directory made for it, removed after)",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    falcoTargets: [incubating("Read ssh information", "fd.name", "proc.name")],
    async run(ctx) {
      const key = `${await fakeHome(ctx)}/.ssh/id_ed25519`;
      await createFile(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nsimulated\n");
      const r = await runHelper(ctx, ["open", key, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": key, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
  {
    name: "read-cloud-credentials",
    rule: "Cloud credentials file read by untrusted program",
    technique: "T1552.001",
    summary: "a program that is not a cloud CLI reads an .aws/credentials file",
    kind: "host",
    needs: ["root", "gcc"],
    expect: ["fd.name", "proc.name", "proc.pid"],
    async run(ctx) {
      await Deno.mkdir(ctx.ws.path("home/.aws"), { recursive: true, mode: 0o700 });
      const file = ctx.ws.path("home/.aws/credentials");
      await createFile(file, "[default]\naws_access_key_id = AKIASIMULATEDEXAMPLE\n");
      const r = await runHelper(ctx, ["open", file, "r"]);
      requireCall(r, "openat", true);
      return {
        facts: { "fd.name": file, "proc.name": "saker-sim", "proc.pid": r.pid },
        evidence: evidenceOf(r, "saker-sim open"),
      };
    },
  },
];
