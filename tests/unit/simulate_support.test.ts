/**
 * The simulator's pure parts: reading the helper's report lines, selecting actions, and the
 * workspace's cleanup order and error collection.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { parseHelperCalls, requireCall } from "../../src/simulate/command.ts";
import { ACTIONS, selectActions } from "../../src/simulate/catalog.ts";
import { Workspace } from "../../src/simulate/workspace.ts";
import { MIN_GAP_MS, runActions } from "../../src/simulate/runner.ts";
import type { Action } from "../../src/simulate/action.ts";

const result = (stdout: string, code = 0) => ({ code, stdout, stderr: "", pid: 42 });

Deno.test("simulate: helper report lines parse into calls with numbers or errno names", () => {
  const calls = parseHelperCalls(
    "call openat /etc/shadow r 644 = 3\nnoise\ncall ptrace PTRACE_ATTACH pid=7 = -EPERM\n",
  );
  assertEquals(calls.map((c) => [c.name, c.args, c.result]), [
    ["openat", "/etc/shadow r 644", 3],
    ["ptrace", "PTRACE_ATTACH pid=7", "EPERM"],
  ]);
});

Deno.test("simulate: requireCall insists on the call, and on success when asked", () => {
  const r = result("call connect 203.0.113.10:80 tcp = -ECONNREFUSED\n");
  assertEquals(requireCall(r, "connect").result, "ECONNREFUSED");
  assertThrows(() => requireCall(r, "connect", true), "connect failed");
  assertThrows(() => requireCall(r, "dup2"), "no dup2 call");
});

Deno.test("simulate: selection keeps catalogue order and accepts globs", () => {
  const names = selectActions(["container-*", "read-sensitive-file"]).map((a) => a.name);
  assertEquals(names[0], "read-sensitive-file");
  assert(names.slice(1).every((n) => n.startsWith("container-")));
  assertEquals(selectActions([]).length, ACTIONS.length);
  assertThrows(() => selectActions(["contain"]), "'contain'");
});

Deno.test("simulate: workspace cleanups run last-first, collect errors, remove the directory", async () => {
  const ws = await Workspace.open("saker-sim-unit-");
  const order: number[] = [];
  ws.defer(() => void order.push(1));
  ws.defer(() => {
    throw new Error("boom");
  });
  ws.defer(() => void order.push(3));
  await Deno.writeTextFile(ws.path("f"), "x");
  const errors = await ws.close();
  assertEquals(order, [3, 1]);
  assertEquals(errors.length, 1);
  assert(errors[0].includes("boom"));
  await assertRejects(() => Deno.stat(ws.dir));
  assertEquals(await ws.close(), []);
  assertThrows(() => ws.defer(() => {}), "closed");
});

Deno.test("simulate: actions are apart, so windows of whole ms never overlap", async () => {
  assert(MIN_GAP_MS >= 3);
  const quick: Action = {
    name: "quick",
    technique: "T0000",
    summary: "does nothing",
    kind: "host",
    needs: [],
    expect: [],
    run: () => Promise.resolve({ facts: {}, evidence: [] }),
  };
  for (let round = 0; round < 5; round++) {
    const reports = await runActions([quick, { ...quick, name: "quick2" }, quick]);
    for (let i = 1; i < reports.length; i++) {
      // endMs and startMs are whole ms: a pause of 3 ms or more leaves at least 2 between them,
      // so an event 1 ms after the previous end still falls before the next start.
      assert(
        reports[i].startMs - reports[i - 1].endMs >= 2,
        `${reports[i - 1].endMs} then ${reports[i].startMs}`,
      );
    }
  }
});
