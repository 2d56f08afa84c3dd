/**
 * Reads a rules file (YAML documents, each a sequence of items) into the collector, checking the
 * shape of every item as Falco does and recording errors and warnings with positions.
 * @module
 */
import { isMap, isScalar, isSeq, type Node, type Scalar } from "yaml";
import { parseYamlDocuments } from "./yaml.ts";
import {
  Collector,
  type ExceptionEntry,
  type ExceptionInfo,
  type RuleUpdate,
} from "./collector.ts";
import { Context, type ItemType, LoadError, type LoadResult } from "./result.ts";
import { alignScalar, MappedText, type SourceText } from "./source_text.ts";
import { parsePriority, type Priority } from "./alert.ts";
import { ENGINE_VERSION, parseEngineVersion, versionCompatible } from "./engine_version.ts";
import { AGGREGATE_KEYS, type AggregationSpec, parseWindow } from "./aggregation.ts";
import {
  ACTION_KINDS,
  type ActionKind,
  ACTIONS_KEYS,
  type ActionSpec,
  EXEC_KEYS,
  RESPONSE_MODES,
  type ResponseMode,
  type RuleActions,
} from "./actions.ts";
import { readSequence } from "./reader_sequence.ts";

/** A YAML mapping node as the reader walks it. */
export type YMap = { items: { key: unknown; value: unknown }[]; range?: [number, number, number] };

/** Throws a shape error at `ctx`. */
export function fail(msg: string, ctx: Context): never {
  throw new LoadError("LOAD_ERR_YAML_VALIDATE", msg, ctx);
}

const TRUE_WORDS = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"];
const FALSE_WORDS = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"];
const NULL_WORDS = ["", "~", "null", "Null", "NULL"];

/**
 * Reads the items of one rules file. Exported for the readers of Saker's own items
 * (reader_sequence.ts), which use its helpers for keys, scalars and positions.
 */
export class Reader {
  readonly file: SourceText;
  readonly res: LoadResult;
  readonly col: Collector;
  readonly root: Context;

  constructor(file: SourceText, res: LoadResult, col: Collector) {
    this.file = file;
    this.res = res;
    this.col = col;
    this.root = Context.file(file.name);
  }

  ctxAt(parent: Context, type: ItemType, name: string, node: unknown): Context {
    const off = (node as { range?: number[] } | null)?.range?.[0] ??
      parent.last.offset;
    const { line, column } = this.file.lineCol(off);
    return parent.child(type, name, line, column, off, this.file.name);
  }

  isNull(n: unknown): boolean {
    if (n === null || n === undefined) return true;
    return isScalar(n) && (n as Scalar).type === "PLAIN" && NULL_WORDS.includes(String(n.value));
  }

  get(map: YMap, key: string): { present: boolean; value: unknown; keyNode: unknown } {
    for (const p of map.items) {
      if (isScalar(p.key) && String(p.key.value) === key) {
        return { present: true, value: p.value, keyNode: p.key };
      }
    }
    return { present: false, value: undefined, keyNode: undefined };
  }

  has(map: YMap, key: string): boolean {
    return this.get(map, key).present;
  }

  /** Falco's decode_val: required (unless optional), scalar, non-empty. */
  scalar(map: YMap, key: string, ctx: Context, optional: boolean, canBeEmpty = false) {
    const { present, value } = this.get(map, key);
    if (!present) {
      if (optional) return undefined;
      fail(`Item has no mapping for key '${key}'`, ctx);
    }
    if (this.isNull(value)) {
      if (canBeEmpty) return undefined;
      fail(`Mapping for key '${key}' is empty`, ctx);
    }
    const vctx = this.ctxAt(ctx, "value for", key, value);
    if (!isScalar(value)) fail("Value is not a scalar value", vctx);
    const s = String(value.value);
    if (s === "") {
      if (canBeEmpty) return undefined;
      fail("Value must be non-empty", vctx);
    }
    return { text: s, node: value as Scalar, ctx: vctx };
  }

  str(map: YMap, key: string, ctx: Context, optional = false): string | undefined {
    return this.scalar(map, key, ctx, optional)?.text;
  }

