/**
 * Kernel predicates (kernel_filter.ts) as programs for the probe (bpf/predicates.h, layout in
 * src/kernel/predicates.ts): per syscall number, the clauses with their literals encoded as
 * facts and operators, string and number sets as hashed members, address sets as networks.
 *
 * Each literal becomes what the probe tests the same way user space would, or nothing (the
 * literal is then `true`, which only keeps more): string tests are positive only (the probe
 * matches hashes, and a collision must only keep an event), values outside ASCII stay out (user
 * space compares decoded text), `fd.typechar` never tests `o` (user space's answer for an fd it
 * does not know). Syscalls state tracking needs whole get no program.
 *
 * @example
 * ```ts
 * import { kernelPrograms } from "./kernel_program.ts";
 * const { filter, applied } = kernelPrograms(deriveKernelPredicates(rules), new Set(["execve"]));
 * applied; // ["openat", "connect", ...]
 * ```
 * @module
 */
import type { KernelPredicate, Literal } from "./kernel_filter.ts";
import {
  fnv1a64,
  type KernelPrograms,
  NEEDLE_MAX,
  type NetMember,
  NUMBER_LEN,
  PF,
  PO,
  PP,
  PRED_LENS,
  PRED_LITS,
  PRED_NEEDLES,
  PRED_REFS,
  PRED_SCAN,
  PRED_SLOTS,
  type PredLiteral,
  type PredProgram,
  type SetMember,
} from "../kernel/predicates.ts";
import { currentExitId } from "../events/table.ts";
import { SYSCALL_NR } from "../events/syscalls.ts";
import { ERRNO_NAMES } from "../events/errno_data.ts";
import { type IpNet, parseIp } from "./ops.ts";

/** Most set members and networks in the whole filter (half the probe's maps: two generations). */
const MAX_MEMBERS = 8000;
const MAX_NETS = 2000;

/** Programs for the probe, and what was applied. */
export interface ProgramsResult {
  filter: KernelPrograms;
  /** Syscalls with a program. */
  applied: string[];
  /** Syscalls with a predicate but no program, and why (`openat: state tracking needs all`). */
  skipped: string[];
}

const ERRNO_BY_NAME = (() => {
  const m = new Map<string, number[]>();
  for (const [n, name] of Object.entries(ERRNO_NAMES)) {
    m.set(name, [...(m.get(name) ?? []), -Number(n)]);
  }
  return m;
})();

const L4_CODES: Record<string, number> = { "<NA>": 1, tcp: 2, udp: 3, icmp: 4, raw: 5 };
const FAMILY_CODES: Record<string, number> = { ip: 1, unix: 2 };
const ASCII = /^[\x20-\x7e]*$/;
const enc = new TextEncoder();

/** Encoding state shared by every program of one filter. */
class Encoder {
  members: SetMember[] = [];
  nets: NetMember[] = [];
  #nextSet = 1;

  /** A set of numbers; undefined when the filter is full. */
  numberSet(values: readonly bigint[]): number | undefined {
    if (this.members.length + values.length > MAX_MEMBERS) return undefined;
    const set = this.#nextSet++;
    for (const v of new Set(values)) {
      this.members.push({ set, hash: BigInt.asUintN(64, v), len: NUMBER_LEN });
    }
    return set;
  }

  /** A set of strings, hashed whole or by their first/last `part` bytes. */
  stringSet(values: readonly string[]): number | undefined {
    if (this.members.length + values.length > MAX_MEMBERS) return undefined;
    const set = this.#nextSet++;
    for (const v of new Set(values)) {
      const b = enc.encode(v);
      this.members.push({ set, hash: fnv1a64(b), len: b.length });
    }
    return set;
  }

  netSet(nets: readonly IpNet[]): number | undefined {
    if (this.nets.length + nets.length > MAX_NETS) return undefined;
    const set = this.#nextSet++;
    for (const n of nets) this.nets.push({ set, v6: n.v6, addr: n.bytes, bits: n.bits });
    return set;
  }
}

