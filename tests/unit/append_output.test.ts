/**
 * Falco's output settings applied when rules are built: `append_output` (matching by source, tags
 * and rule, `extra_output`, `suggested_output` with the container and Kubernetes fields as
 * `container_id=%container.id ...`, `extra_fields` raw and formatted, bad entries reported by
 * index), `static_fields` and `buffer_format_base64`. Through the real loader, ruleset, state
 * store and field extractors.
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import type { Alert } from "../../src/rules/alert.ts";
import { StateStore } from "../../src/state/store.ts";
import type { ContainerInfo } from "../../src/state/model.ts";
import { buildEvent } from "../../src/events/encode.ts";
import { additionsFor, suggestedFormat } from "../../src/rules/output_additions.ts";
import { buildEngineRules, outputAdditions } from "../../src/agent/build_rules.ts";
import type { AppendOutputEntry } from "../../src/config/spec.ts";
import { RulesError } from "../../src/agent/rules_builder.ts";
import { setStaticFields } from "../../src/rules/fields/static.ts";
import { bufferText, setBufferFormatBase64 } from "../../src/rules/buffer_format.ts";

const RULES = `
- rule: Shell in container
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: "shell %proc.name in %container.name"
  priority: WARNING
  tags: [container, shell]
- rule: Passwd opened
  desc: d
  condition: evt.type = openat and fd.name = /etc/passwd
  output: "passwd opened by %proc.name"
  priority: NOTICE
  tags: [filesystem]
`;

const CID = "ab".repeat(32);
const loaded = loadRulesText([{ name: "r.yaml", text: RULES }]);

function world() {
  const containers = new Map<string, ContainerInfo>();
  containers.set(CID, {
    id: CID,
    type: "podman",
    name: "web-1",
    image: "localhost/app:1.2",
    imageRepository: "localhost/app",
    imageTag: "1.2",
    privileged: false,
    mounts: [],
    labels: { "io.kubernetes.pod.name": "web-pod", "io.kubernetes.pod.namespace": "prod" },
  } as ContainerInfo);
  const state = new StateStore({
    containers: {
      get: (id) => containers.get(id),
      request: () => {},
      set: () => {},
    },
  });
  state.addThread({ tid: 1, pid: 1, ppid: 0, comm: "init", exe: "/sbin/init", cwd: "/" });
  state.addThread({ tid: 50, pid: 50, ppid: 1, comm: "sh", exe: "/bin/sh", containerId: CID });
  state.addThread({ tid: 60, pid: 60, ppid: 1, comm: "cat", exe: "/bin/cat" });
  state.linkChildren();
  return state;
}

function alertsWith(entries: AppendOutputEntry[]): Alert[] {
  const state = world();
  const rs = compileRuleset(loaded, { ruleMatching: "all", additions: outputAdditions(entries) });
  const out: Alert[] = [];
  const fire = (pid: number, name: string, params: Record<string, unknown>) => {
    const ev = buildEvent(
      name,
      { tid: pid, pid, comm: state.threads.get(pid)!.proc!.comm },
      params,
    );
    state.update(ev);
    rs.evaluate(ev, (a) => out.push(a));
  };
  fire(50, "execve", { res: 0, exe: "/bin/sh", args: [], tid: 50, pid: 50, ptid: 1, cwd: "/" });
  fire(60, "openat", { fd: 3, dirfd: -100, name: "/etc/passwd", flags: 1, mode: 0 });
  return out;
}

Deno.test("append_output: suggested_output appends the container and Kubernetes fields", () => {
  const [shell, passwd] = alertsWith([{ suggested_output: true }]);
  assertEquals(
    shell.output,
    "shell sh in web-1 container_id=abababababab container_image_repository=localhost/app " +
      "container_image_tag=1.2 k8s_pod_name=web-pod k8s_ns_name=prod",
    "container.name is named by the rule already, so it is not appended again",
  );
  assertEquals(shell.outputFields["container.id"], "abababababab");
  assertEquals(shell.outputFields["k8s.ns.name"], "prod");
  assertEquals(
    passwd.output,
    "passwd opened by cat container_id=host container_name=host " +
      "container_image_repository=<NA> container_image_tag=<NA> k8s_pod_name=<NA> k8s_ns_name=<NA>",
  );
  assertEquals(passwd.outputFields["container.image.tag"], null);
  assertEquals(suggestedFormat("container.image.tag"), "container_image_tag=%container.image.tag");
});

Deno.test("append_output: match on source, tags (all of them) and rule", () => {
  const [shell, passwd] = alertsWith([
    { match: { tags: ["container", "shell"] }, extra_output: "pid=%proc.pid" },
    { match: { tags: ["container", "network"] }, extra_output: "never" },
    { match: { rule: "Passwd opened" }, extra_output: "(fd %fd.num)" },
    { match: { source: "k8s_audit" }, extra_output: "audit only" },
    { match: { source: "syscall" }, extra_output: "on CPU %evt.cpu" },
  ]);
  assertEquals(shell.output, "shell sh in web-1 pid=50 on CPU 0");
  assertEquals(shell.outputFields["proc.pid"], 50);
  assertEquals(passwd.output, "passwd opened by cat (fd 3) on CPU 0");
});

Deno.test("append_output: extra_fields add output_fields, raw or formatted, not text", () => {
  const [shell] = alertsWith([{
    extra_fields: ["proc.pid", { where: "%container.name/%proc.name" }, { home: "/root" }],
  }]);
  assertEquals(shell.output, "shell sh in web-1");
  assertEquals(shell.outputFields["proc.pid"], 50, "a field name gives the typed value");
  assertEquals(shell.outputFields.where, "web-1/sh");
  assertEquals(shell.outputFields.home, "/root");
});

Deno.test("append_output: a bad entry is reported by index; other sources skip what they lack", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/r.yaml`, RULES);
    const build = (entries: AppendOutputEntry[]) =>
      buildEngineRules([`${dir}/r.yaml`], {
        priority: "Debug",
        ruleMatching: "first",
        selection: [],
        appendOutput: entries,
      });
    const ok = await build([{ extra_output: "cpu=%evt.cpu" }, { suggested_output: true }]);
    assert(ok.ruleCount === 2);
    const err = await build([{ suggested_output: true }, { extra_output: "x=%proc.nosuch" }])
      .catch((e) => e);
    assert(err instanceof RulesError, String(err));
    assert(err.problems[0].startsWith("append_output[1]: "), err.problems[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("append_output: additions in order, a later extra field replaces an earlier one", () => {
  const r = { name: "r", source: "syscall", tags: ["a"], outputText: "x %proc.name" };
  const got = additionsFor(r, [
    { format: "one", fields: [{ name: "k", format: "%proc.pid", raw: true }] },
    { format: "two", match: { tags: ["a"] }, fields: [{ name: "k", format: "v", raw: false }] },
  ]);
  assertEquals(got.outputText, "x %proc.name one two");
  assertEquals(got.fields, [{ name: "k", format: "v", raw: false }]);
  assertThrows(() => compileRuleset(loaded, { additions: [{ format: "%proc.nosuch" }] }));
});

Deno.test("static_fields: static.NAME in conditions and in the suggested output", () => {
  setStaticFields({ env: "prod", team: "sec" });
  try {
    const rules = loadRulesText([{
      name: "s.yaml",
      text: `
- rule: prod shell
  desc: d
  condition: evt.type = execve and proc.name = sh and static.env = prod
  output: "shell in %static.env"
  priority: WARNING
- rule: dev shell
  desc: d
  condition: evt.type = execve and proc.name = sh and static.env = dev
  output: "never"
  priority: WARNING
- rule: unset
  desc: d
  condition: evt.type = execve and static.nosuch exists
  output: "never"
  priority: WARNING
`,
    }]);
    assertEquals(rules.results.flatMap((r) => r.errors), []);
    const state = world();
    const rs = compileRuleset(rules, {
      ruleMatching: "all",
      additions: outputAdditions([{ suggested_output: true }]),
    });
    const out: Alert[] = [];
    const ev = buildEvent("execve", { tid: 50, pid: 50, comm: "sh" }, {
      res: 0,
      exe: "/bin/sh",
      args: [],
      tid: 50,
      pid: 50,
      ptid: 1,
      cwd: "/",
    });
    state.update(ev);
    rs.evaluate(ev, (a) => out.push(a));
    assertEquals(out.map((a) => a.rule), ["prod shell"]);
    assert(out[0].output.startsWith("shell in prod container_id=abababababab"), out[0].output);
    assert(out[0].output.endsWith(" static_team=sec"), "static.env is named already");
    assertEquals(out[0].outputFields["static.team"], "sec");
  } finally {
    setStaticFields({});
  }
});

Deno.test("buffer_format_base64: data buffers print as base64 or as printable text", () => {
  const bytes = new Uint8Array([104, 105, 0, 255]);
  assertEquals(bufferText(bytes), "hi..");
  setBufferFormatBase64(true);
  try {
    assertEquals(bufferText(bytes), "aGkA/w==");
  } finally {
    setBufferFormatBase64(false);
  }
});
