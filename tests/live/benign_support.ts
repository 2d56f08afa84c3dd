/**
 * A benign workload for false-positive counts under the live agent: compile and run C programs
 * with gcc and make, git operations including a local clone, another tool's test suite
 * (Python's own regression tests), a walk through the file system, package-manager work (a
 * local package built, installed, queried and purged with dpkg, apt's caches read), a
 * container job and a container service with health checks, everyday admin commands. It runs
 * in a session of its own; {@linkcode runBenign} returns the alerts it caused.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import { PYTHON } from "../support/live.ts";
import { PODMAN_BASE, RUN_LIMITS } from "../../src/simulate/podman.ts";
import { type AgentRun, causedBy, MARKER_RULE, type ReceivedAlert } from "./simulate_agent.ts";

/**
 * The workload (bash): $1 is its working directory, $2 the container image, $3 and $4 canary
 * files it opens at its start and at its end. It stops at its first failing command (`set -e`).
 */
export const WORKLOAD = String.raw`
set -eu
echo "PGID $$"
W="$1"
cd "$W"
cat "$3" > /dev/null # canary: the agent must see this

# --- build: a C program with gcc, then a small make project
cat > hello.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10, a = 0, b = 1;
  for (long i = 0; i < n; i++) { long t = a + b; a = b; b = t; }
  printf("fib %ld = %ld\n", n, a);
  return 0;
}
EOF
gcc -O2 -Wall -o hello hello.c && ./hello 40
mkdir -p proj/src && cd proj
cat > src/util.c <<'EOF'
int square(int x) { return x * x; }
EOF
cat > src/main.c <<'EOF'
#include <stdio.h>
int square(int x);
int main(void) { printf("%d\n", square(12)); return 0; }
EOF
printf 'all: app\napp: src/main.o src/util.o\n\t$(CC) -o $@ $^\nclean:\n\trm -f app src/*.o\n' > Makefile
make -s && ./app && make -s clean && make -s -j2
cd "$W"

# --- git: a repository, commits, branches, a local clone, log and diff
export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com
git init -q repo && cd repo
cp ../hello.c . && git add hello.c && git commit -q -m "add hello"
git checkout -q -b feature && echo "// more" >> hello.c && git commit -q -am "more"
git checkout -q - && git merge -q --no-edit feature
git log --oneline | head -5 && git diff HEAD~1 --stat && git status --short
git tag v1 && git gc -q
cd "$W" && git clone -q repo clone && git -C clone log --oneline | head -3

# --- another tool's test suite: Python's own regression tests (scripts/setup.sh installs them)
"$PY" -m test -q test_json test_csv test_shlex test_tempfile test_glob > "$W/pytest.log" 2>&1 ||
  { cat "$W/pytest.log"; exit 1; }
tail -3 "$W/pytest.log"

# --- package-manager work: a local package built, installed into a private root, queried and
# purged with dpkg; apt's caches queried; a Python virtual environment made, pip queried
R="$W/pkgroot"
mkdir -p "$W/pkg/demo/DEBIAN" "$W/pkg/demo/opt/demo/bin" "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status"
printf 'Package: saker-benign-demo\nVersion: 1.0\nArchitecture: all\nMaintainer: dev <dev@example.com>\nDescription: a benign package\n' > "$W/pkg/demo/DEBIAN/control"
printf '#!/bin/sh\necho demo\n' > "$W/pkg/demo/opt/demo/bin/demo" && chmod 755 "$W/pkg/demo/opt/demo/bin/demo"
dpkg-deb --root-owner-group --build "$W/pkg/demo" "$W/pkg/demo.deb" > /dev/null
dpkg --root="$R" --force-script-chrootless -i "$W/pkg/demo.deb" > /dev/null
dpkg --root="$R" -s saker-benign-demo > /dev/null && dpkg --root="$R" -L saker-benign-demo > /dev/null
dpkg --root="$R" -P saker-benign-demo > /dev/null
apt-cache policy bash > /dev/null; apt-cache show coreutils > /dev/null; dpkg -l > /dev/null
"$PY" -m venv --without-pip "$W/venv" && "$W/venv/bin/python" -c 'import sys; print(sys.prefix)' > /dev/null
if "$PY" -m pip --version > /dev/null 2>&1; then
  "$PY" -m pip show pip > /dev/null && "$PY" -m pip list > /dev/null 2>&1
fi

# --- walk the file system
find /usr/include -maxdepth 2 -name '*.h' | head -200 | xargs wc -l | tail -1
find /etc -maxdepth 2 -type f -name '*.conf' 2>/dev/null | head -50 | xargs cat > /dev/null 2>&1
ls -laR /usr/share/doc > /dev/null
du -sh /usr/share/man 2>/dev/null
grep -rl "define PATH_MAX" /usr/include 2>/dev/null | head -3
tar -C /usr/include -czf "$W/linux-headers.tgz" linux && tar -tzf "$W/linux-headers.tgz" | wc -l
stat /etc/hostname > /dev/null && cat /etc/os-release > /dev/null

# --- containers: the lifecycle of a job and a service (podman, runc), with their networks set
# up by the CNI plugins: start, exec, stop, restart, remove; a network of their own
echo "CONTAINERS $(date +%s%3N)"
IMAGE="$2"
P="podman ${PODMAN_BASE.join(" ")}"
L="${RUN_LIMITS.join(" ")}"
$P run --rm $L --cidfile "$W/job.cid" "$IMAGE" sh -c 'ls / > /dev/null; cat /etc/passwd > /dev/null; for i in 1 2 3; do date > /tmp/out; done'
$P run -d $L --cidfile "$W/svc.cid" --name "benign-$$" "$IMAGE" sh -c 'while true; do sleep 1; done' > /dev/null
sleep 1
$P exec "benign-$$" sh -c 'test -d /tmp && ls /etc > /dev/null'
$P exec "benign-$$" cat /etc/hostname > /dev/null
$P stop -t 0 "benign-$$" > /dev/null
$P start "benign-$$" > /dev/null
$P exec "benign-$$" ps > /dev/null
$P rm -f -t 0 "benign-$$" > /dev/null
podman network create "benign-net-$$" > /dev/null
$P run --rm $L --network "benign-net-$$" --cidfile "$W/net.cid" "$IMAGE" sh -c 'ip addr > /dev/null; cat /etc/resolv.conf > /dev/null'
podman network rm "benign-net-$$" > /dev/null
$P run --rm $L --network none --cidfile "$W/none.cid" "$IMAGE" true
echo "CONTAINERS_DONE $(date +%s%3N)"

# --- everyday commands
ps aux > /dev/null; id; uname -a; df -h / > /dev/null; ip addr > /dev/null
sort hello.c | uniq -c | sort -rn | head -3 > /dev/null
sed -i 's/fib/fibonacci/' hello.c && sha256sum hello.c
ssh-keygen -q -t ed25519 -N "" -f "$W/devkey" && ssh-keygen -l -f "$W/devkey.pub"
cat "$4" > /dev/null # canary: the end of the workload
echo done
`;

