/**
 * The few libc functions the kernel side needs through Deno FFI: mmap for reading the ring
 * buffer in place, clocks for turning the probe's boot-time stamps into UTC, errno, and
 * vsnprintf for libbpf's log messages.
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
} as const;

type Libc = Deno.DynamicLibrary<typeof symbols>["symbols"];
let lib: Libc | undefined;

/** The libc symbols (opened on first use). */
export function libc(): Libc {
  if (!lib) lib = Deno.dlopen("libc.so.6", symbols).symbols;
  return lib;
}

/** Protection and mapping flags for mmap. */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
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
