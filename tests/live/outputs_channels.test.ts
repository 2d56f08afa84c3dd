/**
 * Every output against a real receiver: a file, a unix datagram socket bound by the test (and
 * rsyslogd when installed), a program, an HTTP(S) server. One case table runs the same alerts
 * through each channel in text and JSON form; further tests cover each channel's own behaviour
 * (reopen, respawn, retries while the receiver is down, TLS with a private CA, gzip).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import type { Alert, Priority } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { FileOutput } from "../../src/outputs/file.ts";
import { HttpOutput } from "../../src/outputs/http.ts";
import { ProgramOutput } from "../../src/outputs/program.ts";
import { OutputQueue } from "../../src/outputs/queue.ts";
import { StdoutOutput } from "../../src/outputs/stdout.ts";
import { SyslogOutput } from "../../src/outputs/syslog.ts";
import { type AlertOutput, FormattedAlert } from "../../src/outputs/output.ts";
import { UnixDatagramReceiver } from "../../src/outputs/unix_dgram.ts";
import { makeCa } from "./outputs_tls_support.ts";
import { skipIf } from "../support/env.ts";

const fmt = new AlertFormatter({ hostname: "test-host", localOffsetMinutes: () => 0 });

function alert(i: number, priority: Priority = "Warning", output?: string): FormattedAlert {
  const a: Alert = {
    time: 1_700_000_000_000_000_000n + BigInt(i),
    rule: `Rule ${i}`,
    priority,
    source: "syscall",
    tags: ["t"],
    output: output ?? `alert number ${i} (proc.name=cat)`,
    outputFields: { "proc.name": "cat", "proc.pid": 100 + i },
  };
  return new FormattedAlert(a, fmt);
}

const ALERTS = [
  alert(1),
  alert(2, "Critical", 'quoted "name" and a\nnewline, ünïcödé'),
  alert(3, "Debug"),
];

async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 10000,
) {
  const end = Date.now() + ms;
  while (true) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function readLines(path: string): Promise<string[]> {
  try {
    const t = await Deno.readTextFile(path);
    return t === "" ? [] : t.replace(/\n$/, "").split("\n");
  } catch {
    return [];
  }
}

/**
 * Runs a scenario that stops a receiver and starts it again on the same port; when another
 * process took the port meanwhile (AddrInUse), the scenario runs again on a new port.
 */
async function onReusedPort(scenario: () => Promise<void>): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      return await scenario();
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || attempt === 3) throw err;
      console.warn(`port taken while the receiver was down; again (attempt ${attempt + 1})`);
    }
  }
}

/** A local HTTP receiver recording each request. */
class Receiver {
  requests: Array<{ body: string; headers: Headers }> = [];
  server: Deno.HttpServer<Deno.NetAddr> | undefined;
  port = 0;
  status = 200;
  start(port = 0, tls?: { cert: string; key: string }): Promise<void> {
    return new Promise((ready) => {
      this.server = Deno.serve({
        hostname: "127.0.0.1",
        port,
        ...tls,
        onListen: (a) => {
          this.port = a.port;
          ready();
        },
      }, async (req) => {
        let body: string;
        if (req.headers.get("content-encoding") === "gzip") {
          body = await new Response(req.body!.pipeThrough(new DecompressionStream("gzip"))).text();
        } else body = await req.text();
        // JSON bodies end with the alert's id (the Idempotency-Key): compared apart.
        const id = `,"uuid":${JSON.stringify(req.headers.get("idempotency-key"))}}`;
        if (body.endsWith(id)) body = body.slice(0, -id.length) + "}";
        if (this.status === 200) this.requests.push({ body, headers: new Headers(req.headers) });
        return new Response("ok", { status: this.status });
      });
    });
  }
  async stop(): Promise<void> {
    await this.server?.shutdown();
    this.server = undefined;
  }
}

interface Channel {
  name: string;
  make(dir: string, json: boolean): Promise<{
    output: AlertOutput;
    received(n: number): Promise<string[]>;
    stop(): Promise<void>;
  }>;
}

