/**
 * `fs.path.*` fields: the path a successful file system call operated on, for calls that name a
 * path directly (mkdir, unlink, chmod, chown, rename, link, symlink, mount ...) as well as opens.
 * Unlike `fd.*`, these need no file descriptor, so one condition covers `chmod`, `fchmodat` and
 * `fchmod` alike (`fs.path.name = /tmp/x`), which sequence rules use to follow one file across
 * calls. As in Falco, a failed call has no value; `name`, `source` and `target` are resolved
 * (Saker resolves relative paths against the call's directory fd, or the working directory),
 * the `raw` variants are what the process passed.
 *
 * @example
 * ```ts
 * import { FS_FIELDS } from "./fs.ts";
 * FS_FIELDS.fields.map((f) => f.name); // ["fs.path.name", "fs.path.nameraw", ...]
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef } from "./registry.ts";
import { resolvePath } from "../../state/resolve.ts";
import { AT_FDCWD } from "../../events/params.ts";

/** Where an event's path is: a parameter (with its directory fd parameter), or its fd. */
type PathSource = { param: string; dirfd?: string } | "fd";

/** The path each event operates on (fs.path.name). */
const PATHS: Record<string, PathSource> = {
  mkdir: { param: "path" },
  mkdirat: { param: "path", dirfd: "dirfd" },
  rmdir: { param: "path" },
  unlink: { param: "path" },
  unlinkat: { param: "name", dirfd: "dirfd" },
  open: { param: "name" },
  openat: { param: "name", dirfd: "dirfd" },
  openat2: { param: "name", dirfd: "dirfd" },
  chmod: { param: "filename" },
  fchmodat: { param: "filename", dirfd: "dirfd" },
  fchmod: "fd",
  chown: { param: "path" },
  lchown: { param: "path" },
  fchown: "fd",
  fchownat: { param: "pathname", dirfd: "dirfd" },
  quotactl: { param: "special" },
  umount: { param: "name" },
  umount2: { param: "name" },
};

/** The source and target paths of events that have two (Falco's choice of which is which). */
const SOURCES: Record<string, PathSource> = {
  rename: { param: "oldpath" },
  renameat: { param: "oldpath", dirfd: "olddirfd" },
  renameat2: { param: "oldpath", dirfd: "olddirfd" },
  link: { param: "newpath" },
  linkat: { param: "newpath", dirfd: "newdir" },
  symlink: { param: "linkpath" },
  symlinkat: { param: "linkpath", dirfd: "linkdirfd" },
  mount: { param: "dev" },
};
const TARGETS: Record<string, PathSource> = {
  rename: { param: "newpath" },
  renameat: { param: "newpath", dirfd: "newdirfd" },
  renameat2: { param: "newpath", dirfd: "newdirfd" },
  link: { param: "oldpath" },
  linkat: { param: "oldpath", dirfd: "olddir" },
  symlink: { param: "target" },
  symlinkat: { param: "target" },
  mount: { param: "dir" },
};

const OPENS = new Set(["open", "openat", "openat2"]);

/** Whether the call succeeded (opens: a file descriptor came back; others: 0). */
function succeeded(ev: Event): boolean {
  const name = ev.info.name;
  const res = ev.arg(OPENS.has(name) ? "fd" : "res");
  const n = typeof res === "bigint" ? Number(res) : res;
  return typeof n === "number" && (OPENS.has(name) ? n >= 0 : n === 0);
}

function pathOf(ev: Event, table: Record<string, PathSource>, raw: boolean): string | undefined {
  if (ev.info.dir !== "<") return undefined;
  const src = table[ev.info.name];
  if (src === undefined || !succeeded(ev)) return undefined;
  if (src === "fd") {
    const fd = ev.fdInfo ?? (ev.fdNum >= 0 ? ev.thread?.proc.fds.get(ev.fdNum) : undefined);
    return fd?.name || undefined;
  }
  const p = ev.arg(src.param);
  if (typeof p !== "string" || p === "") return undefined;
  if (raw) return p;
  const dirfd = src.dirfd === undefined ? AT_FDCWD : ev.arg(src.dirfd);
  const dir = typeof dirfd === "bigint" ? Number(dirfd) : dirfd;
  return resolvePath(ev.thread, typeof dir === "number" ? dir : AT_FDCWD, p);
}

function pathField(
  name: string,
  desc: string,
  table: Record<string, PathSource>,
  raw: boolean,
): FieldDef {
  return {
    name,
    type: "charbuf",
    desc,
    extract: (ev) => pathOf(ev, table, raw),
    eventTypes: Object.keys(table),
  };
}

/** The `fs.path` field class. */
export const FS_FIELDS: FieldClassSpec = {
  name: "fs.path",
  desc: "The path a successful file system call operated on, for calls that take a path " +
    "(mkdir, unlink, chmod, chown, rename, link, symlink, mount ...) and opens; unlike fd.*, " +
    "no file descriptor is needed.",
  fields: [
    pathField(
      "fs.path.name",
      "The path the call operated on, resolved against the working directory or directory fd.",
      PATHS,
      false,
    ),
    pathField("fs.path.nameraw", "The path the call operated on, as passed.", PATHS, true),
    pathField(
      "fs.path.source",
      "The source path of a call with two (rename, link, symlink, mount), resolved.",
      SOURCES,
      false,
    ),
    pathField(
      "fs.path.sourceraw",
      "The source path of a call with two (rename, link, symlink, mount), as passed.",
      SOURCES,
      true,
    ),
    pathField(
      "fs.path.target",
      "The target path of a call with two (rename, link, symlink, mount), resolved.",
      TARGETS,
      false,
    ),
    pathField(
      "fs.path.targetraw",
      "The target path of a call with two (rename, link, symlink, mount), as passed.",
      TARGETS,
      true,
    ),
  ],
};
