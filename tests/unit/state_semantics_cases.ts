/**
 * One table of cases for when state fields change (src/rules/fields/updates.ts), as Falco's
 * libsinsp changes them: capabilities after unshare and setuid, the setuid family, loginuid,
 * the working directory through a symbolic link, names and command lines after prctl and an
 * argv rewrite, session and process group, terminal, pid namespace, cgroups, fd names after
 * rename, dup2 and fcntl.
 *
 * A case is a scenario of system calls made by one process (and the children it forks), with
 * the field values rules must see at some of them. Two harnesses run every case:
 * tests/unit/state_semantics.test.ts turns the calls into the events the probe records, from a
 * small model of what the kernel reports, and feeds them to the state store;
 * tests/live/state_semantics.test.ts makes the calls for real (a Python program) under the
 * probe, with the state seeded from /proc. Where the kernel's truth and libsinsp's state
 * differ (a capability dropped by setuid, a renamed process, a cwd through a symbolic link),
 * the expected values are libsinsp's.
 *
 * Values may name the scenario's facts: `$DIR` (its directory, no symbolic links in it),
 * `$COMM` and `$EXEPATH` (the name and path of the program that starts it), `$LOGINUID` (its
 * audit login uid as a field shows it), `$CGROUP` (its pids cgroup), `$NEWCG` (the pids cgroup
 * a `cgroup` step moves it to).
 * @module
 */

/** An expected field value: equal (after placeholders), or a test on the text. */
export type Expect =
  | string
  | number
  | boolean
  /** The value, a space-separated list, has this item. */
  | { has: string }
  /** The value lacks this item. */
  | { lacks: string }
  /** Any value but this one. */
  | { not: string | number }
  /** The value contains this text. */
  | { includes: string };

/** Expected fields at the event a step makes. */
export type Checks = Record<string, Expect>;

/** Namespace flags a case can pass to unshare. */
export type NsFlag = "CLONE_NEWNS" | "CLONE_NEWUSER" | "CLONE_NEWPID";

/** One system call (or a few, for one purpose) of a scenario. */
export type Step =
  /** unshare(flags); `ok` says whether it succeeds in this scenario. */
  | { op: "unshare"; flags: NsFlag; ok: boolean; check?: Checks }
  | { op: "setresuid"; ruid: number; euid: number; suid: number; check?: Checks }
  | { op: "setuid"; uid: number; check?: Checks }
  | { op: "setgid"; gid: number; check?: Checks }
  /** Writes /proc/self/loginuid (the check is at its openat). */
  | { op: "loginuid"; uid: number; check?: Checks }
  | { op: "chdir"; path: string; check?: Checks }
  /** openat(AT_FDCWD, path): for writing (created), with O_TMPFILE (an unnamed file in the
   * directory `path`) or reading; the fd stays open. */
  | { op: "open"; path: string; write?: boolean; tmpfile?: boolean; check?: Checks }
  | { op: "rename"; from: string; to: string; check?: Checks }
  /** dup2 of the last opened fd onto `newfd`. */
  | { op: "dup2"; newfd: number; check?: Checks }
  /** fcntl(F_DUPFD, min) of the last opened fd; `fd` is the number it returns. */
  | { op: "dupfd"; min: number; fd: number; check?: Checks }
  /** close of `fd` (its own event still shows the fd). */
  | { op: "close"; fd: number; check?: Checks }
  | { op: "prctl_name"; name: string; check?: Checks }
  /** Rewrites the process's last argument in memory (same length, as setproctitle does). */
  | { op: "argv"; from: string; to: string }
  | { op: "setsid"; check?: Checks }
  /** setpgid(0, 0). */
  | { op: "setpgid"; check?: Checks }
  /** Opens a new pseudo-terminal and makes it the controlling terminal (after a setsid). */
  | { op: "ctty" }
  /** Moves the process to the pids cgroup `$NEWCG` (the check is at the openat of its
   * cgroup.procs). */
  | { op: "cgroup"; check?: Checks }
  /** fork; the check is at the child's first event; the child runs `steps`, then exits. */
  | { op: "fork"; check?: Checks; steps: Step[] }
  /** execve of `path` (arguments `args`); with `steps`, `path` is the scenario's own program
   * (Python) and the new image goes on with them. */
  | { op: "exec"; path: string; args: string[]; check?: Checks; steps?: Step[] };

/** One scenario. */
export interface SemanticsCase {
  name: string;
  /** What libsinsp does (its parser in userspace/libsinsp/parsers.cpp). */
  libsinsp: string;
  /** Capabilities removed from the bounding set of the scenario's process before it starts. */
  dropCaps?: string[];
  /** Symbolic links the scenario needs: link -> target (both under `$DIR`). */
  links?: Record<string, string>;
  /** Directories to create under `$DIR`. */
  dirs?: string[];
  /** The last argument the program is started with (for `argv`). */
  title?: string;
  steps: Step[];
}

