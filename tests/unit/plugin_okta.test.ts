/**
 * The okta plugin against Falco's Okta rules (from the reference, loaded unchanged): every rule
 * fires on System Log events written here after Okta's documented LogEvent format, read from a
 * log file the way the API returns them (a JSON array) and from JSON lines; nothing fires on
 * benign events; the MFA counters count an actor's failures and denials in the window the rule
 * names; every field of the plugin's README is registered; `saker replay` tells an Okta file by
 * its content.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadRulesFiles } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { replayPlugin } from "../../src/pipeline/replay_sources.ts";
import { oktaPlugin } from "../../src/plugins/okta.ts";
import { lookupField, wakeSource } from "../../src/rules/fields/mod.ts";
import { saker } from "../support/saker.ts";
import type { Alert } from "../../src/rules/alert.ts";

const DIR = `${REFERENCE_DIR}/falco-plugins/okta`;
const RULES = `${DIR}/okta_rules.yaml`;
const skip = needsReference();
// As when the plugin is loaded (a plugin Saker carries has its source asleep until then).
wakeSource("okta");

let n = 0;
const T0 = Date.parse("2024-05-01T10:00:00.000Z");

/** A System Log event as Okta documents it, `sec` seconds after T0. */
function event(
  eventType: string,
  sec: number,
  over: Record<string, unknown> = {},
  actor = { id: "00u1ana", displayName: "Ana Lima", login: "ana@example.com" },
): Record<string, unknown> {
  n++;
  return {
    uuid: `9d2f6b1e-0000-4000-8000-${String(n).padStart(12, "0")}`,
    published: new Date(T0 + sec * 1000).toISOString(),
    eventType,
    version: "0",
    severity: "INFO",
    legacyEventType: "core.user_auth.login_success",
    displayMessage: "An Okta event",
    actor: { id: actor.id, type: "User", alternateId: actor.login, displayName: actor.displayName },
    client: {
      userAgent: {
        rawUserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
        os: "Linux",
        browser: "FIREFOX",
      },
      zone: "null",
      device: "Computer",
      id: null,
      ipAddress: "198.51.100.23",
      geographicalContext: {
        city: "Lisbon",
        state: "Lisbon",
        country: "Portugal",
        postalCode: "1000-001",
        geolocation: { lat: 38.7223, lon: -9.1393 },
      },
    },
    outcome: { result: "SUCCESS", reason: null },
    target: [],
    transaction: { type: "WEB", id: `tx${n}`, detail: {} },
    debugContext: { debugData: { requestUri: "/api/v1/authn", url: "/api/v1/authn?" } },
    authenticationContext: {
      authenticationProvider: null,
      credentialProvider: null,
      credentialType: null,
      issuer: null,
      interface: null,
      authenticationStep: 0,
      externalSessionId: "102abcdef",
    },
    securityContext: {
      asNumber: 3243,
      asOrg: "meo",
      isp: "meo",
      domain: "telepac.pt",
      isProxy: false,
    },
    request: { ipChain: [{ ip: "198.51.100.23", version: "V4", source: null }] },
    ...over,
  };
}

const userTarget = {
  target: [{
    id: "00u9bob",
    type: "User",
    alternateId: "bob@example.com",
    displayName: "Bob Reis",
    detailEntry: null,
  }],
};

