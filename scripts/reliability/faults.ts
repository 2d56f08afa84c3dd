/**
 * Faults around a running agent (a real `saker run` with the probe; root): while a trigger
 * process raises alerts, every output meets trouble at once, and 100 reloads come in 10 s:
 *
 * - http: the receiver is down for the first third, then slow (each answer late), then well;
 * - syslog: the socket is removed mid-run, then comes back;
 * - program: the program exits after every 25 lines (respawned; lines it took are kept);
 * - file: the file lives on a tmpfs that fills up, then gets room again;
 * - store: the alert store's tmpfs fills up mid-run, then gets room again; and an agent started
 *   with its store on a read-only file system must refuse to start, naming it;
 * - the container runtime socket accepts connections and never answers;
 * - SIGHUP storm: 100 reloads in 10 s during the alert storm.
 *
 * Figures: alerts generated; per output delivered (as the receiving end saw them, de-duplicated
 * by id for http), counted as dropped or failed by the agent, still queued; whether every alert
 * is either delivered or counted; trigger events without their alert (events unevaluated during
 * reloads, with kernel drops to tell them apart); reloads done; the agent's RSS at start and at
 * its highest.
 *
 * @example
 * ```ts
 * import { runFaults } from "./faults.ts";
 * const figures = await runFaults({ alerts: 300, reloads: 30, reloadSeconds: 3 });
 * ```
 * @module
 */
import { buildTools, startAgentProcess } from "../bench/_outside.ts";
import { UnixDatagramReceiver } from "../../src/outputs/unix_dgram.ts";
import { metricSum } from "./metrics_text.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Options of {@link runFaults}. */
export interface FaultOptions {
  /** Alerts the trigger raises (each an open of /etc/shadow). */
  alerts: number;
  /** Reloads in the SIGHUP storm, spread over `reloadSeconds`. */
  reloads: number;
  reloadSeconds: number;
}

/** Per output: what arrived, what the agent counted. */
export interface OutputFigures {
  delivered: number;
  sent: number;
  dropped: number;
  failed: number;
  queued: number;
  /** delivered + dropped + failed + queued covers every alert generated. */
  accounted: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
}

/** An HTTP receiver that can be down, slow or well; counts distinct alert ids. */
function httpReceiver(port: number) {
  const ids = new Set<string>();
  let requests = 0;
  let delayMs = 0;
  let server: Deno.HttpServer | undefined;
  const up = () => {
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
      requests++;
      const id = req.headers.get("idempotency-key");
      await req.body?.cancel();
      if (delayMs) await sleep(delayMs);
      if (id) ids.add(id);
      return new Response("ok");
    });
  };
  return {
    ids,
    requests: () => requests,
    up,
    slow: (ms: number) => delayMs = ms,
    down: async () => {
      await server?.shutdown();
      server = undefined;
    },
  };
}

/** A unix datagram socket counting the datagrams it gets; can vanish and come back. */
function syslogReceiver(path: string) {
  let count = 0;
  let rx: UnixDatagramReceiver | undefined;
  const timer = setInterval(() => {
    while (rx?.tryReceive()) count++;
  }, 5);
  return {
    count: () => count,
    listen: () => rx = new UnixDatagramReceiver(path),
    gone: () => {
      while (rx?.tryReceive()) count++;
      rx?.close();
      rx = undefined;
    },
    stop: () => clearInterval(timer),
  };
}

/** A unix socket that accepts connections and never answers (a hung container runtime). */
function hangingSocket(path: string) {
  const l = Deno.listen({ transport: "unix", path });
  const held: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const c of l) held.push(c);
    } catch { /* closed */ }
  })();
  return {
    connections: () => held.length,
    close: () => {
      for (const c of held) c.close();
      l.close();
    },
  };
}

async function mountTmpfs(dir: string, size: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const r = await run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  if (!r.success) throw new Error(`mount tmpfs: ${new TextDecoder().decode(r.stderr)}`);
}