function num(v: unknown): bigint | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return undefined;
}

function truth(v: unknown): boolean | undefined {
  if (v === true || v === 1 || v === "true") return true;
  if (v === false || v === 0 || v === "false") return false;
  return undefined;
}

const NUM_OP: Record<string, number> = {
  "=": PO.EQ,
  "!=": PO.NE,
  "<": PO.LT,
  "<=": PO.LE,
  ">": PO.GT,
  ">=": PO.GE,
};

/** A numeric literal of `fact`, or undefined. */
function numeric(l: Literal, fact: number, values: bigint[], e: Encoder): PredLiteral | undefined {
  const { op } = l.check;
  if (values.length === 0) return undefined;
  if (op === "in" || (op === "=" && values.length > 1)) {
    const set = e.numberSet(values);
    return set === undefined ? undefined : { fact, op: PO.IN, neg: l.neg, set };
  }
  const o = NUM_OP[op];
  return o === undefined || values.length !== 1
    ? undefined
    : { fact, op: o, neg: l.neg, value: values[0] };
}

/** The literal as the probe tests it, or undefined (it then holds). */
function encodeLiteral(
  l: Literal,
  event: string,
  e: Encoder,
  needles: Uint8Array[],
): PredLiteral | undefined {
  const c = l.check;
  if (c.left.kind !== "field" || c.right) return undefined;
  const field = c.left.def.name;
  const mod = c.mod;
  if (mod && mod !== "anyof") return undefined;
  const op = mod === "anyof" && c.op === "=" ? "in" : c.op;
  const vals = c.values;
  switch (field) {
    case "evt.rawres":
    case "fd.num": {
      const ns = vals.map(num);
      if (ns.some((n) => n === undefined)) return undefined;
      return numeric(
        { ...l, check: { ...c, op } },
        field === "fd.num" ? PF.FDNUM : PF.RES,
        ns as bigint[],
        e,
      );
    }
    case "evt.failed": {
      const t = truth(vals[0]);
      if (t === undefined || vals.length !== 1) return undefined;
      // failed = true: res < 0; `!=` flips it.
      const wantFailed = (op === "=") === t;
      return { fact: PF.RES, op: wantFailed ? PO.LT : PO.GE, neg: l.neg, value: 0n };
    }
    case "evt.res": {
      const names = vals.map(String);
      if (names.length === 1 && names[0] === "SUCCESS" && (op === "=" || op === "!=")) {
        return { fact: PF.RES, op: op === "=" ? PO.GE : PO.LT, neg: l.neg, value: 0n };
      }
      if (names.includes("SUCCESS")) return undefined;
      const codes = names.flatMap((n) => ERRNO_BY_NAME.get(n) ?? []);
      if (names.some((n) => !ERRNO_BY_NAME.has(n))) return undefined;
      if (op === "!=") {
        return codes.length === 1
          ? { fact: PF.RES, op: PO.NE, neg: l.neg, value: BigInt(codes[0]) }
          : undefined;
      }
      const set = e.numberSet(codes.map(BigInt));
      return set === undefined ? undefined : { fact: PF.RES, op: PO.IN, neg: l.neg, set };
    }
    case "evt.is_open_read":
    case "evt.is_open_write": {
      const t = truth(vals[0]);
      if (t === undefined || vals.length !== 1 || (op !== "=" && op !== "!=")) return undefined;
      const fact = field === "evt.is_open_read" ? PF.OPEN_READ : PF.OPEN_WRITE;
      return { fact, op: op === "=" ? PO.EQ : PO.NE, neg: l.neg, value: t ? 1n : 0n };
    }
    case "fd.name":
    case "fd.nameraw":
    case "fd.directory":
    case "fd.filename": {
      if (l.neg) return undefined; // hashes decide membership only one way
      const strs = vals.map(String);
      if (strs.some((s) => !ASCII.test(s))) return undefined;
      const fact = field === "fd.name"
        ? PF.NAME
        : field === "fd.nameraw"
        ? PF.NAMERAW
        : field === "fd.directory"
        ? PF.DIRECTORY
        : PF.FILENAME;
      if (op === "=" || op === "in") {
        if (fact === PF.NAMERAW) return undefined;
        const set = e.stringSet(strs);
        return set === undefined ? undefined : { fact, op: PO.IN, neg: false, set };
      }
      if ((op === "startswith" || op === "endswith") && fact === PF.NAME) {
        if (strs.some((s) => s.length === 0)) return undefined;
        // Members longer than the probe reads can only meet undecided paths: leave them out.
        const fit = strs.filter((s) => s.length < PRED_SCAN);
        const lens = [...new Set(fit.map((s) => s.length))].sort((a, b) => a - b);
        if (lens.length > PRED_LENS) return undefined;
        const set = e.stringSet(fit);
        if (set === undefined) return undefined;
        return {
          fact,
          op: op === "startswith" ? PO.PREFIX : PO.SUFFIX,
          neg: false,
          set,
          lens,
        };
      }
      if (op === "contains" && (fact === PF.NAME || fact === PF.NAMERAW) && strs.length === 1) {
        const b = enc.encode(strs[0]);
        if (b.length === 0 || b.length > NEEDLE_MAX) return undefined;
        let i = needles.findIndex((n) => n.length === b.length && n.every((x, k) => x === b[k]));
        if (i < 0) {
          if (needles.length >= PRED_NEEDLES) return undefined;
          i = needles.push(b) - 1;
        }
        return { fact, op: PO.CONTAINS, neg: false, needle: i };
      }
      return undefined;
    }
    case "fd.typechar": {
      const strs = vals.map(String);
      if (l.neg || (op !== "=" && op !== "in")) return undefined;
      if (strs.some((s) => s.length !== 1 || s === "o")) return undefined;
      return numeric(
        { ...l, check: { ...c, op: "in" } },
        PF.TYPECHAR,
        strs.map((s) => BigInt(s.charCodeAt(0))),
        e,
      );
    }
    case "fd.l4proto":
    case "fd.sockfamily": {
      if (l.neg) return undefined;
      const codes = field === "fd.l4proto" ? L4_CODES : FAMILY_CODES;
      // An unknown name is a value no socket has: -1 never matches.
      const ns = vals.map((v) => BigInt(codes[String(v)] ?? -1));
      return numeric(
        { ...l, check: { ...c, op } },
        field === "fd.l4proto" ? PF.L4 : PF.SOCKFAMILY,
        ns,
        e,
      );
    }
    case "fd.sip":
    case "fd.rip":
    case "fd.snet":
    case "fd.rnet": {
      if (l.neg || event !== "connect") return undefined;
      const nets: IpNet[] = [];
      for (const v of vals) {
        if (typeof v === "string") {
          const b = parseIp(v);
          if (!b) return undefined;
          nets.push({ v6: b.length === 16, bytes: b, bits: b.length * 8 });
        } else if (typeof v === "object" && v !== null && "bits" in v) {
          nets.push(v as IpNet);
        } else return undefined;
      }
      if (op !== "=" && op !== "in" && op !== "!=") return undefined;
      if (op === "!=" && nets.length !== 1) return undefined;
      const set = e.netSet(nets);
      if (set === undefined) return undefined;
      return { fact: PF.RADDR, op: op === "!=" ? PO.NOT_IN : PO.IN, neg: false, set };
    }
  }
  return undefined;
}

