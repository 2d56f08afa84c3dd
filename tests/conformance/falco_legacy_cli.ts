/**
 * The command-line side of Falco's legacy suite: cases that check what Falco prints (stdout
 * and stderr patterns, exact output files, JSON properties, ISO 8601 times), the outputs its
 * config file enables (file, program), and its exit status. They run `saker replay TRACE -c
 * CONF -r RULES...` (the agent with the capture as its source) in a subprocess; detections
 * are still checked by the in-process replayer.
 *
 * A few patterns match Falco's own wording of a log or error line rather than anything a rule
 * produces; Saker writes its own words there, so those patterns are listed in
 * {@link OWN_WORDING} with the reason, and only the exit status and outputs are checked.
 * @module
 */
import type { LegacyCase, ReplayRequest } from "./falco_legacy.ts";

/** Case keys this module handles. */
export const CLI_KEYS = [
  "conf_file",
  "stdout_contains",
  "stderr_contains",
  "stdout_not_contains",
  "stderr_not_contains",
  "output_strictly_contains",
  "json_output",
  "json_include_output_property",
  "json_include_tags_property",
  "time_iso_8601",
];

/** Patterns of Falco's own message wording, with why Saker's differs. */
export const OWN_WORDING: { pattern: string; reason: string }[] = [
  {
    pattern: "Error: You can not specify both disabled .-D/-T. and enabled .-t. rules",
    reason: "Falco's error text; Saker refuses the same option mix (exit status 1) in its words",
  },
  {
    pattern: "^\\d\\d\\d\\d-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\+0000",
    reason: "Falco's log line prefix; Saker's log lines start with an RFC 3339 time (…Z)",
  },
  {
    pattern: "event drop detected: 9 occurrences",
    reason: "Falco's drop log wording; Saker's drop monitor logs its own line",
  },
  {
    pattern: "event drop detected: 1 occurrences",
    reason: "Falco's drop log wording; Saker's drop monitor logs its own line",
  },
  {
    pattern: "num times actions taken: 9",
    reason: "Falco's drop log wording; Saker's drop monitor logs its own line",
  },
  {
    pattern: "num times actions taken: 1",
    reason: "Falco's drop log wording; Saker's drop monitor logs its own line",
  },
  {
    pattern: 'syscall event drop action "log" does not make sense with the "ignore" action',
    reason: "Falco's config error text; Saker rejects the same config (exit status 1) in its words",
  },
  {
    pattern: "syscall event drops threshold must be a double in the range",
    reason: "Falco's config error text; Saker rejects the same config (exit status 1) in its words",
  },
  {
    pattern: "Exiting.",
    reason: "Falco's log wording when the drop action is exit; Saker exits with status 1",
  },
];

const REPO = new URL("../../", import.meta.url).pathname;

function asList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** Python's re.search on the whole text, as Falco's suite does (no multiline anchors). */
function search(pattern: string, text: string): boolean {
  // Python's (?!…) and character classes read the same in JavaScript for these patterns.
  return new RegExp(pattern).test(text);
}

function jsonOrUndefined(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) return false;
  if (a === null || typeof a !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object).sort(), kb = Object.keys(b as object).sort();
  if (ka.join() !== kb.join()) return false;
  return ka.every((k) =>
    sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

/** Runs a case's command line and returns the reasons it fails (empty when it passes). */
export async function runCliCase(c: LegacyCase, req: ReplayRequest): Promise<string[]> {
  const s = c.spec;
  const args = ["run", "-A", `${REPO}src/main.ts`, "replay", req.traceFile];
  if (req.confFile) args.push("-c", req.confFile);
  // Audit cases fill their config's empty k8saudit open_params on the command line, as in Falco.
  if (req.source === "k8s_audit") {
    args.push(...String(s.addl_cmdline_opts ?? "").trim().split(/\s+/));
  }
  for (const r of req.rulesFiles) args.push("-r", r);
  for (const d of req.disabledRules) args.push("-D", d);
  for (const t of req.disableTags) args.push("-T", t);
  for (const t of req.runTags) args.push("-t", t);
  args.push("-o", `priority=${req.priority.toLowerCase()}`);
  if (s.time_iso_8601) args.push("-o", "time_format_iso_8601=true");
  if (s.json_output) args.push("-o", "json_output=true");
  for (const k of ["json_include_output_property", "json_include_tags_property"]) {
    if (k in s) args.push("-o", `${k}=${String(s[k]).toLowerCase()}`);
  }
  // Output files the case's config names live under /tmp/falco_outputs.
  const outDir = "/tmp/falco_outputs";
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(outDir, { recursive: true });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: c.baseDir,
      env: { FALCO_HOSTNAME: "test-falco-hostname" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const reasons: string[] = [];
    const want = Number(s.exit_status ?? 0);
    if (out.code !== want) reasons.push(`exit status ${out.code}, expected ${want}`);
    const own = new Set(OWN_WORDING.map((w) => w.pattern));
    const check = (key: string, text: string, present: boolean) => {
      for (const p of asList(s[key])) {
        if (own.has(p)) continue;
        if (search(p, text) !== present) {
          reasons.push(`${key}: ${JSON.stringify(p)} ${present ? "not found" : "found"}`);
        }
      }
    };
    check("stdout_contains", stdout, true);
    check("stderr_contains", stderr, true);
    check("stdout_not_contains", stdout, false);
    check("stderr_not_contains", stderr, false);
    for (const entry of (s.output_strictly_contains ?? []) as Record<string, string>[]) {
      for (const [where, expectedFile] of Object.entries(entry)) {
        const actual = where === "stdout" ? stdout : await Deno.readTextFile(where).catch(() => "");
        const got = actual.split("\n").filter((l) => l !== "");
        const expected = (await Deno.readTextFile(`${c.baseDir}/${expectedFile}`))
          .split("\n").filter((l) => l !== "");
        for (const line of expected) {
          const j = jsonOrUndefined(line);
          const found = j !== undefined
            ? got.some((g) => sameJson(jsonOrUndefined(g), j))
            : got.includes(line);
          if (!found) reasons.push(`${where}: missing line ${line}`);
        }
      }
    }
    if (reasons.length > 0) reasons.push(`stderr: ${stderr.slice(0, 2000)}`);
    return reasons;
  } finally {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
}
