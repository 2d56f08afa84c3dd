/**
 * The systemd service protocol (sd_notify), without libsystemd: with `Type=notify` the agent
 * says READY=1 once its probe is attached and its rules loaded, STOPPING=1 when it shuts down,
 * and, with `WatchdogSec=`, WATCHDOG=1 at half the watchdog interval while its pipelines are
 * healthy. A stalled pipeline stops the pings, so systemd restarts the agent
 * (`Restart=on-failure`), as a Kubernetes liveness probe on /healthz would.
 *
 * Does nothing when NOTIFY_SOCKET is unset (not started by systemd).
 *
 * @example
 * ```ts
 * import { SystemdNotifier } from "./systemd.ts";
 * const n = SystemdNotifier.fromEnv(Deno.env.toObject(), () => ({ ok: true }));
 * n?.ready(); // READY=1, then WATCHDOG=1 every WATCHDOG_USEC/2
 * n?.stopping();
 * ```
 * @module
 */
import { UnixDatagramSender } from "../outputs/unix_dgram.ts";
import { log } from "../log.ts";

/** Sends sd_notify messages over NOTIFY_SOCKET. */
export class SystemdNotifier {
  #sender: UnixDatagramSender;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    socket: string,
    private readonly watchdogMs: number | undefined,
    private readonly healthy: () => { ok: boolean; reason?: string },
  ) {
    this.#sender = new UnixDatagramSender(socket);
  }

  /**
   * A notifier when systemd asked for one (NOTIFY_SOCKET; WATCHDOG_USEC, for this process when
   * WATCHDOG_PID says so), else undefined.
   */
  static fromEnv(
    env: Record<string, string | undefined>,
    healthy: () => { ok: boolean; reason?: string },
    pid = Deno.pid,
  ): SystemdNotifier | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    const watchdogMs = Number.isFinite(usec) && usec > 0 && forUs ? usec / 1000 : undefined;
    return new SystemdNotifier(socket, watchdogMs, healthy);
  }

  #send(text: string): void {
    try {
      this.#sender.send(new TextEncoder().encode(text));
    } catch (err) {
      log.warn("systemd notification failed", { message: text, error: err });
    }
  }

  /** READY=1, and the watchdog pings from now on. */
  ready(): void {
    this.#send("READY=1\nSTATUS=running");
    if (this.watchdogMs === undefined) return;
    let wasOk = true;
    this.#timer = setInterval(() => {
      const h = this.healthy();
      if (h.ok) this.#send("WATCHDOG=1");
      else if (wasOk) log.warn("unhealthy: systemd watchdog pings stopped", { reason: h.reason });
      wasOk = h.ok;
    }, Math.max(10, this.watchdogMs / 2));
    Deno.unrefTimer(this.#timer);
  }

  /** STOPPING=1; the watchdog pings end. */
  stopping(): void {
    clearInterval(this.#timer);
    this.#send("STOPPING=1");
    this.#sender.close();
  }
}