  bool(map: YMap, key: string, ctx: Context, optional = true): boolean | undefined {
    const v = this.scalar(map, key, ctx, optional);
    if (!v) return undefined;
    if (TRUE_WORDS.includes(v.text)) return true;
    if (FALSE_WORDS.includes(v.text)) return false;
    fail("Can't decode YAML scalar value", v.ctx);
  }

  uint(map: YMap, key: string, ctx: Context, optional = true): number | undefined {
    const v = this.scalar(map, key, ctx, optional);
    if (!v) return undefined;
    if (!/^[0-9]+$/.test(v.text)) fail("Can't decode YAML scalar value", v.ctx);
    return Number(v.text);
  }

  mapped(map: YMap, key: string, ctx: Context): MappedText {
    const v = this.scalar(map, key, ctx, false)!;
    const r = v.node.range ?? [0, 0, 0];
    return MappedText.scalar(v.text, this.file, alignScalar(v.text, this.file.text, r[0], r[1]));
  }

  seq(map: YMap, key: string, ctx: Context, optional: boolean): string[] | undefined {
    const { present, value } = this.get(map, key);
    if (!present) {
      if (optional) return undefined;
      fail(`Item has no mapping for key '${key}'`, ctx);
    }
    const vctx = this.ctxAt(ctx, "value for", key, value);
    if (!isSeq(value)) fail("Value is not a sequence", vctx);
    const out: string[] = [];
    for (const v of value.items) {
      const ictx = this.ctxAt(vctx, "list item", "", v);
      if (!isScalar(v)) fail("sequence value is not scalar", ictx);
      out.push(String(v.value));
    }
    return out;
  }

  /**
   * A rule's `aggregate:` (Saker's extension): `true`/`false`, or a mapping of `enabled`, `key`
   * (field list), `main_object`, `window` and `max_window` (durations). Noted once per use: Falco
   * warns of an unknown key and ignores it.
   */
  aggregate(map: YMap, ctx: Context): { spec: AggregationSpec; ctx: Context } | undefined {
    const { present, value, keyNode } = this.get(map, "aggregate");
    if (!present) return undefined;
    const actx = this.ctxAt(ctx, "value for", "aggregate", value);
    this.res.note(
      "LOAD_SAKER_EXTENSION",
      "'aggregate' is Saker's extension (alert aggregation); Falco warns of an unknown key and " +
        "ignores it, so the file still loads in Falco, without aggregation",
      this.ctxAt(ctx, "value for", "aggregate", keyNode),
    );
    if (isScalar(value) && !this.isNull(value)) {
      const t = String(value.value);
      if (TRUE_WORDS.includes(t)) return { spec: { enabled: true }, ctx: actx };
      if (FALSE_WORDS.includes(t)) return { spec: { enabled: false }, ctx: actx };
    }
    if (!isMap(value)) {
      fail(
        "Value of 'aggregate' must be true, false or a mapping (enabled, key, main_object, " +
          "window, max_window)",
        actx,
      );
    }
    const m = value as unknown as YMap;
    for (const p of m.items) {
      const k = isScalar(p.key) ? String(p.key.value) : "";
      if (!(AGGREGATE_KEYS as readonly string[]).includes(k)) {
        fail(
          `Unknown key '${k}' in 'aggregate': expected ${AGGREGATE_KEYS.join(", ")}`,
          this.ctxAt(actx, "value for", k, p.key),
        );
      }
    }
    const spec: AggregationSpec = {};
    const enabled = this.bool(m, "enabled", actx);
    if (enabled !== undefined) spec.enabled = enabled;
    // A mapping turns aggregation on unless it says otherwise.
    else spec.enabled = true;
    const key = this.seq(m, "key", actx, true);
    if (key) spec.key = key;
    const main = this.bool(m, "main_object", actx);
    if (main !== undefined) spec.mainObject = main;
    for (const [k, prop] of [["window", "windowMs"], ["max_window", "maxWindowMs"]] as const) {
      const v = this.scalar(m, k, actx, true);
      if (!v) continue;
      const ms = parseWindow(v.text);
      if (typeof ms === "string") fail(ms, v.ctx);
      spec[prop] = ms;
    }
    return { spec, ctx: actx };
  }

