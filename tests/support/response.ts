/**
 * Fixtures of the response tests: an alert whose rule asks for an action on a process, and a
 * response engine of the test's own (no audit output, the agent's own pids protected, a private
 * metrics registry), each with only what a test changes spelled out.
 *
 * @example
 * ```ts
 * const engine = responseEngine({ config: { ...defaultConfig().response, mode: "enforce" } });
 * const a = responseAlert("kill", { pid: 4242 });
 * engine.handle([a]);
 * ```
 * @module
 */
import { ResponseEngine, type ResponseOptions } from "../../src/agent/response.ts";
import { defaultConfig } from "../../src/config/spec.ts";
import { Registry } from "../../src/metrics.ts";
import type { ActionKind, ResponseTarget } from "../../src/rules/actions.ts";
import type { Alert } from "../../src/rules/alert.ts";

/** A host process as a response target: root's `/x` named `x` unless `t` says otherwise. */
export function responseTarget(t: Partial<ResponseTarget> & { pid: number }): ResponseTarget {
  return { name: "x", exepath: "/x", user: "root", uid: 0, containerId: "", image: "", ...t };
}

/** An alert of rule `r` (or `rule`, at `time`) whose one action `kind` aims at `target`. */
export function responseAlert(
  kind: ActionKind,
  target: Partial<ResponseTarget> & { pid: number },
  o: { rule?: string; time?: bigint } = {},
): Alert {
  return {
    time: o.time ?? 1n,
    rule: o.rule ?? "r",
    priority: "Warning",
    source: "syscall",
    tags: [],
    output: "o",
    outputFields: {},
    response: { rule: { actions: [{ kind }] }, target: responseTarget(target) },
  };
}

/**
 * A response engine with the default response config, audit alerts and JSON dropped, no runtime
 * sockets, its own metrics registry and this process as the agent; `o` replaces any of these.
 */
export function responseEngine(o: Partial<ResponseOptions> = {}): ResponseEngine {
  return new ResponseEngine({
    config: defaultConfig().response,
    audit: () => {},
    json: () => "{}",
    sockets: [],
    registry: new Registry(),
    self: { pid: Deno.pid, ppid: Deno.ppid },
    ...o,
  });
}
