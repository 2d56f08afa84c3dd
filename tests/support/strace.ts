/**
 * Checks on an `strace -f` log, as the simulator's live test makes them: a pattern some line
 * must match, or patterns the lines of one process must match in order.
 *
 * With `-f`, strace splits a call in two when another traced process makes a call before it
 * returns: `12 connect(3, {...}, 16 <unfinished ...>`, later `12 <... connect resumed>) = 0`.
 * On two cores this happens whenever the lab's listener (traced too) accepts while the client
 * connects, or a child runs while its parent waits. The log is read with each call whole again,
 * so a check never depends on how the processes were scheduled. strace pads a pid to five
 * columns (`4021  dup2(...)`), so a machine with small pids writes two spaces after it; the
 * lines are read with one.
 *
 * @example
 * ```ts
 * const trace = "12 connect(3, {...}, 16 <unfinished ...>\n13 accept(4, NULL, NULL) = 5\n" +
 *   "12 <... connect resumed>) = 0";
 * passes(trace, /connect\(3, \{\.\.\.\}, 16\) = 0/); // true
 * ```
 * @module
 */

/** A pattern some line must match, or patterns that lines of one process match in order. */
export type TraceCheck = RegExp | { seq: RegExp[] };

const UNFINISHED = " <unfinished ...>";
const PID_PADDING = /^(\d+) +/;
const RESUMED = /^(\S+) <\.\.\. [\w]+ resumed>(.*)$/;

/**
 * The log's lines with every split call joined again (its head and the tail after
 * `<... NAME resumed>`), each at the place the call returned; whitespace before ` = ` is made
 * one space. A head never resumed (its process was killed) stays as it was written.
 */
export function wholeCalls(trace: string): string[] {
  const heads = new Map<string, { at: number; text: string }>();
  const out: string[] = [];
  for (const raw of trace.split("\n")) {
    const line = raw.replace(PID_PADDING, "$1 ");
    const resumed = RESUMED.exec(line);
    if (resumed) {
      const head = heads.get(resumed[1]);
      if (head) {
        heads.delete(resumed[1]);
        out[head.at] = "";
        out.push(head.text + resumed[2]);
        continue;
      }
    } else if (line.endsWith(UNFINISHED)) {
      const pid = line.slice(0, line.indexOf(" "));
      heads.set(pid, { at: out.length, text: line.slice(0, -UNFINISHED.length) });
    }
    out.push(line);
  }
  return out.filter((l) => l !== "").map((l) => l.replace(/\)\s+= /g, ") = "));
}

/**
 * The lines of an `strace -f` log (calls whole again) that name a system call a failed check
 * looks for, at most `max` of them: what a failure message shows, so that a check failing once
 * on a busy machine says whether the call is missing, split or formatted otherwise.
 *
 * @example
 * ```ts
 * relevantLines("12 connect(3, {...}, 16) = -1 ECONNREFUSED\n12 close(3) = 0", /connect\(3/);
 * // ["12 connect(3, {...}, 16) = -1 ECONNREFUSED"]
 * ```
 */
export function relevantLines(trace: string, check: TraceCheck, max = 30): string[] {
  const patterns = check instanceof RegExp ? [check] : check.seq;
  const names = patterns
    .map((p) => /^\^?(\w+)/.exec(p.source)?.[1])
    .filter((n): n is string => n !== undefined);
  const lines = wholeCalls(trace).filter((l) => names.some((n) => l.includes(` ${n}(`)));
  return lines.slice(-max);
}

/** Whether an `strace -f` log passes a check (see {@linkcode wholeCalls}). */
export function passes(trace: string, check: TraceCheck): boolean {
  const lines = wholeCalls(trace);
  if (check instanceof RegExp) return lines.some((l) => check.test(l));
  const byPid = new Map<string, string[]>();
  for (const l of lines) {
    const pid = l.slice(0, l.indexOf(" "));
    byPid.set(pid, [...(byPid.get(pid) ?? []), l]);
  }
  for (const pidLines of byPid.values()) {
    let i = 0;
    for (const l of pidLines) if (i < check.seq.length && check.seq[i].test(l)) i++;
    if (i === check.seq.length) return true;
  }
  return false;
}
