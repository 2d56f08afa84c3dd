/**
 * Rules evaluation benchmark: Falco's stable rules (falco_rules.yaml) on a synthetic event mix
 * (execve, openat, connect, dup2, close, read/write, clone ...) with hand-made thread, process
 * and fd state. Each event is evaluated once, as in the pipeline (parameters decode lazily on
 * first use). Reports ns per event for the generated code and, side by side in the same run,
 * for the reference evaluator walking the checked trees. Saker's default rules carry sequences
 * (rules/70_sequences.yaml): the same run also measures the rules without them, on the mix (where
 * the write below /tmp starts a "Dropped binary executed" chain every round, so chains are in
 * progress) and on the mix without that write (no sequence in progress).
 * @module
 */
import { concatRecords, encodeLiveRecord } from "../../src/events/encode.ts";
import { decodeLiveBatch, type Event } from "../../src/events/event.ts";
import { currentExitId } from "../../src/events/table.ts";
import { FD_TYPE, FdInfo, L4, ProcessInfo, ThreadInfo } from "../../src/state/model.ts";
import type { StateView } from "../../src/state/model.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset, type Ruleset } from "../../src/rules/ruleset.ts";
import { evaluate } from "../../src/rules/interp.ts";
import { foldForType } from "../../src/rules/codegen.ts";
import { EVENTS } from "../../src/events/table.ts";
import { referenceDir } from "../reference.ts";

const REF = referenceDir() ?? "<reference material absent: set SAKER_REFERENCE>";

function state(): { view: StateView; procs: Map<number, ProcessInfo> } {
  const procs = new Map<number, ProcessInfo>();
  const view: StateView = {
    process: (pid) => procs.get(pid),
    container: () => undefined,
    user: (uid) => ({
      id: uid,
      name: uid === 0 ? "root" : "user",
      home: "/root",
      shell: "/bin/bash",
    }),
    group: (gid) => ({ id: gid, name: gid === 0 ? "root" : "users", home: "", shell: "" }),
    env: () => [],
  };
  return { view, procs };
}

function proc(
  s: ReturnType<typeof state>,
  pid: number,
  ppid: number,
  comm: string,
  exepath: string,
  args: string[],
): ProcessInfo {
  const p = new ProcessInfo(pid, s.view);
  p.ppid = ppid;
  p.comm = comm;
  p.exe = exepath;
  p.exepath = exepath;
  p.args = args;
  p.cwd = "/home/user";
  p.sid = 1;
  p.tty = 34816;
  p.loginuid = 1000;
  s.procs.set(pid, p);
  return p;
}

/** One event of the mix: name, params, pid, fd info for the event. */
type MixEvent = { name: string; params: Record<string, unknown>; pid: number; fd?: FdInfo };