const CHANNELS: Channel[] = [
  {
    name: "stdout",
    async make(dir, json) {
      const file = await Deno.open(`${dir}/stdout`, { write: true, create: true });
      return {
        output: new StdoutOutput({ json, writer: file }),
        received: (n) =>
          waitFor("lines", async () => {
            const l = await readLines(`${dir}/stdout`);
            return l.length >= n ? l : undefined;
          }),
        stop: () => Promise.resolve(file.close()),
      };
    },
  },
  {
    name: "file",
    make(dir, json) {
      const path = `${dir}/alerts.log`;
      return Promise.resolve({
        output: new FileOutput({ filename: path, json }),
        received: (n) =>
          waitFor("lines", async () => {
            const l = await readLines(path);
            return l.length >= n ? l : undefined;
          }),
        stop: () => Promise.resolve(),
      });
    },
  },
  {
    name: "file keep_alive buffered",
    make(dir, json) {
      const path = `${dir}/alerts.log`;
      const output = new FileOutput({ filename: path, json, keepAlive: true, buffered: true });
      return Promise.resolve({
        output,
        received: async (n) => {
          await output.close(); // a buffered file is complete once flushed
          return await waitFor("lines", async () => {
            const l = await readLines(path);
            return l.length >= n ? l : undefined;
          });
        },
        stop: () => Promise.resolve(),
      });
    },
  },
  {
    name: "syslog (datagram socket)",
    make(dir, json) {
      const rx = new UnixDatagramReceiver(`${dir}/log.sock`);
      const dec = new TextDecoder();
      return Promise.resolve({
        output: new SyslogOutput({ json, path: `${dir}/log.sock`, facility: "local3" }),
        received: async (n) => {
          const out: string[] = [];
          for (let i = 0; i < n; i++) {
            const msg = dec.decode(await rx.receive());
            const m = /^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d saker\[(\d+)\]: (.*)$/s.exec(
              msg,
            );
            assert(m, `syslog framing: ${msg}`);
            assertEquals(Number(m[2]), Deno.pid);
            // local3 = 19; severity = priority rank (Warning 4, Critical 2, Debug 7).
            assertEquals(Number(m[1]), 19 * 8 + [4, 2, 7][i]);
            out.push(m[3]);
          }
          return out;
        },
        stop: () => Promise.resolve(rx.close()),
      });
    },
  },
  {
    name: "program (keep_alive)",
    make(dir, json) {
      const path = `${dir}/prog.out`;
      const output = new ProgramOutput({ program: `cat >> ${path}`, keepAlive: true, json });
      return Promise.resolve({
        output,
        received: (n) =>
          waitFor("lines", async () => {
            const l = await readLines(path);
            return l.length >= n ? l : undefined;
          }),
        stop: () => Promise.resolve(),
      });
    },
  },
  {
    name: "program (one process per batch)",
    make(dir, json) {
      const path = `${dir}/prog.out`;
      return Promise.resolve({
        output: new ProgramOutput({ program: `cat >> ${path}`, json }),
        received: (n) =>
          waitFor("lines", async () => {
            const l = await readLines(path);
            return l.length >= n ? l : undefined;
          }),
        stop: () => Promise.resolve(),
      });
    },
  },
  {
    name: "http",
    async make(_dir, json) {
      const rx = new Receiver();
      await rx.start();
      return {
        output: new HttpOutput({
          url: `http://127.0.0.1:${rx.port}/alerts`,
          json,
          userAgent: "saker-test/1",
        }),
        received: (n) =>
          waitFor("requests", () => {
            if (rx.requests.length < n) return undefined;
            for (const r of rx.requests) {
              assert(/^[0-9a-f-]{36}$/.test(r.headers.get("idempotency-key") ?? ""));
              assertEquals(r.headers.get("user-agent"), "saker-test/1");
              assertEquals(r.headers.get("content-type"), json ? "application/json" : "text/plain");
            }
            return rx.requests.map((r) => r.body);
          }),
        stop: () => rx.stop(),
      };
    },
  },
];

