/**
 * Loads the probe (bpf/probe.bpf.c, built into .build/probe.bpf.o) through libbpf, wires its
 * tail-call table and settings, attaches it, and exposes the ring, the syscall filter and the
 * per-CPU counters.
 *
 * The object is opened from bytes (bpf_object__open_mem), so the same code works when the
 * object is embedded in a compiled binary. Failures give one line saying what is missing and
 * how to fix it; libbpf's own log (the verifier's included) goes to the debug log.
 *
 * @example
 * ```ts
 * import { Probe } from "./probe.ts";
 * const probe = await Probe.load({ ringBytes: 16 << 20 });
 * probe.setSyscalls(new Set([257, 3])); // openat, close
 * const drain = probe.ring.drain();
 * probe.close();
 * ```
 * @module
 */
import { cstr, libbpf } from "./libbpf.ts";
import { errno, libc, strerror } from "./libc.ts";
import { RingReader } from "./ring.ts";
import { encodeProgram, type KernelPrograms, memberKey, netKey, PRED_SLOTS } from "./predicates.ts";
import { HANDLED_SYSCALLS, SCAP_SYSCALL_CODE, SYSCALL_NR } from "../events/syscalls.ts";
import { DROP_KINDS, type DropKind, dropKindTable } from "../events/drop_kinds.ts";
import { log, logEnabled } from "../log.ts";
import { readAsset } from "../assets.ts";

/** Options for loading the probe. */
export interface ProbeOptions {
  /** The BPF object; default: {@link probeObject}. */
  object?: Uint8Array;
  /** Ring buffer size in bytes (rounded up to a power of two, at least 64 KiB). */
  ringBytes?: number;
  /** Attach sys_enter to measure syscall latency (costs more per captured syscall). */
  latency?: boolean;
  /** Bytes of I/O buffers (send/recv) captured; 0 captures none. */
  snaplen?: number;
  /** Record no event of a failed system call (Falco's drop_failed_exit). */
  dropFailedExit?: boolean;
  /** Drop every Nth record on purpose (tests of drop handling); 0 = never. */
  simulateDrops?: number;
  /**
   * Kernel predicates mark the records they would drop (RECORD_PRED_DROP) instead of dropping
   * them (tests compare the probe's verdicts with the rules').
   */
  predicateAudit?: boolean;
  /**
   * The probe wakes the reader with a record when the record's CPU has not woken it for this
   * many ns (default 5 ms); other records go in without a wake-up. 0: never wake (poll only).
   */
  wakeupNs?: number;
  /** Events of this process id are dropped in the kernel; default: this process. */
  ignorePid?: number;
  /** Internal: retry count after an interrupted load. */
  attempt?: number;
}

/** The kernel predicates' maps (bpf/probe.bpf.c). */
interface PredicateMapFds {
  index: number;
  progs: number;
  strs: number;
  nets: number;
}

/** Thrown when the probe cannot be loaded; the message is the one line to show the user. */
export class ProbeLoadError extends Error {}

/** Counters summed over CPUs, plus the per-CPU drops. */
export interface ProbeCounters {
  events: number;
  drops: number;
  truncated: number;
  simulatedDrops: number;
  /** Events the kernel predicates dropped (no rule could match them). */
  filtered: number;
  /** Calls response `deny` stopped (whether or not their record reached the ring). */
  denied: number;
  dropsPerCpu: number[];
  /** Records submitted, per CPU. */
  eventsPerCpu: number[];
  /** Drops by the kind of the lost record's event (Falco's n_drops_buffer categories). */
  dropsByKind: Record<DropKind, number>;
}

/**
 * The probe object: the file $SAKER_PROBE names, else the one Saker carries (embedded in a
 * build, .build/probe.bpf.o in a source tree; see src/assets.ts).
 */
