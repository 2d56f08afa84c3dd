/**
 * Container metadata lookups: a real HTTP server on a unix socket answering the Docker
 * inspect call, a runtime that never answers (timeouts, retries, giving up), no runtime at all.
 * The event path only ever reads the cache, so it never waits.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { ContainerStore } from "../../src/state/containers/runtime.ts";
import { unixGet } from "../../src/state/containers/unix_http.ts";

const ID = "ab".repeat(32);

Deno.test("containers: metadata from an inspect answer over a unix socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-ctr-" });
  const sock = `${dir}/api.sock`;
  let asked = "";
  const server = Deno.serve({ path: sock, onListen() {} }, (req) => {
    asked = new URL(req.url).pathname;
    return Response.json({
      Id: ID,
      Name: "/web",
      Image: "sha256:" + "cd".repeat(32),
      Config: { Image: "docker.io/library/nginx:1.25", Labels: { tier: "front" } },
      HostConfig: { Privileged: false, NetworkMode: "host" },
      Mounts: [{ Source: "/srv", Destination: "/usr/share/nginx", Mode: "", RW: false }],
      State: { StartedAt: "2025-01-01T00:00:00Z" },
      NetworkSettings: { IPAddress: "172.17.0.2" },
    });
  });
  const store = new ContainerStore({ sockets: [`${dir}/absent.sock`, sock] });
  try {
    store.request(ID, "docker", 1);
    assertEquals(store.get(ID)?.name, undefined, "nothing known at once: the caller does not wait");
    assertEquals(store.status(ID), "pending");
    await store.settled();
    assertEquals(store.status(ID), "complete");
    const c = store.get(ID)!;
    assertEquals(asked, `/containers/${ID}/json`);
    assertEquals([c.name, c.type, c.image, c.imageRepository, c.imageTag], [
      "web",
      "docker",
      "docker.io/library/nginx:1.25",
      "docker.io/library/nginx",
      "1.25",
    ]);
    assertEquals([c.privileged, c.hostNetwork, c.ip, c.labels?.tier], [
      false,
      true,
      "172.17.0.2",
      "front",
    ]);
    assertEquals(c.mounts?.[0], {
      source: "/srv",
      dest: "/usr/share/nginx",
      mode: "",
      rw: false,
      propagation: "",
    });
    assertEquals(store.stats.found, 1);
    store.request(ID, "docker", 1);
    await store.settled();
    assertEquals(store.stats.lookups, 1, "a known container is not looked up again");
  } finally {
    await store.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("containers: a runtime that never answers times out, retries, gives up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-ctr-" });
  const sock = `${dir}/silent.sock`;
  // A listener that accepts and never replies.
  const listener = Deno.listen({ transport: "unix", path: sock });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const c of listener) held.push(c);
  })().catch(() => {});
  const store = new ContainerStore({
    sockets: [sock],
    timeoutMs: 50,
    retryMs: 10,
    maxAttempts: 3,
    reaskMs: 0,
  });
  try {
    store.request(ID, "podman", 1);
    const end = Date.now() + 5000;
    while (store.stats.givenUp === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await store.settled();
    assertEquals(store.stats.lookups, 3);
    assertEquals(store.stats.failures, 3);
    assertEquals(store.stats.givenUp, 1);
    const stub = store.get(ID)!;
    assertEquals([stub.type, stub.name], ["podman", undefined], "known to be unknown");
    store.request(ID, "podman", 1); // a later sighting asks again (reaskMs 0)
    await store.settled();
    assert(store.stats.lookups >= 4, "asked again after giving up");
  } finally {
    await store.close();
    listener.close();
    for (const c of held) c.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("containers: no runtime socket at all", async () => {
  await assertRejects(() => unixGet("/nonexistent/saker.sock", "/x", 100));
  const store = new ContainerStore({ sockets: ["/nonexistent/saker.sock"], maxAttempts: 1 });
  store.request(ID, "docker", 1);
  await store.settled();
  assertEquals(store.stats.givenUp, 1);
  assertEquals(store.get(ID)?.name, undefined);
  await store.close();
});

Deno.test("containers: one removed before podman answered is complete from its OCI bundle", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-ctr-" });
  const sock = `${dir}/api.sock`;
  // Podman's answer for a container it has removed already.
  const server = Deno.serve(
    { path: sock, onListen() {} },
    () => Response.json({ cause: "no such container", response: 404 }, { status: 404 }),
  );
  const bundles = `${dir}/containers`;
  const spec = (id: string, annotations: Record<string, string>, namespaces: string[]) =>
    Deno.mkdir(`${bundles}/${id}/userdata`, { recursive: true }).then(() =>
      Deno.writeTextFile(
        `${bundles}/${id}/userdata/config.json`,
        JSON.stringify({
          annotations,
          linux: { namespaces: namespaces.map((type) => ({ type })) },
          mounts: [
            { destination: "/proc", type: "proc", source: "proc", options: ["nosuid"] },
            {
              destination: "/etc/hosts",
              type: "bind",
              source: `/run/containers/storage/overlay-containers/${id}/userdata/hosts`,
              options: ["bind", "rprivate"],
            },
            {
              destination: "/host/etc",
              type: "bind",
              source: "/etc",
              options: ["ro", "rbind", "rprivate", "nosuid"],
            },
          ],
        }),
      )
    );
  const OTHER = "cd".repeat(32);
  await spec(ID, {
    "io.container.manager": "libpod",
    "io.podman.annotations.privileged": "TRUE",
  }, ["mount", "network", "ipc", "uts"]);
  await spec(OTHER, { "io.container.manager": "something-else" }, []);
  const store = new ContainerStore({ sockets: [sock], bundleDirs: [bundles], maxAttempts: 3 });
  try {
    store.request(ID, "podman", 1);
    store.request(OTHER, "podman", 2);
    for (let i = 0; i < 100 && store.stats.givenUp + store.stats.fromBundle < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(store.status(ID), "complete");
    const c = store.get(ID)!;
    assertEquals([c.privileged, c.hostPid, c.hostNetwork, c.hostIpc], [true, true, false, false]);
    // The user's bind mount, as the inspect answer lists it; podman's own files and /proc not.
    assertEquals(c.mounts, [
      { source: "/etc", dest: "/host/etc", mode: "", rw: false, propagation: "rprivate" },
    ]);
    assertEquals(store.stats.fromBundle, 1);
    // A bundle podman did not write tells nothing: the lookup gives up as before.
    assertEquals(store.status(OTHER), "failed");
    assertEquals(store.get(OTHER)?.privileged, undefined);
  } finally {
    await store.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