/** Rough cost of testing a literal in the probe: cheap ones go first in a clause. */
function cost(l: PredLiteral): number {
  switch (l.fact) {
    case PF.RES:
    case PF.FDNUM:
    case PF.OPEN_READ:
    case PF.OPEN_WRITE:
      return 0;
    case PF.TYPECHAR:
    case PF.L4:
    case PF.SOCKFAMILY:
      return 1;
    case PF.NAMERAW:
      return 5;
    case PF.NAME:
      return l.op === PO.IN ? 2 : l.op === PO.PREFIX ? 3 : l.op === PO.SUFFIX ? 4 : 6;
    default:
      return 2;
  }
}

/** Syscalls whose handlers test the facts beyond the result (bpf/handlers_*.h, PRED_GATE). */
const OPEN_SYSCALLS = new Set(["open", "openat", "openat2", "creat"]);
const SOCKET_SYSCALLS = new Set(["connect", "sendto", "sendmsg"]);

/** One program, or the reason there is none. */
function program(p: KernelPredicate, e: Encoder): PredProgram | string {
  if (p.keep === "all") return `keeps all (${p.reason})`;
  if (p.keep.length === 0) return { flags: PP.DROP_ALL, lits: [], clauses: [], needles: [] };
  const lits: PredLiteral[] = [];
  const index = new Map<string, number>();
  const needles: Uint8Array[] = [];
  const clauses: number[][] = [];
  for (const clause of p.keep) {
    const refs: { i: number; cost: number }[] = [];
    for (const l of clause) {
      let i = index.get(l.key);
      if (i === undefined) {
        const enc = encodeLiteral(l, p.event.name, e, needles);
        i = enc === undefined ? -1 : lits.push(enc) - 1;
        index.set(l.key, i);
      }
      if (i >= 0) refs.push({ i, cost: cost(lits[i]) }); // else the literal holds
    }
    // A clause whose every literal holds keeps every event.
    if (refs.length === 0) return "a clause the probe cannot test";
    clauses.push(refs.sort((a, b) => a.cost - b.cost).map((r) => r.i));
  }
  const nrefs = clauses.reduce((n, c) => n + c.length, 0);
  if (lits.length > PRED_LITS || nrefs > PRED_REFS) return "too large for the probe";
  const generic = lits.every((l) => l.fact === PF.RES || l.fact === PF.FDNUM);
  const name = p.event.name;
  if (!generic && !OPEN_SYSCALLS.has(name) && !SOCKET_SYSCALLS.has(name)) {
    return "the probe has no facts beyond the result for it";
  }
  return { flags: generic ? PP.GENERIC : 0, lits, clauses, needles };
}

