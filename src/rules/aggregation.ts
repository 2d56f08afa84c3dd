/**
 * Which alerts count as "the same" for aggregation, decided per rule when a ruleset is built (as
 * `append_output` is): the key fields and the windows of every rule, from three layers applied
 * in order, each setting only what it names:
 *
 * 1. the config's defaults (`aggregation.enabled`, `key`, `main_object`, `window`, `max_window`);
 * 2. the rule's own `aggregate:` key (Saker's extension of the rules language);
 * 3. the config's `aggregation.rules` entries whose `match` fits the rule (source, every tag,
 *    rule name), in order: the operator has the last word.
 *
 * The key is the rule plus `key`'s fields plus, with `main_object`, the rule's main object: what
 * the rule is about, found from the fields its condition reads: a network rule's server address
 * and port (`fd.sip`, `fd.sport`: the same service whatever the client's port), a file rule's
 * `fd.name`, the first path argument a rule on paths reads (`evt.arg.target` of a symlink ...),
 * a process rule's parent program (`proc.pexepath`), an audit rule's user and target
 * (`ka.user.name`, `ka.target.resource`, `ka.target.namespace`, `ka.target.name`). Fields that do
 * not exist for the rule's source are left out, so one config serves every source.
 *
 * @example
 * ```ts
 * import { aggregationFor } from "./aggregation.ts";
 * const s = aggregationFor(
 *   { name: "r", source: "syscall", tags: [], fields: ["fd.name", "evt.type"] },
 *   undefined,
 *   { defaults: { enabled: true, key: ["container.id", "proc.exepath"], mainObject: true,
 *     windowMs: 60_000, maxWindowMs: 600_000 }, groups: [] },
 * );
 * s?.key; // ["container.id", "proc.exepath", "fd.name"]
 * ```
 * @module
 */
import type { AggregationSettings } from "./alert.ts";
import { type Expr, fieldsOf, walkExpr } from "./ast.ts";
import { fieldUsableFor, lookupField } from "./fields/core.ts";
import { parseDuration } from "./duration.ts";

/** One layer of aggregation settings; each key optional (unset: the layer below decides). */
export interface AggregationSpec {
  enabled?: boolean;
  /** Key fields besides the rule (and the main object). */
  key?: readonly string[];
  /** Add the rule's main object to the key. */
  mainObject?: boolean;
  windowMs?: number;
  maxWindowMs?: number;
}

/** A config entry setting aggregation for the rules its `match` fits. */
export interface AggregationGroup {
  match?: { source?: string; tags?: readonly string[]; rule?: string };
  spec: AggregationSpec;
}

/** The config's side: defaults and groups. */
export interface AggregationPolicy {
  defaults: Required<AggregationSpec>;
  groups: readonly AggregationGroup[];
}

/** The facts of a rule that decide its aggregation. */
export interface AggregationTarget {
  name: string;
  source: string;
  tags: readonly string[];
  /** Fields the rule's condition reads (see {@link conditionFields}). */
  fields: readonly string[];
}

/** The policy when the config says nothing: no aggregation unless a rule asks for it. */
export const NO_AGGREGATION: AggregationPolicy = {
  defaults: {
    enabled: false,
    key: ["container.id", "proc.exepath"],
    mainObject: true,
    windowMs: 60_000,
    maxWindowMs: 600_000,
  },
  groups: [],
};

const NETWORK_FIELDS = new Set([
  "fd.ip",
  "fd.net",
  "fd.sip",
  "fd.cip",
  "fd.rip",
  "fd.lip",
  "fd.port",
  "fd.sport",
  "fd.cport",
  "fd.rport",
  "fd.lport",
  "fd.snet",
  "fd.cnet",
  "fd.rnet",
  "fd.lnet",
  "fd.l4proto",
  "fd.sockfamily",
  "fd.connected",
  "fd.is_server",
  "fd.sip.name",
  "fd.rip.name",
  "fd.cip.name",
  "fd.lip.name",
]);

const FILE_FIELDS = new Set([
  "fd.name",
  "fd.filename",
  "fd.directory",
  "fd.nameraw",
  "fd.typechar",
  "fd.type",
  "fd.ino",
  "fd.dev",
  "evt.is_open_read",
  "evt.is_open_write",
  "evt.is_open_exec",
  "evt.is_open_create",
]);

