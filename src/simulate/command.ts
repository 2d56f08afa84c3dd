/**
 * Running the programs an action uses: wait for them with a deadline, collect their output,
 * and parse the helper's `call NAME ARGS = RESULT` report lines.
 *
 * @example
 * ```ts
 * const r = await runCommand("ip", ["netns", "exec", ns, helper, "connect", ip, "80", "tcp"]);
 * requireCall(r, "connect", true).result; // 0, or throws naming the call
 * ```
 * @module
 */

/** Output of a finished program. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Process id it ran with (the alert of a rule can name it). */
  pid: number;
}

/** Options for {@linkcode runCommand}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Start from an empty environment (only `env`). */
  clearEnv?: boolean;
  /** Text written to stdin (stdin is /dev/null otherwise). */
  stdin?: string;
  /** Kill the program (SIGKILL, by its pid) after this many ms; default 30 s. */
  timeoutMs?: number;
}

/**
 * Runs a program to completion.
 *
 * @example
 * ```ts
 * const r = await runCommand("/bin/true", []);
 * console.log(r.code); // 0
 * ```
 */
export async function runCommand(
  program: string,
  args: string[],
  opts: RunOptions = {},
): Promise<CommandResult> {
  const child = new Deno.Command(program, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, opts.timeoutMs ?? 30_000);
  try {
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      pid: child.pid,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a program and throws (with its stderr) unless it exits 0. */
export async function mustRun(
  program: string,
  args: string[],
  opts: RunOptions = {},
): Promise<CommandResult> {
  const r = await runCommand(program, args, opts);
  if (r.code !== 0) {
    const msg = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${program} ${args.join(" ")} exited ${r.code}: ${msg}`);
  }
  return r;
}

/** One system call the helper reported. */
export interface HelperCall {
  name: string;
  args: string;
  /** The number returned, or the errno name (e.g. "EPERM") when it failed. */
  result: number | string;
  line: string;
}

/** Parses the helper's report lines (`call NAME ARGS = RESULT`). */
export function parseHelperCalls(stdout: string): HelperCall[] {
  const calls: HelperCall[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^call (\S+) (.*) = (-?)(\S+)$/.exec(line);
    if (!m) continue;
    const result = m[3] === "-" ? m[4] : Number(m[4]);
    calls.push({ name: m[1], args: m[2], result, line });
  }
  return calls;
}

/**
 * Returns the helper's report of `name`, and throws when the helper did not make that call
 * (or, with `mustSucceed`, when the call failed).
 */
export function requireCall(
  r: CommandResult,
  name: string,
  mustSucceed = false,
): HelperCall {
  const call = parseHelperCalls(r.stdout).find((c) => c.name === name);
  if (!call) {
    const why = (r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ");
    throw new Error(`helper made no ${name} call (exit ${r.code}): ${why}`);
  }
  if (mustSucceed && typeof call.result !== "number") {
    throw new Error(`${name} failed: ${call.line}`);
  }
  return call;
}

/** True when a program is found on PATH (or is an existing absolute path). */
export async function which(program: string): Promise<string | undefined> {
  const dirs = program.includes("/")
    ? [""]
    : (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  for (const d of dirs) {
    const p = d ? `${d}/${program}` : program;
    try {
      const st = await Deno.stat(p);
      if (st.isFile && (st.mode ?? 0) & 0o111) return p;
    } catch { /* not here */ }
  }
  return undefined;
}
