/**
 * The `github` plugin: GitHub webhook deliveries as events of source `github`, with the fields of
 * Falco's github plugin (`github.*`), so Falco's GitHub rules run unchanged.
 *
 * GitHub posts each delivery to the agent's own server at `webhookPath` (default `/github`),
 * signed with the webhook's secret: `X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body)`.
 * A delivery without a valid signature is refused (401) and counted; the bearer token of the
 * agent's API does not apply to this path (GitHub cannot send one; the signature is the check).
 * The event is the delivery's JSON payload with its type (the `X-GitHub-Event` header) added as
 * `webhook_type`. `open_params` is a comma-separated list of repositories (`owner/name`) whose
 * deliveries are taken, or `*` for all.
 *
 * For pushes, the plugin fetches each pushed commit from the GitHub API (`apiURL`, default
 * `https://api.github.com`, with the token of `$GITHUB_PLUGIN_TOKEN` or `SECRETS_DIR/github.token`)
 * and looks for secrets in the lines it adds; for requested workflow runs, it fetches the
 * workflow definition and looks for crypto miners (src/plugins/github_scan.ts).
 *
 * `init_config`: `webhookSecret` (or the file `github.secret` in `secretsDir`, default
 * `~/.ghplugin`), `webhookPath`, `apiURL`, `maxBodyBytes` (default 25 MiB, GitHub's limit).
 * Falco's `websocketServerURL` and `useHTTPs` are accepted: Saker serves the webhook on its own
 * server, with its TLS settings, and does not create webhooks on GitHub; configure the webhook
 * (content type `application/json`, the secret) in the repository's settings.
 *
 * @example
 * ```ts
 * import { githubPlugin, signature } from "./github.ts";
 * await signature("It's a Secret to Everybody", "Hello, World!");
 * // "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
 * githubPlugin.source; // "github"
 * ```
 * @module
 */
import type { Plugin, PluginEventInput, PluginField } from "./api.ts";
import { initConfigMap } from "./api.ts";
import { at, isObject, items, type JsonObject, str } from "./values.ts";
import { type MinerMatch, scanPatch, scanWorkflow, type SecretMatch } from "./github_scan.ts";
import { metrics } from "../metrics.ts";

/** The event source name of GitHub deliveries. */
export const GITHUB_SOURCE = "github";

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The `X-Hub-Signature-256` value of `body` signed with `secret`. */
export async function signature(secret: string, body: string | Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const data = typeof body === "string" ? encoder.encode(body) : body;
  return `sha256=${hex(await crypto.subtle.sign("HMAC", key, data as BufferSource))}`;
}

function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The plugin's settings. */
interface Settings {
  secret: string | undefined;
  path: string;
  apiURL: string;
  token: string | undefined;
  maxBodyBytes: number;
}

const KNOWN_KEYS = [
  "webhookSecret",
  "webhookPath",
  "apiURL",
  "maxBodyBytes",
  "secretsDir",
  "websocketServerURL",
  "useHTTPs",
];

function readSecretFile(dir: string, name: string): string | undefined {
  try {
    return Deno.readTextFileSync(`${dir}/${name}`).trim() || undefined;
  } catch {
    return undefined;
  }
}

function settingsOf(config: unknown): Settings {
  const c = initConfigMap(config);
  for (const k of Object.keys(c)) {
    if (!KNOWN_KEYS.includes(k)) {
      throw new Error(`unknown key ${k} (known: ${KNOWN_KEYS.join(", ")})`);
    }
  }
  const home = Deno.env.get("HOME") ?? "/root";
  const dir = typeof c.secretsDir === "string"
    ? c.secretsDir.replace(/^~/, home)
    : `${home}/.ghplugin`;
  const path = c.webhookPath ?? "/github";
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new Error("webhookPath: expected a path starting with /");
  }
  const apiURL = c.apiURL ?? "https://api.github.com";
  if (typeof apiURL !== "string" || !/^https?:\/\//.test(apiURL)) {
    throw new Error("apiURL: expected an http(s) URL");
  }
  const max = c.maxBodyBytes ?? 25 * 1024 * 1024;
  if (typeof max !== "number" || !Number.isInteger(max) || max <= 0) {
    throw new Error("maxBodyBytes: expected a positive integer");
  }
  if (c.webhookSecret !== undefined && typeof c.webhookSecret !== "string") {
    throw new Error("webhookSecret: expected a string");
  }
  return {
    secret: (c.webhookSecret as string | undefined) ?? readSecretFile(dir, "github.secret"),
    path: path.replace(/\/$/, "") || "/",
    apiURL: apiURL.replace(/\/$/, ""),
    token: Deno.env.get("GITHUB_PLUGIN_TOKEN") ?? readSecretFile(dir, "github.token"),
    maxBodyBytes: max,
  };
}

