import { assert, assertEquals } from "../support/assert.ts";
import {
  linkKind,
  parseCgroup,
  parseNetInet,
  parseNetUnix,
  parseStat,
  parseStatus,
  type ProcSocket,
  socketFd,
  splitNul,
} from "../../src/state/procfs.ts";
import { containerFromCgroups, containerFromPath } from "../../src/state/containers/cgroup.ts";
import { parseGroup, parsePasswd, UserDb } from "../../src/state/users.ts";
import { StateStore } from "../../src/state/store.ts";
import { fromInspect } from "../../src/state/containers/inspect.ts";
import { parseHttpResponse } from "../../src/state/containers/unix_http.ts";
import { parseContainerEvent } from "../../src/state/containers/container_json.ts";
import { splitImage } from "../../src/state/containers/image.ts";
import { globMatch } from "../../src/state/glob.ts";
import { baseName, dirName, joinPath, normalizePath } from "../../src/state/paths.ts";
import { capsToString } from "../../src/state/caps.ts";
import { FD_TYPE, L4, ROLE } from "../../src/state/model.ts";

const ID = "0123456789abcdef".repeat(4);

Deno.test("state parsers: /proc/PID/stat with spaces and parentheses in comm", () => {
  const s = parseStat(
    "4242 (my (odd) cmd) S 1 4242 4242 34816 4242 4194304 0 0 0 0 0 0 0 0 " +
      "20 0 1 0 199879 3133440 382 18446744073709551615",
  );
  assert(s !== undefined);
  assertEquals(s.comm, "my (odd) cmd");
  assertEquals([s.ppid, s.pgrp, s.session, s.ttyNr, s.startTicks], [1, 4242, 4242, 34816, 199879]);
});

Deno.test("state parsers: /proc/PID/status ids, namespace ids, capabilities, memory", () => {
  const s = parseStatus([
    "Name:\tsh",
    "Tgid:\t5000",
    "PPid:\t4999",
    "Uid:\t1000\t0\t0\t0",
    "Gid:\t100\t50\t50\t50",
    "NStgid:\t5000\t7",
    "NSpid:\t5001\t8",
    "NSpgid:\t5000\t7",
    "VmSize:\t    3916 kB",
    "VmRSS:\t    2208 kB",
    "VmSwap:\t       4 kB",
    "CapInh:\t0000000000000000",
    "CapPrm:\t000001ffffffffff",
    "CapEff:\t0000000000200001",
  ].join("\n"));
  assertEquals([s.tgid, s.ppid, s.ruid, s.euid, s.rgid, s.egid], [5000, 4999, 1000, 0, 100, 50]);
  assertEquals([s.vpid, s.vtid, s.pgid, s.vpgid], [7, 8, 5000, 7]);
  assertEquals([s.vmSize, s.vmRss, s.vmSwap], [3916, 2208, 4]);
  assertEquals(capsToString(s.capEff), "CAP_CHOWN CAP_SYS_ADMIN");
  assertEquals(s.capPrm, (1n << 41n) - 1n);
});

Deno.test("state parsers: cgroup files, NUL lists and fd link kinds", () => {
  assertEquals(parseCgroup("4:memory:/a\n2:cpu,cpuacct:/b\n0::/c\n"), [
    "memory=/a",
    "cpu=/b",
    "cpuacct=/b",
    "=/c",
  ]);
  assertEquals(splitNul("ls\0-l\0"), ["ls", "-l"]);
  assertEquals(splitNul(""), []);
  assertEquals(linkKind("/etc/passwd"), FD_TYPE.FILE);
  assertEquals(linkKind("pipe:[123]"), FD_TYPE.FIFO);
  assertEquals(linkKind("anon_inode:[eventfd]"), FD_TYPE.EVENT);
  assertEquals(linkKind("anon_inode:inotify"), FD_TYPE.INOTIFY);
  assertEquals(linkKind("anon_inode:bpf-map"), FD_TYPE.BPF);
  assertEquals(linkKind("/memfd:x (deleted)"), FD_TYPE.MEMFD);
});

Deno.test("state parsers: /proc/net tables make listening, server and client fds", () => {
  const socks = new Map<number, ProcSocket>();
  parseNetInet(
    [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1",
      "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 112 1",
      "   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 113 1",
    ].join("\n"),
    false,
    L4.TCP,
    socks,
  );
  parseNetInet(
    [
      "  sl  local_address                         remote_address                        st",
      "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 114 1",
    ].join("\n"),
    true,
    L4.TCP,
    socks,
  );
  parseNetUnix(
    "Num       RefCount Protocol Flags    Type St Inode Path\n" +
      "0000000000000000: 00000002 00000000 00010000 0001 01 115 /run/x.sock\n",
    socks,
  );
  const ports = new Set([8080]);
  const listen = socketFd(socks.get(111)!, ports);
  assertEquals([listen.type, listen.name, listen.role], [
    FD_TYPE.IPV4_SERVSOCK,
    "127.0.0.1:8080",
    ROLE.SERVER,
  ]);
  const server = socketFd(socks.get(112)!, ports);
  assertEquals([server.name, server.role], ["127.0.0.1:50000->127.0.0.1:8080", ROLE.SERVER]);
  const client = socketFd(socks.get(113)!, ports);
  assertEquals([client.name, client.role], ["127.0.0.1:50000->127.0.0.1:8080", ROLE.CLIENT]);
  const v6 = socketFd(socks.get(114)!, ports);
  assertEquals([v6.type, v6.name], [FD_TYPE.IPV6_SERVSOCK, "::1:22"]);
  const unix = socketFd(socks.get(115)!, ports);
  assertEquals([unix.type, unix.name], [FD_TYPE.UNIX_SOCK, "/run/x.sock"]);
});