/** Fills a file system with one file until it is full; returns the file's path. */
async function fill(dir: string): Promise<string> {
  const path = `${dir}/filler`;
  const f = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(4096);
  try {
    while (true) await f.write(chunk);
  } catch {
    /* ENOSPC: full */
  } finally {
    f.close();
  }
  return path;
}

/** `saker run` with its store on a read-only file system: its exit code and last log line. */
async function readOnlyStoreStart(dir: string): Promise<{ exit: number; said: string }> {
  const ro = `${dir}/ro-tmpfs`;
  await mountTmpfs(ro, "1m");
  await run("mount", ["-o", "remount,ro", ro]);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}src/main.ts`,
        "run",
        "--disable-source",
        "syscall",
        "-c",
        `${ROOT}config.yaml`,
        "-o",
        `alert_store.path=${ro}/alerts.db`,
        "-o",
        "webserver.listen_port=0",
        "-M",
        "5",
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
    return { exit: out.code, said: lines[lines.length - 1].slice(0, 300) };
  } finally {
    await run("umount", ["-l", ro]);
  }
}

/** Runs the fault scenario; needs root (probe, tmpfs mounts). */
export async function runFaults(opts: FaultOptions): Promise<Record<string, unknown>> {
  const tools = await buildTools();
  const dir = tools.dir;
  const fileDir = `${dir}/file-tmpfs`, storeDir = `${dir}/store-tmpfs`;
  await mountTmpfs(fileDir, "64k");
  await mountTmpfs(storeDir, "2m");
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const httpPort = (l.addr as Deno.NetAddr).port;
  l.close();
  const http = httpReceiver(httpPort);
  const syslog = syslogReceiver(`${dir}/syslog.sock`);
  syslog.listen();
  const runtime = hangingSocket(`${dir}/runtime.sock`);
  const agent = await startAgentProcess({
    overrides: [
      "stdout_output.enabled=true",
      // Every alert on its own: aggregation and rate limits would fold the storm into summaries.
      "aggregation.enabled=false",
      "output_rate_limit.enabled=false",
      "outputs_queue.capacity=500",
      "output_timeout=300",
      "http_output.enabled=true",
      `http_output.url=http://127.0.0.1:${httpPort}/`,
      "syslog_output.enabled=true",
      `syslog_output.path=${dir}/syslog.sock`,
      "program_output.enabled=true",
      "program_output.keep_alive=true",
      // Handles each line it reads (the shell reads a pipe a byte at a time), exits after 25.
      `program_output.program=n=0; while IFS= read -r l; do printf '%s\\n' "$l" >> ` +
      `${dir}/program.out; n=$((n+1)); [ $n -ge 25 ] && exit 0; done`,
      "file_output.enabled=true",
      "file_output.keep_alive=true",
      `file_output.filename=${fileDir}/alerts.log`,
      "alert_store.enabled=true",
      `alert_store.path=${storeDir}/alerts.db`,
      `containers.sockets[]=${dir}/runtime.sock`,
      "log_level=error",
    ],
  });
  const rssStart = agent.rss().now;
  let rssTop = rssStart;
  const sampler = setInterval(() => {
    try {
      rssTop = Math.max(rssTop, agent.rss().now);
    } catch { /* gone */ }
  }, 100);
  let triggered = 0;
  const seen = new Set<string>();
  agent.onLine((line) => {
    if (!line.startsWith("{")) return;
    try {
      const a = JSON.parse(line);
      if (a.output_fields?.["proc.name"] === "saker-lat") {
        seen.add(String(a.output_fields["proc.pid"]) + "/" + a.time);
      }
    } catch { /* not an alert */ }
  });
  const metrics = (name: string, label = "") => metricSum(agent.port, name, label);

  let reloads = 0;
  try {
    const dropsBefore = await metrics("saker_kernel_drops_total");
    // The alert storm: opens of /etc/shadow, a few ms apart, over about reloadSeconds * 1.5.
    const gapMs = Math.max(1, Math.floor((opts.reloadSeconds * 1500) / opts.alerts));
    const trigger = new Deno.Command(tools.bin, {
      args: ["trigger", String(opts.alerts), "0", String(2 * gapMs), "/etc/shadow"],
      stdout: "piped",
    }).output().then((o) => {
      triggered = new TextDecoder().decode(o.stdout).trim().split("\n").filter(Boolean).length;
    });
    const third = (opts.reloadSeconds * 1000) / 3;
    const faults = (async () => {
      // Phase 1: http down, syslog fine, file tmpfs filling, store fine.
      await sleep(third);
      http.up();
      http.slow(500);
      syslog.gone();
      const filler = await fill(storeDir);
      await sleep(third);
      // Phase 3: everything recovers.
      http.slow(0);
      syslog.listen();
      await Deno.remove(filler);
      await Deno.truncate(`${fileDir}/alerts.log`, 0).catch(() => {});
    })();
    const storm = (async () => {
      const every = (opts.reloadSeconds * 1000) / opts.reloads;
      for (let i = 0; i < opts.reloads; i++) {
        Deno.kill(agent.pid, "SIGHUP");
        reloads++;
        await sleep(every);
      }
    })();
    await Promise.all([trigger, faults, storm]);
    // Let the queues drain (retries back off up to 5 s).
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && await metrics("saker_output_queue_depth") > 0) await sleep(500);
    await sleep(1000);
    const generated = await metrics("saker_alerts_total");
    const storeRows = (await (await fetch(
      `http://127.0.0.1:${agent.port}/alerts?limit=10000`,
    )).json()).alerts.length;
    // Distinct lines: at-least-once delivery may repeat one.
    const lines = async (p: string) => {
      try {
        return new Set((await Deno.readTextFile(p)).split("\n").filter(Boolean)).size;
      } catch {
        return 0;
      }
    };
    const delivered: Record<string, number> = {
      stdout: generated, // the reference: stdout never fails here
      http: http.ids.size,
      syslog: syslog.count(),
      program: await lines(`${dir}/program.out`),
      file: await lines(`${fileDir}/alerts.log`),
      store: storeRows,
    };
    const outputs: Record<string, OutputFigures> = {};
    for (const name of ["http", "syslog", "program", "file", "store"]) {
      const lbl = `output="${name}"`;
      const f = {
        delivered: delivered[name],
        sent: await metrics("saker_output_sent_total", lbl),
        dropped: await metrics("saker_output_dropped_total", lbl),
        failed: await metrics("saker_output_failed_total", lbl),
        queued: await metrics("saker_output_queue_depth", lbl),
        accounted: false,
      };
      // The file was emptied when its tmpfs got room back: what it held before was counted as
      // sent, so the agent's own count stands in for it.
      const got = name === "file" ? f.sent : f.delivered;
      f.accounted = got + f.dropped + f.failed + f.queued >= generated;
      outputs[name] = f;
    }
    const drops = (await metrics("saker_kernel_drops_total")) - dropsBefore;
    const readOnly = await readOnlyStoreStart(dir);
    const reloadOk = await metrics("saker_reloads_total", 'result="ok"');
    return {
      alerts_generated: generated,
      trigger_events: triggered,
      trigger_alerts: seen.size,
      events_unevaluated: Math.max(0, triggered - seen.size),
      kernel_drops: drops,
      reloads_sent: reloads,
      reloads_done: reloadOk,
      outputs,
      every_alert_delivered_or_counted: Object.values(outputs).every((o) => o.accounted),
      runtime_socket_connections: runtime.connections(),
      read_only_store_start: readOnly,
      rss_start_mb: Math.round(rssStart / 1e6),
      rss_max_mb: Math.round(rssTop / 1e6),
    };
  } finally {
    clearInterval(sampler);
    await agent.stop();
    runtime.close();
    syslog.gone();
    syslog.stop();
    await http.down();
    for (const d of [fileDir, storeDir]) await run("umount", ["-l", d]);
    await tools.remove();
  }
}
