/**
 * Small building blocks the actions share.
 * @module
 */

import type { ActionContext } from "../action.ts";
import { type CommandResult, runCommand, type RunOptions } from "../command.ts";

/**
 * Copies the helper into the action's workspace under another name, so the process shows that
 * name (`proc.name` comes from the executable's file name), e.g. a fake web server `httpd`.
 */
export async function helperAs(ctx: ActionContext, name: string): Promise<string> {
  const path = ctx.ws.path(name);
  await Deno.copyFile(await ctx.helper(), path);
  await Deno.chmod(path, 0o755);
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