  /**
   * A rule's `actions:` (Saker's extension, see actions.ts): a sequence of actions, or a mapping
   * of `mode` and `run` (the sequence). Noted once per use: Falco warns of an unknown key and
   * ignores it.
   */
  actions(map: YMap, ctx: Context): { spec: RuleActions; ctx: Context } | undefined {
    const { present, value, keyNode } = this.get(map, "actions");
    if (!present) return undefined;
    const actx = this.ctxAt(ctx, "value for", "actions", value);
    this.res.note(
      "LOAD_SAKER_EXTENSION",
      "'actions' is Saker's extension (response actions); Falco warns of an unknown key and " +
        "ignores it, so the file still loads in Falco, without actions",
      this.ctxAt(ctx, "value for", "actions", keyNode),
    );
    if (this.isNull(value)) return { spec: { actions: [] }, ctx: actx };
    let mode: ResponseMode | undefined;
    let items: unknown = value;
    if (isMap(value)) {
      const m = value as unknown as YMap;
      for (const p of m.items) {
        const k = isScalar(p.key) ? String(p.key.value) : "";
        if (!(ACTIONS_KEYS as readonly string[]).includes(k)) {
          fail(
            `Unknown key '${k}' in 'actions': expected ${ACTIONS_KEYS.join(", ")}`,
            this.ctxAt(actx, "value for", k, p.key),
          );
        }
      }
      const md = this.scalar(m, "mode", actx, true);
      if (md) {
        if (!(RESPONSE_MODES as readonly string[]).includes(md.text)) {
          fail(`Invalid 'mode' of actions: '${md.text}' (monitor or enforce)`, md.ctx);
        }
        mode = md.text as ResponseMode;
      }
      const run = this.get(m, "run");
      items = run.present ? run.value : null;
      if (!run.present || this.isNull(run.value)) return { spec: { mode, actions: [] }, ctx: actx };
    }
    if (!isSeq(items)) {
      fail(
        "Value of 'actions' must be a sequence of actions (kill, kill: tree, stop_container, " +
          "pause_container, exec, deny) or a mapping of mode and run",
        this.ctxAt(actx, "value for", "actions", items),
      );
    }
    const actions: ActionSpec[] = [];
    for (const item of items.items) actions.push(this.action(item, actx));
    return { spec: mode ? { mode, actions } : { actions }, ctx: actx };
  }

  /** One item of `actions:`: a name, or a mapping of one name to its argument. */
  action(node: unknown, parent: Context): ActionSpec {
    const ctx = this.ctxAt(parent, "list item", "", node);
    const kindOf = (name: string, at: Context): ActionKind => {
      if (!(ACTION_KINDS as readonly string[]).includes(name)) {
        fail(`Unknown action '${name}': expected ${ACTION_KINDS.join(", ")}`, at);
      }
      return name as ActionKind;
    };
    if (isScalar(node) && !this.isNull(node)) {
      const kind = kindOf(String(node.value), ctx);
      if (kind === "exec") fail("'exec' needs a command: exec: COMMAND", ctx);
      return { kind };
    }
    if (!isMap(node) || (node as unknown as YMap).items.length !== 1) {
      fail("An action is a name (kill) or a mapping of one name to its argument (kill: tree)", ctx);
    }
    const pair = (node as unknown as YMap).items[0];
    const name = isScalar(pair.key) ? String(pair.key.value) : "";
    const vctx = this.ctxAt(ctx, "value for", name, pair.value);
    const kind = kindOf(name, this.ctxAt(ctx, "value for", name, pair.key));
    const arg = pair.value;
    if (kind === "kill") {
      const t = isScalar(arg) && !this.isNull(arg) ? String(arg.value) : "";
      if (t === "tree") return { kind, tree: true };
      if (t === "process") return { kind };
      fail("Value of 'kill' must be 'process' or 'tree'", vctx);
    }
    if (kind === "exec") {
      if (isScalar(arg) && !this.isNull(arg) && String(arg.value).trim() !== "") {
        return { kind, command: String(arg.value) };
      }
      if (!isMap(arg)) {
        fail("Value of 'exec' must be a command or a mapping of command, timeout", vctx);
      }
      const m = arg as unknown as YMap;
      for (const p of m.items) {
        const k = isScalar(p.key) ? String(p.key.value) : "";
        if (!(EXEC_KEYS as readonly string[]).includes(k)) {
          fail(
            `Unknown key '${k}' in 'exec': expected ${EXEC_KEYS.join(", ")}`,
            this.ctxAt(vctx, "value for", k, p.key),
          );
        }
      }
      const command = this.str(m, "command", vctx)!;
      const t = this.scalar(m, "timeout", vctx, true);
      if (!t) return { kind, command };
      const ms = parseWindow(t.text);
      if (typeof ms === "string") fail(ms, t.ctx);
      return { kind, command, timeoutMs: ms };
    }
    fail(`'${kind}' takes no argument: write it alone (- ${kind})`, vctx);
  }

