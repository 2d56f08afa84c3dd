/**
 * The few libc functions the kernel side needs through Deno FFI: mmap for reading the ring
 * buffer in place, clocks for turning the probe's boot-time stamps into UTC, errno, vsnprintf
 * for libbpf's log messages, and malloc_trim and madvise for handing memory the agent no longer
 * uses back to the system.
 * @module
 */

const symbols = {
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  vsnprintf: { parameters: ["buffer", "usize", "pointer", "pointer"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  malloc_trim: { parameters: ["usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

/** epoll_wait on a thread of its own: the caller's event loop keeps running while it waits. */
const waitSymbols = {
  epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
} as const;
let waitLib: Deno.DynamicLibrary<typeof waitSymbols>["symbols"] | undefined;

type Libc = Deno.DynamicLibrary<typeof symbols>["symbols"];
let lib: Libc | undefined;

/** The libc symbols (opened on first use). */
export function libc(): Libc {
  if (!lib) lib = Deno.dlopen("libc.so.6", symbols).symbols;
  return lib;
}

/**
 * An epoll instance watching one fd for input (a BPF ring buffer map is readable when it holds
 * records). `wait` resolves true when the fd is readable, false on timeout or once `close` was
 * called; each wait costs ~50-120 us (a call on another thread), so it is for waiting, not for
 * hot paths. A wait may be unbounded (timeout -1): `close` ends it through an eventfd in the same
 * epoll set, so that a waiter needs no periodic wake-up to notice it is no longer wanted.
 */
export class FdWaiter {
  #epfd: number;
  #wakeFd: number;
  #events = new Uint8Array(12); // struct epoll_event (packed on x86_64)
  #busy = false;
  #closing = false;

  constructor(fd: number) {
    const epfd = libc().epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) throw new Error(`epoll_create1 failed: ${strerror(errno())}`);
    const wakeFd = libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd < 0) {
      const e = errno();
      libc().close(epfd);
      throw new Error(`eventfd failed: ${strerror(e)}`);
    }
    for (const [watched, tag] of [[fd, 0], [wakeFd, 1]]) {
      const ev = new Uint8Array(12);
      const v = new DataView(ev.buffer);
      v.setUint32(0, 1, true); // EPOLLIN
      v.setUint32(4, tag, true); // data: which fd
      if (libc().epoll_ctl(epfd, 1, watched, ev) !== 0) { // EPOLL_CTL_ADD
        const e = errno();
        libc().close(wakeFd);
        libc().close(epfd);
        throw new Error(`epoll_ctl failed: ${strerror(e)}`);
      }
    }
    this.#epfd = epfd;
    this.#wakeFd = wakeFd;
  }

  /** Waits up to `timeoutMs` (-1: until input or close) for input on the watched fd. */
  async wait(timeoutMs: number): Promise<boolean> {
    if (this.#epfd < 0 || this.#busy || this.#closing) return false;
    if (!waitLib) waitLib = Deno.dlopen("libc.so.6", waitSymbols).symbols;
    this.#busy = true;
    try {
      const n = await waitLib.epoll_wait(this.#epfd, this.#events, 1, timeoutMs);
      return n > 0 && !this.#closing && new DataView(this.#events.buffer).getUint32(4, true) === 0;
    } finally {
      this.#busy = false;
      if (this.#closing) this.close();
    }
  }

  /** Ends a wait in progress (it resolves false) and closes the epoll instance once it has. */
  close(): void {
    this.#closing = true;
    if (this.#epfd < 0) return;
    if (this.#busy) {
      libc().write(this.#wakeFd, new BigUint64Array([1n]), 8n);
      return;
    }
    libc().close(this.#epfd);
    libc().close(this.#wakeFd);
    this.#epfd = this.#wakeFd = -1;
  }
}

const EPOLL_CLOEXEC = 0o2000000;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

/** mmap protection: pages may be read. */
export const PROT_READ = 1;
/** mmap protection: pages may be written. */
export const PROT_WRITE = 2;
/** mmap flag: the mapping is shared with the file (the ring's pages). */
export const MAP_SHARED = 1;

const CLOCK_REALTIME = 0;
const CLOCK_BOOTTIME = 7;
const _SC_PAGESIZE = 30;

/** The current errno value (meaningful right after a failed call). */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** Text of an errno value. */
export function strerror(code: number): string {
  const p = libc().strerror(code);
  return p ? Deno.UnsafePointerView.getCString(p) : `errno ${code}`;
}

/** Memory page size. */
export function pageSize(): number {
  return Number(libc().sysconf(_SC_PAGESIZE));
}

function clockNs(clock: number): bigint {
  const ts = new BigInt64Array(2);
  libc().clock_gettime(clock, ts);
  return ts[0] * 1_000_000_000n + ts[1];
}

/**
 * UTC nanoseconds minus boot-time nanoseconds: add it to a bpf_ktime_get_boot_ns() stamp to
 * get UTC. Taken as the tightest of a few paired readings.
 */
export function bootEpochNs(): bigint {
  let best = 0n;
  let bestGap = -1n;
  for (let i = 0; i < 5; i++) {
    const b1 = clockNs(CLOCK_BOOTTIME);
    const r = clockNs(CLOCK_REALTIME);
    const b2 = clockNs(CLOCK_BOOTTIME);
    const gap = b2 - b1;
    if (bestGap < 0n || gap < bestGap) {
      bestGap = gap;
      best = r - (b1 + gap / 2n);
    }
  }
  return best;
}

/** Boot-time clock now, in nanoseconds (the probe's time base). */
export function bootTimeNs(): bigint {
  return clockNs(CLOCK_BOOTTIME);
}

/** Maps `length` bytes of `fd` at `offset`; throws with errno text on failure. */
export function mmap(length: number, prot: number, fd: number, offset: number): Deno.PointerObject {
  const p = libc().mmap(null, BigInt(length), prot, MAP_SHARED, fd, BigInt(offset));
  // MAP_FAILED is (void*)-1.
  if (!p || Deno.UnsafePointer.value(p) === 0xffff_ffff_ffff_ffffn) {
    const e = errno();
    throw new Error(`mmap of ${length} bytes failed: ${strerror(e)}`);
  }
  return p;
}

/** Unmaps a mapping made by {@link mmap}. */
export function munmap(p: Deno.PointerObject, length: number): void {
  libc().munmap(p, BigInt(length));
}
