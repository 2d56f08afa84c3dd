/**
 * The dashboard in a real browser (Debian's chromium driven by npm playwright-core) against a
 * real agent (`saker run` with the probe, the default rules, the alert store and a token) and
 * real attacks (`saker simulate`): the page refuses without the token and signs in with it
 * (never putting it in a URL), a simulated attack's alert appears within 2 s, filters by
 * priority and rule live in the URL, the detail shows the alert's fields, MITRE names, process
 * and exact JSON (copied to the clipboard), the overview's counts equal what /alerts returns,
 * pausing keeps the list still and counts arrivals, health and rules show the agent's numbers;
 * screenshots at desktop and phone width go to .build/screenshots/, and the console stays free
 * of errors. One agent and one browser for the whole file.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { IS_ROOT, REPO_ROOT, skipNote } from "../support/env.ts";
import { PRIORITIES, type Priority, priorityRank } from "../../src/rules/alert.ts";
import { STATUS_METRICS } from "../../src/server/status.ts";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "dashboard-test-token-7f3a";
const RULE = "Sensitive file read by untrusted program";
const SHOTS = `${REPO_ROOT}.build/screenshots`;

function chromiumPresent(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

function ignored(): boolean {
  if (!IS_ROOT) {
    skipNote("not root: the dashboard's browser test needs the live agent");
    return true;
  }
  if (!chromiumPresent()) {
    skipNote(`${CHROMIUM} is missing (scripts/setup.sh test installs it): browser tests skipped`);
    return true;
  }
  return false;
}

/** `saker run` with its output collected; the API address read from its start-up line. */
async function startAgent(dir: string) {
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    [
      "rules_files: [builtin:rules]",
      "priority: debug",
      "watch_config_files: false",
      "stdout_output: {enabled: false}",
      `alert_store: {enabled: true, path: ${dir}/alerts.db}`,
      `webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, auth_token: ${TOKEN}}`,
      "log_level: info",
    ].join("\n") + "\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", "src/main.ts", "run", "-c", `${dir}/config.yaml`],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void (log += s) }),
  ).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + 60_000;
  let api = "";
  while (!api) {
    const m = /saker running .*api=(\S+)/.exec(log);
    if (m) api = m[1];
    else if (exited || Date.now() > deadline) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await status;
      throw new Error(`the agent did not start:\n${log.slice(-3000)}`);
    } else await new Promise((r) => setTimeout(r, 50));
  }
  return {
    api,
    log: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const s = await status;
      await reading;
      return s.code;
    },
  };
}

async function simulate(...actions: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", "src/main.ts", "simulate", ...actions],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`saker simulate ${actions.join(" ")} failed:\n${text}`);
}

const auth = { authorization: `Bearer ${TOKEN}` };

/** The list as the reader sees it. */
interface ListState {
  y: number;
  rows: number;
  first: string | null;
  counter: string | null;
}

// The browser's globals that the code run in the page uses: Playwright sends these functions'
// text to the page, where they exist; Deno's type checker has no DOM library to know them.
// deno-lint-ignore no-explicit-any
type Any = any;
declare const document: Any, HTMLElement: Any, MutationObserver: Any, scrollY: number;
declare const innerWidth: number, scrollTo: (x: number, y: number) => void;

/** Code run in the page. */
const IN_PAGE = {
  /** Stamps each alert row with the moment it entered the page (epoch ms). */
  stampRows: () =>
    new MutationObserver((changes: Any[]) => {
      for (const c of changes) {
        for (const n of c.addedNodes) {
          if (n instanceof HTMLElement) {
            (n as Any).dataset.seenMs = String(performance.timeOrigin + performance.now());
          }
        }
      }
    }).observe(document.getElementById("alert-list"), { childList: true }),
  /** A data attribute of each element. */
  data: (els: Any[], name: string): string[] => els.map((e) => e.dataset[name]),
  totals: (els: Any[]): string[][] =>
    els.map((e) => [e.dataset.priority, e.querySelector(".n").textContent.replace(/,/g, "")]),
  listState: (): ListState => ({
    y: scrollY,
    rows: document.querySelectorAll("#alert-list li").length,
    first: document.querySelector("#alert-list li")?.getAttribute("data-time") ?? null,
    counter: document.getElementById("new-count")?.textContent ?? null,
  }),
  clipboard: (): Promise<string> => (navigator as Any).clipboard.readText(),
  rateShown: () => /\d/.test(document.querySelector("#events-rate .value")?.textContent ?? ""),
  overflow: (): number => document.documentElement.scrollWidth - innerWidth,
};

