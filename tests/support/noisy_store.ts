/**
 * A store of a noisy day for the tuning tests: a backup job copying /etc/shadow and /etc/gshadow
 * and a config tool writing below /etc (330 alerts, a summary among them), and 18 alerts that
 * must stay (a program in /tmp, one-off reads and writes).
 * @module
 */
import type { Alert, OutputFieldValue } from "../../src/rules/alert.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertFormatter } from "../../src/outputs/format.ts";
import { AlertStore } from "../../src/outputs/alert_store.ts";
import { FormattedAlert } from "../../src/outputs/output.ts";

/** The first of the two rules the store's alerts belong to (Saker's default rules). */
export const READ = "Sensitive file read by untrusted program";
/** The second of the two rules the store's alerts belong to. */
export const WRITE = "File written below /etc";

/** The newest alert's time: now, so that `--since 24h` finds them all. */
export const NOW = BigInt(Date.now()) * 1_000_000n;
/** The formatter the store's rows are written with. */
export const fmt = new AlertFormatter({ hostname: "n1" });

/** An alert `i` seconds before NOW; with `count`, a window summary standing for that many. */
export function alert(
  rule: string,
  fields: Record<string, OutputFieldValue>,
  i: number,
  count = 0,
): Alert {
  const a: Alert = {
    time: NOW - BigInt(i) * 1_000_000_000n,
    rule,
    priority: "Warning",
    source: "syscall",
    tags: [],
    output: `${rule} ${JSON.stringify(fields)}`,
    outputFields: { "container.id": "host", "container.image.repository": null, ...fields },
  };
  if (count > 0) {
    a.aggregate = {
      count,
      first: a.time,
      last: a.time,
      since: a.time,
      reason: "window",
      samples: {},
    };
  }
  return a;
}

/** Output fields of a program run from bash touching `file`. */
export const proc = (exepath: string, file: string) => ({
  "proc.exepath": exepath,
  "proc.name": exepath.split("/").pop()!,
  "proc.pexepath": "/usr/bin/bash",
  "proc.pname": "bash",
  "fd.name": file,
});

/** Fills the store at `path` (created when missing) with the noisy day's 348 alerts. */
export function noisyStore(path: string): void {
  const store = AlertStore.open({ path, registry: new Registry() });
  const batch: Alert[] = [];
  for (let i = 0; i < 100; i++) batch.push(alert(READ, proc("/usr/bin/cp", "/etc/shadow"), i));
  // A summary standing for 150 more of the same.
  batch.push(alert(READ, proc("/usr/bin/cp", "/etc/shadow"), 100, 150));
  for (let i = 0; i < 40; i++) batch.push(alert(READ, proc("/usr/bin/cp", "/etc/gshadow"), i));
  for (let i = 0; i < 40; i++) batch.push(alert(WRITE, proc("/usr/bin/tee", "/etc/app conf.d"), i));
  // To stay: a program in /tmp reading shadow many times, one-off reads by other programs.
  for (let i = 0; i < 15; i++) batch.push(alert(READ, proc("/tmp/.x/loot", "/etc/shadow"), i));
  batch.push(alert(READ, proc("/usr/bin/python3.11", "/etc/shadow"), 1));
  batch.push(alert(READ, proc("/usr/bin/perl", "/etc/shadow"), 2));
  batch.push(alert(WRITE, proc("/usr/bin/vi", "/etc/hosts"), 3));
  store.insert(batch.map((a) => new FormattedAlert(a, fmt)));
  store.close();
}
