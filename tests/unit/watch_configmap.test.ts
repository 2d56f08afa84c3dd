/**
 * Hot reload from a Kubernetes ConfigMap mount: the kubelet publishes a new version by writing a
 * new timestamped directory and renaming a `..data_tmp` symlink over `..data`; the mounted files
 * are symlinks through `..data` and never change themselves. The watcher must see that swap as
 * a change of the watched files, as the DaemonSet's hot reload relies on it.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { FileWatcher } from "../../src/agent/watch.ts";

/** Writes one version of a ConfigMap volume the way the kubelet's atomic writer does. */
async function publish(dir: string, version: number, files: Record<string, string>) {
  const ts = `..2026_01_01_00_00_0${version}.000000${version}`;
  await Deno.mkdir(`${dir}/${ts}`);
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${ts}/${name}`, text);
  }
  await Deno.symlink(ts, `${dir}/..data_tmp`);
  await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
  for (const name of Object.keys(files)) {
    try {
      await Deno.lstat(`${dir}/${name}`);
    } catch {
      await Deno.symlink(`..data/${name}`, `${dir}/${name}`);
    }
  }
}

Deno.test("watch: a ConfigMap volume update (..data swapped) is a change of its files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-configmap-" });
  const seen: string[][] = [];
  let watcher: FileWatcher | undefined;
  try {
    await publish(dir, 1, { "config.yaml": "priority: debug\n", "local_rules.yaml": "[]\n" });
    watcher = new FileWatcher(
      [`${dir}/config.yaml`, `${dir}/local_rules.yaml`, "builtin:rules"],
      (changed) => seen.push(changed),
      50,
    );
    await new Promise((r) => setTimeout(r, 100));
    await publish(dir, 2, { "config.yaml": "priority: warning\n", "local_rules.yaml": "[]\n" });
    const end = Date.now() + 3000;
    while (seen.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    assertEquals(seen.length, 1, "one reload for one ConfigMap update");
    assert(seen[0].some((p) => p.endsWith("/..data")), seen[0].join(","));
    assertEquals(await Deno.readTextFile(`${dir}/config.yaml`), "priority: warning\n");
  } finally {
    watcher?.close();
    await Deno.remove(dir, { recursive: true });
  }
});
