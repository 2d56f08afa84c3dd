/**
 * Socket addresses and tuples as text, the one place that writes them: `10.0.0.2:40108->
 * 10.0.0.1:443` for connected IPv4/IPv6 sockets, `0.0.0.0:8080` for listening ones, IPv4-mapped
 * IPv6 addresses shown as plain IPv4, unix sockets as `ptr->ptr path`, as libsinsp renders them
 * for both `fd.name` and event arguments (`evt.arg.tuple`, `saker capture` lines).
 *
 * @example
 * ```ts
 * import { tupleName } from "./sockets.ts";
 * tupleName("10.0.0.2", 40108, "10.0.0.1", 443); // "10.0.0.2:40108->10.0.0.1:443"
 * ```
 * @module
 */
import type { SockAddr, SockTuple } from "./params.ts";

/** scap address families. */
export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16 } as const;

/** `client:port->server:port`. */
export function tupleName(cip: string, cport: number, sip: string, sport: number): string {
  return `${cip}:${cport}->${sip}:${sport}`;
}

/** Strips the `::ffff:` prefix of an IPv4-mapped IPv6 address. */
export function unmapV4(ip: string): string {
  return ip.startsWith("::ffff:") && ip.indexOf(".") > 0 ? ip.slice(7) : ip;
}

/** True for an IPv4-mapped IPv6 address or the IPv6 unspecified address used by v4 sockets. */
export function isMappedV4(ip: string): boolean {
  return ip.startsWith("::ffff:") && ip.indexOf(".") > 0;
}

/** Renders a socket address parameter as Falco prints it (`ip:port`, or the unix path). */
export function sockAddrText(a: SockAddr | null | undefined): string {
  if (!a) return "";
  if (a.family === AF.INET || a.family === AF.INET6) return `${unmapV4(a.addr)}:${a.port}`;
  return a.addr;
}

/** Renders a socket tuple parameter (`sip:sport->dip:dport`, or `ptr->ptr path` for unix). */
export function sockTupleText(t: SockTuple | null | undefined): string {
  if (!t) return "";
  if (t.family === AF.INET || t.family === AF.INET6) {
    return tupleName(unmapV4(t.sip), t.sport, unmapV4(t.dip), t.dport);
  }
  if (t.family === AF.UNIX) return `${t.sip}->${t.dip} ${t.path ?? ""}`;
  return "";
}

/** True when an IP text is the unspecified address (0.0.0.0 or ::). */
export function isAnyAddr(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::" || ip === "";
}