/** What a benign run caused. */
export interface BenignRun {
  /** Alerts caused by the workload's processes or its containers. */
  alerts: ReceivedAlert[];
  /** Every alert (whoever caused it) while the container lifecycle ran. */
  lifecycle: ReceivedAlert[];
  /** The workload's output. */
  out: string;
  /** The closing line of Python's regression tests (asserted a success). */
  suite: string;
  seconds: number;
}

/**
 * Runs the workload under `agent` (already started) and collects what it caused. Both canary
 * alerts must carry the workload's process group (the agent saw it), and the alerts are taken
 * once the agent has evaluated every event up to the end (a marker alert after it), so they
 * cover the whole run.
 */
export async function runBenign(agent: AgentRun, image: string): Promise<BenignRun> {
  const work = await Deno.makeTempDir({ prefix: "saker-benign-" });
  try {
    await Deno.writeTextFile(`${work}/workload.sh`, WORKLOAD);
    const canaries = [await agent.newMarker(), await agent.newMarker()];
    const startMs = Date.now();
    const r = await new Deno.Command("setsid", {
      args: ["-w", "bash", `${work}/workload.sh`, work, image, ...canaries],
      stdout: "piped",
      stderr: "piped",
      env: { GIT_CONFIG_GLOBAL: "/dev/null", PY: PYTHON },
    }).output();
    const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 0, `workload failed:\n${out}`);
    assert(out.includes("done"), "the workload did not finish");
    const pgid = Number(/PGID (\d+)/.exec(out)?.[1] ?? -1);
    assert(pgid > 0, "no process group id");
    const suite = out.split("\n").find((l) => /^(Tests r|R)esult: /.test(l)) ?? "";
    assert(suite.endsWith("esult: SUCCESS"), `Python's regression tests: ${suite}`);
    // Every event of the workload evaluated; container events held for metadata get a moment.
    await agent.sync();
    await new Promise((res) => setTimeout(res, 1000));
    const containers: string[] = [];
    for (const f of ["job.cid", "svc.cid", "net.cid", "none.cid"]) {
      containers.push((await Deno.readTextFile(`${work}/${f}`)).trim());
    }
    const mine = agent.alerts.filter((a) =>
      a.receivedMs >= startMs && causedBy(a, { pgid }, containers)
    );
    const seen = mine.filter((a) => a.rule === MARKER_RULE).map((a) => a.fields["fd.name"]);
    assertEquals(seen, canaries, "the canary alerts of the workload's start and end");
    const alerts = mine.filter((a) => a.rule !== MARKER_RULE);
    // Every alert while the container lifecycle ran, whoever caused it (conmon and podman's
    // cleanup run outside the workload's process group).
    const from = Number(/CONTAINERS (\d+)/.exec(out)?.[1] ?? 0);
    const to = Number(/CONTAINERS_DONE (\d+)/.exec(out)?.[1] ?? 0);
    assert(from > 0 && to >= from, "container section times");
    const lifecycle = agent.alerts.filter((a) => {
      if (a.rule === MARKER_RULE) return false; // the test's own canaries
      const t = Number(a.fields["evt.rawtime"] ?? 0) / 1e6;
      return t >= from && t <= to + 1000;
    });
    return { alerts, lifecycle, out, suite, seconds: (Date.now() - startMs) / 1000 };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** One line per alert, for reports. */
export function alertLines(alerts: ReceivedAlert[]): string {
  return alerts.map((a) => `  ${a.priority.padEnd(13)} ${a.rule}: ${a.output.slice(0, 200)}`)
    .join("\n");
}
