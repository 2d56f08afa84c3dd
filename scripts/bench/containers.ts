/**
 * Container metadata benchmark, measured from outside the agent as a user sees it: the real
 * agent (`saker run`, a subprocess) with Falco's stable and incubating rules and Saker's own,
 * and 20 short-lived podman containers started back to back (`true`, `cat /etc/passwd`, a
 * privileged `mount`, a sensitive host mount), each labelled as a Kubernetes pod. Every alert a
 * container caused is checked for its name, image, privileged flag, mounts and pod name, and
 * the container rules that should fire are counted per container.
 *
 * Reports: alerts, alerts with complete container metadata, containers for which each expected
 * rule fired, the time from a container's exit to its last alert, and the agent's hold counters.
 * `SAKER_TREE=/path/to/other/checkout` runs another tree's agent (before/after comparisons);
 * `SAKER_BENCH_CONTAINERS` sets the number of containers (default 20). Needs root and podman;
 * run under the live lock.
 * @module
 */
import { referenceDir } from "../reference.ts";

const TREE = Deno.env.get("SAKER_TREE") ?? new URL("../..", import.meta.url).pathname;
const DEFAULT_COUNT = Number(Deno.env.get("SAKER_BENCH_CONTAINERS") ?? 20);
const IMAGE = "localhost/saker-bench-bb";
const PODMAN_SOCKET = "/run/podman/podman.sock";
const PODMAN = ["--runtime", "runc"];
const LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/** The container kinds, run in turn, and the rules each must fire. */
const KINDS = [
  { kind: "true", args: [IMAGE, "true"], privileged: false, mount: false, rules: [] },
  {
    kind: "cat",
    args: [IMAGE, "cat", "/etc/passwd"],
    privileged: false,
    mount: false,
    rules: [],
  },
  {
    kind: "privileged",
    args: ["--privileged", IMAGE, "mount", "-t", "tmpfs", "none", "/mnt"],
    privileged: true,
    mount: false,
    rules: [
      "Launch Privileged Container",
      "Mount Launched in Privileged Container",
      "Privileged container started",
    ],
  },
  {
    kind: "host-mount",
    args: ["-v", "/etc:/host/etc:ro", IMAGE, "true"],
    privileged: false,
    mount: true,
    rules: ["Container with sensitive host mount started"],
  },
] as const;

/** Fields every alert carries (append_output), so each can be checked. */
const FIELDS = [
  "container.id",
  "container.name",
  "container.image.repository",
  "container.privileged",
  "container.mounts",
  "k8s.pod.name",
  "container.start_ts",
];

async function run(cmd: string[], input?: Uint8Array): Promise<string> {
  const p = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input) {
    const w = p.stdin.getWriter();
    await w.write(input);
    await w.close();
  }
  const out = await p.output();
  if (!out.success) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** A busybox image built from the host's busybox (no registry needed). */