/** Every case. */
export const SEMANTICS_CASES: SemanticsCase[] = [
  {
    name: "capabilities: a refused unshare changes none; CLONE_NEWUSER grants all from its event",
    libsinsp: "parse_unshare_setns_exit: on success with CLONE_NEWUSER every capability",
    dropCaps: ["CAP_SYS_ADMIN"],
    steps: [
      {
        op: "unshare",
        flags: "CLONE_NEWNS",
        ok: false,
        check: {
          "thread.cap_permitted": { lacks: "CAP_SYS_ADMIN" },
          "thread.cap_effective": { lacks: "CAP_SYS_ADMIN" },
          "evt.res": "EPERM",
        },
      },
      {
        op: "unshare",
        flags: "CLONE_NEWUSER",
        ok: true,
        check: {
          "thread.cap_permitted": { has: "CAP_SYS_ADMIN" },
          "thread.cap_effective": { has: "CAP_SYS_ADMIN" },
          "evt.res": "SUCCESS",
        },
      },
      { op: "fork", check: { "thread.cap_permitted": { has: "CAP_SYS_ADMIN" } }, steps: [] },
    ],
  },
  {
    name: "setuid family: effective ids from their own event; capabilities kept until exec",
    libsinsp: "parse_setresuid_exit, parse_setuid_exit, parse_setgid_exit; caps only at " +
      "clone/execve/capset",
    steps: [
      { op: "setresuid", ruid: -1, euid: 1000, suid: -1, check: { "user.uid": 1000 } },
      { op: "setresuid", ruid: -1, euid: 0, suid: -1, check: { "user.uid": 0 } },
      // -1 leaves the effective uid as it is (libsinsp would record 4294967295).
      { op: "setresuid", ruid: 1000, euid: -1, suid: -1, check: { "user.uid": 0 } },
      { op: "setgid", gid: 65534, check: { "group.gid": 65534 } },
      {
        op: "setuid",
        uid: 65534,
        check: { "user.uid": 65534, "thread.cap_effective": { has: "CAP_SYS_ADMIN" } },
      },
      {
        op: "fork",
        check: { "user.uid": 65534, "thread.cap_effective": { has: "CAP_SYS_ADMIN" } },
        steps: [{
          op: "exec",
          path: "/bin/true",
          args: ["true"],
          check: { "user.uid": 65534, "group.gid": 65534, "thread.cap_effective": "" },
        }],
      },
    ],
  },
  {
    name: "loginuid: a write to /proc/self/loginuid shows at the next exec",
    libsinsp: "parse_execve_exit (loginuid parameter); clone copies the parent's",
    steps: [
      { op: "loginuid", uid: 4321, check: { "user.loginuid": "$LOGINUID" } },
      {
        op: "fork",
        check: { "user.loginuid": "$LOGINUID" },
        steps: [
          { op: "exec", path: "/bin/true", args: ["true"], check: { "user.loginuid": 4321 } },
        ],
      },
    ],
  },
  {
    name: "cwd: chdir through a symbolic link keeps the path as written, in children and execs",
    libsinsp: "parse_chdir_exit (update_cwd of the path given); clone copies the parent's; " +
      "execve does not read cwd",
    dirs: ["real"],
    links: { "link": "real" },
    steps: [
      { op: "chdir", path: "$DIR/link", check: { "proc.cwd": "$DIR/link/" } },
      { op: "open", path: "made-here", write: true, check: { "fd.name": "$DIR/link/made-here" } },
      {
        op: "fork",
        check: { "proc.cwd": "$DIR/link/" },
        steps: [{
          op: "exec",
          path: "$EXEPATH",
          args: [],
          check: { "proc.cwd": "$DIR/link/" },
          steps: [{
            op: "open",
            path: "made-here",
            check: { "fd.name": "$DIR/link/made-here", "proc.cwd": "$DIR/link/" },
          }],
        }],
      },
    ],
  },
  {
    name: "names: prctl(PR_SET_NAME) and an argv rewrite show in children, not in the process",
    libsinsp: "parse_prctl_exit ignores PR_SET_NAME; parse_clone_exit_child takes comm, exe " +
      "and args from the event",
    title: "original-title",
    steps: [
      { op: "prctl_name", name: "renamed-proc", check: { "proc.name": "$COMM" } },
      { op: "argv", from: "original-title", to: "rewritten-name" },
      {
        op: "open",
        path: "/dev/null",
        check: { "proc.name": "$COMM", "proc.cmdline": { includes: "original-title" } },
      },
      {
        op: "fork",
        check: {
          "proc.name": "renamed-proc",
          "proc.pname": "$COMM",
          "proc.cmdline": { includes: "rewritten-name" },
          "proc.exepath": "$EXEPATH",
        },
        steps: [],
      },
    ],
  },
  {
    name: "session and process group: setsid's session at once, group ids at the next exec",
    libsinsp: "parse_setsid_exit sets the session only; setpgid is not parsed; execve takes " +
      "vpgid and pgid from the kernel",
    steps: [
      {
        op: "fork",
        steps: [
          {
            op: "setsid",
            check: { "proc.is_sid_leader": true, "proc.is_vpgid_leader": false },
          },
          {
            op: "exec",
            path: "/bin/true",
            args: ["true"],
            check: {
              "proc.is_sid_leader": true,
              "proc.is_vpgid_leader": true,
              "proc.is_pgid_leader": true,
            },
          },
        ],
      },
      {
        op: "fork",
        steps: [
          { op: "setpgid", check: { "proc.is_vpgid_leader": false } },
          {
            op: "exec",
            path: "/bin/true",
            args: ["true"],
            check: { "proc.is_vpgid_leader": true, "proc.is_sid_leader": false },
          },
        ],
      },
    ],
  },
  {
    name: "terminal: taken at exec; a setsid does not clear it before the next exec",
    libsinsp: "parse_execve_exit (tty parameter); clone copies the parent's; setsid keeps it",
    steps: [{
      op: "fork",
      steps: [
        { op: "setsid", check: { "proc.tty": 0 } },
        { op: "ctty" },
        {
          op: "exec",
          path: "$EXEPATH",
          args: [],
          check: { "proc.tty": { not: 0 } },
          steps: [{
            op: "fork",
            check: { "proc.tty": { not: 0 } },
            steps: [
              { op: "setsid", check: { "proc.tty": { not: 0 } } },
              { op: "exec", path: "/bin/true", args: ["true"], check: { "proc.tty": 0 } },
            ],
          }],
        },
      ],
    }],
  },
  {
    name: "pid namespace: unshare(CLONE_NEWPID) shows in the child created afterwards",
    libsinsp: "parse_clone_exit_child (vtid and vpid parameters)",
    steps: [
      { op: "unshare", flags: "CLONE_NEWPID", ok: true, check: { "proc.vpid": { not: 1 } } },
      {
        op: "fork",
        check: { "proc.vpid": 1, "thread.vtid": 1 },
        steps: [{ op: "exec", path: "/bin/true", args: ["true"], check: { "proc.vpid": 1 } }],
      },
    ],
  },
  {
    name: "cgroups: a process moved to another cgroup shows it at its next clone or exec",
    libsinsp: "parse_clone_exit_child and parse_execve_exit (cgroups parameter) only",
    steps: [
      { op: "cgroup", check: { "thread.cgroup.pids": "$CGROUP" } },
      {
        op: "fork",
        check: { "thread.cgroup.pids": "$NEWCG" },
        steps: [],
      },
    ],
  },
  {
    name: "fd names: kept through rename; copied by dup2 and fcntl(F_DUPFD); O_TMPFILE " +
      "makes a directory fd",
    libsinsp: "no rename parser; parse_dup_exit and parse_fcntl_exit clone the fd; " +
      "parse_open_openat_creat_exit types an fd opened with PPM_O_DIRECTORY (set with " +
      "O_TMPFILE) a directory",
    steps: [
      {
        op: "open",
        path: "$DIR",
        tmpfile: true,
        check: { "fd.name": "$DIR", "fd.typechar": "d", "fd.type": "directory" },
      },
      { op: "open", path: "$DIR/before", write: true, check: { "fd.name": "$DIR/before" } },
      { op: "rename", from: "$DIR/before", to: "$DIR/after" },
      { op: "dup2", newfd: 50, check: { "fd.name": "$DIR/before" } },
      { op: "dupfd", min: 60, fd: 60, check: { "fd.name": "$DIR/before" } },
      { op: "close", fd: 60, check: { "fd.name": "$DIR/before", "fd.num": 60 } },
      { op: "close", fd: 50, check: { "fd.name": "$DIR/before", "fd.num": 50 } },
    ],
  },
];

