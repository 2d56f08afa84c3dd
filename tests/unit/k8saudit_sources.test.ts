/**
 * The Kubernetes audit sources on real files and real requests: JSON lines with a bad line,
 * gzip, a pretty-printed document, a directory, a followed file that grows, rotates and is
 * truncated; the webhook's answers, its queue bound and its end; `saker replay` telling audit
 * files from captures.
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { chooseRunSources } from "../../src/agent/plugins.ts";
import { openAuditFileSource } from "../../src/sources/k8saudit_file.ts";
import { AuditWebhook } from "../../src/sources/k8saudit_webhook.ts";
import type { AuditEvent } from "../../src/k8saudit/audit_event.ts";
import type { IngestError } from "../../src/k8saudit/ingest.ts";
import { isAuditInput } from "../../src/sources/k8saudit_file.ts";
import { auditInputs } from "../../src/k8saudit/audit_inputs.ts";
import { Registry } from "../../src/metrics.ts";

function ev(id: string, verb = "get"): Record<string, unknown> {
  return { kind: "Event", auditID: id, verb, stageTimestamp: "2024-03-01T08:00:00Z" };
}

async function readAll(stream: ReadableStream<AuditEvent[]>): Promise<string[]> {
  const ids: string[] = [];
  for await (const batch of stream) for (const e of batch) ids.push(String(e.record.auditID));
  return ids;
}

async function gzip(text: string): Promise<Uint8Array> {
  const s = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("k8saudit file: JSON lines, a bad line reported with its place, batches", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lines = [
      JSON.stringify(ev("1")),
      "",
      JSON.stringify({ kind: "EventList", items: [ev("2"), ev("3")] }),
      "{not json",
      JSON.stringify({ kind: "Pod" }),
      JSON.stringify(ev("4")),
    ];
    await Deno.writeTextFile(`${dir}/audit.log`, lines.join("\n")); // no final newline
    const errors: IngestError[] = [];
    const src = await openAuditFileSource(`${dir}/audit.log`, {
      batchSize: 2,
      onError: (e) => errors.push(e),
      registry: new Registry(),
    });
    const batches: number[] = [];
    const ids: string[] = [];
    for await (const b of src.readable) {
      batches.push(b.length);
      ids.push(...b.map((e) => String(e.record.auditID)));
    }
    assertEquals(ids, ["1", "2", "3", "4"]);
    assertEquals(batches, [2, 2]);
    assertEquals(errors.map((e) => [e.reason, e.where.replace(dir, "")]), [
      ["not_json", "/audit.log:4"],
      ["not_audit", "/audit.log:5"],
    ]);
    assertEquals(src.stats().received, 4);
    assertEquals(src.stats().rejected, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("k8saudit file: gzip, a pretty-printed document, a directory oldest first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/logs`);
    const old = `${dir}/logs/b-old.log.gz`, recent = `${dir}/logs/a-new.json`;
    await Deno.writeFile(
      old,
      await gzip(`${JSON.stringify(ev("1"))}\n${JSON.stringify(ev("2"))}\n`),
    );
    await Deno.writeTextFile(recent, JSON.stringify([ev("3"), ev("4")], null, 2));
    await Deno.utime(old, new Date(2020, 0, 1), new Date(2020, 0, 1));
    assertEquals(await readAll((await openAuditFileSource(old)).readable), ["1", "2"]);
    assertEquals(await readAll((await openAuditFileSource(recent)).readable), ["3", "4"]);
    assertEquals(await readAll((await openAuditFileSource(`${dir}/logs`)).readable), [
      "1",
      "2",
      "3",
      "4",
    ]);
    assert(await isAuditInput(old));
    assert(await isAuditInput(recent));
    assert(await isAuditInput(`${dir}/logs`));
    await Deno.writeFile(`${dir}/x.scap`, new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a, 0, 0]));
    assert(!(await isAuditInput(`${dir}/x.scap`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("k8saudit file: follow reads appended lines, rotated and truncated files", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/audit.log`;
  try {
    await Deno.writeTextFile(path, `${JSON.stringify(ev("before"))}\n`);
    const src = await openAuditFileSource(path, { follow: true, pollMs: 10 });
    const reader = src.readable.getReader();
    // A batch, or a failure rather than a hang when none comes.
    const next = async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no batch within 10 s")), 10_000);
      });
      try {
        const r = await Promise.race([reader.read(), late]);
        return r.value!.map((e) => String(e.record.auditID));
      } finally {
        clearTimeout(timer);
      }
    };
    // Tailing starts at the end: what was there before is not read.
    await Deno.writeTextFile(path, `${JSON.stringify(ev("1"))}\n${JSON.stringify(ev("2"))}\n`, {
      append: true,
    });
    assertEquals(await next(), ["1", "2"]);
    // A line written in two pieces is read once complete.
    await Deno.writeTextFile(path, JSON.stringify(ev("3")).slice(0, 10), { append: true });
    await new Promise((r) => setTimeout(r, 50));
    await Deno.writeTextFile(path, `${JSON.stringify(ev("3")).slice(10)}\n`, { append: true });
    assertEquals(await next(), ["3"]);
    // Rotation: the file is renamed and a new one starts; the new one is read from its start.
    await Deno.rename(path, `${path}.1`);
    await Deno.writeTextFile(path, `${JSON.stringify(ev("4"))}\n`);
    assertEquals(await next(), ["4"]);
    // Truncation (copytruncate): read again from the start.
    const short = { kind: "Event", auditID: "5", stageTimestamp: "2024-03-01T08:00:00Z" };
    await Deno.writeTextFile(path, `${JSON.stringify(short)}\n`);
    assertEquals(await next(), ["5"]);
    await src.close();
    assertEquals((await reader.read()).done, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("k8saudit webhook: answers, queue bound (503), end of stream on close", async () => {
  const registry = new Registry();
  const hook = new AuditWebhook({ queueEvents: 3, maxBodyBytes: 4096, registry, onError() {} });
  const post = (body: string, type = "application/json") =>
    hook.app.request("/", { method: "POST", headers: { "content-type": type }, body });
  const list = (...ids: string[]) =>
    JSON.stringify({ kind: "EventList", items: ids.map((id) => ev(id)) });

  let r = await post("[1,2]");
  assertEquals([r.status, (await r.json()).rejected], [400, 2]);
  r = await post(list("6"), "text/plain");
  assertEquals(r.status, 415);
  r = await post(JSON.stringify({ kind: "EventList", items: [ev("x".repeat(5000))] }));
  assertEquals(r.status, 413);
  r = await hook.app.request("/", { method: "GET" });
  assertEquals([r.status, r.headers.get("allow")], [405, "POST"]);

  r = await post(list("1", "2"));
  assertEquals([r.status, await r.json()], [200, { accepted: 2, rejected: 0 }]);
  r = await post(list("3", "4")); // the queue had room left: taken, now over its bound
  assertEquals(r.status, 200);
  r = await post(list("5"));
  assertEquals([r.status, r.headers.get("retry-after")], [503, "1"]);

  const reader = hook.readable.getReader();
  const ids = async () => (await reader.read()).value!.map((e) => [e.num, e.record.auditID]);
  assertEquals(await ids(), [[1, "1"], [2, "2"]]);
  assertEquals(await ids(), [[3, "3"], [4, "4"]]);
  // Room again.
  r = await post(list("7"));
  assertEquals(r.status, 200);
  await hook.close();
  r = await post(list("8"));
  assertEquals(r.status, 503);
  assertEquals(await ids(), [[5, "7"]]);
  assertEquals((await reader.read()).done, true);
  const reasons = registry.family("saker_k8saudit_rejected_total")!.entries()
    .map((e) => `${e.labels[1]}=${e.value}`).sort();
  assertEquals(reasons, ["bad_request=1", "body_too_large=1", "busy=1", "not_audit=2"]);
  assertEquals(registry.family("saker_k8saudit_events_total")!.get("webhook"), 5);
});

Deno.test("k8saudit config: the endpoint and the k8saudit plugin's open_params", () => {
  const base = { webserver: { enabled: true, k8s_audit_endpoint: "/k8s-audit" } };
  const plugin = (open_params: string, init_config: unknown = "") => ({
    ...base,
    load_plugins: ["k8saudit", "json", "cloudtrail"],
    plugins: [
      { name: "k8saudit", library_path: "libk8saudit.so", init_config, open_params },
      { name: "json", library_path: "libjson.so", init_config: "", open_params: "" },
      { name: "cloudtrail", library_path: "x.so", init_config: { a: 1 }, open_params: "" },
    ],
  });
  const a = auditInputs(plugin("http://:9765/k8s-audit", { maxEventSize: 1000 }));
  assertEquals(a.errors, []);
  // Other plugins are the plugin loader's (src/agent/plugins.ts).
  assertEquals(a.warnings, []);
  assertEquals(a.inputs.map((i) => [i.kind, i.maxEventBytes]), [["endpoint", 1000], [
    "listen",
    1000,
  ]]);
  const listen = a.inputs[1];
  assert(listen.kind === "listen");
  assertEquals([listen.hostname, listen.port, listen.path, listen.tlsPemFile], [
    "0.0.0.0",
    9765,
    "/k8s-audit",
    undefined,
  ]);
  const https = auditInputs(plugin("https://127.0.0.1:443/x", '{"sslCertificate":"/c.pem"}'));
  assertEquals(https.inputs[1].kind === "listen" && https.inputs[1].tlsPemFile, "/c.pem");
  const tail = auditInputs(plugin("file:///var/log/kube/audit.log")).inputs[1];
  assertEquals(tail, {
    kind: "file",
    path: "/var/log/kube/audit.log",
    follow: true,
    maxEventBytes: 262144,
    maxBodyBytes: 12582912,
  });
  assertEquals(auditInputs(plugin("audit.jsonl")).inputs[1].kind, "file");
  assertEquals(auditInputs(plugin("")).errors.map((e) => e.key), ["plugins[0].open_params"]);
  assertEquals(auditInputs(plugin("http://host/x")).errors.map((e) => e.key), [
    "plugins[0].open_params",
  ]);
  assertEquals(
    auditInputs(plugin("a.json", { maxEventSize: -1, foo: 1 })).errors.map((e) => e.key),
    ["plugins[0].init_config.maxEventSize", "plugins[0].init_config.foo"],
  );
  // Not listed in load_plugins: not loaded; listed but not configured: an error.
  assertEquals(auditInputs({ ...plugin("a.json"), load_plugins: [] }).inputs.length, 1);
  assertEquals(
    auditInputs({ ...base, load_plugins: ["k8saudit"], plugins: [] }).errors[0].key,
    "load_plugins[0]",
  );
  assertEquals(
    auditInputs({
      webserver: { enabled: true, k8s_audit_endpoint: "" },
      load_plugins: [],
      plugins: [],
    })
      .inputs,
    [],
  );
});

Deno.test("k8saudit: --enable-source / --disable-source", () => {
  const known = ["syscall", "k8s_audit"];
  const choose = (e: string[], d: string[]) => [...chooseRunSources(known, e, d)];
  assertEquals(choose([], []), ["syscall", "k8s_audit"]);
  assertEquals(choose([], ["syscall"]), ["k8s_audit"]);
  assertEquals(choose(["syscall"], []), ["syscall"]);
  assertThrows(() => choose(["cloudtrail"], []), "unknown event source");
  assertEquals(chooseRunSources([...known, "aws_cloudtrail"], ["aws_cloudtrail"], []).size, 1);
  assertThrows(() => choose(["syscall"], ["k8s_audit"]), "cannot be used together");
  assertThrows(() => choose([], ["syscall", "k8s_audit"]), "every event source");
});
