/**
 * The response engine: runs the actions of the rules that fired (`actions:`, rules/actions.ts),
 * between evaluation and the outputs, so that every alert leaves with its actions' outcomes
 * (`response` in its JSON and in the alert store).
 *
 * Per action: the mode (response_policy.ts: the config's `response.mode` is a ceiling), the
 * protections (pid 1, kernel threads, the agent and its parent, the agent's own container) and
 * the allowlist, the rate limits (per rule and per target), then, in enforce mode, the action:
 *
 * - `kill`: SIGKILL to the process, at once, in the batch that carried its event (the fastest
 *   path from the syscall to the signal that user space has); `kill: tree` stops the process and
 *   its descendants, then kills them all (response_proc.ts);
 * - `stop_container` / `pause_container`: the runtime's Docker-compatible API
 *   (`POST /containers/ID/stop`, `/pause`) on each configured socket;
 * - `exec`: `/bin/sh -c COMMAND` with the alert's JSON on stdin and `SAKER_RULE`, `SAKER_PID`,
 *   `SAKER_CONTAINER_ID` in its environment, killed after its timeout, at most
 *   `response.exec.max_running` at once;
 * - `deny`: decided in the kernel before the alert exists; the engine records what the probe
 *   did, read from the event (`done` when it sent the signal, else why not: `refused` for a
 *   protected or allowlisted process, which the probe spares too). A denial no deny
 *   rule's alert accounts for (a path reached through a symbolic link: the probe matches the path
 *   the kernel resolved, the rule the path as opened) is audited on its own after a grace time.
 *
 * Each outcome is logged, counted (`saker_response_actions_total{rule,action,mode,result}`) and
 * raised as an audit alert (internal source, rule {@link RESPONSE_AUDIT_RULE}); rate-limited
 * ones are counted and logged at a limited rate only, so a storm cannot become an alert storm.
 *
 * @example
 * ```ts
 * import { ResponseEngine } from "./response.ts";
 * const engine = new ResponseEngine({ config: c.response, audit: (a) => fanout.publish(a),
 *   json: (a) => fanout.formatter.json(a), sockets: ["/run/podman/podman.sock"] });
 * engine.handle(alerts); // before fanout.publishAll(alerts)
 * ```
 * @module
 */
import type { ActionOutcome, Alert, Priority } from "../rules/alert.ts";
import { type ActionSpec, describeAction, type ResponseTarget } from "../rules/actions.ts";
import type { ResponseConfig } from "../config/spec.ts";
import { type Counter, metrics as globalMetrics, type Registry } from "../metrics.ts";
import { log, RateLimitedLog } from "../log.ts";
import { unixRequest } from "../state/containers/unix_http.ts";
import {
  ActionLimiter,
  Allowlist,
  containerProtection,
  modeFor,
  protection,
  type Self,
} from "./response_policy.ts";
import { isKernelThread, killProcess, killTree, ownContainerId } from "./response_proc.ts";
import type { DeniedCall } from "../rules/ruleset.ts";
import type { DenyRule } from "./response_deny.ts";

/** Rule name of the audit alerts of actions. */
export const RESPONSE_AUDIT_RULE = "Saker response action";

/** What the engine needs. */
export interface ResponseOptions {
  config: ResponseConfig;
  /** Publishes an audit alert (the fan-out's publish). */
  audit(alert: Alert): void;
  /** The JSON form of an alert (what `exec` reads on stdin). */
  json(alert: Alert): string;
  /** Container runtime API sockets, tried in order. */
  sockets: readonly string[];
  registry?: Registry;
  /**
   * Called when the last pending action of an alert has ended and its outcomes are final (the
   * agent writes them to the stored alert).
   */
  settled?(alert: Alert): void;
  /** /proc of the host (default /proc). */
  proc?: string;
  /** The agent (default this process). */
  self?: Self;
  now?: () => number;
  /**
   * How long a denied call waits for its rule's alert before it is audited on its own (ms,
   * default 5000: longer than an event is held for container metadata).
   */
  denyGraceMs?: number;
}

