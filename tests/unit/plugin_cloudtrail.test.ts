/**
 * The cloudtrail plugin against Falco's CloudTrail rules (from the reference, loaded unchanged):
 * the file loads with zero errors and warnings and its plugin requirements are met; every rule
 * fires on a record written here after AWS's documented CloudTrail record format, and none fires
 * on benign records (the same calls failing, with MFA, read-only ones); every field of the
 * plugin's README is registered and extracts what the record holds; `saker replay` reads a
 * plain file, a gzip file and a directory of them and prints the alerts.
 * @module
 */
import { assert, assertEquals } from "../support/assert.ts";
import { needsReference, REFERENCE_DIR } from "../support/env.ts";
import { loadRulesFiles, loadRulesText } from "../../src/rules/loader.ts";
import { compileRuleset } from "../../src/rules/ruleset.ts";
import { replayPlugin } from "../../src/pipeline/replay_sources.ts";
import { cloudtrailPlugin } from "../../src/plugins/cloudtrail.ts";
import { lookupField, wakeSource } from "../../src/rules/fields/mod.ts";
import { PluginEvent } from "../../src/events/plugin_event.ts";
import { BUILTIN_PLUGINS } from "../../src/plugins/builtin.ts";
import { availablePlugins, pluginRequirementProblems } from "../../src/agent/plugins.ts";
import { saker as runSaker } from "../support/saker.ts";
import type { Alert } from "../../src/rules/alert.ts";

const DIR = `${REFERENCE_DIR}/falco-plugins/cloudtrail`;
const RULES = `${DIR}/aws_cloudtrail_rules.yaml`;
const skip = needsReference();
// As when the plugin is loaded (a plugin Saker carries has its source asleep until then).
wakeSource("aws_cloudtrail");

const ACCOUNT = "111122223333";
let n = 0;

/** A CloudTrail record as AWS documents it, with the parts a case sets. */
function rec(over: Record<string, unknown>): Record<string, unknown> {
  n++;
  return {
    eventVersion: "1.09",
    userIdentity: {
      type: "IAMUser",
      principalId: "AIDAEXAMPLEPRINCIPAL",
      arn: `arn:aws:iam::${ACCOUNT}:user/ana`,
      accountId: ACCOUNT,
      accessKeyId: "AKIAEXAMPLEKEY",
      userName: "ana",
    },
    eventTime: `2024-05-01T10:${String(n).padStart(2, "0")}:00Z`,
    eventSource: "iam.amazonaws.com",
    awsRegion: "us-east-1",
    sourceIPAddress: "203.0.113.7",
    userAgent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
    requestParameters: null,
    responseElements: null,
    requestID: `req-${n}`,
    eventID: `0e8f9c5a-0000-4000-8000-${String(n).padStart(12, "0")}`,
    readOnly: false,
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: "Management",
    ...over,
  };
}

const ROOT = {
  type: "Root",
  principalId: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:root`,
  accountId: ACCOUNT,
};
const ASSUMED = {
  type: "AssumedRole",
  principalId: "AROAEXAMPLEROLE:ana@example.com",
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Admins/ana@example.com`,
  accountId: ACCOUNT,
  sessionContext: {
    sessionIssuer: {
      type: "Role",
      principalId: "AROAEXAMPLEROLE",
      arn: `arn:aws:iam::${ACCOUNT}:role/Admins`,
      accountId: ACCOUNT,
      userName: "Admins",
    },
    attributes: { creationDate: "2024-05-01T09:59:00Z", mfaAuthenticated: "false" },
  },
};

function consoleLogin(identity: unknown, mfa: "Yes" | "No", ok = true): Record<string, unknown> {
  return rec({
    userIdentity: identity,
    eventSource: "signin.amazonaws.com",
    eventName: "ConsoleLogin",
    eventType: "AwsConsoleSignIn",
    responseElements: { ConsoleLogin: ok ? "Success" : "Failure" },
    additionalEventData: {
      LoginTo: "https://console.aws.amazon.com/console/home",
      MobileVersion: "No",
      MFAUsed: mfa,
    },
    ...(ok ? {} : { errorMessage: "Failed authentication" }),
  });
}

const bucket = (name: string, params: Record<string, unknown> = {}) =>
  rec({
    eventSource: "s3.amazonaws.com",
    eventName: name,
    requestParameters: { bucketName: "corp-data", Host: "corp-data.s3.amazonaws.com", ...params },
  });

