/**
 * An alert storm under the real agent: a program opens /etc/shadow 10,000 times in 10 seconds
 * ("Sensitive file read by untrusted program", the same key every time) while `saker run` sends
 * JSON alerts to stdout and to a real HTTP webhook on loopback, with aggregation on (2 s window,
 * 5 s cap) and the rate limit as a safety net. In the middle of the storm another program makes a
 * symbolic link to /etc/shadow, a different attack. Required:
 *
 * - stdout and the webhook get a handful of alerts for the storm (the first, then summaries),
 *   whose counts add up to exactly 10,000;
 * - the different attack reaches both within 2 s;
 * - the store accounts for all 10,000 (the summaries' counts, and one aggregated entry), and
 *   /metrics says 10,000 fired, sent + aggregated = fired, nothing dropped.
 *
 * The safety net alone: with aggregation off, each output's rate limit holds back what exceeds
 * it and its summaries count every held alert, on stdout and in the store.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot, REPO_ROOT } from "../support/env.ts";
import { startSaker, waitFor } from "../support/agent_process.ts";

const STORM_RULE = "Sensitive file read by untrusted program";
const LINK_RULE = "Symlink to sensitive file created";
const ATTACKS = 10_000;

const HELPER = String.raw`
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* storm N MS: open and close /etc/shadow N times, spread evenly over MS milliseconds.
   link PATH: make PATH a symbolic link to /etc/shadow. */
static long long now_ns(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}
int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "link") == 0) return symlink("/etc/shadow", argv[2]) ? 1 : 0;
  if (argc != 4 || strcmp(argv[1], "storm") != 0) return 2;
  long n = atol(argv[2]);
  long long span = atoll(argv[3]) * 1000000LL, t0 = now_ns();
  for (long i = 0; i < n; i++) {
    long long due = t0 + span * i / n;
    while (now_ns() < due) usleep(200);
    int fd = open("/etc/shadow", O_RDONLY);
    if (fd >= 0) close(fd);
  }
  return 0;
}
`;

interface Received {
  rule: string;
  output_fields: Record<string, unknown>;
  aggregate?: { count: number; reason: string };
  output: string;
}

function metric(text: string, name: string, rule: string): number {
  let n = 0;
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\d+)$`, "gm");
  for (const m of text.matchAll(re)) if (m[1].includes(`rule="${rule}"`)) n += Number(m[2]);
  return n;
}

