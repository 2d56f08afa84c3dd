/**
 * The short form of the reliability suite's faults and load (`deno task bench reliability` runs
 * the long form): a real `saker run` with the probe whose outputs go down, slow, missing, full
 * and read-only while 30 reloads come in 3 s during an alert storm; then 300 slow and 300 idle
 * API connections for 12 s while it detects. Every alert is delivered or counted, no event goes
 * unevaluated, the API keeps answering, detection goes on, memory stays bounded.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { runFaults } from "../../scripts/reliability/faults.ts";
import { runLoad } from "../../scripts/reliability/load.ts";

Deno.test({
  name: "reliability: faults on every output and a reload storm; every alert delivered or counted",
  ignore: needsRoot(),
  async fn() {
    const f = await runFaults({ alerts: 300, reloads: 30, reloadSeconds: 3 });
    console.log(JSON.stringify(f, null, 1));
    assert(f.every_alert_delivered_or_counted, "an alert neither delivered nor counted");
    assertEquals(f.events_unevaluated, 0, "trigger events without their alert");
    assertEquals(f.reloads_done as number > 0, true);
    // A reload builds the new rules while the old ones run: each leaves tens of MB of garbage,
    // and a storm of them sizes the heap once (an agent without events under 8 rounds of 30
    // SIGHUPs in 3 s: +85 MB after the first round, then level between +125 and +160 MB over
    // 196 reloads, heap in use 27 to 126 MB with no upward trend, where a leak would climb).
    const growth = (f.rss_max_mb as number) - (f.rss_start_mb as number);
    assert(growth < 200, `RSS grew by ${growth} MB`);
    const ro = f.read_only_store_start as { exit: number; said: string };
    assertEquals(ro.exit, 1, ro.said);
  },
});

Deno.test({
  name: "reliability: 300 slow and 300 idle API connections; the API answers, detection goes on",
  ignore: needsRoot(),
  async fn() {
    const l = await runLoad({
      slow: 300,
      idle: 300,
      seconds: 12,
      samples: 20,
      maxConnections: 256,
    });
    console.log(JSON.stringify(l, null, 1));
    const during = l.during as {
      api: { failed: number; p99_ms: number; max_ms: number };
      detection: { missed: number; p99_ms: number };
    };
    assertEquals(during.api.failed, 0, "API requests failed during the attack");
    // The prober runs in a process of its own: in the attackers' process it measured their
    // host's stalls (p99 up to 3 s) while one apart, at the same moments, never waited more than
    // ~70 ms. Apart, three runs measured p50 2.2-2.7 ms, p99 29-40 ms, max 36-42 ms on the
    // 2-core VM: the bounds leave over ten times that.
    assert(during.api.p99_ms < 500, `API p99 ${during.api.p99_ms} ms`);
    assert(during.api.max_ms < 2000, `API max ${during.api.max_ms} ms`);
    assertEquals(during.detection.missed, 0, "alerts missed during the attack");
    // Attackers that reconnect at once make the capped server accept and close ~5,000
    // connections a second: V8's heap and the allocator size themselves to that garbage rate
    // once (the API server alone under this attack: +106 MB, then level over four more rounds
    // of ~37,000 connections, live heap after GC 7 MB before and after; the agent: +129 to
    // +138 MB from a start that still held the rules build's garbage, +170 MB from one that no
    // longer does (a full collection after start-up: before 171 -> 128 MB, peak 317 -> 297 MB).
    // Holding the 600 connections without churn costs +15 MB. A leak shows as growth
    // in the last third (measured +13 MB there): ~10,000 connections come and go in it, so 30 MB
    // catches anything of 3 KB a connection kept (a Node socket with its parser is more).
    assert((l.rss_growth_mb as number) < 200, `RSS grew by ${l.rss_growth_mb} MB`);
    assert(
      (l.rss_growth_last_third_mb as number) < 30,
      `RSS still grew by ${l.rss_growth_last_third_mb} MB in the attack's last third`,
    );
    assert((l.connections_evicted as number) > 0, "the cap was reached and idle clients made room");
  },
});
