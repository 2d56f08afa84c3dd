/**
 * Seeded input generation for fuzzing: a small, fast PRNG and mutators for text and bytes. Input
 * number `i` of a target depends only on (seed, target, i), so any finding is reproduced from
 * those three numbers.
 *
 * @example
 * ```ts
 * import { mutateText, rng } from "./mutate.ts";
 * const r = rng(42, 7);
 * mutateText(r, ["evt.type = openat and proc.name = cat"], ["(", ")", " and ", "\""]);
 * ```
 * @module
 */

/** A PRNG (mulberry32 over a seed mixed with a stream number): floats in [0, 1). */
export type Rng = () => number;

/** The generator of input `stream` under `seed`. */
export function rng(seed: number, stream: number): Rng {
  let a = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function below(r: Rng, n: number): number {
  return Math.floor(r() * n);
}

/** One element of a list. */
export function pick<T>(r: Rng, list: readonly T[]): T {
  return list[below(r, list.length)];
}

/** A size skewed towards small values, sometimes large (up to `max`). */
function size(r: Rng, max: number): number {
  const x = r();
  if (x < 0.7) return 1 + below(r, 8);
  if (x < 0.95) return 1 + below(r, 200);
  return 1 + below(r, max);
}

/** Characters that break parsers: quotes, brackets, separators, control and wide characters. */
export const NASTY_CHARS = [
  "\0",
  "\n",
  "\r",
  "\t",
  " ",
  '"',
  "'",
  "\\",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  "-",
  "#",
  "&",
  "*",
  "!",
  "|",
  ">",
  "%",
  "@",
  "`",
  "=",
  "$",
  "\u00e9",
  "\u2028",
  "\ud83d\ude00",
  "\ud800",
  "\uffff",
];

/** One text mutation of `s`; `dict` adds tokens the target's language knows. */
function mutateOnce(r: Rng, s: string, corpus: readonly string[], dict: readonly string[]): string {
  const at = below(r, s.length + 1);
  const token = () => r() < 0.5 ? pick(r, NASTY_CHARS) : pick(r, dict);
  switch (below(r, 10)) {
    case 0: // replace one character
      return s.slice(0, at) + token() + s.slice(at + 1);
    case 1: // insert a token
      return s.slice(0, at) + token() + s.slice(at);
    case 2: { // delete a range
      const n = size(r, 4096);
      return s.slice(0, at) + s.slice(at + n);
    }
    case 3: { // repeat a range
      const n = size(r, 200);
      const times = size(r, r() < 0.02 ? 20_000 : 50);
      return s.slice(0, at) + s.slice(at, at + n).repeat(times) + s.slice(at);
    }
    case 4: { // splice a piece of another input in
      const other = pick(r, corpus);
      const from = below(r, other.length + 1);
      return s.slice(0, at) + other.slice(from, from + size(r, 4096)) + s.slice(at);
    }
    case 5: { // nest a range in brackets, sometimes very deep
      const open = pick(r, ["(", "[", "{", "- ", "not ", '"', "  "]);
      const close = { "(": ")", "[": "]", "{": "}", '"': '"' }[open] ?? "";
      const depth = r() < 0.05 ? 1000 + below(r, 9000) : 1 + below(r, 40);
      const end = at + size(r, 64);
      return s.slice(0, at) + open.repeat(depth) + s.slice(at, end) + close.repeat(depth) +
        s.slice(end);
    }
    case 6: { // a number where a number is
      const m = /\d+/.exec(s.slice(at));
      const big = pick(r, ["0", "-1", "4294967296", "1e309", "9".repeat(400), "0x", "NaN", "-0"]);
      if (!m) return s.slice(0, at) + big + s.slice(at);
      const p = at + m.index;
      return s.slice(0, p) + big + s.slice(p + m[0].length);
    }
    case 7: // truncate
      return s.slice(0, at);
    case 8: { // swap two lines
      const lines = s.split("\n");
      if (lines.length < 2) return s + token();
      const i = below(r, lines.length), j = below(r, lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return lines.join("\n");
    }
    default: { // a long run of one token
      return s.slice(0, at) + token().repeat(size(r, 100_000)) + s.slice(at);
    }
  }
}

/** Largest input made (characters or bytes): big enough for every size limit to matter. */
export const MAX_INPUT = 256 << 10;

/** A mutated text: a corpus entry with 1 to 6 mutations, at most {@link MAX_INPUT} long. */
export function mutateText(r: Rng, corpus: readonly string[], dict: readonly string[]): string {
  let s = pick(r, corpus);
  const n = 1 + below(r, r() < 0.8 ? 3 : 6);
  for (let i = 0; i < n; i++) s = mutateOnce(r, s, corpus, dict).slice(0, MAX_INPUT);
  return s;
}

/** Interesting byte values: ends of ranges, lengths of headers. */
const NASTY_BYTES = [0, 1, 2, 7, 8, 0x0f, 0x10, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff];

/** A mutated byte string: a corpus entry with 1 to 8 mutations, at most {@link MAX_INPUT}. */
export function mutateBytes(r: Rng, corpus: readonly Uint8Array[]): Uint8Array {
  let b: Uint8Array<ArrayBuffer> = pick(r, corpus).slice();
  const n = 1 + below(r, 8);
  for (let k = 0; k < n; k++) {
    const at = below(r, b.length + 1);
    switch (below(r, 8)) {
      case 0: // flip bits
        if (at < b.length) b[at] ^= 1 << below(r, 8);
        break;
      case 1: // an interesting byte
        if (at < b.length) b[at] = pick(r, NASTY_BYTES);
        break;
      case 2: { // an interesting 16/32-bit little-endian value (lengths, counts, types)
        const v = pick(r, [0, 1, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff]);
        const w = r() < 0.5 ? 2 : 4;
        for (let i = 0; i < w && at + i < b.length; i++) b[at + i] = (v >>> (8 * i)) & 0xff;
        break;
      }
      case 3: { // delete a range
        const len = size(r, 4096);
        b = concat(b.subarray(0, at), b.subarray(at + len));
        break;
      }
      case 4: { // duplicate a range
        const len = size(r, 4096);
        b = concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
        break;
      }
      case 5: { // random bytes
        const len = size(r, 256);
        const rnd = new Uint8Array(len).map(() => below(r, 256));
        b = concat(b.subarray(0, at), rnd, b.subarray(at));
        break;
      }
      case 6: // truncate
        b = b.slice(0, at);
        break;
      default: { // splice from another entry
        const other = pick(r, corpus);
        const from = below(r, other.length + 1);
        b = concat(b.subarray(0, at), other.subarray(from, from + size(r, 4096)), b.subarray(at));
      }
    }
    if (b.length > MAX_INPUT) b = b.slice(0, MAX_INPUT);
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
