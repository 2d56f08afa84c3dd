/**
 * Kubernetes audit events from a file, as Falco's k8saudit plugin reads them with a file path
 * for `open_params`: JSON lines (the API server's log backend writes one event per line; a line
 * may also hold an EventList or an array), plain or gzip, or a directory of such files read
 * oldest first. A file that is one JSON document over several lines (pretty-printed) is read
 * whole. With `follow` (the plugin's `file://` form) the file is tailed from its end: new lines
 * are read as they are written, and a rotated or truncated file is read again from its start.
 *
 * Lines that are not audit events are counted and reported with their file and line number;
 * the rest of the file is still read.
 *
 * @example
 * ```ts
 * import { openAuditFileSource } from "./k8saudit_file.ts";
 * const src = await openAuditFileSource("audit.jsonl");
 * for await (const batch of src.readable) console.log(batch.length, batch[0].record.verb);
 * ```
 * @module
 */
import type { EventSource } from "./source.ts";
import { type AuditEvent, K8S_AUDIT_SOURCE } from "../k8saudit/audit_event.ts";
import { AuditIngest, type IngestError } from "../k8saudit/ingest.ts";
import type { Registry } from "../metrics.ts";

/** Options of {@link openAuditFileSource}. */
export interface AuditFileOptions {
  /** Events per batch at most (default 1024). */
  batchSize?: number;
  /** Tail the file from its end, following rotation and truncation (default false). */
  follow?: boolean;
  /** How often a followed file is checked for new data, ms (default 250). */
  pollMs?: number;
  /** Largest audit record, characters of compact JSON (the plugin's maxEventSize). */
  maxEventBytes?: number;
  registry?: Registry;
  /** Receives each line or item not taken (default: a rate-limited log warning). */
  onError?: (e: IngestError) => void;
}

/** A file of audit events as an event source. */
export interface AuditFileSource extends EventSource {
  readonly readable: ReadableStream<AuditEvent[]>;
  /** Events read (`received`, as other sources say), lines or items not taken, bytes read. */
  stats(): { received: number; rejected: number; bytes: number };
}

/** Files to read: the path itself, or a directory's files, oldest first. */
async function filesOf(path: string): Promise<string[]> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return [path];
  const files: { name: string; mtime: number }[] = [];
  for await (const e of Deno.readDir(path)) {
    if (!e.isFile) continue;
    const p = `${path.replace(/\/$/, "")}/${e.name}`;
    files.push({ name: p, mtime: (await Deno.stat(p)).mtime?.getTime() ?? 0 });
  }
  return files.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : 1)).map((f) => f.name);
}

const CHUNK = 256 * 1024;

/** Reads a file as text chunks (gunzipped when it starts with the gzip magic). */
async function* textChunks(file: Deno.FsFile, counted: (n: number) => void) {
  const head = new Uint8Array(2);
  const n = await file.read(head);
  await file.seek(0, Deno.SeekMode.Start);
  const counting = file.readable.pipeThrough(
    new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
      transform(chunk, c) {
        counted(chunk.length);
        c.enqueue(chunk);
      },
    }),
  );
  const gzip = n === 2 && head[0] === 0x1f && head[1] === 0x8b;
  const bytes = gzip
    ? counting.pipeThrough(new DecompressionStream("gzip")) as ReadableStream<Uint8Array>
    : counting;
  yield* bytes.pipeThrough(new TextDecoderStream());
}