Deno.test("state parsers: container ids from every runtime's cgroup layout", () => {
  const cases: Array<[string, string | undefined, string?]> = [
    [`/docker/${ID}`, ID, "docker"],
    [`/system.slice/docker-${ID}.scope`, ID, "docker"],
    [`/libpod_parent/libpod-${ID}`, ID, "podman"],
    [`/machine.slice/libpod-${ID}.scope/container`, ID, "podman"],
    [`/kubepods/besteffort/pod1f2e/${ID}`, ID, "containerd"],
    [`/kubepods.slice/kubepods-pod1.slice/cri-containerd-${ID}.scope`, ID, "containerd"],
    [`/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope`, ID, "cri-o"],
    ["/user.slice/user-0.slice/session-1.scope", undefined],
    ["/", undefined],
  ];
  for (const [path, id, type] of cases) {
    const c = containerFromPath(path);
    assertEquals(c?.id, id, path);
    if (type) assertEquals(c?.type, type, path);
  }
  assertEquals(containerFromCgroups([`cpu=/libpod_parent/libpod-conmon-${ID}`]), undefined);
  assertEquals(containerFromCgroups(["cpu=/", `memory=/docker/${ID}`])?.id, ID);
});

Deno.test("state parsers: passwd and group files; a changed file is read again, at once after a miss", async () => {
  const users = parsePasswd(
    "root:x:0:0:root:/root:/bin/bash\n# c\nbad\nwww:x:33:33::/var/www:/bin/false\n",
  );
  assertEquals(users.get(33), { id: 33, name: "www", home: "/var/www", shell: "/bin/false" });
  assertEquals(parseGroup("root:x:0:\nadm:x:4:syslog\n").get(4)?.name, "adm");
  const dir = await Deno.makeTempDir({ prefix: "saker-users-" });
  try {
    await Deno.mkdir(`${dir}/etc`);
    await Deno.writeTextFile(`${dir}/etc/passwd`, "alice:x:1000:1000::/home/alice:/bin/sh\n");
    await Deno.writeTextFile(`${dir}/etc/group`, "staff:x:50:\n");
    let now = 0;
    const db = new UserDb(true, () => now);
    assertEquals(db.user(1000, "c1", dir)?.name, "alice");
    assertEquals(db.group(50, "c1", dir)?.name, "staff");
    await Deno.writeTextFile(`${dir}/etc/passwd`, "bob:x:1000:1000::/home/bob:/bin/sh\n");
    await Deno.utime(`${dir}/etc/passwd`, 1, 2_000_000_000);
    assertEquals(db.user(1000, "c1", dir)?.name, "alice", "not re-checked within the interval");
    now += 5000;
    assertEquals(db.user(1000, "c1", dir)?.name, "bob");
    // A user added a moment ago is found at its first lookup (a miss checks again soon).
    await Deno.writeTextFile(
      `${dir}/etc/passwd`,
      "bob:x:1000:1000::/home/bob:/bin/sh\nnew:x:1001:1001::/:/bin/sh\n",
    );
    await Deno.utime(`${dir}/etc/passwd`, 1, 2_000_000_100);
    now += 200;
    assertEquals(db.user(1001, "c1", dir)?.name, "new");
    // Files read while a container's root is there are kept when it is gone.
    db.load("c2", dir);
    assertEquals(db.user(1000, "c2", `${dir}/gone`)?.name, "bob");
    now += 5000;
    assertEquals(db.user(1000, "c2", `${dir}/gone`)?.name, "bob");
    db.addUser({ id: 7, name: "fromcapture", home: "", shell: "" }, "c1");
    assertEquals(db.user(7, "c1", dir)?.name, "fromcapture");
    const noFiles = new UserDb(false);
    assertEquals(noFiles.user(0, ""), undefined, "replay mode reads no files");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state parsers: Docker-compatible inspect answers and capture container events", () => {
  const body = {
    Id: ID,
    Name: "/web",
    Image: "sha256:" + "ab".repeat(32),
    Created: "2024-01-02T03:04:05.123456789Z",
    State: { StartedAt: "2024-01-02T03:04:06Z" },
    Config: {
      Image: "localhost:5000/team/web:1.2",
      Labels: { "io.kubernetes.pod.name": "p" },
    },
    HostConfig: { Privileged: true, PidMode: "host", NetworkMode: "bridge" },
    Mounts: [{
      Source: "/data",
      Destination: "/srv",
      Mode: "z",
      RW: true,
      Propagation: "rprivate",
    }],
    NetworkSettings: { IPAddress: "", Networks: { podman: { IPAddress: "10.88.0.5" } } },
    GraphDriver: {
      Name: "overlay",
      Data: {
        MergedDir: "/s/c1/merged",
        UpperDir: "/s/c1/diff",
        LowerDir: "/s/l2/diff:/s/l1/diff",
      },
    },
  };
  const c = fromInspect(body, "podman");
  assertEquals(c.fsRoots, ["/s/c1/merged", "/s/c1/diff", "/s/l2/diff", "/s/l1/diff"]);
  assertEquals(c.name, "web");
  assertEquals(c.imageRepository, "localhost:5000/team/web");
  assertEquals(c.imageTag, "1.2");
  assertEquals(c.imageId, "abababababab");
  assertEquals(c.privileged, true);
  assertEquals(c.hostPid, true);
  assertEquals(c.hostNetwork, false);
  assertEquals(c.ip, "10.88.0.5");
  assertEquals(c.mounts?.[0].dest, "/srv");
  assertEquals(c.startTs, BigInt(Date.parse("2024-01-02T03:04:06Z")) * 1_000_000n);
  const ev = parseContainerEvent(JSON.stringify({
    container: {
      id: ID.slice(0, 12),
      type: 0,
      name: "x",
      image: "busybox:latest",
      privileged: false,
    },
  }));
  assertEquals([ev?.type, ev?.imageRepository, ev?.imageTag], ["docker", "busybox", "latest"]);
  assertEquals(splitImage("a/b@sha256:1"), { repository: "a/b", tag: "", digest: "sha256:1" });
});

Deno.test("state parsers: HTTP answers, plain and chunked", () => {
  const enc = new TextEncoder();
  const plain = parseHttpResponse(enc.encode('HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\n{"a":1}'));
  assertEquals(plain, { status: 200, body: '{"a":1}' });
  const chunked = parseHttpResponse(
    enc.encode(
      "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnot \r\n5\r\nfound\r\n0\r\n\r\n",
    ),
  );
  assertEquals(chunked, { status: 404, body: "not found" });
});

Deno.test("state parsers: paths, globs, capabilities", () => {
  assertEquals(normalizePath("/a/./b/../c//d/"), "/a/c/d");
  assertEquals(normalizePath("/../../etc"), "/etc");
  assertEquals(joinPath("/home/u", "../../etc/shadow"), "/etc/shadow");
  assertEquals(joinPath("/", "x"), "/x");
  assertEquals(dirName("/etc/passwd"), "/etc");
  assertEquals(dirName("/passwd"), "/");
  assertEquals(baseName("/etc/passwd"), "passwd");
  // Remembered per argument: the same, other and again the same path in a row.
  for (const [p, dir] of [["/a/b", "/a"], ["/a/b", "/a"], ["/c/d/e", "/c/d"], ["/a/b", "/a"]]) {
    assertEquals(dirName(p), dir);
  }
  assert(globMatch("/proc*", "/proc/sys"));
  assert(globMatch("/root*", "/root"));
  assert(!globMatch("/etc", "/etc/kubernetes"));
  assert(globMatch("/var/lib/[kx]ubelet", "/var/lib/kubelet"));
  assertEquals(capsToString(0n), "");
  assertEquals(capsToString(1n << 40n), "CAP_CHECKPOINT_RESTORE");
});

Deno.test("state: a container whose processes are gone has its user names read from its image layers", async () => {
  const layer = await Deno.makeTempDir({ prefix: "saker-layer-" });
  try {
    await Deno.mkdir(`${layer}/etc`);
    await Deno.writeTextFile(
      `${layer}/etc/passwd`,
      "root:x:0:0::/root:/bin/sh\napp:x:1001:1001::/app:/bin/sh\n",
    );
    await Deno.writeTextFile(`${layer}/etc/group`, "root:x:0:\napp:x:1001:\n");
    const cid = "c".repeat(64);
    const info = { id: cid, type: "podman", fsRoots: [`${layer}/no-such-merged`, layer] };
    const store = new StateStore({
      userFiles: true,
      containers: {
        get: (id) => (id === cid ? info : undefined),
        request: () => {},
        set: () => {},
      },
    });
    store.addThread({
      tid: 7,
      pid: 7,
      ppid: 1,
      comm: "app",
      containerId: cid,
      root: `${layer}/gone`,
    });
    const proc = store.procs.get(7)!;
    assertEquals(store.user(1001, proc)?.name, "app");
    assertEquals(store.group(1001, proc)?.name, "app");
    assertEquals(store.user(1002, proc), undefined, "an unknown uid stays unknown");
  } finally {
    await Deno.remove(layer, { recursive: true });
  }
});
