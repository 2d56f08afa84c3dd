/**
 * `saker capture FILTER` on the real kernel: a filter on a process name and event types keeps
 * only that process's opens, printed (--json) and written (-w, read back by `saker replay`),
 * while another process opens files at the same time. The process name comes from state
 * tracking, so the test also shows that filters see the fields rules see.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsRoot, REPO_ROOT } from "../support/env.ts";

const ignore = needsRoot();
const MAIN = `${REPO_ROOT}src/main.ts`;

/** Copies /usr/bin/cat under `name`, so its processes have that comm. */
async function catNamed(dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.copyFile("/usr/bin/cat", path);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Runs `saker capture ARGS` while `keep` and `drop` open their files every 200 ms. */
async function captureWhile(
  args: string[],
  run: { keep: string[]; drop: string[] },
  done: (stdout: string) => boolean,
): Promise<{ stdout: string; stderr: string; code: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "capture", "-M", "40", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) stdout += chunk;
  })();
  const stderr = new Response(child.stderr).text();
  const end = Date.now() + 30_000;
  while (Date.now() < end && !done(stdout)) {
    for (const cmd of [run.keep, run.drop]) {
      await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null" }).output();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // Events already in the ring are read before the capture stops.
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGINT");
  const { code } = await child.status;
  await reading;
  return { stdout, stderr: await stderr, code };
}

Deno.test({
  name: "saker capture FILTER: only one process's opens, printed and written",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "saker-capfilter-" });
    try {
      const keep = await catNamed(dir, "sakerkeepopens");
      const drop = await catNamed(dir, "sakerdropopens");
      await Deno.writeTextFile(`${dir}/keep.txt`, "k\n");
      await Deno.writeTextFile(`${dir}/drop.txt`, "d\n");
      const run = { keep: [keep, `${dir}/keep.txt`], drop: [drop, `${dir}/drop.txt`] };
      const filter = "evt.type in (open, openat) and proc.name=sakerkeepopens";

      // Printed: every line is an open of the kept process; its file is among them.
      const printed = await captureWhile(
        ["--json", filter],
        run,
        (out) => out.includes(`${dir}/keep.txt`),
      );
      assertEquals(printed.code, 0, printed.stderr);
      const events = printed.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
      assert(events.length > 0, printed.stderr);
      for (const e of events) {
        assert(["open", "openat"].includes(e.type), JSON.stringify(e));
        assertEquals(e.comm, "sakerkeepopens", JSON.stringify(e));
      }
      const names = events.map((e) => String(e.args.name));
      assert(names.includes(`${dir}/keep.txt`), names.join("\n"));
      assert(!names.includes(`${dir}/drop.txt`), names.join("\n"));

      // Written: the file holds the kept process's opens only, as saker replay reads it.
      const file = `${dir}/kept.scap`;
      let rounds = 0;
      const written = await captureWhile(["-w", file, filter], run, () => {
        try {
          Deno.statSync(file); // the header is written once the probe is attached
          return ++rounds > 10;
        } catch {
          return false;
        }
      });
      assertEquals(written.code, 0, written.stderr);
      const replay = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "replay",
          file,
          "--no-rules",
          "--no-progress",
          "-p",
          "%evt.type %proc.name %fd.name",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(replay.success, new TextDecoder().decode(replay.stderr));
      const why = `${written.stderr}\n${new TextDecoder().decode(replay.stderr)}`;
      const lines = new TextDecoder().decode(replay.stdout).split("\n").filter((l) => l !== "");
      // sysdig029 format: each exit event is written with its enter event (no fd name yet).
      const exits = lines.filter((l) => l.includes(`${dir}/`));
      assert(
        exits.includes(`openat sakerkeepopens ${dir}/keep.txt`),
        `${lines.join("\n")}\n${why}`,
      );
      for (const l of lines) assert(/^openat? sakerkeepopens/.test(l), l);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
