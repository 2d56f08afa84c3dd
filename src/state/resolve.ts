/**
 * Names of the files an event refers to by path: resolution of a path parameter against the
 * thread's working directory or a directory fd (AT_FDCWD is -100 in the scap encoding).
 *
 * Live records carry, after a relative path, the directory the kernel resolved it against (the
 * path's `dirParam`, see src/events/table.ts); it wins over the fd table, which may not have
 * followed (an fd table kept only for sockets, a directory fd opened before the agent started),
 * and stands in for an unknown working directory. A known working directory wins over it: Falco
 * names files through the path as written, symbolic links included. Capture files from other
 * tools lack it.
 *
 * @example
 * ```ts
 * resolvePath(thread, -100, "notes.txt"); // "/home/ann/notes.txt" with cwd /home/ann
 * dirOf(thread, 5); // the name of directory fd 5, if the table has it
 * ```
 * @module
 */
import type { Event } from "../events/event.ts";
import type { ThreadInfo } from "./model.ts";
import { joinPath, squashSlashes } from "./paths.ts";
import { AT_FDCWD } from "../events/params.ts";

/** The directory a dirfd stands for: the cwd for AT_FDCWD, else the fd's path (if known). */
export function dirOf(th: ThreadInfo | undefined, dirfd: number): string | undefined {
  if (!th) return undefined;
  if (dirfd === AT_FDCWD) return th.proc.cwd;
  return th.proc.fds.get(dirfd)?.name;
}

/** Resolves `name` as the process would: absolute paths as they are, relative ones against
 * `kernelDir` (the directory the kernel resolved it against, when the record says) or `dirfd`
 * (or the cwd). Unknown directories give the raw name, slashes squashed. */
export function resolvePath(
  th: ThreadInfo | undefined,
  dirfd: number,
  name: string,
  kernelDir?: string,
): string {
  if (name.charCodeAt(0) === 47) return joinPath("/", name);
  // A known working directory keeps the path as the process wrote it (symbolic links included,
  // as libsinsp); directory fds, which an fd table kept only for sockets may not have followed,
  // take the kernel's directory first.
  const cwd = dirfd === AT_FDCWD ? th?.proc.cwd : undefined;
  const dir = cwd !== undefined && cwd.charCodeAt(0) === 47
    ? cwd
    : kernelDir !== undefined && kernelDir.charCodeAt(0) === 47
    ? kernelDir
    : dirOf(th, dirfd);
  return dir !== undefined && dir.charCodeAt(0) === 47 ? joinPath(dir, name) : squashSlashes(name);
}

/**
 * The directory the kernel resolved parameter `i` (a path) against, from the record; undefined
 * when the record does not say (absolute path, capture files).
 */
export function kernelDirOf(ev: Event, i: number): string | undefined {
  const d = ev.info.params[i]?.dirParam;
  if (d === undefined) return undefined;
  const v = ev.param(d);
  return typeof v === "string" && v.charCodeAt(0) === 47 ? v : undefined;
}

const PATH_EVENTS = new Set(["open", "creat", "openat", "openat2", "open_by_handle_at"]);

/**
 * The path an open-like event names, resolved (or raw when `raw`), whether or not it succeeded.
 * Undefined for other events and events without the parameter.
 */
export function openedPath(ev: Event, raw: boolean): string | undefined {
  const evName = ev.info.name;
  if (!PATH_EVENTS.has(evName)) return undefined;
  if (evName === "open_by_handle_at") {
    const p = ev.arg("path");
    return typeof p === "string" ? p : undefined;
  }
  const i = ev.info.paramIndex.get("name");
  const name = i === undefined ? undefined : ev.param(i);
  if (typeof name !== "string") return undefined;
  if (raw) return squashSlashes(name);
  const dirfd = ev.arg("dirfd");
  return resolvePath(
    ev.thread,
    typeof dirfd === "number" ? dirfd : AT_FDCWD,
    name,
    kernelDirOf(ev, i!),
  );
}
