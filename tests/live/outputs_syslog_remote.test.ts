/**
 * The remote syslog output against real rsyslogd servers (Debian's rsyslog and rsyslog-gnutls)
 * the test starts on loopback with configs of its own: one taking plain TCP, one TLS (gtls, a
 * certificate from the test's CA). What rsyslog parsed is written by its own template, so each
 * RFC 5424 part is checked as the server read it: host name, app name, process id, message id,
 * structured data (rule, priority, source, tags), facility and severity, the event's time, the
 * message; octet counting keeps a message with a newline whole. The server is restarted mid-test
 * and every alert arrives once; `saker run` sends an alert over TLS from its config.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { skipIf } from "../support/env.ts";
import { startSaker, waitFor } from "../support/agent_process.ts";
import { freePort, tcpAnswers } from "../support/saker.ts";
import { AUDIT_RULE, postAudit, secretGet } from "../support/fleet.ts";
import { makeCa } from "./outputs_tls_support.ts";
import { RemoteSyslogOutput } from "../../src/outputs/syslog_remote.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";
import type { Alert } from "../../src/rules/alert.ts";

const RSYSLOGD = "/usr/sbin/rsyslogd";
const GTLS = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so";
const have = (p: string) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
};
const ignore = skipIf(
  !have(RSYSLOGD) || !have(GTLS),
  "rsyslogd or its TLS driver is not installed (scripts/setup.sh installs rsyslog-gnutls)",
);
const never = new AbortController().signal;

/** What rsyslog parsed, one field per `|`. */
const TEMPLATE = "%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|" +
  "%syslogfacility-text%.%syslogseverity-text%|%timereported:::date-rfc3339%|%msg%\\n";

interface Rsyslog {
  port: number;
  out: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  lines(): Promise<string[]>;
}

