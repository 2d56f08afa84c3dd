/**
 * Who may reach the API: a non-loopback address without a token is refused by the config check
 * unless `webserver.allow_unauthenticated` says so (then it is warned about); `saker token`
 * makes tokens, once into a private file when asked.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { isLoopbackAddress } from "../../src/server/loopback.ts";
import { exposureWarnings } from "../../src/agent/settings.ts";
import { newToken, tokenFile } from "../../src/cli/token.ts";

async function problems(overrides: string[]): Promise<string[]> {
  try {
    await loadConfig({ text: "{}", overrides, env: {} });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

Deno.test("isLoopbackAddress: loopback addresses and names; wildcards and others are not", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
    assert(isLoopbackAddress(a), a);
  }
  for (const a of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "node-1", "128.0.0.1", ""]) {
    assert(!isLoopbackAddress(a), a);
  }
});

Deno.test("config: a non-loopback API needs a token or allow_unauthenticated", async () => {
  const open = await problems(["webserver.listen_address=0.0.0.0"]);
  assertEquals(open.length, 1);
  assertStringIncludes(open[0], "webserver.listen_address");
  assertStringIncludes(open[0], "saker token");
  assertEquals(
    await problems(["webserver.listen_address=0.0.0.0", `webserver.auth_token=${newToken()}`]),
    [],
  );
  assertEquals(
    await problems(["webserver.listen_address=0.0.0.0", "webserver.allow_unauthenticated=true"]),
    [],
  );
  assertEquals(await problems(["webserver.listen_address=127.0.0.1"]), []);
  assertEquals(await problems(["webserver.listen_address=0.0.0.0", "webserver.enabled=false"]), []);
});

Deno.test("exposure warnings: an open API, a short token; none for loopback or a long token", async () => {
  const w = async (overrides: string[]) =>
    exposureWarnings((await loadConfig({ text: "{}", overrides, env: {} })).config.webserver);
  const open = await w([
    "webserver.listen_address=0.0.0.0",
    "webserver.allow_unauthenticated=true",
  ]);
  assertEquals(open.length, 1);
  assertStringIncludes(open[0], "without a token");
  assertStringIncludes((await w(["webserver.auth_token=abc"]))[0], "3 characters");
  assertEquals(await w([]), []);
  assertEquals(
    await w(["webserver.listen_address=0.0.0.0", `webserver.auth_token=${newToken()}`]),
    [],
  );
});

Deno.test("saker token: 43 base64url characters, new each time; --file keeps the first, 0600", async () => {
  const a = newToken(), b = newToken();
  assert(/^[A-Za-z0-9_-]{43}$/.test(a), a);
  assert(a !== b);
  const dir = await Deno.makeTempDir();
  try {
    const first = tokenFile(`${dir}/token`);
    assertEquals(tokenFile(`${dir}/token`), first);
    assertEquals(Deno.readTextFileSync(`${dir}/token`), first + "\n");
    assertEquals(Deno.statSync(`${dir}/token`).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
