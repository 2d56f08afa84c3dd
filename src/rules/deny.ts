/**
 * Which rules can `deny`, and what the probe needs to do it: a `deny` action is decided in the
 * kernel, at the system call, before the alert exists, so the rule's condition must be reducible
 * to facts the probe has there. Those are:
 *
 * - the event type: `execve`/`execveat` (the probe checks the new executable before its first
 *   instruction) or `open`/`openat`/`openat2`/`creat` (the opened file, before the caller sees
 *   the descriptor);
 * - the path: `proc.exepath` for executions, `fd.name` for opens, with `=` or `in`, absolute
 *   paths shorter than 256 bytes;
 * - the process name: `proc.name` with `=` or `in` (the kernel's comm, at most 15 bytes): for
 *   executions the new program's name, with or instead of `proc.exepath`; for opens the opener's,
 *   with `fd.name`;
 * - optionally `container.id != host` (processes in containers only) or `container.id = host`
 *   (host processes only);
 * - `evt.dir = <` (always true of live events).
 *
 * The condition must be a conjunction of these (after macros and lists are expanded). Anything
 * else (an `or`, a negation, an exception, another field) is refused with the reason, at load.
 *
 * @example
 * ```ts
 * import { denyPlan } from "./deny.ts";
 * // rule: evt.type = execve and proc.exepath in (/usr/bin/nc, /bin/nc) and container.id != host
 * // denyPlan(rule) -> { kind: "exec", paths: ["/usr/bin/nc", "/bin/nc"], comms: [],
 * //                     host: false, container: true }
 * ```
 * @module
 */
import type { Expr } from "./ast.ts";

/** What the probe does for a rule that denies. */
export interface DenyPlan {
  /** `exec`: executables; `open`: files. */
  kind: "exec" | "open";
  /** Empty: any executable (an exec denied by process name alone). */
  paths: string[];
  /** Process names (comm) the deny is for; empty: any process. */
  comms: string[];
  /** Applies to host processes. */
  host: boolean;
  /** Applies to processes in containers. */
  container: boolean;
}

const EXEC_EVENTS = new Set(["execve", "execveat"]);
const OPEN_EVENTS = new Set(["open", "openat", "openat2", "creat"]);
/** Longest deny path in bytes (the probe's key holds 256, NUL included). */
export const MAX_DENY_PATH = 255;
/** Longest process name in bytes (the kernel keeps 15 and a NUL). */
export const MAX_DENY_COMM = 15;
/** Most (name, path) pairs one rule may put in the probe (its deny maps hold 1024 entries). */
export const MAX_DENY_PAIRS = 1024;

const FACTS = "the probe decides deny on evt.type (execve, execveat, open, openat, openat2, " +
  "creat), proc.exepath (executions) or fd.name (opens) and proc.name with = or in, and " +
  "container.id = host or != host, joined by and";

function values(e: Expr & { kind: "binary" }): string[] | undefined {
  const r = e.right;
  if (r.kind === "value" && e.op === "=") return [r.value];
  if (r.kind === "list" && e.op === "in") return [...r.values];
  return undefined;
}

/** The literals of a conjunction, or undefined when `e` is not one. */
function conjuncts(e: Expr, out: Expr[] = []): Expr[] {
  if (e.kind === "and") { for (const c of e.children) conjuncts(c, out); }
  else out.push(e);
  return out;
}

function text(e: Expr): string {
  if (e.kind === "binary" && e.left.kind === "field") {
    const r = e.right;
    const v = r.kind === "value"
      ? r.value
      : r.kind === "list"
      ? `(${r.values.join(", ")})`
      : r.kind === "field"
      ? r.name
      : "...";
    return `${e.left.name} ${e.op} ${v}`;
  }
  if (e.kind === "unary" && e.left.kind === "field") return `${e.left.name} exists`;
  if (e.kind === "or") return "an 'or'";
  if (e.kind === "not") return "a negation ('not', or an exception)";
  return e.kind;
}

/**
 * The deny plan of a rule's condition (macros expanded), or why the probe cannot decide it (a
 * sentence for the validation error).
 */
