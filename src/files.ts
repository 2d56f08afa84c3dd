/**
 * Files that hold alerts or events (the alert store and its SQLite companions, the file output,
 * capture files) carry command lines, environments, paths and user names: they are created
 * readable by their owner only (0600), or also by one configured group (0640, owned by that
 * group), from their first byte. The mode is given to open(2) itself with a umask that cannot
 * widen it, never fixed afterwards by a chmod, so no other user can open the file in between.
 * Files SQLite creates next to a database (`-wal`, `-shm`, `-journal`) take the database file's
 * mode and group, so preparing the database file is enough for them.
 *
 * @example
 * ```ts
 * import { openPrivate, privateMode } from "./files.ts";
 * const f = openPrivate("/var/log/saker/alerts.log", { append: true });
 * privateMode(); // 0o600
 * f.close();
 * ```
 * @module
 */

/** Who besides the owner may read: a group id, or nobody (undefined). */
export interface FileAccess {
  /** Group allowed to read the file (mode 0640); undefined: owner only (0600). */
  group?: number;
}

/** The mode of a private file: 0600, or 0640 when a group may read it. */
export function privateMode(group?: number): number {
  return group === undefined ? 0o600 : 0o640;
}

/**
 * Runs `create` (synchronous: no other JavaScript runs meanwhile) with a umask that removes
 * every permission a private file must not have, and restores the umask.
 */
export function withPrivateUmask<T>(access: FileAccess, create: () => T): T {
  const previous = Deno.umask(access.group === undefined ? 0o077 : 0o027);
  try {
    return create();
  } finally {
    Deno.umask(previous);
  }
}

/** Gives an existing private file its mode and group (an older, wider file is narrowed). */
export function narrowFile(path: string, access: FileAccess): void {
  if (access.group !== undefined) Deno.chownSync(path, null, access.group);
  Deno.chmodSync(path, privateMode(access.group));
}

/** Options of {@link openPrivate}. */
export interface OpenPrivateOptions extends FileAccess {
  /** Append to an existing file (default: write from the start). */
  append?: boolean;
  /** Empty an existing file. */
  truncate?: boolean;
}

/**
 * Opens `path` for writing, creating it private when it does not exist (an existing file keeps
 * the mode its owner gave it).
 */
export function openPrivate(path: string, opts: OpenPrivateOptions = {}): Deno.FsFile {
  const file = withPrivateUmask(opts, () =>
    Deno.openSync(path, {
      write: true,
      append: opts.append,
      truncate: opts.truncate,
      create: true,
      mode: privateMode(opts.group),
    }));
  try {
    if (opts.group !== undefined && file.statSync().gid !== opts.group) {
      Deno.chownSync(path, null, opts.group);
    }
  } catch (err) {
    file.close();
    throw err;
  }
  return file;
}

/**
 * Creates `path` empty and private when it does not exist, or narrows it when it does (SQLite
 * then creates its companion files with the same mode and group).
 */
export function preparePrivate(path: string, access: FileAccess = {}): void {
  let exists = false;
  try {
    exists = Deno.statSync(path).isFile;
  } catch { /* created below */ }
  if (exists) {
    narrowFile(path, access);
    return;
  }
  withPrivateUmask(
    access,
    () =>
      Deno.openSync(path, { write: true, create: true, mode: privateMode(access.group) }).close(),
  );
  if (access.group !== undefined) Deno.chownSync(path, null, access.group);
}

/**
 * A group given by name (looked up in /etc/group) or number, as a group id; throws naming the
 * group when there is no such group.
 */
export function resolveGroup(group: string | number, groupFile = "/etc/group"): number {
  if (typeof group === "number") return group;
  if (/^\d+$/.test(group)) return Number(group);
  let text = "";
  try {
    text = Deno.readTextFileSync(groupFile);
  } catch { /* no group file: unknown */ }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`no group named '${group}' in ${groupFile}`);
}
