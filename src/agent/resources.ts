/**
 * What the agent costs and what the host looks like, read from /proc the way Falco's libs read
 * them for their resource-utilization metrics: the agent's CPU share over its lifetime, resident,
 * virtual and proportional memory, its cgroup's memory use, and the host's CPU use, used memory,
 * running processes and allocated file descriptors. Parsers are pure; {@link readResources}
 * does the reading (cheap: a handful of small files, on scrape or snapshot only).
 *
 * @example
 * ```ts
 * import { readResources } from "./resources.ts";
 * const r = readResources();
 * r.memoryRssKb; // e.g. 98304
 * ```
 * @module
 */

/** One reading. Percentages are of one CPU's time (as `ps`), rounded to one decimal. */
export interface ResourceUsage {
  /** Agent CPU time over its lifetime, percent. */
  cpuUsagePerc: number;
  memoryRssKb: number;
  memoryVszKb: number;
  memoryPssKb: number;
  /** Memory used by the agent's cgroup (its container), bytes; 0 when unknown. */
  containerMemoryUsedBytes: number;
  /** Busy share of all the host's CPUs since boot, percent. */
  hostCpuUsagePerc: number;
  /** MemTotal - MemFree - Buffers - Cached. */
  hostMemoryUsedKb: number;
  hostProcsRunning: number;
  /** File handles the kernel has allocated (first number of /proc/sys/fs/file-nr). */
  hostOpenFds: number;
  /** Online CPUs. */
  hostNumCpus: number;
  /** Boot time, ns since the epoch. */
  hostBootNs: bigint;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** `Name: N kB` lines of /proc files (status, meminfo, smaps_rollup) as numbers. */
export function parseKbLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([\w()]+):\s+(\d+)/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** CPU share of a process: `stat` is /proc/self/stat, `uptime` the first number of /proc/uptime. */
export function processCpuPerc(stat: string, uptimeSec: number, hz = 100): number {
  // Fields after the command name (which may hold spaces) start at field 3.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]), stime = Number(rest[12]), start = Number(rest[19]);
  const elapsed = uptimeSec - start / hz;
  return elapsed > 0 ? round1(100 * ((utime + stime) / hz) / elapsed) : 0;
}

/** Host CPU busy share, running processes, online CPUs and boot time from /proc/stat. */
export function parseProcStat(
  text: string,
): { busyPerc: number; procsRunning: number; cpus: number; bootNs: bigint } {
  let busyPerc = 0, procsRunning = 0, cpus = 0, bootNs = 0n;
  for (const line of text.split("\n")) {
    if (line.startsWith("cpu ")) {
      const [user, nice, system, idle, iowait, irq, softirq] = line.slice(4).trim().split(/\s+/)
        .map(Number);
      const sum = user + nice + system + idle + iowait + irq + softirq;
      if (sum > 0) busyPerc = round1(100 - idle * 100 / sum);
    } else if (/^cpu\d+ /.test(line)) cpus++;
    else if (line.startsWith("procs_running ")) procsRunning = Number(line.split(" ")[1]);
    else if (line.startsWith("btime ")) bootNs = BigInt(line.split(" ")[1]) * 1_000_000_000n;
  }
  return { busyPerc, procsRunning, cpus, bootNs };
}

/** The memory-use file of the cgroup of `/proc/self/cgroup` text (v2, else v1 memory). */
export function cgroupMemoryFile(cgroup: string, root = "/sys/fs/cgroup"): string {
  for (const line of cgroup.split("\n")) {
    const [, controllers, path] = line.split(":");
    if (controllers === "" && path !== undefined) return `${root}${path}/memory.current`;
    if (controllers?.split(",").includes("memory")) {
      return `${root}/memory${path}/memory.usage_in_bytes`;
    }
  }
  return `${root}/memory/memory.usage_in_bytes`;
}

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * Reads the agent's and the host's resource use. `hostRoot` is where the host's / is seen
 * (the host's /proc when the agent runs in a container); the agent's own files are its own.
 */
export function readResources(hostRoot = ""): ResourceUsage {
  const status = parseKbLines(read("/proc/self/status"));
  const smaps = parseKbLines(read("/proc/self/smaps_rollup"));
  const meminfo = parseKbLines(read(`${hostRoot}/proc/meminfo`));
  const uptime = Number(read(`${hostRoot}/proc/uptime`).split(" ")[0]) || 0;
  const stat = parseProcStat(read(`${hostRoot}/proc/stat`));
  const fileNr = Number(read(`${hostRoot}/proc/sys/fs/file-nr`).split(/\s+/)[0]) || 0;
  const cgroupMem = Number(read(cgroupMemoryFile(read("/proc/self/cgroup"))).trim()) || 0;
  const used = (meminfo.get("MemTotal") ?? 0) - (meminfo.get("MemFree") ?? 0) -
    (meminfo.get("Buffers") ?? 0) - (meminfo.get("Cached") ?? 0);
  return {
    cpuUsagePerc: processCpuPerc(read("/proc/self/stat"), uptime),
    memoryRssKb: status.get("VmRSS") ?? 0,
    memoryVszKb: status.get("VmSize") ?? 0,
    memoryPssKb: smaps.get("Pss") ?? 0,
    containerMemoryUsedBytes: cgroupMem,
    hostCpuUsagePerc: stat.busyPerc,
    hostMemoryUsedKb: Math.max(0, used),
    hostProcsRunning: stat.procsRunning,
    hostOpenFds: fileNr,
    hostNumCpus: stat.cpus,
    hostBootNs: stat.bootNs,
  };
}
