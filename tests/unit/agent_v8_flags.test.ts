/**
 * The V8 flags the agent runs with are one fact, AGENT_V8_FLAGS: every launcher of `saker run`
 * passes exactly them (deno.json's `run` task on the command line, the systemd unit and the
 * DaemonSet through DENO_V8_FLAGS, the compiled program through `deno compile --v8-flags`, since
 * Deno's runtime for compiled programs does not read DENO_V8_FLAGS), and they take effect: a Deno started with them keeps its
 * young generation within the bound however fast it allocates.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { REPO_ROOT } from "../support/env.ts";
import { parseAllDocuments } from "yaml";
import { AGENT_V8_FLAGS } from "../../src/agent/heap.ts";
import { compileArgs } from "../../scripts/compile.ts";

const FLAGS = AGENT_V8_FLAGS.join(",");

Deno.test("v8 flags: deno.json's run task passes the agent's V8 flags", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.json`)).tasks;
  const run = / deno run ([^&]*) src\/main\.ts run /.exec(tasks.run);
  assert(run, `the run task starts src/main.ts: ${tasks.run}`);
  assertEquals(run[1].split(" ").filter((a) => a.startsWith("--v8-flags")), [
    `--v8-flags=${FLAGS}`,
  ]);
});

Deno.test("v8 flags: the systemd unit and the DaemonSet set DENO_V8_FLAGS to them", () => {
  const unit = Deno.readTextFileSync(`${REPO_ROOT}deploy/systemd/saker.service`);
  assertEquals(unit.match(/^Environment=DENO_V8_FLAGS=.*$/gm), [
    `Environment=DENO_V8_FLAGS=${FLAGS}`,
  ]);
  const docs = parseAllDocuments(
    Deno.readTextFileSync(`${REPO_ROOT}deploy/kubernetes/daemonset.yaml`),
  ).map((d) => d.toJS());
  const ds = docs.find((d) => d?.kind === "DaemonSet");
  const env = ds.spec.template.spec.containers[0].env;
  // deno-lint-ignore no-explicit-any
  assertEquals(env.filter((e: any) => e.name === "DENO_V8_FLAGS"), [
    { name: "DENO_V8_FLAGS", value: FLAGS },
  ]);
});

Deno.test("v8 flags: the compiled program has them built in", () => {
  const args = compileArgs("entry.js", "dist/saker");
  assertEquals(args.filter((a) => a.startsWith("--v8-flags")), [`--v8-flags=${FLAGS}`]);
  // deno compile takes its own flags before the entry; anything after it is the program's.
  assert(args.indexOf(`--v8-flags=${FLAGS}`) < args.indexOf("entry.js"), args.join(" "));
});

Deno.test("v8 flags: they bound the young generation of a Deno started with them", async () => {
  const code = `
    import v8 from "node:v8";
    let keep = [], most = 0;
    for (let r = 0; r < 100; r++) {
      for (let i = 0; i < 100000; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 50000) keep = []; }
      const s = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
      most = Math.max(most, s.space_size);
    }
    console.log(most);`;
  const young = async (flags: string) => {
    const env: Record<string, string> = { ...Deno.env.toObject(), DENO_V8_FLAGS: flags };
    if (!flags) delete env.DENO_V8_FLAGS;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env,
      clearEnv: true,
      stdout: "piped",
    }).output();
    assert(out.success, "deno eval ran");
    return Number(new TextDecoder().decode(out.stdout));
  };
  const semi = Number(/--max-semi-space-size=(\d+)/.exec(FLAGS)?.[1]);
  const bounded = await young(FLAGS);
  const unbounded = await young("");
  // Two semi-spaces, and pages V8 keeps in the young generation for a collection or two (pinned
  // or promoted in place): 8-12 MB measured with 4 MiB semi-spaces, 64 MB without the flags.
  assert(bounded <= 4 * semi * 2 ** 20, `young generation with the flags: ${bounded} bytes`);
  assert(unbounded >= 2 * bounded, `without them: ${unbounded} bytes, with: ${bounded} bytes`);
});
