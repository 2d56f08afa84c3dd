/**
 * Watching rules and config files for changes. Editors and config managers often replace a file
 * (write a new one, rename it over the old), which ends a watch on the file itself; so the
 * parent directories are watched and events filtered by path. Bursts of events (one save makes
 * several) are debounced into one callback.
 *
 * A Kubernetes ConfigMap or Secret mount is a directory whose files are symlinks through
 * `..data`, itself a symlink the kubelet replaces to publish a new version of every file at
 * once: a change of `..data` in a watched directory counts as a change of the files watched
 * there. `builtin:` paths (files carried inside Saker) never change and are not watched.
 *
 * @example
 * ```ts
 * const w = new FileWatcher(["rules/", "config.yaml"], (changed) => reload(changed));
 * w.close();
 * ```
 * @module
 */
import { log } from "../log.ts";
import { isBuiltin } from "../assets.ts";

function dirname(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : p.slice(0, i);
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`.replace(/\/\.\//g, "/");
}

/** Watches paths (files or directories) and calls `onChange` once per burst of changes. */
export class FileWatcher {
  readonly #watchers: Deno.FsWatcher[] = [];
  readonly #targets: string[];
  readonly #dirs: Set<string>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #changed = new Set<string>();

  /** `debounceMs` groups the events of one save (default 300). */
  constructor(
    paths: string[],
    private readonly onChange: (changed: string[]) => void,
    private readonly debounceMs = 300,
  ) {
    this.#targets = paths.filter((p) => !isBuiltin(p)).map(absolute).map((p) =>
      p.replace(/\/+$/, "")
    );
    this.#dirs = new Set();
    for (const t of this.#targets) {
      let isDir = false;
      try {
        isDir = Deno.statSync(t).isDirectory;
      } catch { /* may appear later: watch the parent */ }
      this.#dirs.add(isDir ? t : dirname(t));
    }
    for (const d of this.#dirs) {
      try {
        const w = Deno.watchFs(d, { recursive: false });
        this.#watchers.push(w);
        this.#pump(w);
      } catch (err) {
        log.warn("cannot watch for changes", { path: d, error: err });
      }
    }
  }

  #relevant(path: string): boolean {
    const swapped = /\/\.\.data(_tmp)?$/.test(path) ? dirname(path) : undefined;
    for (const t of this.#targets) {
      if (path === t || path.startsWith(t + "/")) return true;
      if (swapped !== undefined && dirname(t) === swapped) return true;
    }
    return false;
  }

  async #pump(w: Deno.FsWatcher): Promise<void> {
    try {
      for await (const ev of w) {
        if (ev.kind === "access") continue;
        const paths = ev.paths.filter((p) => this.#relevant(p));
        if (paths.length === 0) continue;
        for (const p of paths) this.#changed.add(p);
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          const changed = [...this.#changed];
          this.#changed.clear();
          this.onChange(changed);
        }, this.debounceMs);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) log.warn("file watch ended", { error: err });
    }
  }

  /** Stops watching. */
  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) {
      try {
        w.close();
      } catch { /* closed */ }
    }
    this.#watchers.length = 0;
  }
}