/**
 * The programs for `preds`, leaving out the syscalls in `stateNeeds` (state tracking needs
 * every event of them).
 */
export function kernelPrograms(
  preds: ReadonlyMap<number, KernelPredicate>,
  stateNeeds: ReadonlySet<string>,
): ProgramsResult {
  const e = new Encoder();
  const programs = new Map<number, PredProgram>();
  const applied: string[] = [];
  const skipped: string[] = [];
  // The calls whose handlers test more than the result first: with more syscalls than program
  // slots, they matter most.
  const gated = (p: KernelPredicate) =>
    OPEN_SYSCALLS.has(p.event.name) || SOCKET_SYSCALLS.has(p.event.name) ? 0 : 1;
  for (const p of [...preds.values()].sort((a, b) => gated(a) - gated(b))) {
    const name = p.event.name;
    const nr = SYSCALL_NR.get(name);
    if (nr === undefined || currentExitId(name) !== p.event.id) continue;
    if (stateNeeds.has(name)) {
      if (p.keep !== "all") skipped.push(`${name}: state tracking needs every event`);
      continue;
    }
    const prog = program(p, e);
    if (typeof prog === "string") {
      if (p.keep !== "all") skipped.push(`${name}: ${prog}`);
      continue;
    }
    if (programs.size >= PRED_SLOTS - 1) {
      skipped.push(`${name}: too many programs`);
      continue;
    }
    programs.set(nr, prog);
    applied.push(name);
  }
  return {
    filter: { programs, members: e.members, nets: e.nets },
    applied: applied.sort(),
    skipped: skipped.sort(),
  };
}
