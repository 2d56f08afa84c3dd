/**
 * The http output's presets against local receivers over loopback that check the exact wire
 * format each API documents, and answer as those APIs do:
 *
 * - Elasticsearch Bulk API (elastic.co, "Bulk API", docs-bulk: `POST /_bulk`, NDJSON, "the final
 *   line of data must end with a newline", `Content-Type: application/x-ndjson`, an action line
 *   `{"create":{"_index":...,"_id":...}}` then the document; the answer's `items` in request
 *   order, 409 `version_conflict_engine_exception` for a `create` of an existing id) and the same
 *   API in OpenSearch (opensearch.org, "Bulk" in the document APIs). A 429 answer is retried, a
 *   retried batch indexes nothing twice, a document the index refuses counts as failed;
 * - Grafana Loki push API (grafana.com, Loki HTTP API, "Ingest logs", `POST /loki/api/v1/push`:
 *   `{"streams":[{"stream":{labels},"values":[["<unix epoch in nanoseconds>","<log line>"]]}]}`,
 *   `Content-Type: application/json`, answered with 204).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { HttpOutput } from "../../src/outputs/http.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { Registry } from "../../src/metrics.ts";
import type { Alert } from "../../src/rules/alert.ts";

const never = new AbortController().signal;

function alerts(n: number, hostname = "node-1"): FormattedAlert[] {
  const f = new AlertFormatter({ hostname });
  return Array.from({ length: n }, (_, i) =>
    new FormattedAlert(
      {
        time: 1_767_323_045_000_000_000n + BigInt(i),
        rule: i === 3 ? "reject me" : i % 2 ? "Read sensitive file" : "Terminal shell",
        priority: i % 2 ? "Warning" : "Notice",
        source: "syscall",
        tags: ["t"],
        output: `alert ${i}`,
        outputFields: { "proc.pid": i },
      } satisfies Alert,
      f,
    ));
}

/** An index that answers `_bulk` as Elasticsearch and OpenSearch do. */
function bulkReceiver(path: string) {
  const docs = new Map<string, string>();
  const problems: string[] = [];
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests++;
    const url = new URL(req.url);
    const body = await req.text();
    if (req.method !== "POST" || url.pathname !== path) problems.push(`${req.method} ${url}`);
    if (req.headers.get("content-type") !== "application/x-ndjson") {
      problems.push(`content-type ${req.headers.get("content-type")}`);
    }
    if (!body.endsWith("\n")) problems.push("the final line does not end with a newline");
    // The first request meets a busy cluster.
    if (requests === 1) {
      return Response.json({ error: { type: "es_rejected_execution_exception" }, status: 429 }, {
        status: 429,
      });
    }
    const lines = body.slice(0, -1).split("\n");
    if (lines.length % 2 !== 0) problems.push("actions and documents do not pair");
    const items = [];
    for (let i = 0; i < lines.length; i += 2) {
      const action = JSON.parse(lines[i]);
      const keys = Object.keys(action);
      if (keys.length !== 1 || keys[0] !== "create") problems.push(`action ${lines[i]}`);
      const { _index, _id } = action.create;
      if (_index !== "saker-alerts" || typeof _id !== "string") problems.push(lines[i]);
      const doc = JSON.parse(lines[i + 1]);
      if (doc.rule === "reject me") {
        items.push({
          create: {
            _index,
            _id,
            status: 400,
            error: { type: "mapper_parsing_exception", reason: "failed to parse" },
          },
        });
      } else if (docs.has(_id)) {
        items.push({
          create: {
            _index,
            _id,
            status: 409,
            error: { type: "version_conflict_engine_exception", reason: "document already exists" },
          },
        });
      } else {
        docs.set(_id, lines[i + 1]);
        items.push({ create: { _index, _id, _version: 1, result: "created", status: 201 } });
      }
    }
    const errors = items.some((x) => x.create.status >= 300);
    return Response.json({ took: 3, errors, items });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}${path}`,
    docs,
    problems,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

for (const preset of ["elasticsearch", "opensearch"] as const) {
  Deno.test(`http preset ${preset}: _bulk NDJSON, 429 retried, nothing indexed twice`, async () => {
    const rx = bulkReceiver("/_bulk");
    const out = await HttpOutput.create({
      url: rx.url,
      json: true,
      userAgent: "saker",
      preset,
      index: "saker-alerts",
    });
    const q = new OutputQueue(out, { capacity: 100, registry: new Registry(), retryInitialMs: 50 });
    try {
      const batch = alerts(8);
      for (const a of batch) q.push(a);
      await q.flush(10_000);
      assertEquals(rx.problems, []);
      const s = q.stats();
      assertEquals([s.sent, s.failed], [7, 1], "the refused document counts as failed");
      assert(s.retries >= 1, "the 429 was retried");
      assertEquals(rx.docs.size, 7);
      for (const a of batch.filter((a) => a.alert.rule !== "reject me")) {
        assertEquals(rx.docs.get(a.id), a.json, "the document is the alert's JSON, _id its id");
      }
      // The same alerts again (a retry after a lost answer): 409s, nothing indexed twice.
      const refused = await out.write(batch, never);
      assertEquals(refused, 1);
      assertEquals(rx.docs.size, 7);
      assertEquals(rx.problems, []);
    } finally {
      await q.close();
      await rx.close();
    }
  });
}

Deno.test("http preset loki: push API streams per label set, nanosecond strings", async () => {
  const got: { body: unknown; type: string | null; path: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    got.push({
      body: await req.json(),
      type: req.headers.get("content-type"),
      path: new URL(req.url).pathname,
    });
    return new Response(null, { status: 204 });
  });
  const out = await HttpOutput.create({
    url: `http://127.0.0.1:${server.addr.port}/loki/api/v1/push`,
    json: false,
    userAgent: "saker",
    preset: "loki",
  });
  try {
    const batch = [...alerts(4), ...alerts(2, "node-2")];
    assertEquals(await out.write(batch, never), 0);
    assertEquals(got.length, 1, "one push per batch");
    assertEquals(got[0].path, "/loki/api/v1/push");
    assertEquals(got[0].type, "application/json");
    const line = (fa: FormattedAlert) => [fa.alert.time.toString(), fa.text];
    const labels = (fa: FormattedAlert) => ({
      hostname: fa.hostname,
      priority: fa.alert.priority,
      rule: fa.alert.rule,
      source: "syscall",
    });
    // The documented shape exactly: streams of {stream, values: [[ns, line]]}, in order.
    assertEquals(got[0].body, {
      streams: [
        { stream: labels(batch[0]), values: [line(batch[0]), line(batch[2])] },
        { stream: labels(batch[1]), values: [line(batch[1])] },
        { stream: labels(batch[3]), values: [line(batch[3])] },
        { stream: labels(batch[4]), values: [line(batch[4])] },
        { stream: labels(batch[5]), values: [line(batch[5])] },
      ],
    });
  } finally {
    await out.close();
    await server.shutdown();
  }
});
