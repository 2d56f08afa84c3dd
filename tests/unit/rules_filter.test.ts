/** Event filters (`saker capture FILTER`, `saker replay FILE FILTER`): matching and event types. */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { compileFilter, FilterError } from "../../src/rules/filter.ts";
import { buildEvent } from "../../src/events/encode.ts";

const open = (name: string) =>
  buildEvent("openat", { tid: 7, pid: 7, comm: "cat" }, {
    fd: 3,
    dirfd: -100,
    name,
    flags: 1,
    mode: 0,
  });

Deno.test("filter: matches on event fields and names the event types it can match", () => {
  const f = compileFilter("evt.type in (open, openat) and evt.arg.name startswith /etc");
  assertEquals(f.eventNames, new Set(["open", "openat"]));
  assert(f.matches(open("/etc/passwd")));
  assert(!f.matches(open("/tmp/x")));
});

Deno.test("filter: a condition naming no event type matches every type", () => {
  assertEquals(compileFilter("evt.arg.name startswith /etc").eventNames, "all");
  assertEquals(compileFilter("not evt.type = openat").eventNames instanceof Set, true);
});

Deno.test("filter: an invalid condition or unknown field is a FilterError with the reason", () => {
  const e1 = assertThrows(() => compileFilter("evt.type = "), "LOAD_ERR_COMPILE_CONDITION");
  assert(e1 instanceof FilterError);
  const e2 = assertThrows(() => compileFilter("proc.nmae = cat"), "proc.nmae");
  assert(e2 instanceof FilterError);
});

Deno.test("filter: fields of another source (ka.* for k8s_audit)", () => {
  assert(compileFilter("ka.verb = create", "k8s_audit").matches);
  assert(assertThrows(() => compileFilter("ka.verb = create")) instanceof FilterError);
});