const runInstances = (region: string) =>
  rec({
    eventSource: "ec2.amazonaws.com",
    eventName: "RunInstances",
    awsRegion: region,
    requestParameters: {
      instancesSet: { items: [{ imageId: "ami-0abcdef1234567890", minCount: 1, maxCount: 1 }] },
      instanceType: "t3.micro",
      availabilityZone: `${region}a`,
      subnetId: "subnet-0123456789abcdef0",
      tagSpecificationSet: {
        items: [{ resourceType: "instance", tags: [{ key: "Name", value: "build-7" }] }],
      },
    },
    responseElements: {
      reservationId: "r-0123456789abcdef0",
      ownerId: ACCOUNT,
      subnetId: "subnet-0123456789abcdef0",
      instancesSet: {
        items: [{ instanceId: "i-0123456789abcdef0", imageId: "ami-0abcdef1234567890" }],
      },
    },
  });

/** Each attack record with the rules it must raise (rules disabled in the file in brackets). */
const ATTACKS: [string, Record<string, unknown>, string[]][] = [
  ["console login through an assumed role", consoleLogin(ASSUMED, "No"), [
    "Console Login Through Assume Role",
  ]],
  ["console login without MFA", consoleLogin({ ...rec({}).userIdentity as object }, "No"), [
    "Console Login Without MFA",
  ]],
  ["root console login without MFA", consoleLogin(ROOT, "No"), [
    "Console Login Without MFA",
    "Console Root Login Without MFA",
  ]],
  [
    "root's MFA device deactivated",
    rec({
      userIdentity: ROOT,
      eventName: "DeactivateMFADevice",
      requestParameters: {
        userName: "AWS ROOT USER",
        serialNumber: `arn:aws:iam::${ACCOUNT}:mfa/root-account-mfa-device`,
      },
    }),
    ["Deactivate MFA for Root User"],
  ],
  ["user created", rec({ eventName: "CreateUser", requestParameters: { userName: "mallory" } }), [
    "Create AWS user",
  ]],
  ["group created", rec({ eventName: "CreateGroup", requestParameters: { groupName: "ops" } }), [
    "Create Group",
  ]],
  ["group deleted", rec({ eventName: "DeleteGroup", requestParameters: { groupName: "ops" } }), [
    "Delete Group",
  ]],
  [
    "ECS service created",
    rec({
      eventSource: "ecs.amazonaws.com",
      eventName: "CreateService",
      requestParameters: { cluster: "prod", serviceName: "miner", taskDefinition: "miner:1" },
    }),
    ["ECS Service Created"],
  ],
  [
    "ECS task run",
    rec({
      eventSource: "ecs.amazonaws.com",
      eventName: "RunTask",
      requestParameters: { cluster: "prod", taskDefinition: "miner:1", count: 1 },
    }),
    ["ECS Task Run or Started"],
  ],
  [
    "ECS task started",
    rec({
      eventSource: "ecs.amazonaws.com",
      eventName: "StartTask",
      requestParameters: { cluster: "prod", taskDefinition: "miner:1" },
    }),
    ["ECS Task Run or Started"],
  ],
  [
    "Lambda function created",
    rec({
      eventSource: "lambda.amazonaws.com",
      eventName: "CreateFunction20150331",
      requestParameters: { functionName: "exfil", runtime: "python3.12" },
    }),
    ["Create Lambda Function"],
  ],
  [
    "Lambda code updated",
    rec({
      eventSource: "lambda.amazonaws.com",
      eventName: "UpdateFunctionCode20150331v2",
      requestParameters: { functionName: "billing" },
    }),
    ["Update Lambda Function Code"],
  ],
  [
    "Lambda configuration updated",
    rec({
      eventSource: "lambda.amazonaws.com",
      eventName: "UpdateFunctionConfiguration20150331v2",
      requestParameters: { functionName: "billing", timeout: 900 },
    }),
    ["Update Lambda Function Configuration"],
  ],
  ["instances run", runInstances("eu-west-1"), [
    "Run Instances",
    "Run Instances in Non-approved Region",
  ]],
  ["bucket encryption deleted", bucket("DeleteBucketEncryption", { encryption: "" }), [
    "Delete Bucket Encryption",
  ]],
  [
    "bucket public access block lifted",
    bucket("PutBucketPublicAccessBlock", {
      publicAccessBlock: "",
      PublicAccessBlockConfiguration: {
        xmlns: "http://s3.amazonaws.com/doc/2006-03-01/",
        RestrictPublicBuckets: false,
        BlockPublicPolicy: false,
        BlockPublicAcls: false,
        IgnorePublicAcls: false,
      },
    }),
    ["Delete Bucket Public Access Block"],
  ],
  [
    "buckets listed",
    rec({
      eventSource: "s3.amazonaws.com",
      eventName: "ListBuckets",
      readOnly: true,
      requestParameters: { Host: "s3.us-east-1.amazonaws.com" },
    }),
    ["[List Buckets]"],
  ],
  ["bucket ACL set", bucket("PutBucketAcl", { acl: "" }), ["Put Bucket ACL"]],
  [
    "bucket policy set",
    bucket("PutBucketPolicy", {
      policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*"}]}',
    }),
    ["Put Bucket Policy"],
  ],
  [
    "trail created",
    rec({
      eventSource: "cloudtrail.amazonaws.com",
      eventName: "CreateTrail",
      requestParameters: { name: "shadow", s3BucketName: "attacker-logs" },
    }),
    ["CloudTrail Trail Created"],
  ],
  [
    "logging stopped",
    rec({
      eventSource: "cloudtrail.amazonaws.com",
      eventName: "StopLogging",
      requestParameters: { name: `arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/main` },
    }),
    ["CloudTrail Logging Disabled"],
  ],
];

