/**
 * NATS subjects of alerts: a template such as `saker.alerts.{hostname}.{priority}` filled from
 * each alert, each value made into one subject token, and the wildcard subject every alert of a
 * template falls under (what the stream takes). Pure, so the config checks a template without
 * loading the NATS client.
 *
 * @example
 * ```ts
 * import { subjectToken, subjectWildcard } from "./nats_subject.ts";
 * subjectWildcard("saker.alerts.{hostname}.{priority}"); // "saker.alerts.*.*"
 * subjectToken("node-1.example.com"); // "node-1_example_com"
 * ```
 * @module
 */
import type { FormattedAlert } from "./output.ts";

/** Template placeholders and what fills them. */
const PLACEHOLDERS = ["hostname", "priority", "rule", "source"] as const;

/** What is wrong with a subject template, or undefined when it is fine. */
export function checkSubjectTemplate(t: string): string | undefined {
  if (t === "") return "a subject such as saker.alerts.{hostname}.{priority}";
  for (const m of t.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1])) {
      return `a subject whose placeholders are ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`;
    }
  }
  const tokens = t.split(".");
  if (tokens.some((k) => k === "" || /[\s*>]/.test(k))) {
    return "a subject of dot-separated tokens without spaces, '*' or '>'";
  }
  return undefined;
}

/** A value made into one subject token: characters other than letters, digits, - and _ become _. */
export function subjectToken(v: string): string {
  const s = v.replace(/[^A-Za-z0-9_-]/g, "_");
  return s === "" ? "_" : s;
}

/**
 * The subject of one alert: the template's placeholders filled, each value one token (the
 * priority in lower case: `warning`).
 */
export function alertSubject(template: string, fa: FormattedAlert): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    switch (k) {
      case "hostname":
        return subjectToken(fa.hostname);
      case "priority":
        return fa.alert.priority.toLowerCase();
      case "rule":
        return subjectToken(fa.alert.rule);
      default:
        return subjectToken(fa.alert.source);
    }
  });
}

/** The subjects a template can produce, as one wildcard subject (`saker.alerts.*.*`). */
export function subjectWildcard(template: string): string {
  return template.split(".").map((k) => /\{\w+\}/.test(k) ? "*" : k).join(".");
}
