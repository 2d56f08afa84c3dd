/**
 * Every file the agent writes that holds alerts or events (the alert store with SQLite's `-wal`
 * and `-shm`, the file output, capture files) is private from its first byte: a real `saker run`
 * with the probe raises an alert with a capture while every file of its output folder is
 * watched; no file may ever show a permission for group or others.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot } from "../support/env.ts";
import { sakerRun, waitFor } from "../support/saker.ts";

/** Watches a folder's files; remembers every mode each one was seen with. */
function watchModes(dir: string): { seen: Map<string, Set<number>>; stop: () => Promise<void> } {
  const seen = new Map<string, Set<number>>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const e of Deno.readDirSync(dir)) {
        try {
          const mode = Deno.lstatSync(`${dir}/${e.name}`).mode! & 0o777;
          let modes = seen.get(e.name);
          if (!modes) seen.set(e.name, modes = new Set());
          modes.add(mode);
        } catch { /* removed meanwhile */ }
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Files of the output folder that showed other permissions than `allowed` at some point. */
function wider(seen: Map<string, Set<number>>, allowed: number): string[] {
  return [...seen]
    .filter(([, modes]) => [...modes].some((m) => m & ~allowed))
    .map(([n, modes]) => `${n}: ${[...modes].map((m) => m.toString(8)).join(",")}`);
}

for (const group of [undefined, 4242]) {
  const want = group === undefined ? 0o600 : 0o640;
  Deno.test({
    name: `saker run: the store, its -wal/-shm, the file output and captures are ` +
      `${want.toString(8)} throughout${group === undefined ? "" : " with file_group"}`,
    ignore: needsRoot(),
    fn: () => checkModes(group, want),
  });
}

async function checkModes(group: number | undefined, want: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saker-modes-" });
  const out = `${dir}/out`;
  await Deno.mkdir(out);
  const marker = `${dir}/marker-${crypto.randomUUID()}`;
  await Deno.writeTextFile(marker, "x");
  await Deno.writeTextFile(
    `${dir}/capture.yaml`,
    `- rule: marker read
  desc: a test reads its marker file
  condition: evt.type in (open, openat, openat2) and fd.name = ${marker}
  output: marker read by %proc.name
  priority: WARNING
  capture: true
  capture_duration: 300
`,
  );
  const watch = watchModes(out);
  const run = await sakerRun(
    dir,
    `rules_files: [${dir}/capture.yaml]
json_output: true
stdout_output: {enabled: false}
file_output: {enabled: true, filename: ${out}/alerts.log, keep_alive: true}
alert_store: {enabled: true, path: ${out}/alerts.db}
capture: {enabled: true, path_prefix: ${out}/cap, mode: rules}
webserver: {listen_port: 0}
watch_config_files: false
${group === undefined ? "" : `file_group: "${group}"\n`}`,
  );
  const api = await run.running();
  try {
    await new Deno.Command("cat", { args: [marker], stdout: "null" }).output();
    await waitFor("the capture", () => run.stderr().includes("capture written"), 30_000);
    await waitFor("the alert in the file", () => {
      try {
        return Deno.readTextFileSync(`${out}/alerts.log`).includes("marker read");
      } catch {
        return false;
      }
    });
    const res = await fetch(`${api}/alerts?rule=marker%20read`);
    assertEquals((await res.json()).alerts.length, 1);
  } finally {
    assertEquals((await run.stop()).code, 0, run.stderr());
    await watch.stop();
  }
  try {
    const names = [...watch.seen.keys()].sort();
    for (const file of ["alerts.db", "alerts.db-shm", "alerts.db-wal", "alerts.log"]) {
      assert(names.includes(file), `${file} was written (saw ${names.join(", ")})`);
    }
    assert(names.some((n) => n.startsWith("cap_") && n.endsWith(".scap")), names.join(", "));
    assertEquals(wider(watch.seen, want), [], "files readable by others at some point");
    for (const name of watch.seen.keys()) {
      let gid: number | null = null;
      try {
        gid = Deno.statSync(`${out}/${name}`).gid;
      } catch { /* SQLite removed it at close */ }
      if (group !== undefined && gid !== null) assertEquals(gid, group, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
