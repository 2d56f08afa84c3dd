/**
 * The `okta` plugin: Okta System Log events as events of source `okta`, with the fields of
 * Falco's okta plugin (`okta.*`), so Falco's Okta rules run unchanged.
 *
 * `open_params` names a file or a directory of files holding System Log events as the Okta API
 * returns them (`GET /api/v1/logs`: a JSON array of LogEvent objects), or one event per line;
 * plain or gzip. Empty `open_params` polls the API of `init_config.organization`
 * (`https://ORG.okta.com/api/v1/logs`, `Authorization: SSWS api_token`) every
 * `refresh_interval` seconds, following its `Link: rel="next"` pages.
 *
 * `okta.mfa.failure.countlast[N]` and `okta.mfa.deny.countlast[N]` count, for an MFA failure
 * (`user.authentication.auth_via_mfa` with outcome FAILURE) or a denied Okta Verify push
 * (`user.mfa.okta_verify.deny_push`), the events of that kind by the same actor in the N seconds
 * up to it (that event included), kept for `cache_expiration` seconds and at most
 * `cache_usermaxsize` per actor.
 *
 * @example
 * ```ts
 * import { oktaPlugin } from "./okta.ts";
 * oktaPlugin.init?.({ organization: "example" });
 * oktaPlugin.source; // "okta"
 * ```
 * @module
 */
import type { OpenContext, Plugin, PluginEventInput, PluginField, PluginValue } from "./api.ts";
import { initConfigMap } from "./api.ts";
import { at, isObject, items, type JsonObject, str, text, uint } from "./values.ts";
import { jsonDocuments, readLogFiles } from "./files.ts";

/** The event source name of Okta events. */
export const OKTA_SOURCE = "okta";

interface Settings {
  organization: string;
  apiToken: string;
  cacheExpirationNs: bigint;
  cacheUserMaxSize: number;
  refreshIntervalMs: number;
}

let settings: Settings = settingsOf("");

function settingsOf(config: unknown): Settings {
  const c = initConfigMap(config);
  const num = (k: string, d: number) => {
    const v = c[k] ?? d;
    const n = uint(v);
    if (n === undefined || n <= 0) throw new Error(`${k}: expected a positive integer`);
    return n;
  };
  for (const k of ["organization", "api_token"]) {
    if (c[k] !== undefined && typeof c[k] !== "string") throw new Error(`${k}: expected a string`);
  }
  return {
    organization: (c.organization as string | undefined) ?? "",
    apiToken: (c.api_token as string | undefined) ?? "",
    cacheExpirationNs: BigInt(num("cache_expiration", 84600)) * 1_000_000_000n,
    cacheUserMaxSize: num("cache_usermaxsize", 200),
    refreshIntervalMs: num("refresh_interval", 10) * 1000,
  };
}

/** Which MFA counter an event feeds, if any. */
function mfaKind(r: JsonObject): "failure" | "deny" | undefined {
  if (r.eventType === "user.mfa.okta_verify.deny_push") return "deny";
  if (
    r.eventType === "user.authentication.auth_via_mfa" && at(r, "outcome", "result") === "FAILURE"
  ) {
    return "failure";
  }
  return undefined;
}

/** Times (ns) of an actor's MFA failures or denials up to each such event, by event value. */
const mfaHistory = new WeakMap<object, bigint[]>();

