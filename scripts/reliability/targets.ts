/**
 * The fuzz targets: every parser that takes input from outside the agent, each with a corpus of
 * real inputs to mutate, the way it is driven (as the agent drives it), and the errors it is
 * documented to raise. Anything else it throws is a crash.
 *
 * - `condition`: the condition parser (`parseCondition`; ParseError documented);
 * - `rules`: the rules loader on a whole file (`loadRulesText`: every problem is a result, nothing
 *   may be thrown);
 * - `config`: the config loader (`loadConfig`; ConfigError documented);
 * - `capture`: the capture reader, every event printed (`ScapReader`; ScapFormatError);
 * - `live`: the live record decoder on ring drains, each event applied to the state and printed
 *   (nothing may be thrown);
 * - `webhook`: the Kubernetes audit webhook's body parser through its handler (answers 200, 400,
 *   413, 415 or 503, never throws);
 * - `api_query`: the query strings of `/alerts` and `/alerts/stream` through the API app
 *   (answers 200 or 400).
 *
 * @example
 * ```ts
 * import { TARGETS } from "./targets.ts";
 * const t = TARGETS.condition;
 * const corpus = await t.corpus();
 * ```
 * @module
 */
import { parse as parseYaml } from "yaml";
import { parseCondition, ParseError } from "../../src/rules/parser.ts";
import { loadRulesText } from "../../src/rules/loader.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { type ByteSource, ScapReader } from "../../src/capture/reader.ts";
import { ScapFormatError } from "../../src/capture/errors.ts";
import { ScapWriter } from "../../src/capture/writer.ts";
import { decodeLiveBatch, type Event } from "../../src/events/event.ts";
import { formatEventLine } from "../../src/events/print.ts";
import { StateStore } from "../../src/state/store.ts";
import { AuditWebhook } from "../../src/sources/k8saudit_webhook.ts";
import { createApp } from "../../src/server/app.ts";
import { LiveAlerts } from "../../src/server/live_alerts.ts";
import { Registry } from "../../src/metrics.ts";
import { AlertStore } from "../../src/outputs/alert_store.ts";
import { mutateBytes, mutateText, pick, type Rng } from "./mutate.ts";
import { referenceDir } from "../reference.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** What a target's corpus holds. */
export interface Corpus {
  texts?: string[];
  bytes?: Uint8Array[];
}

/** One fuzz target. */
export interface Target {
  name: string;
  /** Real inputs to start from (read once per worker). */
  corpus(): Promise<Corpus>;
  /** Input number `i`: a mutation of the corpus. */
  input(r: Rng, corpus: Corpus): string | Uint8Array;
  /** Feeds one input; resolves or throws. */
  run(input: string | Uint8Array, corpus: Corpus): Promise<void> | void;
  /** Whether an error is one the target documents (a verdict, not a crash). */
  documented(err: unknown): boolean;
  /** The command that takes this input from a file, for exit-code checks: argv and exit codes. */
  cli?: { args: (file: string) => string[]; codes: number[]; suffix: string };
}

/** Conditions of Saker's rules (and macros), the condition corpus. */
async function conditions(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}rules`)) {
    if (!e.name.endsWith(".yaml")) continue;
    const items = parseYaml(await Deno.readTextFile(`${ROOT}rules/${e.name}`)) as {
      condition?: string;
    }[];
    for (const it of items ?? []) if (typeof it?.condition === "string") out.push(it.condition);
  }
  return out;
}

/** Saker's rules files, whole and item by item. */
async function rulesTexts(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}rules`)) {
    if (!e.name.endsWith(".yaml")) continue;
    const text = await Deno.readTextFile(`${ROOT}rules/${e.name}`);
    out.push(text);
    out.push(...text.split(/\n(?=- )/).map((s) => s.trim() + "\n"));
  }
  return out;
}

const CONDITION_WORDS = [
  " and ",
  " or ",
  "not ",
  " in ",
  " = ",
  " != ",
  " contains ",
  " startswith ",
  " glob ",
  " pmatch ",
  " regex ",
  " exists",
  " intersects ",
  "evt.type",
  "proc.name",
  "proc.aname[3]",
  "fd.name",
  "fd.sip",
  "evt.arg.flags",
  "proc.env[HOME]",
  "tolower(",
  "val(",
  "10.0.0.0/8",
  "::1",
  "(a,b,c)",
  "oneof",
  "bcontains 414243",
];

const YAML_WORDS = [
  "- rule: ",
  "- macro: ",
  "- list: ",
  "  condition: ",
  "  output: ",
  "  priority: ",
  "  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[a]]\n",
  "  override:\n    condition: append\n",
  "  append: true\n",
  "  items: [",
  "  enabled: false\n",
  "- required_engine_version: ",
  "&a ",
  "*a",
  "!!binary ",
  "<<: ",
  "---\n",
  "? ",
  "|\n",
  ">-\n",
  "%YAML 1.2\n",
];