/** A bounded queue between the webhook handler and the source's generator. */
class Queue<T> {
  #items: T[] = [];
  #wake: (() => void) | undefined;
  constructor(readonly max: number) {}
  push(x: T): boolean {
    if (this.#items.length >= this.max) return false;
    this.#items.push(x);
    this.#wake?.();
    return true;
  }
  async take(signal: AbortSignal): Promise<T[] | undefined> {
    while (this.#items.length === 0) {
      if (signal.aborted) return undefined;
      let onAbort!: () => void;
      await new Promise<void>((r) => {
        this.#wake = onAbort = () => r();
        signal.addEventListener("abort", onAbort, { once: true });
      });
      signal.removeEventListener("abort", onAbort);
      this.#wake = undefined;
    }
    return this.#items.splice(0);
  }
}

async function apiGet(s: Settings, path: string): Promise<unknown> {
  const res = await fetch(`${s.apiURL}${path}`, {
    headers: {
      accept: "application/vnd.github+json",
      "user-agent": "saker-github-plugin",
      ...(s.token ? { authorization: `Bearer ${s.token}` } : {}),
    },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`GET ${path}: ${res.status}`);
  }
  return await res.json();
}

/** The pushed commits' files, with the secrets their added lines hold. */
async function pushFiles(s: Settings, p: JsonObject): Promise<unknown[]> {
  const repo = str(at(p, "repository", "full_name"));
  if (repo === undefined) return [];
  const ids = items(p.commits).map((c) => str(at(c, "id"))).filter((x): x is string => !!x);
  const out: { name: string; matches: SecretMatch[] }[] = [];
  for (const id of ids) {
    const commit = await apiGet(s, `/repos/${repo}/commits/${id}`);
    for (const f of items(at(commit, "files"))) {
      const name = str(at(f, "filename"));
      const patch = str(at(f, "patch"));
      if (name === undefined) continue;
      out.push({ name, matches: patch === undefined ? [] : scanPatch(patch) });
    }
  }
  return out;
}

/** The miners the run's workflow definition mentions. */
async function workflowMiners(s: Settings, p: JsonObject): Promise<MinerMatch[]> {
  const repo = str(at(p, "repository", "full_name"));
  const path = str(at(p, "workflow", "path"));
  const ref = str(at(p, "workflow_run", "head_sha"));
  if (!repo || !path) return [];
  const q = ref ? `?ref=${encodeURIComponent(ref)}` : "";
  const file = await apiGet(s, `/repos/${repo}/contents/${path}${q}`);
  const content = str(at(file, "content"));
  if (content === undefined) return [];
  const text = new TextDecoder().decode(
    Uint8Array.from(atob(content.replace(/\s/g, "")), (c) => c.charCodeAt(0)),
  );
  return scanWorkflow(text);
}

function rejected(reason: string): void {
  metrics.counter(
    "saker_github_rejected_total",
    "GitHub webhook deliveries refused, by reason.",
    ["reason"],
  ).labels(reason).inc();
}

function reply(status: number, body: Record<string, unknown>): Response {
  return Response.json(body, { status });
}

type Get = (p: JsonObject) => string | undefined;

/** Values of one list kept as text joined by commas, as Falco's plugin gives them. */
function joined(values: string[]): string {
  return values.join(",");
}

function secretMatches(p: JsonObject): { file: string; m: JsonObject }[] | undefined {
  if (!Array.isArray(p.files)) return undefined;
  return items(p.files).flatMap((f) =>
    items(at(f, "matches")).filter(isObject).map((m) => ({ file: str(at(f, "name")) ?? "", m }))
  );
}

const repoUrl: Get = (p) => str(at(p, "repository", "html_url"));

const SPECS: [string, string, Get][] = [
  [
    "github.type",
    "Delivery type (the X-GitHub-Event header): push, repository, member ...",
    (p) => str(p.webhook_type),
  ],
  [
    "github.action",
    "What happened, qualifying the type: created, deleted, publicized ...",
    (p) => str(p.action),
  ],
  [
    "github.user",
    "Login of the user whose action the delivery reports (sender).",
    (p) => str(at(p, "sender", "login")),
  ],
  ["github.repo", "URL of the repository (older name of github.repo.url).", repoUrl],
  ["github.repo.url", "URL of the repository the event happened in.", repoUrl],
  [
    "github.repo.name",
    "Name of the repository, owner/name.",
    (p) =>
      str(at(p, "repository", "full_name")) ??
        repoUrl(p)?.replace(/^https:\/\/github\.com\//, ""),
  ],
  [
    "github.repo.description",
    "Description of the repository.",
    (p) => str(at(p, "repository", "description")),
  ],
  [
    "github.org",
    "Organization the repository belongs to.",
    (p) => str(at(p, "organization", "login")),
  ],
  [
    "github.owner",
    "Login of the repository's owner.",
    (p) => str(at(p, "repository", "owner", "login")),
  ],
  ["github.repo.public", "'true' when the repository is public, 'false' when private.", (p) => {
    const priv = at(p, "repository", "private");
    return typeof priv === "boolean" ? String(!priv) : undefined;
  }],
  [
    "github.collaborator.name",
    "Login of the collaborator added or removed.",
    (p) => str(at(p, "member", "login")),
  ],
  [
    "github.collaborator.role",
    "Permission the added collaborator gets.",
    (p) => str(at(p, "changes", "permission", "to")) ?? str(at(p, "changes", "role_name", "to")),
  ],
  ["github.webhook.id", "Id of the webhook (ping and meta deliveries).", (p) => {
    const id = at(p, "hook", "id") ?? p.hook_id;
    return id === undefined ? undefined : String(id);
  }],
  [
    "github.webhook.type",
    "Type of the webhook: Repository, Organization ...",
    (p) => str(at(p, "hook", "type")),
  ],
  [
    "github.commit.added",
    "Files the pushed commits add, comma-separated.",
    (p) => joined(items(p.commits).flatMap((c) => items(at(c, "added")).map(String))),
  ],
  [
    "github.commit.modified",
    "Files the pushed commits change, comma-separated.",
    (p) => joined(items(p.commits).flatMap((c) => items(at(c, "modified")).map(String))),
  ],
  [
    "github.commit.removed",
    "Files the pushed commits remove, comma-separated.",
    (p) => joined(items(p.commits).flatMap((c) => items(at(c, "removed")).map(String))),
  ],
  ["github.diff.has_secrets", "Pushes: 'true' when a line a commit adds holds a secret.", (p) => {
    const m = secretMatches(p);
    return m === undefined ? undefined : String(m.length > 0);
  }],
  [
    "github.diff.committed_secrets.desc",
    "Pushes: the kind of each secret found (aws_access_key ...), comma-separated.",
    (p) => {
      const m = secretMatches(p);
      return m === undefined ? undefined : joined(m.map((x) => String(x.m.desc)));
    },
  ],
  [
    "github.diff.committed_secrets.files",
    "Pushes: the file of each secret found, comma-separated.",
    (p) => {
      const m = secretMatches(p);
      return m === undefined ? undefined : joined(m.map((x) => x.file));
    },
  ],
  [
    "github.diff.committed_secrets.lines",
    "Pushes: the line of each secret found, comma-separated.",
    (p) => {
      const m = secretMatches(p);
      return m === undefined ? undefined : joined(m.map((x) => String(x.m.line)));
    },
  ],
  [
    "github.diff.committed_secrets.links",
    "Pushes: a link to each secret found in the pushed tree, comma-separated.",
    (p) => {
      const m = secretMatches(p);
      const head = str(at(p, "head_commit", "id")) ?? str(p.after) ?? "";
      return m === undefined
        ? undefined
        : joined(m.map((x) => `${repoUrl(p) ?? ""}/blob/${head}/${x.file}#L${x.m.line}`));
    },
  ],
  [
    "github.workflow.has_miners",
    "Workflow runs: 'true' when the workflow definition mentions a crypto miner.",
    (p) => {
      const m = at(p, "workflow_miner_detections", "matches");
      return Array.isArray(m) ? String(m.length > 0) : undefined;
    },
  ],
  [
    "github.workflow.miners.type",
    "Workflow runs: the kinds of miner found (xmrig, stratum ...), comma-separated.",
    (p) => {
      const m = at(p, "workflow_miner_detections", "matches");
      return Array.isArray(m)
        ? joined([...new Set(items(m).map((x) => String(at(x, "type"))))])
        : undefined;
    },
  ],
  [
    "github.workflow.filename",
    "Workflow runs: the workflow definition's path.",
    (p) => str(at(p, "workflow", "path")),
  ],
];

const FIELDS: PluginField[] = SPECS.map(([name, desc, fn]) => ({
  name,
  type: "string",
  desc,
  extract: (ev) => isObject(ev.value) ? fn(ev.value) : undefined,
}));

let settings: Settings | undefined;

/** The github plugin. */
export const githubPlugin: Plugin = {
  name: "github",
  version: "0.8.0",
  description: "GitHub webhook deliveries",
  source: GITHUB_SOURCE,
  fields: FIELDS,
  init(config) {
    settings = settingsOf(config);
  },
  async *open(params, ctx): AsyncGenerator<PluginEventInput[]> {
    const s = settings ?? settingsOf("");
    if (!s.secret) {
      throw new Error(
        "a webhook secret is needed (init_config.webhookSecret, or github.secret in secretsDir)",
      );
    }
    if (!ctx.mount) throw new Error("the agent's web server is disabled (webserver.enabled)");
    const wanted = params.split(",").map((r) => r.trim().toLowerCase()).filter((r) => r !== "");
    const all = wanted.length === 0 || wanted.includes("*");
    const queue = new Queue<PluginEventInput>(4096);
    const secret = s.secret;
    ctx.mount(s.path, async (req) => {
      if (req.method !== "POST") return reply(405, { error: "use POST" });
      const body = new Uint8Array(await req.arrayBuffer());
      if (body.length > s.maxBodyBytes) {
        rejected("too_large");
        return reply(413, { error: "body too large", limit_bytes: s.maxBodyBytes });
      }
      const sig = req.headers.get("x-hub-signature-256") ?? "";
      if (!sameText(sig, await signature(secret, body))) {
        rejected(sig === "" ? "unsigned" : "bad_signature");
        ctx.log("warning", "github delivery with a bad signature refused", {
          delivery: req.headers.get("x-github-delivery") ?? "",
        });
        return reply(401, { error: sig === "" ? "missing X-Hub-Signature-256" : "bad signature" });
      }
      const type = req.headers.get("x-github-event");
      let payload: unknown;
      try {
        let text = new TextDecoder().decode(body);
        if ((req.headers.get("content-type") ?? "").includes("x-www-form-urlencoded")) {
          text = new URLSearchParams(text).get("payload") ?? "";
        }
        payload = JSON.parse(text);
      } catch {
        rejected("not_json");
        return reply(400, { error: "the body is not a JSON payload" });
      }
      if (!type || !isObject(payload)) {
        rejected("bad_request");
        return reply(400, { error: "expected X-GitHub-Event and a JSON object" });
      }
      const repo = str(at(payload, "repository", "full_name"))?.toLowerCase();
      if (!all && repo !== undefined && !wanted.includes(repo)) {
        return reply(202, { ignored: `repository ${repo} is not watched` });
      }
      const value: JsonObject = { ...payload, webhook_type: type };
      try {
        if (type === "push") value.files = await pushFiles(s, value);
        if (type === "workflow_run" && value.action === "requested") {
          value.workflow_miner_detections = { matches: await workflowMiners(s, value) };
        }
      } catch (err) {
        ctx.log("warning", "github API lookup failed; the event goes on without it", {
          type,
          error: (err as Error).message,
        });
      }
      if (!queue.push({ value })) {
        rejected("busy");
        return new Response(JSON.stringify({ error: "busy, retry later" }), {
          status: 503,
          headers: { "content-type": "application/json", "retry-after": "1" },
        });
      }
      return reply(200, { accepted: 1 });
    }, { ownAuth: true, ownBodyLimit: true });
    ctx.log("info", "github webhook", { path: s.path, repositories: all ? "*" : wanted.join(",") });
    for (;;) {
      const batch = await queue.take(ctx.signal);
      if (batch === undefined) return;
      yield batch;
    }
  },
  summary(ev) {
    const p = isObject(ev.value) ? ev.value : {};
    const what = [str(p.webhook_type), str(p.action)].filter(Boolean).join(".");
    const who = str(at(p, "sender", "login")) ?? "?";
    const repo = str(at(p, "repository", "full_name"));
    return `${what} by ${who}${repo ? ` on ${repo}` : ""}`;
  },
};
