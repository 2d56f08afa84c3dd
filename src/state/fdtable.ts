/**
 * A process's file descriptor table: fd number → {@link FdInfo}, with the Map methods state
 * and fields use (get, set, has, delete, size, iteration).
 *
 * Why not a Map: every open, close, read and write looks an fd up, and opens and closes insert
 * and remove one. With small integer keys a Map costs ~40 ns per set/get/delete round; a dense
 * array indexed by fd number costs ~2. fd numbers are small (the kernel hands out the lowest
 * free one), so numbers below {@link DENSE_LIMIT} live in the array, which grows to the highest
 * number used; any other number (huge or negative, e.g. from a corrupt capture) goes to a Map.
 * Iteration is in ascending fd order.
 *
 * @example
 * ```ts
 * import { FdTable } from "./fdtable.ts";
 * import { FD_TYPE, FdInfo } from "./model.ts";
 * const fds = new FdTable();
 * fds.set(3, new FdInfo(3, FD_TYPE.FILE, "/etc/hosts"));
 * fds.get(3)?.name; // "/etc/hosts"
 * fds.delete(3);
 * fds.size; // 0
 * ```
 * @module
 */
import type { FdInfo } from "./model.ts";

/** fd numbers below this are kept in the dense array. */
export const DENSE_LIMIT = 1 << 16;

/** File descriptors of a process by number. */
export class FdTable implements Iterable<[number, FdInfo]> {
  #dense: (FdInfo | undefined)[] = [];
  #sparse: Map<number, FdInfo> | undefined = undefined;
  #size = 0;

  /** A table holding the entries of `from` (a copy, e.g. for a fork without CLONE_FILES). */
  constructor(from?: Iterable<[number, FdInfo]>) {
    if (from !== undefined) { for (const [n, fd] of from) this.set(n, fd); }
  }

  /** Number of open fds. */
  get size(): number {
    return this.#size;
  }

  /** The fd numbered `n`, if open. */
  get(n: number): FdInfo | undefined {
    const d = this.#dense;
    if (n >= 0 && n < d.length) return d[n];
    return this.#sparse?.get(n);
  }

  /** True when fd `n` is open. */
  has(n: number): boolean {
    return this.get(n) !== undefined;
  }

  /** Sets fd `n`. */
  set(n: number, fd: FdInfo): this {
    const d = this.#dense;
    if ((n | 0) === n && n >= 0 && n < d.length) {
      if (d[n] === undefined) this.#size++;
      d[n] = fd;
    } else if ((n | 0) === n && n >= 0 && n < DENSE_LIMIT) {
      // Grow to twice the size (at least to n), filled with undefined: a packed array.
      const want = Math.min(DENSE_LIMIT, Math.max(n + 1, 2 * d.length, 8));
      while (d.length < want) d.push(undefined);
      d[n] = fd;
      this.#size++;
    } else {
      const s = this.#sparse ??= new Map();
      if (!s.has(n)) this.#size++;
      s.set(n, fd);
    }
    return this;
  }

  /** Removes fd `n`; true when it was open. */
  delete(n: number): boolean {
    const d = this.#dense;
    if ((n | 0) === n && n >= 0 && n < d.length) {
      if (d[n] === undefined) return false;
      d[n] = undefined;
      this.#size--;
      return true;
    }
    if (this.#sparse?.delete(n)) {
      this.#size--;
      return true;
    }
    return false;
  }

  /** Removes every fd. */
  clear(): void {
    this.#dense = [];
    this.#sparse = undefined;
    this.#size = 0;
  }

  /** [number, fd] pairs in ascending number order (deleting while iterating is safe). */
  *entries(): IterableIterator<[number, FdInfo]> {
    const d = this.#dense;
    for (let n = 0; n < d.length; n++) {
      const fd = d[n];
      if (fd !== undefined) yield [n, fd];
    }
    if (this.#sparse !== undefined) {
      yield* [...this.#sparse.entries()].sort((a, b) => a[0] - b[0]);
    }
  }

  /** Open fd numbers in ascending order. */
  *keys(): IterableIterator<number> {
    for (const [n] of this.entries()) yield n;
  }

  /** Open fds in ascending number order. */
  *values(): IterableIterator<FdInfo> {
    for (const [, fd] of this.entries()) yield fd;
  }

  /** Calls `fn(fd, number)` for each open fd, as Map.forEach does. */
  forEach(fn: (fd: FdInfo, n: number) => void): void {
    for (const [n, fd] of this.entries()) fn(fd, n);
  }

  [Symbol.iterator](): IterableIterator<[number, FdInfo]> {
    return this.entries();
  }
}
