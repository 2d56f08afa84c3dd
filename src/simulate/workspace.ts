/**
 * A temporary directory plus a stack of cleanup steps, so that every action removes what it
 * made (files, processes, namespaces, containers) even when it fails halfway.
 *
 * @example
 * ```ts
 * const ws = await Workspace.open("saker-sim-");
 * ws.defer(() => removeIfPresent("/etc/saker-sim-x")); // runs even when the action fails
 * await ws.close(); // cleanups in reverse order, then the directory
 * ```
 * @module
 */

/** A cleanup step; errors are collected, not thrown. */
export type Cleanup = () => void | Promise<void>;

/** Temporary directory and cleanup stack of one action. */
export class Workspace {
  #cleanups: Cleanup[] = [];
  #closed = false;

  private constructor(
    /** The action's private temporary directory (mode 0700). */
    readonly dir: string,
  ) {}

  /** Makes a workspace with a fresh directory under the system temp dir. */
  static async open(prefix: string): Promise<Workspace> {
    const dir = await Deno.makeTempDir({ prefix });
    await Deno.chmod(dir, 0o700);
    const ws = new Workspace(dir);
    ws.defer(() => Deno.remove(dir, { recursive: true }));
    return ws;
  }

  /** Registers a cleanup step; steps run in reverse order of registration. */
  defer(step: Cleanup): void {
    if (this.#closed) throw new Error("workspace already closed");
    this.#cleanups.push(step);
  }

  /** Path of a name inside the workspace directory. */
  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** Runs every cleanup step (last first); returns the errors of those that failed. */
  async close(): Promise<string[]> {
    if (this.#closed) return [];
    this.#closed = true;
    const errors: string[] = [];
    for (const step of this.#cleanups.reverse()) {
      try {
        await step();
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) errors.push(String(err));
      }
    }
    return errors;
  }
}

/** Removes a file if it exists (cleanup helper). */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** A short random suffix for names that must not collide between runs. */
export function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