export async function probeObject(): Promise<Uint8Array> {
  const path = Deno.env.get("SAKER_PROBE");
  if (path) {
    try {
      return await Deno.readFile(path);
    } catch {
      throw new ProbeLoadError(
        `probe object ${path} not found: build it with \`deno task build:bpf\``,
      );
    }
  }
  const object = readAsset("probe.bpf.o");
  if (!object) {
    throw new ProbeLoadError(
      "probe object .build/probe.bpf.o not found: build it with `deno task build:bpf`",
    );
  }
  return object;
}

/** Byte offset of each field of the probe's settings (struct saker_settings, bpf/record.h). */
export const SETTINGS = {
  agent_tgid: 0,
  snaplen: 4,
  enabled: 8,
  simulate_drops: 12,
  syscalls: 16,
  wakeup_ns: 16 + 512,
  drop_kind: 16 + 512 + 8,
  drop_failed_exit: 16 + 512 + 8 + 512,
  pred_on: 16 + 512 + 8 + 512 + 4,
  pred_gen: 16 + 512 + 8 + 512 + 8,
  pred_audit: 16 + 512 + 8 + 512 + 12,
  deny_exec_n: 16 + 512 + 8 + 512 + 16,
  deny_open_n: 16 + 512 + 8 + 512 + 20,
  agent_ptgid: 16 + 512 + 8 + 512 + 24,
  deny_allow_exe_n: 16 + 512 + 8 + 512 + 28,
  deny_allow_uid_n: 16 + 512 + 8 + 512 + 32,
  pred_epoch: 16 + 512 + 8 + 512 + 36,
  deny_comm_n: 16 + 512 + 8 + 512 + 40,
  pred_seed: 16 + 512 + 8 + 512 + 48,
} as const;
/** sizeof(struct saker_settings): the last field's end, rounded up to the u64's alignment. */
const SETTINGS_SIZE = Math.ceil((SETTINGS.pred_seed + 8) / 8) * 8;

/** Longest path a deny set holds, NUL included (DENY_PATH, bpf/record.h). */
export const DENY_PATH = 256;
/** Where a deny entry applies (bpf/record.h): processes on the host. */
export const DENY_HOST = 1;
/** Where a deny entry applies (bpf/record.h): processes in containers. */
export const DENY_CONTAINER = 2;

/** Longest process name a deny entry holds, NUL included (the kernel's TASK_COMM_LEN). */
export const DENY_COMM = 16;

/**
 * A deny set: entries and where each applies (DENY_HOST | DENY_CONTAINER). An entry is an
 * absolute path (any process), or {@link denyEntry}'s `NAME\0PATH` (that process name only; an
 * empty path: any executable of that name).
 */
export type DenySet = ReadonlyMap<string, number>;

/** The deny set entry of a path for processes named `comm` ("": any process). */
export function denyEntry(path: string, comm = ""): string {
  return comm === "" ? path : `${comm}\0${path}`;
}

/** The probe's key of a deny entry (struct deny_key: comm, then path, NUL-padded). */
export function denyKey(entry: string): Uint8Array {
  const cut = entry.indexOf("\0");
  const comm = cut < 0 ? "" : entry.slice(0, cut);
  const path = cut < 0 ? entry : entry.slice(cut + 1);
  const enc = new TextEncoder();
  const c = enc.encode(comm), p = enc.encode(path);
  if ((path !== "" || comm === "") && (!path.startsWith("/") || p.length >= DENY_PATH)) {
    throw new Error(`deny path ${path}: not absolute, or ${DENY_PATH} bytes or longer`);
  }
  if (c.length >= DENY_COMM) throw new Error(`deny name ${comm}: ${DENY_COMM} bytes or longer`);
  const key = new Uint8Array(DENY_COMM + DENY_PATH);
  key.set(c);
  key.set(p, DENY_COMM);
  return key;
}

/**
 * What the probe never denies beyond its fixed protections: executables by exact path or by
 * path prefix, and effective uids (bpf/deny.h).
 */
