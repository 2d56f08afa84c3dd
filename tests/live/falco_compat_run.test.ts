/**
 * A Falco user's setup on the real agent: Debian's prometheus scrapes `saker run` and finds both
 * Saker's metric names and Falco's (falcosecurity_*, with Falco's labels); metrics snapshots
 * arrive as Falco's internal alert and as file lines; Falco's flags -p, -pc and -U shape the
 * alerts as in Falco. Needs root and prometheus (scripts/setup.sh installs it); skips visibly
 * otherwise.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { startSaker, waitFor } from "../support/agent_process.ts";
import { PYTHON } from "../support/live.ts";
import { freePort } from "../support/saker.ts";
import { havePrometheus, PROMETHEUS } from "../support/prometheus.ts";

const RULE = "falcocompat trigger";

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(prom: string, q: string): Promise<PromResult[]> {
  const r = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = await r.json();
  if (body.status !== "success") throw new Error(`${q}: ${JSON.stringify(body)}`);
  return body.data.result;
}

Deno.test({
  name: "falco compat: prometheus scrapes Saker's and Falco's metric names; snapshots; -p -pc -U",
  ignore: needsRoot() || !havePrometheus(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-falcocompat-" });
    await Deno.writeTextFile(`${dir}/trigger`, "x");
    await Deno.writeTextFile(
      `${dir}/rules.yaml`,
      `- rule: ${RULE}
  desc: opens of this test's trigger file
  condition: evt.type in (open, openat, openat2) and fd.name = ${dir}/trigger
  output: "trigger opened by %proc.name (file=%fd.name)"
  priority: WARNING
  tags: [falcocompat, T1005]
`,
    );
    const run = await startSaker(
      dir,
      `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
buffered_outputs: true
metrics: {enabled: true, interval: 1s, output_rule: true, output_file: ${dir}/metrics.jsonl}
`,
      ["-p", "pid=%proc.pid", "-pc", "-U"],
    );
    let prom: Deno.ChildProcess | undefined;
    try {
      for (let i = 0; i < 3; i++) await Deno.readTextFile(`${dir}/trigger`);
      const target = new URL(run.api).host;
      const promPort = freePort();
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: saker
    scrape_interval: 1s
    static_configs: [{targets: ["${target}"]}]
`,
      );
      prom = new Deno.Command(PROMETHEUS, {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/prom-data`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const api = `http://127.0.0.1:${promPort}`;
      // Two successful scrapes of the agent.
      await waitFor("two scrapes", async () => {
        try {
          const up = await query(api, 'sum_over_time(up{job="saker"}[1m])');
          return up.length > 0 && Number(up[0].value[1]) >= 2;
        } catch {
          return false;
        }
      }, 60_000);

      const one = async (q: string) => {
        const r = await query(api, q);
        assert(r.length > 0, `no series for ${q}`);
        return r;
      };
      // Saker's names ...
      const processed = await one('saker_events_processed_total{source="syscall"}');
      assert(Number(processed[0].value[1]) > 0, "events processed");
      const alerts = await one(`saker_alerts_total{rule="${RULE}"}`);
      assertEquals(Number(alerts[0].value[1]), 3);
      // ... and Falco's, with Falco's labels.
      const matches = await one(
        `falcosecurity_falco_rules_matches_total{rule_name="${RULE}",priority="4",` +
          `source="syscall",tag_falcocompat="true",tag_T1005="true"}`,
      );
      assertEquals(Number(matches[0].value[1]), 3);
      const evts = await one("falcosecurity_scap_n_evts_total");
      assert(Number(evts[0].value[1]) >= Number(processed[0].value[1]), "kernel events");
      await one('falcosecurity_scap_n_drops_buffer_total{drop="open",dir="exit"}');
      await one("falcosecurity_scap_n_drops_total");
      const cpu = await one("falcosecurity_falco_cpu_usage_ratio");
      assert(Number(cpu[0].value[1]) > 0 && Number(cpu[0].value[1]) < 2, "cpu ratio");
      const rss = await one("falcosecurity_falco_memory_rss_bytes");
      assert(Number(rss[0].value[1]) > 10e6, "resident memory in bytes");
      await one('falcosecurity_falco_version_info{version!=""}');
      await one(
        'falcosecurity_scap_engine_name_info{engine_name="modern_bpf",evt_source="syscall"}',
      );
      await one("falcosecurity_scap_n_threads_total");
      await one("falcosecurity_plugins_container_n_containers_total");

      // The alerts: -p appended its format, -pc the container fields.
      const lines = run.stdout().trim().split("\n").map((l) => JSON.parse(l));
      const hits = lines.filter((a) => a.rule === RULE);
      assertEquals(hits.length, 3);
      assert(
        hits[0].output.endsWith(
          `(file=${dir}/trigger) pid=${Deno.pid} container_id=host container_name=host ` +
            "container_image_repository=<NA> container_image_tag=<NA> k8s_pod_name=<NA> " +
            "k8s_ns_name=<NA>",
        ),
        hits[0].output,
      );
      assertEquals(hits[0].output_fields["proc.pid"], Deno.pid);
      assertEquals(hits[0].output_fields["container.id"], "host");
      // Metrics snapshots: Falco's internal alert and file lines.
      const snap = await waitFor(
        "a snapshot alert",
        () =>
          run.stdout().trim().split("\n").map((l) => JSON.parse(l))
            .find((a) => a.rule === "Falco internal: metrics snapshot"),
      );
      assertEquals(snap.priority, "Informational");
      assertEquals(snap.source, "internal");
      assertEquals(snap.output, "Falco metrics snapshot");
      assertEquals(snap.output_fields["evt.source"], "syscall");
      assert(snap.output_fields["scap.n_evts"] > 0, "scap.n_evts");
      assert(snap.output_fields["falco.memory_rss_mb"] > 10, "memory in MB");
      const file = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l));
      assert(file.length >= 1 && file[0].sample === 1, JSON.stringify(file[0]));
      assertEquals(file[0].output_fields["falco.version"], snap.output_fields["falco.version"]);
    } finally {
      if (prom) {
        prom.kill("SIGTERM");
        await prom.status;
      }
      const status = await run.stop();
      assertEquals(status.code, 0, run.stderr());
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "falco compat: falco_libs.snaplen captures payload bytes (base64 with buffer_format_base64), " +
    "thread_table_size bounds state",
  ignore: needsRoot(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-falcolibs-" });
    await Deno.writeTextFile(
      `${dir}/rules.yaml`,
      `- rule: payload sent
  desc: a datagram of this test
  condition: evt.type = sendto and evt.buffer contains falcocompat
  output: "sent %evt.buffer"
  priority: NOTICE
`,
    );
    const run = await startSaker(
      dir,
      `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
falco_libs: {snaplen: 16, thread_table_size: 64}
buffer_format_base64: true
`,
    );
    try {
      const script = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" +
        "s.sendto(b'falcocompat-payload-1234567890', ('127.0.0.1', 9))\n";
      const out = await new Deno.Command(PYTHON, { args: ["-c", script] }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      const alert = await waitFor(
        "the payload alert",
        () =>
          run.stdout().trim().split("\n").filter((l) => l).map((l) => JSON.parse(l))
            .find((a) => a.rule === "payload sent"),
      );
      assertEquals(alert.output_fields["evt.buffer"], btoa("falcocompat-payl"), "16 bytes, base64");
      assert(alert.output.endsWith(`: Notice sent ${btoa("falcocompat-payl")}`), alert.output);
      const text = await (await fetch(`${run.api}/metrics`)).text();
      const dropped = /^saker_state_threads_dropped_total (\d+)/m.exec(text);
      assert(dropped && Number(dropped[1]) > 0, "a 64-thread table overflows on this host");
      const full = /^falcosecurity_scap_n_drops_full_threadtable_total (\d+)/m.exec(text);
      assertEquals(Number(full?.[1]), Number(dropped?.[1]), "Falco's name for the same count");
    } finally {
      const status = await run.stop();
      assertEquals(status.code, 0, run.stderr());
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "falco compat: engine.modern_ebpf.drop_failed_exit leaves failed calls out",
  ignore: needsRoot(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-dropfailed-" });
    await Deno.writeTextFile(`${dir}/here`, "x");
    await Deno.writeTextFile(
      `${dir}/rules.yaml`,
      `- rule: open under dir
  desc: opens under this test's directory, failed or not
  condition: evt.type in (open, openat, openat2) and fd.name startswith ${dir}/
  output: "open %fd.name res=%evt.res"
  priority: NOTICE
`,
    );
    const opened = async (dropFailed: boolean) => {
      const run = await startSaker(
        dir,
        `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
engine: {modern_ebpf: {drop_failed_exit: ${dropFailed}}}
`,
      );
      try {
        await Deno.readTextFile(`${dir}/missing`).catch(() => {});
        await Deno.readTextFile(`${dir}/here`);
        const lines = () =>
          run.stdout().trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
        await waitFor(
          "the successful open",
          () => lines().some((a) => a.output_fields["fd.name"] === `${dir}/here`),
        );
        return lines().map((a) => a.output_fields["fd.name"] as string);
      } finally {
        const status = await run.stop();
        assertEquals(status.code, 0, run.stderr());
      }
    };
    try {
      const all = await opened(false);
      assert(all.includes(`${dir}/missing`), `the failed open alerts: ${all}`);
      const kept = await opened(true);
      assert(!kept.includes(`${dir}/missing`), `no failed open: ${kept}`);
      assert(kept.includes(`${dir}/here`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
