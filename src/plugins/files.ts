/**
 * Reading log files for plugins: a file (plain or gzip, told by its first bytes, whatever its
 * name) or a directory (its files, recursively, in name order), and the JSON in them — one
 * document, or one document per line — with each unreadable line reported by file and line.
 *
 * @example
 * ```ts
 * import { jsonDocuments, readLogFiles } from "./files.ts";
 * for await (const f of readLogFiles("/var/log/trail")) {
 *   const { values, errors } = jsonDocuments(f.text, f.path);
 *   console.log(f.path, values.length, errors.length);
 * }
 * ```
 * @module
 */

/** One file's text. */
export interface LogFile {
  path: string;
  text: string;
}

async function readText(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }
  return new TextDecoder().decode(bytes);
}

/** The files of `path`: the file itself, or a directory's files (recursively, name order). */
export async function* readLogFiles(path: string): AsyncGenerator<LogFile> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) {
    yield { path, text: await readText(path) };
    return;
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  names.sort();
  for (const n of names) {
    if (n.startsWith(".")) continue;
    yield* readLogFiles(`${path.replace(/\/$/, "")}/${n}`);
  }
}

/** A line that is not JSON. */
export interface JsonLineError {
  /** `file:line`. */
  where: string;
  message: string;
}

/**
 * The JSON values of a text: the whole text as one document when it parses, else one document
 * per non-empty line (JSON lines), each line that does not parse reported.
 */
export function jsonDocuments(
  text: string,
  path: string,
): { values: unknown[]; errors: JsonLineError[] } {
  const out = { values: [] as unknown[], errors: [] as JsonLineError[] };
  if (text.trim() === "") return out;
  try {
    out.values.push(JSON.parse(text));
    return out;
  } catch { /* JSON lines */ }
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    try {
      out.values.push(JSON.parse(line));
    } catch (err) {
      out.errors.push({ where: `${path}:${i + 1}`, message: (err as Error).message });
    }
  }
  return out;
}

/** True when the file (or a directory's first file) starts, once unzipped, with `{` or `[`. */
export async function looksLikeJson(path: string): Promise<string | undefined> {
  for await (const f of readLogFiles(path)) {
    const head = f.text.trimStart();
    return head.startsWith("{") || head.startsWith("[") ? head.slice(0, 65536) : undefined;
  }
  return undefined;
}
