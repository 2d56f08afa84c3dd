/**
 * Falco's logging keys through the CLI: `log_stderr: false` keeps stderr free of log lines,
 * `log_syslog: true` sends each message as a syslog datagram (facility user, severity from the
 * level) to the socket syslog_output.path names. A real unix datagram socket stands for
 * /dev/log.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { UnixDatagramReceiver } from "../../src/outputs/unix_dgram.ts";

async function dryRun(dir: string, options: string[]) {
  await Deno.writeTextFile(
    `${dir}/r.yaml`,
    "- rule: r\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n",
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}src/main.ts`, "run", "--dry-run", "-r", `${dir}/r.yaml`]
      .concat(["-o", "alert_store.enabled=false", "-o", "log_level=info"])
      .concat(options.flatMap((o) => ["-o", o])),
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, err: new TextDecoder().decode(r.stderr) };
}

Deno.test("log_stderr and log_syslog: logs leave stderr and reach syslog", async () => {
  const dir = await Deno.makeTempDir();
  const sock = new UnixDatagramReceiver(`${dir}/log.sock`);
  try {
    const plain = await dryRun(dir, []);
    assertEquals(plain.code, 0, plain.err);
    assert(plain.err.includes(" info no config file found"), plain.err);

    const r = await dryRun(dir, [
      "log_stderr=false",
      "log_syslog=true",
      `syslog_output.path=${dir}/log.sock`,
    ]);
    assertEquals(r.code, 0, r.err);
    assert(!r.err.includes(" info "), `no log lines on stderr: ${r.err}`);
    const msgs: string[] = [];
    for (let d = sock.tryReceive(); d; d = sock.tryReceive()) {
      msgs.push(new TextDecoder().decode(d));
    }
    const first = msgs.find((m) => m.includes("no config file found"));
    assert(first, msgs.join("\n"));
    assertMatch(
      first,
      /^<14>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d saker\[\d+\]: no config file found/,
    );
  } finally {
    sock.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log_syslog: a missing socket is said once and the command goes on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await dryRun(dir, ["log_syslog=true", `syslog_output.path=${dir}/none.sock`]);
    assertEquals(r.code, 0, r.err);
    assertEquals(r.err.split("\n").filter((l) => l.startsWith("log_syslog: cannot log")).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