Deno.test({
  name: "dashboard: a real browser against a running agent",
  ignore: ignored(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const { chromium } = await import("playwright-core");
    const dir = await Deno.makeTempDir({ prefix: "saker-dashboard-" });
    await Deno.mkdir(SHOTS, { recursive: true });
    const agent = await startAgent(dir);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Root cannot use chromium's sandbox; the page is our own.
      args: ["--no-sandbox"],
    });
    const errors: string[] = [];
    const urls: string[] = [];
    let signingIn = true;
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(10_000);
      await context.grantPermissions(["clipboard-read", "clipboard-write"], {
        origin: agent.api,
      });
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() !== "error") return;
        // The refused requests of the sign-in step are expected there, and only there.
        if (signingIn && /status of 401/.test(m.text())) return;
        errors.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
      page.on("request", (r) => urls.push(r.url()));
      const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png` });

      await t.step("without the token the page refuses and asks for it", async () => {
        await page.goto(`${agent.api}/`);
        await page.waitForSelector("#sign-in");
        assertStringIncludes(
          await page.textContent("#sign-in-message") ?? "",
          "requires its API token",
        );
        assertEquals(await page.locator("#alert-list").count(), 0);
        const status = await page.evaluate(async () => (await fetch("/alerts")).status);
        assertEquals(status, 401);
        await page.fill("#token", "wrong-token");
        await page.press("#token", "Enter");
        await page.waitForSelector("#sign-in-message.error");
        assertStringIncludes(await page.textContent("#sign-in-message") ?? "", "refused");
        assertEquals(await page.locator("#alert-list").count(), 0);
        await page.fill("#token", TOKEN);
        await page.press("#token", "Enter");
        await page.waitForSelector("#alert-list", { state: "attached" });
        await page.waitForSelector("#live-state.open");
        signingIn = false;
        assertEquals(
          await page.evaluate(() => sessionStorage.getItem("saker.token")),
          TOKEN,
        );
      });

      await t.step("a simulated attack's alert appears within 2 s", async () => {
        // Stamp each row with the moment it entered the page.
        await page.evaluate(IN_PAGE.stampRows);
        // A few more attacks, so that the lists, charts and screenshots have some variety.
        await simulate("read-sensitive-file", "search-private-keys", "set-setuid-bit");
        const row = page.locator(`#alert-list li[data-rule="${RULE}"]`).first();
        await row.waitFor({ timeout: 5000 });
        const eventIso = await row.getAttribute("data-time") ?? "";
        const seenMs = Number(await row.getAttribute("data-seen-ms"));
        const eventMs = Date.parse(eventIso);
        const delay = seenMs - eventMs;
        console.log(`  alert on the page ${delay.toFixed(0)} ms after its system call`);
        assert(delay >= 0 && delay < 2000, `delay ${delay} ms`);
        assertEquals(await row.getAttribute("data-priority"), "Warning");
        assertStringIncludes(await row.locator(".output").textContent() ?? "", "/etc/shadow");
        assertStringIncludes(await row.locator(".process").textContent() ?? "", "(");
        await shot("desktop-alerts");
      });

      await t.step("filters by priority and by rule, kept in the URL", async () => {
        await page.selectOption("select[name=priority]", "critical");
        await page.waitForFunction(() => location.hash.includes("priority=critical"));
        await page.waitForSelector("#list-note:not(:empty), #alert-list li", { timeout: 5000 });
        await page.waitForTimeout(300);
        const atLeast = async (p: Priority) => {
          const prios: string[] = await page.locator("#alert-list li").evaluateAll(
            IN_PAGE.data,
            "priority",
          );
          for (const x of prios) assert(priorityRank(x as Priority) <= priorityRank(p), x);
          return prios.length;
        };
        await atLeast("Critical");
        assertEquals(await page.locator(`#alert-list li[data-rule="${RULE}"]`).count(), 0);
        await page.selectOption("select[name=priority]", "warning");
        await page.waitForSelector(`#alert-list li[data-rule="${RULE}"]`);
        assert(await atLeast("Warning") >= 1);
        await page.fill("input[name=rule]", RULE);
        await page.press("input[name=rule]", "Enter");
        await page.waitForFunction(() => location.hash.includes("rule="));
        await page.waitForSelector(`#alert-list li[data-rule="${RULE}"][data-id]`);
        const rules: string[] = await page.locator("#alert-list li").evaluateAll(
          IN_PAGE.data,
          "rule",
        );
        assert(rules.length >= 1 && rules.every((r) => r === RULE), rules.join("|"));
        // The filtered view is an address: a fresh load of it shows the same.
        const hash = await page.evaluate(() => location.hash);
        assertStringIncludes(decodeURIComponent(hash.replace(/\+/g, " ")), `rule=${RULE}`);
        assertStringIncludes(hash, "priority=warning");
        await page.reload();
        await page.waitForSelector(`#alert-list li[data-rule="${RULE}"]`);
        assertEquals(await page.inputValue("input[name=rule]"), RULE);
      });

      await t.step("the detail shows fields, MITRE names, process and exact JSON", async () => {
        await page.locator(`#alert-list li[data-rule="${RULE}"] a.rule`).first().click();
        await page.waitForSelector("#alert-detail");
        const id = await page.getAttribute("#alert-detail", "data-id");
        assert(id && /^\d+$/.test(id), `id ${id}`);
        assertEquals(await page.evaluate(() => location.hash), `#/alert/${id}`);
        assertEquals(await page.textContent("#alert-detail h2"), RULE);
        assertStringIncludes(
          await page.textContent("#tags") ?? "",
          "T1003.008OS Credential Dumping: /etc/passwd and /etc/shadow",
        );
        assertStringIncludes(await page.textContent("#tags") ?? "", "TA0006 Credential Access");
        const fields = await page.textContent("#fields") ?? "";
        assertStringIncludes(fields, "fd.name/etc/shadow");
        const chain = await page.locator("#ancestry li").count();
        assert(chain >= 2, `process chain of ${chain}`);
        const stored = await (await fetch(`${agent.api}/alerts/${id}`, { headers: auth })).text();
        const shown = await page.textContent("#raw-json") ?? "";
        assertEquals(JSON.parse(shown), JSON.parse(stored));
        const evtTime = /"evt\.time":(\d+)/.exec(stored)?.[1];
        assert(evtTime && shown.includes(`"evt.time": ${evtTime}`), "exact nanoseconds");
        await page.click("#copy-json");
        await page.waitForSelector("#copied:text('Copied')");
        assertEquals(await page.evaluate(IN_PAGE.clipboard), shown);
        await shot("desktop-detail");
      });

      await t.step("the overview's counts equal /alerts over the same time", async () => {
        await page.goto(`${agent.api}/#/overview?range=hour`);
        await page.waitForSelector("#totals");
        const since = await page.getAttribute("#totals", "data-since") ?? "";
        const r = await fetch(`${agent.api}/alerts?since=${since}&limit=10000`, { headers: auth });
        const listed = (await r.json()).alerts as { priority: Priority }[];
        const shown = await page.locator("#totals a").evaluateAll(IN_PAGE.totals);
        const want: [string, string][] = [["all", String(listed.length)]];
        for (const p of PRIORITIES) {
          const n = listed.filter((a) => a.priority === p).length;
          if (n > 0) want.push([p, String(n)]);
        }
        assertEquals(shown, want);
        assert(listed.length >= 1);
        const topRules = await page.locator("#top-rules a").allTextContents();
        assert(topRules.includes(RULE), topRules.join("|"));
        assertEquals(await page.locator("svg.chart").count(), 2);
        await shot("desktop-overview");
        // Each entry links to the list filtered to it.
        await page.locator(`#top-rules a[title="${RULE}"]`).click();
        await page.waitForSelector(`#alert-list li[data-rule="${RULE}"]`);
        assertStringIncludes(await page.evaluate(() => location.hash), "since=");
      });

      await t.step("pausing keeps the list and its scroll still and counts arrivals", async () => {
        await page.goto(`${agent.api}/#/alerts`);
        await page.waitForSelector("#live-state.open");
        await page.waitForSelector("#alert-list li");
        // Room to scroll, then scroll into the list.
        await page.setViewportSize({ width: 1280, height: 300 });
        await page.evaluate(() => scrollTo(0, 120));
        const before: ListState = await page.evaluate(IN_PAGE.listState);
        await page.click("#pause");
        await simulate("write-below-etc");
        await page.waitForSelector("#new-count:not([hidden])", { timeout: 5000 });
        await page.waitForTimeout(200);
        const during: ListState = await page.evaluate(IN_PAGE.listState);
        assertEquals([during.y, during.rows, during.first], [before.y, before.rows, before.first]);
        assert(/^\d+ new alerts?$/.test(during.counter ?? ""), during.counter ?? "");
        const arrived = Number(during.counter?.split(" ")[0]);
        await page.click("#new-count");
        await page.waitForSelector('#alert-list li[data-rule="File written below /etc"]');
        assertEquals(
          await page.locator("#alert-list li").count(),
          before.rows + arrived,
        );
        assert(await page.locator("#new-count").isHidden());
        await page.setViewportSize({ width: 1280, height: 900 });
      });

      await t.step("health and rules show the agent's numbers", async () => {
        // Every metric the status reads is one the running agent registers.
        const metrics = await (await fetch(`${agent.api}/metrics`, { headers: auth })).text();
        const unknown = Object.values(STATUS_METRICS).filter((n) =>
          !metrics.includes(`# TYPE ${n} `)
        );
        assertEquals(unknown, []);
        const st = await (await fetch(`${agent.api}/status`, { headers: auth })).json();
        await page.goto(`${agent.api}/#/health`);
        await page.waitForSelector("#rules-loaded");
        assertEquals(
          (await page.textContent("#rules-loaded .value"))?.replace(/,/g, ""),
          String(st.rules.loaded),
        );
        assert(st.rules.loaded > 20 && st.events.processed > 0);
        assertStringIncludes(await page.textContent("#outputs") ?? "", "store");
        // The rate appears once two readings are a second apart.
        await page.waitForFunction(IN_PAGE.rateShown, undefined, { timeout: 6000 });
        await shot("desktop-health");
        await page.goto(`${agent.api}/#/rules`);
        await page.waitForSelector(`#rules-table tr[data-rule="${RULE}"]`);
        const cells = await page.locator(`#rules-table tr[data-rule="${RULE}"] td`)
          .allTextContents();
        assertEquals(cells.slice(0, 4), [
          "Warning",
          "syscall",
          "T1003.008 container filesystem host mitre_credential_access",
          "yes",
        ]);
        assert(Number(cells[4]) >= 1, cells.join("|"));
      });

      await t.step("phone width: the list and the overview fit the screen", async () => {
        const phone = await browser.newContext({
          viewport: { width: 390, height: 844 },
          isMobile: true,
          hasTouch: true,
        });
        const p = await phone.newPage();
        p.on("pageerror", (e) => errors.push(`page error (phone): ${e.message}`));
        p.on("console", (m) => {
          if (m.type() === "error" && !/status of 401/.test(m.text())) {
            errors.push(`console (phone): ${m.text()}`);
          }
        });
        p.on("request", (r) => urls.push(r.url()));
        // A new tab has no token: the page refuses until given one.
        await p.goto(`${agent.api}/`);
        await p.waitForSelector("#sign-in");
        await p.fill("#token", TOKEN);
        await p.press("#token", "Enter");
        await p.waitForSelector(`#alert-list li[data-rule="${RULE}"]`);
        const overflow = () => p.evaluate(IN_PAGE.overflow);
        assertEquals(await overflow(), 0);
        await p.screenshot({ path: `${SHOTS}/phone-alerts.png` });
        await p.goto(`${agent.api}/#/overview?range=day`);
        await p.waitForSelector("#totals");
        assertEquals(await overflow(), 0);
        await p.screenshot({ path: `${SHOTS}/phone-overview.png` });
        await p.locator(`#top-rules a[title="${RULE}"]`).click();
        await p.locator(`#alert-list li[data-rule="${RULE}"] a.rule`).first().click();
        await p.waitForSelector("#alert-detail");
        assertEquals(await overflow(), 0);
        await p.screenshot({ path: `${SHOTS}/phone-detail.png` });
        await phone.close();
      });

      assertEquals(errors, []);
      const leaked = urls.filter((u) => u.includes(TOKEN));
      assertEquals(leaked, [], "the token never appears in a URL");
      assert(urls.some((u) => u.includes("/alerts/stream")));
      await context.close();
    } finally {
      await browser.close();
      const code = await agent.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      assertEquals(code, 0, agent.log().slice(-2000));
    }
  },
});
