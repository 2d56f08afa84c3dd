/**
 * The agent's Kubernetes audit inputs (what src/k8saudit/audit_inputs.ts reads from the config), each
 * opened as an event source the agent runs in a pipeline of its own with the k8s_audit rules:
 * the webhook on the agent's server (`webserver.k8s_audit_endpoint`), a webhook listener of its
 * own and audit log files (the `k8saudit` plugin entry's `open_params`).
 *
 * @example
 * ```ts
 * import { openAuditSources } from "./audit_sources.ts";
 * // Agent.start(config, { ..., openExtraSources: openAuditSources })
 * ```
 * @module
 */
import type { Agent, AgentSource } from "./agent.ts";
import type { Config } from "../config/spec.ts";
import { log } from "../log.ts";
import { type AuditInput, auditInputs } from "../k8saudit/audit_inputs.ts";
import { AuditWebhook } from "../sources/k8saudit_webhook.ts";
import { openAuditFileSource } from "../sources/k8saudit_file.ts";
import { serveApi } from "../server/server.ts";
import { Hono } from "hono";

/** Opens one input. */
async function open(input: AuditInput, agent: Agent): Promise<AgentSource> {
  const registry = agent.registry;
  switch (input.kind) {
    case "endpoint": {
      const hook = new AuditWebhook({
        maxBodyBytes: input.maxBodyBytes,
        maxEventBytes: input.maxEventBytes,
        registry,
      });
      agent.mount(input.path, hook.app, { ownBodyLimit: true });
      const a = agent.apiAddress;
      log.info("k8s audit webhook", {
        url: a ? `http://${a.hostname}:${a.port}${input.path}` : input.path,
      });
      return {
        source: hook.source,
        readable: hook.readable,
        close: () => hook.close(),
        stats: () => ({ received: hook.stats().received }),
      };
    }
    case "listen": {
      const hook = new AuditWebhook({
        maxBodyBytes: input.maxBodyBytes,
        maxEventBytes: input.maxEventBytes,
        registry,
      });
      const app = new Hono();
      app.route(input.path, hook.app);
      app.notFound(() => Response.json({ error: "not found" }, { status: 404 }));
      const server = await serveApi(app, {
        hostname: input.hostname,
        port: input.port,
        tlsPemFile: input.tlsPemFile,
      });
      log.info("k8s audit webhook", {
        url: `${server.scheme}://${server.addr.hostname}:${server.addr.port}${input.path}`,
      });
      return {
        source: hook.source,
        readable: hook.readable,
        close: async () => {
          await hook.close();
          await server.shutdown();
        },
        stats: () => ({ received: hook.stats().received }),
      };
    }
    case "file": {
      const src = await openAuditFileSource(input.path, {
        follow: input.follow,
        maxEventBytes: input.maxEventBytes,
        registry,
      });
      log.info("k8s audit file", { path: input.path, follow: input.follow });
      return {
        source: src.source,
        readable: src.readable,
        close: () => src.close(),
        stats: () => ({ received: src.stats().received }),
      };
    }
  }
}

/** Opens every Kubernetes audit input the config names (for AgentDeps.openExtraSources). */
export async function openAuditSources(config: Config, agent: Agent): Promise<AgentSource[]> {
  const { inputs, errors } = auditInputs(config);
  // The config loader has reported these already; an input with an error is not opened.
  if (errors.length > 0) log.warn("k8s audit inputs with errors", { errors: errors.length });
  const out: AgentSource[] = [];
  try {
    for (const input of inputs) out.push(await open(input, agent));
  } catch (err) {
    for (const s of out) await s.close();
    throw err;
  }
  return out;
}

/** Which event sources run. */
export interface SourceChoice {
  syscall: boolean;
  k8sAudit: boolean;
}

/**
 * Falco's `--enable-source` (only these) and `--disable-source` (all but these) for the sources
 * Saker has; throws with a message for unknown names, both options at once, or none left.
 */
export function chooseSources(enable: string[], disable: string[]): SourceChoice {
  const known = ["syscall", "k8s_audit"];
  for (const s of [...enable, ...disable]) {
    if (!known.includes(s)) {
      throw new Error(`unknown event source ${s} (known: ${known.join(", ")})`);
    }
  }
  if (enable.length > 0 && disable.length > 0) {
    throw new Error("--enable-source and --disable-source cannot be used together");
  }
  const on = (s: string) => enable.length > 0 ? enable.includes(s) : !disable.includes(s);
  const choice = { syscall: on("syscall"), k8sAudit: on("k8s_audit") };
  if (!choice.syscall && !choice.k8sAudit) throw new Error("every event source is disabled");
  return choice;
}