/** A small capture written by Saker from the recorded live events (no reference needed). */
async function captureCorpus(): Promise<Uint8Array[]> {
  const records = await Deno.readFile(`${ROOT}tests/fixtures/live_records.bin`);
  const events = decodeLiveBatch(records, 1_700_000_000_000_000_000n, 1);
  const dir = await Deno.makeTempDir({ prefix: "saker-fuzz-" });
  const out: Uint8Array[] = [];
  try {
    for (const format of ["current", "sysdig029"] as const) {
      const w = await ScapWriter.create(`${dir}/c.scap`, { format });
      await w.writeBatch(events.slice(0, 60));
      await w.close();
      out.push(await Deno.readFile(`${dir}/c.scap`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}

/** A byte source over one buffer, handed out in small reads (as a file or pipe would). */
function memorySource(bytes: Uint8Array): ByteSource {
  let pos = 0;
  return {
    read(p) {
      if (pos >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, bytes.length - pos, 65536);
      p.set(bytes.subarray(pos, pos + n));
      pos += n;
      return Promise.resolve(n);
    },
    close() {},
  };
}

function touch(ev: Event): void {
  formatEventLine(ev);
}

const AUDIT_EVENT = {
  kind: "Event",
  apiVersion: "audit.k8s.io/v1",
  level: "RequestResponse",
  auditID: "0c0bd9e2-1",
  stage: "ResponseComplete",
  requestURI: "/api/v1/namespaces/default/pods",
  verb: "create",
  user: { username: "alice", groups: ["system:authenticated"] },
  sourceIPs: ["10.0.0.12"],
  objectRef: { resource: "pods", namespace: "default", name: "web", apiVersion: "v1" },
  responseStatus: { metadata: {}, code: 201 },
  requestObject: {
    kind: "Pod",
    spec: {
      containers: [{ name: "c", image: "nginx:1", securityContext: { privileged: true } }],
      hostNetwork: true,
      volumes: [{ name: "h", hostPath: { path: "/" } }],
    },
  },
  requestReceivedTimestamp: "2024-05-01T10:00:00.000000Z",
  stageTimestamp: "2024-05-01T10:00:00.100000Z",
};

const JSON_WORDS = ['"kind":"EventList"', '"items":[', "null", "[]", "{}", '"', "\\u0000", "1e999"];

const QUERY_WORDS = [
  "since=",
  "until=",
  "rule=",
  "priority=",
  "source=",
  "tag=",
  "limit=",
  "before=",
  "&",
  "%",
  "%00",
  "%zz",
  "+",
  "1h",
  "2024-05-01T10:00:00Z",
  "Warning",
  "-1",
  "9007199254740993",
];

/** The API app over a private store, shared by the queries of one worker. */
let apiApp: ReturnType<typeof createApp> | undefined;

function api(): ReturnType<typeof createApp> {
  if (apiApp) return apiApp;
  const dir = Deno.makeTempDirSync({ prefix: "saker-fuzz-api-" });
  const registry = new Registry();
  apiApp = createApp({
    health: () => ({ ok: true }),
    versions: () => ({}),
    registry,
    store: AlertStore.open({ path: `${dir}/alerts.db`, registry }),
    live: new LiveAlerts(registry),
    maxBodyBytes: 1 << 20,
    keepAliveSeconds: 1,
  });
  return apiApp;
}

const hookRegistry = new Registry();

/** Every target, by name. */
export const TARGETS: Record<string, Target> = {
  condition: {
    name: "condition",
    corpus: async () => ({ texts: await conditions() }),
    input: (r, c) => mutateText(r, c.texts!, CONDITION_WORDS),
    run: (input) => void parseCondition(input as string),
    documented: (err) => err instanceof ParseError,
  },
  rules: {
    name: "rules",
    corpus: async () => ({ texts: await rulesTexts() }),
    input: (r, c) => mutateText(r, c.texts!, [...YAML_WORDS, ...CONDITION_WORDS]),
    run: (input) => void loadRulesText([{ name: "fuzz.yaml", text: input as string }]),
    documented: () => false,
    cli: { args: (f) => ["validate", f], codes: [0, 1], suffix: ".yaml" },
  },
  config: {
    name: "config",
    corpus: async () => {
      // Saker's config file, and Falco's when the reference is here; never a program to run.
      const texts = [await Deno.readTextFile(`${ROOT}config.yaml`)];
      const ref = referenceDir();
      try {
        if (ref) texts.push(await Deno.readTextFile(`${ref}/falco-config/falco.yaml`));
      } catch { /* absent */ }
      // Whole files, and each top-level section alone (smaller inputs, more of them per second).
      const sections = texts.flatMap((t) => t.split(/\n(?=[a-z_]+:)/));
      return { texts: [...texts, ...sections].map((t) => t.replace(/^\s*program:.*$/gm, "")) };
    },
    input: (r, c) =>
      mutateText(r, c.texts!, [...YAML_WORDS, "${HOME}", "${X:-y}", "16MiB", "7d", "1e3"]),
    run: async (input) => {
      await loadConfig({ text: input as string, env: { HOME: "/root" } });
    },
    documented: (err) => err instanceof ConfigError,
    cli: {
      args: (f) => ["run", "--dry-run", "-c", f, "-o", "rules_files[0]=rules"],
      codes: [0, 1],
      suffix: ".yaml",
    },
  },
  capture: {
    name: "capture",
    corpus: async () => ({ bytes: await captureCorpus() }),
    input: (r, c) => mutateBytes(r, c.bytes!),
    run: async (input) => {
      const reader = new ScapReader(memorySource(input as Uint8Array), { batchSize: 256 });
      try {
        for await (const item of reader.items()) {
          if (item.kind === "events") { for (const ev of item.events) touch(ev); }
        }
      } finally {
        reader.close();
      }
    },
    documented: (err) => err instanceof ScapFormatError,
    cli: { args: (f) => ["replay", f], codes: [0, 1], suffix: ".scap" },
  },
  live: {
    name: "live",
    corpus: async () => {
      const all = await Deno.readFile(`${ROOT}tests/fixtures/live_records.bin`);
      // Drains of a few records each, cut at record boundaries as the ring reader hands them.
      const drains: Uint8Array[] = [all];
      let frame = 0, start = 0, n = 0;
      const dv = new DataView(all.buffer, all.byteOffset, all.byteLength);
      while (frame + 8 <= all.length) {
        const len = dv.getUint32(frame, true) & 0x3fff_ffff;
        frame += (len + 15) & ~7;
        if (++n % 6 === 0) {
          drains.push(all.slice(start, frame));
          start = frame;
        }
      }
      return { bytes: drains };
    },
    input: (r, c) => mutateBytes(r, c.bytes!),
    run: (input) => {
      const state = new StateStore();
      for (const ev of decodeLiveBatch(input as Uint8Array, 1_700_000_000_000_000_000n, 1)) {
        state.update(ev);
        touch(ev);
      }
    },
    documented: () => false,
  },
  webhook: {
    name: "webhook",
    corpus: () =>
      Promise.resolve({
        texts: [
          JSON.stringify(AUDIT_EVENT),
          JSON.stringify({
            kind: "EventList",
            apiVersion: "audit.k8s.io/v1",
            items: [AUDIT_EVENT],
          }),
          JSON.stringify([AUDIT_EVENT, { ...AUDIT_EVENT, verb: "get", requestObject: null }]),
        ],
      }),
    input: (r, c) => mutateText(r, c.texts!, JSON_WORDS),
    run: async (input) => {
      // A webhook per input: events taken stay queued in it, and the next input starts empty.
      const hook = new AuditWebhook({ registry: hookRegistry, onError: () => {} });
      const res = await hook.handle(
        new Request("http://saker/k8s-audit", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: input as string,
        }),
      );
      await res.body?.cancel();
      await hook.close();
      if (![200, 400, 413, 415, 503].includes(res.status)) {
        throw new Error(`webhook answered ${res.status}`);
      }
    },
    documented: () => false,
  },
  api_query: {
    name: "api_query",
    corpus: () =>
      Promise.resolve({
        texts: [
          "since=1h&priority=Warning",
          "rule=Read%20sensitive%20file&limit=10&before=5",
          "tag=T1003&source=syscall&until=2024-05-01T10:00:00Z",
          "priority=notice&limit=10000",
        ],
      }),
    input: (
      r,
      c,
    ) => (pick(r, ["/alerts?", "/alerts/stream?"]) + mutateText(r, c.texts!, QUERY_WORDS)),
    run: async (input) => {
      const path = (input as string).replace(/[\s#]/g, (ch) => encodeURIComponent(ch));
      let url: URL;
      try {
        url = new URL(path, "http://saker");
      } catch {
        return; // not a URL a client can send
      }
      const ac = new AbortController();
      const res = await api().request(url.pathname + url.search, { signal: ac.signal });
      ac.abort();
      await res.body?.cancel();
      if (![200, 400].includes(res.status)) throw new Error(`API answered ${res.status}`);
    },
    documented: () => false,
  },
};