/** [what, events, the rules the last event raises with the file's rules as it enables them]. */
const CASES: [string, Record<string, unknown>[], string[]][] = [
  ["a user locked out", [event("user.account.lock", 1, { outcome: { result: "FAILURE" } })], [
    "User has been locked out in OKTA",
  ]],
  ["a user suspended", [event("user.lifecycle.suspended", 2, userTarget)], [
    "User has been suspended in OKTA",
  ]],
  ["admin rights granted", [event("user.account.privilege.grant", 3, userTarget)], [
    "Admin permission has been assigned to a user in OKTA",
  ]],
  ["an API token created", [event("system.api_token.create", 4)], [
    "Creating a new OKTA API token",
  ]],
  ["the admin app opened", [event("user.session.access_admin_app", 5)], [
    "User accessing OKTA admin section",
  ]],
  ["an MFA factor removed", [event("user.mfa.factor.deactivate", 6, userTarget)], [
    "removing MFA factor from user in OKTA",
  ]],
  ["every MFA factor reset", [event("user.mfa.factor.reset_all", 7, userTarget)], [
    "removing all MFA factor from user in OKTA",
  ]],
  ["a password reset by an admin", [event("user.account.reset_password", 8, userTarget)], [
    "User password reset by OKTA admin",
  ]],
  ["the rate limit hit", [event("system.org.rate_limit.violation", 9)], [
    "User hitting the rate limit on requests in OKTA",
  ]],
  ["an impersonation session", [event("user.session.impersonation.initiate", 10, userTarget)], [
    "User initiating impersonation session in OKTA",
  ]],
];

const mfaFail = (sec: number, actor?: { id: string; displayName: string; login: string }) =>
  event(
    "user.authentication.auth_via_mfa",
    sec,
    { outcome: { result: "FAILURE", reason: "INVALID_CREDENTIALS" } },
    actor,
  );
const denyPush = (sec: number) =>
  event("user.mfa.okta_verify.deny_push", sec, {
    outcome: { result: "FAILURE", reason: "DENIED" },
  });
const eve = { id: "00u7eve", displayName: "Eve Sol", login: "eve@example.com" };

/** Rules disabled in the file, each with an event that raises it once enabled. */
const DISABLED: [string, Record<string, unknown>][] = [
  ["User Changing password in to OKTA", event("user.account.update_password", 20)],
  ["Creating a new OKTA user account", event("user.lifecycle.create", 21, userTarget)],
  [
    "User accessing app via single sign on OKTA",
    event("user.authentication.sso", 22, {
      target: [{ id: "0oa1", type: "AppInstance", alternateId: "GitHub", displayName: "GitHub" }],
    }),
  ],
  ["User has been moved from suspended status in OKTA.", event("user.lifecycle.unsuspend", 23)],
  ["User has been activated in OKTA", event("user.lifecycle.activate", 24)],
  ["User has been deactivated in OKTA", event("user.lifecycle.deactivate", 25)],
  ["Adding user in OKTA group", event("group.user_membership.add", 26)],
  ["Adding user to application membership in OKTA", event("application.user_membership.add", 27)],
  ["Detecting unknown logins using geolocation", event("user.session.start", 28)],
];

const BENIGN = [
  event("user.session.start", 30),
  event("user.authentication.sso", 31),
  event("user.authentication.auth_via_mfa", 32),
  event("policy.evaluate_sign_on", 33),
  event("user.session.end", 34),
];

async function writeLog(dir: string, name: string, events: unknown[], lines = false) {
  const text = lines
    ? events.map((e) => JSON.stringify(e)).join("\n") + "\n"
    : JSON.stringify(events);
  await Deno.writeTextFile(`${dir}/${name}`, text);
  return `${dir}/${name}`;
}

async function replay(path: string, all = false): Promise<Alert[]> {
  const loaded = await loadRulesFiles([RULES]);
  for (const r of loaded.results) assertEquals(r.errors.map((e) => e.message), [], r.name);
  const alerts: Alert[] = [];
  await replayPlugin(oktaPlugin, path, {
    evaluator: compileRuleset(loaded, {
      source: "okta",
      ruleMatching: "all",
      select: all ? [{ action: "enable" }] : [],
    }),
    onAlerts: (a) => alerts.push(...a),
  });
  return alerts;
}