export async function ensureBenchImage(image = IMAGE): Promise<void> {
  const exists = await new Deno.Command("podman", { args: ["image", "exists", image] }).output();
  if (exists.success) return;
  const root = await Deno.makeTempDir({ prefix: "saker-bench-img-" });
  try {
    for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "mnt"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    for (const a of (await run(["/bin/busybox", "--list"])).split("\n")) {
      if (a && a !== "busybox") await Deno.symlink("busybox", `${root}/bin/${a}`);
    }
    await Deno.writeTextFile(`${root}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\n");
    const tar = await new Deno.Command("tar", { args: ["-C", root, "-c", "."], stdout: "piped" })
      .output();
    await run(["podman", "import", "-", image], tar.stdout);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function serves(path: string): Promise<boolean> {
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    return true;
  } catch {
    return false;
  }
}

/** Starts podman's API service on its usual socket unless one serves; returns its stop. */
export async function ensurePodmanApi(): Promise<() => Promise<void>> {
  if (await serves(PODMAN_SOCKET)) return async () => {};
  await Deno.mkdir("/run/podman", { recursive: true });
  const service = new Deno.Command("podman", {
    args: ["system", "service", "--time=0", `unix://${PODMAN_SOCKET}`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const end = Date.now() + 20_000;
  while (!(await serves(PODMAN_SOCKET))) {
    if (Date.now() > end) throw new Error("podman system service did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return async () => {
    try {
      service.kill("SIGTERM");
    } catch { /* ended */ }
    await service.status;
  };
}

interface Alert {
  rule: string;
  priority: string;
  fields: Record<string, unknown>;
  at: number;
}

/** Options of {@link bench} (defaults from the environment, see the module header). */
export interface ContainerBenchOptions {
  /** Falco's reference material (falco-rules/ inside). */
  reference?: string;
  /** Checkout whose agent and rules run. */
  tree?: string;
  /** Containers started. */
  count?: number;
}

/** Runs the benchmark; see the module header. */
export async function bench(opts: ContainerBenchOptions = {}): Promise<Record<string, unknown>> {
  if (Deno.uid() !== 0) return { skipped: "needs root" };
  const ROOT = opts.tree ?? TREE;
  const COUNT = opts.count ?? DEFAULT_COUNT;
  const reference = opts.reference ?? referenceDir();
  if (!reference) return { skipped: "Falco's reference material not found (SAKER_REFERENCE)" };
  const falco = `${reference}/falco-rules`;
  const tmp = await Deno.makeTempDir({ prefix: "saker-bench-ctr-" });
  const stopApi = await ensurePodmanApi();
  await ensureBenchImage();
  const port = 20000 + Math.floor(Math.random() * 20000);
  await Deno.writeTextFile(
    `${tmp}/config.yaml`,
    [
      "rules_files:",
      `  - ${falco}/falco_rules.yaml`,
      `  - ${falco}/falco-incubating_rules.yaml`,
      `  - ${ROOT}/rules/60_containers.yaml`,
      "priority: debug",
      "rule_matching: all",
      "watch_config_files: false",
      "json_output: true",
      "json_include_output_fields_property: true",
      "stdout_output: {enabled: true}",
      "alert_store: {enabled: false}",
      `webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: ${port}}`,
      "append_output:",
      "  - match: {source: syscall}",
      `    extra_fields: [${FIELDS.join(", ")}]`,
      "log_level: info",
    ].join("\n") + "\n",
  );
  // One alert per container at least: its first process (so `true` and `cat` are checked too).
  await Deno.writeTextFile(
    `${tmp}/every_container.yaml`,
    [
      "- rule: Container process started (benchmark)",
      "  desc: The first process of every container.",
      "  condition: evt.type in (execve, execveat) and evt.dir=< and container.id != host" +
      " and proc.vpid=1",
      "  output: container process started %proc.cmdline",
      "  priority: DEBUG",
    ].join("\n") + "\n",
  );
  // Saker's container rules need its base macros; Falco's files define the rest.
  await Deno.writeTextFile(
    `${tmp}/config.yaml`,
    (await Deno.readTextFile(`${tmp}/config.yaml`)).replace(
      `  - ${ROOT}/rules/60_containers.yaml`,
      `  - ${ROOT}/rules/00_base.yaml\n  - ${ROOT}/rules/60_containers.yaml\n` +
        `  - ${tmp}/every_container.yaml`,
    ),
  );
  const agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/src/main.ts`, "run", "-c", `${tmp}/config.yaml`],
    cwd: tmp,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const alerts: Alert[] = [];
  let log = "";
  let ready!: () => void;
  const readyP = new Promise<void>((r) => ready = r);
  const readers = [
    (async () => {
      for await (const line of lines(agent.stdout)) {
        if (!line.startsWith("{")) continue;
        try {
          const a = JSON.parse(line);
          alerts.push({
            rule: a.rule,
            priority: a.priority,
            fields: a.output_fields ?? {},
            at: Date.now(),
          });
        } catch { /* not an alert */ }
      }
    })(),
    (async () => {
      for await (const line of lines(agent.stderr)) {
        log += line + "\n";
        if (line.includes("saker running")) ready();
      }
    })(),
  ];
  const containers: Array<
    { id: string; name: string; kind: typeof KINDS[number]; exitedAt: number }
  > = [];
  let metricsText = "";
  try {
    await Promise.race([
      readyP,
      new Promise((_, rej) => setTimeout(() => rej(new Error(`agent not ready:\n${log}`)), 90_000)),
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < COUNT; i++) {
      const kind = KINDS[i % KINDS.length];
      const name = `saker-bench-${Deno.pid}-${i}`;
      const cidfile = `${tmp}/cid-${i}`;
      await run([
        "podman",
        ...PODMAN,
        "run",
        "--rm",
        "--name",
        name,
        "--cidfile",
        cidfile,
        "--label",
        `io.kubernetes.pod.name=pod-${i}`,
        "--label",
        "io.kubernetes.pod.namespace=bench",
        ...LIMITS,
        ...kind.args,
      ]).catch((e) => log += `container ${i}: ${e}\n`);
      const id = await Deno.readTextFile(cidfile).then((t) => t.trim()).catch(() => "");
      containers.push({ id, name, kind, exitedAt: Date.now() });
    }
    await new Promise((r) => setTimeout(r, 3000));
    metricsText = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(
      () => "",
    );
  } finally {
    try {
      agent.kill("SIGINT");
    } catch { /* gone */ }
    await agent.status;
    await Promise.all(readers);
    await stopApi();
    await Deno.remove(tmp, { recursive: true });
  }
  let mine = 0, complete = 0;
  const incomplete: string[] = [];
  const fired: Record<string, number> = {};
  const expected: Record<string, number> = {};
  let lastAlertMs = 0;
  for (const c of containers) {
    const own = alerts.filter((a) =>
      c.id !== "" && String(a.fields["container.id"] ?? "") === c.id.slice(0, 12)
    );
    for (const a of own) {
      mine++;
      const f = a.fields;
      const ok = f["container.name"] === c.name &&
        f["container.image.repository"] === IMAGE &&
        f["container.privileged"] === c.kind.privileged &&
        typeof f["container.mounts"] === "string" &&
        (!c.kind.mount || String(f["container.mounts"]).includes("/etc:/host/etc")) &&
        f["k8s.pod.name"] === `pod-${containers.indexOf(c)}`;
      if (ok) complete++;
      else if (incomplete.length < 5) incomplete.push(`${a.rule}: ${JSON.stringify(f)}`);
      lastAlertMs = Math.max(lastAlertMs, a.at - c.exitedAt);
    }
    for (const r of ["Container process started (benchmark)", ...c.kind.rules]) {
      expected[r] = (expected[r] ?? 0) + 1;
      if (own.some((a) => a.rule === r)) fired[r] = (fired[r] ?? 0) + 1;
    }
  }
  const metric = (name: string) => {
    let sum = 0;
    for (const m of metricsText.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) {
      sum += Number(m[1]);
    }
    return sum;
  };
  return {
    tree: ROOT,
    containers: containers.length,
    alerts: mine,
    alerts_with_complete_metadata: complete,
    rules_fired_for: Object.fromEntries(
      Object.entries(expected).map(([r, n]) => [r, `${fired[r] ?? 0}/${n}`]),
    ),
    latest_alert_after_container_exit_ms: lastAlertMs,
    held_events: metric("saker_container_held_events_total"),
    hold_waits: metric("saker_container_hold_waits_total"),
    hold_timeouts: metric("saker_container_hold_timeouts_total"),
    hold_wait_ms_mean: metric("saker_container_hold_waits_total") > 0
      ? Math.round(
        1000 * metric("saker_container_hold_wait_seconds_total") /
          metric("saker_container_hold_waits_total"),
      )
      : 0,
    announced_at_create: metric("saker_container_announced_total"),
    metadata_at_first_event: {
      ready: metric('saker_container_first_events_total\\{metadata="ready"\\}'),
      pending: metric('saker_container_first_events_total\\{metadata="pending"\\}'),
    },
    incomplete_examples: incomplete,
  };
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}

if (import.meta.main) console.log(JSON.stringify(await bench(), null, 2));
