/**
 * Kernel predicate programs (src/rules/kernel_program.ts) run by a model of the probe's
 * evaluation (bpf/predicates.h): the facts the probe reads, taken from the event (the path joined
 * with the directory the record carries, undecided when not in normal form or too long; the
 * socket's kind, transport and peer), literals by hashed set membership, needles and address
 * networks. For every case of the condition table and every event of the synthetic workload
 * under Falco's stable rules and Saker's rules, an event the programs drop raises no alert. The
 * probe itself is checked against the rules on real events by tests/live/kernel_predicates.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REFERENCE_DIR, REPO_ROOT } from "../support/env.ts";
import { loadRulesFiles, loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { deriveKernelPredicates } from "../../src/rules/kernel_filter.ts";
import { kernelPrograms } from "../../src/rules/kernel_program.ts";
import {
  encodeProgram,
  fnv1a64,
  GEN_BIT,
  type KernelPrograms,
  LIT_SIZE,
  memberKey,
  NUMBER_LEN,
  PF,
  PO,
  PP,
  PR_END,
  PRED_LITS,
  PRED_REFS,
  PRED_SCAN,
  type PredLiteral,
  PROG_SIZE,
} from "../../src/kernel/predicates.ts";
import { SYSCALL_NR } from "../../src/events/syscalls.ts";
import type { Event } from "../../src/events/event.ts";
import type { SockTuple } from "../../src/events/params.ts";
import { FD_TYPE } from "../../src/state/model.ts";
import { normalizePath } from "../../src/state/paths.ts";
import { parseIp } from "../../src/rules/ops.ts";
import { StateStore } from "../../src/state/store.ts";
import { CASES, EVENTS_BY_NAME } from "./rules_cases.ts";
import { workload } from "./kernel_workload.ts";
import "../../src/rules/fields/mod.ts";

const enc = new TextEncoder();

/** The probe's facts of `ev`, as bpf/predicates.h reads them (undefined: undecided). */
function facts(ev: Event) {
  const res = ev.res ?? 0;
  const name = ev.info.name;
  const raw = ev.arg("name");
  let path: string | undefined;
  if (typeof raw === "string" && raw.length > 0 && raw.length < PRED_SCAN) {
    const dir = ev.arg("name_dir");
    const joined = raw.startsWith("/")
      ? raw
      : typeof dir === "string" && dir.startsWith("/")
      ? (dir === "/" ? "/" + raw : `${dir}/${raw}`)
      : undefined;
    if (joined && joined.length < PRED_SCAN && normalizePath(joined) === joined) path = joined;
  }
  const fd = ev.fdInfo;
  let typechar: number | undefined, l4: number | undefined, family: number | undefined;
  if (fd) {
    if (fd.type === FD_TYPE.IPV4_SOCK || fd.type === FD_TYPE.IPV4_SERVSOCK) typechar = 52;
    if (fd.type === FD_TYPE.IPV6_SOCK || fd.type === FD_TYPE.IPV6_SERVSOCK) typechar = 54;
    if (fd.type === FD_TYPE.UNIX_SOCK) typechar = 117;
    if (fd.isInet) [l4, family] = [fd.l4proto, 1];
    if (fd.type === FD_TYPE.UNIX_SOCK) [l4, family] = [1, 2];
  }
  let raddr: Uint8Array | undefined;
  const t = ev.arg("tuple") as SockTuple | null | undefined;
  if (
    name === "connect" && (res === 0 || res === -115) && t && (t.family === 2 || t.family === 10)
  ) {
    raddr = parseIp(t.dip);
  }
  const openFlags = ["open", "openat", "openat2"].includes(name) ? Number(ev.arg("flags")) : 0;
  return {
    res,
    path,
    raw: typeof raw === "string" ? raw : undefined,
    typechar,
    l4,
    family,
    raddr,
    openFlags,
  };
}