export interface DenyAllow {
  exact: readonly string[];
  prefixes: readonly string[];
  uids: readonly number[];
}

/**
 * The deny_allow_exe key of an exact path (its bytes and NUL) or a prefix (its bytes): u32
 * prefix length in bits, then DENY_PATH bytes.
 */
export function denyAllowKey(path: string, prefix: boolean): Uint8Array {
  let bytes = new TextEncoder().encode(path);
  // The probe looks a longer path up by its first DENY_PATH bytes, without the NUL: a longer
  // entry is held as that prefix (it may then cover more paths, never fewer).
  if (bytes.length + (prefix ? 0 : 1) > DENY_PATH) {
    bytes = bytes.subarray(0, DENY_PATH);
    prefix = true;
  }
  const key = new Uint8Array(4 + DENY_PATH);
  new DataView(key.buffer).setUint32(0, (bytes.length + (prefix ? 0 : 1)) * 8, true);
  key.set(bytes, 4);
  return key;
}
/**
 * The per-CPU counters, in the order of struct saker_counters (bpf/record.h), u64 each; the last
 * is an array with one counter per drop kind.
 */
export const COUNTER_FIELDS = [
  "events",
  "drops",
  "truncated",
  "simulated_drops",
  "filtered",
  "denied",
  "drops_by_kind",
] as const;
/** u64 values per CPU in struct saker_counters. */
const COUNTERS_PER_CPU = COUNTER_FIELDS.length - 1 + DROP_KINDS.length;

/** The probe's deny maps (deny sets and allowlist). */
interface DenyFds {
  exec: number;
  open: number;
  allowExe: number;
  allowUid: number;
}

/** Default of {@link ProbeOptions.wakeupNs}. */
export const DEFAULT_WAKEUP_NS = 5_000_000;
const ATTACHED = ["sys_exit", "sched_fork", "sched_exec", "sched_exit"];

function nextPow2(n: number): number {
  let p = 1 << 16;
  while (p < n) p *= 2;
  return p;
}

// libbpf log lines: collected so that a load failure can show the verifier's last words.
let logTail: string[] = [];
const PRINT_FN = { parameters: ["i32", "pointer", "pointer"], result: "i32" } as const;
let printCallback: Deno.UnsafeCallback<typeof PRINT_FN> | undefined;

function installLogger(): void {
  if (printCallback) return;
  const buf = new Uint8Array(1 << 20);
  printCallback = new Deno.UnsafeCallback(
    PRINT_FN,
    (level: number, fmt: Deno.PointerValue, args: Deno.PointerValue) => {
      const n = libc().vsnprintf(buf, BigInt(buf.length), fmt, args);
      const text = new TextDecoder().decode(
        buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))),
      );
      for (const line of text.split("\n")) {
        if (line.trim() === "") continue;
        logTail.push(line);
        if (logTail.length > 60) logTail.shift();
        // Everything, the verifier's log included, goes to the debug log; a failed load
        // quotes the last lines in its error.
        if (logEnabled("debug")) log.debug("libbpf", { level, msg: line });
      }
      return 0;
    },
  );
  libbpf().libbpf_set_print(printCallback.pointer);
}

function explain(action: string, code: number): ProbeLoadError {
  const reason = strerror(code);
  let fix = "";
  if ((code === 1 || code === 13) && Deno.uid() !== 0) {
    fix = " — run as root (the probe needs CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)";
  } else if (code === 22 || code === 7 || code === 13) {
    // The verifier's verdict: its log minus instruction dumps and bookkeeping lines.
    const verdict = logTail.filter((l) =>
      !/^\d+: \(|^;|^processed |^-- |^libbpf: |^from \d+ to |^\s*$/.test(l)
    ).slice(-2).join(" | ");
    // The program refused: the verdict alone names the subprogram last checked, which may be
    // shared by many programs (a kernel update can refuse one handler and not the others).
    const prog = logTail.map((l) => /^libbpf: prog '([^']+)': failed to load/.exec(l)?.[1])
      .findLast((name) => name !== undefined);
    fix = ` — the kernel rejected the probe (${
      prog ? `program ${prog}; ` : ""
    }log_level: debug shows the verifier log)${verdict ? `: ${verdict}` : ""}`;
  } else if (code === 2) {
    fix = " — a kernel feature the probe needs is missing (BTF, tracepoints or ring buffer)";
  }
  return new ProbeLoadError(`cannot ${action}: ${reason}${fix}`);
}