Deno.test({
  name: "alert storm: 10,000 identical attacks give a handful of alerts, all 10,000 accounted for",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-storm-" });
    const helper = `${dir}/storm-reader`;
    await Deno.writeTextFile(`${dir}/storm.c`, HELPER);
    const cc = await new Deno.Command("gcc", { args: ["-O2", "-o", helper, `${dir}/storm.c`] })
      .output();
    assertEquals(cc.code, 0, new TextDecoder().decode(cc.stderr));

    const hooked: { at: number; alert: Received }[] = [];
    const receiver = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const body = await req.text();
        for (const line of body.split("\n").filter((l) => l.trim())) {
          hooked.push({ at: Date.now(), alert: JSON.parse(line) });
        }
        return new Response("ok");
      },
    );
    const run = await startSaker(
      dir,
      [
        `rules_files: [${JSON.stringify(`${REPO_ROOT}rules`)}]`,
        "json_output: true",
        `http_output: {enabled: true, url: "http://127.0.0.1:${receiver.addr.port}/"}`,
        "aggregation: {enabled: true, window: 2s, max_window: 5s}",
        "output_rate_limit: {enabled: true, rate: 50, max_burst: 500}",
      ].join("\n") + "\n",
    );
    try {
      const stdoutAlerts = () =>
        run.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) =>
          JSON.parse(l) as Received
        );
      const before = await (await fetch(`${run.api}/metrics`)).text();
      const mine = (a: Received) => a.output_fields["proc.exepath"] === helper;

      const t0 = Date.now();
      const storm = new Deno.Command(helper, { args: ["storm", String(ATTACKS), "10000"] })
        .spawn();
      // A different attack in the middle of the storm.
      await new Promise((r) => setTimeout(r, 5000));
      const linkAt = Date.now();
      const link = await new Deno.Command(helper, { args: ["link", `${dir}/shadow-link`] })
        .output();
      assertEquals(link.code, 0);
      const isLink = (a: Received) => a.rule === LINK_RULE && mine(a);
      const onStdout = await waitFor("the link alert on stdout", () => {
        return stdoutAlerts().some(isLink) ? Date.now() : undefined;
      }, 10_000);
      const onHook = await waitFor("the link alert on the webhook", () => {
        return hooked.find((h) => isLink(h.alert))?.at;
      }, 10_000);
      assertEquals((await storm.status).code, 0);
      const stormMs = Date.now() - t0;

      // The storm's last window closes 2 s after its last alert.
      const counted = (list: Received[]) =>
        list.filter((a) => a.rule === STORM_RULE && mine(a)).reduce(
          (n, a) => n + (a.aggregate?.count ?? 1),
          0,
        );
      await waitFor("every occurrence summarised on stdout", () => {
        return counted(stdoutAlerts()) >= ATTACKS;
      }, 20_000);
      await waitFor("every occurrence summarised on the webhook", () => {
        return counted(hooked.map((h) => h.alert)) >= ATTACKS;
      }, 20_000);
      const onOut = stdoutAlerts().filter((a) => a.rule === STORM_RULE && mine(a));
      const onWeb = hooked.map((h) => h.alert).filter((a) => a.rule === STORM_RULE && mine(a));

      // The store: every occurrence, and one aggregated entry standing for all of them.
      const stored = await (await fetch(
        `${run.api}/alerts?rule=${encodeURIComponent(STORM_RULE)}&limit=1000`,
      )).json();
      const storedMine = (stored.alerts as (Received & { id: number })[]).filter(mine);
      const inStore = storedMine.reduce((n, a) => n + (a.aggregate?.count ?? 1), 0);
      const aggregated = await (await fetch(
        `${run.api}/alerts?rule=${encodeURIComponent(STORM_RULE)}&view=aggregated&limit=1000`,
      )).json();
      const entries = (aggregated.alerts as (Received & { occurrences?: number })[]).filter(mine);

      const after = await (await fetch(`${run.api}/metrics`)).text();
      const delta = (name: string) =>
        metric(after, name, STORM_RULE) - metric(before, name, STORM_RULE);
      const fired = delta("saker_alerts_total");
      const sent = delta("saker_alerts_sent_total");
      const folded = delta("saker_alerts_aggregated_total");
      const summaries = delta("saker_alert_summaries_total");
      const dropped = [...after.matchAll(/^saker_output_dropped_total\{[^}]*\} (\d+)$/gm)]
        .reduce((n, m) => n + Number(m[1]), 0);
      const held = [...after.matchAll(/^saker_output_throttled_total\{[^}]*\} (\d+)$/gm)]
        .reduce((n, m) => n + Number(m[1]), 0);

      console.log(
        `\nstorm: ${ATTACKS} attacks in ${
          (stormMs / 1000).toFixed(1)
        } s -> stdout ${onOut.length} ` +
          `alerts (counts ${onOut.map((a) => a.aggregate?.count ?? 1).join("+")}), webhook ` +
          `${onWeb.length}, store ${storedMine.length} rows = ${inStore} occurrences ` +
          `(aggregated view: ${entries.map((e) => e.occurrences ?? 1).join(",")}); metrics ` +
          `fired ${fired}, sent ${sent}, aggregated ${folded}, summaries ${summaries}, ` +
          `throttled ${held}, dropped ${dropped}; different attack on stdout after ` +
          `${onStdout - linkAt} ms, on the webhook after ${onHook - linkAt} ms`,
      );
      assert(onOut.length >= 2 && onOut.length <= 10, `a handful on stdout: ${onOut.length}`);
      assertEquals(onOut[0].aggregate, undefined, "the first alert goes out as it is");
      assertEquals(counted(onOut), ATTACKS, "stdout: the counts add up to every attack");
      assertEquals(onWeb.length, onOut.length, "the webhook got what stdout got");
      assertEquals(counted(onWeb), ATTACKS, "webhook: the counts add up to every attack");
      assertEquals(inStore, ATTACKS, "the store accounts for every attack");
      assertEquals(entries.length, 1, "one aggregated entry");
      assertEquals(entries[0].occurrences, ATTACKS);
      assertEquals(fired, ATTACKS, "metrics: every attack fired");
      assertEquals(sent + folded, fired, "metrics: sent + aggregated = fired");
      assertEquals(sent, 1);
      assertEquals(summaries, onOut.length - 1);
      assertEquals(dropped, 0);
      assertEquals(held, 0, "aggregation kept every output under its rate limit");
      assert(onStdout - linkAt < 2000, `different attack on stdout in ${onStdout - linkAt} ms`);
      assert(onHook - linkAt < 2000, `different attack on the webhook in ${onHook - linkAt} ms`);
    } finally {
      const st = await run.stop();
      await receiver.shutdown();
      await Deno.remove(dir, { recursive: true });
      assertEquals(st.code, 0, run.stderr().slice(-2000));
    }
  },
});

