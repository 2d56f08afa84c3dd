/**
 * Kubernetes audit files through the commands, checked against the audit JSON read by the test
 * itself:
 *
 * - `saker run --disable-source syscall` with Falco's k8saudit plugin config and a `file://`
 *   open_params tails the log: lines appended while it runs alert, what was there before does
 *   not, and it follows a rotation (rename, new file) and a truncation (copytruncate).
 * - `saker replay DIR` reads a directory of plain, gzip and pretty-printed files, oldest first,
 *   and names a line that is not an audit event by file and line.
 * - `saker replay` of the legacy suite's recorded audit events prints, for every event, the
 *   `ka.*` values the event's JSON holds (read here with JSON.parse, not with Saker's code).
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { saker, SakerProcess } from "../support/saker.ts";
import { secretGet } from "../support/fleet.ts";

const RULE = `- rule: secret read by a tailing test user
  desc: a get of a secret by a user whose name starts with tail-
  condition: ka.verb = get and ka.target.resource = secrets and ka.user.name startswith tail-
  output: "%ka.user.name read secret %ka.target.namespace/%ka.target.name"
  priority: WARNING
  source: k8s_audit
`;

const line = (o: unknown) => JSON.stringify(o) + "\n";

Deno.test("saker run: a file:// audit log is tailed through rotation and truncation", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-audit-tail-" }));
  const log = `${dir}/audit.log`;
  await Deno.writeTextFile(`${dir}/rules.yaml`, RULE);
  await Deno.writeTextFile(log, line(secretGet("tail-before", "db")));
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `rules_files: [${dir}/rules.yaml]
json_output: true
stdout_output: {enabled: true}
alert_store: {enabled: false}
webserver: {enabled: false}
watch_config_files: false
load_plugins: [k8saudit, json]
plugins:
  - name: k8saudit
    library_path: libk8saudit.so
    open_params: "file://${log}"
  - name: json
    library_path: libjson.so
`,
  );
  const agent = SakerProcess.start([
    "run",
    "-c",
    `${dir}/config.yaml`,
    "--disable-source",
    "syscall",
  ]);
  const users = () => agent.jsonLines().map((a) => String(a.output).split(" ").at(-4));
  const append = (o: unknown) => Deno.writeTextFile(log, line(o), { append: true });
  try {
    await agent.running();
    // Tailing starts at the end of the file, once the input is open: wait for a first line.
    let n = 0;
    await agent.waitFor("the tail to start", async () => {
      await append(secretGet(`tail-sync-${++n}`, "db"));
      await new Promise((r) => setTimeout(r, 200));
      return users().some((u) => u?.startsWith("tail-sync-"));
    });
    const before = users().length;
    await append(secretGet("tail-1", "db"));
    await append(secretGet("tail-2", "db"));
    await agent.waitFor("tail-1 and tail-2", () => users().includes("tail-2"));
    // logrotate: renamed, a new file in its place.
    await Deno.rename(log, `${log}.1`);
    await Deno.writeTextFile(log, line(secretGet("tail-3", "db")));
    await agent.waitFor("tail-3 from the new file", () => users().includes("tail-3"));
    // copytruncate: the same file cut to nothing, then written again.
    await Deno.truncate(log, 0);
    await Deno.writeTextFile(log, line(secretGet("tail-4", "db")), { append: true });
    await agent.waitFor("tail-4 after the truncation", () => users().includes("tail-4"));
    assertEquals(users().slice(before), ["tail-1", "tail-2", "tail-3", "tail-4"]);
    assert(!users().includes("tail-before"), "a line present before the start was read");
    const status = await agent.stop();
    assertEquals(status.code, 0, agent.stderr().slice(-2000));
  } finally {
    await agent.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("saker replay DIR: plain, gzip and pretty-printed files, oldest first", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "saker-audit-dir-" }));
  const logs = `${dir}/logs`;
  try {
    await Deno.mkdir(logs);
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULE);
    // Written oldest first: c (pretty JSON), then a (gzip, two lines, one broken), then b.
    await Deno.writeTextFile(`${logs}/c.json`, JSON.stringify(secretGet("tail-c", "db"), null, 2));
    await Deno.utime(`${logs}/c.json`, 1_700_000_000, 1_700_000_000);
    await Deno.writeFile(
      `${logs}/a.log.gz`,
      await gzip(
        line(secretGet("tail-a1", "db")) + "{not json\n" + line(secretGet("tail-a2", "db")),
      ),
    );
    await Deno.utime(`${logs}/a.log.gz`, 1_700_000_100, 1_700_000_100);
    await Deno.writeTextFile(`${logs}/b.jsonl`, line(secretGet("tail-b", "db")));
    await Deno.utime(`${logs}/b.jsonl`, 1_700_000_200, 1_700_000_200);
    const r = await saker(["replay", logs, "-r", `${dir}/rules.yaml`, "--json", "--no-progress"]);
    assertEquals(r.code, 0, r.stderr);
    const got = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
      String(JSON.parse(l).output).split(" ").at(-4)
    );
    assertEquals(got, ["tail-c", "tail-a1", "tail-a2", "tail-b"]);
    assertStringIncludes(r.stderr, `${logs}/a.log.gz:2`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const FIELDS = [
  "ka.auditid",
  "ka.stage",
  "ka.verb",
  "ka.user.name",
  "ka.target.resource",
  "ka.target.namespace",
  "ka.target.name",
  "ka.target.subresource",
  "ka.uri",
  "ka.response.code",
  "ka.useragent",
  "ka.impuser.name",
];

/** What each field is, in the audit event's own JSON (the Kubernetes audit.k8s.io/v1 schema). */
// deno-lint-ignore no-explicit-any
function expected(e: Record<string, any>): string[] {
  const s = (v: unknown) => v === undefined || v === null || v === "" ? "<NA>" : String(v);
  return [
    s(e.auditID),
    s(e.stage),
    s(e.verb),
    s(e.user?.username),
    s(e.objectRef?.resource),
    s(e.objectRef?.namespace),
    s(e.objectRef?.name),
    s(e.objectRef?.subresource),
    s(e.requestURI),
    s(e.responseStatus?.code),
    s(e.userAgent),
    s(e.impersonatedUser?.username),
  ];
}

Deno.test({
  name: "saker replay of recorded audit events prints the values their JSON holds",
  ignore: needsReference(),
  async fn() {
    const dir = `${REFERENCE_DIR}/falco-legacy-tests/trace_files/k8s_audit`;
    const want: string[] = [];
    let files = 0;
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      for (const l of (await Deno.readTextFile(`${dir}/${e.name}`)).split("\n")) {
        if (!l.trim()) continue;
        const obj = JSON.parse(l);
        if (obj.kind !== "Event") continue; // (one file holds {"kind": 0} on purpose)
        want.push(expected(obj).join("\t"));
      }
      files++;
    }
    assert(files >= 40 && want.length >= 40, `${files} files, ${want.length} events`);
    const r = await saker([
      "replay",
      dir,
      "--no-rules",
      "--no-progress",
      "-p",
      // "*": every event, also those missing some of the fields (printed <NA>).
      "*" + FIELDS.map((f) => `%${f}`).join("\t"),
    ]);
    assertEquals(r.code, 0, r.stderr);
    const got = r.stdout.split("\n").filter((l) => l !== "");
    // Files are read oldest first; compare as sorted lists of rows.
    assertEquals(got.slice().sort(), want.slice().sort());
    assertStringIncludes(r.stderr, "fal_01_003.json:1");
  },
});
