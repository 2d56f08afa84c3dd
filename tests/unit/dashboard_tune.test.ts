/** The dashboard's Tuning view: its summary line, shares and counts (web/tune.js). */
import { assertEquals } from "../support/assert.ts";
import { webModule } from "../support/web.ts";

Deno.test("dashboard tuning: summary, shares and counts as the page prints them", async () => {
  const { alertsText, percent, tuneSummary } = await webModule("tune.js");
  assertEquals([percent(290, 307), percent(0, 0), percent(5, 5)], ["94.5%", "0%", "100.0%"]);
  assertEquals([alertsText(1), alertsText(12345)], ["1 alert", "12,345 alerts"]);
  assertEquals(
    tuneSummary({
      alerts: 348,
      removed: 330,
      proposals: [{}, {}],
      since: "2026-12-02T21:29:08.810000000Z",
    }),
    "348 stored alerts since 2026-12-02 21:29:08 UTC; the 2 proposed exceptions would have " +
      "removed 330 (94.8%).",
  );
  assertEquals(
    tuneSummary({ alerts: 0, removed: 0, proposals: [], since: "2026-12-02T00:00:00Z" }),
    "No stored alerts in this range.",
  );
});
