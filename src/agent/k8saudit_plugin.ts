/**
 * The k8saudit plugin on the plugin interface: Kubernetes audit events from the API server's
 * webhook (on the agent's own server, or on a listener of its own as Falco's plugin runs) or
 * from audit log files, with the `ka.*` fields (src/rules/fields/k8saudit.ts). The agent opens it
 * like any other plugin: `init` takes the entry's `init_config` (`maxEventSize`,
 * `webhookMaxBatchSize`, `sslCertificate`), `open` the entry's `open_params`
 * (`http://[host]:port/path`, `https://...`, `file:///path` to follow a log, or a path read
 * once), and {@link AGENT_ENDPOINT} followed by a path mounts the webhook on the agent's server
 * (what `webserver.k8s_audit_endpoint` asks for).
 *
 * @example
 * ```ts
 * import { k8sauditPlugin } from "./k8saudit_plugin.ts";
 * const plugin = k8sauditPlugin();
 * plugin.init?.({ maxEventSize: 65536 });
 * // openPluginSource(plugin, "file:///var/log/kubernetes/audit.log")
 * ```
 * @module
 */
import { Hono } from "hono";
import type { Plugin, PluginEventInput } from "../plugins/api.ts";
import { K8SAUDIT_PLUGIN_FIELDS } from "../rules/fields/k8saudit.ts";
import {
  type AuditConfigIssue,
  type AuditInput,
  type AuditLimits,
  describeAuditInput,
  initConfig,
  openParams,
} from "../k8saudit/audit_inputs.ts";
import type { AuditEvent } from "../k8saudit/audit_event.ts";
import { AuditWebhook } from "../sources/k8saudit_webhook.ts";
import { openAuditFileSource } from "../sources/k8saudit_file.ts";
import { serveApi } from "../server/server.ts";
import type { Registry } from "../metrics.ts";

/** `open_params` prefix that mounts the webhook on the agent's own server at the path after it. */
export const AGENT_ENDPOINT = "saker-api:";

/** An opened input: its batches and how to stop it. */
interface OpenedInput {
  readable: ReadableStream<AuditEvent[]>;
  close(): Promise<void>;
}

function problems(errors: AuditConfigIssue[]): Error {
  return new Error(errors.map((e) => `${e.key}: ${e.message}`).join("; "));
}

/** The k8saudit plugin (one per agent: its counters go to `registry`). */
export function k8sauditPlugin(opts: { registry?: Registry } = {}): Plugin {
  let limits: AuditLimits | undefined;
  let ssl = "/etc/falco/falco.pem";
  const registry = opts.registry;
  return {
    ...K8SAUDIT_PLUGIN_FIELDS,
    init(config) {
      const errors: AuditConfigIssue[] = [];
      const r = initConfig(config, "init_config", errors);
      if (errors.length > 0) throw problems(errors);
      limits = r.limits;
      ssl = r.ssl;
    },
    async *open(params, ctx): AsyncGenerator<PluginEventInput[]> {
      const lim = limits ?? initConfig("", "init_config", []).limits;
      let input: AuditInput | undefined;
      if (params.startsWith(AGENT_ENDPOINT)) {
        input = { kind: "endpoint", path: params.slice(AGENT_ENDPOINT.length), ...lim };
      } else {
        const errors: AuditConfigIssue[] = [];
        input = openParams(params, "open_params", lim, ssl, errors);
        if (!input) throw problems(errors);
      }
      let opened: OpenedInput;
      switch (input.kind) {
        case "endpoint": {
          if (!ctx.mount) throw new Error("the agent's web server is disabled (webserver.enabled)");
          const hook = new AuditWebhook({ ...webhookLimits(input), registry });
          ctx.mount(input.path, (req) => hook.app.fetch(stripPrefix(req, input!.path)), {
            ownBodyLimit: true,
          });
          opened = hook;
          break;
        }
        case "listen": {
          const hook = new AuditWebhook({ ...webhookLimits(input), registry });
          const app = new Hono();
          app.route(input.path, hook.app);
          app.notFound(() => Response.json({ error: "not found" }, { status: 404 }));
          const server = await serveApi(app, {
            hostname: input.hostname,
            port: input.port,
            tlsPemFile: input.tlsPemFile,
          });
          const url = `${server.scheme}://${server.addr.hostname}:${server.addr.port}${input.path}`;
          ctx.log("info", "k8s audit webhook", { url });
          opened = {
            readable: hook.readable,
            close: async () => {
              await hook.close();
              await server.shutdown();
            },
          };
          break;
        }
        case "file":
          opened = await openAuditFileSource(input.path, {
            follow: input.follow,
            maxEventBytes: input.maxEventBytes,
            registry,
          });
          break;
      }
      if (input.kind !== "listen") {
        ctx.log("info", "k8s audit input", { input: describeAuditInput(input) });
      }
      const stop = () => void opened.close();
      ctx.signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const batch of opened.readable) yield batch;
      } finally {
        ctx.signal.removeEventListener("abort", stop);
        await opened.close();
      }
    },
  };
}

function webhookLimits(i: AuditLimits): { maxBodyBytes: number; maxEventBytes: number } {
  return { maxBodyBytes: i.maxBodyBytes, maxEventBytes: i.maxEventBytes };
}

/** The request with the mount path taken off its URL (the webhook app routes from its root). */
function stripPrefix(req: Request, prefix: string): Request {
  const url = new URL(req.url);
  const base = prefix.replace(/\/$/, "");
  if (base !== "" && url.pathname.startsWith(base)) {
    url.pathname = url.pathname.slice(base.length) || "/";
  }
  return new Request(url, req);
}