  tags(map: YMap, ctx: Context): string[] | undefined {
    const t = this.seq(map, "tags", ctx, true);
    return t ? [...new Set(t)].sort() : undefined;
  }

  exceptionEntry(node: unknown, ctx: Context, key: string): ExceptionEntry {
    const vctx = this.ctxAt(ctx, "value for", key, node);
    if (isScalar(node) && !this.isNull(node)) {
      const s = String(node.value);
      if (s === "") fail("Value must be non-empty", vctx);
      return { isList: false, item: s, items: [] };
    }
    if (isSeq(node)) {
      return {
        isList: true,
        item: "",
        items: node.items.map((v) =>
          this.exceptionEntry(v, this.ctxAt(vctx, "exception", "", v), "")
        ),
      };
    }
    if (this.isNull(node)) return { isList: false, item: "", items: [] };
    fail("Value is not a scalar value", vctx);
  }

  exceptions(map: YMap, parent: Context, append: boolean): ExceptionInfo[] | undefined {
    const { present, value: exs } = this.get(map, "exceptions");
    if (!present || this.isNull(exs)) return undefined;
    const exesCtx = this.ctxAt(parent, "exceptions", "", exs);
    if (!isSeq(exs)) fail("Rule exceptions must be a sequence", exesCtx);
    const out: ExceptionInfo[] = [];
    for (const ex of exs.items) {
      const tmp = this.ctxAt(exesCtx, "exception", "", ex);
      if (!isMap(ex)) fail("Rule exception must be a mapping", tmp);
      const m = ex as unknown as YMap;
      const name = this.str(m, "name", tmp)!;
      const exCtx = this.ctxAt(parent, "exception", name, ex);
      if (out.some((o) => o.name === name)) {
        this.res.warning(
          "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
          `Multiple definitions of exception '${name}' in the same rule`,
          exCtx,
        );
      }
      const f = this.get(m, "fields");
      if (!f.present && !append) fail("Item has no mapping for key 'fields'", exCtx);
      const fields = f.present ? this.exceptionEntry(f.value, exCtx, "fields") : undefined;
      const c = this.get(m, "comps");
      const comps = c.present ? this.exceptionEntry(c.value, exCtx, "comps") : undefined;
      const values: ExceptionEntry[] = [];
      const v = this.get(m, "values");
      if (v.present) {
        const valsCtx = this.ctxAt(exCtx, "exception values", "", v.value);
        if (!isSeq(v.value)) fail("Rule exception values must be a sequence", valsCtx);
        for (const val of v.value.items) {
          values.push(
            this.exceptionEntry(val, this.ctxAt(valsCtx, "exception value", "", val), ""),
          );
        }
      } else if (append) {
        this.res.warning(
          "LOAD_APPEND_NO_VALUES",
          "Overriding/appending exception with no values",
          exCtx,
        );
      }
      out.push({ name, fields, comps, values, ctx: exCtx });
    }
    return out;
  }

