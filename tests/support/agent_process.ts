/**
 * A real `saker run` process for live tests: started from a config text, its API address read
 * from its start-up log, its stdout and stderr collected, stopped with SIGTERM.
 *
 * @example
 * ```ts
 * const run = await startSaker(dir, "json_output: true\n", ["-U"]);
 * await fetch(`${run.api}/metrics`);
 * await run.stop();
 * ```
 * @module
 */
import { REPO_ROOT } from "./env.ts";
import { collectText, waitFor } from "./saker.ts";

export { waitFor };

/** A running agent. */
export interface SakerProcess {
  child: Deno.ChildProcess;
  /** Base URL of its API, e.g. http://127.0.0.1:41234. */
  api: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Deno.CommandStatus>;
  /** SIGTERM, then the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Starts `saker run -c DIR/config.yaml ARGS...` (or `opts.command`) with `config` after a base
 * that listens on a free port, stores alerts under `dir` and watches no files (unless
 * `opts.watch`); a top-level key `config` sets itself (`webserver:` ...) replaces the base's.
 */
export async function startSaker(
  dir: string,
  config: string,
  args: string[] = [],
  opts: { watch?: boolean; command?: string } = {},
): Promise<SakerProcess> {
  const base: Record<string, string> = {
    alert_store: `{path: ${dir}/alerts.db}`,
    webserver: "{listen_port: 0}",
    watch_config_files: String(opts.watch === true),
  };
  const own = new Set([...config.matchAll(/^([\w.]+):/gm)].map((m) => m[1]));
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    Object.entries(base).filter(([k]) => !own.has(k)).map(([k, v]) => `${k}: ${v}\n`).join("") +
      config,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-check",
      "src/main.ts",
      opts.command ?? "run",
      "-c",
      `${dir}/config.yaml`,
      ...args,
    ],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = collectText(child.stdout);
  const err = collectText(child.stderr);
  const exited = child.status.then(async (s) => {
    await out.done;
    await err.done;
    return s;
  });
  let early: Deno.CommandStatus | undefined;
  exited.then((s) => early = s);
  const api = await waitFor("saker to start", () => {
    if (early) throw new Error(`saker exited early (${early.code}):\n${err.text()}`);
    return /saker running .*api=(\S+)/.exec(err.text())?.[1];
  }, 60_000);
  return {
    child,
    api,
    stdout: out.text,
    stderr: err.text,
    exited,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      return await exited;
    },
  };
}
