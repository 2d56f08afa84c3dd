/**
 * What the response engine reads from /proc and does to processes: whether a pid is a kernel
 * thread, a process's descendants, signals to one process or a whole tree, and the container the
 * agent itself runs in. Kept apart from the engine's decisions (response_policy.ts).
 *
 * A tree is killed without letting it escape: every member is stopped (SIGSTOP) top-down and the
 * tree read again until no new member appears (a process stopped cannot fork), then every member
 * is killed. Killing the root first would hand its children to a reaper before they are found.
 *
 * @example
 * ```ts
 * import { killProcess } from "./response_proc.ts";
 * killProcess(12345); // undefined when signalled, or why not ("no such process")
 * ```
 * @module
 */
import { containerFromPath } from "../state/containers/cgroup.ts";

/** The kernel's flag of kernel threads in /proc/PID/stat (PF_KTHREAD). */
const PF_KTHREAD = 0x00200000;

/** Fields of /proc/PID/stat after the command name: state, ppid, ..., flags (the 7th). */
function statFields(proc: string, pid: number): string[] | undefined {
  try {
    const text = Deno.readTextFileSync(`${proc}/${pid}/stat`);
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a kernel thread (PF_KTHREAD, or a child of kthreadd); false when gone. */
export function isKernelThread(pid: number, proc = "/proc"): boolean {
  const f = statFields(proc, pid);
  if (!f) return false;
  const ppid = Number(f[1]);
  const flags = Number(f[6]);
  return (flags & PF_KTHREAD) !== 0 || pid === 2 || ppid === 2;
}

/** Whether `pid` exists. */
export function processExists(pid: number, proc = "/proc"): boolean {
  return statFields(proc, pid) !== undefined;
}

/** Direct children of `pid` (every thread's children). */
export function childrenOf(pid: number, proc = "/proc"): number[] {
  const out: number[] = [];
  try {
    for (const t of Deno.readDirSync(`${proc}/${pid}/task`)) {
      try {
        const text = Deno.readTextFileSync(`${proc}/${pid}/task/${t.name}/children`).trim();
        if (text) { for (const c of text.split(" ")) out.push(Number(c)); }
      } catch { /* the thread ended */ }
    }
  } catch { /* the process ended */ }
  return out;
}

/** Sends `sig` to `pid`; undefined when sent, or why not. */
export function signal(pid: number, sig: Deno.Signal): string | undefined {
  try {
    Deno.kill(pid, sig);
    return undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "no such process";
    if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
    return (err as Error).message;
  }
}

/** SIGKILL to one process. */
export function killProcess(pid: number): string | undefined {
  return signal(pid, "SIGKILL");
}

/**
 * Kills `root` and its descendants, leaving out `spare` (protected pids: their own descendants
 * are spared too). Returns the pids signalled, or why the root could not be.
 */
export function killTree(
  root: number,
  spare: (pid: number) => boolean,
  proc = "/proc",
): { killed: number[]; error?: string } {
  const stopped: number[] = [];
  const seen = new Set<number>();
  const err = signal(root, "SIGSTOP");
  if (err) return { killed: [], error: err };
  stopped.push(root);
  seen.add(root);
  // Stop top-down until a pass finds nobody new (stopped processes cannot fork).
  for (let pass = 0, grew = true; grew && pass < 64; pass++) {
    grew = false;
    for (let i = 0; i < stopped.length; i++) {
      for (const c of childrenOf(stopped[i], proc)) {
        if (seen.has(c)) continue;
        seen.add(c);
        if (spare(c)) continue;
        if (signal(c, "SIGSTOP") === undefined) {
          stopped.push(c);
          grew = true;
        }
      }
    }
  }
  const killed: number[] = [];
  for (const pid of stopped) if (signal(pid, "SIGKILL") === undefined) killed.push(pid);
  return { killed };
}

/** The container the agent runs in ("" on the host), from its own cgroup. */
export function ownContainerId(proc = "/proc"): string {
  try {
    const text = Deno.readTextFileSync(`${proc}/self/cgroup`);
    for (const line of text.split("\n")) {
      const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
      const found = path.includes("conmon") ? undefined : containerFromPath(path);
      if (found) return found.id;
    }
  } catch { /* no /proc */ }
  return "";
}
