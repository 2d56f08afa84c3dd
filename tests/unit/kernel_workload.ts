/**
 * A synthetic workload for kernel predicate tests: processes of several names opening many
 * paths (absolute, relative with the kernel's directory, with `..`) with several flags and
 * results, and sockets of each family and protocol connecting and sending to loopback, private
 * and public addresses; each event applied to a real state store before it is yielded.
 * @module
 */
import { StateStore } from "../../src/state/store.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { flagValue } from "../../src/events/flags.ts";
import type { Event } from "../../src/events/event.ts";

const O = (names: string) => {
  let v = 0;
  for (const n of names.split("|")) v |= flagValue("file_flags", n)!;
  return v;
};
const NOW = BigInt(Date.now()) * 1_000_000n;
const COMMS = ["cat", "sshd", "nginx", "python3", "bash", "redis-server", "dpkg", "vi", "curl"];
const PATHS = [
  "/etc/shadow",
  "/etc/passwd",
  "/etc/sudoers",
  "/etc/ssh/sshd_config",
  "/etc/ld.so.preload",
  "/etc/cron.d/job",
  "/root/.ssh/authorized_keys",
  "/root/.bash_history",
  "/home/alice/.aws/credentials",
  "/tmp/quiet.txt",
  "/dev/null",
  "/dev/shm/x",
  "/usr/bin/ls",
  "/bin/sh",
  "/proc/self/status",
  "/var/log/syslog",
  "/var/run/docker.sock",
  "/boot/vmlinuz",
  "/lib/modules/x.ko",
];
const OPEN_FLAGS = ["O_RDONLY", "O_WRONLY|O_CREAT|O_TRUNC", "O_RDWR", "O_RDONLY|O_CLOEXEC"];
const ADDRS: [number, string][] = [
  [2, "127.0.0.1"],
  [2, "10.1.2.3"],
  [2, "192.168.1.7"],
  [2, "172.20.0.4"],
  [2, "8.8.8.8"],
  [2, "169.254.169.254"],
  [2, "0.0.0.0"],
  [10, "::1"],
  [10, "2001:db8::5"],
];

/** Every event of the synthetic workload, each applied to the state before it is yielded. */
export function* workload(state: StateStore): Generator<Event> {
  let pid = 2000;
  for (const comm of COMMS) {
    pid++;
    state.addThread({
      tid: pid,
      pid,
      ppid: 1,
      comm,
      exe: comm,
      exepath: `/usr/bin/${comm}`,
      args: [],
      cwd: "/root",
      uid: 0,
      gid: 0,
      loginuid: 0,
      startTs: NOW,
      vpid: pid,
      vtid: pid,
    });
    state.linkChildren();
    const h = { tid: pid, pid, comm };
    const ev = (name: string, params: Record<string, unknown>) => {
      const e = buildEvent(name, h, params, NOW);
      state.update(e);
      return e;
    };
    for (const name of PATHS) {
      for (const f of OPEN_FLAGS) {
        for (const res of [5, -2, -13]) {
          yield ev("openat", { fd: res, dirfd: -100, name, flags: O(f), mode: 0o644 });
          if (res >= 0) yield ev("close", { res: 0, fd: res });
        }
        yield ev("open", { fd: 6, name, flags: O(f), mode: 0 });
        yield ev("close", { res: 0, fd: 6 });
        // The same file by a relative path, as the probe records it: the directory the kernel
        // resolved the name against comes with it (name_dir).
        const slash = name.lastIndexOf("/");
        const dir = slash === 0 ? "/" : name.slice(0, slash);
        for (const rel of [name.slice(slash + 1), `./${name.slice(slash + 1)}`]) {
          yield ev("openat", { fd: 7, dirfd: 9, name: rel, flags: O(f), mode: 0, name_dir: dir });
          yield ev("close", { res: 0, fd: 7 });
        }
        const up = `../${dir.split("/").filter((x) => x).pop() ?? ""}/${name.slice(slash + 1)}`;
        yield ev("openat", { fd: 7, dirfd: -100, name: up, flags: O(f), mode: 0, name_dir: dir });
      }
    }
    for (const [family, ip] of ADDRS) {
      for (const type of [1, 2]) { // SOCK_STREAM, SOCK_DGRAM
        for (const res of [0, -115, -111]) {
          const local = family === 2 ? "10.0.0.5" : "2001:db8::1";
          yield ev("socket", { fd: 7, domain: family, type, proto: 0 });
          const tuple = { family, sip: local, sport: 40000, dip: ip, dport: 443 };
          yield ev("connect", { res, fd: 7, tuple, addr: { family, addr: ip, port: 443 } });
          for (const name of ["sendto", "sendmsg"]) {
            yield ev(name, { res: 10, fd: 7, size: 10, data: new Uint8Array(10), tuple });
          }
          yield ev("close", { res: 0, fd: 7 });
          // An unconnected datagram socket sending to the address.
          yield ev("socket", { fd: 8, domain: family, type, proto: 0 });
          yield ev("sendto", { res, fd: 8, size: 4, data: new Uint8Array(4), tuple });
          yield ev("close", { res: 0, fd: 8 });
        }
      }
    }
  }
}
