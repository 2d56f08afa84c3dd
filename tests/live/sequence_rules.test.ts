/**
 * The default sequence rules, live, with one agent for every case: the real agent (`saker run`
 * with rules/ and a local file shortening the windows to 3 s through `override`) runs while
 * `saker simulate` performs each sequence's chain (and the threshold's burst) for real. Each chain
 * fires its sequence exactly once; the chain without its last step (`--variant partial`: for the
 * threshold, fewer events than its count), with each step in another key (`split`: another
 * session, container or process tree) and with its last step after the window (`slow`) fire
 * nothing. The agent records every alert's surroundings (Falco's capture feature,
 * all rules), and replaying those captures gives the same sequence alerts. The Kubernetes audit
 * sequence takes real webhook posts, and /metrics shows the sequences' tables.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot, REPO_ROOT } from "../support/env.ts";
import { selectActions } from "../../src/simulate/catalog.ts";
import { buildHelper } from "../../src/simulate/helper.ts";
import {
  AgentRun,
  causedBy,
  ensurePodmanService,
  type ReceivedAlert,
  sameValue,
  simulateInSession,
} from "./simulate_agent.ts";

const CHAINS = selectActions([
  "dropped-binary-chain",
  "service-shell-connects",
  "credential-read-connects",
  "container-mount-escape",
  "container-nsenter-escape",
  "port-scan",
]).map((a) => {
  if (a.rule === undefined) throw new Error(`${a.name} aims at no Saker rule`);
  return { ...a, rule: a.rule };
});
const WINDOW_S = 3;
const PAUSE_MS = 4500;
/** How long, after the sync, alerts held for container metadata and stray alerts are waited for. */
const SETTLE_MS = 2000;

/** Names of the default thresholds (the chains' other rules are sequences). */
const THRESHOLDS = new Set(
  [
    ...Deno.readTextFileSync(`${REPO_ROOT}rules/70_sequences.yaml`).matchAll(
      /^- threshold: (.+)$/gm,
    ),
  ]
    .map((m) => m[1].trim()),
);

const SHORT_WINDOWS = CHAINS.map((a) =>
  `- ${THRESHOLDS.has(a.rule) ? "threshold" : "sequence"}: ${a.rule}\n` +
  `  within: ${WINDOW_S}s\n  override: {within: replace}\n`
).join("");