/** Records that must raise nothing (with the file's rules as it enables them). */
const BENIGN: [string, Record<string, unknown>][] = [
  ["console login with MFA", consoleLogin({ ...rec({}).userIdentity as object }, "Yes")],
  ["root console login with MFA", consoleLogin(ROOT, "Yes")],
  ["failed console login without MFA", consoleLogin(ROOT, "No", false)],
  [
    "user creation denied",
    rec({
      eventName: "CreateUser",
      errorCode: "AccessDenied",
      errorMessage: "User is not authorized to perform: iam:CreateUser",
      requestParameters: { userName: "mallory" },
    }),
  ],
  [
    "instances described",
    rec({
      eventSource: "ec2.amazonaws.com",
      eventName: "DescribeInstances",
      readOnly: true,
    }),
  ],
  ["an object read", bucket("GetObject", { key: "report.csv" })],
  [
    "public access blocked",
    bucket("PutBucketPublicAccessBlock", {
      publicAccessBlock: "",
      PublicAccessBlockConfiguration: {
        RestrictPublicBuckets: true,
        BlockPublicPolicy: true,
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
      },
    }),
  ],
  [
    "MFA deactivated for a user",
    rec({
      eventName: "DeactivateMFADevice",
      requestParameters: { userName: "ana", serialNumber: `arn:aws:iam::${ACCOUNT}:mfa/ana` },
    }),
  ],
  [
    "ECS service described",
    rec({
      eventSource: "ecs.amazonaws.com",
      eventName: "DescribeServices",
      readOnly: true,
    }),
  ],
  [
    "lambda function creation throttled",
    rec({
      eventSource: "lambda.amazonaws.com",
      eventName: "CreateFunction20150331",
      errorCode: "ThrottlingException",
    }),
  ],
];

async function load() {
  const loaded = await loadRulesFiles([RULES]);
  return loaded;
}

/** Rule names each record raises, with `all` rules enabled or as the file says. */
async function fire(records: Record<string, unknown>[], all: boolean): Promise<string[][]> {
  const loaded = await load();
  const ruleset = compileRuleset(loaded, {
    source: "aws_cloudtrail",
    ruleMatching: "all",
    select: all ? [{ action: "enable" }] : [],
  });
  const out: string[][] = records.map(() => []);
  for (const [i, r] of records.entries()) {
    const ev = new PluginEvent({
      source: "aws_cloudtrail",
      plugin: "cloudtrail",
      ts: 1n,
      num: i + 1,
      data: JSON.stringify(r),
      summary: (e) => cloudtrailPlugin.summary!(e),
    });
    ruleset.evaluate(ev, (a: Alert) => out[i].push(a.rule));
  }
  return out;
}

Deno.test({
  name: "cloudtrail: Falco's rules load unchanged, zero errors and warnings, plugins satisfied",
  ignore: skip,
  fn: async () => {
    const loaded = await load();
    for (const r of loaded.results) {
      assertEquals(r.errors.map((e) => e.message), [], r.name);
      assertEquals(r.warnings.map((e) => e.message), [], r.name);
    }
    assertEquals(loaded.rules.filter((r) => r.source === "aws_cloudtrail").length, 22);
    const available = availablePlugins(
      BUILTIN_PLUGINS.map((plugin) => ({ plugin, entry: {}, key: "", builtin: true })),
    );
    assertEquals(pluginRequirementProblems(loaded.requiredPlugins, available), []);
    // A plugin too old, or not loaded, is reported as Falco reports it.
    assertEquals(
      pluginRequirementProblems(loaded.requiredPlugins, [{ name: "json", version: "0.7.3" }]),
      ["Plugin 'cloudtrail' is required but not loaded"],
    );
    assertEquals(
      pluginRequirementProblems(loaded.requiredPlugins, [
        { name: "cloudtrail", version: "0.9.1" },
        { name: "json", version: "0.7.3" },
      ]),
      ["Plugin 'cloudtrail' version '0.9.1' is not compatible with required plugin version '0.10.0'"],
    );
  },
});

