/**
 * The dashboard's Tuning view in a real browser (Debian's chromium driven by npm playwright-core)
 * against a real agent (`saker run` without the probe, `--disable-source syscall`, so no root is
 * needed) whose store holds a noisy day (tests/support/noisy_store.ts): the view shows each rule's
 * proposed exception with its values and counts and what it would have removed, what was left out,
 * the rules file (copied to the clipboard exactly), the range in the address; the numbers are
 * those of GET /tune; the console stays free of errors. A screenshot goes to .build/screenshots/.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { REPO_ROOT, skipNote } from "../support/env.ts";
import { startSaker } from "../support/agent_process.ts";
import { noisyStore, READ, WRITE } from "../support/noisy_store.ts";

// The page's globals the code run there uses (Deno's type checker has no DOM library).
// deno-lint-ignore no-explicit-any
declare const document: any;

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = `${REPO_ROOT}.build/screenshots`;

function ignored(): boolean {
  try {
    if (Deno.statSync(CHROMIUM).isFile) return false;
  } catch { /* missing */ }
  skipNote(`${CHROMIUM} is missing (scripts/setup.sh test installs it): browser tests skipped`);
  return true;
}

Deno.test({
  name: "tuning view: proposals, counts and the rules file in a real browser",
  ignore: ignored(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    const dir = await Deno.makeTempDir({ prefix: "saker-tune-browser-" });
    await Deno.mkdir(SHOTS, { recursive: true });
    noisyStore(`${dir}/alerts.db`);
    const run = await startSaker(
      dir,
      `rules_files: [${JSON.stringify(`${REPO_ROOT}rules`)}]\nstdout_output: {enabled: false}\n`,
      ["--disable-source", "syscall"],
    );
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const errors: string[] = [];
    try {
      const api = await (await fetch(`${run.api}/tune?since=7d`)).json();
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(10_000);
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: run.api });
      const page = await context.newPage();
      page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
      page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));

      await page.goto(`${run.api}/#/tune?since=7d`);
      await page.waitForSelector("#tune-proposals .proposal");
      assertEquals(await page.locator("nav a.active").textContent(), "Tuning");
      const summary = await page.textContent("#tune-summary") ?? "";
      assertStringIncludes(summary, "348 stored alerts since");
      assertStringIncludes(summary, "would have removed 330 (94.8%)");
      const cards = await page.locator("#tune-proposals .proposal").evaluateAll((els) =>
        els.map((e) => ({
          rule: e.getAttribute("data-rule"),
          removes: e.querySelector(".removes")?.textContent,
          head: [...e.querySelectorAll("thead th")].map((th) => th.textContent),
          rows: [...e.querySelectorAll("tbody tr")].map((tr) =>
            [...tr.querySelectorAll("td")].map((td) => td.textContent)
          ),
          note: e.querySelector(".note")?.textContent ?? "",
        }))
      );
      assertEquals(cards.map((c) => c.rule), api.proposals.map((p: { rule: string }) => p.rule));
      const read = cards.find((c) => c.rule === READ)!;
      assertEquals(read.removes, "307 alerts; the exception would have removed 290 (94.5%).");
      assertEquals(read.head, ["proc.exepath", "fd.name", "Alerts"]);
      assertEquals(read.rows, [["/usr/bin/cp", "/etc/shadow", "250"], [
        "/usr/bin/cp",
        "/etc/gshadow",
        "40",
      ]]);
      assertStringIncludes(read.note, "15 alerts of programs in /tmp, /dev/shm");
      assert(cards.some((c) => c.rule === WRITE), "the write rule's proposal");
      const file = await page.textContent("#tune-file") ?? "";
      // The same file as GET /tune's (its second line names the moment it was asked for).
      const body = (t: string) => t.split("\n").slice(2).join("\n");
      assertEquals(body(file), body(api.file_text));
      assertStringIncludes(file, "exceptions: append");
      await page.click("#copy-tune-file");
      await page.waitForFunction(() => document.body.textContent?.includes("copied"));
      assertEquals(
        // deno-lint-ignore no-explicit-any
        await page.evaluate(() => (navigator as any).clipboard.readText() as Promise<string>),
        file,
      );
      // Another range: the address follows.
      await page.selectOption("select[name=since]", "1h");
      await page.waitForFunction(() => location.hash.includes("since=1h"));
      await page.screenshot({ path: `${SHOTS}/tuning.png`, fullPage: true });
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await run.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
