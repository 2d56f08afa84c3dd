/**
 * `log_syslog`: the agent's log messages also go to the local syslog socket, as Falco sends
 * them (facility user, severity from the log level). A socket that is missing or full is said
 * once on stderr and retried with the next message, so logging never stops the agent.
 *
 * @example
 * ```ts
 * import { setLogSinks } from "../log.ts";
 * import { syslogLogSink } from "./log_syslog.ts";
 * setLogSinks({ stderr: true, extra: syslogLogSink("/dev/log") });
 * ```
 * @module
 */
import type { LogLevel } from "../log.ts";
import { FACILITIES, syslogHeader } from "../outputs/syslog.ts";
import { UnixDatagramSender } from "../outputs/unix_dgram.ts";

const SEVERITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

/** A log sink sending each message as one syslog datagram to `path`. */
export function syslogLogSink(path: string): (level: LogLevel, message: string) => void {
  const sender = new UnixDatagramSender(path);
  const enc = new TextEncoder();
  let failing = false;
  return (level, message) => {
    const header = syslogHeader(FACILITIES.user, SEVERITY[level], "saker", Deno.pid, new Date());
    try {
      sender.send(enc.encode(header + message));
      failing = false;
    } catch (err) {
      if (failing) return;
      failing = true;
      try {
        Deno.stderr.writeSync(
          enc.encode(`log_syslog: cannot log to ${path}: ${(err as Error).message}\n`),
        );
      } catch { /* stderr closed */ }
    }
  };
}