/** Events of one mix round: each entry is [event name, params, pid, fd info for the event]. */
function mix(): MixEvent[] {
  const file = (num: number, name: string, flags: number) => {
    const f = new FdInfo(num, FD_TYPE.FILE, name);
    f.openFlags = flags;
    return f;
  };
  const sock = new FdInfo(4, FD_TYPE.IPV4_SOCK, "10.0.0.5:40000->93.184.216.34:443");
  sock.l4proto = L4.TCP;
  sock.family = 2;
  sock.cip = "10.0.0.5";
  sock.cport = 40000;
  sock.sip = "93.184.216.34";
  sock.sport = 443;
  return [
    {
      name: "execve",
      params: {
        res: 0,
        exe: "curl",
        args: ["-s", "http://x"],
        tid: 300,
        pid: 300,
        ptid: 200,
        cwd: "/home/user",
      },
      pid: 300,
    },
    {
      name: "openat",
      params: { fd: 3, dirfd: -100, name: "/etc/ld.so.cache", flags: 1, mode: 0 },
      pid: 300,
      fd: file(3, "/etc/ld.so.cache", 1),
    },
    {
      name: "openat",
      params: { fd: 3, dirfd: -100, name: "/lib/x86_64-linux-gnu/libc.so.6", flags: 1, mode: 0 },
      pid: 300,
      fd: file(3, "/lib/x86_64-linux-gnu/libc.so.6", 1),
    },
    {
      name: "read",
      params: { res: 832, data: new Uint8Array(16), fd: 3, size: 832 },
      pid: 300,
      fd: file(3, "/lib/x86_64-linux-gnu/libc.so.6", 1),
    },
    { name: "close", params: { res: 0, fd: 3 }, pid: 300, fd: file(3, "/etc/ld.so.cache", 1) },
    { name: "socket", params: { fd: 4, domain: 2, type: 1, proto: 0 }, pid: 300, fd: sock },
    {
      name: "connect",
      params: {
        res: 0,
        tuple: { family: 2, sip: "10.0.0.5", sport: 40000, dip: "93.184.216.34", dport: 443 },
        fd: 4,
        addr: { family: 2, addr: "93.184.216.34", port: 443 },
      },
      pid: 300,
      fd: sock,
    },
    {
      name: "write",
      params: { res: 64, data: new Uint8Array(64), fd: 4, size: 64 },
      pid: 300,
      fd: sock,
    },
    { name: "dup2", params: { res: 1, oldfd: 4, newfd: 1 }, pid: 300, fd: sock },
    {
      name: "openat",
      params: { fd: 5, dirfd: -100, name: "/etc/passwd", flags: 1, mode: 0 },
      pid: 201,
      fd: file(5, "/etc/passwd", 1),
    },
    {
      name: "openat",
      params: { fd: 6, dirfd: -100, name: "/tmp/out.txt", flags: 4 | 2 | 256, mode: 0o644 },
      pid: 201,
      fd: file(6, "/tmp/out.txt", 262),
    },
    {
      name: "clone",
      params: {
        res: 0,
        exe: "bash",
        args: [],
        tid: 301,
        pid: 301,
        ptid: 200,
        cwd: "/home/user",
        flags: 0,
      },
      pid: 200,
    },
    {
      name: "execve",
      params: {
        res: 0,
        exe: "cat",
        args: ["/etc/passwd"],
        tid: 201,
        pid: 201,
        ptid: 200,
        cwd: "/home/user",
      },
      pid: 201,
    },
    {
      name: "unlinkat",
      params: { res: 0, dirfd: -100, name: "/var/log/syslog", flags: 0 },
      pid: 201,
    },
    { name: "setuid", params: { res: 0, uid: 0 }, pid: 201 },
    {
      name: "mmap",
      params: { res: 0, addr: 0, length: 4096, prot: 1, flags: 2, fd: 3, offset: 0 },
      pid: 300,
    },
  ];
}

/** Saker's default rules (rules/*.yaml, in name order). */
function sakerRulesFiles(): string[] {
  const dir = new URL("../../rules/", import.meta.url).pathname;
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && /\.ya?ml$/.test(e.name))
    .map((e) => dir + e.name)
    .sort();
}

/** Runs the benchmark: Falco's stable rules and Saker's default rules on the same mix. */
export async function bench(): Promise<Record<string, unknown>> {
  const rulesFile = `${REF}/falco-rules/falco_rules.yaml`;
  let falco: Record<string, unknown>;
  try {
    await Deno.stat(rulesFile);
    falco = await measure([rulesFile]);
  } catch (err) {
    falco = err instanceof Deno.errors.NotFound
      ? { skipped: `${rulesFile} is absent` }
      : { error: (err as Error).message };
  }
  return { falco_stable_rules: falco, saker_default_rules: await measure(sakerRulesFiles()) };
}

