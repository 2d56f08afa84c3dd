/**
 * Frozen state for an event whose rules run later than its state update.
 *
 * The pipeline applies every event to the tables at once, in order (the tables stay exactly as
 * they would be without waiting), but may evaluate the rules of some events later: those of a
 * container whose metadata is still on its way. By then the tables have moved on: the process
 * may have exec'd another program, changed directory or credentials, exited and left the table
 * with its parent. {@link freezeEvent} gives the event copies of its thread, its process and
 * every ancestor as they are now, and of its fd, so the later evaluation sees the state as of
 * the event, as an immediate one would.
 *
 * What is copied: the thread, its process and the ancestor chain (every field the rules read
 * about them: names, command lines, credentials, capabilities, cwd, tty, cgroups ...), the
 * event's fd. What stays live: the fd table (rules read the event's own fd, which is copied),
 * the container metadata (what the wait is for), user and group names, environments read on
 * demand. Copies are shallow: arrays such as `args` are replaced, never changed in place, by
 * the state handlers.
 *
 * @example
 * ```ts
 * import { freezeEvent } from "./freeze.ts";
 * state.update(ev);
 * freezeEvent(ev); // ev.thread now points to a copy that later events do not change
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import {
  type ContainerInfo,
  ProcessInfo,
  type StateView,
  ThreadInfo,
  type UserEntry,
} from "./model.ts";

/** Most ancestors copied (deeper ones are read from the live tables). */
const MAX_DEPTH = 64;

/** A view of the state that answers for the frozen processes first. */
class FrozenView implements StateView {
  readonly #live: StateView;
  readonly #procs = new Map<number, ProcessInfo>();

  constructor(live: StateView) {
    this.#live = live;
  }

  freeze(p: ProcessInfo): ProcessInfo {
    const have = this.#procs.get(p.pid);
    if (have !== undefined) return have;
    const copy = new ProcessInfo(p.pid, this);
    Object.assign(copy, p);
    copy.state = this;
    this.#procs.set(p.pid, copy);
    return copy;
  }

  process(pid: number): ProcessInfo | undefined {
    return this.#procs.get(pid) ?? this.#live.process(pid);
  }
  container(id: string): ContainerInfo | undefined {
    return this.#live.container(id);
  }
  user(uid: number, proc: ProcessInfo): UserEntry | undefined {
    return this.#live.user(uid, proc);
  }
  group(gid: number, proc: ProcessInfo): UserEntry | undefined {
    return this.#live.group(gid, proc);
  }
  env(proc: ProcessInfo): string[] {
    return this.#live.env(proc);
  }
}

/**
 * Points `ev.thread` and `ev.fdInfo` at copies of their current state, with the process's
 * ancestors copied too. Call right after the event's state update.
 */
export function freezeEvent(ev: Event): void {
  const th = ev.thread;
  if (th === undefined) return;
  const live = th.proc.state;
  const view = new FrozenView(live);
  const proc = view.freeze(th.proc);
  const copy = new ThreadInfo(th.tid, proc);
  Object.assign(copy, th);
  copy.proc = proc;
  copy.lastEnter = undefined;
  ev.thread = copy;
  // Ancestors as they are now (a parent may exit, or exec, before the rules run).
  let p: ProcessInfo | undefined = th.proc;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (p.ppid <= 0 || p.ppid === p.pid) break;
    const parent: ProcessInfo | undefined = live.process(p.ppid);
    if (parent === undefined) break;
    view.freeze(parent);
    p = parent;
  }
  const fd = ev.fdInfo;
  if (fd !== undefined) {
    const f = fd.clone(fd.num);
    f.nameChanged = fd.nameChanged;
    ev.fdInfo = f;
  }
}