/** Scenario facts for placeholders. */
export type Facts = Record<"DIR" | "COMM" | "EXEPATH" | "LOGINUID" | "CGROUP" | "NEWCG", string>;

/** Replaces `$NAME` placeholders in a text. */
export function fill(text: string, facts: Facts): string {
  return text.replace(
    /\$(DIR|COMM|EXEPATH|LOGINUID|CGROUP|NEWCG)/g,
    (_, k) => facts[k as keyof Facts],
  );
}

/** Checks one field value; returns a message when it does not match. */
export function mismatch(
  field: string,
  actual: unknown,
  want: Expect,
  facts: Facts,
): string | undefined {
  const text = actual === undefined || actual === null ? "<NA>" : String(actual);
  if (typeof want === "object") {
    if ("has" in want && text.split(" ").includes(want.has)) return undefined;
    if ("lacks" in want && !text.split(" ").includes(want.lacks)) return undefined;
    if ("not" in want && text !== String(want.not)) return undefined;
    if ("includes" in want && text.includes(fill(want.includes, facts))) return undefined;
    return `${field}: ${JSON.stringify(text)} does not satisfy ${JSON.stringify(want)}`;
  }
  const expected = typeof want === "string" ? fill(want, facts) : String(want);
  return text === expected
    ? undefined
    : `${field}: ${JSON.stringify(text)} !== ${JSON.stringify(expected)}`;
}