Deno.test({
  name: "okta: Falco's rules load unchanged and each fires on its event, none on benign ones",
  ignore: skip,
  fn: async () => {
    const loaded = await loadRulesFiles([RULES]);
    for (const r of loaded.results) {
      assertEquals([r.errors.length, r.warnings.length], [0, 0], r.name);
    }
    const dir = await Deno.makeTempDir({ prefix: "saker-okta-" });
    try {
      // Each case alone in its file, as the API returns a page (a JSON array).
      for (const [what, events, want] of CASES) {
        const alerts = await replay(await writeLog(dir, "page.json", events));
        assertEquals(alerts.map((a) => a.rule).sort(), want.sort(), what);
        assert(alerts.every((a) => a.source === "okta"));
      }
      for (const [rule, ev] of DISABLED) {
        assertEquals((await replay(await writeLog(dir, "one.json", [ev]))).length, 0, rule);
        const on = (await replay(await writeLog(dir, "one.json", [ev]), true)).map((a) => a.rule);
        assertEquals(on, [rule]);
      }
      const benign = await replay(await writeLog(dir, "benign.jsonl", BENIGN, true));
      assertEquals(benign.map((a) => a.rule), []);
      const names = new Set([
        ...CASES.flatMap((c) => c[2]),
        ...DISABLED.map((d) => d[0]),
        "Too many failed MFA in last 5min",
        "Too many denied MFA Pushes in last 5min",
      ]);
      for (const r of loaded.rules) assert(names.has(r.name), `no event for ${r.name}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "okta: MFA failures and denials counted per actor within the rule's window",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "saker-okta-mfa-" });
    try {
      // Ana fails at 0, 100 and 250 s (3 within 300 s: alert on the third), then at 700 s (the
      // earlier ones are out of the window). Eve fails twice: no alert. Denials: 3 in 2 minutes.
      const events = [
        mfaFail(0),
        mfaFail(100),
        mfaFail(120, eve),
        mfaFail(250),
        mfaFail(260, eve),
        mfaFail(700),
        denyPush(1000),
        denyPush(1060),
        denyPush(1120),
      ];
      const alerts = await replay(await writeLog(dir, "mfa.jsonl", events, true));
      assertEquals(alerts.map((a) => [a.rule, a.outputFields["okta.actor.name"]]), [
        ["Too many failed MFA in last 5min", "Ana Lima"],
        ["Too many denied MFA Pushes in last 5min", "Ana Lima"],
      ]);
      assertEquals(alerts[0].outputFields["okta.mfa.failure.countlast[300]"], 3);
      assert(String(alerts[0].output).includes("last_reason='INVALID_CREDENTIALS'"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "okta: the README's fields are registered and extract; saker replay knows the file",
  ignore: skip,
  fn: async () => {
    const readme = await Deno.readTextFile(`${DIR}/README.md`);
    const listed = [...readme.matchAll(/^\| `([A-Za-z0-9.]+)`\s*\|\s*`([a-z0-9]+)`/gm)];
    assertEquals(listed.length, 54);
    for (const [, name, type] of listed) {
      const ref = lookupField(name);
      assert(ref && ref.def.name === name, `${name} is not registered`);
      assertEquals(ref.def.type, type === "uint64" ? "uint64" : "charbuf", name);
    }
    const dir = await Deno.makeTempDir({ prefix: "saker-okta-cli-" });
    try {
      const ev = event("user.session.impersonation.initiate", 1, {
        ...userTarget,
        debugContext: {
          debugData: {
            requestUri: "/app/github/exk1/sso/saml",
            behaviors: "{New Geo-Location=NEGATIVE, New Device=POSITIVE}",
          },
        },
      });
      const file = await writeLog(dir, "okta.json", [ev]);
      const r = await saker([
        "replay",
        file,
        "-p",
        "%okta.evt.type|%okta.app|%okta.target.user.name|%okta.targets.displayName[0]|" +
        "%okta.client.geo.lat|%okta.security.asnumber|%okta.behaviors",
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        r.stdout.trim(),
        "user.session.impersonation.initiate|github|Bob Reis|Bob Reis|38.7223|3243|" +
          "{New Geo-Location=NEGATIVE, New Device=POSITIVE}",
      );
      const alerts = await saker(["replay", file, "-r", RULES, "--json"]);
      assertEquals(
        alerts.stdout.trim().split("\n").map((l) => JSON.parse(l).rule),
        ["User initiating impersonation session in OKTA"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
