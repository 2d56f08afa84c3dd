/**
 * The epoll waiter the live source blocks on when the ring is idle, over a real eventfd standing
 * for the ring: a wait with no timeout resolves true as soon as the fd is readable (also when it
 * already was), close() ends a wait in progress at once (resolving false), and a bounded wait
 * resolves false when it times out. An idle agent relies on the second: its wait has no timeout,
 * so nothing but input or close may end it.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { FdWaiter } from "../../src/kernel/libc.ts";

const lib = Deno.dlopen("libc.so.6", {
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
});
const EFD_NONBLOCK = 0o4000;

function eventfd(): number {
  const fd = lib.symbols.eventfd(0, EFD_NONBLOCK);
  assert(fd >= 0, "eventfd");
  return fd;
}
const signal = (fd: number) => lib.symbols.write(fd, new BigUint64Array([1n]), 8n);
const drain = (fd: number) => lib.symbols.read(fd, new BigUint64Array(1), 8n);

/** Resolves with the wait's result, or "pending" if it has not resolved after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | "pending"> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<"pending">((r) => t = setTimeout(() => r("pending"), ms)),
  ]).finally(() => clearTimeout(t));
}

Deno.test("fd waiter: an unbounded wait ends on input, and at once on close", async () => {
  const fd = eventfd();
  const w = new FdWaiter(fd);
  try {
    // Input that came before the wait counts (level-triggered).
    signal(fd);
    assertEquals(await within(w.wait(-1), 2000), true);
    drain(fd);

    // Nothing to read: the wait stays pending, then ends when input comes.
    const second = w.wait(-1);
    assertEquals(await within(second, 300), "pending");
    signal(fd);
    assertEquals(await within(second, 2000), true);
    drain(fd);

    // A bounded wait with nothing to read times out.
    const t0 = performance.now();
    assertEquals(await w.wait(50), false);
    assert(performance.now() - t0 >= 40, "the bounded wait returned before its timeout");

    // close() during an unbounded wait with nothing to read ends it, false.
    const third = w.wait(-1);
    assertEquals(await within(third, 200), "pending");
    const c0 = performance.now();
    w.close();
    assertEquals(await within(third, 2000), false);
    assert(performance.now() - c0 < 1000, "close took more than a second to end the wait");
    // Closed: later waits return false at once, even with input.
    signal(fd);
    assertEquals(await within(w.wait(-1), 500), false);
  } finally {
    w.close();
    lib.symbols.close(fd);
  }
});