/** Evaluation cost of the rules in `files` on the mix. */
async function measure(files: string[]): Promise<Record<string, unknown>> {
  const loaded = await loadRulesFiles(files);
  const t0 = performance.now();
  const rs = compileRuleset(loaded, { ruleMatching: "all" });
  const compileMs = performance.now() - t0;

  const s = state();
  proc(s, 1, 0, "systemd", "/usr/lib/systemd/systemd", []);
  proc(s, 100, 1, "sshd", "/usr/sbin/sshd", ["-D"]);
  proc(s, 200, 100, "bash", "/usr/bin/bash", []);
  proc(s, 201, 200, "cat", "/usr/bin/cat", ["/etc/passwd"]);
  proc(s, 300, 200, "curl", "/usr/bin/curl", ["-s", "http://x"]);
  proc(s, 301, 200, "bash", "/usr/bin/bash", []);
  const threads = new Map<number, ThreadInfo>();
  for (const [pid, p] of s.procs) {
    const t = new ThreadInfo(pid, p);
    t.comm = p.comm;
    t.uid = pid === 201 ? 0 : 1000;
    threads.set(pid, t);
  }

  const round = mix();
  // The same mix with the write below /tmp moved to /var/log: nothing starts a chain.
  const logFd = new FdInfo(6, FD_TYPE.FILE, "/var/log/out.txt");
  logFd.openFlags = 262;
  const idleRound = round.map((m) =>
    m.params.name === "/tmp/out.txt"
      ? { ...m, params: { ...m.params, name: "/var/log/out.txt" }, fd: logFd }
      : m
  );
  const rounds = 4000;
  // Events 1 ms apart, so that sequence chains live and expire as they would.
  const bufOf = (r: MixEvent[]) => {
    const all: Uint8Array[] = [];
    for (let i = 0; i < rounds; i++) {
      r.forEach((m, j) => {
        const t = threads.get(m.pid)!;
        const ts = BigInt(i * r.length + j) * 1_000_000n;
        all.push(encodeLiveRecord(
          currentExitId(m.name)!,
          { tid: m.pid, pid: m.pid, comm: t.comm, ts },
          m.params,
        ));
      });
    }
    return concatRecords(all);
  };
  const buf = bufOf(round);
  const idleBuf = bufOf(idleRound);
  // In the pipeline the state stage reads an event's parameters before the rules run, so they
  // are decoded already; `lazy` leaves the decoding to the rules (an upper bound).
  const makeEvents = (lazy = false, which = buf, r = round): Event[] => {
    const evs = decodeLiveBatch(which, 1_700_000_000_000_000_000n, 1);
    evs.forEach((ev, i) => {
      if (!lazy) { for (let p = 0; p < ev.nparams; p++) ev.param(p); }
      const m = r[i % r.length];
      ev.thread = threads.get(m.pid);
      if (m.fd) {
        ev.fdInfo = m.fd;
        ev.fdNum = m.fd.num;
      }
    });
    return evs;
  };

  let alerts = 0;
  const emit = () => alerts++;
  // Warm up the generated code and the extractors.
  for (const ev of makeEvents().slice(0, 20000)) rs.evaluate(ev, emit);

  const timed = (set: Ruleset, evs: Event[]) => {
    const t = performance.now();
    for (let i = 0; i < evs.length; i++) set.evaluate(evs[i], emit);
    return ((performance.now() - t) * 1e6) / evs.length;
  };
  const runGenerated = (lazy = false) => timed(rs, makeEvents(lazy));
  /**
   * The rules with and without their sequences on the same events (two fresh copies, made before
   * either is timed, the order alternating): their ratio. `idle`: the mix that starts no chain.
   */
  const pair = (k: number, idle: boolean): [number, number] => {
    const a = idle ? makeEvents(false, idleBuf, idleRound) : makeEvents();
    const b = idle ? makeEvents(false, idleBuf, idleRound) : makeEvents();
    if (k % 2 === 0) {
      const x = timed(rs, a);
      return [x, timed(plain, b)];
    }
    const y = timed(plain, b);
    return [timed(rs, a), y];
  };
  // The same rules without their sequences, side by side.
  const plain = compileRuleset(loaded.rules, { ruleMatching: "all" });
  for (const ev of makeEvents().slice(0, 20000)) plain.evaluate(ev, emit);
  const folded = EVENTS.map((info) =>
    rs.rules.map((r, i) => ({
      i,
      cond: r.eventTypes[info.id] ? foldForType(r.checked, info) : false,
    }))
      .filter((x) => x.cond !== false)
  );
  const runInterpreted = () => {
    const evs = makeEvents();
    const t = performance.now();
    for (const ev of evs) {
      for (const r of folded[ev.type]) {
        if (r.cond === true || (r.cond !== false && evaluate(r.cond, ev))) alerts++;
      }
    }
    return ((performance.now() - t) * 1e6) / evs.length;
  };
  runInterpreted();
  const gen: number[] = [], interp: number[] = [], lazy: number[] = [];
  const withSeq = rs.sequences.length > 0;
  for (let k = 0; k < 5; k++) {
    gen.push(runGenerated());
    interp.push(runInterpreted());
    lazy.push(runGenerated(true));
  }
  const busy: [number, number][] = [], idle: [number, number][] = [];
  let chains = 0;
  for (let k = 0; withSeq && k < 7; k++) {
    busy.push(pair(k, false));
    chains = Math.max(chains, rs.sequenceStore.stats().reduce((n, x) => n + x.entries, 0));
    idle.push(pair(k, true));
  }
  const col = (a: [number, number][], i: 0 | 1) => median(a.map((x) => x[i]));
  const ratio = (a: [number, number][]) => median(a.map((x) => x[0] / x[1]));
  // On a shared machine single runs vary several-fold: the fastest runs show the cost itself.
  const best = (a: [number, number][]) =>
    Math.min(...a.map((x) => x[0])) / Math.min(...a.map((x) => x[1]));
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const g = median(gen), it = median(interp);
  // One alerting event (cat reading /etc/shadow): the cost of a match with its output.
  const shadowRec = encodeLiveRecord(
    currentExitId("openat")!,
    { tid: 201, pid: 201, comm: "cat" },
    {
      fd: 5,
      dirfd: -100,
      name: "/etc/shadow",
      flags: 1,
      mode: 0,
    },
  );
  const shadowFd = new FdInfo(5, FD_TYPE.FILE, "/etc/shadow");
  shadowFd.openFlags = 1;
  const shadow = decodeLiveBatch(concatRecords(new Array(20000).fill(shadowRec)), 0n, 1);
  for (const ev of shadow) {
    ev.thread = threads.get(201);
    ev.fdInfo = shadowFd;
    ev.fdNum = 5;
    for (let p = 0; p < ev.nparams; p++) ev.param(p);
  }
  const ta = performance.now();
  let alerted = 0;
  for (const ev of shadow) alerted += rs.evaluate(ev, emit);
  const alertNs = ((performance.now() - ta) * 1e6) / shadow.length;
  alerts = 0;
  const evs = [...makeEvents().slice(0, round.length), shadow[0]];
  const hits: string[] = [];
  for (const ev of evs) rs.evaluate(ev, (a) => hits.push(a.rule));
  return {
    rules: rs.rules.length,
    eventsPerRun: rounds * round.length,
    eventTypesWithRules: rs.eventTypes.length,
    compileMs: Math.round(compileMs * 10) / 10,
    generatedNsPerEvent: Math.round(g * 10) / 10,
    interpretedNsPerEvent: Math.round(it * 10) / 10,
    interpretedOverGenerated: Math.round((it / g) * 100) / 100,
    generatedNsPerEventLazyParams: Math.round(median(lazy) * 10) / 10,
    ...(withSeq
      ? {
        sequences: rs.sequences.length,
        // Chains in progress: the mix's write below /tmp starts one every round.
        withSequencesNsPerEvent: r1(col(busy, 0)),
        withoutSequencesNsPerEvent: r1(col(busy, 1)),
        withOverWithout: Math.round(ratio(busy) * 100) / 100,
        withOverWithoutFastest: Math.round(best(busy) * 100) / 100,
        chainsInProgress: chains,
        // No chain in progress: the same mix with that write elsewhere.
        idleWithSequencesNsPerEvent: r1(col(idle, 0)),
        idleWithoutSequencesNsPerEvent: r1(col(idle, 1)),
        idleWithOverWithout: Math.round(ratio(idle) * 100) / 100,
        idleWithOverWithoutFastest: Math.round(best(idle) * 100) / 100,
      }
      : {}),
    alertingEventNs: Math.round(alertNs),
    alertingEventRules: hits,
    alertingEventsMatched: alerted,
    targetNsPerEvent: 300,
  };
}

if (import.meta.main) console.log(JSON.stringify(await bench(), null, 2));