/** The probe's verdict on `ev` under filter `f` (true: kept). */
function modelKeeps(f: KernelPrograms, ev: Event): boolean {
  const nr = SYSCALL_NR.get(ev.info.name);
  const prog = nr === undefined ? undefined : f.programs.get(nr);
  if (!prog) return true;
  if (prog.flags & PP.DROP_ALL) return false;
  const x = facts(ev);
  const member = (set: number, s: string) => {
    const b = enc.encode(s);
    const h = fnv1a64(b);
    return f.members.some((m) => m.set === set && m.hash === h && m.len === b.length);
  };
  const num = (l: PredLiteral, v: number) => {
    const k = Number(l.value ?? 0n);
    switch (l.op) {
      case PO.EQ:
        return v === k;
      case PO.NE:
        return v !== k;
      case PO.LT:
        return v < k;
      case PO.LE:
        return v <= k;
      case PO.GT:
        return v > k;
      case PO.GE:
        return v >= k;
      case PO.IN:
      case PO.NOT_IN: {
        const h = BigInt.asUintN(64, BigInt(v));
        const m = f.members.some((m) => m.set === l.set && m.hash === h && m.len === NUMBER_LEN);
        return l.op === PO.IN ? m : !m;
      }
    }
    return true;
  };
  const holds = (l: PredLiteral): boolean => {
    let v = true;
    switch (l.fact) {
      case PF.RES:
        v = num(l, x.res);
        break;
      case PF.FDNUM:
        v = num(l, x.res >= 0 ? x.res : -1);
        break;
      case PF.OPEN_READ:
        v = num(l, x.openFlags & 1 ? 1 : 0);
        break;
      case PF.OPEN_WRITE:
        v = num(l, x.openFlags & 2 ? 1 : 0);
        break;
      case PF.NAME:
      case PF.DIRECTORY:
      case PF.FILENAME: {
        const p = x.path;
        if (p === undefined) return true;
        const slash = p.lastIndexOf("/");
        if (l.fact === PF.DIRECTORY) v = member(l.set!, slash === 0 ? "/" : p.slice(0, slash));
        else if (l.fact === PF.FILENAME) v = p.length < 2 || member(l.set!, p.slice(slash + 1));
        else if (l.op === PO.IN) v = member(l.set!, p);
        else if (l.op === PO.PREFIX) {
          v = l.lens!.some((n) => n <= p.length && member(l.set!, p.slice(0, n)));
        } else if (l.op === PO.SUFFIX) {
          v = l.lens!.some((n) => n <= p.length && member(l.set!, p.slice(p.length - n)));
        } else if (l.op === PO.CONTAINS) {
          v = p.includes(new TextDecoder().decode(prog.needles[l.needle!]));
        }
        break;
      }
      case PF.NAMERAW: {
        if (x.raw === undefined || x.raw.length === 0 || x.raw.length >= PRED_SCAN) return true;
        if (x.raw.includes("//")) return true;
        v = x.raw.includes(new TextDecoder().decode(prog.needles[l.needle!]));
        break;
      }
      case PF.TYPECHAR:
      case PF.L4:
      case PF.SOCKFAMILY: {
        const val = l.fact === PF.TYPECHAR ? x.typechar : l.fact === PF.L4 ? x.l4 : x.family;
        if (!val) return true;
        v = num(l, val);
        break;
      }
      case PF.RADDR: {
        if (!x.raddr) return true;
        const a = x.raddr;
        const m = f.nets.some((n) => {
          if (n.set !== l.set || n.v6 !== (a.length === 16)) return false;
          for (let bits = n.bits, i = 0; bits > 0; i++, bits -= 8) {
            const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
            if ((a[i] & mask) !== (n.addr[i] & mask)) return false;
          }
          return true;
        });
        v = l.op === PO.IN ? m : !m;
        break;
      }
    }
    return l.neg ? !v : v;
  };
  return prog.clauses.some((c) => c.every((i) => holds(prog.lits[i])));
}

function rulesText(conds: string[]): string {
  return conds.map((c, i) =>
    `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: o\n` +
    `  priority: INFO\n  warn_evttypes: false\n`
  ).join("");
}

Deno.test("kernel programs: on the condition case table, a dropped event never matches", () => {
  const failures: string[] = [];
  let dropped = 0, programs = 0;
  for (const c of CASES) {
    const loaded = loadRulesText([{ name: "case.yaml", text: rulesText([c.cond]) }]);
    if (loaded.results.some((r) => r.errors.length > 0)) continue;
    const rs = compileRuleset(loaded, { ruleMatching: "all" });
    const { filter } = kernelPrograms(deriveKernelPredicates(loaded.rules), new Set());
    programs += filter.programs.size;
    const ev = EVENTS_BY_NAME[c.ev]();
    const kept = modelKeeps(filter, ev);
    if (!kept) dropped++;
    if (!kept && rs.evaluate(EVENTS_BY_NAME[c.ev](), () => {}) === 1) {
      failures.push(`${c.cond} on ${c.ev}: dropped but matches`);
    }
  }
  assertEquals(failures, []);
  assert(programs > 10 && dropped > 5, `programs ${programs}, drops ${dropped}`);
});

