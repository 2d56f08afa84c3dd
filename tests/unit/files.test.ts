/**
 * Private files (src/files.ts) and their users: modes from creation with a permissive umask,
 * the group variant, narrowing an older wide file, group names; the alert store's database and
 * SQLite's companion files, the file output and the capture writer.
 */
import { assertEquals, assertThrows } from "../support/assert.ts";
import { IS_ROOT } from "../support/env.ts";
import { narrowFile, openPrivate, preparePrivate, resolveGroup } from "../../src/files.ts";
import { AlertStore } from "../../src/outputs/alert_store.ts";
import { FileOutput } from "../../src/outputs/file.ts";
import { ScapWriter } from "../../src/capture/writer.ts";
import { Registry } from "../../src/metrics.ts";

const mode = (p: string) => Deno.statSync(p).mode! & 0o777;
const GROUP = 54321;

/** Runs `f` in a fresh folder with the widest umask, so that only the code's modes count. */
async function inDir(f: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saker-files-" });
  const umask = Deno.umask(0);
  try {
    await f(dir);
  } finally {
    Deno.umask(umask);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("files: created 0600 under any umask; an existing file keeps its mode", () =>
  inDir((dir) => {
    openPrivate(`${dir}/a`, { append: true }).close();
    assertEquals(mode(`${dir}/a`), 0o600);
    Deno.writeTextFileSync(`${dir}/b`, "x", { mode: 0o644 });
    Deno.chmodSync(`${dir}/b`, 0o644);
    openPrivate(`${dir}/b`, { append: true }).close();
    assertEquals(mode(`${dir}/b`), 0o644, "a user's own file is left alone");
    preparePrivate(`${dir}/c`);
    assertEquals(mode(`${dir}/c`), 0o600);
    preparePrivate(`${dir}/b`);
    assertEquals(mode(`${dir}/b`), 0o600, "the store's database is narrowed");
    assertEquals(Deno.umask(), 0, "the umask is restored");
  }));

Deno.test({
  name: "files: with a group, 0640 and owned by the group",
  ignore: !IS_ROOT,
  fn: () =>
    inDir((dir) => {
      openPrivate(`${dir}/a`, { group: GROUP }).close();
      assertEquals([mode(`${dir}/a`), Deno.statSync(`${dir}/a`).gid], [0o640, GROUP]);
      Deno.writeTextFileSync(`${dir}/b`, "x");
      Deno.chmodSync(`${dir}/b`, 0o666);
      narrowFile(`${dir}/b`, { group: GROUP });
      assertEquals([mode(`${dir}/b`), Deno.statSync(`${dir}/b`).gid], [0o640, GROUP]);
    }),
});

Deno.test("files: groups by name or number; an unknown name is an error naming it", () =>
  inDir((dir) => {
    Deno.writeTextFileSync(`${dir}/group`, "root:x:0:\nsaker-readers:x:4242:alice\n");
    assertEquals(resolveGroup("saker-readers", `${dir}/group`), 4242);
    assertEquals(resolveGroup("17", `${dir}/group`), 17);
    assertThrows(() => resolveGroup("nobody-here", `${dir}/group`), "'nobody-here'");
  }));

Deno.test("files: the alert store, its -wal and -shm, the file output and captures", () =>
  inDir(async (dir) => {
    const store = AlertStore.open({ path: `${dir}/db/alerts.db`, registry: new Registry() });
    for (const f of ["alerts.db", "alerts.db-wal", "alerts.db-shm"]) {
      assertEquals(mode(`${dir}/db/${f}`).toString(8), "600", f);
    }
    store.close();
    // A store left wide by an older version is narrowed with its companions.
    for (const f of ["alerts.db", "alerts.db-wal", "alerts.db-shm"]) {
      try {
        Deno.chmodSync(`${dir}/db/${f}`, 0o644);
      } catch { /* removed at close */ }
    }
    AlertStore.open({ path: `${dir}/db/alerts.db`, registry: new Registry() }).close();
    for (const e of Deno.readDirSync(`${dir}/db`)) {
      assertEquals(mode(`${dir}/db/${e.name}`).toString(8), "600", e.name);
    }
    const out = new FileOutput({ filename: `${dir}/alerts.log`, json: true, keepAlive: true });
    await out.write([]);
    await out.close();
    assertEquals(mode(`${dir}/alerts.log`), 0o600);
    const w = await ScapWriter.create(`${dir}/c.scap`, { gzip: true });
    await w.close();
    assertEquals(mode(`${dir}/c.scap`), 0o600);
  }));
