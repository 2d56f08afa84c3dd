/**
 * Walks up the process tree through the live table: the n-th ancestor, every ancestor, and the
 * session / process-group leaders that Falco's `proc.sname`, `proc.vpgid.name` ... name.
 * Walks are bounded so a corrupted (cyclic) table cannot hang the pipeline.
 *
 * @example
 * ```ts
 * ancestor(proc, 2)?.comm; // the grandparent's name, as proc.aname[2]
 * ancestors(proc).map((p) => p.pid); // parent first, bounded by MAX_DEPTH
 * ```
 * @module
 */
import type { ProcessInfo } from "./model.ts";

/** Longest ancestry chain followed; real trees are far shallower. */
export const MAX_DEPTH = 256;

/** The n-th ancestor (0 = the process itself, 1 = its parent ...), if in the table. */
export function ancestor(proc: ProcessInfo, n: number): ProcessInfo | undefined {
  let p: ProcessInfo | undefined = proc;
  for (let i = 0; i < n && p !== undefined; i++) {
    if (i >= MAX_DEPTH) return undefined;
    p = p.parent;
  }
  return p;
}

/** Every ancestor, parent first, stopping at the first one missing from the table. */
export function ancestors(proc: ProcessInfo): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  let p = proc.parent;
  while (p !== undefined && out.length < MAX_DEPTH) {
    if (p === proc || out.includes(p)) break;
    out.push(p);
    p = p.parent;
  }
  return out;
}

/** Calls `visit` for each ancestor, parent first, until it returns true; returns that one. */
export function findAncestor(
  proc: ProcessInfo,
  visit: (p: ProcessInfo) => boolean,
): ProcessInfo | undefined {
  let p = proc.parent;
  for (let i = 0; p !== undefined && i < MAX_DEPTH; i++) {
    if (p === proc) return undefined;
    if (visit(p)) return p;
    p = p.parent;
  }
  return undefined;
}

/** True when the process lives in a pid namespace other than the host's. */
export function inPidNamespace(proc: ProcessInfo): boolean {
  return proc.vpid > 0 && proc.vpid !== proc.pid;
}

/**
 * The leader of the group `idOf(proc)` identifies (session or process group): on the host the
 * process whose pid is that id; inside a pid namespace (where ids are virtual) the oldest
 * consecutive ancestor sharing the id.
 */
export function groupLeader(
  proc: ProcessInfo,
  idOf: (p: ProcessInfo) => number,
  virtualId: boolean,
): ProcessInfo | undefined {
  const id = idOf(proc);
  if (id <= 0) return undefined;
  if (!virtualId || !inPidNamespace(proc)) {
    const direct = proc.state.process(id);
    if (direct) return direct;
  }
  let leader: ProcessInfo | undefined;
  let p = proc.parent;
  for (let i = 0; p !== undefined && i < MAX_DEPTH && idOf(p) === id; i++) {
    leader = p;
    p = p.parent;
  }
  return leader;
}

/** `proc.cmdline` form: the command name followed by the arguments. */
export function cmdline(proc: ProcessInfo): string {
  return proc.args.length === 0 ? proc.comm : proc.comm + " " + proc.args.join(" ");
}
