/**
 * Rules file text with fast offset → line:column lookups, and the mapping of a YAML scalar's
 * value back to the file, so that a spot inside a condition (after YAML folding, quoting and
 * list substitution) can be shown where it is written.
 * @module
 */

/** A rules file's text and the offsets where its lines start. */
export class SourceText {
  readonly name: string;
  readonly text: string;
  readonly #lineStarts: number[];

  constructor(name: string, text: string) {
    this.name = name;
    this.text = text;
    const starts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
    this.#lineStarts = starts;
  }

  /** Line and column (from 1) of a character offset. */
  lineCol(offset: number): { line: number; column: number } {
    const starts = this.#lineStarts;
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo] + 1 };
  }
}

/**
 * Maps each character of a scalar's value to its offset in the file. `start`/`end` delimit the
 * scalar's source. Characters that YAML produced without a source character (a folded line break)
 * map to the nearest source position. Best effort: quoted escapes shift the mapping slightly.
 */
export function alignScalar(value: string, src: string, start: number, end: number): Int32Array {
  const out = new Int32Array(value.length);
  let s = start;
  const first = src[start];
  if (first === ">" || first === "|") {
    const nl = src.indexOf("\n", start);
    s = nl < 0 || nl > end ? end : nl + 1;
  } else if (first === '"' || first === "'") s = start + 1;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    let j = s;
    let found = -1;
    while (j < end && j - s < 256) {
      const d = src[j];
      if (d === c) {
        found = j;
        break;
      }
      if (c === " " && d === "\n") {
        found = j;
        break;
      }
      j++;
    }
    if (found < 0) {
      out[i] = Math.min(s, Math.max(start, end - 1));
      continue;
    }
    out[i] = found;
    s = found + 1;
  }
  return out;
}

/**
 * A string assembled from pieces of files (a condition, possibly appended to and rewritten by list
 * substitution), with the file offset of each character (-1 where the character was generated).
 */
export class MappedText {
  text: string;
  /** File of each character's origin (index into `files`), or -1. */
  fileIdx: Int32Array;
  offsets: Int32Array;
  readonly files: SourceText[];

  constructor(text: string, files: SourceText[], fileIdx: Int32Array, offsets: Int32Array) {
    this.text = text;
    this.files = files;
    this.fileIdx = fileIdx;
    this.offsets = offsets;
  }

  /** Text without any origin. */
  static plain(text: string): MappedText {
    return new MappedText(
      text,
      [],
      new Int32Array(text.length).fill(-1),
      new Int32Array(text.length).fill(-1),
    );
  }

  /** A scalar of `file` whose characters sit at `offsets`. */
  static scalar(text: string, file: SourceText, offsets: Int32Array): MappedText {
    return new MappedText(text, [file], new Int32Array(text.length), offsets);
  }

  /** Concatenation (files are merged). */
  concat(...parts: (MappedText | string)[]): MappedText {
    let out = new MappedText(this.text, this.files, this.fileIdx, this.offsets);
    for (const p of parts) {
      const m = typeof p === "string" ? MappedText.plain(p) : p;
      const files = [...out.files];
      const remap = m.files.map((f) => {
        const i = files.indexOf(f);
        if (i >= 0) return i;
        files.push(f);
        return files.length - 1;
      });
      const fileIdx = new Int32Array(out.text.length + m.text.length);
      fileIdx.set(out.fileIdx);
      for (let i = 0; i < m.text.length; i++) {
        const fi = m.fileIdx[i];
        fileIdx[out.text.length + i] = fi < 0 ? -1 : remap[fi];
      }
      const offsets = new Int32Array(out.text.length + m.text.length);
      offsets.set(out.offsets);
      offsets.set(m.offsets, out.text.length);
      out = new MappedText(out.text + m.text, files, fileIdx, offsets);
    }
    return out;
  }

  /** Replaces [start, end) with `text`; the new characters take the origin of `start`. */
  splice(start: number, end: number, text: string): void {
    const n = this.text.length - (end - start) + text.length;
    const fileIdx = new Int32Array(n);
    const offsets = new Int32Array(n);
    fileIdx.set(this.fileIdx.subarray(0, start));
    offsets.set(this.offsets.subarray(0, start));
    const of = start < this.text.length ? this.fileIdx[start] : -1;
    const oo = start < this.text.length ? this.offsets[start] : -1;
    fileIdx.fill(of, start, start + text.length);
    offsets.fill(oo, start, start + text.length);
    fileIdx.set(this.fileIdx.subarray(end), start + text.length);
    offsets.set(this.offsets.subarray(end), start + text.length);
    this.text = this.text.slice(0, start) + text + this.text.slice(end);
    this.fileIdx = fileIdx;
    this.offsets = offsets;
  }

  /** Where character `i` comes from, if it comes from a file. */
  origin(i: number): { file: SourceText; offset: number } | undefined {
    if (this.text.length === 0) return undefined;
    const k = Math.max(0, Math.min(i, this.text.length - 1));
    const fi = this.fileIdx[k];
    if (fi < 0) return undefined;
    return { file: this.files[fi], offset: this.offsets[k] };
  }
}