/** Keeps the per-actor MFA history as events are read, in time order. */
class MfaCounter {
  #byKey = new Map<string, bigint[]>();
  /** Records `r` at `ts` when it is an MFA failure or denial. */
  see(r: JsonObject, ts: bigint): void {
    const kind = mfaKind(r);
    if (!kind) return;
    const key = `${kind}:${str(at(r, "actor", "id")) ?? ""}`;
    const oldest = ts - settings.cacheExpirationNs;
    const list = (this.#byKey.get(key) ?? []).filter((t) => t > oldest);
    if (!list.includes(ts)) list.push(ts);
    while (list.length > settings.cacheUserMaxSize) list.shift();
    this.#byKey.set(key, list);
    mfaHistory.set(r, [...list]);
  }
}

function countLast(kind: "failure" | "deny") {
  return (r: JsonObject, arg: string | undefined, ts: bigint): number | undefined => {
    if (mfaKind(r) !== kind) return undefined;
    const seconds = Number(arg);
    const since = ts - BigInt(Number.isFinite(seconds) ? Math.trunc(seconds) : 0) * 1_000_000_000n;
    return (mfaHistory.get(r) ?? []).filter((t) => t >= since && t <= ts).length;
  };
}

function target(type: string, key: "id" | "alternateId" | "displayName") {
  return (r: JsonObject): string | undefined => {
    for (const t of items(r.target)) if (at(t, "type") === type) return str(at(t, key));
    return undefined;
  };
}

type Get = (
  r: JsonObject,
  arg: string | undefined,
  ts: bigint,
) => PluginValue | PluginValue[] | undefined;
const path = (...p: string[]): Get => (r) => str(at(r, ...p));
const anyText = (...p: string[]): Get => (r) => text(at(r, ...p));

/** [name, type, argument, description, extractor]. */
const SPECS: [string, "string" | "uint64", "" | "index" | "required", string, Get][] = [
  ["okta.app", "string", "", "Application of an app request (the name after /app/ in its URI).", (
    r,
  ) => {
    const uri = str(at(r, "debugContext", "debugData", "requestUri"));
    return uri?.startsWith("/app/") ? uri.split("/")[2] : undefined;
  }],
  [
    "okta.behaviors",
    "string",
    "",
    "Behaviors Okta's risk engine saw (new device, new place ...).",
    (
      r,
    ) => text(at(r, "debugContext", "debugData", "behaviors")),
  ],
  [
    "okta.org",
    "string",
    "",
    "Organization (init_config.organization).",
    () => settings.organization || undefined,
  ],
  [
    "okta.evt.type",
    "string",
    "",
    "Event type: user.session.start, user.account.lock ...",
    path(
      "eventType",
    ),
  ],
  ["okta.evt.legacytype", "string", "", "Legacy event type.", path("legacyEventType")],
  ["okta.severity", "string", "", "Severity: DEBUG, INFO, WARN, ERROR.", path("severity")],
  ["okta.message", "string", "", "Message shown for the event.", path("displayMessage")],
  ["okta.published", "string", "", "Time Okta recorded the event.", path("published")],
  [
    "okta.logonlysecuritydata",
    "string",
    "",
    "Security data logged only (risk, behaviors), as JSON.",
    anyText(
      "securityContext",
      "logOnlySecurityData",
    ),
  ],
  ["okta.actor.id", "string", "", "Id of the actor.", path("actor", "id")],
  [
    "okta.actor.Type",
    "string",
    "",
    "Type of the actor (User, SystemPrincipal ...).",
    path(
      "actor",
      "type",
    ),
  ],
  [
    "okta.actor.alternateid",
    "string",
    "",
    "Alternate id of the actor (a login).",
    path(
      "actor",
      "alternateId",
    ),
  ],
  ["okta.actor.name", "string", "", "Display name of the actor.", path("actor", "displayName")],
  ["okta.client.zone", "string", "", "Network zone of the client.", path("client", "zone")],
  ["okta.client.ip", "string", "", "IP address of the client.", path("client", "ipAddress")],
  ["okta.client.device", "string", "", "Device type of the client.", path("client", "device")],
  ["okta.client.id", "string", "", "Id of the client.", path("client", "id")],
  [
    "okta.client.geo.city",
    "string",
    "",
    "City of the client.",
    path(
      "client",
      "geographicalContext",
      "city",
    ),
  ],
  [
    "okta.client.geo.state",
    "string",
    "",
    "State of the client.",
    path(
      "client",
      "geographicalContext",
      "state",
    ),
  ],
  [
    "okta.client.geo.country",
    "string",
    "",
    "Country of the client.",
    path(
      "client",
      "geographicalContext",
      "country",
    ),
  ],
  [
    "okta.client.geo.postalcode",
    "string",
    "",
    "Postal code of the client.",
    path(
      "client",
      "geographicalContext",
      "postalCode",
    ),
  ],
  [
    "okta.client.geo.lat",
    "string",
    "",
    "Latitude of the client.",
    anyText(
      "client",
      "geographicalContext",
      "geolocation",
      "lat",
    ),
  ],
  [
    "okta.client.geo.lon",
    "string",
    "",
    "Longitude of the client.",
    anyText(
      "client",
      "geographicalContext",
      "geolocation",
      "lon",
    ),
  ],
  [
    "okta.useragent.os",
    "string",
    "",
    "Operating system of the client.",
    path(
      "client",
      "userAgent",
      "os",
    ),
  ],
  [
    "okta.useragent.browser",
    "string",
    "",
    "Browser of the client.",
    path(
      "client",
      "userAgent",
      "browser",
    ),
  ],
  [
    "okta.useragent.raw",
    "string",
    "",
    "User agent of the client, as sent.",
    path(
      "client",
      "userAgent",
      "rawUserAgent",
    ),
  ],
  [
    "okta.result",
    "string",
    "",
    "Outcome: SUCCESS, FAILURE, DENY, CHALLENGE ...",
    path(
      "outcome",
      "result",
    ),
  ],
  ["okta.reason", "string", "", "Why the outcome.", path("outcome", "reason")],
  ["okta.transaction.id", "string", "", "Id of the transaction.", path("transaction", "id")],
  [
    "okta.transaction.type",
    "string",
    "",
    "Type of the transaction (WEB, JOB).",
    path(
      "transaction",
      "type",
    ),
  ],
  [
    "okta.requesturi",
    "string",
    "",
    "URI of the request.",
    path(
      "debugContext",
      "debugData",
      "requestUri",
    ),
  ],
  [
    "okta.principal.id",
    "string",
    "",
    "Id of the original principal (impersonation).",
    path(
      "debugContext",
      "debugData",
      "originalPrincipal",
      "id",
    ),
  ],
  [
    "okta.principal.alternateid",
    "string",
    "",
    "Alternate id of the original principal.",
    path(
      "debugContext",
      "debugData",
      "originalPrincipal",
      "alternateId",
    ),
  ],
  [
    "okta.principal.type",
    "string",
    "",
    "Type of the original principal.",
    path(
      "debugContext",
      "debugData",
      "originalPrincipal",
      "type",
    ),
  ],
  [
    "okta.principal.name",
    "string",
    "",
    "Display name of the original principal.",
    path(
      "debugContext",
      "debugData",
      "originalPrincipal",
      "displayName",
    ),
  ],
  [
    "okta.authentication.step",
    "string",
    "",
    "Step of the authentication.",
    anyText(
      "authenticationContext",
      "authenticationStep",
    ),
  ],
  [
    "okta.authentication.sessionid",
    "string",
    "",
    "External session id.",
    path(
      "authenticationContext",
      "externalSessionId",
    ),
  ],
  [
    "okta.authentication.provider",
    "string",
    "",
    "Authentication provider (OKTA_AUTHENTICATION_PROVIDER ...).",
    path(
      "authenticationContext",
      "authenticationProvider",
    ),
  ],
  [
    "okta.authentication.credentialprovider",
    "string",
    "",
    "Credential provider.",
    anyText(
      "authenticationContext",
      "credentialProvider",
    ),
  ],
  [
    "okta.security.asnumber",
    "uint64",
    "",
    "Autonomous system number of the client.",
    (r) => uint(at(r, "securityContext", "asNumber")),
  ],
  [
    "okta.security.asorg",
    "string",
    "",
    "Organization of the autonomous system.",
    path(
      "securityContext",
      "asOrg",
    ),
  ],
  [
    "okta.security.isp",
    "string",
    "",
    "Internet service provider of the client.",
    path(
      "securityContext",
      "isp",
    ),
  ],
  [
    "okta.security.domain",
    "string",
    "",
    "Domain of the client's address.",
    path(
      "securityContext",
      "domain",
    ),
  ],
  [
    "okta.security.isproxy",
    "string",
    "",
    "'true' when the client came through a proxy.",
    anyText(
      "securityContext",
      "isProxy",
    ),
  ],
  ["okta.target.user.id", "string", "", "Id of the target user.", target("User", "id")],
  [
    "okta.target.user.alternateid",
    "string",
    "",
    "Alternate id of the target user.",
    target(
      "User",
      "alternateId",
    ),
  ],
  [
    "okta.target.user.name",
    "string",
    "",
    "Display name of the target user.",
    target(
      "User",
      "displayName",
    ),
  ],
  ["okta.target.group.id", "string", "", "Id of the target group.", target("UserGroup", "id")],
  [
    "okta.target.group.alternateid",
    "string",
    "",
    "Alternate id of the target group.",
    target(
      "UserGroup",
      "alternateId",
    ),
  ],
  [
    "okta.target.group.name",
    "string",
    "",
    "Display name of the target group.",
    target(
      "UserGroup",
      "displayName",
    ),
  ],
  [
    "okta.target.app.alternateid",
    "string",
    "",
    "Alternate id of the target application.",
    target(
      "AppInstance",
      "alternateId",
    ),
  ],
  [
    "okta.targets.displayName",
    "string",
    "index",
    "Display names of the targets: okta.targets.displayName[0].",
    (
      r,
      arg,
    ) => {
      const names = items(r.target).map((t) => str(at(t, "displayName")) ?? "");
      if (arg === undefined) return names.length > 0 ? names : undefined;
      return names[Number(arg)];
    },
  ],
  [
    "okta.mfa.failure.countlast",
    "uint64",
    "required",
    "For an MFA failure: the actor's MFA failures in the last N seconds: ...countlast[300].",
    countLast("failure"),
  ],
  [
    "okta.mfa.deny.countlast",
    "uint64",
    "required",
    "For a denied Okta Verify push: the actor's denials in the last N seconds.",
    countLast("deny"),
  ],
];

const FIELDS: PluginField[] = SPECS.map(([name, type, arg, desc, fn]) => ({
  name,
  type,
  desc,
  list: arg === "index" || undefined,
  arg: arg === "" ? undefined : { index: true, required: arg === "required" },
  extract: (ev, a) => isObject(ev.value) ? fn(ev.value, a, ev.ts) : undefined,
}));

/** The events of one parsed document: an array of events, or one event. */
function events(doc: unknown): unknown[] {
  return Array.isArray(doc) ? doc.flatMap(events) : [doc];
}

function inputOf(e: unknown, mfa: MfaCounter): PluginEventInput {
  if (!isObject(e)) return { value: e, ts: "" };
  const published = str(e.published);
  const ms = published === undefined ? NaN : Date.parse(published);
  if (Number.isFinite(ms)) mfa.see(e, BigInt(ms) * 1_000_000n);
  return { value: e, ts: published };
}

async function* fromFiles(path: string, ctx: OpenContext): AsyncGenerator<PluginEventInput[]> {
  const mfa = new MfaCounter();
  for await (const f of readLogFiles(path)) {
    if (ctx.signal.aborted) return;
    const { values, errors } = jsonDocuments(f.text, f.path);
    for (const e of errors) ctx.log("warning", "not an Okta event", { ...e });
    const batch = values.flatMap(events).map((e) => inputOf(e, mfa));
    if (batch.length > 0) yield batch;
  }
}

/** Polls the System Log API (not reachable from the machine Saker is tested on). */
async function* fromApi(ctx: OpenContext): AsyncGenerator<PluginEventInput[]> {
  const s = settings;
  if (!s.organization || !s.apiToken) {
    throw new Error(
      "empty open_params polls the Okta API: init_config needs organization and api_token",
    );
  }
  const mfa = new MfaCounter();
  let next: string | undefined = `https://${s.organization}.okta.com/api/v1/logs?since=${
    encodeURIComponent(new Date().toISOString())
  }`;
  while (!ctx.signal.aborted) {
    const res: Response = await fetch(next!, {
      headers: { accept: "application/json", authorization: `SSWS ${s.apiToken}` },
      signal: ctx.signal,
    });
    if (!res.ok) throw new Error(`Okta API: ${res.status} ${res.statusText}`);
    const page = await res.json();
    const batch = events(page).map((e) => inputOf(e, mfa));
    if (batch.length > 0) yield batch;
    const link = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
    if (link) next = link;
    if (batch.length === 0 || !link) {
      await new Promise((r) => setTimeout(r, s.refreshIntervalMs));
    }
  }
}

/** The okta plugin. */
export const oktaPlugin: Plugin = {
  name: "okta",
  version: "0.11.1",
  description: "Okta System Log events",
  source: OKTA_SOURCE,
  fields: FIELDS,
  init(config) {
    settings = settingsOf(config);
  },
  open(params, ctx) {
    return params.trim() === "" ? fromApi(ctx) : fromFiles(params.trim(), ctx);
  },
  summary(ev) {
    if (!isObject(ev.value)) return undefined;
    const r = ev.value;
    return `${str(r.eventType) ?? "?"} by ${str(at(r, "actor", "displayName")) ?? "?"} from ${
      str(at(r, "client", "ipAddress")) ?? "?"
    }: ${str(at(r, "outcome", "result")) ?? ""}`.trimEnd();
  },
  sniff: (head) => /"eventType"\s*:\s*"[a-z_.]+"/.test(head) && /"published"\s*:/.test(head),
};