async function rsyslog(dir: string, name: string, tls?: { ca: string }): Promise<Rsyslog> {
  const port = freePort();
  const work = `${dir}/${name}`;
  await Deno.mkdir(work);
  const out = `${work}/out.log`;
  const conf = [
    tls
      ? `global(workDirectory="${work}" DefaultNetstreamDriver="gtls" ` +
        `DefaultNetstreamDriverCAFile="${tls.ca}" ` +
        `DefaultNetstreamDriverCertFile="${dir}/server.pem" ` +
        `DefaultNetstreamDriverKeyFile="${dir}/server.key")`
      : `global(workDirectory="${work}")`,
    tls
      ? `module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" ` +
        `StreamDriver.AuthMode="anon")`
      : `module(load="imtcp")`,
    `input(type="imtcp" address="127.0.0.1" port="${port}")`,
    `template(name="t" type="string" string="${TEMPLATE}")`,
    `*.* action(type="omfile" file="${out}" template="t")`,
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${work}/rsyslog.conf`, conf);
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command(RSYSLOGD, {
      args: ["-n", "-f", `${work}/rsyslog.conf`, "-i", `${work}/rsyslogd.pid`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(`rsyslogd ${name} to listen`, () => tcpAnswers(port), 20_000);
  };
  await start();
  return {
    port,
    out,
    start,
    stop: async () => {
      child?.kill("SIGTERM");
      await child?.status;
      child = undefined;
    },
    lines: async () => {
      try {
        return (await Deno.readTextFile(out)).split("\n").filter((l) => l !== "");
      } catch {
        return [];
      }
    },
  };
}

const T = 1_767_323_045_123_456_789n; // 2026-01-02T03:04:05.123456789Z

function alerts(n: number, from = 0): FormattedAlert[] {
  const f = new AlertFormatter({ hostname: "node-1", timeFormatIso8601: true });
  return Array.from({ length: n }, (_, i) =>
    new FormattedAlert(
      {
        time: T + BigInt(from + i),
        rule: `Read "sensitive" file [${from + i}]`,
        priority: i % 2 ? "Warning" : "Critical",
        source: "syscall",
        tags: ["filesystem", "mitre_credential_access"],
        output: `alert ${from + i} (file=/etc/shadow)`,
        outputFields: { "fd.name": "/etc/shadow" },
      } satisfies Alert,
      f,
    ));
}

Deno.test({
  name: "remote syslog: RFC 5424 over TCP and TLS as rsyslog parses it; a restart loses nothing",
  ignore,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-rsyslog-" }));
    const ca = await makeCa(dir);
    const tcp = await rsyslog(dir, "tcp");
    const tls = await rsyslog(dir, "tls", { ca: ca.ca });
    const common = { facility: 16, appName: "saker", sdId: "saker@32473", json: false };
    const overTcp = new RemoteSyslogOutput({
      ...common,
      host: "127.0.0.1",
      port: tcp.port,
      tls: false,
    });
    const overTls = new RemoteSyslogOutput({
      ...common,
      host: "127.0.0.1",
      port: tls.port,
      tls: true,
      caCerts: [await Deno.readTextFile(ca.ca)],
    });
    try {
      const batch = alerts(10);
      await overTcp.write(batch, never);
      await overTls.write(batch, never);
      for (const server of [tcp, tls]) {
        const lines = await waitFor("10 messages", async () => {
          const l = await server.lines();
          return l.length >= 10 && l;
        });
        assertEquals(lines.length, 10);
        for (let i = 0; i < 10; i++) {
          const [host, app, pid, msgid, sd, facSev, time, msg] = lines[i].split("|");
          assertEquals([host, app, pid, msgid], ["node-1", "saker", String(Deno.pid), "alert"]);
          assertEquals(
            sd,
            `[saker@32473 rule="Read \\"sensitive\\" file [${i}\\]" priority="${
              i % 2 ? "Warning" : "Critical"
            }" source="syscall" tags="filesystem,mitre_credential_access"]`,
          );
          assertEquals(facSev, `local0.${i % 2 ? "warning" : "crit"}`);
          assertEquals(time, "2026-01-02T03:04:05.123456Z", "the event time, microseconds");
          assertEquals(msg.trim(), batch[i].text);
        }
      }

      // A message with a newline in it stays one message (octet counting), JSON too.
      const f = new AlertFormatter({ hostname: "node-2" });
      const multi = new FormattedAlert({
        time: T,
        rule: "multi",
        priority: "Notice",
        source: "syscall",
        tags: [],
        output: "first line\nsecond line",
        outputFields: {},
      }, f);
      const jsonOut = new RemoteSyslogOutput({
        ...common,
        json: true,
        host: "127.0.0.1",
        port: tls.port,
        tls: true,
        caCerts: [await Deno.readTextFile(ca.ca)],
      });
      await jsonOut.write([multi], never);
      await jsonOut.close();
      const j = await waitFor("the JSON message", async () => {
        const l = await tls.lines();
        return l.length >= 11 && l[10];
      });
      assertEquals(
        JSON.parse(j.split("|").slice(7).join("|")).output,
        multi.alert.output.replace(
          /^/,
          `${f.timePrefix(T)}: Notice `,
        ),
      );

      // The TLS server restarts between alerts: the next alerts go to the new one, none lost.
      await tls.stop();
      await tls.start();
      await overTls.write(alerts(5, 100), never);
      const after = await waitFor("5 more messages", async () => {
        const l = await tls.lines();
        return l.length >= 16 && l;
      });
      await new Promise((r) => setTimeout(r, 300));
      assertEquals((await tls.lines()).length, 16);
      assert(after.slice(11).every((l, i) => l.includes(`alert ${100 + i} `)), after.join("\n"));

      // Nobody listening: the write fails (the queue retries it).
      await tcp.stop();
      await new Promise((r) => setTimeout(r, 200));
      const err = await overTcp.write(alerts(1), never).then(() => undefined, (e) => e);
      assert(err instanceof Error, "a write to a stopped server fails");
    } finally {
      await overTcp.close();
      await overTls.close();
      await tcp.stop();
      await tls.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "remote syslog: saker run sends its alerts over TLS from remote_syslog_output",
  ignore,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-rsyslog-run-" }));
    const ca = await makeCa(dir);
    const tls = await rsyslog(dir, "tls", { ca: ca.ca });
    await Deno.writeTextFile(`${dir}/rules.yaml`, AUDIT_RULE);
    const run = await startSaker(
      dir,
      `rules_files: [${dir}/rules.yaml]
hostname: node-9
json_output: true
stdout_output: {enabled: false}
remote_syslog_output:
  enabled: true
  address: 127.0.0.1:${tls.port}
  transport: tls
  facility: auth
  ca_cert: ${ca.ca}
`,
      ["--disable-source", "syscall"],
    );
    try {
      await postAudit(run.api, [secretGet("fleet-syslog", "db-password")]);
      const line = await waitFor("the alert at rsyslog", async () => (await tls.lines())[0]);
      const [host, app, , , sd, facSev, , msg] = line.split("|");
      assertEquals([host, app, facSev], ["node-9", "saker", "auth.warning"]);
      assertEquals(
        sd,
        '[saker@32473 rule="fleet secret read" priority="Warning" source="k8s_audit" tags="fleet"]',
      );
      const a = JSON.parse(line.split("|").slice(7).join("|"));
      assertEquals(a.output_fields["ka.target.name"], "db-password");
      assertEquals(a.hostname, "node-9");
      assert(msg.length > 0);
    } finally {
      const s = await run.stop();
      await tls.stop();
      assertEquals(s.code, 0, run.stderr());
      await Deno.remove(dir, { recursive: true });
    }
  },
});
