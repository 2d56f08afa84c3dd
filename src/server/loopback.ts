/**
 * Telling an address to listen on that only this host can reach from one that others can: the
 * API refuses to serve the second kind without a token (see the config check of
 * `webserver.listen_address`) unless told otherwise.
 *
 * @example
 * ```ts
 * import { isLoopbackAddress } from "./loopback.ts";
 * isLoopbackAddress("127.0.0.1"); // true
 * isLoopbackAddress("0.0.0.0"); // false
 * ```
 * @module
 */

/**
 * Whether an address to listen on is reachable from this host only: 127.0.0.0/8, ::1 (also as
 * an IPv4-mapped address) or `localhost`. Wildcards (0.0.0.0, ::), other addresses and other
 * host names are not.
 */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (a === "localhost" || a === "::1" || a === "0:0:0:0:0:0:0:1") return true;
  const v4 = a.startsWith("::ffff:") ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