/** Opens an audit file (or directory of files) as an event source. */
export async function openAuditFileSource(
  path: string,
  opts: AuditFileOptions = {},
): Promise<AuditFileSource> {
  const files = opts.follow ? [path] : await filesOf(path);
  const batchSize = opts.batchSize ?? 1024;
  const pollMs = opts.pollMs ?? 250;
  const ingest = new AuditIngest({
    input: "file",
    maxEventBytes: opts.maxEventBytes,
    registry: opts.registry,
    onError: opts.onError,
  });
  let bytes = 0;
  let closed = false;
  const pending: AuditEvent[] = [];
  // A followed file is read from where it ends now (not when the first batch is asked for).
  const start = opts.follow ? await Deno.stat(path).catch(() => undefined) : undefined;
  // The pause between two looks at a followed file; close() ends it at once.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  const pause = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, pollMs);
    });
  const stop = () => {
    clearTimeout(timer);
    wake?.();
  };

  /** Lines of one file with where they are; a first line that is not JSON: the whole file. */
  async function* staticLines(name: string): AsyncGenerator<[string, string]> {
    const file = await Deno.open(name);
    try {
      let rest = "", lineNo = 0, first = true, whole: string[] | undefined;
      for await (const chunk of textChunks(file, (k) => bytes += k)) {
        if (closed) return;
        if (whole) {
          whole.push(chunk);
          continue;
        }
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          lineNo++;
          if (line.trim() === "") continue;
          // The first line decides: JSON lines, or one JSON document over several lines.
          if (first && !isJson(line)) {
            whole = [line, "\n", rest];
            rest = "";
            break;
          }
          first = false;
          yield [line, `${name}:${lineNo}`];
        }
      }
      if (whole) yield [whole.join(""), name];
      else if (rest.trim() !== "") yield [rest, `${name}:${lineNo + 1}`];
    } finally {
      closeQuietly(file); // its stream closes it when read to the end
    }
  }

  /** Lines appended to a followed file, from its end at open time; rotation is followed. */
  async function* followedLines(name: string): AsyncGenerator<[string, string]> {
    let file: Deno.FsFile | undefined;
    let ino: number | null = null;
    let offset = 0;
    let rest = "";
    // When the data up to `offset` was read: a rewrite to the same size shows as a newer mtime.
    let readAt = 0;
    const reopen = async () => {
      closeQuietly(file);
      file = undefined;
      try {
        file = await Deno.open(name);
        const st = await file.stat();
        // The file seen at open time is read from its end then; any other from its start.
        offset = start && st.ino === start.ino && ino === null ? start.size : 0;
        ino = st.ino;
        readAt = st.mtime?.getTime() ?? 0;
        rest = "";
      } catch { /* not there (yet): try again at the next poll */ }
    };
    await reopen();
    const buf = new Uint8Array(CHUNK);
    const dec = new TextDecoder();
    try {
      while (!closed) {
        const st = await Deno.stat(name).catch(() => undefined);
        const rewritten = st !== undefined &&
          (st.size < offset || (st.size === offset && (st.mtime?.getTime() ?? 0) > readAt));
        if (!file || (st && st.ino !== ino) || rewritten) await reopen();
        let got = 0;
        if (file) {
          await file.seek(offset, Deno.SeekMode.Start);
          for (let n: number | null; (n = await file.read(buf)) !== null && n > 0;) {
            offset += n;
            bytes += n;
            got += n;
            rest += dec.decode(buf.subarray(0, n), { stream: true });
            let nl: number;
            while ((nl = rest.indexOf("\n")) >= 0) {
              const line = rest.slice(0, nl);
              rest = rest.slice(nl + 1);
              if (line.trim() !== "") yield [line, name];
            }
          }
        }
        if (got === 0) await pause();
        else {
          readAt = (await file!.stat()).mtime?.getTime() ?? 0;
          yield ["", ""]; // a chunk ended: let the batch go out
        }
      }
    } finally {
      closeQuietly(file);
    }
  }

  async function* allLines(): AsyncGenerator<[string, string]> {
    if (opts.follow) {
      yield* followedLines(files[0]);
      return;
    }
    for (const f of files) yield* staticLines(f);
  }

  const lines = allLines();
  const readable = new ReadableStream<AuditEvent[]>({
    async pull(controller) {
      while (pending.length < batchSize) {
        const next = closed ? { done: true as const, value: undefined } : await lines.next();
        if (next.done) {
          if (pending.length > 0) controller.enqueue(pending.splice(0));
          controller.close();
          return;
        }
        const [text, where] = next.value;
        if (text === "") {
          if (pending.length > 0) break;
          continue;
        }
        for (const ev of ingest.text(text, where)) pending.push(ev);
      }
      controller.enqueue(pending.splice(0, batchSize));
    },
    async cancel() {
      closed = true;
      stop();
      await lines.return(undefined);
    },
  });

  return {
    source: K8S_AUDIT_SOURCE,
    readable,
    close() {
      if (!closed) {
        closed = true;
        stop();
        // Runs the readers' cleanup (open files) once they are not busy.
        lines.return(undefined).catch(() => {});
      }
      return Promise.resolve();
    },
    stats: () => ({ received: ingest.accepted, rejected: ingest.rejected, bytes }),
  };
}

function closeQuietly(file: Deno.FsFile | undefined): void {
  try {
    file?.close();
  } catch { /* already closed */ }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `path` holds Kubernetes audit events rather than a capture: a directory, or a file
 * whose first non-blank character (after gunzip) opens a JSON object or array.
 */
export async function isAuditInput(path: string): Promise<boolean> {
  const info = await Deno.stat(path);
  if (info.isDirectory) return true;
  const file = await Deno.open(path);
  try {
    let head = new Uint8Array(4096);
    const n = await file.read(head) ?? 0;
    head = head.subarray(0, n);
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      await file.seek(0, Deno.SeekMode.Start);
      const reader = file.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
      try {
        const first = await reader.read();
        head = first.value ?? new Uint8Array(0);
      } catch {
        return false;
      } finally {
        reader.cancel().catch(() => {});
      }
    }
    for (const b of head) {
      if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
      return b === 0x7b || b === 0x5b; // { or [
    }
    return false;
  } finally {
    try {
      file.close();
    } catch { /* closed by its stream */ }
  }
}
