/**
 * Kernel predicate programs as the probe's maps hold them (bpf/predicate_types.h): the numbers of
 * facts and operators, the program form user space builds (src/rules/kernel_program.ts) and its
 * byte layout, written by {@link import("./probe.ts").Probe.setPredicates}.
 *
 * Why here: the layout is the probe's; the rules side only says what to test. The C/TS pair test
 * (tests/unit/probe_c_tables.test.ts) compares these numbers and sizes with the C header.
 *
 * @example
 * ```ts
 * import { encodeProgram, PF, PO, type PredProgram } from "./predicates.ts";
 * const prog: PredProgram = {
 *   flags: 0,
 *   lits: [{ fact: PF.RES, op: PO.GE, neg: false, value: 0n }],
 *   clauses: [[0]],
 *   needles: [],
 * };
 * encodeProgram(prog, 0).length; // PROG_SIZE
 * ```
 * @module
 */

/** Programs per generation (PRED_SLOTS). */
export const PRED_SLOTS = 128;
/** Distinct literals per program (PRED_LITS). */
export const PRED_LITS = 64;
/** Literal references of all clauses (PRED_REFS). */
export const PRED_REFS = 256;
/** `contains` needles per program (PRED_NEEDLES). */
export const PRED_NEEDLES = 8;
/** Prefix or suffix lengths per set literal (PRED_LENS). */
export const PRED_LENS = 8;
/** Paths this long or longer are not decided (PRED_SCAN). */
export const PRED_SCAN = 256;
/** Longest `contains` needle. */
export const NEEDLE_MAX = 16;

/** Facts (PF_*). */
export const PF = {
  RES: 1,
  FDNUM: 2,
  OPEN_READ: 3,
  OPEN_WRITE: 4,
  NAME: 5,
  DIRECTORY: 6,
  FILENAME: 7,
  NAMERAW: 8,
  TYPECHAR: 9,
  L4: 10,
  SOCKFAMILY: 11,
  RADDR: 12,
} as const;

/** Operators (PO_*). */
export const PO = {
  EQ: 1,
  NE: 2,
  LT: 3,
  LE: 4,
  GT: 5,
  GE: 6,
  IN: 7,
  NOT_IN: 8,
  PREFIX: 9,
  SUFFIX: 10,
  CONTAINS: 11,
} as const;

/** Program flags (PP_*). */
export const PP = { GENERIC: 1, DROP_ALL: 2 } as const;

/** Literal flag: negated (PL_NEG). */
export const PL_NEG = 1;
/** In a clause's references: the last one (PR_END). */
export const PR_END = 0x80;

/** One literal of a program. */
export interface PredLiteral {
  fact: number;
  op: number;
  neg: boolean;
  /** Number operand (EQ ... GE). */
  value?: bigint;
  /** Set id (IN, NOT_IN, PREFIX, SUFFIX): 1 and up, unique in the whole filter. */
  set?: number;
  /** Prefix or suffix lengths of the set's members (PREFIX, SUFFIX). */
  lens?: number[];
  /** Needle index (CONTAINS). */
  needle?: number;
}

/** A program: literals, clauses as literal indexes, and needles. */
export interface PredProgram {
  flags: number;
  lits: PredLiteral[];
  clauses: number[][];
  needles: Uint8Array[];
}

/** A member of a string or number set. */
export interface SetMember {
  set: number;
  /** FNV-1a 64 of the string's bytes, or the number (two's complement). */
  hash: bigint;
  /** The string's length in bytes, or {@link NUMBER_LEN}. */
  len: number;
}

/** An address network of a set. */
export interface NetMember {
  set: number;
  v6: boolean;
  /** 4 or 16 bytes. */
  addr: Uint8Array;
  bits: number;
}

/** The whole filter: programs by syscall number, and the members of their sets. */
export interface KernelPrograms {
  programs: Map<number, PredProgram>;
  members: SetMember[];
  nets: NetMember[];
}

/** `len` of number set members. */
export const NUMBER_LEN = 0xffffffff;
/** Set ids carry the generation in bit 31. */
export const GEN_BIT = 0x80000000;
/** Address set ids carry bit 30 for IPv6 networks. */
export const V6_BIT = 0x40000000;

/** sizeof(struct pred_lit). */
export const LIT_SIZE = 24;
/** sizeof(struct pred_needle). */
export const NEEDLE_SIZE = 24;
/** sizeof(struct pred_prog). */
export const PROG_SIZE = 8 + PRED_LITS * LIT_SIZE + PRED_REFS + PRED_NEEDLES * NEEDLE_SIZE;
/** sizeof(struct pred_key). */
export const KEY_SIZE = 16;
/** sizeof(struct pred_net_key). */
export const NET_KEY_SIZE = 24;

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a 64 of `bytes`, as the probe hashes paths (pred_hash_path). */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return h;
}

/** The bytes of struct pred_prog for `p`, with set ids of generation `gen`. */
export function encodeProgram(p: PredProgram, gen: number): Uint8Array {
  const buf = new Uint8Array(PROG_SIZE);
  const dv = new DataView(buf.buffer);
  const refs: number[] = [];
  for (const c of p.clauses) {
    c.forEach((i, k) => refs.push(k === c.length - 1 ? i | PR_END : i));
  }
  if (p.lits.length > PRED_LITS || refs.length > PRED_REFS || p.needles.length > PRED_NEEDLES) {
    throw new Error("kernel predicate program too large");
  }
  dv.setUint16(0, p.lits.length, true);
  dv.setUint16(2, refs.length, true);
  dv.setUint16(4, p.flags, true);
  p.lits.forEach((l, i) => {
    const o = 8 + i * LIT_SIZE;
    buf[o] = l.fact;
    buf[o + 1] = l.op;
    buf[o + 2] = l.neg ? PL_NEG : 0;
    buf[o + 3] = l.needle ?? 0;
    dv.setUint32(o + 4, l.set ? (l.set | (gen ? GEN_BIT : 0)) >>> 0 : 0, true);
    dv.setBigInt64(o + 8, l.value ?? 0n, true);
    (l.lens ?? []).slice(0, PRED_LENS).forEach((n, k) => buf[o + 16 + k] = n);
  });
  const refsAt = 8 + PRED_LITS * LIT_SIZE;
  refs.forEach((r, i) => buf[refsAt + i] = r);
  const needlesAt = refsAt + PRED_REFS;
  p.needles.forEach((n, i) => {
    const o = needlesAt + i * NEEDLE_SIZE;
    buf.set(n.subarray(0, NEEDLE_MAX), o);
    dv.setUint32(o + 16, Math.min(n.length, NEEDLE_MAX), true);
  });
  return buf;
}

/** The key bytes of struct pred_key for a set member of generation `gen`. */
export function memberKey(m: SetMember, gen: number): Uint8Array {
  const buf = new Uint8Array(KEY_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, m.hash & MASK64, true);
  dv.setUint32(8, (m.set | (gen ? GEN_BIT : 0)) >>> 0, true);
  dv.setUint32(12, m.len >>> 0, true);
  return buf;
}

/** The key bytes of struct pred_net_key for a network of generation `gen`. */
export function netKey(n: NetMember, gen: number): Uint8Array {
  const buf = new Uint8Array(NET_KEY_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, 32 + n.bits, true);
  dv.setUint32(4, (n.set | (gen ? GEN_BIT : 0) | (n.v6 ? V6_BIT : 0)) >>> 0, true);
  buf.set(n.addr.subarray(0, 16), 8);
  return buf;
}