Deno.test({
  name: "cloudtrail: every rule fires on its record, none on benign records",
  ignore: skip,
  fn: async () => {
    const asFile = await fire(ATTACKS.map((a) => a[1]), false);
    for (const [i, [what, , want]] of ATTACKS.entries()) {
      assertEquals(asFile[i].sort(), want.filter((w) => !w.startsWith("[")).sort(), what);
    }
    // The rules the file disables fire once enabled; every rule of the file is covered.
    const enabled = await fire(ATTACKS.map((a) => a[1]), true);
    for (const [i, [what, , want]] of ATTACKS.entries()) {
      const plain = want.map((w) => w.replace(/^\[(.*)\]$/, "$1"));
      assertEquals(enabled[i].sort(), [...plain, "All Cloudtrail Events"].sort(), what);
    }
    const loaded = await load();
    const covered = new Set([...ATTACKS.flatMap((a) => a[2]), "All Cloudtrail Events"]);
    for (const r of loaded.rules) {
      assert(covered.has(r.name) || covered.has(`[${r.name}]`), `no record for ${r.name}`);
    }
    const benign = await fire(BENIGN.map((b) => b[1]), false);
    for (const [i, [what]] of BENIGN.entries()) assertEquals(benign[i], [], what);
  },
});

Deno.test("cloudtrail: every field of the plugin's README is registered and extracts", async () => {
  const readme = await Deno.readTextFile(`${DIR}/README.md`).catch(() => undefined);
  if (readme !== undefined) {
    const listed = [...readme.matchAll(/^\| `([a-z0-9.]+)`\s*\|\s*`([a-z0-9 ()]+)`/gm)];
    assert(listed.length >= 70);
    for (const [, name, type] of listed) {
      const ref = lookupField(name);
      assert(ref && ref.def.name === name, `${name} is not registered`);
      assertEquals(ref.def.type, type.startsWith("uint64") ? "uint64" : "charbuf", name);
      assertEquals(ref.def.list === true, type.includes("list"), name);
    }
  }
  const run = runInstances("eu-west-1");
  const ev = new PluginEvent({
    source: "aws_cloudtrail",
    plugin: "cloudtrail",
    ts: 0n,
    value: run,
  });
  const get = (f: string) => {
    const ref = lookupField(f)!;
    return ref.def.extract(ev, ref.arg);
  };
  assertEquals(get("ct.user"), "ana");
  assertEquals(get("ct.shortsrc"), "ec2");
  assertEquals(get("ct.response.reservationid"), "r-0123456789abcdef0");
  assertEquals(get("ct.request.availabilityzone"), "eu-west-1a");
  assertEquals(get("ec2.name"), "build-7");
  assertEquals(get("ec2.imageids[0]"), "ami-0abcdef1234567890");
  assertEquals(get("ct.readonly"), "false");
  assertEquals(get("ct.managementevent"), "true");
  assertEquals(get("ct.error"), undefined);
  assertEquals(get("s3.cnt.other"), 1);
  assertEquals(get("evt.plugininfo"), undefined, "no summary given to this event");
  const assumed = consoleLogin(ASSUMED, "No");
  const ev2 = new PluginEvent({
    source: "aws_cloudtrail",
    plugin: "cloudtrail",
    ts: 0n,
    value: assumed,
  });
  const at = (f: string) => lookupField(f)!.def.extract(ev2, lookupField(f)!.arg);
  assertEquals(at("ct.user"), "Admins");
  assertEquals(at("ct.originaluser"), "ana@example.com");
  assertEquals(at("json.value[/additionalEventData/MFAUsed]"), "No");
  const get3 = (r: Record<string, unknown>, f: string) =>
    lookupField(f)!.def.extract(
      new PluginEvent({ source: "aws_cloudtrail", plugin: "cloudtrail", ts: 0n, value: r }),
      lookupField(f)!.arg,
    );
  const obj = bucket("GetObject", { key: "a/b.csv" });
  (obj as { additionalEventData: unknown }).additionalEventData = {
    bytesTransferredIn: 0,
    bytesTransferredOut: 2048.0,
  };
  assertEquals(get3(obj, "s3.uri"), "s3://corp-data/a/b.csv");
  assertEquals(get3(obj, "s3.bytes"), 2048);
  assertEquals(get3(obj, "s3.cnt.get"), 1);
  assertEquals(
    cloudtrailPlugin.summary!({ num: 1, ts: 0n, source: "", data: "", value: obj }),
    "ana via 203.0.113.7 → GetObject Size=2048 URI=s3://corp-data/a/b.csv",
  );
  // Without readOnly, the verb decides.
  assertEquals(
    get3(rec({ eventName: "DescribeVpcs", readOnly: undefined }), "ct.readonly"),
    "true",
  );
  assertEquals(get3(rec({ eventName: "DeleteVpc", readOnly: undefined }), "ct.readonly"), "false");
});