  warnUnknownKeys(map: YMap, expected: readonly string[], ctx: Context): void {
    for (const p of map.items) {
      const key = isScalar(p.key) ? String(p.key.value) : String(p.key);
      if (!expected.includes(key)) {
        this.res.warning("LOAD_UNKNOWN_KEY", `Unknown key '${key}'. The key will be ignored.`, ctx);
      }
    }
  }

  overrides(
    map: YMap,
    appendable: readonly string[],
    replaceable: readonly string[],
    ctx: Context,
  ): { append: Set<string>; replace: Set<string> } {
    const append = new Set<string>(), replace = new Set<string>();
    const { present, value } = this.get(map, "override");
    if (!present) return { append, replace };
    const octx = this.ctxAt(ctx, "overrides", "", map);
    if (!isMap(value)) fail("Value of 'override' must be a mapping", octx);
    for (const p of (value as unknown as YMap).items) {
      const key = isScalar(p.key) ? String(p.key.value) : "";
      const op = isScalar(p.value) ? String(p.value.value) : "";
      const kctx = this.ctxAt(octx, "overrides", key, p.key);
      if (op === "append") {
        if (!appendable.includes(key)) {
          fail(`Key '${key}' cannot be appended to, use 'replace' instead`, kctx);
        }
        append.add(key);
      } else if (op === "replace") {
        if (!replaceable.includes(key)) fail(`Key '${key}' cannot be replaced`, kctx);
        replace.add(key);
      } else {
        const allowed = [
          appendable.includes(key) ? "append" : "",
          replaceable.includes(key) ? "replace" : "",
        ].filter(Boolean).join(" ");
        fail(
          `Invalid override operation for key '${key}': '${op}'. Allowed values are: ${allowed}`,
          this.ctxAt(octx, "value for", key, p.value),
        );
      }
    }
    return { append, replace };
  }

  item(node: unknown): void {
    const tmp = this.ctxAt(this.root, "rules content item", "", node);
    if (!isMap(node)) {
      fail("Unexpected element type. Each element should be a yaml associative array.", tmp);
    }
    const map = node as unknown as YMap;
    if (this.has(map, "required_engine_version")) this.engineVersion(map, node);
    else if (this.has(map, "required_plugin_versions")) this.pluginVersions(map, node);
    else if (this.has(map, "list")) this.list(map, node);
    else if (this.has(map, "macro")) this.macro(map, node);
    else if (this.has(map, "rule")) this.rule(map, node);
    else if (this.has(map, "sequence")) readSequence(this, map, node, "sequence");
    else if (this.has(map, "threshold")) readSequence(this, map, node, "threshold");
    else this.res.warning("LOAD_UNKNOWN_ITEM", "Unknown top level item", tmp);
  }

  engineVersion(map: YMap, node: unknown): void {
    const ctx = this.ctxAt(this.root, "required_engine_version", "", node);
    const v = this.scalar(map, "required_engine_version", ctx, false)!;
    const parsed = parseEngineVersion(v.text);
    if (!parsed) fail("Can't decode YAML scalar value", v.ctx);
    if (!versionCompatible(ENGINE_VERSION, parsed)) {
      throw new LoadError(
        "LOAD_ERR_VALIDATE",
        `Rules require engine version ${v.text}, but engine version is ${ENGINE_VERSION}`,
        ctx,
      );
    }
    const cur = this.col.requirements.engineVersion;
    if (
      !cur || versionCompatible(parseEngineVersion(v.text)!.join("."), parseEngineVersion(cur)!)
    ) {
      this.col.requirements.engineVersion = parsed.join(".");
    }
    this.warnUnknownKeys(map, ["required_engine_version"], ctx);
  }

