/**
 * When the state behind a field changes: which events update a process's or thread's
 * credentials, capabilities, names, directory, terminal, session, namespaces, cgroups and fd
 * names. Rules see the state as of their event, after that event was applied, so these texts
 * say what a condition on a given event reads.
 *
 * They follow Falco's libsinsp: the state is taken from /proc when the agent starts (or from a
 * capture's process list), copied from the parent at clone, refreshed at exec, and changed
 * only by the calls listed here. A value the kernel changed in another way (a capability
 * dropped by setuid, a name set with prctl, a process moved to another cgroup, a process group
 * set with setpgid) shows at the process's next exec, or in a child's first events.
 * `saker fields` prints each text with its fields ("Updated: ...").
 *
 * @example
 * ```ts
 * import { UPDATED } from "./updates.ts";
 * UPDATED.caps.startsWith("clone"); // true
 * ```
 * @module
 */

/** The update rule of each kind of state, by name. */
export const UPDATED = {
  caps: "clone (the parent's), exec (the new credentials), capset (its arguments); a " +
    "successful unshare or setns with CLONE_NEWUSER sets every capability, from its own " +
    "event on. setuid and prctl do not change it.",
  ids: "clone (the caller's effective ids), exec (the new effective ids), and the " +
    "successful setuid/setgid (the id), setreuid/setresuid (the effective uid), " +
    "setregid/setresgid (the effective gid) of the thread, from their own event on. An " +
    "argument of -1 leaves the id as it was.",
  loginuid: "clone (the parent's) and exec (the kernel's); a write to /proc/PID/loginuid " +
    "shows at the next exec.",
  cwd: "chdir (the path as given, joined to the old directory: a symbolic link stays as " +
    "written), fchdir (the fd's name), getcwd (its result); a child starts in its parent's. " +
    "exec does not change it.",
  cmdline: "exec (the new program's argv) and fork: a child's command line is read from " +
    "its parent's memory at the fork, so an argv the parent rewrote shows in its children.",
  name: "exec (the program's name) and clone (the kernel's name of the new thread or " +
    "process, so a name set with prctl(PR_SET_NAME) shows in children and threads created " +
    "afterwards, not in the renaming thread's own events).",
  exepath: "exec (the path the kernel resolved); a child keeps its parent's.",
  tty: "clone (the parent's) and exec (the kernel's); setsid does not clear it before the " +
    "next exec.",
  sid: "clone (the parent's) and setsid (its result, from its own event on); exec keeps it.",
  pgid: "clone (the parent's) and exec (the kernel's); setsid and setpgid show at the next " +
    "exec.",
  pidns: "clone (the child's ids in its pid namespace); unshare(CLONE_NEWPID) shows in the " +
    "children created afterwards.",
  cgroups: "clone and exec (the kernel's); a process moved to another cgroup, or entering " +
    "a container's namespaces with setns, shows the new cgroups (and container) at its next " +
    "clone or exec.",
  fdName: "the call that created the fd (open, socket, connect, accept, bind ...; an " +
    "O_TMPFILE open makes a directory fd named after its directory); dup, " +
    "dup2, dup3 and fcntl(F_DUPFD) copy it to the new fd; rename and unlink of the file " +
    "leave it unchanged.",
} as const;