export function denyPlan(ast: Expr): DenyPlan | string {
  let events: string[] | undefined;
  let paths: string[] | undefined;
  let pathField = "";
  let comms: string[] | undefined;
  let host = true, container = true;
  for (const e of conjuncts(ast)) {
    if (e.kind !== "binary" || e.left.kind !== "field" || e.left.arg !== undefined) {
      return `cannot deny: ${FACTS}; ${text(e)} is not one of these`;
    }
    const field = e.left.name;
    const vals = values(e);
    if (field === "evt.type" && vals) {
      events = events ? events.filter((v) => vals.includes(v)) : vals;
    } else if ((field === "proc.exepath" || field === "fd.name") && vals) {
      if (paths && pathField === field) paths = paths.filter((p) => vals.includes(p));
      else if (paths) return `cannot deny: both proc.exepath and fd.name are tested; ${FACTS}`;
      else paths = vals;
      pathField = field;
    } else if (field === "proc.name" && vals) {
      comms = comms ? comms.filter((v) => vals.includes(v)) : vals;
    } else if (field === "container.id" && e.right.kind === "value" && e.right.value === "host") {
      if (e.op === "=") container = false;
      else if (e.op === "!=") host = false;
      else return `cannot deny: ${FACTS}; ${text(e)} is not one of these`;
    } else if (
      field === "evt.dir" && e.op === "=" && e.right.kind === "value" &&
      e.right.value === "<"
    ) {
      continue;
    } else {
      return `cannot deny: ${FACTS}; ${text(e)} is not one of these`;
    }
  }
  if (!events || events.length === 0) {
    return "cannot deny: the condition must name its events (evt.type = execve, or an open " +
      "call); the probe decides only on executions and opens";
  }
  const exec = events.every((e) => EXEC_EVENTS.has(e));
  const open = events.every((e) => OPEN_EVENTS.has(e));
  if (!exec && !open) {
    return `cannot deny: evt.type must be executions (execve, execveat) or opens (open, openat, ` +
      `openat2, creat), not ${events.join(", ")}`;
  }
  const want = exec ? "proc.exepath" : "fd.name";
  if (paths && pathField !== want) {
    return `cannot deny: the condition must test ${want} for ${
      exec ? "executions" : "opens"
    }, not ${pathField}`;
  }
  if (!paths && !(exec && comms)) {
    return exec
      ? "cannot deny: the condition must test proc.exepath = PATH or in (PATHS), or " +
        "proc.name = NAME or in (NAMES), for executions"
      : "cannot deny: the condition must test fd.name = PATH or fd.name in (PATHS) for opens";
  }
  if (!host && !container) return "cannot deny: the condition matches neither host nor container";
  if ((paths && paths.length === 0) || (comms && comms.length === 0)) {
    return "cannot deny: the condition's sets have no value in common (it never matches)";
  }
  for (const p of paths ?? []) {
    if (!p.startsWith("/")) return `cannot deny: ${want} value '${p}' is not an absolute path`;
    if (new TextEncoder().encode(p).length > MAX_DENY_PATH) {
      return `cannot deny: ${want} value '${p.slice(0, 40)}...' is longer than ` +
        `${MAX_DENY_PATH} bytes`;
    }
  }
  for (const c of comms ?? []) {
    if (c === "" || new TextEncoder().encode(c).length > MAX_DENY_COMM) {
      return `cannot deny: proc.name value '${c.slice(0, 40)}' is ${
        c === "" ? "empty" : `longer than ${MAX_DENY_COMM} bytes`
      } (the kernel keeps a process name's first ${MAX_DENY_COMM} bytes)`;
    }
  }
  const p = [...new Set(paths ?? [])], c = [...new Set(comms ?? [])];
  if (Math.max(p.length, 1) * Math.max(c.length, 1) > MAX_DENY_PAIRS) {
    return `cannot deny: ${p.length} paths by ${c.length} process names make more than ` +
      `${MAX_DENY_PAIRS} entries in the probe`;
  }
  return { kind: exec ? "exec" : "open", paths: p, comms: c, host, container };
}
