/**
 * Loading rules files: read each file into one collection and compile after each file, so that
 * every file gets its own result (as `falco -V a.yaml -V b.yaml` reports them), and the last
 * compilation is the rule set to run.
 *
 * @example
 * ```ts
 * import { loadRulesFiles } from "./loader.ts";
 * const loaded = await loadRulesFiles(["rules/falco_rules.yaml"]);
 * for (const r of loaded.results) console.log(r.name, r.successful);
 * loaded.rules.length;
 * ```
 * @module
 */
import type { Collector } from "./collector.ts";
import { compileCollection, type Compiled, type CompiledRule } from "./compiler.ts";
import { readRulesFile } from "./reader.ts";
import type { CompiledSequence } from "./sequence_compiler.ts";
import { Context, type LoadMessage, LoadResult } from "./result.ts";
import { SourceText } from "./source_text.ts";
import { rulesCollector } from "./rules_collector.ts";
import { builtinFiles, builtinText, isBuiltin } from "../assets.ts";
// Rules files may name any field: the plugins' fields join the registry with the loader.
import "./fields/mod.ts";

/** Loaded rules: the compiled rules and one result per file. */
export interface LoadedRules {
  rules: CompiledRule[];
  /** Sequence and threshold rules. */
  sequences: CompiledSequence[];
  lists: Compiled["lists"];
  macros: Compiled["macros"];
  results: LoadResult[];
  /** File contents by name (for snippets). */
  contents: Map<string, string>;
  /** Highest required engine version and the plugin requirements seen. */
  requiredEngineVersion: string | undefined;
  requiredPlugins: { name: string; version: string }[][];
}

const UNUSED_ITEM = new Set(["LOAD_UNUSED_MACRO", "LOAD_UNUSED_LIST"]);

/**
 * The warnings of a whole load, for a rule set split over several files, each once. As in
 * Falco, each file's load compiles everything loaded so far and reports again what it finds
 * (a rule of the first file without event types is reported by every later file's result), and
 * reports the macros and lists nothing uses yet, so shared items of a first file that later files
 * use are reported early and then used; only the last file's report of unused items holds for
 * the set, and every other warning is kept once per code, place and message.
 */
export function loadWarnings(loaded: LoadedRules): { file: string; warning: LoadMessage }[] {
  const last = loaded.results.length - 1;
  const seen = new Set<string>();
  return loaded.results.flatMap((r, i) =>
    r.warnings
      .filter((w) => i === last || !UNUSED_ITEM.has(w.code))
      .filter((w) => {
        const at = w.context.last;
        const key = `${w.code}\0${at.file}\0${at.offset}\0${at.line}:${at.column}\0${w.message}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map((warning) => ({ file: r.name, warning }))
  );
}

export { knownSources } from "./rules_collector.ts";

/** Loads rules content step by step. */
export class RulesLoader {
  readonly collector: Collector;
  readonly results: LoadResult[] = [];
  readonly contents = new Map<string, string>();
  compiled: Compiled = { rules: [], sequences: [], lists: [], macros: [] };

  constructor() {
    this.collector = rulesCollector();
  }

  /** Reads and compiles one file's content; returns its result. */
  add(name: string, text: string): LoadResult {
    const res = new LoadResult(name);
    this.results.push(res);
    this.contents.set(name, text);
    try {
      if (readRulesFile(new SourceText(name, text), res, this.collector)) {
        this.compiled = compileCollection(this.collector, res);
      }
    } catch (e) {
      // Whatever the input does to the loader (a stack exhausted by pathological nesting), the
      // file gets its verdict and the files after it theirs.
      const why = e instanceof RangeError ? "input nested too deeply" : (e as Error).message;
      res.error("LOAD_ERR_VALIDATE", `could not load: ${why}`, Context.file(name));
    }
    return res;
  }

  /** Records a file that could not be read. */
  addUnreadable(name: string, err: Error): LoadResult {
    const res = new LoadResult(name);
    res.error("LOAD_ERR_FILE_READ", `could not read file: ${err.message}`, Context.file(name));
    this.results.push(res);
    return res;
  }

  /** The loaded rules so far. */
  result(): LoadedRules {
    return {
      rules: this.compiled.rules,
      sequences: this.compiled.sequences,
      lists: this.compiled.lists,
      macros: this.compiled.macros,
      results: this.results,
      contents: this.contents,
      requiredEngineVersion: this.collector.requirements.engineVersion,
      requiredPlugins: this.collector.requirements.plugins,
    };
  }
}

async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (isBuiltin(p)) {
      const files = builtinFiles(p);
      out.push(...(files.length > 0 ? files : [p]));
      continue;
    }
    let isDir = false;
    try {
      isDir = (await Deno.stat(p)).isDirectory;
    } catch { /* reported when read */ }
    if (!isDir) {
      out.push(p);
      continue;
    }
    const names: string[] = [];
    for await (const e of Deno.readDir(p)) {
      if (e.isFile && /\.ya?ml$/.test(e.name)) names.push(e.name);
    }
    names.sort();
    out.push(...names.map((n) => `${p.replace(/\/$/, "")}/${n}`));
  }
  return out;
}

function builtinOrThrow(path: string): string {
  const text = builtinText(path);
  if (text === undefined) {
    throw new Deno.errors.NotFound(`Saker carries no rules named '${path}' (try builtin:rules)`);
  }
  return text;
}

/**
 * Loads rules files (directories load their .yaml files in name order). With `replacement`, that
 * file's text is the one given (a file about to be written is checked in its place; appended when
 * the paths do not name it).
 */
export async function loadRulesFiles(
  paths: readonly string[],
  replacement?: { path: string; text: string },
): Promise<LoadedRules> {
  const loader = new RulesLoader();
  const list = await expandPaths(paths);
  if (replacement && !list.includes(replacement.path)) list.push(replacement.path);
  for (const p of list) {
    let text: string;
    try {
      if (p === replacement?.path) text = replacement.text;
      else text = isBuiltin(p) ? builtinOrThrow(p) : await Deno.readTextFile(p);
    } catch (e) {
      loader.addUnreadable(p, e as Error);
      continue;
    }
    loader.add(p, text);
  }
  return loader.result();
}

/** Loads rules from strings (tests, embedded defaults). */
export function loadRulesText(files: readonly { name: string; text: string }[]): LoadedRules {
  const loader = new RulesLoader();
  for (const f of files) loader.add(f.name, f.text);
  return loader.result();
}