const limited = new RateLimitedLog(10_000);

/** Runs the actions of alerts. */
export class ResponseEngine {
  #config: ResponseConfig;
  #allow: Allowlist;
  readonly #perRule: ActionLimiter;
  readonly #perTarget: ActionLimiter;
  readonly #audit: (a: Alert) => void;
  readonly #json: (a: Alert) => string;
  readonly #settled: ((a: Alert) => void) | undefined;
  readonly #sockets: readonly string[];
  readonly #proc: string;
  readonly #self: Self;
  readonly #family;
  readonly #counters = new Map<string, Counter>();
  readonly #pending = new Set<Promise<void>>();
  #running = 0;
  readonly #now: () => number;
  readonly #denyGraceMs: number;
  #denyRules: readonly DenyRule[] = [];
  /** Denied calls a deny rule's alert accounted for: `time:pid` -> when (ms). */
  readonly #claimed = new Map<string, number>();
  /** Denied calls still waiting for their alert. */
  #unclaimed: { call: DeniedCall; at: number }[] = [];
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(o: ResponseOptions) {
    this.#config = o.config;
    this.#allow = new Allowlist(o.config.allowlist);
    const periodMs = o.config.rate_limit.period * 1000;
    this.#perRule = new ActionLimiter(o.config.rate_limit.per_rule, periodMs, o.now);
    this.#perTarget = new ActionLimiter(o.config.rate_limit.per_target, periodMs, o.now);
    this.#audit = o.audit;
    this.#json = o.json;
    this.#settled = o.settled;
    this.#sockets = o.sockets;
    this.#proc = o.proc ?? "/proc";
    this.#self = o.self ?? { pid: Deno.pid, ppid: Deno.ppid, containerId: ownContainerId() };
    this.#now = o.now ?? Date.now;
    this.#denyGraceMs = o.denyGraceMs ?? 5000;
    const reg = o.registry ?? globalMetrics;
    this.#family = reg.counter(
      "saker_response_actions_total",
      "Response actions by rule, action, mode and result (done, would, refused, rate_limited, " +
        "failed).",
      ["rule", "action", "mode", "result"],
    );
    reg.gauge("saker_response_exec_running", "exec actions running now.").labels().collect = () =>
      this.#running;
  }

  /** New settings (reload); rate-limit counts so far stay. Applies from the next alert on. */
  configure(c: ResponseConfig): void {
    this.#config = c;
    this.#allow = new Allowlist(c.allowlist);
    this.#perRule.configure(c.rate_limit.per_rule, c.rate_limit.period * 1000);
    this.#perTarget.configure(c.rate_limit.per_target, c.rate_limit.period * 1000);
  }

  /** Runs the actions of every alert that has some; sets their outcomes. Never waits. */
  handle(alerts: readonly Alert[]): void {
    for (const a of alerts) if (a.response && !a.response.outcomes) this.#respond(a);
  }

  /** The running deny rules (what a denial no alert accounts for is attributed to). */
  setDenyRules(rules: readonly DenyRule[]): void {
    this.#denyRules = rules;
  }

  /**
   * Calls the probe denied (events marked RECORD_DENIED). Each is audited on its own unless the
   * alert of a deny rule for the same event arrives within the grace time.
   */
  noteDenied(calls: readonly DeniedCall[]): void {
    if (calls.length === 0) return;
    const at = this.#now();
    for (const call of calls) this.#unclaimed.push({ call, at });
    this.#sweepTimer ??= setTimeout(() => this.sweepDenied(), this.#denyGraceMs);
  }

  /**
   * Audits the denied calls whose grace time has passed and that no alert accounted for; `all`:
   * every waiting one (the agent stops). Called by its own timer.
   */
  sweepDenied(all = false): void {
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    const now = this.#now();
    const due = all ? Infinity : now - this.#denyGraceMs;
    const waiting: { call: DeniedCall; at: number }[] = [];
    for (const u of this.#unclaimed) {
      if (u.at > due) {
        waiting.push(u);
        continue;
      }
      const key = `${u.call.time}:${u.call.target.pid}`;
      if (this.#claimed.delete(key)) continue;
      this.#auditDenial(u.call);
    }
    this.#unclaimed = waiting;
    for (const [key, at] of this.#claimed) {
      if (at < now - 10 * this.#denyGraceMs) this.#claimed.delete(key);
    }
    if (waiting.length > 0) {
      this.#sweepTimer = setTimeout(
        () => this.sweepDenied(),
        Math.max(1, waiting[0].at + this.#denyGraceMs - now),
      );
    }
  }

  /** Resolves once every action under way (container calls, commands) has ended. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Stops the engine's timer; denied calls still waiting are audited now. */
  close(): void {
    this.sweepDenied(true);
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  /** The audit of a denial no alert accounted for, attributed to the deny rule of its path. */
  #auditDenial(call: DeniedCall): void {
    let real = call.path;
    try {
      real = Deno.realPathSync(call.path);
    } catch { /* gone, or not reachable from here: the path as opened */ }
    const rule = this.#denyRules.find((r) =>
      r.plan.kind === call.kind &&
      (r.plan.comms.length === 0 || r.plan.comms.includes(call.target.name)) &&
      (r.plan.paths.length === 0 || r.plan.paths.includes(real) ||
        r.plan.paths.includes(call.path))
    );
    const alert: Alert = {
      time: call.time,
      rule: rule?.name ?? "(a deny rule no longer loaded)",
      priority: "Warning",
      source: "syscall",
      tags: rule ? [...rule.tags] : [],
      output: "",
      outputFields: {},
      response: { rule: { actions: [{ kind: "deny" }] }, target: call.target },
    };
    const o: ActionOutcome = {
      action: "deny",
      mode: "enforce",
      result: "done",
      pid: call.target.pid,
      container: "",
      detail: `in the kernel: ${call.kind} of ${call.path}${
        real !== call.path ? ` (${real})` : ""
      }; the rule's condition did not match the event as user space sees it`,
    };
    this.#record(alert, o);
  }

  #respond(alert: Alert): void {
    const r = alert.response!;
    const outcomes: ActionOutcome[] = [];
    r.outcomes = outcomes;
    for (const spec of r.rule.actions) {
      const o = this.#decide(alert, spec, r.target);
      outcomes.push(o);
      this.#record(alert, o);
    }
  }

  #decide(alert: Alert, spec: ActionSpec, t: ResponseTarget): ActionOutcome {
    const rule = { name: alert.rule, source: alert.source, tags: alert.tags };
    const mode = modeFor(rule, alert.response!.rule.mode, this.#config);
    const action = describeAction(spec);
    const onContainer = spec.kind === "stop_container" || spec.kind === "pause_container";
    const base: ActionOutcome = {
      action,
      mode,
      result: "done",
      pid: onContainer || spec.kind === "exec" ? 0 : t.pid,
      container: onContainer ? t.containerId : "",
    };
    const refuse = (detail: string): ActionOutcome => ({ ...base, result: "refused", detail });
    if (spec.kind === "deny") {
      // The probe decided at the system call; its event says whether it sent the signal.
      if (t.denied) {
        this.#claimed.set(`${alert.time}:${t.pid}`, this.#now());
        return { ...base, detail: "in the kernel" };
      }
      // The probe spares what these spare (deny.h): a monitor outcome predicts that too.
      const why = protection({ pid: t.pid, kernelThread: false }, this.#self) ??
        this.#allow.match(t);
      if (why) return refuse(why);
      if (mode === "monitor") return { ...base, result: "would", detail: "in the kernel" };
      return {
        ...base,
        result: "failed",
        detail: "the probe did not stop it (not a live event, or the path the kernel resolved " +
          "is not in the deny set)",
      };
    }
    if (spec.kind !== "exec") {
      const why = onContainer
        ? containerProtection(t.containerId, this.#self)
        : protection({ pid: t.pid, kernelThread: isKernelThread(t.pid, this.#proc) }, this.#self);
      if (why) return refuse(why);
      const allowed = this.#allow.match(t);
      if (allowed) return refuse(allowed);
    }
    const ruleKey = `${alert.rule}\u0000${action}`;
    const targetKey = spec.kind === "exec"
      ? undefined
      : onContainer
      ? `container:${t.containerId}`
      : `pid:${t.pid}`;
    if (!this.#perRule.peek(ruleKey) || (targetKey && !this.#perTarget.peek(targetKey))) {
      return { ...base, result: "rate_limited" };
    }
    this.#perRule.take(ruleKey);
    if (targetKey) this.#perTarget.take(targetKey);
    if (mode === "monitor") return { ...base, result: "would" };
    switch (spec.kind) {
      case "kill":
        return this.#kill(base, t.pid, spec.tree === true);
      case "stop_container":
      case "pause_container":
        return this.#later(
          alert,
          { ...base, result: "pending" },
          (o) => this.#container(o, spec.kind === "stop_container" ? "stop" : "pause"),
        );
      case "exec": {
        if (this.#running >= this.#config.exec.max_running) {
          return { ...base, result: "refused", detail: "too many commands running" };
        }
        return this.#later(alert, { ...base, result: "pending" }, () => this.#exec(alert, spec));
      }
    }
  }

  #kill(base: ActionOutcome, pid: number, tree: boolean): ActionOutcome {
    if (!tree) {
      const err = killProcess(pid);
      return err ? { ...base, result: "failed", detail: err } : base;
    }
    const spare = (p: number) =>
      protection({ pid: p, kernelThread: false }, this.#self) !== undefined;
    const { killed, error } = killTree(pid, spare, this.#proc);
    if (error) return { ...base, result: "failed", detail: error };
    return { ...base, detail: `pids ${killed.join(",")}` };
  }

  /**
   * Starts an action that takes time: its outcome stays `pending` until `run` settles it (in
   * place, so an alert not yet stored is stored with the result), then it is recorded and, once
   * the alert has no pending action left, `settled` is told.
   */
  #later(
    alert: Alert,
    pending: ActionOutcome,
    run: (o: ActionOutcome) => Promise<Partial<ActionOutcome>>,
  ): ActionOutcome {
    const p = run(pending).then(
      (r) => r,
      (err): Partial<ActionOutcome> => ({ result: "failed", detail: (err as Error).message }),
    ).then((r) => {
      Object.assign(pending, r);
      this.#record(alert, pending, true);
      if (!alert.response!.outcomes!.some((o) => o.result === "pending")) this.#settled?.(alert);
    });
    const q = p.catch((err) => log.error("response action failed", { error: err }))
      .finally(() => this.#pending.delete(q));
    this.#pending.add(q);
    return pending;
  }

  async #container(base: ActionOutcome, verb: "stop" | "pause"): Promise<Partial<ActionOutcome>> {
    const id = encodeURIComponent(base.container);
    const path = verb === "stop"
      ? `/containers/${id}/stop?t=${this.#config.stop_timeout}`
      : `/containers/${id}/pause`;
    const timeoutMs = (this.#config.stop_timeout + 10) * 1000;
    let detail = "no container runtime socket answered";
    let ok = false;
    for (const socket of this.#sockets) {
      try {
        const answer = await unixRequest(socket, "POST", path, timeoutMs);
        if (answer.status === 204 || answer.status === 200 || answer.status === 304) {
          ok = true;
          detail = answer.status === 304 ? `already ${verb === "stop" ? "stopped" : "paused"}` : "";
          break;
        }
        detail = `${socket}: HTTP ${answer.status} ${messageOf(answer.body)}`.trim();
        if (answer.status !== 404) break;
      } catch (err) {
        detail = `${socket}: ${(err as Error).message}`;
      }
    }
    return ok ? { result: "done", ...(detail ? { detail } : {}) } : { result: "failed", detail };
  }

  async #exec(alert: Alert, spec: ActionSpec): Promise<Partial<ActionOutcome>> {
    const timeoutMs = spec.timeoutMs ?? this.#config.exec.timeout * 1000;
    const t = alert.response!.target;
    this.#running++;
    let o: Partial<ActionOutcome>;
    try {
      const child = new Deno.Command("/bin/sh", {
        args: ["-c", spec.command!],
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
        env: {
          SAKER_RULE: alert.rule,
          SAKER_PRIORITY: alert.priority,
          SAKER_PID: String(t.pid),
          SAKER_CONTAINER_ID: t.containerId,
        },
      }).spawn();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          child.kill("SIGKILL");
        } catch { /* ended */ }
      }, timeoutMs);
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(this.#json(alert) + "\n")).catch(() => {});
      await writer.close().catch(() => {});
      const out = await child.output();
      clearTimeout(timer);
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
      o = timedOut
        ? { result: "failed", detail: `timed out after ${timeoutMs} ms` }
        : out.code === 0
        ? { result: "done" }
        : { result: "failed", detail: `exit ${out.code}${err ? `: ${err}` : ""}` };
    } catch (err) {
      o = { result: "failed", detail: (err as Error).message };
    } finally {
      this.#running--;
    }
    return o;
  }

  /** Counts, logs and audits one outcome (`pending` ones wait for their result). */
  #record(alert: Alert, o: ActionOutcome, late = false): void {
    if (o.result === "pending") return;
    this.#counter(alert.rule, o).inc();
    const fields = {
      rule: alert.rule,
      action: o.action,
      mode: o.mode,
      result: o.result,
      pid: o.pid,
      container: o.container,
      ...(o.detail ? { detail: o.detail } : {}),
    };
    if (o.result === "rate_limited") {
      limited.log("warning", `response:${alert.rule}`, "response action rate limited", fields);
      return;
    }
    log.info("response action", fields);
    this.#audit(auditAlert(alert, o, late));
  }

  #counter(rule: string, o: ActionOutcome): Counter {
    const key = `${rule}\u0000${o.action}\u0000${o.mode}\u0000${o.result}`;
    let c = this.#counters.get(key);
    if (!c) this.#counters.set(key, c = this.#family.labels(rule, o.action, o.mode, o.result));
    return c;
  }
}

