/**
 * `syslog_output`: each alert as one datagram to the local syslog socket (/dev/log), in the
 * format the C library's syslog() sends: `<PRI>Mmm dd hh:mm:ss saker[PID]: line`, where PRI
 * combines the facility with the severity matching the alert priority (Emergency = 0 ...
 * Debug = 7, the same numbering as syslog's levels).
 *
 * @example
 * ```ts
 * syslogHeader(FACILITIES.local0, 4, "saker", 1234, new Date()); // "<132>Dec  4 03:00:00 saker[1234]: "
 * const out = new SyslogOutput({ json: false, facility: "local0" });
 * ```
 * @module
 */
import { priorityRank } from "../rules/alert.ts";
import type { AlertOutput, FormattedAlert } from "./output.ts";
import { OutputWriteError } from "./output.ts";
import { UnixDatagramSender } from "./unix_dgram.ts";

/** Syslog facility names and codes. */
export const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Options of the syslog output. */
export interface SyslogOptions {
  /** `json_output`. */
  json: boolean;
  /** Socket path (default /dev/log). */
  path?: string;
  /** Facility name (default user). */
  facility?: string;
  /** Program name in each message (default saker). */
  ident?: string;
}

/** The syslog header for a message of severity `severity`, at `now`. */
export function syslogHeader(
  facility: number,
  severity: number,
  ident: string,
  pid: number,
  now: Date,
): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const stamp = `${MONTHS[now.getMonth()]} ${String(now.getDate()).padStart(2, " ")} ` +
    `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
  return `<${facility * 8 + severity}>${stamp} ${ident}[${pid}]: `;
}

/** Sends alerts to syslog. */
export class SyslogOutput implements AlertOutput {
  readonly name = "syslog";
  readonly #json: boolean;
  readonly #facility: number;
  readonly #ident: string;
  readonly #sender: UnixDatagramSender;
  readonly #enc = new TextEncoder();

  constructor(opts: SyslogOptions) {
    this.#json = opts.json;
    const f = FACILITIES[opts.facility ?? "user"];
    if (f === undefined) throw new Error(`unknown syslog facility ${opts.facility}`);
    this.#facility = f;
    this.#ident = opts.ident ?? "saker";
    this.#sender = new UnixDatagramSender(opts.path ?? "/dev/log");
  }

  write(batch: FormattedAlert[]): Promise<void> {
    const now = new Date();
    for (let i = 0; i < batch.length; i++) {
      const a = batch[i];
      const msg = syslogHeader(
        this.#facility,
        priorityRank(a.alert.priority),
        this.#ident,
        Deno.pid,
        now,
      ) + a.line(this.#json);
      try {
        this.#sender.send(this.#enc.encode(msg));
      } catch (err) {
        return Promise.reject(new OutputWriteError((err as Error).message, i));
      }
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#sender.close();
    return Promise.resolve();
  }
}
