/**
 * Generates the event, flag, syscall and errno tables of src/events from two pinned sources:
 *
 * - falcosecurity/libs at LIBS_COMMIT (the commit the reference material's scap-event-table.json
 *   was extracted from): table_data.ts (driver/event_table.c), flag_data.ts (flags_table.c) and
 *   the scap syscall codes (PPM_SC_X in ppm_events_public.h);
 * - the Linux UAPI headers of LINUX_UAPI (as Debian 12's linux-libc-dev installs them under
 *   /usr/include): x86_64 syscall numbers (asm/unistd_64.h) for syscall_data.ts, errno and
 *   signal names (asm-generic/errno*.h, asm/signal.h) for errno_data.ts.
 *
 * Rows keep the sources' names: event categories, flags, parameter types and formats by name,
 * flag values, syscalls, errnos and signals with their names. Format facts only.
 *
 * Usage: deno run -A scripts/gen_event_tables.ts [--check] LIBS_GIT_DIR [UAPI_INCLUDE_DIR]
 * (LIBS_GIT_DIR: a clone of github.com/falcosecurity/libs that has LIBS_COMMIT, read at that
 * commit with `git show` whatever is checked out; UAPI_INCLUDE_DIR defaults to /usr/include and
 * must hold the pinned kernel version). `--check` compares instead of writing and exits 1 when
 * a generated file differs from the checked-in one.
 * @module
 */

import { EC, EF, PF, PT } from "../src/events/scap_codes.ts";

/** The pinned source: falcosecurity/libs, driver/event_table.c, flags_table.c and headers. */
export const LIBS_COMMIT = "48dfd53cd23f95720521d41b89883bbc35c8567f";

/** The pinned Linux UAPI version (major.minor) of the syscall numbers and errno names. */
export const LINUX_UAPI = "6.1";

const ROOT = new URL("../", import.meta.url).pathname;

