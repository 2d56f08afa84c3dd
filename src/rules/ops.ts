/**
 * Runtime helpers of compiled conditions: glob and path-prefix matching, IP and CIDR handling,
 * byte searches and transformers. Pure functions; the compiler prepares their constant arguments
 * once (a glob becomes a RegExp, a CIDR a mask) so evaluation does no parsing.
 *
 * @example
 * ```ts
 * import { compileGlob, parseNet, ipInNet } from "./ops.ts";
 * compileGlob("/etc/*.conf").test("/etc/a.conf"); // true
 * ipInNet("10.1.2.3", parseNet("10.0.0.0/8")!); // true
 * ```
 * @module
 */
import { ipv4Text, ipv6Text } from "../events/params.ts";

/** Compiles a glob (fnmatch syntax, no flags: `*` also matches `/`) into an anchored RegExp. */
export function compileGlob(pattern: string, caseInsensitive = false): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "\\" && i + 1 < pattern.length) re += escapeRegex(pattern[++i]);
    else if (c === "[") {
      const close = findClassEnd(pattern, i);
      if (close < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, close);
      let neg = false;
      if (body[0] === "!" || body[0] === "^") {
        neg = true;
        body = body.slice(1);
      }
      re += `[${neg ? "^" : ""}${body.replace(/\\/g, "\\\\").replace(/\]/g, "\\]")}]`;
      i = close;
    } else re += escapeRegex(c);
  }
  return new RegExp(re + "$", caseInsensitive ? "i" : "");
}

function findClassEnd(p: string, open: number): number {
  let j = open + 1;
  if (p[j] === "!" || p[j] === "^") j++;
  if (p[j] === "]") j++;
  while (j < p.length && p[j] !== "]") j++;
  return j < p.length ? j : -1;
}

/** Escapes a string for use inside a RegExp. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&");
}

/** A set of path prefixes (`pmatch`): a path matches when one of them is a prefix by component. */
export class PathPrefixSet {
  readonly #paths: (string | RegExp)[][] = [];

  constructor(paths: readonly string[]) {
    for (const p of paths) {
      this.#paths.push(
        p.split("/").filter((c) => c.length > 0).map((c) => /[?*[]/.test(c) ? compileGlob(c) : c),
      );
    }
  }

  /** True when some prefix matches `path`. */
  match(path: string): boolean {
    const comps = path.split("/").filter((c) => c.length > 0);
    outer: for (const p of this.#paths) {
      if (p.length > comps.length) continue;
      for (let i = 0; i < p.length; i++) {
        const c = p[i];
        if (typeof c === "string" ? c !== comps[i] : !c.test(comps[i])) continue outer;
      }
      return true;
    }
    return false;
  }
}

/** An IP network: family, address bytes and prefix length. */
export interface IpNet {
  v6: boolean;
  bytes: Uint8Array;
  bits: number;
}

/** Parses dotted IPv4 text into 4 bytes, or undefined. */
export function parseIpv4(s: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return undefined;
    b[i] = n;
  }
  return b;
}

/** Parses IPv6 text (with `::` and an optional dotted tail) into 16 bytes, or undefined. */
export function parseIpv6(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(":")) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const part = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    const groups = h.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (g.includes(".")) {
        if (i !== groups.length - 1) return undefined;
        const v4 = parseIpv4(g);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const words = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const b = new Uint8Array(16);
  words.forEach((w, i) => {
    b[2 * i] = w >> 8;
    b[2 * i + 1] = w & 0xff;
  });
  return b;
}

/** Parses an IPv4 or IPv6 address. */
export function parseIp(s: string): Uint8Array | undefined {
  return s.includes(":") ? parseIpv6(s) : parseIpv4(s);
}

/** Canonical text of an address (dotted IPv4, compressed lowercase IPv6). */
export function ipText(b: Uint8Array): string {
  return b.length === 4 ? ipv4Text(b, 0) : ipv6Text(b, 0);
}

/** Parses `ADDR/BITS` (IPv4 when the address has a dot, as Falco decides). */
export function parseNet(s: string): IpNet | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash), bitsText = s.slice(slash + 1);
  if (!/^\d+$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const v6 = !addr.includes(".");
  const bytes = v6 ? parseIpv6(addr) : parseIpv4(addr);
  if (!bytes || bits > (v6 ? 128 : 32)) return undefined;
  return { v6, bytes, bits };
}

/** True when the address `ip` (text, as extractors give it) lies in `net`. */
export function ipInNet(ip: string, net: IpNet): boolean {
  const b = parseIp(ip);
  if (!b || (b.length === 16) !== net.v6) return false;
  let bits = net.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i] & mask) !== (net.bytes[i] & mask)) return false;
  }
  return true;
}

/** Parses a hex string (`bcontains`, `bstartswith`) into bytes, or undefined. */
export function parseHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Index of `needle` in `hay`, or -1. */
export function bytesIndexOf(hay: Uint8Array, needle: Uint8Array): number {
  const n = needle.length;
  if (n === 0) return 0;
  const first = needle[0];
  const last = hay.length - n;
  for (let i = hay.indexOf(first); i >= 0 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < n && hay[i + j] === needle[j]) j++;
    if (j === n) return i;
  }
  return -1;
}

/** True when `hay` starts with `prefix`. */
export function bytesStartsWith(hay: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > hay.length) return false;
  for (let i = 0; i < prefix.length; i++) if (hay[i] !== prefix[i]) return false;
  return true;
}

/** True when `hay` ends with `suffix`. */
export function bytesEndsWith(hay: Uint8Array, suffix: Uint8Array): boolean {
  const off = hay.length - suffix.length;
  if (off < 0) return false;
  for (let i = 0; i < suffix.length; i++) if (hay[off + i] !== suffix[i]) return false;
  return true;
}

/** True when two byte strings are equal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const utf8 = new TextEncoder();
const utf8dec = new TextDecoder();

/** Bytes of a value compared with a byte-buffer field. */
export function toBytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : utf8.encode(String(v));
}

/** `basename` transformer: the last path component ("" for a path ending in /). */
export function basename(s: string): string {
  const i = s.lastIndexOf("/");
  return i < 0 ? s : s.slice(i + 1);
}

/** `b64` transformer: decodes base64 text; undefined when it is not valid base64. */
export function b64decode(s: string): string | undefined {
  try {
    const bin = atob(s.replace(/\s+/g, ""));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return utf8dec.decode(bytes);
  } catch {
    return undefined;
  }
}

/** `len` transformer: characters of a string, bytes of a buffer, elements of a list. */
export function len(v: unknown): number {
  if (typeof v === "string") return v.length;
  if (v instanceof Uint8Array || Array.isArray(v)) return v.length;
  return 0;
}

/** ASCII-only lower-casing (strcasestr semantics). */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s)
    ? s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32))
    : s;
}