Deno.test({
  name: "cloudtrail: saker replay reads .json, .json.gz and directories",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "saker-ct-" });
    try {
      const half = Math.ceil(ATTACKS.length / 2);
      const doc = (rs: Record<string, unknown>[]) => JSON.stringify({ Records: rs });
      const first = ATTACKS.slice(0, half).map((a) => a[1]);
      const second = [...ATTACKS.slice(half).map((a) => a[1]), ...BENIGN.map((b) => b[1])];
      await Deno.mkdir(`${dir}/logs/2024/05/01`, { recursive: true });
      const plain = `${dir}/logs/2024/05/01/${ACCOUNT}_CloudTrail_us-east-1_20240501T1000Z_a.json`;
      await Deno.writeTextFile(plain, doc(first));
      const gz = `${dir}/logs/2024/05/01/${ACCOUNT}_CloudTrail_us-east-1_20240501T1005Z_b.json.gz`;
      const zipped = new Blob([doc(second)]).stream()
        .pipeThrough(new CompressionStream("gzip"));
      await Deno.writeFile(gz, new Uint8Array(await new Response(zipped).arrayBuffer()));

      const want = (list: typeof ATTACKS) =>
        list.flatMap((a) => a[2]).filter((w) => !w.startsWith("[")).length;
      for (
        const [path, count, events] of [
          [plain, want(ATTACKS.slice(0, half)), first.length],
          [gz, want(ATTACKS.slice(half)), second.length],
          [`${dir}/logs`, want(ATTACKS), first.length + second.length],
        ] as const
      ) {
        const r = await runSaker(["replay", path, "-r", RULES, "--json", "--rule-matching", "all"]);
        assertEquals(r.code, 0, r.stderr);
        const alerts = r.stdout.trim().split("\n").filter((l) => l !== "").map((l) =>
          JSON.parse(l)
        );
        assertEquals(alerts.length, count, path);
        assert(alerts.every((a) => a.source === "aws_cloudtrail"));
        assert(r.stderr.includes(`${events} events`), r.stderr);
      }
      // In-process, the same events and alerts.
      const loaded = await load();
      const res = await replayPlugin(cloudtrailPlugin, `${dir}/logs`, {
        evaluator: compileRuleset(loaded, { source: "aws_cloudtrail", ruleMatching: "all" }),
      });
      assertEquals([res.events, res.alerts, res.bad], [
        first.length + second.length,
        want(ATTACKS),
        0,
      ]);
      // A missing file is an error (exit 1), not an empty replay.
      const missing = await runSaker(["replay", `${dir}/nope.json`, "--plugin", "cloudtrail"]);
      assertEquals(missing.code, 1, missing.stderr);
      // Outputs resolve the plugin's fields, the evt fields and json.value.
      const printed = await runSaker([
        "replay",
        plain,
        "-p",
        "%evt.num %ct.name %ct.user %evt.pluginname %json.value[/awsRegion]",
      ]);
      assertEquals(printed.stdout.split("\n")[0], "1 ConsoleLogin Admins cloudtrail us-east-1");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("plugins: a carried plugin's rules are skipped as of an unknown source until loaded", () => {
  const rules = [{
    name: "r.yaml",
    text: "- rule: R\n  desc: d\n  condition: gcp.methodName = x\n  output: o\n" +
      "  priority: INFO\n  source: gcp_auditlog\n",
  }];
  const before = loadRulesText(rules);
  assertEquals(before.results[0].warnings.map((w) => w.code), ["LOAD_UNKNOWN_SOURCE"]);
  assertEquals(before.rules.length, 0);
  wakeSource("gcp_auditlog");
  const after = loadRulesText(rules);
  assertEquals(after.results[0].warnings.map((w) => w.code), []);
  assertEquals(after.rules.length, 1);
});