function show(gitDir: string, path: string): string {
  const out = new Deno.Command("git", {
    args: ["-C", gitDir, "show", `${LIBS_COMMIT}:${path}`],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    throw new Error(`git show ${LIBS_COMMIT}:${path}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const noComments = (c: string) => c.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

/** The text of a brace-balanced `{...}` starting at `open` (an index of "{"). */
function braced(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      i = text.indexOf('"', i + 1);
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error("unbalanced braces");
}

/** Splits on commas outside braces, parentheses and strings. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = text.indexOf('"', i + 1);
    else if (c === "{" || c === "(") depth++;
    else if (c === "}" || c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** `EC_FILE | EC_SYSCALL` → `FILE|SYSCALL` (names without the prefix, in source order). */
function names(expr: string, prefix: string): string {
  const t = expr.trim();
  if (t === "0" || t === "") return "";
  return t.split("|").map((s) => {
    const n = s.trim().replace(/^\(|\)$/g, "");
    if (!n.startsWith(prefix)) throw new Error(`expected ${prefix}*, got ${n}`);
    return n.slice(prefix.length);
  }).join("|");
}

/** libs' print formats under the names src/events/table.ts gives them. */
const PF_NAMES: Record<string, string> = { "10_PADDED_DEC": "PADDED_DEC" };

/** Event rows by id from driver/event_table.c and the PPME_ ids of ppm_events_public.h. */
export function eventRows(gitDir: string): string[][] {
  const header = noComments(show(gitDir, "driver/ppm_events_public.h"));
  const ids = new Map<string, number>();
  for (const m of header.matchAll(/^\s*(PPME_\w+)\s*=\s*(\d+)/gm)) ids.set(m[1], Number(m[2]));
  const max = ids.get("PPM_EVENT_MAX") ??
    Number(/PPM_EVENT_MAX\s*=\s*(\d+)/.exec(header)?.[1] ?? NaN);
  const table = noComments(show(gitDir, "driver/event_table.c"));
  const rows: string[][] = [];
  for (const m of table.matchAll(/\[(PPME_\w+)\]\s*=\s*\{/g)) {
    const id = ids.get(m[1]);
    if (id === undefined) throw new Error(`no id for ${m[1]}`);
    const [name, cat, flags, n, params = "{}"] = splitTop(
      braced(table, m.index! + m[0].length - 1),
    );
    const ps = splitTop(braced(params, params.indexOf("{"))).map((p) => {
      const [pname, type, fmt, extra] = splitTop(braced(p, 0));
      let s = `${JSON.parse(pname)}:${names(type, "PT_")}:`;
      const f = names(fmt, "PF_");
      s += PF_NAMES[f] ?? f;
      if (extra) {
        const dirfd = /^DIRFD_PARAM\((\d+)\)$/.exec(extra);
        s += dirfd ? `:@${dirfd[1]}` : `:${extra}`;
      }
      return s;
    });
    if (ps.length !== Number(n)) throw new Error(`${m[1]}: ${n} parameters, ${ps.length} listed`);
    rows[id] = [JSON.parse(name), names(cat, "EC_"), names(flags, "EF_"), ps.join(" ")];
  }
  if (rows.length !== max) throw new Error(`${rows.length} events, PPM_EVENT_MAX is ${max}`);
  for (let i = 0; i < rows.length; i++) if (!rows[i]) throw new Error(`event ${i} missing`);
  return rows;
}

/** Evaluates the integer constant expressions flags_table.c uses (after macro expansion). */
function evalConst(expr: string, macros: Map<string, string>, depth = 0): number {
  if (depth > 20) throw new Error(`macro loop in ${expr}`);
  const expanded = expr.replace(/\b[A-Za-z_]\w*\b/g, (id) => {
    const v = macros.get(id);
    if (v === undefined) throw new Error(`unknown constant ${id}`);
    return `(${evalConst(v, macros, depth + 1)})`;
  }).replace(/\b0([0-7]+)\b/g, (_, o) => String(parseInt(o, 8))).replace(/(\d+)U?L*\b/g, "$1");
  if (!/^[\d\sxa-fA-F()|&<>+\-~*]+$/.test(expanded)) throw new Error(`not a constant: ${expr}`);
  const v = new Function(`return (${expanded});`)() as number;
  return v < 0 && /<</.test(expanded) ? v >>> 0 : v;
}

/** Flag tables from driver/flags_table.c, values evaluated from ppm_events_public.h. */
export function flagTables(gitDir: string): Map<string, [string, number][]> {
  const header = noComments(show(gitDir, "driver/ppm_events_public.h")).replace(/\\\n/g, " ");
  const macros = new Map<string, string>();
  for (const m of header.matchAll(/^#define\s+(\w+)\s+(.+)$/gm)) macros.set(m[1], m[2].trim());
  // Enumerators: explicit values, or one more than the previous one.
  for (const m of header.matchAll(/\benum\s+\w*\s*\{/g)) {
    let next = "0";
    for (const item of splitTop(braced(header, m.index! + m[0].length - 1))) {
      const [name, value] = item.split("=").map((s) => s.trim());
      if (!name) continue;
      const v = value ?? next;
      macros.set(name, v);
      next = `(${v}) + 1`;
    }
  }
  const text = noComments(show(gitDir, "driver/flags_table.c"));
  const out = new Map<string, [string, number][]>();
  for (const m of text.matchAll(/const struct ppm_name_value (\w+)\[\]\s*=\s*\{/g)) {
    const entries: [string, number][] = [];
    for (const e of splitTop(braced(text, m.index! + m[0].length - 1))) {
      const [name, value] = splitTop(braced(e, e.indexOf("{")));
      if (name === "0" || name === "NULL") break;
      entries.push([JSON.parse(name), evalConst(value, macros)]);
    }
    out.set(m[1], entries);
  }
  return out;
}

/** Reads a UAPI header, after checking the directory holds the pinned kernel version. */
function uapi(dir: string, path: string): string {
  const version = Deno.readTextFileSync(`${dir}/linux/version.h`);
  const major = /LINUX_VERSION_MAJOR (\d+)/.exec(version)?.[1];
  const minor = /LINUX_VERSION_PATCHLEVEL (\d+)/.exec(version)?.[1];
  if (`${major}.${minor}` !== LINUX_UAPI) {
    throw new Error(`${dir} holds Linux ${major}.${minor} headers; the tables pin ${LINUX_UAPI}`);
  }
  return Deno.readTextFileSync(`${dir}/${path}`);
}

/** x86_64 syscalls: [number, name, scap code or -1], in the kernel header's order. */
export function syscallRows(gitDir: string, uapiDir: string): [number, string, number][] {
  const codes = new Map<string, number>();
  const header = show(gitDir, "driver/ppm_events_public.h");
  for (const m of header.matchAll(/PPM_SC_X\((\w+), (\d+)\)/g)) codes.set(m[1], Number(m[2]));
  const unistd = uapi(uapiDir, "x86_64-linux-gnu/asm/unistd_64.h");
  return [...unistd.matchAll(/^#define __NR_(\w+) (\d+)$/gm)].map((m) => [
    Number(m[2]),
    m[1],
    codes.get(m[1].toUpperCase()) ?? -1,
  ]);
}

/** errno names (first name of each number) and signal names 1-31 from the UAPI headers. */
export function errnoSignalNames(uapiDir: string): [Map<number, string>, Map<number, string>] {
  const errnos = new Map<number, string>();
  const errnoText = uapi(uapiDir, "asm-generic/errno-base.h") +
    uapi(uapiDir, "asm-generic/errno.h");
  for (const m of errnoText.matchAll(/^#define\s+(E\w+)\s+(\d+)/gm)) {
    if (!errnos.has(Number(m[2]))) errnos.set(Number(m[2]), m[1]);
  }
  const signals = new Map<number, string>();
  for (
    const m of uapi(uapiDir, "x86_64-linux-gnu/asm/signal.h").matchAll(
      /^#define\s+(SIG\w+)\s+(\d+)/gm,
    )
  ) {
    const n = Number(m[2]);
    if (n >= 1 && n < 32 && !signals.has(n)) signals.set(n, m[1]);
  }
  return [errnos, signals];
}

function syscallTableSource(rows: [number, string, number][]): string {
  return `// x86_64 system calls: [number, name, scap syscall code (-1 when the format has none)].
// Generated by scripts/gen_event_tables.ts: numbers from the Linux ${LINUX_UAPI} UAPI headers
// (asm/unistd_64.h), scap codes from falcosecurity/libs ${LIBS_COMMIT} (PPM_SC_X); do not edit by
// hand.

/** Rows of the x86_64 system call table. */
export const SYSCALL_ROWS: ReadonlyArray<readonly [number, string, number]> = [
${rows.map((r) => `  ${JSON.stringify(r)},`).join("\n")}
];
`;
}

function errnoTableSource(errnos: Map<number, string>, signals: Map<number, string>): string {
  const body = (m: Map<number, string>) =>
    [...m].map(([n, name]) => `  ${n}: ${JSON.stringify(name)},`).join("\n");
  return `// Linux errno and signal names by number (x86_64). Generated by scripts/gen_event_tables.ts
// from the Linux ${LINUX_UAPI} UAPI headers (asm-generic/errno*.h, asm/signal.h); do not edit by
// hand.

/** errno names by number. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
${body(errnos)}
};

/** Signal names by number. */
export const SIGNAL_NAMES: Readonly<Record<number, string>> = {
${body(signals)}
};
`;
}

/** The value of each `|`-joined name of `names` in `table`, or-ed (an unknown name throws). */
function bitsOf(table: Readonly<Record<string, number>>, names: string, where: string): number {
  let v = 0;
  for (const n of names.split("|")) {
    if (n === "") continue;
    if (!Object.hasOwn(table, n)) throw new Error(`${where}: unknown name ${n}`);
    v |= table[n];
  }
  return v;
}

/**
 * table_data.ts from the rows of {@link eventRows}, in the numbers of src/events/scap_codes.ts
 * (PT, PF, EC, EF), each parameter and each parameter list once: what Saker decodes at
 * every start is then a few array reads per event type, not the parsing of names (~2 ms). The
 * names stay beside the numbers, in comments.
 */
export function eventTableSource(rows: string[][]): string {
  const params: string[] = [];
  const paramIds = new Map<string, number>();
  const layouts: string[] = [];
  const layoutIds = new Map<string, number>();
  const lines = rows.map(([name, category, flags, spec], id) => {
    let layout = layoutIds.get(spec);
    if (layout === undefined) {
      const ids = spec === "" ? [] : spec.split(" ").map((p) => {
        let pid = paramIds.get(p);
        if (pid === undefined) {
          const [pname, type, fmt, extra] = p.split(":");
          const info: Record<string, string | number> = {
            name: pname,
            type: bitsOf(PT, type, `event ${id} ${pname}`),
            fmt: bitsOf(PF, fmt, `event ${id} ${pname}`),
          };
          if (extra?.startsWith("@")) info.dirfdParam = Number(extra.slice(1));
          else if (extra) info.table = extra;
          const fields = Object.entries(info).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
          paramIds.set(p, pid = params.length);
          params.push(`  { ${fields.join(", ")} }, // ${pid}: ${p}`);
        }
        return pid;
      });
      layoutIds.set(spec, layout = layouts.length);
      layouts.push(`  ${JSON.stringify(ids)}, // ${layout}`);
    }
    const cat = bitsOf(EC, category, `event ${id}`);
    const fl = bitsOf(EF, flags, `event ${id}`);
    return `  [${JSON.stringify(name)}, ${cat}, ${fl}, ${layout}], // ${id} ${category} ${flags}`;
  });
  return `// The scap event table: ids, names, categories, flags and parameter layouts of the capture
// format (format facts). Generated by scripts/gen_event_tables.ts from falcosecurity/libs
// ${LIBS_COMMIT} (driver/event_table.c); do not edit by hand.
//
// In the numbers of src/events/scap_codes.ts, with the libs' names in comments: a parameter is
// "name:TYPE:FORMAT" (PT_ and PF_ names without their prefix) plus ":table" (its symbolic flag
// table) or ":@N" (a path relative to the dirfd in param N); a row's category and flags are the
// libs' EC_ and EF_ names without their prefix, joined by "|".

/**
 * Every distinct parameter of the table: name, type (PT), print format (PF), and its flag table
 * or the index of the parameter holding its directory fd.
 */
export const EVENT_PARAMS: ReadonlyArray<{
  readonly name: string;
  readonly type: number;
  readonly fmt: number;
  readonly table?: string;
  readonly dirfdParam?: number;
}> = [
${params.join("\n")}
];

/** Every distinct parameter list: indexes of {@link EVENT_PARAMS}. */
export const EVENT_LAYOUTS: ReadonlyArray<readonly number[]> = [
${layouts.join("\n")}
];

/**
 * Rows of the event table, indexed by event id (even ids are enter (>) events, odd ids exit (<)
 * events): name, category bits (EC), flag bits (EF), parameter list (an index of
 * {@link EVENT_LAYOUTS}). Decoded once by table.ts.
 */
export const EVENT_ROWS: ReadonlyArray<readonly [string, number, number, number]> = [
${lines.join("\n")}
];
`;
}

