/**
 * What the github plugin looks for in what was pushed or run: secrets in the lines a commit adds
 * (cloud keys, tokens, private keys ...) and crypto miners in a workflow definition. Pure
 * functions over text; the plugin fetches the text (src/plugins/github.ts).
 *
 * @example
 * ```ts
 * import { scanPatch, scanWorkflow } from "./github_scan.ts";
 * scanPatch("@@ -0,0 +1,2 @@\n+x = 1\n+key = 'AKIAIOSFODNN7EXAMPLE'\n");
 * // [{ desc: "aws_access_key", line: 2 }]
 * scanWorkflow("run: ./xmrig -o stratum+tcp://pool:3333").map((m) => m.type); // ["xmrig", "stratum"]
 * ```
 * @module
 */

/** A secret found in a file. */
export interface SecretMatch {
  /** Kind of secret (aws_access_key, github_personal_access_token ...). */
  desc: string;
  /** Line in the file after the commit, from 1. */
  line: number;
}

/** Kinds of secrets and how each looks. */
export const SECRET_PATTERNS: readonly [string, RegExp][] = [
  ["aws_access_key", /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b/],
  [
    "aws_secret_key",
    /aws.{0,20}(?:secret|private).{0,20}['"=:\s][0-9A-Za-z/+]{40}(?:['"\s]|$)/i,
  ],
  ["aws_mws_key", /amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/],
  ["github_personal_access_token", /\b(?:ghp_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})\b/],
  ["github_oauth_access_token", /\bgho_[0-9A-Za-z]{36}\b/],
  ["github_app_token", /\b(?:ghu|ghs)_[0-9A-Za-z]{36}\b/],
  ["github_refresh_token", /\bghr_[0-9A-Za-z]{36,76}\b/],
  ["slack", /\bxox[abposr]-[0-9A-Za-z-]{10,72}\b/],
  ["slack_webhook", /https:\/\/hooks\.slack\.com\/services\/T[0-9A-Za-z_]+\/B[0-9A-Za-z_]+\/\w+/],
  [
    "asymmetric_private_key",
    /-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----/,
  ],
  ["google_api_key", /\bAIza[0-9A-Za-z\-_]{35}\b/],
  ["google_gcp_service_account", /"type"\s*:\s*"service_account"/],
  ["stripe_api_key", /\b(?:sk|rk)_live_[0-9A-Za-z]{24,99}\b/],
  ["sendgrid_api_key", /\bSG\.[\w-]{22}\.[\w-]{43}\b/],
  ["twilio_api_key", /\bSK[0-9a-fA-F]{32}\b/],
  ["mailgun_api_key", /\bkey-[0-9A-Za-z]{32}\b/],
  ["mailchimp_api_key", /\b[0-9a-f]{32}-us[0-9]{1,2}\b/],
  ["square_access_token", /\bsq0atp-[0-9A-Za-z\-_]{22}\b/],
  ["square_oauth_secret", /\bsq0csp-[0-9A-Za-z\-_]{43}\b/],
  ["shopify_shared_secret", /\bshpss_[a-fA-F0-9]{32}\b/],
  ["shopify_access_token", /\bshpat_[a-fA-F0-9]{32}\b/],
  ["shopify_custom_app_access_token", /\bshpca_[a-fA-F0-9]{32}\b/],
  ["shopify_private_app_access_token", /\bshppa_[a-fA-F0-9]{32}\b/],
  ["dynatrace_token", /\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b/],
  ["pypi_upload_token", /\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9\-_]{50,}/],
  [
    "heroku_api_key",
    /heroku.{0,20}[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}/i,
  ],
  ["paypal_braintree_access_token", /access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}/],
];

/**
 * The secrets in the lines a unified diff (a commit file's `patch`) adds, each with its line
 * in the new file.
 */
export function scanPatch(patch: string): SecretMatch[] {
  const out: SecretMatch[] = [];
  let line = 0;
  for (const l of patch.split("\n")) {
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(l);
    if (hunk) {
      line = Number(hunk[1]);
      continue;
    }
    if (l.startsWith("-")) continue;
    if (l.startsWith("+")) {
      for (const [desc, re] of SECRET_PATTERNS) if (re.test(l.slice(1))) out.push({ desc, line });
    }
    if (!l.startsWith("\\")) line++;
  }
  return out;
}

/** A miner found in a workflow definition. */
export interface MinerMatch {
  /** Which: xmrig, stratum, ... */
  type: string;
  /** Line of the workflow file, from 1. */
  line: number;
}

/** Signs of crypto miners in a workflow. */
export const MINER_PATTERNS: readonly [string, RegExp][] = [
  ["xmrig", /\bxmrig\b/i],
  ["stratum", /\bstratum\d?\+(?:tcp|ssl|tls):\/\//i],
  ["cpuminer", /\b(?:cpuminer|minerd)\b/i],
  ["ethminer", /\b(?:ethminer|phoenixminer|t-rex|lolminer|nbminer|gminer)\b/i],
  ["xmr-stak", /\bxmr-stak\b/i],
  ["nicehash", /\bnicehash\b/i],
  ["pool", /\b(?:pool\.minexmr\.com|supportxmr\.com|nanopool\.org|2miners\.com|f2pool\.com)\b/i],
];

/** The miners a workflow definition mentions, one match per line and kind. */
export function scanWorkflow(text: string): MinerMatch[] {
  const out: MinerMatch[] = [];
  for (const [i, l] of text.split("\n").entries()) {
    for (const [type, re] of MINER_PATTERNS) if (re.test(l)) out.push({ type, line: i + 1 });
  }
  return out;
}
