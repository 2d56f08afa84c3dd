/**
 * Path arithmetic for file descriptors: relative paths are resolved against the process's
 * working directory or a directory fd, then normalised (`.`/`..` and repeated slashes removed),
 * so `fd.name` is the absolute path and `fd.nameraw` what the process passed.
 *
 * @example
 * ```ts
 * import { joinPath, normalizePath } from "./paths.ts";
 * normalizePath("/etc/../etc//passwd"); // "/etc/passwd"
 * joinPath("/home/u", "../../etc/shadow"); // "/etc/shadow"
 * ```
 * @module
 */

/** Normalises an absolute path lexically; `..` at the root stays at the root. */
export function normalizePath(path: string): string {
  if (isNormal(path)) return path;
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/**
 * A string function remembered for the last few thousand arguments. Rules ask for the directory
 * or base name of the same paths over and over; a Map hit (the path's hash is kept by V8) costs
 * less than finding the slash and slicing, and returns the same string every time, whose hash V8
 * also keeps for the Set lookups of `in` lists.
 */
function remembered(fn: (s: string) => string, max = 4096): (s: string) => string {
  const seen = new Map<string, string>();
  // The last argument and result beside the map: consecutive events mostly carry the same path
  // (the same string object), which is then one comparison instead of a map lookup.
  let last: string | undefined = undefined;
  let lastResult = "";
  return (s) => {
    if (s === last) return lastResult;
    let r = seen.get(s);
    if (r === undefined) {
      r = fn(s);
      if (seen.size >= max) seen.clear();
      seen.set(s, r);
    }
    last = s;
    lastResult = r;
    return r;
  };
}

/**
 * Absolute paths as processes pass them (the same strings come back: decoding returns the same
 * string object for the same bytes), normalised once each.
 */
const normalizeAbsolute = remembered((path) => normalizePath(path));

/**
 * True when `path` is absolute and already normal: no empty, `.` or `..` segment and no trailing
 * slash (hidden names such as `/.ssh` are normal). One pass over the characters, most paths
 * take no other.
 */
function isNormal(path: string): boolean {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== 47) return false;
  if (n === 1) return true;
  if (path.charCodeAt(n - 1) === 47) return false;
  let prev = 47;
  for (let i = 1; i < n; i++) {
    const c = path.charCodeAt(i);
    if (prev === 47) {
      if (c === 47) return false; // "//"
      if (c === 46) {
        // "/." starts a "." or ".." segment when followed by "/" (or the end), or by "./" (or
        // the end); anything else is a hidden name.
        const c1 = i + 1 < n ? path.charCodeAt(i + 1) : 47;
        if (c1 === 47) return false;
        if (c1 === 46 && (i + 2 >= n || path.charCodeAt(i + 2) === 47)) return false;
      }
    }
    prev = c;
  }
  return true;
}

/** Resolves `name` against directory `dir` (absolute), normalised. Absolute names ignore `dir`. */
export function joinPath(dir: string, name: string): string {
  if (name.charCodeAt(0) === 47) return normalizeAbsolute(name);
  if (name === "") return normalizePath(dir);
  return normalizePath(
    dir.length > 0 && dir.charCodeAt(dir.length - 1) === 47 ? dir + name : dir + "/" + name,
  );
}

/** Collapses repeated slashes (how `fd.nameraw` shows a raw path). */
export function squashSlashes(path: string): string {
  return path.indexOf("//") < 0 ? path : path.replace(/\/{2,}/g, "/");
}

const dirNameOf = remembered((path) => {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
});

const baseNameOf = remembered((path) => {
  const i = path.lastIndexOf("/");
  return i < 0 || i === path.length - 1 ? path : path.slice(i + 1);
});

/** Directory part of an absolute file path (`/` for top-level files). */
export function dirName(path: string): string {
  return dirNameOf(path);
}

/** Last component of a path. */
export function baseName(path: string): string {
  return baseNameOf(path);
}