function messageOf(body: string): string {
  try {
    const j = JSON.parse(body);
    return String(j.message ?? j.cause ?? "");
  } catch {
    return body.slice(0, 200);
  }
}

const PRIORITY: Record<ActionOutcome["result"], Priority> = {
  done: "Warning",
  would: "Notice",
  refused: "Notice",
  rate_limited: "Notice",
  failed: "Error",
  pending: "Informational",
};

/** The audit alert of one outcome: what was done (or would be), to whom, for which rule. */
export function auditAlert(alert: Alert, o: ActionOutcome, late = false): Alert {
  const t = alert.response!.target;
  const whom = o.container
    ? `container ${o.container}${t.image ? ` (${t.image})` : ""}`
    : o.pid
    ? `pid ${o.pid}${t.name ? ` (${t.name})` : ""}`
    : "command";
  const verb = o.result === "would" ? "would run" : o.result;
  const output = `Saker response: ${o.action} on ${whom} for rule '${alert.rule}' ` +
    `(${o.mode}): ${verb}${o.detail ? ` (${o.detail})` : ""}`;
  const fields: Record<string, string | number> = {
    "response.rule": alert.rule,
    "response.action": o.action,
    "response.mode": o.mode,
    "response.result": o.result,
    "response.pid": o.pid,
    "response.container_id": o.container,
    "response.alert_time": alert.time.toString(),
  };
  if (o.detail) fields["response.detail"] = o.detail;
  return {
    time: late ? BigInt(Date.now()) * 1_000_000n : alert.time,
    rule: RESPONSE_AUDIT_RULE,
    priority: PRIORITY[o.result],
    source: "internal",
    tags: [],
    output,
    outputFields: fields,
  };
}
