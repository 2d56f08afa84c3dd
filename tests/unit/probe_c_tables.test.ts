/**
 * The facts the probe's C sources and the TypeScript side both hold, compared by reading the C:
 * event ids (bpf/scap.h) against the event table, the record header (bpf/record.h and how
 * record_writer.h fills it) against the decoder's layout, the settings and counters structs
 * against the probe loader, the handler list (HANDLER(name) in bpf/) against the syscalls Saker
 * decodes, each handler's parameter count against its event, and the syscall numbers the
 * scheduler programs test against the syscall table. No compiler and no root needed.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { EVENTS } from "../../src/events/table.ts";
import {
  LIVE_HEADER,
  LIVE_HEADER_SIZE,
  RECORD_DENIED,
  RECORD_PRED_DROP,
  RECORD_TRUNCATED,
} from "../../src/events/event.ts";
import { HANDLED_SYSCALLS, SYSCALL_NR } from "../../src/events/syscalls.ts";
import { flagValue } from "../../src/events/flags.ts";
import { COUNTER_FIELDS, SETTINGS } from "../../src/kernel/probe.ts";
import { DROP_KINDS } from "../../src/events/drop_kinds.ts";
import {
  KEY_SIZE,
  LIT_SIZE,
  NEEDLE_SIZE,
  PF,
  PL_NEG,
  PO,
  PP,
  PR_END,
  PRED_LENS,
  PRED_LITS,
  PRED_NEEDLES,
  PRED_REFS,
  PRED_SCAN,
  PRED_SLOTS,
  PROG_SIZE,
} from "../../src/kernel/predicates.ts";

const BPF = `${REPO_ROOT}bpf/`;
const read = (name: string) => Deno.readTextFileSync(`${BPF}${name}`);
const noComments = (c: string) => c.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

/** Every source of the probe: probe.bpf.c and the headers it includes. */
function probeSources(): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(BPF)) {
    if (e.isFile && /\.(c|h)$/.test(e.name)) out.set(e.name, read(e.name));
  }
  return out;
}

/** `#define NAME <integer>` values of a header. */
function defines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of noComments(text).matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\s*$/gm)) {
    out.set(m[1], Number(m[2]));
  }
  for (const m of noComments(text).matchAll(/^#define\s+(\w+)\s+\(1 << (\d+)\)\s*$/gm)) {
    out.set(m[1], 1 << Number(m[2]));
  }
  return out;
}

const SCAP = defines(read("scap.h"));
const RECORD = defines(read("record.h"));
const PRED = defines(read("predicate_types.h"));

/** Byte offsets of a C struct's fields (scalars and arrays of __u8/__u16/__u32/__u64). */
function structFields(text: string, name: string): { name: string; offset: number }[] {
  const body = new RegExp(`struct ${name} \\{([\\s\\S]*?)\\};`).exec(noComments(text))?.[1];
  assert(body, `struct ${name} not found`);
  const size: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8, __s64: 8 };
  const out: { name: string; offset: number }[] = [];
  let off = 0;
  for (const m of body.matchAll(/(__[us]\d+)\s+(\w+)(?:\[(\w+)\])?;/g)) {
    const s = size[m[1]];
    off = Math.ceil(off / s) * s; // natural alignment
    out.push({ name: m[2], offset: off });
    const n = m[3] === undefined ? 1 : /^\d+$/.test(m[3]) ? Number(m[3]) : PRED.get(m[3]);
    assert(n !== undefined, `array size ${m[3]} of struct ${name}`);
    off += s * n;
  }
  out.push({ name: "", offset: Math.ceil(off / 8) * 8 }); // the size (8-aligned structs here)
  return out;
}

