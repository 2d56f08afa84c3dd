/**
 * Runtime event sources, one case table for both kinds: the Docker-compatible `/events` stream
 * (a real HTTP server on a unix socket writing event lines as a runtime does) and podman's event
 * log file (real lines appended to a real file, followed with inotify). Then the container store
 * driven by them: a container announced at `create` is complete before its first process is
 * seen, with the labels the event carried.
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  ApiEventStream,
  parseApiEvent,
  parsePodmanLogLine,
  PodmanEventLog,
  type RuntimeEvent,
  type RuntimeEventSource,
} from "../../src/state/containers/watch.ts";
import { ContainerStore } from "../../src/state/containers/runtime.ts";

const ID = "c0".repeat(32);

/** One lifecycle, as each runtime writes it. */
const LIFECYCLE = [
  { action: "create", labels: { "io.kubernetes.pod.name": "web-0", app: "web" } },
  { action: "start", labels: { "io.kubernetes.pod.name": "web-0", app: "web" } },
  { action: "die", labels: { "io.kubernetes.pod.name": "web-0", app: "web" } },
];

function apiLine(action: string, labels: Record<string, string>): string {
  return JSON.stringify({
    status: action,
    id: ID,
    from: "localhost/app:1",
    Type: "container",
    Action: action,
    Actor: {
      ID,
      Attributes: {
        containerExitCode: "0",
        image: "localhost/app:1",
        name: "web",
        podId: "",
        ...labels,
      },
    },
    scope: "local",
    time: 1796238596,
    timeNano: 1796238596379223049,
  });
}

function logLine(action: string, labels: Record<string, string>): string {
  return JSON.stringify({
    ID,
    Image: "localhost/app:1",
    Name: "web",
    Status: action === "die" ? "died" : action,
    Time: "2026-12-02T19:09:56.509751875Z",
    Type: "container",
    Attributes: labels,
  });
}

/** A fake runtime: serves /events (lines pushed by the test) and the inspect answer. */
class FakeApi {
  readonly sock: string;
  #server: Deno.HttpServer;
  #push: Array<(line: string) => void> = [];
  inspected = 0;

  constructor(dir: string) {
    this.sock = `${dir}/api.sock`;
    this.#server = Deno.serve({ path: this.sock, onListen() {} }, (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/events") {
        let ctl!: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            ctl = c;
          },
        });
        this.#push.push((line) => ctl.enqueue(new TextEncoder().encode(line + "\n")));
        return new Response(body, { headers: { "content-type": "application/json" } });
      }
      if (url.pathname === "/version") {
        return Response.json({ Components: [{ Name: "Podman Engine" }] });
      }
      if (url.pathname === `/containers/${ID}/json`) {
        this.inspected++;
        return Response.json({
          Id: ID,
          Name: "web",
          Config: {
            Image: "localhost/app:1",
            Labels: { "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "prod" },
          },
          HostConfig: { Privileged: true },
          Mounts: [{ Source: "/etc", Destination: "/host/etc", Mode: "", RW: false }],
          State: { StartedAt: "0001-01-01T00:00:00Z" },
          Created: "2026-12-02T19:10:05.149643559Z",
        });
      }
      return new Response("no such container", { status: 404 });
    });
  }

  /** True once a client follows /events. */
  get followed(): boolean {
    return this.#push.length > 0;
  }

  emit(line: string): void {
    for (const p of this.#push) p(line);
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

interface Rig {
  source: RuntimeEventSource;
  write(action: string, labels: Record<string, string>): Promise<void>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

const KINDS: Record<string, (dir: string) => Promise<Rig>> = {
  "Docker-compatible /events": (dir) => {
    const api = new FakeApi(dir);
    const source = new ApiEventStream(api.sock);
    return Promise.resolve({
      source,
      write: (a, l) => Promise.resolve(api.emit(apiLine(a, l))),
      ready: () => until(() => api.followed && source.live),
      close: () => api.close(),
    });
  },
  "podman event log": async (dir) => {
    const path = `${dir}/events/events.log`;
    await Deno.mkdir(`${dir}/events`);
    await Deno.writeTextFile(path, logLine("create", {}) + "\n"); // older lines are not replayed
    const source = new PodmanEventLog(path);
    return {
      source,
      write: (a, l) => Deno.writeTextFile(path, logLine(a, l) + "\n", { append: true }),
      ready: () => until(() => source.live),
      close: () => Promise.resolve(),
    };
  },
};

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const [kind, make] of Object.entries(KINDS)) {
  Deno.test(`runtime events (${kind}): create, start and die with name, image, labels`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "saker-rtev-" });
    const rig = await make(dir);
    const got: RuntimeEvent[] = [];
    try {
      rig.source.start((e) => got.push(e));
      await rig.ready();
      await new Promise((r) => setTimeout(r, 50)); // the watcher is in place
      for (const step of LIFECYCLE) await rig.write(step.action, step.labels);
      await until(() => got.length >= LIFECYCLE.length);
      assertEquals(got.map((e) => e.action), ["create", "start", "die"]);
      for (const e of got) {
        assertEquals([e.id, e.name, e.image, e.type], [ID, "web", "localhost/app:1", "podman"]);
        assertEquals(e.labels, { "io.kubernetes.pod.name": "web-0", app: "web" });
      }
    } finally {
      await rig.source.close();
      assert(!rig.source.live, "not live once closed");
      await rig.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("runtime events: lines that are not container events are skipped", () => {
  assertEquals(
    parseApiEvent('{"Type":"image","Action":"pull","Actor":{"ID":""}}', "docker"),
    undefined,
  );
  assertEquals(parseApiEvent("not json", "docker"), undefined);
  assertEquals(parsePodmanLogLine('{"Type":"image","Status":"pull"}'), undefined);
  assertEquals(
    parseApiEvent(
      JSON.stringify({
        Type: "container",
        Action: "exec_create: sh -c id",
        Actor: { ID, Attributes: {} },
      }),
      "docker",
    )?.action,
    "exec_create",
  );
});

Deno.test("containers: announced at create, complete before the first process is seen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saker-rtev-" });
  const api = new FakeApi(dir);
  const stream = new ApiEventStream(api.sock);
  const store = new ContainerStore({ sockets: [api.sock], events: [stream] });
  const settled: string[] = [];
  store.onSettled((id) => settled.push(id));
  try {
    store.start();
    await until(() => api.followed && stream.live);
    assert(store.reachable, "a connected API stream makes lookups worth waiting for");
    api.emit(apiLine("create", { "io.kubernetes.pod.name": "web-0" }));
    await until(() => store.status(ID) === "complete");
    assertEquals(settled, [ID]);
    const c = store.get(ID)!;
    assertEquals([c.name, c.privileged, c.labels?.["io.kubernetes.pod.namespace"]], [
      "web",
      true,
      "prod",
    ]);
    assertEquals(c.startTs, 1796238605149643559n, "Created, in ns, while StartedAt is zero");
    store.request(ID, "podman", 4242);
    assertEquals([store.stats.announced, store.stats.readyAtFirstEvent], [1, 1]);
    assertEquals(api.inspected, 1);
  } finally {
    await store.close();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
