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
  // Fast path: already normal (no "//", no "/." segment, no trailing slash).
  if (
    path.length > 0 && path.charCodeAt(0) === 47 && path.indexOf("//") < 0 &&
    path.indexOf("/.") < 0 && (path.length === 1 || path.charCodeAt(path.length - 1) !== 47)
  ) {
    return path;
  }
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** Resolves `name` against directory `dir` (absolute), normalised. Absolute names ignore `dir`. */
export function joinPath(dir: string, name: string): string {
  if (name.charCodeAt(0) === 47) return normalizePath(name);
  if (name === "") return normalizePath(dir);
  return normalizePath(
    dir.length > 0 && dir.charCodeAt(dir.length - 1) === 47 ? dir + name : dir + "/" + name,
  );
}

/** Collapses repeated slashes (how `fd.nameraw` shows a raw path). */
export function squashSlashes(path: string): string {
  return path.indexOf("//") < 0 ? path : path.replace(/\/{2,}/g, "/");
}

/** Directory part of an absolute file path (`/` for top-level files). */
export function dirName(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Last component of a path. */
export function baseName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 || i === path.length - 1 ? path : path.slice(i + 1);
}
