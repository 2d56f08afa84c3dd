/**
 * The pure parts of the fleet: NATS subjects from a template, alerts read back from Falco's JSON
 * (what the collector stores), and the config keys of `nats_output`, `collector`,
 * `remote_syslog_output` and the http presets, with errors naming the key.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "../support/assert.ts";
import {
  alertSubject,
  checkSubjectTemplate,
  subjectToken,
  subjectWildcard,
} from "../../src/outputs/nats_subject.ts";
import { parseJsonExact, parseReceivedAlert } from "../../src/outputs/received.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import type { Alert } from "../../src/rules/alert.ts";

const ALERT: Alert = {
  time: 1_767_323_045_000_000_001n,
  rule: "Terminal shell in container",
  priority: "Notice",
  source: "syscall",
  tags: ["shell", "container"],
  output: "A shell was spawned (user=root shell=bash)",
  outputFields: { "proc.pid": 42, "evt.num": 9_007_199_254_740_993n, "container.id": null },
};

Deno.test("nats subjects: template placeholders, tokens, the stream's wildcard", () => {
  const fa = new FormattedAlert(ALERT, new AlertFormatter({ hostname: "node-1.prod example" }));
  assertEquals(
    alertSubject("saker.alerts.{hostname}.{priority}", fa),
    "saker.alerts.node-1_prod_example.notice",
  );
  assertEquals(
    alertSubject("a.{source}.{rule}", fa),
    "a.syscall.Terminal_shell_in_container",
  );
  assertEquals(subjectWildcard("saker.alerts.{hostname}.{priority}"), "saker.alerts.*.*");
  assertEquals(subjectToken(""), "_");
  assertEquals(checkSubjectTemplate("saker.alerts.{hostname}"), undefined);
  assertStringIncludes(checkSubjectTemplate("saker.{host}")!, "{hostname}");
  assertStringIncludes(checkSubjectTemplate("saker..x")!, "dot-separated");
  assertStringIncludes(checkSubjectTemplate("saker.>")!, "'>'");
});

Deno.test("received alerts: Falco's JSON read back exactly as sent", () => {
  const f = new AlertFormatter({ hostname: "node-1", timeFormatIso8601: true });
  const sent = new FormattedAlert(ALERT, f);
  const r = parseReceivedAlert(sent.json, sent.id);
  assertEquals(r.forms.id, sent.id);
  assertEquals(r.forms.hostname, "node-1");
  assertEquals(r.forms.json, sent.json);
  assertEquals(r.forms.output, f.fullOutput(ALERT));
  assertEquals(r.forms.fieldsJson, f.fieldsJson(ALERT), "64-bit integers exact");
  assertEquals(r.alert.time, ALERT.time);
  assertEquals(r.alert.rule, ALERT.rule);
  assertEquals(r.alert.priority, "Notice");
  assertEquals(r.alert.tags, ["container", "shell"]);
  assertEquals(r.alert.output, ALERT.output);
  const fa = new FormattedAlert(r.alert, new AlertFormatter({ hostname: "collector" }), r.forms);
  assertEquals([fa.id, fa.hostname, fa.json], [sent.id, "node-1", sent.json]);
  assertEquals(parseJsonExact('{"a":9007199254740993,"b":1.5,"c":3}'), {
    a: 9_007_199_254_740_993n,
    b: 1.5,
    c: 3,
  });
});

Deno.test("received alerts: a summary keeps its aggregate; bad messages name what is missing", () => {
  const f = new AlertFormatter({ hostname: "node-2" });
  const summary: Alert = {
    ...ALERT,
    aggregate: {
      count: 12,
      first: ALERT.time - 5_000_000_000n,
      last: ALERT.time,
      since: ALERT.time - 6_000_000_000n,
      reason: "window",
      samples: { "proc.pid": [1, 2] },
      group: "g1",
    },
  };
  const r = parseReceivedAlert(f.json(summary), "id-1");
  assertEquals(r.alert.aggregate?.count, 12);
  assertEquals(r.alert.aggregate?.first, summary.aggregate!.first);
  assertEquals(r.alert.aggregate?.group, "g1");
  assertEquals(r.alert.output, ALERT.output, "without the summary's note");
  assertThrows(() => parseReceivedAlert("{", "x"), "not JSON");
  assertThrows(() => parseReceivedAlert('{"priority":"Warning"}', "x"), "no rule");
  assertThrows(
    () => parseReceivedAlert('{"rule":"r","priority":"Loud","time":"x"}', "x"),
    "no priority",
  );
  assertThrows(
    () => parseReceivedAlert('{"rule":"r","priority":"Warning","time":"yesterday"}', "x"),
    "time is not an RFC 3339 time",
  );
});

async function problems(text: string): Promise<string[]> {
  try {
    await loadConfig({ file: "fleet.yaml", text });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

Deno.test("config: nats_output and collector keys, errors naming the key", async () => {
  const ok = await loadConfig({
    file: "fleet.yaml",
    text: "hostname: node-7\nnats_output: {enabled: true, servers: [tls://n:4222, 'n2:4222']}\n" +
      "collector: {enabled: true, durable: fleet-1}\n",
  });
  assertEquals(ok.config.hostname, "node-7");
  assertEquals(ok.config.nats_output.subject, "saker.alerts.{hostname}.{priority}");
  assertEquals(ok.config.nats_output.ack_timeout, 5000);
  assertEquals(ok.config.collector.subjects, "saker.alerts.>");
  const p = await problems(
    [
      "nats_output:",
      "  enabled: true",
      "  servers: [http://n:4222]",
      "  subject: saker.{host}",
      "  stream: 'a.b'",
      "  password: x",
      "collector: {enabled: true, servers: [], tls: {enabled: true, client_cert: c.pem}}",
      "http_output: {preset: kibana, index: Alerts}",
      "remote_syslog_output: {address: siem, sd_id: saker}",
    ].join("\n"),
  );
  const text = p.join("\n");
  assertStringIncludes(
    text,
    "fleet.yaml:3:13: key nats_output.servers[0]: expected a NATS server URL",
  );
  assertStringIncludes(text, "key nats_output.subject: expected a subject whose placeholders");
  assertStringIncludes(text, "key nats_output.stream: expected a name of letters");
  assertStringIncludes(text, "key nats_output.user: required with a password");
  assertStringIncludes(text, "key collector.servers: required when collector.enabled is true");
  assertStringIncludes(text, "key collector.tls: client_cert and client_key go together");
  assertStringIncludes(text, "key http_output.preset: expected one of falco, elasticsearch");
  assertStringIncludes(text, "key http_output.index: expected an index name in lower case");
  assertStringIncludes(text, "key remote_syslog_output.address: expected host:port");
  assertStringIncludes(text, "key remote_syslog_output.sd_id: expected an SD-ID");
});
