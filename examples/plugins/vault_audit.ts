/**
 * A minimal third-party Saker plugin: HashiCorp Vault's file audit device log (one JSON object
 * per line, `{"type":"request","auth":{...},"request":{...}}`) as the event source `vault_audit`,
 * with five fields. Load it with a `plugins:` entry:
 *
 * ```yaml
 * load_plugins: [vault_audit]
 * plugins:
 *   - name: vault_audit
 *     library_path: plugins/vault_audit.ts   # relative to the config file
 *     init_config: { follow: false }
 *     open_params: /var/log/vault/audit.log
 * ```
 *
 * and write rules of `source: vault_audit`:
 *
 * ```yaml
 * - rule: Vault audit device disabled
 *   desc: An audit device was removed, so later requests may go unrecorded.
 *   condition: vault.type = request and vault.operation = delete and vault.path startswith sys/audit/
 *   output: Vault audit device disabled (user=%vault.user path=%vault.path from=%vault.remote_addr)
 *   priority: CRITICAL
 *   source: vault_audit
 * ```
 *
 * The module imports nothing from Saker: a plugin is a plain object of the documented shape
 * (src/plugins/api.ts), exported as `default`.
 * @module
 */

/** Whether `open` keeps reading lines appended to the log (`init_config.follow`). */
let follow = false;

type Entry = {
  type?: string;
  time?: string;
  error?: string;
  auth?: { display_name?: string };
  request?: { operation?: string; path?: string; remote_address?: string };
};

const entry = (ev: { value: unknown }): Entry =>
  ev.value !== null && typeof ev.value === "object" ? ev.value as Entry : {};

const plugin = {
  name: "vault_audit",
  version: "0.1.0",
  description: "HashiCorp Vault audit log",
  source: "vault_audit",
  fields: [
    {
      name: "vault.type",
      type: "string",
      desc: "request or response.",
      extract: (ev: { value: unknown }) => entry(ev).type,
    },
    {
      name: "vault.operation",
      type: "string",
      desc: "Operation: read, create, update, delete, list.",
      extract: (ev: { value: unknown }) => entry(ev).request?.operation,
    },
    {
      name: "vault.path",
      type: "string",
      desc: "Path the request is for (secret/data/app, sys/audit/file).",
      extract: (ev: { value: unknown }) => entry(ev).request?.path,
    },
    {
      name: "vault.user",
      type: "string",
      desc: "Display name of the token that made the request.",
      extract: (ev: { value: unknown }) => entry(ev).auth?.display_name,
    },
    {
      name: "vault.remote_addr",
      type: "string",
      desc: "Address the request came from.",
      extract: (ev: { value: unknown }) => entry(ev).request?.remote_address,
    },
  ],
  init(config: unknown) {
    const c = typeof config === "string" && config !== "" ? JSON.parse(config) : config ?? {};
    follow = c.follow === true;
  },
  async *open(path: string, ctx: { signal: AbortSignal }) {
    let offset = 0;
    let rest = "";
    do {
      const bytes = await Deno.readFile(path);
      const text = rest + new TextDecoder().decode(bytes.subarray(offset));
      offset = bytes.length;
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      const batch = lines.filter((l) => l.trim() !== "").map((data) => ({
        data,
        ts: (JSON.parse(data) as Entry).time,
      }));
      if (batch.length > 0) yield batch;
      if (follow) await new Promise((r) => setTimeout(r, 200));
    } while (follow && !ctx.signal.aborted);
  },
};

export default plugin;
