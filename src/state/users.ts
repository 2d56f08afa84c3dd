/**
 * User and group names from passwd and group files: the host's (/etc) for host processes and a
 * container's own (/proc/PID/root/etc) for container processes. Files are read on first use and
 * re-read when their modification time changes (checked at most every few seconds), so lookups
 * on the event path are map reads.
 *
 * @example
 * ```ts
 * parsePasswd("ann:x:1000:1000::/home/ann:/bin/sh\n").get(1000)?.name; // "ann"
 * const users = new UserDb(); // the host's (or a container root's) files, re-read when they change
 * ```
 * @module
 */
import type { UserEntry } from "./model.ts";

/** Parses passwd text into entries by uid (`name:x:uid:gid:gecos:home:shell`). */
export function parsePasswd(text: string): Map<number, UserEntry> {
  const out = new Map<number, UserEntry>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 7) continue;
    const id = Number(f[2]);
    if (!Number.isInteger(id) || out.has(id)) continue;
    out.set(id, { id, name: f[0], home: f[5], shell: f[6] });
  }
  return out;
}

/** Parses group text into entries by gid (`name:x:gid:members`). */
export function parseGroup(text: string): Map<number, UserEntry> {
  const out = new Map<number, UserEntry>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 3) continue;
    const id = Number(f[2]);
    if (!Number.isInteger(id) || out.has(id)) continue;
    out.set(id, { id, name: f[0], home: "", shell: "" });
  }
  return out;
}

/** How often a cached file's modification time is checked again, ms. */
export const RECHECK_MS = 2000;

/**
 * A lookup that finds nothing checks the file again after this long instead (a user added a
 * moment ago, e.g. by useradd just before its first process, is known from that process on).
 */
export const MISS_RECHECK_MS = 100;

interface CachedFile {
  entries: Map<number, UserEntry>;
  mtime: number;
  checkedAt: number;
}

/** uid 0 of a container whose passwd file could not be read. */
const CONTAINER_ROOT: UserEntry = Object.freeze({ id: 0, name: "root", home: "/root", shell: "" });

/** One cached passwd or group file, refreshed when it changes. */
class WatchedFile {
  #file: CachedFile;
  #parse: (text: string) => Map<number, UserEntry>;
  #rel: string;

  constructor(rel: string, parse: (text: string) => Map<number, UserEntry>) {
    this.#parse = parse;
    this.#rel = rel;
    this.#file = { entries: new Map(), mtime: -1, checkedAt: -Infinity };
  }

  /** True once the file has been read successfully. */
  get loaded(): boolean {
    return this.#file.mtime !== -1;
  }

  /**
   * The entries, re-read from `root` + the file's path when its mtime changed. `interval` is how
   * long a check holds (shorter after a miss).
   */
  entries(now: number, root: string, interval = RECHECK_MS): Map<number, UserEntry> {
    const f = this.#file;
    if (now - f.checkedAt < interval) return f.entries;
    f.checkedAt = now;
    const path = (root === "/" ? "" : root) + this.#rel;
    try {
      const st = Deno.statSync(path);
      const mtime = st.mtime?.getTime() ?? 0;
      if (mtime !== f.mtime) {
        f.entries = this.#parse(Deno.readTextFileSync(path));
        f.mtime = mtime;
      }
    } catch {
      // Missing or unreadable (a process that exited, a minimal image): keep what we had.
    }
    return f.entries;
  }
}

/**
 * User and group tables per file-system view: key "" is the host (files under "/"), other keys
 * are container ids whose files are read through a path into the container's root
 * (`/proc/PID/root` of one of its processes).
 */
export class UserDb {
  #roots = new Map<string, { passwd: WatchedFile; group: WatchedFile }>();
  #now: () => number;
  /** Entries added by events (useradded/groupadded in captures), by root then id. */
  #extraUsers = new Map<string, Map<number, UserEntry>>();
  #extraGroups = new Map<string, Map<number, UserEntry>>();

  #files: boolean;

  /** `files`: read passwd/group files (off when replaying a capture); `now` gives ms. */
  constructor(files = true, now: () => number = Date.now) {
    this.#files = files;
    this.#now = now;
  }

  #tables(key: string) {
    let t = this.#roots.get(key);
    if (!t) {
      t = {
        passwd: new WatchedFile("/etc/passwd", parsePasswd),
        group: new WatchedFile("/etc/group", parseGroup),
      };
      if (this.#roots.size > 4096) this.#roots.clear();
      this.#roots.set(key, t);
    }
    return t;
  }

  /**
   * The user with `uid` in view `key`, whose files live under `root`. A container whose files
   * could never be read (its last process exited before the event was processed) still knows
   * uid 0: every image names it root.
   */
  user(uid: number, key = "", root = "/"): UserEntry | undefined {
    const extra = this.#extraUsers.get(key)?.get(uid);
    if (extra !== undefined || !this.#files) return extra;
    const passwd = this.#tables(key).passwd;
    const now = this.#now();
    const found = passwd.entries(now, root).get(uid) ??
      passwd.entries(now, root, MISS_RECHECK_MS).get(uid);
    if (found === undefined && uid === 0 && key !== "" && !passwd.loaded) return CONTAINER_ROOT;
    return found;
  }

  /** True once the passwd file of view `key` has been read. */
  loaded(key: string): boolean {
    return this.#roots.get(key)?.passwd.loaded ?? false;
  }

  /**
   * Reads a view's files now, while `root` is still there (a short-lived container's files are
   * gone once its processes exit, and its events may be evaluated after that).
   */
  load(key: string, root: string): void {
    if (!this.#files) return;
    const t = this.#tables(key);
    if (t.passwd.loaded) return;
    const now = this.#now();
    t.passwd.entries(now, root, 0);
    t.group.entries(now, root, 0);
  }

  /** The group with `gid` in view `key`, whose files live under `root`. */
  group(gid: number, key = "", root = "/"): UserEntry | undefined {
    const extra = this.#extraGroups.get(key)?.get(gid);
    if (extra !== undefined || !this.#files) return extra;
    const group = this.#tables(key).group;
    const now = this.#now();
    return group.entries(now, root).get(gid) ?? group.entries(now, root, MISS_RECHECK_MS).get(gid);
  }

  /** The user or group with `id` that an event added to view `key` (see addUser, addGroup). */
  added(kind: "user" | "group", id: number, key = ""): UserEntry | undefined {
    return (kind === "user" ? this.#extraUsers : this.#extraGroups).get(key)?.get(id);
  }

  /** Records a user known from an event rather than a file (view `key`). */
  addUser(entry: UserEntry, key = ""): void {
    let m = this.#extraUsers.get(key);
    if (!m) this.#extraUsers.set(key, m = new Map());
    m.set(entry.id, entry);
  }

  /** Records a group known from an event rather than a file (view `key`). */
  addGroup(entry: UserEntry, key = ""): void {
    let m = this.#extraGroups.get(key);
    if (!m) this.#extraGroups.set(key, m = new Map());
    m.set(entry.id, entry);
  }

  /** Forgets a user or group added by an event. */
  removeUser(id: number, key = ""): void {
    this.#extraUsers.get(key)?.delete(id);
  }

  /** Forgets a group added by an event. */
  removeGroup(id: number, key = ""): void {
    this.#extraGroups.get(key)?.delete(id);
  }

  /** Forgets the tables of a view (e.g. a container that went away). */
  drop(key: string): void {
    this.#roots.delete(key);
    this.#extraUsers.delete(key);
    this.#extraGroups.delete(key);
  }
}