/** Path arguments of system calls, what a rule without fd fields is usually about. */
const PATH_ARGS = new Set([
  "evt.arg.name",
  "evt.arg.path",
  "evt.arg.pathname",
  "evt.arg.filename",
  "evt.arg.target",
  "evt.arg.linkpath",
  "evt.arg.oldpath",
  "evt.arg.newpath",
]);

/** The fields a condition reads (macros already expanded), each once, in order of appearance. */
export function conditionFields(ast: Expr): string[] {
  const out = new Set<string>();
  walkExpr(ast, (e) => {
    if (e.kind !== "unary" && e.kind !== "binary") return;
    for (const f of fieldsOf(e.left)) out.add(f.name);
    if (e.kind === "binary") {
      for (const f of fieldsOf(e.right)) out.add(f.name);
    }
  });
  return [...out];
}

/** What a rule is about, as key fields (see the module's description). */
export function mainObjectOf(r: { source: string; fields: readonly string[] }): string[] {
  if (r.source === "k8s_audit") {
    return ["ka.user.name", "ka.target.resource", "ka.target.namespace", "ka.target.name"];
  }
  if (r.source !== "syscall") return [];
  if (r.fields.some((f) => NETWORK_FIELDS.has(f))) return ["fd.sip", "fd.sport"];
  if (r.fields.some((f) => FILE_FIELDS.has(f))) return ["fd.name"];
  const path = r.fields.find((f) => PATH_ARGS.has(f));
  if (path) return [path];
  return ["proc.pexepath"];
}

/** Whether a config entry's `match` fits a rule: same source, every tag, same name (if given). */
export function groupMatches(
  m: AggregationGroup["match"],
  r: { name: string; source: string; tags: readonly string[] },
): boolean {
  if (!m) return true;
  if (m.source !== undefined && m.source !== "" && m.source !== r.source) return false;
  if (m.rule !== undefined && m.rule !== "" && m.rule !== r.name) return false;
  return (m.tags ?? []).every((t) => r.tags.includes(t));
}

/** `spec`'s keys laid over `base`. */
function over(base: Required<AggregationSpec>, spec: AggregationSpec): Required<AggregationSpec> {
  return {
    enabled: spec.enabled ?? base.enabled,
    key: spec.key ?? base.key,
    mainObject: spec.mainObject ?? base.mainObject,
    windowMs: spec.windowMs ?? base.windowMs,
    maxWindowMs: spec.maxWindowMs ?? base.maxWindowMs,
  };
}

/** Whether `field` is a field of `source` (fields of every source count). */
function fieldOf(source: string, field: string): boolean {
  const ref = lookupField(field);
  return ref !== undefined && fieldUsableFor(ref.def, source);
}

/**
 * A rule's aggregation: the config's defaults, then the rule's own `aggregate:`, then the config
 * entries that match it. Undefined when the rule does not aggregate.
 */
export function aggregationFor(
  r: AggregationTarget,
  own: AggregationSpec | undefined,
  policy: AggregationPolicy,
): AggregationSettings | undefined {
  let s = policy.defaults;
  if (own) s = over(s, own);
  for (const g of policy.groups) if (groupMatches(g.match, r)) s = over(s, g.spec);
  if (!s.enabled) return undefined;
  const key = [...s.key];
  if (s.mainObject) key.push(...mainObjectOf(r));
  return {
    key: [...new Set(key)].filter((f) => fieldOf(r.source, f)),
    windowMs: s.windowMs,
    maxWindowMs: Math.max(s.windowMs, s.maxWindowMs),
  };
}

/** Keys a rule's `aggregate:` mapping may carry. */
export const AGGREGATE_KEYS = ["enabled", "key", "main_object", "window", "max_window"] as const;

/**
 * Reads a window given in a rules file: a duration (`30s`, `10m`) or a number of seconds.
 * Returns milliseconds, or a message saying what is accepted.
 */
export function parseWindow(text: string): number | string {
  const t = text.trim();
  const seconds = /^\d+(\.\d+)?$/.test(t) ? Number(t) : parseDuration(t);
  if (seconds === undefined || !(seconds > 0)) {
    return `'${text}' is not a duration: use e.g. 30s, 10m, 1h, or a number of seconds`;
  }
  return Math.round(seconds * 1000);
}

/** Checks key fields for `source`; returns the first field that is unknown there. */
export function unknownKeyField(fields: readonly string[], source: string): string | undefined {
  return fields.find((f) => lookupField(f) === undefined || !fieldOf(source, f));
}