Deno.test("C tables: every event id in bpf/scap.h is that event's exit id in the event table", () => {
  const ids = [...SCAP].filter(([k]) => k.startsWith("EV_"));
  assert(ids.length > 60, `only ${ids.length} EV_ ids read`);
  const wrong: string[] = [];
  for (const [macro, id] of ids) {
    const name = macro === "EV_GENERIC" ? "syscall" : macro.slice(3).toLowerCase();
    const e = EVENTS[id];
    // procexit is an enter event in scap (it has no exit); every other id is an exit event.
    const dir = name === "procexit" ? ">" : "<";
    if (!e || e.name !== name || e.dir !== dir) {
      wrong.push(`${macro} = ${id}: the table has ${e ? `${e.dir} ${e.name}` : "nothing"}`);
    } else if (EVENTS.some((o) => o.name === name && o.dir === dir && !o.old && o.id > id)) {
      wrong.push(`${macro} = ${id} is not the newest version of ${name}`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("C tables: parameter counts, Saker's execve extras, families and exe flags", () => {
  assertEquals(SCAP.get("NP_CLONE"), EVENTS[SCAP.get("EV_CLONE")!].scapParamCount);
  assertEquals(SCAP.get("NP_EXECVE"), EVENTS[SCAP.get("EV_EXECVE")!].scapParamCount);
  assertEquals(SCAP.get("NP_EXECVEAT"), EVENTS[SCAP.get("EV_EXECVEAT")!].scapParamCount);
  for (const ev of ["EV_EXECVE", "EV_EXECVEAT"]) {
    const e = EVENTS[SCAP.get(ev)!];
    assertEquals(SCAP.get("EXECVE_EXTRA"), e.params.length - e.scapParamCount, ev);
  }
  const families = [...SCAP].filter(([k]) => k.startsWith("S_AF_"));
  assert(families.length >= 4);
  for (const [k, v] of families) {
    assertEquals(flagValue("socket_families", k.slice(2)), v, k);
  }
  const exe = [...SCAP].filter(([k]) => k.startsWith("S_EXE_"));
  assertEquals(exe.length, 4);
  for (const [k, v] of exe) assertEquals(flagValue("execve_flags", k.slice(2)), v, k);
});

Deno.test("C tables: the record header of bpf/record.h is the decoder's layout", () => {
  assertEquals(RECORD.get("HEADER_SIZE"), LIVE_HEADER_SIZE);
  assertEquals(RECORD.get("RECORD_TRUNCATED"), RECORD_TRUNCATED);
  // The layout as record.h documents it: "u64 ts", "u32 tid", ..., "char comm[16]".
  const size: Record<string, number> = { u64: 8, u32: 4, u16: 2, char: 1 };
  const doc: Record<string, number> = {};
  let off = 0;
  for (const m of read("record.h").matchAll(/^ \*\s+(u64|u32|u16|char) (\w+)(?:\[(\d+)\])?\s/gm)) {
    if (m[2] === "lens") break;
    doc[m[2]] = off;
    off += size[m[1]] * Number(m[3] ?? 1);
  }
  assertEquals(doc, { ...LIVE_HEADER });
  assertEquals(off, LIVE_HEADER_SIZE);

  // What rec_begin (bpf/record_writer.h) writes at each offset.
  const writer = noComments(read("record_writer.h"));
  const begin = /rec_begin\([\s\S]*?\n\}/.exec(writer)?.[0] ?? "";
  const writes = new Map<number, string>();
  for (const m of begin.matchAll(/\*\((__u\d+) \*\)&buf\[(\d+)\] = ([^;]+);/g)) {
    writes.set(Number(m[2]), `${m[1]} ${m[3].trim()}`);
  }
  // comm: the task's 16 bytes as two words.
  assert(/const __u64 \*comm = \(const __u64 \*\)task->comm;/.test(begin), "comm read from task");
  assertEquals(writes.get(LIVE_HEADER.comm), "__u64 comm[0]");
  assertEquals(writes.get(LIVE_HEADER.comm + 8), "__u64 comm[1]");
  const expect: [keyof typeof LIVE_HEADER, RegExp][] = [
    ["ts", /^__u64 bpf_ktime_get_boot_ns\(\)$/],
    ["tid", /^__u32 task->pid$/],
    ["pid", /^__u32 task->tgid$/],
    ["ppid", /^__u32 task->real_parent->tgid$/],
    ["len", /^__u32 HEADER_SIZE \+ 2 \* nparams$/],
    ["type", /^__u16 type$/],
    ["nparams", /^__u16 nparams$/],
    ["cpu", /^__u16 bpf_get_smp_processor_id\(\)$/],
    ["flags", /^__u16 0$/],
  ];
  for (const [field, re] of expect) {
    const w = writes.get(LIVE_HEADER[field]);
    assert(w && re.test(w), `${field} at ${LIVE_HEADER[field]}: rec_begin writes ${w}`);
  }
  // The writer keeps its position and flags in the header's len and flags slots.
  assert(writer.includes(`&r->buf[${LIVE_HEADER.len}]`), "write position in the len slot");
  assert(writer.includes(`&r->buf[${LIVE_HEADER.flags}]`), "flags in the flags slot");
});

Deno.test("C tables: settings and counters structs match the probe loader", () => {
  const settings = structFields(read("record.h"), "saker_settings").filter((f) => f.name !== "");
  assertEquals(Object.fromEntries(settings.map((f) => [f.name, f.offset])), { ...SETTINGS });
  const syscalls = /__u8 syscalls\[(\d+)\];/.exec(read("record.h"));
  assertEquals(Number(syscalls?.[1]), 512);
  const dropKind = /__u8 drop_kind\[(\d+)\];/.exec(read("record.h"));
  assertEquals(Number(dropKind?.[1]), 512);
  const counters = structFields(read("record.h"), "saker_counters").filter((f) => f.name !== "");
  assertEquals(counters.map((f) => f.name), [...COUNTER_FIELDS]);
  assertEquals(counters.map((f) => f.offset), COUNTER_FIELDS.map((_, i) => i * 8));
  const kinds = /__u64 drops_by_kind\[(\d+)\];/.exec(read("record.h"));
  assertEquals(Number(kinds?.[1]), DROP_KINDS.length);
  assertEquals(Number(/#define DROP_KINDS (\d+)/.exec(read("record.h"))?.[1]), DROP_KINDS.length);
});

/** HANDLER(name) bodies of the probe: name, file and the text up to the next top-level item. */
function handlers(): { name: string; file: string; body: string }[] {
  const out: { name: string; file: string; body: string }[] = [];
  for (const [file, text] of probeSources()) {
    const code = noComments(text);
    for (const m of code.matchAll(/^HANDLER\((\w+)\) \{\n([\s\S]*?)^\}/gm)) {
      out.push({ name: m[1], file, body: m[2] });
    }
  }
  return out;
}

Deno.test("C tables: the probe's handlers are the syscalls Saker decodes", () => {
  const hs = handlers();
  const names = hs.map((h) => h.name).filter((n) => n !== "generic").sort();
  assertEquals(names, [...HANDLED_SYSCALLS].sort());
  assertEquals(new Set(names).size, names.length, "a handler defined twice");
  assert(hs.some((h) => h.name === "generic"), "the generic handler");
});

Deno.test("C tables: each handler begins a record of its event with the event's parameter count", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const h of handlers()) {
    for (const m of h.body.matchAll(/BEGIN\((EV_\w+), (\d+)\)/g)) {
      checked++;
      const id = SCAP.get(m[1]);
      if (id === undefined) {
        problems.push(`${h.file} ${h.name}: ${m[1]} is not defined in scap.h`);
        continue;
      }
      const e = EVENTS[id];
      if (e.params.length !== Number(m[2])) {
        problems.push(
          `${h.name}: ${m[1]} has ${e.params.length} parameters, the probe writes ${m[2]}`,
        );
      }
      // The event is the syscall's own, or the generic one.
      if (h.name !== "generic" && e.name !== h.name) {
        problems.push(`${h.name} writes ${e.name} events`);
      }
    }
  }
  assert(checked > 70, `only ${checked} BEGIN calls read`);
  assertEquals(problems, []);
});

Deno.test("C tables: syscall numbers the scheduler programs test are the syscall table's", () => {
  const probe = noComments(read("probe.bpf.c"));
  const cases = [...probe.matchAll(/case (\d+): (?:\{\s*)?type = (EV_\w+)/g)];
  assert(cases.length >= 4, `${cases.length} cases read`);
  for (const [, nr, ev] of cases) {
    const name = EVENTS[SCAP.get(ev)!].name;
    assertEquals(SYSCALL_NR.get(name), Number(nr), `${ev} tested as syscall ${nr}`);
  }
  // execve vs execveat: `nr != 322` and the filter slots 59 and 322.
  const exec =
    /int is_execve = nr != (\d+);[\s\S]*?settings\.syscalls\[\(is_execve \? (\d+) : (\d+)\)/
      .exec(probe);
  assert(exec, "the exec program's syscall test");
  assertEquals(Number(exec[1]), SYSCALL_NR.get("execveat"));
  assertEquals(Number(exec[2]), SYSCALL_NR.get("execve"));
  assertEquals(Number(exec[3]), SYSCALL_NR.get("execveat"));
  // The opens `deny` checks pass the result-only predicates: open, openat, openat2, creat.
  const opens = /int deny_open_nr = settings\.deny_open_n && \(([^;]*)\);/.exec(probe);
  assert(opens, "the deny open test in sys_exit");
  const nrs = [...opens[1].matchAll(/nr == (\d+)/g)].map((m) => Number(m[1])).sort();
  const want = ["open", "openat", "openat2", "creat"].map((n) => SYSCALL_NR.get(n)!).sort();
  assertEquals(nrs, want);
});

Deno.test("C tables: kernel predicate numbers and layouts match src/kernel/predicates.ts", () => {
  const want: Record<string, number> = {
    PRED_SLOTS,
    PRED_LITS,
    PRED_REFS,
    PRED_NEEDLES,
    PRED_LENS,
    PRED_SCAN,
    PL_NEG,
    PR_END,
  };
  for (const [k, v] of Object.entries(PF)) want[`PF_${k}`] = v;
  for (const [k, v] of Object.entries(PO)) want[`PO_${k}`] = v;
  for (const [k, v] of Object.entries(PP)) want[`PP_${k}`] = v;
  for (const [k, v] of Object.entries(want)) assertEquals(PRED.get(k), v, k);
  // Every fact and operator the C side defines is one the TypeScript side knows.
  for (const k of [...PRED.keys()].filter((k) => /^(PF|PO|PP)_/.test(k))) assert(k in want, k);
  assertEquals(RECORD.get("RECORD_PRED_DROP"), RECORD_PRED_DROP);
  assertEquals(RECORD.get("RECORD_DENIED"), RECORD_DENIED);
  const types = read("predicate_types.h");
  const lit = structFields(types, "pred_lit");
  assertEquals(lit.map((f) => f.name), ["fact", "op", "flags", "arg", "set", "value", "lens", ""]);
  assertEquals(lit.map((f) => f.offset), [0, 1, 2, 3, 4, 8, 16, LIT_SIZE]);
  const needle = structFields(types, "pred_needle");
  assertEquals(needle.map((f) => f.offset), [0, 8, 16, 20, NEEDLE_SIZE]);
  const key = structFields(types, "pred_key");
  assertEquals(key.map((f) => f.offset), [0, 8, 12, KEY_SIZE]);
  // struct pred_prog: counts and flags, then the literals, references and needles in order.
  const prog = /struct pred_prog \{([\s\S]*?)\};/.exec(noComments(types))?.[1] ?? "";
  assertEquals(
    [...prog.matchAll(/(\w+)(?:\[\w+\])?;/g)].map((m) => m[1]),
    ["nlits", "nrefs", "flags", "pad", "lits", "refs", "needles"],
  );
  assertEquals(PROG_SIZE, 8 + PRED_LITS * LIT_SIZE + PRED_REFS + PRED_NEEDLES * NEEDLE_SIZE);
  const maps = noComments(read("probe.bpf.c"));
  assert(/max_entries, 256\);[^}]*struct pred_prog/.test(maps), "pred_progs holds 2 * PRED_SLOTS");
  assertEquals(2 * PRED_SLOTS, 256);
});