function flagTableSource(tables: Map<string, [string, number][]>): string {
  const body = [...tables].map(([name, entries]) =>
    `  ${name}: [\n${entries.map(([n, v]) => `    [${JSON.stringify(n)}, ${v}],`).join("\n")}\n  ],`
  );
  return `// Symbolic names of flag and enum parameter values as the scap format encodes them (format
// facts). Generated by scripts/gen_event_tables.ts from falcosecurity/libs ${LIBS_COMMIT}
// (driver/flags_table.c); do not edit by hand. Order matters: rendering tries names in this
// order.

/** Name/value pairs of every flag table, by table name. */
export const FLAG_TABLES: Readonly<Record<string, ReadonlyArray<readonly [string, number]>>> = {
${body.join("\n")}
};
`;
}

async function formatted(path: string, text: string): Promise<string> {
  const tmp = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(tmp, text);
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--line-width", "100", "-q", tmp],
    }).output();
    if (!fmt.success) throw new Error(`deno fmt failed on ${path}`);
    return await Deno.readTextFile(tmp);
  } finally {
    await Deno.remove(tmp);
  }
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const [gitDir, uapiDir = "/usr/include"] = Deno.args.filter((a) => !a.startsWith("--"));
  if (!gitDir) {
    console.error(
      "usage: deno run -A scripts/gen_event_tables.ts [--check] LIBS_GIT_DIR [UAPI_INCLUDE_DIR]",
    );
    Deno.exit(2);
  }
  const outputs: [string, string][] = [
    ["src/events/table_data.ts", eventTableSource(eventRows(gitDir))],
    ["src/events/flag_data.ts", flagTableSource(flagTables(gitDir))],
    ["src/events/syscall_data.ts", syscallTableSource(syscallRows(gitDir, uapiDir))],
    ["src/events/errno_data.ts", errnoTableSource(...errnoSignalNames(uapiDir))],
  ];
  let differs = false;
  for (const [rel, text] of outputs) {
    const body = await formatted(rel, text);
    const path = `${ROOT}${rel}`;
    if (check) {
      const same = (await Deno.readTextFile(path)) === body;
      console.log(`${rel}: ${same ? "up to date" : "differs from the generator's output"}`);
      differs ||= !same;
    } else {
      await Deno.writeTextFile(path, body);
      console.log(`wrote ${rel}`);
    }
  }
  if (differs) Deno.exit(1);
}
