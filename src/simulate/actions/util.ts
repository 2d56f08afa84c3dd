/**
 * Small building blocks the actions share.
 *
 * @example
 * ```ts
 * const nginx = await helperAs(ctx, "nginx"); // a copy of the helper named as rules know it
 * await createFile(`${ctx.ws.dir}/payload`, "x", 0o755);
 * ```
 * @module
 */

import type { ActionContext } from "../action.ts";
import { type CommandResult, runCommand, type RunOptions } from "../command.ts";
import { randomSuffix, removeIfPresent } from "../workspace.ts";

/**
 * Gives the helper another name in the action's workspace, so the process shows that name
 * (`proc.name` comes from the executable's file name), e.g. a fake web server `httpd`. A hard
 * link where it can be: a copy made executable and run from a temporary directory is itself
 * what the "Dropped binary executed" sequence looks for.
 */
export async function helperAs(ctx: ActionContext, name: string): Promise<string> {
  const path = ctx.ws.path(name);
  const helper = await ctx.helper();
  try {
    await Deno.link(helper, path);
  } catch {
    await Deno.copyFile(helper, path);
    await Deno.chmod(path, 0o755);
  }
  return path;
}

/** Runs the host helper with a mode and arguments. */
export async function runHelper(
  ctx: ActionContext,
  args: string[],
  opts: RunOptions = {},
): Promise<CommandResult> {
  return runCommand(await ctx.helper(), args, opts);
}

/** Creates a file with content without truncating anything on the way (O_CREAT|O_EXCL). */
export async function createFile(path: string, content: string, mode = 0o600): Promise<void> {
  const f = await Deno.open(path, { createNew: true, write: true, mode });
  try {
    await f.write(new TextEncoder().encode(content));
  } finally {
    f.close();
  }
}

/** Output of a command as evidence lines (trimmed, empty lines dropped). */
export function evidenceOf(r: CommandResult, label: string): string[] {
  const lines = [`${label}: exit ${r.code} pid ${r.pid}`];
  for (const l of (r.stdout + "\n" + r.stderr).split("\n")) if (l.trim()) lines.push(l.trim());
  return lines;
}

/** Throws unless the command ran and exited with one of the accepted codes. */
export function expectExit(r: CommandResult, label: string, accepted: number[] = [0]): void {
  if (!accepted.includes(r.code)) {
    const why = (r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ");
    throw new Error(`${label} exited ${r.code}: ${why}`);
  }
}

/**
 * Copies the helper, under `name`, into a directory every user can enter (removed after), for
 * attacks run as an unprivileged user (the helper's cache and the workspace are root's only).
 */
export async function helperForAnyone(ctx: ActionContext, name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "saker-sim-any-" });
  ctx.ws.defer(() => Deno.remove(dir, { recursive: true }));
  await Deno.chmod(dir, 0o755);
  const path = `${dir}/${name}`;
  await Deno.copyFile(await ctx.helper(), path);
  await Deno.chmod(path, 0o755);
  return path;
}

/** The command line that runs `argv` as the unprivileged service account daemon. */
export function asDaemon(argv: string[]): string[] {
  return ["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups", ...argv];
}

/**
 * The command line that runs `argv` with an audit login uid of `uid`, as a logged-in user's
 * process has (a shell writes /proc/self/loginuid, then becomes the program).
 */
export function withLoginUid(uid: number, argv: string[]): string[] {
  return ["sh", "-c", `echo ${uid} > /proc/self/loginuid && exec "$0" "$@"`, ...argv];
}

/**
 * A home directory /home/saker-sim-XXXXXXXX with an empty .ssh directory (removed after): where
 * rules look for users' ssh files.
 */
export async function fakeHome(ctx: ActionContext): Promise<string> {
  const home = `/home/saker-sim-${randomSuffix()}`;
  ctx.ws.defer(() => removeIfPresent(home));
  await Deno.mkdir(`${home}/.ssh`, { recursive: true, mode: 0o700 });
  return home;
}