for (const ch of CHANNELS) {
  for (const json of [false, true]) {
    Deno.test(`outputs: ${ch.name} delivers alerts as ${json ? "JSON" : "text"}`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "saker-out-" });
      const c = await ch.make(dir, json);
      const q = new OutputQueue(c.output, { capacity: 100, registry: new Registry() });
      try {
        for (const a of ALERTS) q.push(a);
        assertEquals(await q.flush(10000), true);
        const got = await c.received(ALERTS.length);
        assertEquals(got, ALERTS.map((a) => a.line(json)));
        if (json) assertEquals(JSON.parse(got[1]).output_fields["proc.pid"], 102);
        else assertStringIncludes(got[1], 'quoted \\"name\\" and a\\nnewline, ünïcödé');
        assertEquals(q.stats().sent, ALERTS.length);
      } finally {
        await q.close(5000);
        await c.stop();
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
}

// SIGUSR1 itself, sent to a running `saker run`, is tested in agent_endpoints.test.ts.
Deno.test("outputs: file keep_alive keeps the rotated file until reopen()", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-out-" });
  const path = `${dir}/alerts.log`;
  const out = new FileOutput({ filename: path, json: false, keepAlive: true });
  try {
    await out.write([alert(1)]);
    await Deno.rename(path, `${path}.1`);
    await out.write([alert(2)]); // still the open (rotated) file
    await out.reopen();
    await out.write([alert(3)]);
    assertEquals(await readLines(`${path}.1`), [alert(1).text, alert(2).text]);
    assertEquals(await readLines(path), [alert(3).text]);
  } finally {
    await out.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outputs: a program that dies is respawned for the next alert", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-out-" });
  const path = `${dir}/prog.out`;
  // Reads one line, appends it, exits.
  const out = new ProgramOutput({
    program: `read line; echo "$line" >> ${path}`,
    keepAlive: true,
    json: false,
  });
  const q = new OutputQueue(out, {
    capacity: 10,
    registry: new Registry(),
    retryInitialMs: 10,
    retryMaxMs: 50,
  });
  try {
    q.push(alert(1));
    await waitFor("first line", async () => (await readLines(path)).length === 1 || undefined);
    // Let the first process exit before the next alert.
    await new Promise((r) => setTimeout(r, 100));
    q.push(alert(2));
    await waitFor("second line", async () => (await readLines(path)).length === 2 || undefined);
    assertEquals(await readLines(path), [alert(1).text, alert(2).text]);
    assertEquals(out.spawned, 2);
  } finally {
    await q.close(5000);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outputs: http receiver down for a while gets every alert once back", () =>
  onReusedPort(async () => {
    const rx = new Receiver();
    await rx.start();
    const port = rx.port;
    await rx.stop(); // down
    const reg = new Registry();
    const q = new OutputQueue(
      new HttpOutput({ url: `http://127.0.0.1:${port}/`, json: true, userAgent: "t" }),
      { capacity: 50, maxBatch: 10, retryInitialMs: 10, retryMaxMs: 100, registry: reg },
    );
    try {
      const sent = Array.from({ length: 40 }, (_, i) => alert(i));
      for (const a of sent) q.push(a);
      await waitFor("a few retries", () => q.stats().retries >= 3 || undefined);
      await rx.start(port); // back
      assertEquals(await q.flush(10000), true);
      assertEquals(rx.requests.map((r) => r.body), sent.map((a) => a.json));
      assertEquals(q.stats().dropped, 0);
      assertEquals(reg.family("saker_output_sent_total")?.get("http"), 40);
    } finally {
      await q.close(1000);
      await rx.stop();
    }
  }));

Deno.test("outputs: http beyond the queue capacity drops and counts the excess", () =>
  onReusedPort(async () => {
    const rx = new Receiver();
    await rx.start();
    const port = rx.port;
    await rx.stop();
    const q = new OutputQueue(
      new HttpOutput({ url: `http://127.0.0.1:${port}/`, json: true, userAgent: "t" }),
      { capacity: 5, maxBatch: 2, retryInitialMs: 10, retryMaxMs: 50, registry: new Registry() },
    );
    try {
      const sent = Array.from({ length: 20 }, (_, i) => alert(i));
      q.push(sent[0]);
      await waitFor("first attempt", () => q.stats().retries >= 1 || undefined);
      for (const a of sent.slice(1)) q.push(a);
      await rx.start(port);
      await q.flush(10000);
      const got = rx.requests.map((r) => r.body);
      // The alert in flight plus a full queue arrive, in order and once; the rest is counted.
      assertEquals(got, [sent[0], ...sent.slice(1, 6)].map((a) => a.json));
      assertEquals(q.stats().dropped, 14);
    } finally {
      await q.close(1000);
      await rx.stop();
    }
  }));

Deno.test("outputs: http 4xx refuses one alert, 5xx is retried", async () => {
  const rx = new Receiver();
  await rx.start();
  const q = new OutputQueue(
    new HttpOutput({ url: `http://127.0.0.1:${rx.port}/`, json: false, userAgent: "t" }),
    { capacity: 10, retryInitialMs: 10, retryMaxMs: 20, registry: new Registry() },
  );
  try {
    rx.status = 400;
    q.push(alert(1));
    await waitFor("refusal", () => q.stats().failed === 1 || undefined);
    rx.status = 503;
    q.push(alert(2));
    await waitFor("retries", () => q.stats().retries >= 2 || undefined);
    rx.status = 200;
    await q.flush(5000);
    assertEquals(rx.requests.map((r) => r.body), [alert(2).text]);
    assertEquals(q.stats().failed, 1);
  } finally {
    await q.close(1000);
    await rx.stop();
  }
});

Deno.test("outputs: https with a private CA (ca_cert, ca_path), gzip bodies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-tls-" });
  const rx = new Receiver();
  try {
    const { ca, cert, key } = await makeCa(dir);
    await rx.start(0, { cert, key });
    const url = `https://127.0.0.1:${rx.port}/`;
    const viaFile = await HttpOutput.create({ url, json: true, userAgent: "t", caCert: ca });
    await viaFile.write([alert(1)], new AbortController().signal);
    await viaFile.close();
    await Deno.mkdir(`${dir}/cas`);
    await Deno.copyFile(ca, `${dir}/cas/ca.pem`);
    const viaDir = await HttpOutput.create({
      url,
      json: true,
      userAgent: "t",
      caPath: `${dir}/cas`,
      compress: true,
    });
    await viaDir.write([alert(2)], new AbortController().signal);
    await viaDir.close();
    assertEquals(rx.requests.map((r) => r.body), [alert(1).json, alert(2).json]);
    assertEquals(rx.requests[1].headers.get("content-encoding"), "gzip");
    // Without the CA the server is not trusted.
    const untrusted = await HttpOutput.create({ url, json: true, userAgent: "t" });
    let err: Error | undefined;
    try {
      await untrusted.write([alert(3)], new AbortController().signal);
    } catch (e) {
      err = e as Error;
    }
    await untrusted.close();
    assert(err, "an unknown CA must be rejected");
    assertMatch(err.message, /certificate|UnknownIssuer|invalid peer/i);
  } finally {
    await rx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

const RSYSLOGD = "/usr/sbin/rsyslogd";
const haveRsyslog = (() => {
  try {
    return Deno.statSync(RSYSLOGD).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "outputs: syslog through a real rsyslogd keeps severity and message",
  ignore: skipIf(!haveRsyslog, "rsyslogd is not installed (scripts/setup.sh installs rsyslog)"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-rsyslog-" });
    const conf = `${dir}/rsyslog.conf`;
    await Deno.writeTextFile(
      conf,
      [
        `global(workDirectory="${dir}")`,
        `module(load="imuxsock" SysSock.Use="off")`,
        `input(type="imuxsock" Socket="${dir}/log.sock")`,
        `template(name="t" type="string" string="%syslogfacility-text%.%syslogseverity-text% %programname% %msg%\\n")`,
        `*.* action(type="omfile" file="${dir}/out.log" template="t")`,
      ].join("\n") + "\n",
    );
    const child = new Deno.Command(RSYSLOGD, {
      args: ["-n", "-f", conf, "-i", `${dir}/rsyslogd.pid`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      await waitFor("rsyslog socket", async () => {
        try {
          return (await Deno.stat(`${dir}/log.sock`)).isSocket || undefined;
        } catch {
          return undefined;
        }
      });
      const out = new SyslogOutput({ json: false, path: `${dir}/log.sock`, facility: "local5" });
      await out.write([alert(1, "Critical"), alert(2, "Notice")]);
      await out.close();
      const lines = await waitFor("rsyslog file", async () => {
        const l = await readLines(`${dir}/out.log`);
        return l.length >= 2 ? l : undefined;
      });
      assertEquals(lines.map((l) => l.replace(/^(\S+ \S+)  +/, "$1 ")), [
        `local5.crit saker ${alert(1, "Critical").text}`,
        `local5.notice saker ${alert(2, "Notice").text}`,
      ]);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