  pluginVersions(map: YMap, node: unknown): void {
    const { value } = this.get(map, "required_plugin_versions");
    const ctx = this.ctxAt(this.root, "required plugin versions", "", value);
    if (!isSeq(value)) fail("Value of required_plugin_versions must be a sequence", ctx);
    for (const p of value.items) {
      const tmp = this.ctxAt(ctx, "required plugin versions entry", "", p);
      if (!isMap(p)) fail("Plugin version must be a mapping", tmp);
      const pm = p as unknown as YMap;
      const name = this.str(pm, "name", tmp)!;
      const pctx = this.ctxAt(ctx, "required plugin versions entry", name, p);
      const alts = [{ name, version: this.str(pm, "version", pctx)! }];
      const a = this.get(pm, "alternatives");
      if (a.present) {
        if (!isSeq(a.value)) fail("Value of plugin version alternatives must be a sequence", pctx);
        for (const alt of a.value.items) {
          const actx = this.ctxAt(pctx, "required plugin versions alternative", "", alt);
          if (!isMap(alt)) fail("Plugin version alternative must be a mapping", actx);
          const am = alt as unknown as YMap;
          const an = this.str(am, "name", actx)!;
          const actx2 = this.ctxAt(pctx, "required plugin versions alternative", an, alt);
          alts.push({ name: an, version: this.str(am, "version", actx2)! });
        }
      }
      for (const alt of alts) {
        if (!parseEngineVersion(alt.version)) {
          throw new LoadError(
            "LOAD_ERR_VALIDATE",
            `Invalid required version '${alt.version}' for plugin '${alt.name}'`,
            pctx,
          );
        }
      }
      this.col.requirements.plugins.push(alts);
    }
    this.warnUnknownKeys(
      map,
      ["required_plugin_versions"],
      this.ctxAt(this.root, "required plugin versions", "", node),
    );
  }

  list(map: YMap, node: unknown): void {
    const tmp = this.ctxAt(this.root, "list", "", node);
    const name = this.str(map, "list", tmp)!;
    const ctx = this.ctxAt(this.root, "list", name, node);
    if (!/^[^()"'\s=,]+$/.test(name)) {
      this.res.warning(
        "LOAD_INVALID_LIST_NAME",
        "List has an invalid name. List names should match a regular expression: " +
          "([^()\"'[:space:]=,]+)",
        ctx,
      );
    }
    const items = this.seq(map, "items", ctx, false)!;
    let append = this.bool(map, "append", ctx) ?? false;
    if (append) this.deprecatedAppend(ctx);
    const ov = this.overrides(map, ["items"], ["items"], ctx);
    if (append && (ov.append.size > 0 || ov.replace.size > 0)) this.overrideAppendConflict(ctx);
    append ||= ov.append.has("items");
    const info = { name, items, index: 0, visibility: 0, ctx };
    if (append) this.col.appendList(info);
    else this.col.defineList(info);
    this.warnUnknownKeys(map, ["list", "items", "append", "override"], ctx);
  }

  macro(map: YMap, node: unknown): void {
    const tmp = this.ctxAt(this.root, "macro", "", node);
    const name = this.str(map, "macro", tmp)!;
    const ctx = this.ctxAt(this.root, "macro", name, node);
    if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(name)) {
      this.res.warning(
        "LOAD_INVALID_MACRO_NAME",
        "Macro has an invalid name. Macro names should match a regular expression: " +
          "([a-zA-Z]+[a-zA-Z0-9_]*)",
        ctx,
      );
    }
    const cond = this.mapped(map, "condition", ctx);
    const condCtx = this.ctxAt(ctx, "macro condition", "", this.get(map, "condition").value);
    let append = this.bool(map, "append", ctx) ?? false;
    if (append) this.deprecatedAppend(ctx);
    const ov = this.overrides(map, ["condition"], ["condition"], ctx);
    if (append && (ov.append.size > 0 || ov.replace.size > 0)) this.overrideAppendConflict(ctx);
    append ||= ov.append.has("condition");
    const info = { name, cond, condCtx, index: 0, visibility: 0, ctx };
    if (append) this.col.appendMacro(info);
    else this.col.defineMacro(info);
    this.warnUnknownKeys(map, ["macro", "condition", "append", "override"], ctx);
  }

  deprecatedAppend(ctx: Context): void {
    this.res.warning(
      "LOAD_DEPRECATED_ITEM",
      "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under " +
        "'override' instead.",
      ctx,
    );
  }

  overrideAppendConflict(ctx: Context): never {
    fail(
      "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry " +
        "(e.g. 'condition: append') under 'override' instead.",
      ctx,
    );
  }

