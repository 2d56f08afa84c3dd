/**
 * Unix datagram sockets through libc (Deno's own datagram API still needs an unstable flag):
 * a connected sender for syslog's /dev/log, and a bound receiver (tests, a local syslog stand-in).
 * Every call is non-blocking: a full receiver makes `send` fail with EAGAIN instead of stalling.
 * @module
 */

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const EAGAIN = 11;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  return (lib ??= Deno.dlopen("libc.so.6", SYMBOLS)).symbols;
}

function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** An error from a libc call, with its errno. */
export class SocketError extends Error {
  constructor(op: string, readonly errno: number, path: string) {
    const p = libc().strerror(errno);
    const text = p ? Deno.UnsafePointerView.getCString(p) : `errno ${errno}`;
    super(`${op} ${path}: ${text}`);
    this.name = "SocketError";
  }
}

/** sockaddr_un for `path`; a leading "@" names an abstract socket (as systemd writes them). */
function sockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length > 107) throw new Error(`unix socket path too long: ${path}`);
  const abstract = path.startsWith("@");
  // An abstract name is exactly its bytes after a NUL; a path ends with a NUL.
  const sa = new Uint8Array(2 + bytes.length + (abstract ? 0 : 1));
  sa[0] = AF_UNIX; // sa_family, little endian u16
  sa.set(bytes, 2);
  if (abstract) sa[2] = 0;
  return sa;
}

function open(path: string): number {
  const fd = libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new SocketError("socket", errno(), path);
  return fd;
}

/** A datagram socket connected to `path` (e.g. /dev/log). */
export class UnixDatagramSender {
  #fd = -1;
  constructor(readonly path: string) {}

  /** Sends one datagram; connects (again) first when needed. Throws SocketError on failure. */
  send(data: Uint8Array): void {
    if (this.#fd < 0) {
      const fd = open(this.path);
      const sa = sockaddr(this.path);
      if (libc().connect(fd, sa, sa.length) < 0) {
        const e = errno();
        libc().close(fd);
        throw new SocketError("connect", e, this.path);
      }
      this.#fd = fd;
    }
    const n = Number(libc().send(this.#fd, data, BigInt(data.length), MSG_DONTWAIT | MSG_NOSIGNAL));
    if (n < 0) {
      const e = errno();
      // The receiver may have restarted: reconnect next time (except when merely full).
      if (e !== EAGAIN) this.close();
      throw new SocketError("send", e, this.path);
    }
  }

  /** Closes the socket (the next send reconnects). */
  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }
}

/** A datagram socket bound to `path`, read by polling (tests and local receivers). */
export class UnixDatagramReceiver {
  #fd: number;
  #buf = new Uint8Array(65536);

  constructor(readonly path: string) {
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
    this.#fd = open(path);
    const sa = sockaddr(path);
    if (libc().bind(this.#fd, sa, sa.length) < 0) {
      const e = errno();
      libc().close(this.#fd);
      throw new SocketError("bind", e, path);
    }
  }

  /** The next datagram if one is waiting, else undefined. */
  tryReceive(): Uint8Array | undefined {
    const n = Number(libc().recv(this.#fd, this.#buf, BigInt(this.#buf.length), MSG_DONTWAIT));
    if (n < 0) {
      const e = errno();
      if (e === EAGAIN) return undefined;
      throw new SocketError("recv", e, this.path);
    }
    return this.#buf.slice(0, n);
  }

  /** Waits (polling every `pollMs`) for the next datagram, up to `timeoutMs`. */
  async receive(timeoutMs = 5000, pollMs = 5): Promise<Uint8Array> {
    const end = Date.now() + timeoutMs;
    while (true) {
      const d = this.tryReceive();
      if (d) return d;
      if (Date.now() > end) throw new Error(`no datagram on ${this.path} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Closes and unlinks the socket. */
  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
    try {
      Deno.removeSync(this.path);
    } catch { /* gone */ }
  }
}