Deno.test({
  name: "alert storm without aggregation: the rate limit holds back, counts and summarises",
  ignore: needsRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-storm-rl-" });
    const helper = `${dir}/storm-reader`;
    await Deno.writeTextFile(`${dir}/storm.c`, HELPER);
    const cc = await new Deno.Command("gcc", { args: ["-O2", "-o", helper, `${dir}/storm.c`] })
      .output();
    assertEquals(cc.code, 0, new TextDecoder().decode(cc.stderr));
    const run = await startSaker(
      dir,
      [
        `rules_files: [${JSON.stringify(`${REPO_ROOT}rules`)}]`,
        "json_output: true",
        "aggregation: {enabled: false}",
        "output_rate_limit: {enabled: true, rate: 100, max_burst: 200, summary_interval: 1s}",
      ].join("\n") + "\n",
    );
    const total = 2000;
    try {
      const mine = (a: Received) =>
        a.rule === STORM_RULE && a.output_fields["proc.exepath"] === helper;
      const onStdout = () =>
        run.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) =>
          JSON.parse(l) as Received
        ).filter(mine);
      const counted = (list: Received[]) => list.reduce((n, a) => n + (a.aggregate?.count ?? 1), 0);
      const storm = await new Deno.Command(helper, { args: ["storm", String(total), "2000"] })
        .output();
      assertEquals(storm.code, 0);
      await waitFor("every attack counted on stdout", () => counted(onStdout()) >= total, 20_000);
      const storedCount = async () => {
        const stored = await (await fetch(
          `${run.api}/alerts?rule=${encodeURIComponent(STORM_RULE)}&limit=10000`,
        )).json();
        return counted((stored.alerts as Received[]).filter(mine));
      };
      await waitFor(
        "every attack counted in the store",
        async () => await storedCount() >= total,
        10_000,
      )
        .catch(() => {});
      const inStore = await storedCount();
      const out = onStdout();
      const summaries = out.filter((a) => a.aggregate);
      const metrics = await (await fetch(`${run.api}/metrics`)).text();
      const held = (o: string) =>
        Number(
          new RegExp(`^saker_output_throttled_total\\{output="${o}"\\} (\\d+)$`, "m")
            .exec(metrics)?.[1] ?? 0,
        );
      console.log(
        `\nrate limit (100/s, burst 200) under ${total} attacks in 2 s, no aggregation: stdout ` +
          `${out.length - summaries.length} alerts + ${summaries.length} summaries (counts ` +
          `${summaries.map((a) => a.aggregate!.count).join("+")}) = ${counted(out)}; store ` +
          `${inStore}; held back: stdout ${held("stdout")}, store ${held("store")}`,
      );
      assertEquals(counted(out), total, "stdout: sent + held back = every attack");
      assert(out.length - summaries.length <= 200 + 100 * 4, "the rate limit held");
      assert(summaries.every((a) => a.aggregate!.reason === "rate_limit"));
      assertEquals(inStore, total, "the store's rate limit counts too");
      assertEquals(held("stdout"), total - (out.length - summaries.length));
    } finally {
      const st = await run.stop();
      await Deno.remove(dir, { recursive: true });
      assertEquals(st.code, 0, run.stderr().slice(-2000));
    }
  },
});