  priority(map: YMap, ctx: Context): Priority {
    const p = this.str(map, "priority", ctx)!;
    const parsed = parsePriority(p);
    if (!parsed) {
      fail(
        "Invalid priority",
        this.ctxAt(ctx, "rule priority", "", this.get(map, "priority").value),
      );
    }
    return parsed;
  }

  rule(map: YMap, node: unknown): void {
    const tmp = this.ctxAt(this.root, "rule", "", node);
    const name = this.str(map, "rule", tmp)!;
    const ctx = this.ctxAt(this.root, "rule", name, node);
    const source = this.scalar(map, "source", ctx, true, true)?.text ?? "";
    const appendFlag = this.bool(map, "append", ctx) ?? false;
    if (appendFlag) this.deprecatedAppend(ctx);
    const appendable = ["condition", "output", "desc", "tags", "exceptions"];
    const replaceable = [
      "condition",
      "output",
      "desc",
      "priority",
      "capture",
      "capture_duration",
      "tags",
      "exceptions",
      "enabled",
      "warn_evttypes",
      "skip-if-unknown-filter",
      "aggregate",
      "actions",
    ];
    const ov = this.overrides(map, appendable, replaceable, ctx);
    const hasOverrides = ov.append.size > 0 || ov.replace.size > 0;
    if (appendFlag && hasOverrides) this.overrideAppendConflict(ctx);
    const condCtxOf = () => this.ctxAt(ctx, "rule condition", "", this.get(map, "condition").value);

    if (hasOverrides) {
      const expected = new Set(
        [...new Set([...appendable, ...replaceable])].filter((k) => this.has(map, k)),
      );
      const take = (set: Set<string>, kind: string, key: string): boolean => {
        if (!set.has(key)) return false;
        if (!expected.has(key)) {
          fail(`An ${kind} override for '${key}' was specified but '${key}' is not defined`, ctx);
        }
        expected.delete(key);
        return true;
      };
      for (const [set, kind] of [[ov.append, "append"], [ov.replace, "replace"]] as const) {
        if (set.size === 0) continue;
        const u: RuleUpdate = { name, source, ctx };
        if (take(set, kind, "condition")) {
          u.cond = this.mapped(map, "condition", ctx);
          u.condCtx = condCtxOf();
        }
        if (take(set, kind, "exceptions")) {
          u.exceptions = this.exceptions(map, ctx, kind === "append") ?? [];
        }
        if (take(set, kind, "output")) u.output = this.str(map, "output", ctx);
        if (take(set, kind, "desc")) u.desc = this.str(map, "desc", ctx);
        if (take(set, kind, "tags")) u.tags = this.tags(map, ctx) ?? [];
        if (kind === "replace") {
          if (take(set, kind, "priority")) u.priority = this.priority(map, ctx);
          if (take(set, kind, "capture")) u.capture = this.bool(map, "capture", ctx, false);
          if (take(set, kind, "capture_duration")) {
            u.captureDuration = this.uint(map, "capture_duration", ctx, false);
          }
          if (take(set, kind, "enabled")) u.enabled = this.bool(map, "enabled", ctx, false);
          if (take(set, kind, "warn_evttypes")) {
            u.warnEvttypes = this.bool(map, "warn_evttypes", ctx, false);
          }
          if (take(set, kind, "skip-if-unknown-filter")) {
            u.skipIfUnknownFilter = this.bool(map, "skip-if-unknown-filter", ctx, false);
          }
          if (take(set, kind, "aggregate")) u.aggregate = this.aggregate(map, ctx);
          if (take(set, kind, "actions")) u.actions = this.actions(map, ctx);
          this.col.replaceRule(u);
        } else this.col.appendRule(u);
      }
      for (const key of expected) {
        fail(
          `Unexpected key '${key}': no corresponding entry under 'override' is defined.`,
          this.ctxAt(ctx, "overrides", key, this.get(map, key).keyNode),
        );
      }
    } else if (appendFlag) {
      const u: RuleUpdate = { name, source, ctx };
      if (this.has(map, "condition")) {
        u.cond = this.mapped(map, "condition", ctx);
        u.condCtx = condCtxOf();
      }
      if (this.has(map, "exceptions")) u.exceptions = this.exceptions(map, ctx, true);
      this.col.appendRule(u);
    } else if (
      !this.has(map, "condition") && !this.has(map, "output") && !this.has(map, "desc") &&
      !this.has(map, "priority")
    ) {
      const enabled = this.bool(map, "enabled", ctx, false)!;
      this.res.warning(
        "LOAD_DEPRECATED_ITEM",
        "The standalone 'enabled' key usage is deprecated. The correct approach requires also " +
          "a 'replace' entry under the 'override' key (i.e. 'enabled: replace').",
        ctx,
      );
      this.col.enableRule(name, enabled, ctx);
    } else {
      const cond = this.mapped(map, "condition", ctx);
      const condCtx = condCtxOf();
      const output = this.str(map, "output", ctx)!.trim();
      const outputCtx = this.ctxAt(ctx, "rule output", "", this.get(map, "output").value);
      const desc = this.str(map, "desc", ctx)!;
      const priority = this.priority(map, ctx);
      this.col.defineRule({
        name,
        cond,
        condCtx,
        output,
        outputCtx,
        desc,
        priority,
        source: this.str(map, "source", ctx, true) ?? "syscall",
        enabled: this.bool(map, "enabled", ctx) ?? true,
        capture: this.bool(map, "capture", ctx) ?? false,
        captureDuration: this.uint(map, "capture_duration", ctx) ?? 0,
        warnEvttypes: this.bool(map, "warn_evttypes", ctx) ?? true,
        skipIfUnknownFilter: this.bool(map, "skip-if-unknown-filter", ctx) ?? false,
        tags: this.tags(map, ctx) ?? [],
        exceptions: this.exceptions(map, ctx, false) ?? [],
        aggregate: this.aggregate(map, ctx),
        actions: this.actions(map, ctx),
        index: 0,
        visibility: 0,
        ctx,
        unknownSource: false,
      });
      if (this.col.rules.get(name)?.unknownSource) {
        this.res.warning(
          "LOAD_UNKNOWN_SOURCE",
          `Unknown source ${this.col.rules.get(name)!.source}, skipping`,
          ctx,
        );
      }
    }
    this.warnUnknownKeys(map, [
      "rule",
      "condition",
      "output",
      "desc",
      "priority",
      "source",
      "enabled",
      "capture",
      "capture_duration",
      "warn_evttypes",
      "skip-if-unknown-filter",
      "tags",
      "exceptions",
      "override",
      "append",
      "aggregate",
      "actions",
    ], ctx);
  }
}