/** `saker simulate` of a variant, in a session of its own (its process group names its alerts). */
const simulate = (variant: string, names: string[]) =>
  simulateInSession(names, ["--gap", "500", "--variant", variant, "--pause", String(PAUSE_MS)]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "sequences live: each chain fires once, its parts, split keys and late steps do not",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await buildHelper();
    const stopPodman = await ensurePodmanService();
    const dir = await Deno.makeTempDir({ prefix: "saker-seq-live-" });
    const local = `${dir}/short_windows.yaml`;
    await Deno.writeTextFile(local, SHORT_WINDOWS);
    const capturePrefix = `${dir}/cap`;
    const agent = await AgentRun.start(
      [`${REPO_ROOT}rules`, local],
      [
        "capture:",
        "  enabled: true",
        "  mode: all_rules",
        `  path_prefix: ${capturePrefix}`,
        "  pre_duration: 5000",
        "  default_duration: 1000",
      ].join("\n"),
      { api: true },
    );
    const summary: string[] = [];
    const live: ReceivedAlert[] = [];
    try {
      const ofRule = (rule: string, from: number, to: number) =>
        agent.alerts.filter((a) => a.rule === rule && a.receivedMs >= from && a.receivedMs <= to);

      await t.step("chain: each fires exactly once, with its facts", async () => {
        const run = await simulate("chain", CHAINS.map((a) => a.name));
        // Every event of the actions evaluated (the marker alert after them is back), however
        // slow the machine; then the settle time for alerts held for container metadata.
        await agent.sync();
        await sleep(SETTLE_MS);
        const bad: string[] = [];
        for (const r of run.reports) {
          const action = CHAINS.find((a) => a.name === r.action)!;
          if (r.status === "skipped") {
            console.warn(`SKIP: ${r.action}: ${r.reason}`);
            continue;
          }
          if (r.status !== "ok") {
            bad.push(`${r.action}: ${r.status} ${r.reason}`);
            continue;
          }
          const containers = r.containerId ? [r.containerId] : [];
          const hits = agent.alerts.filter((a) =>
            a.rule === action.rule && a.receivedMs >= r.startMs &&
            causedBy(a, run, containers)
          );
          const latency = hits.length ? Math.max(0, hits[0].receivedMs - r.endMs) : NaN;
          summary.push(`${r.action.padEnd(26)} chain: ${hits.length} alert(s), ${latency} ms`);
          if (hits.length !== 1) {
            bad.push(`${r.action}: ${hits.length} '${action.rule}' alerts, expected 1`);
            continue;
          }
          live.push(hits[0]);
          for (const k of action.expect) {
            if (!sameValue(hits[0].fields[k], r.facts[k])) {
              bad.push(`${r.action}: ${k} = ${hits[0].fields[k]}, expected ${r.facts[k]}`);
            }
          }
        }
        assertEquals(bad, []);
      });

      for (const variant of ["partial", "split", "slow"]) {
        await t.step(`${variant}: no sequence fires`, async () => {
          const run = await simulate(variant, CHAINS.map((a) => a.name));
          await agent.sync(); // no late alert can be missed by the count below
          await sleep(SETTLE_MS);
          const bad: string[] = [];
          for (const r of run.reports) {
            if (r.status === "skipped") continue;
            if (r.status !== "ok") {
              bad.push(`${r.action}: ${r.status} ${r.reason}`);
              continue;
            }
            const action = CHAINS.find((a) => a.name === r.action)!;
            // Any alert of the sequence since the action started, received up to now (after the
            // sync), attribution aside: each chain has a rule of its own.
            const hits = ofRule(action.rule, r.startMs, Date.now());
            summary.push(`${r.action.padEnd(26)} ${variant}: ${hits.length} alert(s)`);
            if (hits.length) bad.push(`${r.action} (${variant}): ${hits[0].output}`);
          }
          assertEquals(bad, []);
        });
      }

      await t.step("Kubernetes audit: a secret read then an exec by the same user", async () => {
        const rule = "Secret read then pod exec by the same user";
        const now = Date.now();
        const ev = (
          min: number,
          user: string,
          verb: string,
          resource: string,
          ns: string,
          name: string,
          sub?: string,
        ) => ({
          kind: "Event",
          apiVersion: "audit.k8s.io/v1",
          level: "Request",
          auditID: crypto.randomUUID(),
          stage: "ResponseComplete",
          requestURI: `/api/v1/namespaces/${ns}/${resource}/${name}${sub ? `/${sub}` : ""}` +
            (sub ? "?command=sh&stdin=true" : ""),
          verb,
          user: { username: user, groups: ["system:authenticated"] },
          sourceIPs: ["198.51.100.7"],
          objectRef: { resource, namespace: ns, name, apiVersion: "v1", subresource: sub },
          responseStatus: { code: verb === "get" ? 200 : 101 },
          requestReceivedTimestamp: new Date(now + min * 60_000).toISOString(),
          stageTimestamp: new Date(now + min * 60_000).toISOString(),
        });
        const post = async (items: unknown[]) => {
          const res = await fetch(`${agent.api}/k8s-audit`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items }),
          });
          assertEquals(res.status, 200, await res.text());
        };
        const from = Date.now();
        await post([
          // Read 11 minutes before the exec (event time): outside the 10 minute window.
          ev(-11, "eve", "get", "secrets", "prod", "db-password"),
          ev(0, "eve", "create", "pods", "prod", "web-0", "exec"),
          // Read, then exec in another namespace, then by another user: no chain.
          ev(0, "mallory", "get", "secrets", "prod", "db-password"),
          ev(1, "mallory", "create", "pods", "dev", "web-1", "exec"),
          ev(1, "alice", "create", "pods", "prod", "web-1", "exec"),
        ]);
        await post([ev(2, "mallory", "create", "pods", "prod", "web-2", "exec")]);
        const hit = await agent.waitFor((a) => a.rule === rule, Date.now() + 5000);
        await sleep(500);
        const hits = agent.alerts.filter((a) => a.rule === rule && a.receivedMs >= from);
        assert(hit, "no alert for the chain");
        assertEquals(hits.length, 1, hits.map((h) => h.output).join("\n"));
        assert(
          /user=mallory secret=db-password namespace=prod pod=web-2/.test(hit.output),
          hit.output,
        );
        summary.push(`k8s audit sequence: 1 alert (${hit.output.slice(0, 60)}...)`);
      });

      await t.step("/metrics shows the sequences' tables", async () => {
        const text = await (await fetch(`${agent.api}/metrics`)).text();
        const value = (name: string, rule: string) => {
          const line = text.split("\n").find((l) => l.startsWith(`${name}{rule="${rule}"`));
          return line === undefined ? undefined : Number(line.split(" ").at(-1));
        };
        for (const a of CHAINS) {
          assert(value("saker_sequence_partial_matches", a.rule) !== undefined, a.rule);
          assert(value("saker_sequence_evicted_total", a.rule) === 0, a.rule);
        }
        // The partial chains were dropped once their window passed, by event time.
        const expired = CHAINS.map((a) => value("saker_sequence_expired_total", a.rule) ?? 0);
        assert(expired.reduce((x, y) => x + y, 0) > 0, `expired: ${expired}`);
        assert(
          /falcosecurity_falco_rules_matches_total\{[^}]*rule_name="Dropped binary executed"/
            .test(text),
          "sequence alerts count as rule matches",
        );
      });
    } finally {
      await agent.stop();
      await stopPodman();
      console.log(`\nsequences live:\n${summary.join("\n")}`);
    }

    await t.step(
      "replay: the captures around the alerts give the same sequence alerts",
      async () => {
        const files: string[] = [];
        for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".scap")) files.push(e.name);
        assert(files.length > 0, "no capture was written");
        const replayed: { rule: string; output: string }[] = [];
        for (const f of files.sort()) {
          const out = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              `${REPO_ROOT}src/main.ts`,
              "replay",
              `${dir}/${f}`,
              "-r",
              `${REPO_ROOT}rules`,
              "-r",
              local,
              "--json",
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
          for (const l of new TextDecoder().decode(out.stdout).split("\n")) {
            if (!l.startsWith("{")) continue;
            const a = JSON.parse(l);
            if (rulesOf(a.rule)) replayed.push({ rule: a.rule, output: a.output });
          }
        }
        // Capture files carry the events, threads, fds and the host's users, not the container
        // runtime's metadata: a replayed container's name, image, privileges and the user names
        // of its own passwd are unknown (<NA>); everything else must be the same.
        const key = (a: { rule: string; output: string }) =>
          `${a.rule}: ${a.output.replace(/\b(user|container_name|image|privileged)=\S+/g, "$1=*")}`;
        const liveKeys = live.map(key).sort();
        // Every live alert comes out of a capture with all its facts.
        const replayedKeys = new Set(replayed.map(key));
        for (const k of liveKeys) assert(replayedKeys.has(k), `not replayed: ${k}`);
        // A capture opened before a chain's last process was spawned learns that process from
        // its clone record, whose creating thread the capture's thread table may lack: its
        // parent's name can be unknown there. Every other fact is the live alert's.
        const noParent = (k: string) => k.replace(/\bparent=\S*/, "parent=*");
        assertEquals(
          [...new Set(replayed.map(key).map(noParent))].sort(),
          liveKeys.map(noParent).sort(),
        );
      },
    );
    await Deno.remove(dir, { recursive: true });

    function rulesOf(rule: string): boolean {
      return CHAINS.some((a) => a.rule === rule);
    }
  },
});