async function checkRules(paths: string[]) {
  const loaded = await loadRulesFiles(paths);
  const rs = compileRuleset(loaded, { ruleMatching: "all" });
  const { filter, applied } = kernelPrograms(deriveKernelPredicates(loaded.rules), new Set());
  const state = new StateStore({});
  const failures: string[] = [];
  const dropped = new Map<string, number>();
  let alerts = 0;
  for (const ev of workload(state)) {
    const hits: string[] = [];
    rs.evaluate(ev, (a) => hits.push(a.rule));
    alerts += hits.length;
    if (modelKeeps(filter, ev)) continue;
    dropped.set(ev.info.name, (dropped.get(ev.info.name) ?? 0) + 1);
    if (hits.length > 0) {
      failures.push(`${ev.info.name} ${ev.arg("name") ?? ""} by ${ev.thread?.comm}: ${hits}`);
    }
  }
  return { failures, dropped, alerts, applied };
}

Deno.test({
  name: "kernel programs: Falco's stable rules, a dropped event never raises an alert",
  ignore: REFERENCE_DIR === undefined,
  fn: async () => {
    const r = await checkRules([`${REFERENCE_DIR}/falco-rules/falco_rules.yaml`]);
    assertEquals(r.failures.slice(0, 20), []);
    assert(r.alerts > 20, `the workload raises alerts (${r.alerts})`);
    assert(r.applied.includes("openat") && r.applied.includes("connect"), r.applied.join());
    assert((r.dropped.get("openat") ?? 0) > 100, `openat drops: ${r.dropped.get("openat")}`);
  },
});

Deno.test("kernel programs: Saker's rules, a dropped event never raises an alert", async () => {
  const r = await checkRules([`${REPO_ROOT}rules`]);
  assertEquals(r.failures.slice(0, 20), []);
  assert(r.alerts > 20, `the workload raises alerts (${r.alerts})`);
  assert((r.dropped.get("openat") ?? 0) > 100, `openat drops: ${r.dropped.get("openat")}`);
});

Deno.test("kernel programs: what the probe cannot test exactly is left to user space", () => {
  const loaded = loadRulesText([{
    name: "r.yaml",
    text: rulesText([
      "evt.type = openat and fd.name = /tmp/caf\u00e9", // not ASCII: user space compares text
      "evt.type = connect and fd.typechar in (4, o)", // `o` is state's answer for an unknown fd
      "evt.type = openat2 and fd.name contains abcdefghijklmnopq", // needle over 16 bytes
      "evt.type = chmod and evt.rawres >= 0",
    ]),
  }]);
  const { applied, skipped } = kernelPrograms(deriveKernelPredicates(loaded.rules), new Set());
  assertEquals(applied, ["chmod"]);
  assertEquals(skipped, [
    "connect: a clause the probe cannot test",
    "openat2: a clause the probe cannot test",
    "openat: a clause the probe cannot test",
  ]);
  // Syscalls state tracking needs whole get none.
  const s = kernelPrograms(deriveKernelPredicates(loaded.rules), new Set(["chmod"]));
  assertEquals(s.applied, []);
});

Deno.test("kernel programs: the bytes the probe reads", () => {
  // FNV-1a 64 test vector.
  assertEquals(fnv1a64(enc.encode("a")), 0xaf63dc4c8601ec8cn);
  const prog = {
    flags: PP.GENERIC,
    lits: [
      { fact: PF.RES, op: PO.GE, neg: false, value: 0n },
      { fact: PF.NAME, op: PO.PREFIX, neg: true, set: 7, lens: [5, 9] },
    ],
    clauses: [[1, 0], [0]],
    needles: [enc.encode("../")],
  };
  const b = encodeProgram(prog, 1);
  assertEquals(b.length, PROG_SIZE);
  const dv = new DataView(b.buffer);
  assertEquals([dv.getUint16(0, true), dv.getUint16(2, true), dv.getUint16(4, true)], [2, 3, 1]);
  const lit1 = 8 + LIT_SIZE;
  assertEquals([b[lit1], b[lit1 + 1], b[lit1 + 2]], [PF.NAME, PO.PREFIX, 1]);
  assertEquals(dv.getUint32(lit1 + 4, true), (7 | GEN_BIT) >>> 0);
  assertEquals([b[lit1 + 16], b[lit1 + 17], b[lit1 + 18]], [5, 9, 0]);
  const refs = 8 + PRED_LITS * LIT_SIZE;
  assertEquals([...b.subarray(refs, refs + 4)], [1, 0 | PR_END, 0 | PR_END, 0]);
  const needle = refs + PRED_REFS;
  assertEquals([...b.subarray(needle, needle + 3)], [46, 46, 47]);
  assertEquals(dv.getUint32(needle + 16, true), 3);
  const k = new DataView(memberKey({ set: 3, hash: 5n, len: NUMBER_LEN }, 0).buffer);
  assertEquals([k.getBigUint64(0, true), k.getUint32(8, true), k.getUint32(12, true)], [
    5n,
    3,
    NUMBER_LEN,
  ]);
});