/**
 * Reads one rules file into `col`, recording problems in `res`. A broken item is reported and
 * skipped; reading goes on with the next item. Returns false when the file could not be parsed.
 */
export function readRulesFile(file: SourceText, res: LoadResult, col: Collector): boolean {
  const reader = new Reader(file, res, col);
  const parsed = parseYamlDocuments(file.text, { schema: "failsafe", prettyErrors: false });
  const err = parsed.error;
  if (err) {
    const { line, column } = file.lineCol(err.offset);
    res.error(
      "LOAD_ERR_YAML_PARSE",
      err.message,
      new Context([{ ...reader.root.last, line, column, offset: err.offset }]),
    );
    return false;
  }
  const list = parsed.docs;
  for (const doc of list) {
    const contents = doc.contents as Node | null;
    if (contents === null || reader.isNull(contents)) continue;
    if (!isMap(contents) && !isSeq(contents)) {
      res.error("LOAD_ERR_YAML_VALIDATE", "Rules content is not yaml", reader.root);
      return false;
    }
    if (!isSeq(contents)) {
      res.error(
        "LOAD_ERR_YAML_VALIDATE",
        "Rules content is not yaml array of objects",
        reader.root,
      );
      return false;
    }
    for (const item of contents.items) {
      if (reader.isNull(item)) continue;
      try {
        reader.item(item);
      } catch (e) {
        if (!(e instanceof LoadError)) throw e;
        res.error(e.code, e.message, e.context);
      }
    }
  }
  return true;
}