/** A loaded and attached probe. */
export class Probe {
  readonly ring: RingReader;
  readonly ringBytes: number;
  readonly cpus: number;
  #obj: Deno.PointerObject;
  #links: Deno.PointerObject[];
  #settings: DataView;
  #settingsFd: number;
  #syscalls: Uint8Array;
  #countersFd: number;
  #predFds: PredicateMapFds;
  /** Keys written for the generation in use (deleted when the next one takes over). */
  #predKeys: { strs: Uint8Array[]; nets: Uint8Array[] } = { strs: [], nets: [] };
  #predicates: KernelPrograms | undefined;
  #denyFds: DenyFds;
  #denied = { exec: new Set<string>(), open: new Set<string>() };
  /** Allowlist keys in the probe: executables (key bytes as text) and uids. */
  #allowed = { exes: new Map<string, Uint8Array>(), uids: new Set<number>() };
  #closed = false;

  private constructor(
    obj: Deno.PointerObject,
    links: Deno.PointerObject[],
    settings: DataView,
    settingsFd: number,
    ring: RingReader,
    ringBytes: number,
    countersFd: number,
    predFds: PredicateMapFds,
    denyFds: DenyFds,
  ) {
    this.#denyFds = denyFds;
    this.#obj = obj;
    this.#links = links;
    this.#settings = settings;
    this.#settingsFd = settingsFd;
    this.#syscalls = new Uint8Array(
      settings.buffer,
      settings.byteOffset + SETTINGS.syscalls,
      512,
    );
    this.ring = ring;
    this.ringBytes = ringBytes;
    this.#countersFd = countersFd;
    this.#predFds = predFds;
    this.cpus = libbpf().libbpf_num_possible_cpus();
  }

  /** Opens, loads and attaches the probe. Throws {@link ProbeLoadError} with a fix hint. */
  static async load(opts: ProbeOptions = {}): Promise<Probe> {
    try {
      Deno.statSync("/sys/kernel/btf/vmlinux");
    } catch {
      throw new ProbeLoadError(
        "this kernel has no BTF (/sys/kernel/btf/vmlinux): Saker needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or newer)",
      );
    }
    const object = opts.object ?? await probeObject();
    const bpf = libbpf();
    installLogger();
    logTail = [];

    // struct bpf_object_open_opts { size_t sz; const char *object_name; } — the rest zero.
    const name = cstr("saker");
    const openOpts = new BigUint64Array(2);
    openOpts[0] = 16n;
    openOpts[1] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(name)));
    const bytes = new Uint8Array(object);
    const obj = bpf.bpf_object__open_mem(
      bytes,
      BigInt(bytes.length),
      new Uint8Array(openOpts.buffer),
    );
    if (!obj) throw explain("open the probe object", errno());

    const cleanup: Array<() => void> = [() => bpf.bpf_object__close(obj)];
    const fail = (err: Error): never => {
      for (const f of cleanup.reverse()) f();
      throw err;
    };
    const map = (n: string) => {
      const m = bpf.bpf_object__find_map_by_name(obj, cstr(n));
      if (!m) {
        fail(new ProbeLoadError(`probe object has no map ${n}: rebuild it (deno task build:bpf)`));
      }
      return m!;
    };
    const prog = (n: string) => {
      const p = bpf.bpf_object__find_program_by_name(obj, cstr(n));
      if (!p) {
        fail(
          new ProbeLoadError(`probe object has no program ${n}: rebuild it (deno task build:bpf)`),
        );
      }
      return p!;
    };

    const ringBytes = nextPow2(opts.ringBytes ?? 16 << 20);
    if (ringBytes > 1 << 30) {
      fail(
        new ProbeLoadError(`ring buffer size ${opts.ringBytes} is out of range: 64 KiB to 1 GiB`),
      );
    }
    if (bpf.bpf_map__set_max_entries(map("ring"), ringBytes) !== 0) {
      fail(explain("size the ring buffer", errno()));
    }
    if (!opts.latency) bpf.bpf_program__set_autoload(prog("sys_enter"), false);
    const rc = bpf.bpf_object__load(obj);
    if (rc !== 0) {
      const code = -rc || errno();
      // EAGAIN: the verifier gives up when a signal arrives while it works (libbpf already
      // retried). Start over with a fresh object a few times before giving up.
      if (code === 11 && (opts.attempt ?? 0) < 4) {
        bpf.bpf_object__close(obj);
        await new Promise((r) => setTimeout(r, 50));
        return Probe.load({ ...opts, object, attempt: (opts.attempt ?? 0) + 1 });
      }
      fail(explain("load the probe into the kernel", code));
    }

    // Tail-call table: a dedicated handler where one exists, the generic one for the rest.
    const handlersFd = bpf.bpf_map__fd(map("handlers"));
    const codesFd = bpf.bpf_map__fd(map("scap_codes"));
    const generic = bpf.bpf_program__fd(prog("sx_generic"));
    const handled = new Map(HANDLED_SYSCALLS.map((n) => [SYSCALL_NR.get(n)!, n]));
    const key = new Uint32Array(1);
    const val = new Int32Array(1);
    const code = new Uint16Array(1);
    for (let nr = 0; nr < 512; nr++) {
      key[0] = nr;
      const h = handled.get(nr);
      val[0] = h ? bpf.bpf_program__fd(prog(`sx_${h}`)) : generic;
      if (bpf.bpf_map_update_elem(handlersFd, key, val, 0n) !== 0) {
        fail(explain(`register the handler of syscall ${nr}`, errno()));
      }
      code[0] = SCAP_SYSCALL_CODE.get(nr) ?? 0;
      bpf.bpf_map_update_elem(codesFd, key, code, 0n);
    }

    // Settings: the probe's .bss (one struct saker_settings), written whole with a map update.
    let bss = bpf.bpf_object__find_map_by_name(obj, cstr(".bss"));
    if (!bss) bss = map("saker.bss");
    const settingsFd = bpf.bpf_map__fd(bss);
    const settings = new DataView(new ArrayBuffer(SETTINGS_SIZE));
    settings.setUint32(SETTINGS.agent_tgid, opts.ignorePid ?? Deno.pid, true);
    settings.setUint32(SETTINGS.snaplen, opts.snaplen ?? 0, true);
    settings.setUint32(SETTINGS.simulate_drops, opts.simulateDrops ?? 0, true);
    settings.setBigUint64(SETTINGS.wakeup_ns, BigInt(opts.wakeupNs ?? DEFAULT_WAKEUP_NS), true);
    new Uint8Array(settings.buffer, SETTINGS.drop_kind, 512).set(dropKindTable());
    settings.setUint32(SETTINGS.drop_failed_exit, opts.dropFailedExit ? 1 : 0, true);
    settings.setUint32(SETTINGS.pred_audit, opts.predicateAudit ? 1 : 0, true);
    settings.setUint32(SETTINGS.agent_ptgid, opts.ignorePid === undefined ? Deno.ppid : 0, true);
    // The path cache's hash seed: random per load, so that colliding paths cannot be prepared.
    settings.setBigUint64(
      SETTINGS.pred_seed,
      crypto.getRandomValues(new BigUint64Array(1))[0],
      true,
    );

    const links: Deno.PointerObject[] = [];
    cleanup.push(() => links.forEach((l) => bpf.bpf_link__destroy(l)));
    for (const p of opts.latency ? [...ATTACHED, "sys_enter"] : ATTACHED) {
      const link = bpf.bpf_program__attach(prog(p));
      if (!link || bpf.libbpf_get_error(link) !== 0n) fail(explain(`attach ${p}`, errno()));
      links.push(link!);
    }

    let ring: RingReader;
    try {
      ring = new RingReader(bpf.bpf_map__fd(map("ring")), ringBytes);
    } catch (err) {
      return fail(new ProbeLoadError(`cannot map the ring buffer: ${(err as Error).message}`));
    }
    const probe = new Probe(
      obj,
      links,
      settings,
      settingsFd,
      ring,
      ringBytes,
      bpf.bpf_map__fd(map("counters")),
      {
        index: bpf.bpf_map__fd(map("pred_index")),
        progs: bpf.bpf_map__fd(map("pred_progs")),
        strs: bpf.bpf_map__fd(map("pred_strs")),
        nets: bpf.bpf_map__fd(map("pred_nets")),
      },
      {
        exec: bpf.bpf_map__fd(map("deny_exec")),
        open: bpf.bpf_map__fd(map("deny_open")),
        allowExe: bpf.bpf_map__fd(map("deny_allow_exe")),
        allowUid: bpf.bpf_map__fd(map("deny_allow_uid")),
      },
    );
    settings.setUint32(SETTINGS.enabled, 1, true);
    probe.#push();
    log.debug("probe attached", { programs: links.length, ring_bytes: ringBytes });
    return probe;
  }

  /** Writes the settings into the kernel's copy. */
  #push(): void {
    const key = new Uint32Array(1);
    const value = new Uint8Array(this.#settings.buffer);
    if (libbpf().bpf_map_update_elem(this.#settingsFd, key, value, 0n) !== 0) {
      throw new Error(`cannot update the probe settings: ${strerror(errno())}`);
    }
  }

  /**
   * Sets the syscalls the kernel lets through (numbers); takes effect immediately. The kernel
   * predicates in place stay.
   */
  setSyscalls(nrs: ReadonlySet<number>): void {
    this.setFilter(nrs, this.#predicates);
  }

  /**
   * Sets the syscalls the kernel lets through and the kernel predicates (none: every event of
   * those syscalls), together: the predicates are written into the maps' spare generation, then
   * one settings write switches syscalls and generation, so no event is tested against half of
   * a filter.
   */
  setFilter(nrs: ReadonlySet<number>, predicates: KernelPrograms | undefined): void {
    const next = new Uint8Array(512);
    for (const nr of nrs) if (nr >= 0 && nr < 512) next[nr] = 1;
    const gen = (this.#settings.getUint32(SETTINGS.pred_gen, true) ^ 1) & 1;
    const old = this.#predKeys;
    const written = predicates && predicates.programs.size > 0
      ? this.#writePredicates(predicates, gen)
      : undefined;
    this.#syscalls.set(next);
    if (written) {
      this.#settings.setUint32(SETTINGS.pred_gen, gen, true);
      // A new program epoch: the path cache holds no value of an older program.
      const epoch = this.#settings.getUint32(SETTINGS.pred_epoch, true);
      this.#settings.setUint32(SETTINGS.pred_epoch, (epoch + 1) >>> 0, true);
      this.#settings.setUint32(SETTINGS.pred_on, 1, true);
    } else {
      this.#settings.setUint32(SETTINGS.pred_on, 0, true);
    }
    this.#push();
    // The generation no longer in use: its set members go (programs are overwritten in place).
    const bpf = libbpf();
    for (const k of old.strs) bpf.bpf_map_delete_elem(this.#predFds.strs, k);
    for (const k of old.nets) bpf.bpf_map_delete_elem(this.#predFds.nets, k);
    this.#predKeys = written ?? { strs: [], nets: [] };
    this.#predicates = predicates;
  }

  /** Writes `p` as generation `gen`; returns the set keys written. */
  #writePredicates(p: KernelPrograms, gen: number): { strs: Uint8Array[]; nets: Uint8Array[] } {
    const bpf = libbpf();
    const fds = this.#predFds;
    const one = new Uint8Array([1]);
    const keys = { strs: [] as Uint8Array[], nets: [] as Uint8Array[] };
    for (const m of p.members) {
      const k = memberKey(m, gen);
      if (bpf.bpf_map_update_elem(fds.strs, k, one, 0n) !== 0) {
        throw new Error(`cannot write a kernel predicate set: ${strerror(errno())}`);
      }
      keys.strs.push(k);
    }
    for (const n of p.nets) {
      const k = netKey(n, gen);
      if (bpf.bpf_map_update_elem(fds.nets, k, one, 0n) !== 0) {
        throw new Error(`cannot write a kernel predicate address set: ${strerror(errno())}`);
      }
      keys.nets.push(k);
    }
    if (p.programs.size >= PRED_SLOTS) throw new Error("too many kernel predicate programs");
    const slotOf = new Map<number, number>();
    const key = new Uint32Array(1);
    let slot = 0;
    for (const [nr, prog] of p.programs) {
      slot++;
      slotOf.set(nr, slot);
      key[0] = gen * PRED_SLOTS + slot;
      if (bpf.bpf_map_update_elem(fds.progs, key, encodeProgram(prog, gen), 0n) !== 0) {
        throw new Error(`cannot write a kernel predicate program: ${strerror(errno())}`);
      }
    }
    const val = new Uint32Array(1);
    for (let nr = 0; nr < 512; nr++) {
      key[0] = gen * 512 + nr;
      val[0] = slotOf.get(nr) ?? 0;
      bpf.bpf_map_update_elem(fds.index, key, val, 0n);
    }
    return keys;
  }

  /** The syscall numbers currently let through. */
  syscalls(): Set<number> {
    const out = new Set<number>();
    this.#syscalls.forEach((v, nr) => v && out.add(nr));
    return out;
  }

  /**
   * Replaces a deny set (`exec`: executables; `open`: files): new entries are added and in
   * effect before old ones go, so an entry in both sets is never let through meanwhile. Throws on
   * an entry the kernel side cannot hold (a path not absolute or of DENY_PATH bytes or more, a
   * name of DENY_COMM bytes or more).
   */
  setDeny(kind: "exec" | "open", set: DenySet): void {
    const fd = this.#denyFds[kind];
    const bpf = libbpf();
    const value = new Uint32Array(1);
    for (const [entry, where] of set) {
      value[0] = where;
      if (bpf.bpf_map_update_elem(fd, denyKey(entry), value, 0n) !== 0) {
        throw new Error(`cannot add ${entry} to the ${kind} deny set: ${strerror(errno())}`);
      }
    }
    const named = (entries: Iterable<string>) =>
      [...entries].filter((e) => e.includes("\0")).length;
    const other = kind === "exec" ? "open" : "exec";
    const field = kind === "exec" ? SETTINGS.deny_exec_n : SETTINGS.deny_open_n;
    // In effect (counts cover old and new), then the old entries go, then the exact counts.
    const old = this.#denied[kind];
    this.#settings.setUint32(field, Math.max(old.size, set.size), true);
    this.#settings.setUint32(
      SETTINGS.deny_comm_n,
      named(this.#denied[other]) + Math.max(named(old), named(set.keys())),
      true,
    );
    this.#push();
    for (const entry of old) {
      if (!set.has(entry)) bpf.bpf_map_delete_elem(fd, denyKey(entry));
    }
    this.#denied[kind] = new Set(set.keys());
    this.#settings.setUint32(field, set.size, true);
    this.#settings.setUint32(
      SETTINGS.deny_comm_n,
      named(this.#denied.exec) + named(this.#denied.open),
      true,
    );
    this.#push();
  }

  /**
   * Replaces the allowlist the probe applies to `deny` (new entries before old ones go, so an
   * entry in both is never missing meanwhile).
   */
  setDenyAllow(allow: DenyAllow): void {
    const bpf = libbpf();
    const one = new Uint8Array([1]);
    const exes = new Map<string, Uint8Array>();
    for (const [list, prefix] of [[allow.exact, false], [allow.prefixes, true]] as const) {
      for (const p of list) {
        const key = denyAllowKey(p, prefix);
        exes.set(key.join(","), key);
      }
    }
    for (const key of exes.values()) {
      if (bpf.bpf_map_update_elem(this.#denyFds.allowExe, key, one, 0n) !== 0) {
        throw new Error(`cannot allowlist an executable in the probe: ${strerror(errno())}`);
      }
    }
    const uid = new Uint32Array(1);
    for (const u of allow.uids) {
      uid[0] = u;
      if (bpf.bpf_map_update_elem(this.#denyFds.allowUid, uid, one, 0n) !== 0) {
        throw new Error(`cannot allowlist uid ${u} in the probe: ${strerror(errno())}`);
      }
    }
    for (const [k, key] of this.#allowed.exes) {
      if (!exes.has(k)) bpf.bpf_map_delete_elem(this.#denyFds.allowExe, key);
    }
    const uids = new Set(allow.uids);
    for (const u of this.#allowed.uids) {
      uid[0] = u;
      if (!uids.has(u)) bpf.bpf_map_delete_elem(this.#denyFds.allowUid, uid);
    }
    this.#allowed = { exes, uids };
    this.#settings.setUint32(SETTINGS.deny_allow_exe_n, exes.size, true);
    this.#settings.setUint32(SETTINGS.deny_allow_uid_n, uids.size, true);
    this.#push();
  }

  /** Changes the drop simulation period (0 = off). */
  setSimulateDrops(every: number): void {
    this.#settings.setUint32(SETTINGS.simulate_drops, every, true);
    this.#push();
  }

  /** Reads the per-CPU counters. */
  counters(): ProbeCounters {
    const key = new Uint32Array(1);
    const n = COUNTERS_PER_CPU;
    const vals = new BigUint64Array(this.cpus * n);
    const out: ProbeCounters = {
      events: 0,
      drops: 0,
      truncated: 0,
      simulatedDrops: 0,
      filtered: 0,
      denied: 0,
      dropsPerCpu: [],
      eventsPerCpu: [],
      dropsByKind: Object.fromEntries(DROP_KINDS.map((k) => [k, 0])) as Record<DropKind, number>,
    };
    if (libbpf().bpf_map_lookup_elem(this.#countersFd, key, new Uint8Array(vals.buffer)) !== 0) {
      return out;
    }
    const at = (cpu: number, f: typeof COUNTER_FIELDS[number], i = 0) =>
      Number(vals[cpu * n + COUNTER_FIELDS.indexOf(f) + i]);
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      out.events += at(cpu, "events");
      out.eventsPerCpu.push(at(cpu, "events"));
      const d = at(cpu, "drops");
      out.drops += d;
      out.dropsPerCpu.push(d);
      out.truncated += at(cpu, "truncated");
      out.simulatedDrops += at(cpu, "simulated_drops");
      out.filtered += at(cpu, "filtered");
      out.denied += at(cpu, "denied");
      DROP_KINDS.forEach((k, i) => out.dropsByKind[k] += at(cpu, "drops_by_kind", i));
    }
    return out;
  }

  /** Stops events, detaches every program, unmaps the ring and frees the object. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settings.setUint32(SETTINGS.enabled, 0, true);
    this.#push();
    const bpf = libbpf();
    for (const l of this.#links) bpf.bpf_link__destroy(l);
    this.ring.close();
    bpf.bpf_object__close(this.#obj);
  }
}
